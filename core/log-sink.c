/* SPDX-License-Identifier: MIT */
#include "log-sink.h"

#include <stdio.h>
#include <unistd.h>

#include "poplar-private.h"
#include "stats-points.h"

static const char *const level_names[] = {"error", "warning", "info", "debug"};

/* One fprintf per line: stdio locks the stream, so lines from several
 * threads never interleave. */
static void stderr_handler(PoplarLogLevel level, const char *session_id,
                           const char *plugin, const char *message)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  g_autofree char *stamp = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S.%f");
  if (stamp && stamp[0])
    stamp[23] = '\0'; /* milliseconds */
  /* A plugin's errors are how a failing backend shows (spamd down while
   * the hook fails open, an LDAP server gone). */
  if (plugin && level <= POPLAR_LOG_WARNING)
    poplard_stats_plugin_problem(plugin, level_names[level]);
  fprintf(stderr, "%s poplard[%d]: %s: %s%s%s%s%s\n", stamp ? stamp : "",
          (int)getpid(), level_names[level], session_id ? session_id : "",
          session_id ? ": " : "", plugin ? plugin : "", plugin ? ": " : "",
          message);
}

void poplard_log_sink_install(void)
{
  setvbuf(stderr, NULL, _IOLBF, 0);
  poplarpriv_set_log_handler(stderr_handler);
}
