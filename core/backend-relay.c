/* SPDX-License-Identifier: MIT */
/*
 * The shape of session-relay.c with a transport on both sides: after any
 * event, move what can move in both directions, then ask epoll only for
 * what would let more move.
 */
#include "backend-relay.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend-conn.h"
#include "conn-limits.h"

/* Client to backend: commands, at most a few lines in flight. */
#define RELAY_UP_SIZE (16 * 1024)
/* Backend to client: four TLS records keep the pipe full. */
#define RELAY_DOWN_SIZE (64 * 1024)
/* After one side closed, the other gets this long to take the rest. */
#define RELAY_DRAIN_MS (30 * 1000)

/* One side: a socket, and TLS over it or not. */
typedef struct RelayEnd {
  int fd;
  gnutls_session_t tls;
  PoplarWatch watch;
  bool eof;        /* it closed its sending side */
  bool send_retry; /* gnutls_record_send must be called again */
  bool shut;       /* we closed our sending side towards it */
} RelayEnd;

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
  RelayEnd client, backend_end;
  PoplarTimer timer;
  int64_t last_activity;
  int64_t start;
  uint64_t octets_up, octets_down;
  bool closed;
  size_t up_off, up_len;
  size_t down_off, down_len;
  char up[RELAY_UP_SIZE];
  char down[RELAY_DOWN_SIZE];
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

static void end_close(PoplarBackendRelay *r, RelayEnd *e)
{
  poplard_loop_watch_remove(r->loop, &e->watch);
  if (e->tls) {
    if (!e->eof && !e->shut)
      gnutls_bye(e->tls, GNUTLS_SHUT_WR); /* best effort, never waits */
    gnutls_deinit(e->tls);
  }
  close(e->fd);
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
                 r->user, r->remote, r->backend, why, r->octets_up,
                 r->octets_down, secs);
  poplard_loop_timer_cancel(r->loop, &r->timer);
  end_close(r, &r->client);
  end_close(r, &r->backend_end);
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

/* ---- one side's reads and writes, send()/recv() conventions ------------ */

/* > 0 octets, 0 end of data, -1 nothing now, -2 error (*fail set). */
static ssize_t end_recv(RelayEnd *e, char *buf, size_t len, const char **fail)
{
  if (e->tls) {
    ssize_t n = gnutls_record_recv(e->tls, buf, len);
    if (n > 0)
      return n;
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
      return -1;
    if (n < 0 && n != GNUTLS_E_PREMATURE_TERMINATION) {
      *fail = gnutls_strerror((int)n);
      return -2;
    }
    return 0;
  }
  ssize_t n = recv(e->fd, buf, len, MSG_DONTWAIT);
  if (n >= 0)
    return n;
  if (errno == EAGAIN || errno == EINTR)
    return -1;
  *fail = g_strerror(errno);
  return -2;
}

/* >= 0 octets taken, -1 nothing now, -2 error (*fail set). */
static ssize_t end_send(RelayEnd *e, const char *buf, size_t len,
                        const char **fail)
{
  if (e->tls) {
    /* After EAGAIN GnuTLS holds the record it built: finish that one. */
    ssize_t n = e->send_retry
                    ? gnutls_record_send(e->tls, NULL, 0)
                    : gnutls_record_send(e->tls, buf, MIN(len, (size_t)16384));
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
      e->send_retry = true;
      return -1;
    }
    e->send_retry = false;
    if (n < 0) {
      *fail = gnutls_strerror((int)n);
      return -2;
    }
    return n;
  }
  ssize_t n = send(e->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n >= 0)
    return n;
  if (errno == EAGAIN || errno == EINTR)
    return -1;
  *fail = g_strerror(errno);
  return -2;
}

/* A side that ended its data gets an end of data passed on; a TLS side
 * gets a close_notify, which need not be acknowledged. */
static void end_shutdown(RelayEnd *e)
{
  if (e->shut)
    return;
  e->shut = true;
  if (e->tls)
    gnutls_bye(e->tls, GNUTLS_SHUT_WR);
  shutdown(e->fd, SHUT_WR);
}

