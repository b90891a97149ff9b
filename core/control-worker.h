/* SPDX-License-Identifier: MIT */
/*
 * A worker's side of the control channel: a thread that answers the
 * master's requests (who, kick, stats, penalty, auth-test, user) about
 * this worker's sessions and counters.  Sessions belong to their loop
 * threads, so what touches them runs there (poplard_loop_invoke) and the
 * thread waits for every loop's part.
 */
#ifndef POPLAR_CONTROL_WORKER_H
#define POPLAR_CONTROL_WORKER_H

#include <stdbool.h>

#include "server.h"

typedef struct PoplarControlWorker PoplarControlWorker;

/* Starts answering on @fd (the worker's end; owned from now on). */
PoplarControlWorker *poplard_control_worker_start(PoplarServer *server,
                                                  int fd);
/* Stops answering and joins the thread; before the server is freed. */
void poplard_control_worker_stop(PoplarControlWorker *w);

/* Answers one request (split fields) into @out: records, then "OK" or
 * "ERR reason" lines.  The thread's work, callable from tests. */
void poplard_control_worker_answer(PoplarServer *server, char **request,
                                   GString *out);

#endif
