/* SPDX-License-Identifier: MIT */
/* Log entry points for plugins; the core installs where lines go. */
#include "poplar-private.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const level_names[] = {"error", "warning", "info", "debug"};

static void default_handler(PoplarLogLevel level, const char *session_id,
                            const char *plugin, const char *message)
{
  fprintf(stderr, "poplar %s: %s%s%s%s%s\n", level_names[level],
          session_id ? session_id : "", session_id ? " " : "",
          plugin ? plugin : "", plugin ? ": " : "", message);
}

static PoplarLogHandler log_handler = default_handler;
static PoplarLogLevel log_level = POPLAR_LOG_INFO;

void poplarpriv_set_log_handler(PoplarLogHandler handler)
{
  log_handler = handler ? handler : default_handler;
}

void poplarpriv_set_log_level(PoplarLogLevel level)
{
  log_level = level;
}

bool poplarpriv_log_enabled(PoplarLogLevel level)
{
  return level <= log_level;
}

/* What may reach a log line as it is: printable ASCII, and valid UTF-8
 * other than the C1 controls (U+0080..U+009F: 0x9B alone is CSI to a
 * terminal that reads 8-bit controls).  Everything else -- C0 controls,
 * DEL, C1 controls, bytes that are not UTF-8 -- is written as \xHH, byte
 * by byte. */
static char *escape_line(const char *msg)
{
  GString *out = g_string_sized_new(strlen(msg) + 16);
  const char *p = msg;
  while (*p) {
    unsigned char c = (unsigned char)*p;
    if (c >= 0x20 && c < 0x7f) {
      g_string_append_c(out, (char)c);
      p++;
      continue;
    }
    if (c >= 0x80) {
      gunichar u = g_utf8_get_char_validated(p, -1);
      if (u != (gunichar)-1 && u != (gunichar)-2 && u >= 0xa0) {
        const char *next = g_utf8_next_char(p);
        g_string_append_len(out, p, next - p);
        p = next;
        continue;
      }
    }
    g_string_append_printf(out, "\\x%02X", c);
    p++;
  }
  return g_string_free(out, FALSE);
}

static void log_emit(PoplarLogLevel level, const char *session_id,
                     const char *plugin, const char *fmt, va_list ap)
{
  if ((unsigned)level > POPLAR_LOG_DEBUG)
    level = POPLAR_LOG_DEBUG;
  if (!poplarpriv_log_enabled(level))
    return;
  g_autofree char *raw = g_strdup_vprintf(fmt, ap);
  /* Escaped here, where every line of the core and of every plugin
   * passes: neither a plugin's text nor a user name a client sent (SASL
   * decodes to any octet but NUL) forges log lines or drives the terminal
   * of whoever reads the log, and no caller has to remember it. */
  g_autofree char *msg = escape_line(raw);
  log_handler(level, session_id, plugin, msg);
}

void poplarpriv_log(const char *session_id, PoplarLogLevel level,
                    const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  log_emit(level, session_id, NULL, fmt, ap);
  va_end(ap);
}

void poplar_log(PoplarPlugin *plugin, PoplarLogLevel level, const char *fmt,
                ...)
{
  va_list ap;
  va_start(ap, fmt);
  log_emit(level, NULL, plugin ? plugin->name : NULL, fmt, ap);
  va_end(ap);
}

void poplar_session_log(PoplarSession *session, PoplarPlugin *plugin,
                        PoplarLogLevel level, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  log_emit(level, session ? session->id : NULL, plugin ? plugin->name : NULL,
           fmt, ap);
  va_end(ap);
}

void poplar_abi_version(unsigned *major, unsigned *minor)
{
  if (major)
    *major = POPLAR_ABI_MAJOR;
  if (minor)
    *minor = POPLAR_ABI_MINOR;
}
