/* SPDX-License-Identifier: MIT */
/*
 * One PAM transaction per login: pam_start, pam_authenticate,
 * pam_acct_mgmt, optionally pam_setcred, pam_end.  Each call may block for
 * as long as the stack takes (a network directory, a fail delay), which is
 * why the core runs passdb callbacks on its plugin threads.
 *
 * What a step's PAM code means depends on whether the password has been
 * proved yet: before that, every refusal reads alike, so that the stack's
 * answer tells nothing about which accounts exist; after it, the client is
 * told why (expired, locked), as the user can do something about it.
 */
#include "auth-pam.h"

#include <string.h>

const char *auth_pam_step_name(PamStep step)
{
  switch (step) {
  case PAM_STEP_START:
    return "pam_start";
  case PAM_STEP_AUTHENTICATE:
    return "pam_authenticate";
  case PAM_STEP_ACCOUNT:
    return "pam_acct_mgmt";
  case PAM_STEP_SETCRED:
    return "pam_setcred";
  }
  return "pam";
}

/* Texts the client sees after -ERR [code]. */
#define REASON_ACCOUNT_EXPIRED "Account expired"
#define REASON_PASSWORD_EXPIRED                                               \
  "Password expired: change it before logging in"
#define REASON_ACCOUNT_REFUSED "Account locked or not allowed to log in"
#define REASON_CRED_EXPIRED "Credentials expired"

static PoplarPassdbResult map_authenticate(int code)
{
  switch (code) {
  case PAM_SUCCESS:
    return POPLAR_PASSDB_OK;
  case PAM_USER_UNKNOWN:
    return POPLAR_PASSDB_NO_SUCH_USER;
  case PAM_AUTH_ERR:
  case PAM_CRED_INSUFFICIENT:
  case PAM_MAXTRIES:
  case PAM_PERM_DENIED:
  case PAM_ACCT_EXPIRED:
  case PAM_NEW_AUTHTOK_REQD:
  case PAM_AUTHTOK_ERR:
  /* A question this login cannot answer (a one-time code): it will never
   * succeed, and retrying later would not help. */
  case PAM_CONV_ERR:
    return POPLAR_PASSDB_DENIED;
  default:
    /* PAM_AUTHINFO_UNAVAIL, PAM_SYSTEM_ERR, PAM_BUF_ERR, PAM_ABORT,
     * PAM_SERVICE_ERR, PAM_OPEN_ERR, PAM_SYMBOL_ERR, PAM_TRY_AGAIN...:
     * the stack could not decide. */
    return POPLAR_PASSDB_TEMPFAIL;
  }
}

static PoplarPassdbResult map_account(int code, const char **reason_code,
                                      const char **reason_text)
{
  switch (code) {
  case PAM_SUCCESS:
    return POPLAR_PASSDB_OK;
  case PAM_ACCT_EXPIRED:
    *reason_code = "SYS/PERM";
    *reason_text = REASON_ACCOUNT_EXPIRED;
    return POPLAR_PASSDB_DENIED;
  case PAM_NEW_AUTHTOK_REQD:
    *reason_code = "AUTH";
    *reason_text = REASON_PASSWORD_EXPIRED;
    return POPLAR_PASSDB_DENIED;
  case PAM_PERM_DENIED:
  case PAM_AUTH_ERR:
    *reason_code = "SYS/PERM";
    *reason_text = REASON_ACCOUNT_REFUSED;
    return POPLAR_PASSDB_DENIED;
  case PAM_USER_UNKNOWN:
    /* Authenticated, yet unknown to the account modules: a stack that
     * does not hang together.  Refused, and final: another database must
     * not answer for a name PAM has just authenticated. */
    return POPLAR_PASSDB_DENIED;
  default:
    return POPLAR_PASSDB_TEMPFAIL;
  }
}

static PoplarPassdbResult map_setcred(int code, const char **reason_code,
                                      const char **reason_text)
{
  switch (code) {
  case PAM_SUCCESS:
    return POPLAR_PASSDB_OK;
  case PAM_CRED_EXPIRED:
    *reason_code = "SYS/PERM";
    *reason_text = REASON_CRED_EXPIRED;
    return POPLAR_PASSDB_DENIED;
  case PAM_USER_UNKNOWN:
    return POPLAR_PASSDB_DENIED;
  default:
    /* PAM_CRED_UNAVAIL, PAM_CRED_ERR, PAM_SYSTEM_ERR... */
    return POPLAR_PASSDB_TEMPFAIL;
  }
}

