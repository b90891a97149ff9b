/* SPDX-License-Identifier: MIT */
/* Typed accessors for one section of poplar.conf (public API). */
#include "poplar-private.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static PoplarConfigEntry *config_lookup(PoplarConfig *config, const char *key)
{
  PoplarConfigEntry *e = g_hash_table_lookup(config->by_key, key);
  if (e)
    e->used = true;
  return e;
}

static void config_vreport(PoplarConfig *config, GPtrArray *to,
                           const char *key, const char *fmt, va_list ap)
{
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  PoplarConfigEntry *e = key ? g_hash_table_lookup(config->by_key, key) : NULL;
  unsigned line = e ? e->line : config->line;
  GString *s = g_string_new(config->file->path);
  if (line)
    g_string_append_printf(s, ":%u", line);
  g_string_append_printf(s, ": [%s]", config->name);
  if (key)
    g_string_append_printf(s, " %s", key);
  g_string_append_printf(s, ": %s", msg);
  g_ptr_array_add(to, g_string_free(s, FALSE));
}

void poplar_config_error(PoplarConfig *config, const char *key,
                         const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  config_vreport(config, config->file->errors, key, fmt, ap);
  va_end(ap);
}

void poplar_config_warning(PoplarConfig *config, const char *key,
                           const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  config_vreport(config, config->file->warnings, key, fmt, ap);
  va_end(ap);
}

const char *poplar_config_section_name(const PoplarConfig *config)
{
  return config->name;
}

bool poplar_config_has_key(PoplarConfig *config, const char *key)
{
  return config_lookup(config, key) != NULL;
}

const char *poplar_config_get_string(PoplarConfig *config, const char *key,
                                     const char *def)
{
  PoplarConfigEntry *e = config_lookup(config, key);
  return e ? e->value : def;
}

bool poplar_config_get_int(PoplarConfig *config, const char *key,
                           long long def, long long min, long long max,
                           long long *out)
{
  PoplarConfigEntry *e = config_lookup(config, key);
  *out = def;
  if (!e)
    return true;
  char *end = NULL;
  errno = 0;
  long long v = strtoll(e->value, &end, 10);
  if (e->value[0] == '\0' || *end != '\0' || errno == ERANGE) {
    poplar_config_error(config, key, "'%s' is not an integer", e->value);
    return false;
  }
  if (v < min || v > max) {
    poplar_config_error(config, key, "%lld is out of range (%lld to %lld)", v,
                        min, max);
    return false;
  }
  *out = v;
  return true;
}

bool poplar_config_get_bool(PoplarConfig *config, const char *key, bool def,
                            bool *out)
{
  static const char *const yes[] = {"yes", "true", "on", "1"};
  static const char *const no[] = {"no", "false", "off", "0"};
  PoplarConfigEntry *e = config_lookup(config, key);
  *out = def;
  if (!e)
    return true;
  for (size_t i = 0; i < G_N_ELEMENTS(yes); i++) {
    if (g_ascii_strcasecmp(e->value, yes[i]) == 0) {
      *out = true;
      return true;
    }
    if (g_ascii_strcasecmp(e->value, no[i]) == 0) {
      *out = false;
      return true;
    }
  }
  poplar_config_error(config, key, "'%s' is not a boolean (yes or no)",
                      e->value);
  return false;
}

typedef struct UnitScale {
  const char *unit;
  uint64_t scale;
} UnitScale;

/* Parses "<digits><unit>" where unit is one of @units ("" included). */
static bool parse_scaled(const char *text, const UnitScale *units,
                         size_t n_units, uint64_t *out)
{
  char *end = NULL;
  if (!g_ascii_isdigit(text[0]))
    return false;
  errno = 0;
  unsigned long long n = strtoull(text, &end, 10);
  if (errno == ERANGE)
    return false;
  while (*end == ' ')
    end++;
  for (size_t i = 0; i < n_units; i++) {
    if (g_ascii_strcasecmp(end, units[i].unit) == 0) {
      if (units[i].scale && n > UINT64_MAX / units[i].scale)
        return false;
      *out = n * units[i].scale;
      return true;
    }
  }
  return false;
}

bool poplar_config_get_duration(PoplarConfig *config, const char *key,
                                uint64_t def_ms, uint64_t *out_ms)
{
  static const UnitScale units[] = {
      {"", 1000},       {"ms", 1},         {"s", 1000},
      {"m", 60 * 1000}, {"min", 60 * 1000}, {"h", 3600 * 1000},
      {"d", 86400 * 1000ULL},
  };
  PoplarConfigEntry *e = config_lookup(config, key);
  *out_ms = def_ms;
  if (!e)
    return true;
  if (!parse_scaled(e->value, units, G_N_ELEMENTS(units), out_ms)) {
    poplar_config_error(config, key,
                        "'%s' is not a duration (e.g. 500ms, 30s, 10m, 2h)",
                        e->value);
    return false;
  }
  return true;
}

bool poplar_config_get_size(PoplarConfig *config, const char *key,
                            uint64_t def, uint64_t *out)
{
  static const UnitScale units[] = {
      {"", 1},           {"k", 1024},         {"kb", 1024},
      {"m", 1024 * 1024}, {"mb", 1024 * 1024}, {"g", 1024ULL * 1024 * 1024},
      {"gb", 1024ULL * 1024 * 1024},
  };
  PoplarConfigEntry *e = config_lookup(config, key);
  *out = def;
  if (!e)
    return true;
  if (!parse_scaled(e->value, units, G_N_ELEMENTS(units), out)) {
    poplar_config_error(config, key, "'%s' is not a size (e.g. 512k, 10M, 1G)",
                        e->value);
    return false;
  }
  return true;
}

const char *const *poplar_config_get_list(PoplarConfig *config,
                                          const char *key, size_t *n_items)
{
  char **list = g_hash_table_lookup(config->lists, key);
  if (!list) {
    PoplarConfigEntry *e = config_lookup(config, key);
    GPtrArray *items = g_ptr_array_new();
    if (e) {
      g_auto(GStrv) parts = g_strsplit(e->value, ";", -1);
      for (char **p = parts; *p; p++) {
        char *item = g_strstrip(*p);
        if (item[0])
          g_ptr_array_add(items, g_strdup(item));
      }
    }
    g_ptr_array_add(items, NULL);
    list = (char **)g_ptr_array_free(items, FALSE);
    g_hash_table_insert(config->lists, g_strdup(key), list);
  }
  if (n_items)
    *n_items = g_strv_length(list);
  return (const char *const *)list;
}