static bool tls_buffered(const RelayEnd *e)
{
  return e->tls && gnutls_record_check_pending(e->tls) > 0;
}

/* Reads from @from into @buf, then writes @buf to @to.  Returns true when
 * anything moved. */
static bool move(RelayEnd *from, RelayEnd *to, char *buf, size_t cap,
                 size_t *off, size_t *len, uint64_t *count, const char **fail)
{
  bool moved = false;
  if (*off == *len)
    *off = *len = 0;
  /* GnuTLS may hold decrypted octets that epoll no longer signals: read
   * until it holds none, the buffer is full or nothing comes. */
  while (!from->eof && *len < cap) {
    ssize_t n = end_recv(from, buf + *len, cap - *len, fail);
    if (n == -2)
      return false;
    if (n == -1)
      break;
    moved = true;
    if (n == 0) {
      from->eof = true;
      break;
    }
    *len += (size_t)n;
    if (!tls_buffered(from))
      break;
  }
  if (*off < *len || to->send_retry) {
    ssize_t n = end_send(to, buf + *off, *len - *off, fail);
    if (n == -2)
      return false;
    if (n > 0) {
      *off += (size_t)n;
      *count += (uint64_t)n;
      moved = true;
    }
  }
  if (from->eof && *off == *len && !to->send_retry)
    end_shutdown(to);
  return moved;
}

/* ---- the pump ----------------------------------------------------------- */

static void set_watches(PoplarBackendRelay *r)
{
  uint32_t client = 0, backend = 0;
  if (!r->client.eof && r->up_len < sizeof r->up)
    client |= EPOLLIN;
  if (r->down_off < r->down_len || r->client.send_retry)
    client |= EPOLLOUT;
  if (!r->backend_end.eof && r->down_len < sizeof r->down)
    backend |= EPOLLIN;
  if (r->up_off < r->up_len || r->backend_end.send_retry)
    backend |= EPOLLOUT;
  poplard_loop_watch_set(r->loop, &r->client.watch, client);
  poplard_loop_watch_set(r->loop, &r->backend_end.watch, backend);
}

static void arm_timer(PoplarBackendRelay *r)
{
  int64_t wait = r->client.eof || r->backend_end.eof
                     ? (int64_t)RELAY_DRAIN_MS * 1000
                     : (int64_t)r->server->cfg.idle_timeout_ms * 1000;
  poplard_loop_timer_arm(r->loop, &r->timer, r->last_activity + wait);
}

static void relay_pump(PoplarBackendRelay *r)
{
  const char *fail = NULL;
  bool moved, any = false;
  do {
    moved = move(&r->client, &r->backend_end, r->up, sizeof r->up,
                 &r->up_off, &r->up_len, &r->octets_up, &fail);
    if (fail)
      break;
    moved |= move(&r->backend_end, &r->client, r->down, sizeof r->down,
                  &r->down_off, &r->down_len, &r->octets_down, &fail);
    any |= moved;
  } while (moved && !fail);
  if (fail) {
    relay_close(r, fail);
    return;
  }
  bool down_drained = r->down_off == r->down_len && !r->client.send_retry;
  bool up_drained = r->up_off == r->up_len && !r->backend_end.send_retry;
  if (r->backend_end.eof && (down_drained || r->client.eof)) {
    relay_close(r, r->client.eof ? "client closed" : "backend closed");
    return;
  }
  if (r->client.eof && up_drained && r->backend_end.shut &&
      r->backend_end.eof) {
    relay_close(r, "client closed");
    return;
  }
  if (any) {
    r->last_activity = poplard_loop_now(r->loop);
    arm_timer(r);
  }
  set_watches(r);
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
  memcpy(r->down + r->down_len, data, len);
  r->down_len += len;
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
  memcpy(r->up, c->in.buf, c->in.len);
  r->up_len = c->in.len;
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
