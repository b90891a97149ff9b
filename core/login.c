/* SPDX-License-Identifier: MIT */
#include "login.h"

#include <string.h>

#include "backend-proxy.h"
#include "hooks.h"
#include "mailbox-open.h"
#include "session-handoff.h"
#include "stats-points.h"

/* A database that does not know the user passes to the next; any other
 * answer is final, so a TEMPFAIL never lets a later database authenticate
 * a different account of the same name.  The answers come checked
 * (libpoplar/passdb-call.c). */
static PoplarPassdbResult chain(const PoplarRegistry *registry,
                                PoplarAuthRequest *req, const char *password)
{
  for (guint i = 0; i < registry->passdbs->len; i++) {
    const PoplarPassdbEntry *db = g_ptr_array_index(registry->passdbs, i);
    if (db->master)
      continue; /* master users are no accounts of their own */
    int64_t started = g_get_monotonic_time();
    PoplarPassdbResult r =
        password ? poplarpriv_passdb_verify_plain(db, req, password)
                 : poplarpriv_passdb_lookup_secret(db, req);
    poplard_stats_plugin_call(
        db->plugin->name, password ? "passdb_verify" : "passdb_lookup",
        (double)(g_get_monotonic_time() - started) / 1e6);
    if (r != POPLAR_PASSDB_NO_SUCH_USER)
      return r;
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
  g_free(c->job.reply);
  c->job.reply = reply;
  return v == POPLAR_DISCONNECT ? POPLAR_LOGIN_DISCONNECT
                                : POPLAR_LOGIN_REFUSED;
}

static void set_failure_reply(PoplarClient *c, PoplarPassdbResult r)
{
  PoplarAuthRequest *req = c->login.req;
  g_free(c->job.reply);
  if (r == POPLAR_PASSDB_TEMPFAIL)
    c->job.reply = g_strdup(
        "-ERR [SYS/TEMP] Authentication temporarily unavailable");
  else if (req->reason_text)
    c->job.reply = g_strdup_printf("-ERR [%s] %s",
                                   req->reason_code ? req->reason_code
                                                    : "AUTH",
                                   req->reason_text);
  else
    c->job.reply = g_strdup("-ERR [AUTH] Authentication failed");
}

/* A location from the password database, else [server] mail; neither is
 * the site's mistake, not the user's. */
static bool mail_location_known(PoplarClient *c)
{
  PoplarAuthRequest *req = c->login.req;
  if (req->mail || c->server->cfg.mail)
    return true;
  poplarpriv_log(c->session.id, POPLAR_LOG_ERROR,
                 "no mail location is configured for %s: the password "
                 "database gave none and [server] mail is not set",
                 req->user);
  g_free(c->job.reply);
  c->job.reply = g_strdup("-ERR [SYS/PERM] No mailbox is configured for "
                          "this user");
  return false;
}

PoplarLoginResult poplard_auth_login(PoplarClient *c,
                                    PoplarCredentialCheck check)
{
  const PoplarRegistry *registry = c->server->registry;
  PoplarAuthRequest *req = c->login.req;
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
    poplard_stats_login(req->mechanism,
                        r == POPLAR_PASSDB_TEMPFAIL   ? "tempfail"
                        : r == POPLAR_PASSDB_DENIED    ? "failure"
                                                       : "unknown_user");
    return r == POPLAR_PASSDB_TEMPFAIL ? POPLAR_LOGIN_REFUSED
                                       : POPLAR_LOGIN_FAILED;
  }
  if (v != POPLAR_CONTINUE)
    return refused_by_hook(c, v, reply);

  poplarpriv_session_set_user(&c->session, req->user);
  /* A routed user's mail is on the backend: nothing is opened here. */
  if (poplard_backend_routed(req))
    return poplard_backend_proxy_login(c);
  if (!mail_location_known(c))
    return POPLAR_LOGIN_REFUSED;
  switch (poplard_uid_route(c)) {
  case POPLAR_UID_HANDOFF:
    /* The mailbox opens in the user's process; an [IN-USE] there counts
     * there. */
    poplard_stats_login(req->mechanism, "success");
    return POPLAR_LOGIN_HANDOFF;
  case POPLAR_UID_REFUSED:
    poplard_stats_login(req->mechanism, "refused");
    return POPLAR_LOGIN_REFUSED;
  case POPLAR_UID_HERE:
    break;
  }
  PoplarLoginResult res = poplard_mailbox_open_for_login(c);
  poplard_stats_login(req->mechanism,
                      res == POPLAR_LOGIN_OK ? "success" : "refused");
  if (res == POPLAR_LOGIN_OK)
    poplarpriv_log(c->session.id, POPLAR_LOG_INFO,
                   "login: user=%s mech=%s, %zu messages", req->user,
                   req->mechanism, c->session.mailbox->n_visible);
  return res;
}
