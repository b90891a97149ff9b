/* SPDX-License-Identifier: MIT */
/* Ending a session: disconnect hooks, releasing the mailbox, freeing. */
#ifndef POPLAR_SESSION_END_H
#define POPLAR_SESSION_END_H

#include "client.h"

/* Called once the socket is closed and no plugin call runs for @c.  Runs
 * what needs plugins on the pool, logs the summary line, frees @c. */
void poplard_session_end(PoplarClient *c);

#endif
