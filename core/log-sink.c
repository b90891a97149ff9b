/* SPDX-License-Identifier: MIT */
#include "log-sink.h"

#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "poplar-private.h"
#include "stats-points.h"

static const char *const level_names[] = {"error", "warning", "info", "debug"};

/* GLib's local time zone re-reads /etc/localtime (two stats and a
 * readlink) on every call; a log line per command made that a tenth of a
 * session's system calls.  The zone is held here and looked up again once
 * a minute, so a changed zone still shows up without a restart. */
#define ZONE_RECHECK_USEC (60 * G_USEC_PER_SEC)

static GMutex zone_lock;
static GTimeZone *zone;
static gint64 zone_checked;

/* The pid is cached too; workers and user processes are forked after the
 * sink is installed, so the child drops the parent's value. */
static pid_t cached_pid;

static void forget_pid(void)
{
  cached_pid = 0;
}

pid_t poplard_self_pid(void)
{
  if (cached_pid == 0)
    cached_pid = getpid();
  return cached_pid;
}

static GDateTime *now_local(void)
{
  gint64 now = g_get_monotonic_time();
  g_mutex_lock(&zone_lock);
  if (!zone || now - zone_checked >= ZONE_RECHECK_USEC) {
    if (zone)
      g_time_zone_unref(zone);
    zone = g_time_zone_new_local();
    zone_checked = now;
  }
  GDateTime *t = g_date_time_new_now(zone);
  g_mutex_unlock(&zone_lock);
  return t;
}

/* One fprintf per line: stdio locks the stream, so lines from several
 * threads never interleave. */
static void stderr_handler(PoplarLogLevel level, const char *session_id,
                           const char *plugin, const char *message)
{
  g_autoptr(GDateTime) now = now_local();
  g_autofree char *stamp = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S.%f");
  if (stamp && stamp[0])
    stamp[23] = '\0'; /* milliseconds */
  /* A plugin's errors are how a failing backend shows (spamd down while
   * the hook fails open, an LDAP server gone). */
  if (plugin && level <= POPLAR_LOG_WARNING)
    poplard_stats_plugin_problem(plugin, level_names[level]);
  fprintf(stderr, "%s poplard[%d]: %s: %s%s%s%s%s\n", stamp ? stamp : "",
          (int)poplard_self_pid(), level_names[level], session_id ? session_id : "",
          session_id ? ": " : "", plugin ? plugin : "", plugin ? ": " : "",
          message);
}

void poplard_log_sink_install(void)
{
  setvbuf(stderr, NULL, _IOLBF, 0);
  pthread_atfork(NULL, NULL, forget_pid);
  poplarpriv_set_log_handler(stderr_handler);
}
