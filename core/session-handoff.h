/* SPDX-License-Identifier: MIT */
/*
 * Sessions of users with a uid of their own.  When the password database
 * gives a login a uid (system users from PAM or passwd, LDAP uidNumber,
 * SQL uid) other than the worker's, the session's mail must be read and
 * changed with that uid, never with the worker's: after the login, the
 * worker hands the connection to a process running as the user (started
 * by the master, see user-procs.h) and keeps at most a relay.
 */
#ifndef POPLAR_SESSION_HANDOFF_H
#define POPLAR_SESSION_HANDOFF_H

#include <stdbool.h>
#include <stdint.h>

#include "client.h"

typedef enum PoplarUidRoute {
  POPLAR_UID_HERE,    /* no uid, or this process's: the worker serves it */
  POPLAR_UID_HANDOFF, /* the process of uid/gid serves it */
  POPLAR_UID_REFUSED, /* nobody may: c->job_reply says so, logged */
} PoplarUidRoute;

/* On the pool, after a successful login: where the session of c->auth is
 * served.  For POPLAR_UID_HANDOFF, fills c->handoff_uid/gid. */
PoplarUidRoute poplard_uid_route(PoplarClient *c);

/* On the loop, after the login's job: passes the session to the master
 * for the process of its uid.  On success the client is gone from this
 * worker (its connection moved, or a relay keeps it); on failure it
 * answers -ERR [SYS/TEMP] and stays in the AUTHORIZATION state. */
void poplard_handoff_client(PoplarClient *c);

#endif
