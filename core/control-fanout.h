/* SPDX-License-Identifier: MIT */
/*
 * The master asking all its workers at once: one request written to each
 * worker's control channel, the answers read together with one deadline,
 * their records put together.  The master waits (bounded) while it asks:
 * requests are rare and small, workers answer from memory.
 */
#ifndef POPLAR_CONTROL_FANOUT_H
#define POPLAR_CONTROL_FANOUT_H

#include <glib.h>
#include <stdbool.h>

/* How long the workers have to answer, together. */
#define POPLAR_CONTROL_WORKER_TIMEOUT_MS 5000

/* Sends the split @request to each of the @n channels in @fds and appends
 * every record line (with its newline) to @records.  Returns false, with
 * the reason in @error, when a worker answered ERR, did not answer in
 * time, or its channel failed; the records of the others are kept. */
bool poplard_control_fanout(const int *fds, unsigned n, char *const *request,
                            GString *records, GString *error);

#endif
