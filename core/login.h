/* SPDX-License-Identifier: MIT */
/*
 * Authentication and mailbox opening, run on the plugin pool: the hooks
 * around a login, the chain of password databases, and the mailbox that a
 * successful login opens.  Every failure a client can cause reads the same
 * ("-ERR [AUTH] Authentication failed") unless a database gave a reason.
 */
#ifndef POPLAR_LOGIN_H
#define POPLAR_LOGIN_H

#include <stdbool.h>

#include "client.h"

typedef enum PoplarLoginResult {
  POPLAR_LOGIN_OK,
  POPLAR_LOGIN_FAILED,     /* wrong credentials: delay, count, -ERR */
  POPLAR_LOGIN_REFUSED,    /* a hook or store refused: -ERR, no delay */
  POPLAR_LOGIN_DISCONNECT, /* a hook asked to close the connection */
  POPLAR_LOGIN_HANDOFF,    /* authenticated; the user's uid serves it */
  POPLAR_LOGIN_PROXY,      /* logged in to the user's backend: relay */
} PoplarLoginResult;

/* The secret check a login performs, given the request. */
typedef PoplarPassdbResult (*PoplarCredentialCheck)(PoplarClient *c,
                                                    PoplarAuthRequest *req);

/* Runs the whole login on the pool: auth_before hooks, @check, auth_after
 * hooks, then opens the mailbox.  Fills c->job.reply with the reply line.
 * c->login.req must be set. */
PoplarLoginResult poplard_auth_login(PoplarClient *c,
                                    PoplarCredentialCheck check);

/* Asks each passdb's verify_plain in turn. */
PoplarPassdbResult poplard_auth_verify_plain(const PoplarRegistry *registry,
                                            PoplarAuthRequest *req,
                                            const char *password);
/* Asks each passdb's lookup_secret in turn; the secret ends in req. */
PoplarPassdbResult poplard_auth_lookup_secret(const PoplarRegistry *registry,
                                             PoplarAuthRequest *req);

/* True when some passdb can supply secrets (APOP is offered then). */
bool poplard_auth_can_supply_secrets(const PoplarRegistry *registry);

#endif
