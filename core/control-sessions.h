/* SPDX-License-Identifier: MIT */
/*
 * poplarctl who and kick in a worker: the sessions of every loop thread,
 * read (and for kick, closed) on that thread.
 */
#ifndef POPLAR_CONTROL_SESSIONS_H
#define POPLAR_CONTROL_SESSIONS_H

#include <glib.h>
#include <stdbool.h>

#include "server.h"

/* Appends a record per session whose user or session id is @match (every
 * session when NULL) to @out, then "OK".  With @kick, also ends those
 * sessions as a shutdown does: no UPDATE, so nothing marked is deleted,
 * and returns once their teardown has released the mailboxes.  Waits for
 * each loop's part. */
void poplard_control_sessions(PoplarServer *server, const char *match,
                              bool kick, GString *out);

#endif
