/* SPDX-License-Identifier: MIT */
/*
 * A proxied session once both sides are logged in: octets pass between
 * the client's connection and the backend's, either of which may be TLS.
 * Each direction has one fixed buffer; a side whose peer does not take
 * more is not read, so a message of any size streams through two buffers
 * and nothing of it is kept.  No traffic in either direction for the idle
 * timeout ends the session; so does either side closing.
 */
#ifndef POPLAR_BACKEND_RELAY_H
#define POPLAR_BACKEND_RELAY_H

#include "client.h"

typedef struct PoplarBackendRelay PoplarBackendRelay;

/* Turns @c, whose login job left c->login.backend and
 * c->login.backend_reply, into a relay on its loop: the backend's +OK
 * goes to the client after any reply still queued, and commands the
 * client already pipelined go to the backend.  @c is detached (freed)
 * either way; loop thread only. */
void poplard_backend_relay_start(PoplarClient *c);

/* Ends every backend relay of a loop (server shutdown); loop thread
 * only. */
void poplard_backend_relay_close_all(PoplarLoopClients *list);

#endif
