/* SPDX-License-Identifier: MIT */
/*
 * The counters of one process (a worker, a user process) and their
 * merging in the master.  A sample is a metric name and its label set in
 * OpenMetrics syntax ("result=\"ok\",mechanism=\"USER\""); the process
 * keeps a value per sample, and the master sums the samples every worker
 * reports (poplard_stats_dump) into one table that metrics-text.c renders.
 * Thread-safe: loop threads and pool threads count at the same time.
 */
#ifndef POPLAR_STATS_H
#define POPLAR_STATS_H

#include <glib.h>
#include <stdbool.h>

/* A label set from NULL-terminated key, value pairs, values escaped as
 * OpenMetrics asks (backslash, double quote, newline). */
char *poplard_stats_labels(const char *key, ...) G_GNUC_NULL_TERMINATED;

/* Adds @n to the sample @name{@labels} of this process. */
void poplard_stats_add(const char *name, const char *labels, double n);
/* Adds one observation of @seconds to the histogram @family{@labels}:
 * its _bucket (every bound), _sum and _count samples. */
void poplard_stats_observe(const char *family, const char *labels,
                           double seconds);
/* The histogram bounds, in seconds, ending with +Inf. */
extern const double poplard_stats_buckets[];
extern const unsigned poplard_stats_n_buckets;

/* Appends every sample of this process to @out as control records
 * (name=, labels=, value=). */
void poplard_stats_dump(GString *out);
/* Forgets every sample (a child process starts from zero). */
void poplard_stats_reset(void);

/* ---- merging, in the master -------------------------------------------- */

/* "name\tlabels" -> double*, summed. */
GHashTable *poplard_stats_merged_new(void);
void poplard_stats_merged_add(GHashTable *merged, const char *name,
                              const char *labels, double value);
/* Adds one record of poplard_stats_dump(); false when it is not one. */
bool poplard_stats_merged_add_record(GHashTable *merged, char *const *fields);

#endif
