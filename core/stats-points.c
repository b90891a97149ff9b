/* SPDX-License-Identifier: MIT */
#include "stats-points.h"

#include "client.h"
#include "stats.h"

void poplard_stats_connection(const PoplarClient *c, bool opened)
{
  if (!c->conn.listener[0])
    return; /* adopted from a worker: counted there */
  g_autofree char *labels =
      poplard_stats_labels("listener", c->conn.listener, "tls",
                           c->conn.implicit_tls ? "yes" : "no", NULL);
  poplard_stats_add("poplar_connections", labels, opened ? 1 : -1);
  if (opened)
    poplard_stats_add("poplar_connections_accepted_total", labels, 1);
}

void poplard_stats_login(const char *mechanism, const char *result)
{
  g_autofree char *labels = poplard_stats_labels(
      "result", result, "mechanism", mechanism ? mechanism : "", NULL);
  poplard_stats_add("poplar_logins_total", labels, 1);
}

void poplard_stats_login_delayed(void)
{
  poplard_stats_add("poplar_login_delays_total", "", 1);
}

void poplard_stats_session_ended(const char *reason)
{
  g_autofree char *labels = poplard_stats_labels("reason", reason, NULL);
  poplard_stats_add("poplar_sessions_ended_total", labels, 1);
}

void poplard_stats_sent(const char *command, uint64_t octets, bool complete)
{
  g_autofree char *labels = poplard_stats_labels("command", command, NULL);
  if (complete)
    poplard_stats_add("poplar_messages_sent_total", labels, 1);
  poplard_stats_add("poplar_sent_bytes_total", labels, (double)octets);
}

void poplard_stats_deleted(unsigned messages)
{
  poplard_stats_add("poplar_messages_deleted_total", "", messages);
}

void poplard_stats_in_use(void)
{
  poplard_stats_add("poplar_in_use_refusals_total", "", 1);
}

void poplard_stats_tls_handshake(bool ok)
{
  g_autofree char *labels =
      poplard_stats_labels("result", ok ? "success" : "failure", NULL);
  poplard_stats_add("poplar_tls_handshakes_total", labels, 1);
}

void poplard_stats_plugin_problem(const char *plugin, const char *level)
{
  g_autofree char *labels =
      poplard_stats_labels("plugin", plugin, "level", level, NULL);
  poplard_stats_add("poplar_plugin_log_messages_total", labels, 1);
}

void poplard_stats_plugin_call(const char *plugin, const char *operation,
                               double seconds)
{
  g_autofree char *labels = poplard_stats_labels(
      "plugin", plugin, "operation", operation, NULL);
  poplard_stats_observe("poplar_plugin_call_duration_seconds", labels,
                        seconds);
}
