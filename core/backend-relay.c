/* SPDX-License-Identifier: MIT */
#include "backend-relay.h"

#include <string.h>

#include "backend-conn.h"
#include "conn-limits.h"
#include "relay-pipe.h"

/* Client to backend: commands, at most a few lines in flight. */
#define RELAY_UP_SIZE (16 * 1024)
/* Backend to client: four TLS records keep the pipe full. */
#define RELAY_DOWN_SIZE (64 * 1024)
/* After one side closed, the other gets this long to take the rest. */
#define RELAY_DRAIN_MS (30 * 1000)

struct PoplarBackendRelay {
  PoplarServer *server;
  PoplarLoop *loop;
  PoplarLoopClients *list;
  PoplarBackendRelay *prev, *next;
  char session_id[24];
  char limits_key[48]; /* empty: not counted */
  char *user;
  char *backend;       /* "host:port" */
  char remote[48];
  PoplarTls *tls_ctx;  /* the client session's credentials reference */
  PoplarRelayEnd client, backend_end;
  PoplarTimer timer;
  int64_t last_activity;
  int64_t start;
  bool closed;
  const char *ended_by; /* the side whose end of data came first */
  PoplarRelayBuffer up;   /* client to backend */
  PoplarRelayBuffer down; /* backend to client */
  char up_data[RELAY_UP_SIZE];
  char down_data[RELAY_DOWN_SIZE];
};

static void relay_free(void *data)
{
  PoplarBackendRelay *r = data;
  PoplarServer *server = r->server;
  g_free(r->user);
  g_free(r->backend);
  g_free(r);
  g_atomic_int_dec_and_test(&server->live_sessions);
}

static void relay_close(PoplarBackendRelay *r, const char *why)
{
  if (r->closed)
    return;
  r->closed = true;
  double secs = (double)(poplard_loop_now(r->loop) - r->start) / 1e6;
  poplarpriv_log(r->session_id, POPLAR_LOG_INFO,
                 "end: user=%s remote=%s proxied to %s, reason=%s "
                 "in=%" G_GUINT64_FORMAT " out=%" G_GUINT64_FORMAT
                 " time=%.3fs",
                 r->user, r->remote, r->backend, why, r->up.count,
                 r->down.count, secs);
  poplard_loop_timer_cancel(r->loop, &r->timer);
  poplard_relay_end_close(r->loop, &r->client);
  poplard_relay_end_close(r->loop, &r->backend_end);
  poplard_tls_unref(r->tls_ctx);
  if (r->limits_key[0])
    poplard_conn_limits_leave(r->server->limits, r->limits_key);
  if (r->prev)
    r->prev->next = r->next;
  else
    r->list->backend_relays = r->next;
  if (r->next)
    r->next->prev = r->prev;
  /* Another event of this epoll batch may still name the relay. */
  poplard_loop_defer(r->loop, relay_free, r);
}

/* ---- the pump ----------------------------------------------------------- */

static void arm_timer(PoplarBackendRelay *r)
{
  int64_t wait = r->client.eof || r->backend_end.eof
                     ? (int64_t)RELAY_DRAIN_MS * 1000
                     : (int64_t)r->server->cfg.idle_timeout_ms * 1000;
  poplard_loop_timer_arm(r->loop, &r->timer, r->last_activity + wait);
}

/* Both sides can reach their end of data in one pump (a client that
 * closes as soon as the backend's end reaches it); the log names the
 * first. */
static void note_end(PoplarBackendRelay *r)
{
  if (r->ended_by)
    return;
  if (r->backend_end.eof)
    r->ended_by = "backend closed";
  else if (r->client.eof)
    r->ended_by = "client closed";
}

static void relay_pump(PoplarBackendRelay *r)
{
  const char *fail = NULL;
  bool moved, any = false;
  do {
    moved = poplard_relay_move(&r->client, &r->backend_end, &r->up, &fail);
    note_end(r);
    if (fail)
      break;
    moved |= poplard_relay_move(&r->backend_end, &r->client, &r->down, &fail);
    note_end(r);
    any |= moved;
  } while (moved && !fail);
  if (fail) {
    relay_close(r, fail);
    return;
  }
  /* A client's end of data is passed on to the backend, which then ends
   * the session from its side. */
  if (r->backend_end.eof &&
      (poplard_relay_drained(&r->client, &r->down) || r->client.eof)) {
    relay_close(r, r->ended_by);
    return;
  }
  if (any) {
    r->last_activity = poplard_loop_now(r->loop);
    arm_timer(r);
  }
  poplard_relay_watch(r->loop, &r->client, &r->backend_end, &r->up, &r->down);
}

