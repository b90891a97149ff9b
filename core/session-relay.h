/* SPDX-License-Identifier: MIT */
/*
 * What a shared worker keeps of a session it handed to the process of the
 * user's uid.  For a TLS connection, the TLS state cannot move to another
 * process, so the worker stays in the middle: it decrypts what the client
 * sends and passes it to the user process over a socketpair, and encrypts
 * what comes back.  For a plain connection the socket itself moved, and
 * the worker keeps only a lifeline, a socketpair end that reads end of
 * file when the user process closes the session.  Either way the relay
 * holds the session's place in the connection limits until then.
 */
#ifndef POPLAR_SESSION_RELAY_H
#define POPLAR_SESSION_RELAY_H

#include <gnutls/gnutls.h>

#include "server.h"

typedef struct PoplarRelay PoplarRelay;

typedef struct PoplarRelayParams {
  const char *session_id;
  int pair_fd;              /* the worker's end of the socketpair */
  int client_fd;            /* TLS: the client's socket; plain: -1 */
  gnutls_session_t tls;     /* TLS: the established session; plain: NULL */
  PoplarTls *tls_ctx;       /* the reference the session holds, taken */
  const char *limits_key;   /* the connection-limits slot, or NULL */
} PoplarRelayParams;

/* Starts relaying on loop @loop_index (its thread only), taking every
 * descriptor and reference in @p; counts as a live session of @server
 * until it ends. */
void poplard_relay_start(PoplarServer *server, unsigned loop_index,
                         const PoplarRelayParams *p);

/* Ends every relay of a loop (server shutdown); loop thread only. */
void poplard_relay_close_all(PoplarLoopClients *list);

#endif
