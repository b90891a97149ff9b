/* SPDX-License-Identifier: MIT */
#include "login.h"

#include <string.h>

#include "hooks.h"
#include "mailbox-open.h"
#include "session-handoff.h"

static bool passdb_result_valid(PoplarPassdbResult r)
{
  return r == POPLAR_PASSDB_OK || r == POPLAR_PASSDB_DENIED ||
         r == POPLAR_PASSDB_NO_SUCH_USER || r == POPLAR_PASSDB_TEMPFAIL;
}

/* A database that does not know the user passes to the next; any other
 * answer is final, so a TEMPFAIL never lets a later database authenticate
 * a different account of the same name. */
static PoplarPassdbResult chain(const PoplarRegistry *registry,
                                PoplarAuthRequest *req, const char *password)
{
  for (guint i = 0; i < registry->passdbs->len; i++) {
    const PoplarPassdbEntry *db = g_ptr_array_index(registry->passdbs, i);
    PoplarPassdbResult r;
    if (password) {
      if (!db->ops.verify_plain)
        continue;
      r = db->ops.verify_plain(db->data, req, password);
    } else {
      if (!db->ops.lookup_secret)
        continue;
      r = db->ops.lookup_secret(db->data, req);
    }
    if (!passdb_result_valid(r)) {
      poplarpriv_log(req->session->id, POPLAR_LOG_ERROR,
                     "passdb %s returned invalid result %d: treated as "
                     "tempfail", db->name, (int)r);
      return POPLAR_PASSDB_TEMPFAIL;
    }
    if (r == POPLAR_PASSDB_OK && !password && !req->secret) {
      poplarpriv_log(req->session->id, POPLAR_LOG_ERROR,
                     "passdb %s answered OK without a secret: treated as "
                     "tempfail", db->name);
      return POPLAR_PASSDB_TEMPFAIL;
    }
    if (r != POPLAR_PASSDB_NO_SUCH_USER) {
      if (poplarpriv_log_enabled(POPLAR_LOG_DEBUG))
        poplarpriv_log(req->session->id, POPLAR_LOG_DEBUG, "passdb %s: %s",
                       db->name, r == POPLAR_PASSDB_OK ? "ok"
                                 : r == POPLAR_PASSDB_DENIED ? "denied"
                                                            : "tempfail");
      return r;
    }
  }
  return POPLAR_PASSDB_NO_SUCH_USER;
}

PoplarPassdbResult poplard_auth_verify_plain(const PoplarRegistry *registry,
                                            PoplarAuthRequest *req,
                                            const char *password)
{
  return chain(registry, req, password);
}

PoplarPassdbResult poplard_auth_lookup_secret(const PoplarRegistry *registry,
                                             PoplarAuthRequest *req)
{
  return chain(registry, req, NULL);
}

bool poplard_auth_can_supply_secrets(const PoplarRegistry *registry)
{
  for (guint i = 0; i < registry->passdbs->len; i++) {
    const PoplarPassdbEntry *db = g_ptr_array_index(registry->passdbs, i);
    if (db->ops.lookup_secret)
      return true;
  }
  return false;
}

static PoplarLoginResult refused_by_hook(PoplarClient *c, PoplarVerdict v,
                                         char *reply)
{
  g_free(c->job_reply);
  c->job_reply = reply;
  return v == POPLAR_DISCONNECT ? POPLAR_LOGIN_DISCONNECT
                                : POPLAR_LOGIN_REFUSED;
}

static void set_failure_reply(PoplarClient *c, PoplarPassdbResult r)
{
  PoplarAuthRequest *req = c->auth;
  g_free(c->job_reply);
  if (r == POPLAR_PASSDB_TEMPFAIL)
    c->job_reply = g_strdup(
        "-ERR [SYS/TEMP] Authentication temporarily unavailable");
  else if (req->reason_text)
    c->job_reply = g_strdup_printf("-ERR [%s] %s",
                                   req->reason_code ? req->reason_code
                                                    : "AUTH",
                                   req->reason_text);
  else
    c->job_reply = g_strdup("-ERR [AUTH] Authentication failed");
}

PoplarLoginResult poplard_auth_login(PoplarClient *c,
                                    PoplarCredentialCheck check)
{
  const PoplarRegistry *registry = c->server->registry;
  PoplarAuthRequest *req = c->auth;
  PoplarHookArgs args = {.req = req};
  char *reply = NULL;

  PoplarVerdict v = poplard_hooks_run(registry, &c->session,
                                     POPLAR_HOOK_AUTH_BEFORE, &args, &reply);
  if (v != POPLAR_CONTINUE)
    return refused_by_hook(c, v, reply);

  PoplarPassdbResult r = check(c, req);
  args.outcome = r == POPLAR_PASSDB_OK        ? POPLAR_AUTH_SUCCEEDED
                 : r == POPLAR_PASSDB_TEMPFAIL ? POPLAR_AUTH_TEMPFAILED
                                               : POPLAR_AUTH_FAILED;
  v = poplard_hooks_run(registry, &c->session, POPLAR_HOOK_AUTH_AFTER, &args,
                       &reply);
  if (r != POPLAR_PASSDB_OK) {
    g_free(reply);
    poplarpriv_log(c->session.id, POPLAR_LOG_INFO,
                   "login failed: user=%s mech=%s (%s)",
                   req->user ? req->user : "-",
                   req->mechanism,
                   r == POPLAR_PASSDB_TEMPFAIL   ? "temporary failure"
                   : r == POPLAR_PASSDB_DENIED    ? "wrong credentials"
                                                  : "unknown user");
    set_failure_reply(c, r);
    return r == POPLAR_PASSDB_TEMPFAIL ? POPLAR_LOGIN_REFUSED
                                       : POPLAR_LOGIN_FAILED;
  }
  if (v != POPLAR_CONTINUE)
    return refused_by_hook(c, v, reply);

  poplarpriv_session_set_user(&c->session, req->user);
  switch (poplard_uid_route(c)) {
  case POPLAR_UID_HANDOFF:
    return POPLAR_LOGIN_HANDOFF;
  case POPLAR_UID_REFUSED:
    return POPLAR_LOGIN_REFUSED;
  case POPLAR_UID_HERE:
    break;
  }
  PoplarLoginResult res = poplard_mailbox_open_for_login(c);
  if (res == POPLAR_LOGIN_OK)
    poplarpriv_log(c->session.id, POPLAR_LOG_INFO,
                   "login: user=%s mech=%s, %zu messages", req->user,
                   req->mechanism, c->session.mailbox->n_visible);
  return res;
}
