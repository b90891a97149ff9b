/* SPDX-License-Identifier: MIT */
#include "session-end.h"

#include <string.h>
#include <unistd.h>

#include "backend-conn.h"
#include "hooks.h"
#include "mailbox-policy.h"
#include "tls.h"
#include "pop3-commands.h"
#include "stats-points.h"

static const char *const reason_names[] = {
    [POPLAR_DISCONNECT_QUIT] = "quit",
    [POPLAR_DISCONNECT_TIMEOUT] = "timeout",
    [POPLAR_DISCONNECT_CLIENT_CLOSED] = "client closed",
    [POPLAR_DISCONNECT_ERROR] = "error",
    [POPLAR_DISCONNECT_SHUTDOWN] = "shutdown",
};

/* Everything that may call a plugin.  On the pool, or inline when nothing
 * there needs a plugin. */
static void teardown_plugins(PoplarClient *c)
{
  poplard_retr_abort(c);
  poplard_sasl_abort(c);
  /* A handed-off session goes on elsewhere: its end is that process's. */
  if (!c->handoff.done &&
      (c->state != POPLAR_STATE_CONNECT || c->admitted)) {
    PoplarHookArgs args = {.reason = c->reason};
    char *reply = NULL;
    poplard_hooks_run(c->server->registry, &c->session,
                     POPLAR_HOOK_DISCONNECT, &args, &reply);
    g_free(reply);
  }
  /* Releasing the mailbox unlocks it; nothing marked is deleted here: only
   * QUIT's UPDATE deletes. */
  poplard_policy_free(c);
  PoplarMailbox *mbox = c->session.mailbox;
  c->session.mailbox = NULL;
  poplarpriv_mailbox_free(mbox);
  poplarpriv_session_clear(&c->session);
}

/* Whether QUIT's UPDATE ran: only then did anything get removed, and
 * c->stats.deleted counts what the store removed rather than what was
 * marked.  A session that ends while in UPDATE (the client left during
 * the expunge) ran it too: the job always finishes first. */
static bool update_ran(const PoplarClient *c)
{
  return c->state == POPLAR_STATE_UPDATE ||
         (c->state == POPLAR_STATE_LOGOUT &&
          c->reason == POPLAR_DISCONNECT_QUIT);
}

static void log_summary(PoplarClient *c)
{
  poplard_stats_session_ended(reason_names[c->reason]);
  double secs = (double)(g_get_real_time() - c->session.start_time) / 1e6;
  bool updated = update_ran(c);
  if (c->session.user)
    poplarpriv_log(c->session.id, POPLAR_LOG_INFO,
                   "end: user=%s reason=%s retrieved=%u (%" G_GUINT64_FORMAT
                   " octets) sendfile=%u deleted=%u (%" G_GUINT64_FORMAT
                   " octets) in=%" G_GUINT64_FORMAT " out=%" G_GUINT64_FORMAT
                   " time=%.3fs",
                   c->session.user, reason_names[c->reason],
                   c->stats.retrieved, c->stats.retrieved_octets,
                   c->stats.retrieved_by_sendfile,
                   updated ? c->stats.deleted : 0,
                   updated ? c->stats.deleted_octets : 0, c->session.bytes_in,
                   c->session.bytes_out, secs);
  else
    poplarpriv_log(c->session.id, POPLAR_LOG_INFO,
                   "end: no login, reason=%s in=%" G_GUINT64_FORMAT
                   " out=%" G_GUINT64_FORMAT " time=%.3fs",
                   reason_names[c->reason], c->session.bytes_in,
                   c->session.bytes_out, secs);
}

static void client_free(void *data)
{
  PoplarClient *c = data;
  PoplarServer *server = c->server;
  poplard_client_unlink(c);
  poplard_stats_connection(c, false);
  if (c->conn.counted)
    poplard_conn_limits_leave(server->limits, c->conn.limits_key);
  poplarpriv_auth_request_free(c->login.req);
  g_free(c->login.user_arg);
  if (c->login.password) {
    explicit_bzero(c->login.password, strlen(c->login.password));
    g_free(c->login.password);
  }
  g_free(c->login.apop_digest);
  poplard_backend_conn_free(c->login.backend);
  g_free(c->login.backend_reply);
  g_free(c->job.reply);
  g_free(c->delay.reply);
  g_free(c->conn.proxy_info);
  poplard_out_queue_clear(&c->out.queue);
  if (c->handoff.lifeline_fd >= 0)
    close(c->handoff.lifeline_fd);
  if (c->conn.tls)
    gnutls_deinit(c->conn.tls);
  poplard_tls_unref(c->conn.tls_ctx);
  g_free(c);
  g_atomic_int_dec_and_test(&server->live_sessions);
}

static void teardown_work(PoplarClient *c)
{
  teardown_plugins(c);
}

static void teardown_done(void *data)
{
  PoplarClient *c = data;
  poplard_loop_defer(c->loop, client_free, c);
}

static void teardown_thread_done(PoplarClient *c)
{
  teardown_done(c);
}

static bool needs_plugins(PoplarClient *c)
{
  return c->session.mailbox || c->out.retr || c->login.sasl ||
         c->session.n_slots > 0 ||
         poplard_hooks_present(c->server->registry, POPLAR_HOOK_DISCONNECT);
}

void poplard_session_end(PoplarClient *c)
{
  if (!c->handoff.done)
    log_summary(c);
  if (!needs_plugins(c)) {
    poplarpriv_session_clear(&c->session);
    teardown_done(c);
    return;
  }
  poplard_client_run_final_job(c, teardown_work, teardown_thread_done);
}
