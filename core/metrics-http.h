/* SPDX-License-Identifier: MIT */
/*
 * The [metrics] endpoint of the master: HTTP/1.1, GET /metrics only, one
 * request per connection, the request bounded in size and time.  The
 * answer is the OpenMetrics text of every worker's counters merged.
 */
#ifndef POPLAR_METRICS_HTTP_H
#define POPLAR_METRICS_HTTP_H

#include <glib.h>
#include <stdbool.h>

#include "control.h"

/* The longest request head read; more is answered 431. */
#define POPLAR_METRICS_MAX_REQUEST 8192

typedef struct PoplarMetricsHttp PoplarMetricsHttp;

/* Binds @address ("host:port", "[v6]:port"). */
PoplarMetricsHttp *poplard_metrics_http_open(const char *address,
                                             char **error);
int poplard_metrics_http_fd(const PoplarMetricsHttp *h);
/* The address bound, with the port the kernel chose for port 0. */
const char *poplard_metrics_http_address(const PoplarMetricsHttp *h);
void poplard_metrics_http_free(PoplarMetricsHttp *h);

/* Accepts one connection and answers it. */
void poplard_metrics_http_serve_one(PoplarMetricsHttp *h,
                                    const PoplarMasterView *view);

/* True when the request head's Accept asks for the Prometheus text format
 * and not for OpenMetrics (promtool, an old scraper). */
bool poplard_metrics_http_wants_text(const char *head);

/* The HTTP status a request head (up to its blank line) gets: 200 for
 * GET /metrics, 404 for another path, 405 for another method, 400 for
 * what is not an HTTP/1.x request line.  Separate for tests. */
int poplard_metrics_http_status(const char *head);

#endif
