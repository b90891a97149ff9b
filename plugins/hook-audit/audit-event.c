/* SPDX-License-Identifier: MIT */
/* Audit events: an ordered list of typed fields, rendered as JSON. */
#include "audit.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

void audit_format_time(int64_t time_us, char buf[32])
{
  time_t secs = (time_t)(time_us / G_USEC_PER_SEC);
  long micros = (long)(time_us % G_USEC_PER_SEC);
  struct tm tm;
  if (micros < 0) {
    secs -= 1;
    micros += G_USEC_PER_SEC;
  }
  gmtime_r(&secs, &tm);
  g_snprintf(buf, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, micros);
}

static void field_clear(gpointer p)
{
  AuditField *f = p;
  g_free(f->text);
  if (f->list)
    g_ptr_array_unref(f->list);
}

static void add_field(AuditEvent *ev, const char *key, AuditKind kind,
                      char *text, GPtrArray *list)
{
  AuditField f = {.key = key, .kind = kind, .text = text, .list = list};
  g_array_append_val(ev->fields, f);
}

AuditEvent *audit_event_new(const char *name, const PoplarSession *s)
{
  AuditEvent *ev = g_new0(AuditEvent, 1);
  ev->name = g_strdup(name);
  ev->priority = AUDIT_PRIORITY_INFO;
  ev->time_us = g_get_real_time();
  ev->fields = g_array_new(FALSE, TRUE, sizeof(AuditField));
  g_array_set_clear_func(ev->fields, field_clear);
  char ts[32];
  audit_format_time(ev->time_us, ts);
  add_field(ev, "ts", AUDIT_STRING, g_strdup(ts), NULL);
  add_field(ev, "event", AUDIT_STRING, g_strdup(name), NULL);
  add_field(ev, "session", AUDIT_STRING, g_strdup(poplar_session_id(s)),
            NULL);
  return ev;
}

void audit_event_free(AuditEvent *ev)
{
  if (!ev)
    return;
  g_array_unref(ev->fields);
  g_free(ev->name);
  g_free(ev);
}

void audit_event_add_string(AuditEvent *ev, const char *key,
                            const char *value)
{
  if (value)
    add_field(ev, key, AUDIT_STRING, g_strdup(value), NULL);
  else
    add_field(ev, key, AUDIT_NULL, NULL, NULL);
}

void audit_event_add_uint(AuditEvent *ev, const char *key, uint64_t value)
{
  add_field(ev, key, AUDIT_NUMBER, g_strdup_printf("%" PRIu64, value), NULL);
}

void audit_event_add_int(AuditEvent *ev, const char *key, int64_t value)
{
  add_field(ev, key, AUDIT_NUMBER, g_strdup_printf("%" PRId64, value), NULL);
}

void audit_event_add_bool(AuditEvent *ev, const char *key, bool value)
{
  add_field(ev, key, AUDIT_BOOL, g_strdup(value ? "true" : "false"), NULL);
}

void audit_event_add_seconds(AuditEvent *ev, const char *key, int64_t us)
{
  if (us < 0)
    us = 0;
  add_field(ev, key, AUDIT_NUMBER,
            g_strdup_printf("%" PRId64 ".%06" PRId64, us / G_USEC_PER_SEC,
                            us % G_USEC_PER_SEC),
            NULL);
}

void audit_event_add_list(AuditEvent *ev, const char *key, GPtrArray *items)
{
  add_field(ev, key, AUDIT_LIST, NULL, items);
}

/* User names and mechanisms come from the client: anything may be in
 * them, and the line must stay one valid JSON object. */
void audit_json_string(GString *out, const char *s)
{
  g_string_append_c(out, '"');
  const char *p = s;
  while (*p) {
    unsigned char c = (unsigned char)*p;
    if (c == '"' || c == '\\') {
      g_string_append_c(out, '\\');
      g_string_append_c(out, (char)c);
      p++;
    } else if (c < 0x20 || c == 0x7f) {
      g_string_append_printf(out, "\\u%04x", c);
      p++;
    } else if (c < 0x80) {
      g_string_append_c(out, (char)c);
      p++;
    } else {
      gunichar u = g_utf8_get_char_validated(p, -1);
      if (u == (gunichar)-1 || u == (gunichar)-2) {
        g_string_append(out, "\\ufffd");
        p++;
      } else {
        const char *next = g_utf8_next_char(p);
        g_string_append_len(out, p, next - p);
        p = next;
      }
    }
  }
  g_string_append_c(out, '"');
}

char *audit_event_json(const AuditEvent *ev)
{
  GString *out = g_string_sized_new(256);
  g_string_append_c(out, '{');
  for (guint i = 0; i < ev->fields->len; i++) {
    const AuditField *f = &g_array_index(ev->fields, AuditField, i);
    if (i > 0)
      g_string_append_c(out, ',');
    audit_json_string(out, f->key);
    g_string_append_c(out, ':');
    switch (f->kind) {
    case AUDIT_STRING:
      audit_json_string(out, f->text);
      break;
    case AUDIT_NUMBER:
    case AUDIT_BOOL:
      g_string_append(out, f->text);
      break;
    case AUDIT_NULL:
      g_string_append(out, "null");
      break;
    case AUDIT_LIST:
      g_string_append_c(out, '[');
      for (guint j = 0; j < f->list->len; j++) {
        if (j > 0)
          g_string_append_c(out, ',');
        audit_json_string(out, g_ptr_array_index(f->list, j));
      }
      g_string_append_c(out, ']');
      break;
    }
  }
  g_string_append_c(out, '}');
  return g_string_free(out, FALSE);
}