static void on_timeout(void *ctx)
{
  PoplarBackendRelay *r = ctx;
  relay_close(r, r->client.eof || r->backend_end.eof ? "drain timeout"
                                                      : "idle timeout");
}

static void on_relay_io(void *ctx, uint32_t events)
{
  (void)events;
  relay_pump(ctx);
}

static void append_down(PoplarBackendRelay *r, const void *data, size_t len)
{
  memcpy(r->down.data + r->down.len, data, len);
  r->down.len += len;
}

void poplard_backend_relay_start(PoplarClient *c)
{
  PoplarBackendConn *b = g_steal_pointer(&c->login.backend);
  g_autofree char *reply = g_steal_pointer(&c->login.backend_reply);
  size_t queued = c->out.queue.pending;
  if (queued + strlen(reply) + 2 + b->in_len > RELAY_DOWN_SIZE ||
      c->in.len > RELAY_UP_SIZE) {
    /* Only a client pipelining far past its login gets here. */
    poplarpriv_log(c->session.id, POPLAR_LOG_ERROR,
                   "proxy: user=%s: too much pipelined to relay",
                   c->session.user);
    poplard_backend_conn_free(b);
    poplard_client_reply(c, "-ERR [SYS/TEMP] Mail server temporarily "
                            "unavailable, try again later");
    poplard_client_logout(c, POPLAR_DISCONNECT_ERROR);
    return;
  }
  PoplarBackendRelay *r = g_new0(PoplarBackendRelay, 1);
  r->up = (PoplarRelayBuffer){.data = r->up_data, .cap = sizeof r->up_data};
  r->down =
      (PoplarRelayBuffer){.data = r->down_data, .cap = sizeof r->down_data};
  r->server = c->server;
  r->loop = c->loop;
  r->list = c->siblings;
  r->next = r->list->backend_relays;
  if (r->next)
    r->next->prev = r;
  r->list->backend_relays = r;
  g_strlcpy(r->session_id, c->session.id, sizeof r->session_id);
  g_strlcpy(r->remote, c->session.remote_address, sizeof r->remote);
  r->user = g_strdup(c->session.user);
  r->backend = g_strdup(b->address);
  if (c->conn.counted)
    g_strlcpy(r->limits_key, c->conn.limits_key, sizeof r->limits_key);
  c->conn.counted = false;
  /* What the client was still owed goes first, from the head of the
   * queue, so that a TLS record GnuTLS holds half sent completes with the
   * same octets. */
  for (const PoplarOutBlock *ob = c->out.queue.head; ob; ob = ob->next)
    append_down(r, ob->data + ob->pos, ob->len - ob->pos);
  r->client.send_retry = c->conn.tls_send_retry;
  append_down(r, reply, strlen(reply));
  append_down(r, "\r\n", 2);
  append_down(r, b->in, b->in_len);
  memcpy(r->up.data, c->in.buf, c->in.len);
  r->up.len = c->in.len;
  c->in.len = 0;

  poplard_loop_watch_remove(c->loop, &c->conn.watch);
  r->client.fd = c->conn.fd;
  r->client.tls = c->conn.tls;
  r->tls_ctx = c->conn.tls_ctx;
  c->conn.fd = -1;
  c->conn.tls = NULL;
  c->conn.tls_ctx = NULL;
  r->backend_end.fd = b->fd;
  r->backend_end.tls = b->tls;
  b->fd = -1;
  b->tls = NULL;
  poplard_backend_conn_free(b);

  g_atomic_int_inc(&r->server->live_sessions);
  r->start = r->last_activity = poplard_loop_now(r->loop);
  poplard_timer_init(&r->timer, on_timeout, r);
  poplard_watch_init(&r->client.watch, r->client.fd, on_relay_io, r);
  poplard_watch_init(&r->backend_end.watch, r->backend_end.fd, on_relay_io,
                     r);
  arm_timer(r);
  poplard_client_detach(c);
  relay_pump(r);
}

void poplard_backend_relay_close_all(PoplarLoopClients *list)
{
  while (list->backend_relays)
    relay_close(list->backend_relays, "server shutting down");
}
