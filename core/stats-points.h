/* SPDX-License-Identifier: MIT */
/*
 * The places poplard counts (stats.h), one function each, so that the
 * session code says what happened and the metric names and labels stay
 * here, next to the families of metrics-text.c.
 */
#ifndef POPLAR_STATS_POINTS_H
#define POPLAR_STATS_POINTS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct PoplarClient PoplarClient;

/* A connection accepted on a listener (@opened) or closed. */
void poplard_stats_connection(const PoplarClient *c, bool opened);
/* A login attempt's outcome: "success", "failure", "unknown_user",
 * "tempfail" or "refused". */
void poplard_stats_login(const char *mechanism, const char *result);
/* A password check that waited for its address's earlier failures. */
void poplard_stats_login_delayed(void);
void poplard_stats_session_ended(const char *reason);
/* A transfer by @command ("RETR" or "TOP") ended after @octets as sent
 * (CRLF, dot-stuffing and the final "." included); @complete when the
 * whole of it went out. */
void poplard_stats_sent(const char *command, uint64_t octets, bool complete);
void poplard_stats_deleted(unsigned messages);
void poplard_stats_in_use(void);
void poplard_stats_tls_handshake(bool ok);
/* A plugin logged an error or a warning (@level). */
void poplard_stats_plugin_problem(const char *plugin, const char *level);
/* One call into a plugin that took @seconds. */
void poplard_stats_plugin_call(const char *plugin, const char *operation,
                               double seconds);

#endif
