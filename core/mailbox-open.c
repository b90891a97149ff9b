/* SPDX-License-Identifier: MIT */
#include "mailbox-open.h"
#include "stats-points.h"

#include <string.h>

#include "hooks.h"
#include "location.h"
#include "mailbox-policy.h"

static PoplarLoginResult fail(PoplarClient *c, const char *reply)
{
  g_free(c->job.reply);
  c->job.reply = g_strdup(reply);
  return POPLAR_LOGIN_REFUSED;
}

static const char *store_failure_reply(PoplarStoreResult r)
{
  switch (r) {
  case POPLAR_STORE_IN_USE:
    return "-ERR [IN-USE] Mailbox is locked by another session";
  case POPLAR_STORE_PERMFAIL:
    return "-ERR [SYS/PERM] Mailbox cannot be opened";
  default:
    return "-ERR [SYS/TEMP] Mailbox temporarily unavailable";
  }
}

PoplarLoginResult poplard_mailbox_open_for_login(PoplarClient *c)
{
  PoplarServer *server = c->server;
  PoplarAuthRequest *req = c->login.req;
  const char *tmpl = req->mail ? req->mail : server->cfg.mail;
  g_autofree char *why = NULL;
  g_autofree char *location =
      poplard_location_expand(tmpl, req->user, req->home, &why);
  if (!location) {
    poplarpriv_log(c->session.id, POPLAR_LOG_ERROR,
                   "mail location '%s' for %s: %s", tmpl, req->user, why);
    return fail(c, "-ERR [SYS/PERM] Mailbox location is misconfigured");
  }
  char *colon = strchr(location, ':');
  if (!colon) {
    poplarpriv_log(c->session.id, POPLAR_LOG_ERROR,
                   "mail location '%s' for %s has no scheme (maildir:...)",
                   location, req->user);
    return fail(c, "-ERR [SYS/PERM] Mailbox location is misconfigured");
  }
  *colon = '\0';
  const PoplarStoreEntry *store =
      poplarpriv_registry_store(server->registry, location);
  if (!store) {
    poplarpriv_log(c->session.id, POPLAR_LOG_ERROR,
                   "no store for scheme '%s:' (mail location of %s); is its "
                   "plugin in [plugins] load?", location, req->user);
    return fail(c, "-ERR [SYS/PERM] Mailbox location is misconfigured");
  }

  PoplarMailbox *mbox = poplarpriv_mailbox_new(&c->session, store, req->user,
                                               colon + 1, req->fields);
  poplarpriv_mailbox_set_delete_mode(mbox, server->cfg.delete_mode,
                                     server->cfg.trash_folder);
  /* A failure is logged with the store's reason on the way out. */
  int64_t started = g_get_monotonic_time();
  PoplarStoreResult r = poplarpriv_mailbox_open(mbox);
  poplard_stats_plugin_call(store->plugin->name, "store_open",
                            (double)(g_get_monotonic_time() - started) / 1e6);
  if (r == POPLAR_STORE_IN_USE)
    poplard_stats_in_use();
  if (r != POPLAR_STORE_OK) {
    poplarpriv_mailbox_free(mbox);
    return fail(c, store_failure_reply(r));
  }

  PoplarHookArgs args = {.mbox = mbox};
  char *reply = NULL;
  PoplarVerdict v = poplard_hooks_run(server->registry, &c->session,
                                     POPLAR_HOOK_MAILBOX_OPEN, &args, &reply);
  if (v != POPLAR_CONTINUE) {
    poplarpriv_mailbox_free(mbox);
    g_free(c->job.reply);
    c->job.reply = reply;
    return v == POPLAR_DISCONNECT ? POPLAR_LOGIN_DISCONNECT
                                  : POPLAR_LOGIN_REFUSED;
  }
  poplarpriv_mailbox_number(mbox);
  c->session.mailbox = mbox;
  /* Last: a login refused by LOGIN-DELAY is never recorded as one. */
  PoplarLoginResult res = poplard_policy_open(c);
  if (res != POPLAR_LOGIN_OK) {
    c->session.mailbox = NULL;
    poplarpriv_mailbox_free(mbox);
  }
  return res;
}
