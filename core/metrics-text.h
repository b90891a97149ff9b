/* SPDX-License-Identifier: MIT */
/*
 * The OpenMetrics text exposition (version 1.0.0) of the merged counters:
 * every family poplard knows, with its TYPE, UNIT and HELP lines, its
 * samples sorted by name and labels, and the closing "# EOF".
 */
#ifndef POPLAR_METRICS_TEXT_H
#define POPLAR_METRICS_TEXT_H

#include <glib.h>

#define POPLAR_METRICS_CONTENT_TYPE \
  "application/openmetrics-text; version=1.0.0; charset=utf-8"

/* Renders @merged (poplard_stats_merged_new()) into @out. */
void poplard_metrics_render(GHashTable *merged, GString *out);

#endif
