/* SPDX-License-Identifier: MIT */
#include "metrics-text.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef enum { COUNTER, GAUGE, HISTOGRAM, INFO } FamilyType;

typedef struct Family {
  const char *name;
  FamilyType type;
  const char *unit; /* NULL: none */
  const char *help;
} Family;

/* Every family, also those with no sample yet: a scrape's shape does not
 * depend on what happened since the start. */
static const Family families[] = {
    /* A gauge of 1 rather than OpenMetrics' info type, which the
     * Prometheus text format (promtool check metrics) does not know. */
    {"poplar_build_info", GAUGE, NULL, "Version and plugin ABI of poplard."},
    {"poplar_connections", GAUGE, NULL,
     "Connections open now, by listener and TLS."},
    {"poplar_connections_accepted", COUNTER, NULL,
     "Connections accepted, by listener and TLS."},
    {"poplar_logins", COUNTER, NULL, "Login attempts by result and mechanism."},
    {"poplar_login_delays", COUNTER, NULL,
     "Logins whose password check waited for earlier failures' penalty."},
    {"poplar_sessions_ended", COUNTER, NULL, "Sessions ended, by reason."},
    {"poplar_messages_sent", COUNTER, NULL,
     "Messages sent in full, by command (RETR or TOP)."},
    {"poplar_sent", COUNTER, "bytes",
     "Octets of messages sent as on the wire, by command (RETR or TOP)."},
    {"poplar_messages_deleted", COUNTER, NULL,
     "Messages removed by the UPDATE state."},
    {"poplar_in_use_refusals", COUNTER, NULL,
     "Logins refused with [IN-USE]: the mailbox was locked."},
    {"poplar_tls_handshakes", COUNTER, NULL, "TLS handshakes, by result."},
    {"poplar_worker_restarts", COUNTER, NULL,
     "Workers that died and were restarted by the master."},
    {"poplar_workers", GAUGE, NULL, "Workers running now."},
    {"poplar_plugin_log_messages", COUNTER, NULL,
     "Errors and warnings plugins logged, by plugin and level."},
    {"poplar_plugin_call_duration", HISTOGRAM, "seconds",
     "Latency of plugin calls, by plugin and operation."},
};

static const char *type_name(FamilyType t)
{
  switch (t) {
  case COUNTER:
    return "counter";
  case GAUGE:
    return "gauge";
  case HISTOGRAM:
    return "histogram";
  case INFO:
    return "info";
  }
  return "unknown";
}

/* The family's name with its unit, as OpenMetrics wants it. */
static char *full_name(const Family *f)
{
  return f->unit ? g_strdup_printf("%s_%s", f->name, f->unit)
                 : g_strdup(f->name);
}

/* The samples' names a family owns. */
static bool owns(const Family *f, const char *base, const char *sample)
{
  static const char *const suffixes[][4] = {
      [COUNTER] = {"_total", NULL},
      [GAUGE] = {"", NULL},
      [HISTOGRAM] = {"_bucket", "_sum", "_count", NULL},
      [INFO] = {"_info", NULL},
  };
  (void)f;
  size_t n = strlen(base);
  if (strncmp(sample, base, n) != 0)
    return false;
  for (const char *const *s = suffixes[f->type]; *s; s++)
    if (strcmp(sample + n, *s) == 0)
      return true;
  return false;
}

static void append_value(GString *out, double v)
{
  if (isinf(v))
    g_string_append(out, v > 0 ? "+Inf" : "-Inf");
  else if (v == floor(v) && fabs(v) < 1e15)
    g_string_append_printf(out, "%.0f", v);
  else
    g_string_append_printf(out, "%.17g", v);
}

/* Where a bucket's le label starts (it is always the last), or NULL. */
static const char *le_label(const char *key)
{
  const char *le = strstr(key, "le=\"");
  while (le && le[-1] != '\t' && le[-1] != ',')
    le = strstr(le + 1, "le=\"");
  return le;
}

/* By name and labels, and a histogram's buckets by increasing bound, as
 * the format requires (+Inf last, which a text order would put first). */
static int compare_keys(const void *pa, const void *pb)
{
  const char *a = *(char *const *)pa, *b = *(char *const *)pb;
  const char *la = le_label(a), *lb = le_label(b);
  if (!la || !lb)
    return strcmp(a, b);
  size_t na = (size_t)(la - a), nb = (size_t)(lb - b);
  int c = strncmp(a, b, MIN(na, nb));
  if (c != 0 || na != nb)
    return c != 0 ? c : (na < nb ? -1 : 1);
  double va = g_str_has_prefix(la + 4, "+Inf") ? INFINITY
                                               : g_ascii_strtod(la + 4, NULL);
  double vb = g_str_has_prefix(lb + 4, "+Inf") ? INFINITY
                                               : g_ascii_strtod(lb + 4, NULL);
  return va < vb ? -1 : va > vb;
}

void poplard_metrics_render(GHashTable *merged, bool text_format,
                            GString *out)
{
  guint n = 0;
  g_autofree gpointer *keys = g_hash_table_get_keys_as_array(merged, &n);
  qsort(keys, n, sizeof *keys, compare_keys);
  for (size_t i = 0; i < G_N_ELEMENTS(families); i++) {
    const Family *f = &families[i];
    g_autofree char *base = full_name(f);
    g_autofree char *described =
        text_format && f->type == COUNTER ? g_strconcat(base, "_total", NULL)
                                          : g_strdup(base);
    g_string_append_printf(out, "# TYPE %s %s\n", described,
                           type_name(f->type));
    if (f->unit && !text_format)
      g_string_append_printf(out, "# UNIT %s %s\n", base, f->unit);
    g_string_append_printf(out, "# HELP %s %s\n", described, f->help);
    for (guint k = 0; k < n; k++) {
      const char *key = keys[k];
      const char *tab = strchr(key, '\t');
      g_autofree char *sample = g_strndup(key, (gsize)(tab - key));
      if (!owns(f, base, sample))
        continue;
      g_string_append(out, sample);
      if (tab[1])
        g_string_append_printf(out, "{%s}", tab + 1);
      g_string_append_c(out, ' ');
      append_value(out, *(double *)g_hash_table_lookup(merged, key));
      g_string_append_c(out, '\n');
    }
  }
  if (!text_format)
    g_string_append(out, "# EOF\n");
}
