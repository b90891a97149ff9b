/* SPDX-License-Identifier: MIT */
#include "stats.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "control-protocol.h"

/* Plugin calls range from a cached lookup (microseconds) to a remote
 * server timing out (seconds). */
const double poplard_stats_buckets[] = {0.0005, 0.001, 0.005, 0.01, 0.05,
                                        0.1,    0.5,   1,     5,    INFINITY};
const unsigned poplard_stats_n_buckets = G_N_ELEMENTS(poplard_stats_buckets);

static GMutex lock;
static GHashTable *samples; /* "name\tlabels" -> double*; under lock */

static void escape_label_value(GString *out, const char *v)
{
  for (; *v; v++) {
    if (*v == '\\')
      g_string_append(out, "\\\\");
    else if (*v == '"')
      g_string_append(out, "\\\"");
    else if (*v == '\n')
      g_string_append(out, "\\n");
    else
      g_string_append_c(out, *v);
  }
}

char *poplard_stats_labels(const char *key, ...)
{
  GString *out = g_string_new(NULL);
  va_list ap;
  va_start(ap, key);
  for (const char *k = key; k; k = va_arg(ap, const char *)) {
    const char *v = va_arg(ap, const char *);
    g_string_append_printf(out, "%s%s=\"", out->len ? "," : "", k);
    escape_label_value(out, v ? v : "");
    g_string_append_c(out, '"');
  }
  va_end(ap);
  return g_string_free(out, FALSE);
}

GHashTable *poplard_stats_merged_new(void)
{
  return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
}

void poplard_stats_merged_add(GHashTable *merged, const char *name,
                              const char *labels, double value)
{
  g_autofree char *key = g_strdup_printf("%s\t%s", name, labels ? labels
                                                                 : "");
  double *v = g_hash_table_lookup(merged, key);
  if (!v) {
    v = g_new0(double, 1);
    g_hash_table_insert(merged, g_steal_pointer(&key), v);
  }
  *v += value;
}

static GHashTable *table_locked(void)
{
  if (!samples)
    samples = poplard_stats_merged_new();
  return samples;
}

void poplard_stats_add(const char *name, const char *labels, double n)
{
  g_mutex_lock(&lock);
  poplard_stats_merged_add(table_locked(), name, labels, n);
  g_mutex_unlock(&lock);
}

/* A histogram of one family and label set.  Its bucket keys are written
 * only when the counters are dumped: an observation (every plugin call)
 * costs one key, one lookup and a few additions under the lock. */
typedef struct Histogram {
  double le_counts[16]; /* cumulative, one per poplard_stats_buckets */
  double sum;
  double count;
} Histogram;

G_STATIC_ASSERT(G_N_ELEMENTS(((Histogram *)NULL)->le_counts) >=
                G_N_ELEMENTS(poplard_stats_buckets));

static GHashTable *histograms; /* "family\tlabels" -> Histogram*; lock */

void poplard_stats_observe(const char *family, const char *labels,
                           double seconds)
{
  g_autofree char *key =
      g_strconcat(family, "\t", labels ? labels : "", NULL);
  g_mutex_lock(&lock);
  if (!histograms)
    histograms =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  Histogram *h = g_hash_table_lookup(histograms, key);
  if (!h) {
    h = g_new0(Histogram, 1);
    g_hash_table_insert(histograms, g_steal_pointer(&key), h);
  }
  /* Cumulative: an observation counts in each bound above it. */
  for (unsigned i = 0; i < poplard_stats_n_buckets; i++)
    if (seconds <= poplard_stats_buckets[i])
      h->le_counts[i]++;
  h->sum += seconds;
  h->count++;
  g_mutex_unlock(&lock);
}

static void dump_sample(GString *out, const char *name, const char *labels,
                        double value)
{
  GString *rec = poplard_control_record_new();
  poplard_control_record_add(rec, "name", name);
  poplard_control_record_add(rec, "labels", labels);
  poplard_control_record_addf(rec, "value", "%.17g", value);
  poplard_control_record_finish(out, rec);
}

/* Every bound is present from the first observation on, as the format
 * asks. */
static void dump_histogram(GString *out, const char *family,
                           const char *labels, const Histogram *h)
{
  g_autofree char *bucket = g_strconcat(family, "_bucket", NULL);
  g_autofree char *sum = g_strconcat(family, "_sum", NULL);
  g_autofree char *count = g_strconcat(family, "_count", NULL);
  const char *sep = *labels ? "," : "";
  for (unsigned i = 0; i < poplard_stats_n_buckets; i++) {
    double le = poplard_stats_buckets[i];
    g_autofree char *with_le =
        isinf(le) ? g_strdup_printf("%s%sle=\"+Inf\"", labels, sep)
                  : g_strdup_printf("%s%sle=\"%g\"", labels, sep, le);
    dump_sample(out, bucket, with_le, h->le_counts[i]);
  }
  dump_sample(out, sum, labels, h->sum);
  dump_sample(out, count, labels, h->count);
}

void poplard_stats_dump(GString *out)
{
  g_mutex_lock(&lock);
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init(&it, table_locked());
  while (g_hash_table_iter_next(&it, &key, &value)) {
    const char *tab = strchr(key, '\t');
    g_autofree char *name = g_strndup(key, (gsize)(tab - (char *)key));
    dump_sample(out, name, tab + 1, *(double *)value);
  }
  if (histograms) {
    g_hash_table_iter_init(&it, histograms);
    while (g_hash_table_iter_next(&it, &key, &value)) {
      const char *tab = strchr(key, '\t');
      g_autofree char *family = g_strndup(key, (gsize)(tab - (char *)key));
      dump_histogram(out, family, tab + 1, value);
    }
  }
  g_mutex_unlock(&lock);
}

void poplard_stats_reset(void)
{
  g_mutex_lock(&lock);
  if (samples)
    g_hash_table_remove_all(samples);
  if (histograms)
    g_hash_table_remove_all(histograms);
  g_mutex_unlock(&lock);
}

bool poplard_stats_merged_add_record(GHashTable *merged, char *const *fields)
{
  const char *name = poplard_control_record_get(fields, "name");
  const char *labels = poplard_control_record_get(fields, "labels");
  const char *value = poplard_control_record_get(fields, "value");
  if (!name || !labels || !value)
    return false;
  char *end = NULL;
  double v = g_ascii_strtod(value, &end);
  if (end == value || *end)
    return false;
  poplard_stats_merged_add(merged, name, labels, v);
  return true;
}
