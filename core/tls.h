/* SPDX-License-Identifier: MIT */
/*
 * TLS credentials shared by the sessions: certificates (several, chosen by
 * SNI and by what the client supports), the priority string and the
 * session-ticket key.  Reference-counted, so a reload (SIGHUP) gives new
 * sessions new certificates while live sessions keep theirs.
 */
#ifndef POPLAR_TLS_H
#define POPLAR_TLS_H

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct PoplarTlsConfig {
  char **certificates; /* "cert.pem:key.pem" or "combined.pem" */
  char *priority;
  uint64_t handshake_timeout_ms;
  bool session_tickets;
} PoplarTlsConfig;

typedef struct PoplarTls PoplarTls;

/* Loads every certificate/key pair; NULL with *@error naming the file. */
PoplarTls *poplard_tls_new(const PoplarTlsConfig *cfg, char **error);
PoplarTls *poplard_tls_ref(PoplarTls *tls);
void poplard_tls_unref(PoplarTls *tls);

/* A server session on @fd (non-blocking), ready for the handshake. */
bool poplard_tls_session_new(PoplarTls *tls, int fd, gnutls_session_t *out,
                            char **error);

/* Checks a priority string; false with *@error. */
bool poplard_tls_priority_check(const char *priority, char **error);

#endif
