/* SPDX-License-Identifier: MIT */
/*
 * The worker's half of serving a user with the user's own uid.  The check
 * runs after the password database said yes and before any file of the
 * user is touched, so the worker never opens a mailbox that belongs to a
 * uid other than its own.
 */
#include "session-handoff.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handoff.h"
#include "privileges.h"
#include "session-end.h"
#include "session-relay.h"

/* A field that is a number, or the name of an account or group. */
static bool parse_id(const char *text, bool group, uint32_t *out)
{
  if (!text || !text[0])
    return false;
  char *end = NULL;
  errno = 0;
  unsigned long v = strtoul(text, &end, 10);
  if (!*end && errno == 0 && g_ascii_isdigit(text[0]) && v < UINT32_MAX) {
    *out = (uint32_t)v;
    return true;
  }
  char buf[4096];
  if (group) {
    struct group gr, *found = NULL;
    if (getgrnam_r(text, &gr, buf, sizeof buf, &found) != 0 || !found)
      return false;
    *out = found->gr_gid;
  } else {
    struct passwd pw, *found = NULL;
    if (getpwnam_r(text, &pw, buf, sizeof buf, &found) != 0 || !found)
      return false;
    *out = found->pw_uid;
  }
  return true;
}

static bool primary_gid(uint32_t uid, uint32_t *gid)
{
  char buf[4096];
  struct passwd pw, *found = NULL;
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) != 0 || !found)
    return false;
  *gid = found->pw_gid;
  return true;
}

static PoplarUidRoute refuse(PoplarClient *c, const char *reply)
{
  g_free(c->job.reply);
  c->job.reply = g_strdup(reply);
  return POPLAR_UID_REFUSED;
}

PoplarUidRoute poplard_uid_route(PoplarClient *c)
{
  PoplarAuthRequest *req = c->login.req;
  const char *uid_text = g_hash_table_lookup(req->fields, "uid");
  const char *gid_text = g_hash_table_lookup(req->fields, "gid");
  if (!uid_text)
    return POPLAR_UID_HERE; /* a virtual user: the workers' own mail */
  uint32_t uid, gid;
  if (!parse_id(uid_text, false, &uid)) {
    poplarpriv_log(c->session.id, POPLAR_LOG_ERROR,
                   "user %s: the password database gave uid '%s', which is "
                   "neither a number nor an account", req->user, uid_text);
    return refuse(c, "-ERR [SYS/PERM] Mailbox cannot be opened");
  }
  bool have_gid = gid_text ? parse_id(gid_text, true, &gid)
                           : primary_gid(uid, &gid);
  if (!have_gid) {
    poplarpriv_log(c->session.id, POPLAR_LOG_ERROR,
                   "user %s: %s '%s'", req->user,
                   gid_text ? "the password database gave an unknown gid"
                            : "no gid given, and no account has uid",
                   gid_text ? gid_text : uid_text);
    return refuse(c, "-ERR [SYS/PERM] Mailbox cannot be opened");
  }
  uint32_t my_uid, my_gid;
  poplard_effective_ids(&my_uid, &my_gid);
  if (uid == my_uid && gid == my_gid)
    return POPLAR_UID_HERE;
  if (uid == 0 || uid < c->server->cfg.first_valid_uid) {
    poplarpriv_log(c->session.id, POPLAR_LOG_ERROR,
                   "user %s has uid %u, below first-valid-uid (%u): not "
                   "served", req->user, uid, c->server->cfg.first_valid_uid);
    return refuse(c, "-ERR [SYS/PERM] Mailbox cannot be opened");
  }
  if (c->server->broker_fd < 0) {
    poplarpriv_log(c->session.id, POPLAR_LOG_ERROR,
                   "user %s has uid %u gid %u, but this server runs as uid "
                   "%u and cannot start processes for other uids (poplard "
                   "must start as root for that)", req->user, uid, gid,
                   (unsigned)geteuid());
    return refuse(c, "-ERR [SYS/PERM] Mailbox cannot be opened");
  }
  c->handoff.uid = uid;
  c->handoff.gid = gid;
  return POPLAR_UID_HANDOFF;
}

static void copy_field(gpointer key, gpointer value, gpointer data)
{
  g_hash_table_replace(data, g_strdup(key), g_strdup(value));
}