PoplarPassdbResult auth_pam_map_code(PamStep step, int code,
                                     const char **reason_code,
                                     const char **reason_text)
{
  *reason_code = NULL;
  *reason_text = NULL;
  switch (step) {
  case PAM_STEP_START:
    return code == PAM_SUCCESS ? POPLAR_PASSDB_OK : POPLAR_PASSDB_TEMPFAIL;
  case PAM_STEP_AUTHENTICATE:
    return map_authenticate(code);
  case PAM_STEP_ACCOUNT:
    return map_account(code, reason_code, reason_text);
  case PAM_STEP_SETCRED:
    return map_setcred(code, reason_code, reason_text);
  }
  return POPLAR_PASSDB_TEMPFAIL;
}

/* Linux-PAM sleeps on a failed authentication when a module asks for it
 * (pam_unix's 2 s), on the plugin thread.  The server has its own
 * auth-failure-delay, applied without holding a thread, so PAM's is
 * replaced by nothing. */
static void no_fail_delay(int retval, unsigned usec_delay, void *appdata)
{
  (void)retval;
  (void)usec_delay;
  (void)appdata;
}

static void set_items(const PamSettings *s, PoplarSession *session,
                      pam_handle_t *h)
{
  void (*delay)(int, unsigned, void *) = no_fail_delay;
  /* Casting a function pointer to void * is how this item is passed. */
  int rc = pam_set_item(h, PAM_FAIL_DELAY, (const void *)delay);
  if (rc != PAM_SUCCESS)
    poplar_log(s->plugin, POPLAR_LOG_DEBUG, "PAM_FAIL_DELAY not set: %s",
               pam_strerror(h, rc));
  const char *rhost =
      session ? poplar_session_remote_address(session) : NULL;
  /* pam_access, pam_faillock and the logs of most modules read it. */
  if (rhost && rhost[0]) {
    rc = pam_set_item(h, PAM_RHOST, rhost);
    if (rc != PAM_SUCCESS)
      poplar_log(s->plugin, POPLAR_LOG_WARNING, "PAM_RHOST not set: %s",
                 pam_strerror(h, rc));
  }
}

/* Records the step's verdict in @out; true when the login may go on. */
static bool step_done(pam_handle_t *h, PamStep step, int code,
                      PamOutcome *out)
{
  out->step = step;
  out->pam_code = code;
  out->result =
      auth_pam_map_code(step, code, &out->reason_code, &out->reason_text);
  if (out->result != POPLAR_PASSDB_OK) {
    g_free(out->error);
    out->error = g_strdup(pam_strerror(h, code));
    return false;
  }
  return true;
}

void auth_pam_check(const PamSettings *s, PoplarSession *session,
                    const char *user, const char *password, PamOutcome *out)
{
  memset(out, 0, sizeof *out);
  PamConvData cd = {
      .plugin = s->plugin,
      .session = session,
      .user = user,
      .password = password,
  };
  const struct pam_conv conv = {auth_pam_conversation, &cd};
  pam_handle_t *h = NULL;

  int rc = pam_start(s->service, user, &conv, &h);
  if (!step_done(h, PAM_STEP_START, rc, out)) {
    /* pam_start() may have left a handle behind on failure. */
    if (h)
      pam_end(h, rc);
    return;
  }
  set_items(s, session, h);

  /* Never PAM_SILENT: what modules say is logged.  An account without a
   * password is never a way in. */
  const int flags = PAM_DISALLOW_NULL_AUTHTOK;
  rc = pam_authenticate(h, flags);
  if (step_done(h, PAM_STEP_AUTHENTICATE, rc, out)) {
    rc = pam_acct_mgmt(h, flags);
    if (step_done(h, PAM_STEP_ACCOUNT, rc, out) && s->setcred) {
      rc = pam_setcred(h, PAM_ESTABLISH_CRED);
      step_done(h, PAM_STEP_SETCRED, rc, out);
    }
  }
  if (out->result == POPLAR_PASSDB_OK) {
    /* A module may have changed the name (case, a realm): that is the
     * account that logs in. */
    const void *item = NULL;
    if (pam_get_item(h, PAM_USER, &item) == PAM_SUCCESS && item)
      out->user = g_strdup(item);
  }
  pam_end(h, rc);
}

int auth_pam_warm_up(const PamSettings *s, char **error)
{
  PamConvData cd = {.plugin = s->plugin};
  const struct pam_conv conv = {auth_pam_conversation, &cd};
  pam_handle_t *h = NULL;
  int rc = pam_start(s->service, NULL, &conv, &h);
  if (rc != PAM_SUCCESS)
    *error = g_strdup(pam_strerror(h, rc));
  if (h)
    pam_end(h, rc);
  return rc;
}

void auth_pam_outcome_clear(PamOutcome *out)
{
  g_clear_pointer(&out->user, g_free);
  g_clear_pointer(&out->error, g_free);
}
