/* SPDX-License-Identifier: MIT */
/*
 * A connection to a POP3 backend while the proxy logs in to it.  The
 * login runs on the plugin pool, like a password database call: it may
 * block, but every step (connect, each read and write, the TLS handshake)
 * is bounded by a timeout, so an unreachable or silent backend costs one
 * pool thread for that long and never stalls a loop.  Once logged in, the
 * socket turns non-blocking and the connection moves to a relay on the
 * client's loop (backend-relay.h).
 */
#ifndef POPLAR_BACKEND_CONN_H
#define POPLAR_BACKEND_CONN_H

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stddef.h>

/* A reply line from a backend longer than this is an error (RFC 2449
 * allows 512 octets). */
#define POPLAR_BACKEND_LINE_MAX 1024

typedef struct PoplarBackendConn {
  int fd;
  gnutls_session_t tls; /* NULL: plain */
  unsigned timeout_ms;  /* for each step */
  /* Octets read past the last line (a pipelining backend). */
  char in[POPLAR_BACKEND_LINE_MAX];
  size_t in_len;
  char *address; /* "host:port", for logs */
} PoplarBackendConn;

/* Resolves @host, connects to @port within @timeout_ms (each address in
 * turn).  NULL with *@error on failure. */
PoplarBackendConn *poplard_backend_connect(const char *host, const char *port,
                                           unsigned timeout_ms, char **error);
/* Writes all of @data. */
bool poplard_backend_send(PoplarBackendConn *b, const void *data, size_t len,
                          char **error);
/* Reads one line (CRLF or LF stripped) into @line, at most @size - 1
 * octets. */
bool poplard_backend_read_line(PoplarBackendConn *b, char *line, size_t size,
                               char **error);
/* TLS as a client: verifies the backend's certificate against @cred and
 * the name @host. */
bool poplard_backend_start_tls(PoplarBackendConn *b,
                               gnutls_certificate_credentials_t cred,
                               const char *host, char **error);
/* Makes the socket non-blocking for the relay. */
bool poplard_backend_set_nonblocking(PoplarBackendConn *b, char **error);
/* Closes and frees (NULL is fine). */
void poplard_backend_conn_free(PoplarBackendConn *b);

#endif