static PoplarHandoff *describe(PoplarClient *c)
{
  PoplarHandoff *h = poplard_handoff_new();
  PoplarSession *s = &c->session;
  PoplarAuthRequest *req = c->login.req;
  h->uid = c->handoff.uid;
  h->gid = c->handoff.gid;
  h->tls = c->conn.tls != NULL;
  h->trusted = s->trusted;
  h->session_id = g_strdup(s->id);
  h->remote_address = g_strdup(s->remote_address);
  h->remote_port = s->remote_port;
  h->local_address = g_strdup(s->local_address);
  h->local_port = s->local_port;
  h->start_time = s->start_time;
  h->bytes_in = s->bytes_in;
  h->bytes_out = s->bytes_out;
  h->tls_version = g_strdup(s->tls_version);
  h->tls_cipher = g_strdup(s->tls_cipher);
  h->user = g_strdup(req->user);
  h->mechanism = g_strdup(req->mechanism);
  h->home = g_strdup(req->home);
  h->mail = g_strdup(req->mail);
  g_hash_table_foreach(req->fields, copy_field, h->fields);
  h->input = g_bytes_new(c->in.buf, c->in.len);
  GByteArray *out = g_byte_array_new();
  /* Copied, not consumed: a failed hand-off leaves the session as it was. */
  for (const PoplarOutBlock *b = c->out.queue.head; b; b = b->next)
    g_byte_array_append(out, (const guint8 *)b->data + b->pos,
                        (guint)(b->len - b->pos));
  h->output = g_byte_array_free_to_bytes(out);
  return h;
}

void poplard_handoff_client(PoplarClient *c)
{
  int pair[2];
  if (c->out.queue.pending + c->in.len > POPLAR_HANDOFF_DATA_MAX ||
      socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                 pair) != 0) {
    poplarpriv_log(c->session.id, POPLAR_LOG_ERROR,
                   "cannot hand the session of %s over: %s",
                   c->login.req->user,
                   c->out.queue.pending + c->in.len > POPLAR_HANDOFF_DATA_MAX
                       ? "too much pipelined" : g_strerror(errno));
    poplard_client_reply(c, "-ERR [SYS/TEMP] Mailbox temporarily "
                            "unavailable");
    return;
  }
  g_autoptr(PoplarHandoff) h = describe(c);
  /* Plain: the socket itself moves, and pair[1] is the lifeline.  TLS:
   * pair[1] is the connection the user process sees, relayed here. */
  int fds[2] = {c->conn.tls ? pair[1] : c->conn.fd, pair[1]};
  char *error = NULL;
  if (!poplard_handoff_send(c->server->broker_fd, h, fds, c->conn.tls ? 1 : 2,
                            &error)) {
    poplarpriv_log(c->session.id, POPLAR_LOG_ERROR, "user %s: %s",
                   c->login.req->user, error);
    g_free(error);
    close(pair[0]);
    close(pair[1]);
    poplard_client_reply(c, "-ERR [SYS/TEMP] Mailbox temporarily "
                            "unavailable");
    return;
  }
  close(pair[1]);
  /* Unwatched before its descriptor moves: a copy lives on in the user
   * process, so closing ours would not take it out of epoll. */
  poplard_loop_watch_remove(c->loop, &c->conn.watch);
  poplarpriv_log(c->session.id, POPLAR_LOG_INFO,
                 "login: user=%s mech=%s, served as uid %u gid %u",
                 c->login.req->user, c->login.req->mechanism, c->handoff.uid,
                 c->handoff.gid);
  unsigned loop_index = (unsigned)(c->siblings - c->server->loop_clients);
  PoplarRelayParams p = {
      .session_id = c->session.id,
      .pair_fd = pair[0],
      .client_fd = c->conn.tls ? c->conn.fd : -1,
      .tls = c->conn.tls,
      .tls_ctx = c->conn.tls ? c->conn.tls_ctx : NULL,
      .limits_key = c->conn.counted ? c->conn.limits_key : NULL,
  };
  if (c->conn.tls) {
    /* The relay owns the TLS session and the socket now. */
    c->conn.tls = NULL;
    c->conn.tls_ctx = NULL;
  } else {
    close(c->conn.fd); /* the user process has its own copy */
  }
  c->conn.fd = -1;
  c->conn.counted = false;
  poplard_relay_start(c->server, loop_index, &p);
  poplard_client_detach(c);
}
