/* SPDX-License-Identifier: MIT */
/*
 * Proxy mode: a user whose password database entry has a proxy field is
 * served by another POP3 server.  After the client authenticated here,
 * the login job logs in to that backend (never opening a mailbox here),
 * and on success the session becomes a relay of octets between the
 * client and the backend (backend-relay.h).
 */
#ifndef POPLAR_BACKEND_PROXY_H
#define POPLAR_BACKEND_PROXY_H

#include <stdbool.h>

#include "login.h"

/* True when the authenticated user of @req is routed to a backend. */
bool poplard_backend_routed(const PoplarAuthRequest *req);

/* Logs in to the user's backend; runs in the login job on the pool.
 * POPLAR_LOGIN_PROXY with c->login.backend set on success; otherwise
 * POPLAR_LOGIN_REFUSED with c->job.reply set: [SYS/TEMP] when the backend
 * cannot be used now, [AUTH] when it refused the credentials (no failure
 * delay: the credentials were right here). */
PoplarLoginResult poplard_backend_proxy_login(PoplarClient *c);

/* Frees the server's backend TLS credentials (server shutdown). */
void poplard_backend_proxy_cleanup(PoplarServer *server);

#endif
