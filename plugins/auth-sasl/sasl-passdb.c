/* SPDX-License-Identifier: MIT */
/*
 * USER/PASS, and the core's own PLAIN and LOGIN when the configuration
 * leaves libsasl2's out, checked with sasl_checkpass(): against the
 * sasldb's userPassword, or by saslauthd.  libsasl2 keeps no plaintext it
 * would hand out, so APOP is not offered.  Master logins look the target
 * up in the sasldb.
 */
#include "auth-sasl.h"

#include <limits.h>
#include <string.h>

/* Longer names and passwords are refused without asking the library. */
#define AUTH_SASL_USER_MAX 256
#define AUTH_SASL_PASSWORD_MAX 1024

/* The request's user name is one libsasl2 may be asked about; *@shown
 * gets its loggable form (NULL for an empty name). */
static bool acceptable_user_name(const SaslSettings *s, PoplarSession *session,
                                 const char *user, char **shown)
{
  if (!user || !user[0])
    return false;
  *shown = auth_sasl_loggable(user, SIZE_MAX);
  if (strlen(user) > AUTH_SASL_USER_MAX) {
    poplar_session_log(session, s->plugin, POPLAR_LOG_INFO,
                       "user name '%s' longer than %d octets refused", *shown,
                       AUTH_SASL_USER_MAX);
    return false;
  }
  return true;
}

/* A server connection for one check, or NULL (logged). */
static SaslConn *open_conn(const SaslSettings *s, PoplarSession *session)
{
  char *error = NULL;
  SaslConn *conn = auth_sasl_conn_new(s, session, &error);
  if (!conn) {
    poplar_session_log(session, s->plugin, POPLAR_LOG_ERROR, "%s", error);
    g_free(error);
  }
  return conn;
}

/* The account libsasl2 settled on (its canonical name), else @user. */
static void apply_conn_account(const SaslSettings *s, PoplarAuthRequest *req,
                               SaslConn *conn, const char *user)
{
  g_autofree char *account = auth_sasl_conn_account(conn);
  auth_sasl_apply_account(s, req, account ? account : user);
}

static PoplarPassdbResult sasl_verify_plain(void *data, PoplarAuthRequest *req,
                                            const char *password)
{
  const SaslSettings *s = data;
  PoplarSession *session = poplar_auth_request_session(req);
  const char *user = poplar_auth_request_user(req);
  g_autofree char *shown = NULL;
  if (!acceptable_user_name(s, session, user, &shown))
    return POPLAR_PASSDB_NO_SUCH_USER;
  size_t user_len = strlen(user);
  size_t password_len = strlen(password);
  /* An empty password makes sasl_checkpass() ask only whether the user
   * exists. */
  if (password_len == 0 || password_len > AUTH_SASL_PASSWORD_MAX) {
    poplar_session_log(session, s->plugin, POPLAR_LOG_INFO,
                       "user '%s': %s password refused", shown,
                       password_len ? "overlong" : "empty");
    return POPLAR_PASSDB_DENIED;
  }

  SaslConn *conn = open_conn(s, session);
  if (!conn)
    return POPLAR_PASSDB_TEMPFAIL;
  int r = sasl_checkpass(conn->conn, user, (unsigned)user_len, password,
                         (unsigned)password_len);
  PoplarPassdbResult result = auth_sasl_passdb_result(r);
  g_autofree char *detail =
      auth_sasl_loggable(auth_sasl_conn_error(conn), SIZE_MAX);
  switch (result) {
  case POPLAR_PASSDB_OK:
    apply_conn_account(s, req, conn, user);
    break;
  case POPLAR_PASSDB_NO_SUCH_USER:
    poplar_session_log(session, s->plugin, POPLAR_LOG_INFO,
                       "unknown user '%s' (%s)", shown, detail);
    break;
  case POPLAR_PASSDB_DENIED:
    poplar_session_log(session, s->plugin, POPLAR_LOG_INFO,
                       "user '%s': password check failed (%s)", shown,
                       detail);
    break;
  case POPLAR_PASSDB_TEMPFAIL:
    poplar_session_log(session, s->plugin, POPLAR_LOG_ERROR,
                       "user '%s': libsasl2 could not check the password "
                       "(%s)",
                       shown, detail);
    break;
  }
  auth_sasl_conn_free(conn);
  return result;
}

/* A master user's login as this user: sasl_user_exists(), which asks the
 * sasldb (auxprop) for the user's userPassword.  saslauthd has no way to
 * answer: libsasl2 then says every name exists, so with saslauthd there
 * are no targets. */
static PoplarPassdbResult sasl_lookup_user(void *data, PoplarAuthRequest *req)
{
  const SaslSettings *s = data;
  PoplarSession *session = poplar_auth_request_session(req);
  const char *user = poplar_auth_request_user(req);
  g_autofree char *shown = NULL;
  if (!acceptable_user_name(s, session, user, &shown))
    return POPLAR_PASSDB_NO_SUCH_USER;
  if (s->pwcheck != SASL_PWCHECK_AUXPROP) {
    poplar_session_log(session, s->plugin, POPLAR_LOG_INFO,
                       "user '%s': no master login with pwcheck = "
                       "saslauthd (it cannot tell whether a user exists)",
                       shown);
    return POPLAR_PASSDB_NO_SUCH_USER;
  }

  SaslConn *conn = open_conn(s, session);
  if (!conn)
    return POPLAR_PASSDB_TEMPFAIL;
  int r = sasl_user_exists(conn->conn, NULL, s->realm, user);
  PoplarPassdbResult result = auth_sasl_passdb_result(r);
  g_autofree char *detail =
      auth_sasl_loggable(auth_sasl_conn_error(conn), SIZE_MAX);
  switch (result) {
  case POPLAR_PASSDB_OK:
    apply_conn_account(s, req, conn, user);
    break;
  case POPLAR_PASSDB_NO_SUCH_USER:
    poplar_session_log(session, s->plugin, POPLAR_LOG_INFO,
                       "unknown user '%s' for a master login (%s)", shown,
                       detail);
    break;
  case POPLAR_PASSDB_DENIED:
    poplar_session_log(session, s->plugin, POPLAR_LOG_INFO,
                       "user '%s': the account may not log in, master login "
                       "refused (%s)", shown, detail);
    break;
  case POPLAR_PASSDB_TEMPFAIL:
    poplar_session_log(session, s->plugin, POPLAR_LOG_ERROR,
                       "user '%s': libsasl2 could not look the user up (%s)",
                       shown, detail);
    break;
  }
  auth_sasl_conn_free(conn);
  return result;
}

const PoplarPassdbOps auth_sasl_passdb_ops = {
    .verify_plain = sasl_verify_plain,
    .lookup_secret = NULL,
    .destroy = NULL, /* the settings belong to the plugin (fini) */
    .lookup_user = sasl_lookup_user,
};
