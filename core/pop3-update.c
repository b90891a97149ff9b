/* SPDX-License-Identifier: MIT */
/*
 * DELE and QUIT.  DELE only marks; the store deletes nothing before QUIT in
 * the TRANSACTION state (RFC 1939 section 6), so a dropped connection or a
 * crash never loses a message the client did not confirm.
 */
#include <string.h>

#include "hooks.h"
#include "mailbox-policy.h"
#include "pop3-commands.h"
#include "session-end.h"
#include "stats-points.h"

static void mark_deleted(PoplarClient *c, PoplarMessage *msg)
{
  msg->deleted = true;
  c->stats.deleted++;
  c->stats.deleted_octets += msg->size;
  poplard_client_replyf(c, "+OK Message %u deleted", msg->number);
}

static void dele_done(PoplarClient *c)
{
  if (c->job.ok) {
    mark_deleted(c, c->job.hook_args.msg);
    return;
  }
  poplard_client_reply(c, c->job.reply);
  g_clear_pointer(&c->job.reply, g_free);
  if (c->job.disconnect)
    poplard_client_logout(c, POPLAR_DISCONNECT_ERROR);
}

void poplard_cmd_dele(PoplarClient *c, const PoplarCommandLine *cmd)
{
  PoplarMessage *msg = poplard_pop3_message_arg(c, cmd->argv[0]);
  if (!msg)
    return;
  PoplarHookArgs args = {.msg = msg};
  poplard_client_run_hooks(c, POPLAR_HOOK_MESSAGE_DELETE, &args, dele_done);
}

/* ---- QUIT and the UPDATE state ----------------------------------------- */

static void update_work(PoplarClient *c)
{
  const PoplarRegistry *registry = c->server->registry;
  PoplarMailbox *mbox = c->session.mailbox;
  PoplarHookArgs args = {.mbox = mbox};
  char *reply = NULL;
  g_free(c->job.reply);
  c->job.reply = NULL;

  PoplarVerdict v = poplard_hooks_run(registry, &c->session,
                                     POPLAR_HOOK_UPDATE_BEFORE, &args, &reply);
  if (v != POPLAR_CONTINUE) {
    /* Refused: nothing is deleted, and the session ends as QUIT asked. */
    c->job.reply = reply;
    c->stats.deleted = 0;
    c->stats.deleted_octets = 0;
    poplard_policy_free(c);
    c->session.mailbox = NULL;
    poplarpriv_mailbox_free(mbox);
    return;
  }

  /* Marked by the client (DELE) or by a hook (a policy delete); from here
   * on the counts are what the store removed, whatever it answered, for
   * the reply and the session's summary line.  A failure is logged on the
   * way out of the store. */
  poplard_policy_mark_expired(c);
  unsigned removed = 0;
  int64_t started = g_get_monotonic_time();
  PoplarStoreResult r =
      poplarpriv_store_expunge(mbox, &removed, &c->stats.deleted_octets);
  poplard_stats_plugin_call(mbox->store->plugin->name, "store_expunge",
                            (double)(g_get_monotonic_time() - started) / 1e6);
  poplard_policy_update_done(c);
  poplard_policy_free(c);
  c->stats.deleted = removed;
  poplard_stats_deleted(removed);
  bool committed = r == POPLAR_STORE_OK;
  args.committed = committed;
  poplard_hooks_run(registry, &c->session, POPLAR_HOOK_UPDATE_AFTER, &args,
                   &reply);
  g_free(reply);
  unsigned left = (unsigned)(mbox->n_messages - removed);
  /* Unlock before the client hears +OK: a client that reconnects at once
   * must find its mailbox free. */
  c->session.mailbox = NULL;
  poplarpriv_mailbox_free(mbox);
  if (committed)
    c->job.reply = g_strdup_printf(
        "+OK Poplar signing off (%u messages deleted, %u left)",
        c->stats.deleted, left);
  else
    /* RFC 1939 section 6 wording; the code says whether retrying helps. */
    c->job.reply = g_strdup_printf(
        "-ERR [SYS/%s] Some deleted messages not removed",
        r == POPLAR_STORE_PERMFAIL ? "PERM" : "TEMP");
}

static void update_done(PoplarClient *c)
{
  poplard_client_reply(c, c->job.reply);
  g_clear_pointer(&c->job.reply, g_free);
  poplard_client_logout(c, POPLAR_DISCONNECT_QUIT);
}

void poplard_cmd_quit(PoplarClient *c, const PoplarCommandLine *cmd)
{
  (void)cmd;
  if (c->state != POPLAR_STATE_TRANSACTION) {
    poplard_client_reply(c, "+OK Poplar signing off");
    poplard_client_logout(c, POPLAR_DISCONNECT_QUIT);
    return;
  }
  poplard_client_enter_state(c, POPLAR_STATE_UPDATE);
  poplard_client_run_job(c, update_work, update_done);
}
