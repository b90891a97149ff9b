/* SPDX-License-Identifier: MIT */
/*
 * A user process: forked by the master for one uid/gid, it serves every
 * session of that uid with the same loop threads and plugin pool as a
 * worker, but listens on nothing.  Sessions arrive from the master on
 * @channel (handoff.h).  When it has had no session for
 * [server] user-process-idle it tells the master, which stops sending it
 * sessions and closes the channel; it ends once the sessions that were
 * already on their way are over.
 */
#ifndef POPLAR_USER_PROC_H
#define POPLAR_USER_PROC_H

#include <stdint.h>

#include "server.h"

/* The one octet a user process sends the master: it is idle. */
#define POPLAR_USER_PROC_IDLE 'I'

/* Runs in the forked child, as root until it switches to @uid/@gid;
 * returns the exit status.  @control: its end of the master's control
 * channel (control-worker.h), taken. */
int poplard_user_proc_main(PoplarServer *server, uint32_t uid, uint32_t gid,
                           int channel, int control);

#endif
