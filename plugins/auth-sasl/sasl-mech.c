/* SPDX-License-Identifier: MIT */
/*
 * A libsasl2 server mechanism as the core drives it: start makes a
 * connection context for the exchange, each step hands the client's
 * message to sasl_server_start() (the first) or sasl_server_step(), and
 * finish disposes of the context.  The core runs these on its plugin
 * threads, one call at a time for an exchange.
 */
#include "auth-sasl.h"

#include <limits.h>
#include <string.h>

typedef struct SaslExchange {
  SaslConn *conn;
  bool begun;        /* sasl_server_start() was called */
  unsigned messages; /* client messages with content so far */
  bool mock;         /* a SCRAM exchange for an unknown user */
  char *mock_out;    /* its server-first message */
} SaslExchange;

SaslMech *auth_sasl_mech_new(const SaslSettings *s, const char *name)
{
  SaslMech *m = g_new0(SaslMech, 1);
  m->settings = s;
  m->name = g_strdup(name);
  m->scram = g_str_has_prefix(name, "SCRAM-");
  return m;
}

static bool mech_start(void *data, PoplarAuthRequest *req, void **state)
{
  const SaslMech *m = data;
  PoplarSession *session = poplar_auth_request_session(req);
  char *error = NULL;
  SaslConn *conn = auth_sasl_conn_new(m->settings, session, &error);
  if (!conn) {
    poplar_session_log(session, m->settings->plugin, POPLAR_LOG_ERROR,
                       "%s: %s", m->name, error);
    g_free(error);
    return false;
  }
  SaslExchange *x = g_new0(SaslExchange, 1);
  x->conn = conn;
  *state = x;
  return true;
}

/* A failed login is logged and throttled under the name the client
 * tried, when libsasl2 got as far as reading it. */
static void name_the_user(const SaslExchange *x, PoplarAuthRequest *req)
{
  const void *value = NULL;
  if (poplar_auth_request_user(req))
    return;
  if (sasl_getprop(x->conn->conn, SASL_AUTHUSER, &value) == SASL_OK &&
      value && ((const char *)value)[0])
    poplar_auth_request_set_user(req, value);
}

static void log_failure(const SaslMech *m, const SaslExchange *x,
                        PoplarAuthRequest *req, PoplarSaslStatus status)
{
  PoplarSession *session = poplar_auth_request_session(req);
  g_autofree char *detail =
      auth_sasl_loggable(auth_sasl_conn_error(x->conn), SIZE_MAX);
  switch (status) {
  case POPLAR_SASL_TEMPFAIL:
    poplar_session_log(session, m->settings->plugin, POPLAR_LOG_ERROR,
                       "%s: libsasl2 could not decide: %s", m->name, detail);
    break;
  case POPLAR_SASL_MALFORMED:
    poplar_session_log(session, m->settings->plugin, POPLAR_LOG_INFO,
                       "%s: malformed client message: %s", m->name, detail);
    break;
  default:
    poplar_session_log(session, m->settings->plugin, POPLAR_LOG_INFO,
                       "%s: authentication failed: %s", m->name, detail);
    break;
  }
}

/* The client's first SCRAM message named a user libsasl2 does not know:
 * answer as if it did. */
static PoplarSaslStatus mock_first(const SaslMech *m, SaslExchange *x,
                                   PoplarAuthRequest *req,
                                   const unsigned char *in, size_t in_len,
                                   const unsigned char **out, size_t *out_len)
{
  size_t len = 0;
  g_autofree char *user = NULL;
  x->mock_out = auth_sasl_scram_mock_first(in, in_len, &len, &user);
  if (!x->mock_out) {
    poplar_session_log(poplar_auth_request_session(req),
                       m->settings->plugin, POPLAR_LOG_INFO,
                       "%s: malformed client-first message", m->name);
    return POPLAR_SASL_MALFORMED;
  }
  x->mock = true;
  if (user[0])
    poplar_auth_request_set_user(req, user);
  poplar_session_log(poplar_auth_request_session(req), m->settings->plugin,
                     POPLAR_LOG_DEBUG,
                     "%s: unknown user: the exchange goes on as for a "
                     "wrong password",
                     m->name);
  *out = (const unsigned char *)x->mock_out;
  *out_len = len;
  return POPLAR_SASL_CONTINUE;
}

static PoplarSaslStatus mech_step(void *data, void *state,
                                  PoplarAuthRequest *req,
                                  const unsigned char *in, size_t in_len,
                                  const unsigned char **out, size_t *out_len)
{
  const SaslMech *m = data;
  SaslExchange *x = state;
  *out = NULL;
  *out_len = 0;
  if (x->mock) {
    poplar_session_log(poplar_auth_request_session(req), m->settings->plugin,
                       POPLAR_LOG_INFO,
                       "%s: authentication failed: unknown user", m->name);
    return POPLAR_SASL_DENIED;
  }
  if (in_len > UINT_MAX)
    return POPLAR_SASL_MALFORMED;
  if (in && in_len)
    x->messages++;

  const char *sout = NULL;
  unsigned sout_len = 0;
  int r;
  if (!x->begun) {
    x->begun = true;
    /* NULL: no initial response, so a client-first mechanism sends an
     * empty challenge; "" with length 0 is an empty one. */
    r = sasl_server_start(x->conn->conn, m->name,
                          in ? (const char *)in : NULL, (unsigned)in_len,
                          &sout, &sout_len);
  } else {
    r = sasl_server_step(x->conn->conn, in ? (const char *)in : "",
                         (unsigned)in_len, &sout, &sout_len);
  }
  if (r == SASL_NOUSER && m->scram && x->messages == 1)
    return mock_first(m, x, req, in, in_len, out, out_len);

  PoplarSaslStatus status = auth_sasl_exchange_status(r);
  if (status == POPLAR_SASL_OK) {
    g_autofree char *account = auth_sasl_conn_account(x->conn);
    if (!account) {
      poplar_session_log(poplar_auth_request_session(req),
                         m->settings->plugin, POPLAR_LOG_ERROR,
                         "%s: libsasl2 reported success without a user name",
                         m->name);
      return POPLAR_SASL_TEMPFAIL;
    }
    auth_sasl_apply_account(m->settings, req, account);
  } else if (status != POPLAR_SASL_CONTINUE) {
    name_the_user(x, req);
    log_failure(m, x, req, status);
    return status;
  }
  /* A challenge, or data that comes with success. */
  *out = (const unsigned char *)sout;
  *out_len = sout ? sout_len : 0;
  return status;
}

static void mech_finish(void *data, void *state)
{
  SaslExchange *x = state;
  (void)data;
  if (!x)
    return;
  auth_sasl_conn_free(x->conn);
  g_free(x->mock_out);
  g_free(x);
}

static void mech_destroy(void *data)
{
  SaslMech *m = data;
  if (!m)
    return;
  g_free(m->name);
  g_free(m);
}

const PoplarSaslMechOps auth_sasl_mech_ops = {
    .start = mech_start,
    .step = mech_step,
    .finish = mech_finish,
    .destroy = mech_destroy,
};
