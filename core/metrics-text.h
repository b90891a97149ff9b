/* SPDX-License-Identifier: MIT */
/*
 * The OpenMetrics text exposition (version 1.0.0) of the merged counters:
 * every family poplard knows, with its TYPE, UNIT and HELP lines, its
 * samples sorted by name and labels, and the closing "# EOF".  Also the
 * older Prometheus text format (0.0.4) for a scraper that asks for it:
 * there a counter's TYPE names its _total sample, and UNIT and EOF lines
 * do not exist.
 */
#ifndef POPLAR_METRICS_TEXT_H
#define POPLAR_METRICS_TEXT_H

#include <glib.h>

#include <stdbool.h>

#define POPLAR_METRICS_CONTENT_TYPE \
  "application/openmetrics-text; version=1.0.0; charset=utf-8"
#define POPLAR_METRICS_CONTENT_TYPE_TEXT \
  "text/plain; version=0.0.4; charset=utf-8"

/* Renders @merged (poplard_stats_merged_new()) into @out, in OpenMetrics
 * or, with @text_format, in the Prometheus text format 0.0.4. */
void poplard_metrics_render(GHashTable *merged, bool text_format,
                            GString *out);

#endif
