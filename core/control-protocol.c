/* SPDX-License-Identifier: MIT */
#include "control-protocol.h"

#include <string.h>

void poplard_control_escape(GString *out, const char *value)
{
  for (const char *p = value; *p; p++) {
    switch (*p) {
    case '\\':
      g_string_append(out, "\\\\");
      break;
    case '\t':
      g_string_append(out, "\\t");
      break;
    case '\n':
      g_string_append(out, "\\n");
      break;
    case '\r':
      g_string_append(out, "\\r");
      break;
    default:
      g_string_append_c(out, *p);
    }
  }
}

static bool unescape_into(GString *out, const char *start, const char *end)
{
  for (const char *p = start; p < end; p++) {
    if (*p != '\\') {
      g_string_append_c(out, *p);
      continue;
    }
    if (++p == end)
      return false;
    switch (*p) {
    case '\\':
      g_string_append_c(out, '\\');
      break;
    case 't':
      g_string_append_c(out, '\t');
      break;
    case 'n':
      g_string_append_c(out, '\n');
      break;
    case 'r':
      g_string_append_c(out, '\r');
      break;
    default:
      return false;
    }
  }
  return true;
}

char **poplard_control_split(const char *line)
{
  GPtrArray *fields = g_ptr_array_new();
  const char *start = line;
  for (;;) {
    const char *end = strchr(start, '\t');
    if (!end)
      end = start + strlen(start);
    GString *field = g_string_new(NULL);
    if (!unescape_into(field, start, end)) {
      g_string_free(field, TRUE);
      g_ptr_array_set_free_func(fields, g_free);
      g_ptr_array_free(fields, TRUE);
      return NULL;
    }
    g_ptr_array_add(fields, g_string_free(field, FALSE));
    if (!*end)
      break;
    start = end + 1;
  }
  g_ptr_array_add(fields, NULL);
  return (char **)g_ptr_array_free(fields, FALSE);
}

GString *poplard_control_record_new(void)
{
  return g_string_new("R");
}

void poplard_control_record_add(GString *rec, const char *key,
                                const char *value)
{
  g_string_append_c(rec, '\t');
  poplard_control_escape(rec, key);
  g_string_append_c(rec, '=');
  poplard_control_escape(rec, value ? value : "");
}

void poplard_control_record_addf(GString *rec, const char *key,
                                 const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *value = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  poplard_control_record_add(rec, key, value);
}

void poplard_control_record_finish(GString *out, GString *rec)
{
  g_string_append_len(out, rec->str, (gssize)rec->len);
  g_string_append_c(out, '\n');
  g_string_free(rec, TRUE);
}

const char *poplard_control_record_get(char *const *fields, const char *key)
{
  size_t klen = strlen(key);
  for (char *const *f = fields + 1; *f; f++)
    if (strncmp(*f, key, klen) == 0 && (*f)[klen] == '=')
      return *f + klen + 1;
  return NULL;
}
