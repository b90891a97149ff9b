/* SPDX-License-Identifier: MIT */
/*
 * Logging in to a POP3 backend for a routed user: where it is and how to
 * reach it come from the password database's fields, the dialogue is
 * plain RFC 1939/2595/5034 so the backend may be any POP3 server.
 */
#ifndef POPLAR_BACKEND_LOGIN_H
#define POPLAR_BACKEND_LOGIN_H

#include <glib.h>
#include <gnutls/gnutls.h>
#include <stdbool.h>

#include "backend-conn.h"

typedef enum PoplarBackendTlsMode {
  POPLAR_BACKEND_TLS_NO,
  POPLAR_BACKEND_TLS_STARTTLS,
  POPLAR_BACKEND_TLS_IMPLICIT,
} PoplarBackendTlsMode;

/* The routing fields of one user (all strings borrowed from the
 * request). */
typedef struct PoplarBackendRoute {
  char *host;         /* owned: split from the proxy field */
  char *port;         /* owned */
  PoplarBackendTlsMode tls;
  bool proxy_v2;      /* send a PROXY v2 header first */
  const char *user;   /* the name at the backend */
  const char *master; /* log in as this master user for @user, or NULL */
  const char *master_password;
} PoplarBackendRoute;

/* Reads the route from @fields (proxy, proxy-tls, proxy-v2, proxy-user,
 * proxy-master, proxy-password); @user is the default backend name.
 * False with *@error when a field is malformed. */
bool poplard_backend_route_parse(PoplarBackendRoute *route,
                                 GHashTable *fields, const char *user,
                                 char **error);
void poplard_backend_route_clear(PoplarBackendRoute *route);

typedef enum PoplarBackendLoginResult {
  POPLAR_BACKEND_LOGGED_IN,
  POPLAR_BACKEND_REJECTED,    /* the backend refused the credentials */
  POPLAR_BACKEND_UNAVAILABLE, /* refused, unreachable, timed out, broken */
} PoplarBackendLoginResult;

typedef struct PoplarBackendLoginParams {
  const PoplarBackendRoute *route;
  const char *password;        /* the client's, when no master login */
  gnutls_certificate_credentials_t cred; /* for TLS to the backend */
  unsigned timeout_ms;
  /* For the PROXY v2 header: the client and the address it reached. */
  const char *client_address;
  unsigned client_port;
  const char *local_address;
  unsigned local_port;
} PoplarBackendLoginParams;

/* Connects and logs in.  On LOGGED_IN, *@out is the connection and
 * *@reply the backend's +OK line; on REJECTED, *@reply is its -ERR line;
 * on UNAVAILABLE, *@error says why.  Blocking, bounded by the timeout. */
PoplarBackendLoginResult
poplard_backend_login_run(const PoplarBackendLoginParams *p,
                          PoplarBackendConn **out, char **reply,
                          char **error);

#endif
