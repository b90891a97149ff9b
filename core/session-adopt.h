/* SPDX-License-Identifier: MIT */
/* The user process's half of a hand-off (session-handoff.h). */
#ifndef POPLAR_SESSION_ADOPT_H
#define POPLAR_SESSION_ADOPT_H

#include "handoff.h"
#include "server.h"

/* On loop @loop_index's thread of a user process: the session @h goes on
 * here on @fd (the client's socket, or the relay's socketpair), with
 * @lifeline (-1 for none) held until it ends.  Opens the mailbox with
 * this process's uid and answers the login.  Takes @fd, @lifeline and
 * @h. */
void poplard_session_adopt(PoplarServer *server, unsigned loop_index, int fd,
                           int lifeline, PoplarHandoff *h);

#endif
