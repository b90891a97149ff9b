/* SPDX-License-Identifier: MIT */
/* Log entry points for plugins; the core installs where lines go. */
#include "poplar-private.h"

#include <stdarg.h>
#include <stdio.h>

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

static void log_emit(PoplarLogLevel level, const char *session_id,
                     const char *plugin, const char *fmt, va_list ap)
{
  if ((unsigned)level > POPLAR_LOG_DEBUG)
    level = POPLAR_LOG_DEBUG;
  if (!poplarpriv_log_enabled(level))
    return;
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  /* One line per call, and no control character: neither a plugin's text
   * nor a user name a client sent (SASL decodes to any octet but NUL)
   * forges log lines or drives the terminal of whoever reads the log. */
  for (char *p = msg; *p; p++) {
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      *p = ' ';
  }
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
