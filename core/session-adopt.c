/* SPDX-License-Identifier: MIT */
/*
 * A session arrives here authenticated, in the AUTHORIZATION state with
 * its login not yet answered.  If its mailbox cannot be opened, the
 * connection is closed after the -ERR: a user process serves one uid, so
 * it must never take another login on the same connection.
 */
#include "session-adopt.h"

#include <string.h>
#include <unistd.h>

#include "client.h"
#include "mailbox-open.h"
#include "pop3-commands.h"

static void restore_session(PoplarClient *c, const PoplarHandoff *h)
{
  PoplarSession *s = &c->session;
  g_strlcpy(s->id, h->session_id, sizeof s->id);
  g_strlcpy(s->remote_address, h->remote_address, sizeof s->remote_address);
  g_strlcpy(s->local_address, h->local_address, sizeof s->local_address);
  s->remote_port = h->remote_port;
  s->local_port = h->local_port;
  s->trusted = h->trusted;
  s->tls = h->tls;
  s->tls_version = g_strdup(h->tls_version);
  s->tls_cipher = g_strdup(h->tls_cipher);
  s->start_time = h->start_time;
  s->bytes_in = h->bytes_in;
  s->bytes_out = h->bytes_out;
  poplarpriv_session_set_user(s, h->user);
}

static void restore_login(PoplarClient *c, PoplarHandoff *h)
{
  PoplarAuthRequest *req =
      poplarpriv_auth_request_new(&c->session, h->mechanism, h->user);
  req->home = g_steal_pointer(&h->home);
  req->mail = g_steal_pointer(&h->mail);
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, h->fields);
  while (g_hash_table_iter_next(&it, &k, &v)) {
    g_hash_table_replace(req->fields, k, v);
    g_hash_table_iter_steal(&it);
  }
  c->login.req = req;
}

static void open_work(PoplarClient *c)
{
  PoplarLoginResult r = poplard_mailbox_open_for_login(c);
  c->job.ok = r == POPLAR_LOGIN_OK;
  if (c->job.ok)
    poplarpriv_log(c->session.id, POPLAR_LOG_INFO,
                   "mailbox of %s opened as uid %u, %zu messages",
                   c->login.req->user, (unsigned)geteuid(),
                   c->session.mailbox->n_visible);
}

static void open_done(PoplarClient *c)
{
  if (c->job.ok) {
    poplard_pop3_logged_in(c);
    return;
  }
  g_autofree char *reply = g_steal_pointer(&c->job.reply);
  poplard_client_reply(c, reply ? reply : "-ERR [SYS/TEMP] Mailbox "
                                          "temporarily unavailable");
  poplard_client_logout(c, POPLAR_DISCONNECT_ERROR);
}

void poplard_session_adopt(PoplarServer *server, unsigned loop_index, int fd,
                           int lifeline, PoplarHandoff *h)
{
  PoplarClient *c = poplard_client_alloc(server, loop_index, fd);
  c->handoff.lifeline_fd = lifeline;
  c->state = POPLAR_STATE_AUTHORIZATION;
  restore_session(c, h);
  restore_login(c, h);
  gsize len = 0;
  const void *out = g_bytes_get_data(h->output, &len);
  if (len)
    poplard_client_write(c, out, len);
  const void *in = g_bytes_get_data(h->input, &len);
  len = MIN(len, sizeof c->in.buf);
  memcpy(c->in.buf, in, len);
  c->in.len = len;
  poplard_handoff_free(h);
  poplard_client_run_job(c, open_work, open_done);
}
