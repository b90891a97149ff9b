/* SPDX-License-Identifier: MIT */
/*
 * One pump, as for clients: after any event, move what can move in both
 * directions, then ask epoll only for what would let more move.  Each
 * direction has a fixed buffer, so a side that stops reading stops the
 * other side's reading, and a relayed session costs two buffers however
 * much mail passes through it.
 */
#include "session-relay.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn-limits.h"

/* Client to user process: commands, at most a few lines in flight. */
#define RELAY_UP_SIZE (16 * 1024)
/* User process to client: one TLS record is 16 KiB; four keep the pipe
 * full without holding a message in memory. */
#define RELAY_DOWN_SIZE (64 * 1024)
/* After the user process closed, the client gets this long to take the
 * last replies. */
#define RELAY_DRAIN_MS (30 * 1000)

struct PoplarRelay {
  PoplarServer *server;
  PoplarLoop *loop;
  PoplarLoopClients *list;
  PoplarRelay *prev, *next;
  char session_id[24];
  char limits_key[48]; /* empty: not counted */
  int pair_fd;
  int client_fd; /* -1: a lifeline only */
  gnutls_session_t tls;
  PoplarTls *tls_ctx;
  PoplarWatch pair_watch;
  PoplarWatch client_watch;
  PoplarTimer timer;
  bool client_eof;     /* the client closed its side */
  bool pair_eof;       /* the user process closed the session */
  bool send_retry;     /* gnutls_record_send must be called again */
  bool closed;
  size_t up_len;
  size_t down_off, down_len;
  char up[RELAY_UP_SIZE];
  char down[RELAY_DOWN_SIZE];
};

static void relay_free(void *data)
{
  PoplarRelay *r = data;
  PoplarServer *server = r->server;
  g_free(r);
  g_atomic_int_dec_and_test(&server->live_sessions);
}

static void relay_close(PoplarRelay *r, const char *why)
{
  if (r->closed)
    return;
  r->closed = true;
  if (why)
    poplarpriv_log(r->session_id, POPLAR_LOG_INFO, "relay ended: %s", why);
  poplard_loop_watch_remove(r->loop, &r->pair_watch);
  poplard_loop_timer_cancel(r->loop, &r->timer);
  close(r->pair_fd);
  if (r->client_fd >= 0) {
    poplard_loop_watch_remove(r->loop, &r->client_watch);
    if (!r->client_eof)
      gnutls_bye(r->tls, GNUTLS_SHUT_WR); /* best effort, never waits */
    close(r->client_fd);
    gnutls_deinit(r->tls);
    poplard_tls_unref(r->tls_ctx);
  }
  if (r->limits_key[0])
    poplard_conn_limits_leave(r->server->limits, r->limits_key);
  if (r->prev)
    r->prev->next = r->next;
  else
    r->list->relays = r->next;
  if (r->next)
    r->next->prev = r->prev;
  /* Another event of this epoll batch may still name the relay. */
  poplard_loop_defer(r->loop, relay_free, r);
}

/* ---- the four moves; each returns true when it moved something -------- */

static bool client_to_up(PoplarRelay *r, const char **fail)
{
  if (r->client_eof || r->up_len == sizeof r->up)
    return false;
  ssize_t n = gnutls_record_recv(r->tls, r->up + r->up_len,
                                 sizeof r->up - r->up_len);
  if (n > 0) {
    r->up_len += (size_t)n;
    return true;
  }
  if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
    return false;
  if (n < 0 && n != GNUTLS_E_PREMATURE_TERMINATION)
    *fail = gnutls_strerror((int)n);
  /* End of the client's data: the user process reads end of file too. */
  r->client_eof = true;
  return true;
}

static bool up_to_pair(PoplarRelay *r, const char **fail)
{
  if (r->up_len == 0) {
    if (r->client_eof && !r->pair_eof)
      shutdown(r->pair_fd, SHUT_WR);
    return false;
  }
  ssize_t n = send(r->pair_fd, r->up, r->up_len, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0) {
    if (errno != EAGAIN && errno != EINTR)
      *fail = g_strerror(errno);
    return false;
  }
  memmove(r->up, r->up + n, r->up_len - (size_t)n);
  r->up_len -= (size_t)n;
  return n > 0;
}

static bool pair_to_down(PoplarRelay *r, const char **fail)
{
  if (r->down_off > 0 && r->down_off == r->down_len)
    r->down_off = r->down_len = 0;
  if (r->pair_eof || r->down_len == sizeof r->down)
    return false;
  ssize_t n = recv(r->pair_fd, r->down + r->down_len,
                   sizeof r->down - r->down_len, MSG_DONTWAIT);
  if (n > 0) {
    r->down_len += (size_t)n;
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return false;
  if (n < 0)
    *fail = g_strerror(errno);
  r->pair_eof = true;
  return true;
}

static bool down_to_client(PoplarRelay *r, const char **fail)
{
  if (r->down_off == r->down_len)
    return false;
  size_t len = MIN(r->down_len - r->down_off, (size_t)16384);
  /* After EAGAIN GnuTLS holds the record it built: finish that one. */
  ssize_t n = r->send_retry
                  ? gnutls_record_send(r->tls, NULL, 0)
                  : gnutls_record_send(r->tls, r->down + r->down_off, len);
  if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
    r->send_retry = true;
    return false;
  }
  r->send_retry = false;
  if (n < 0) {
    *fail = gnutls_strerror((int)n);
    return false;
  }
  r->down_off += (size_t)n;
  return n > 0;
}

/* ---- the pump ----------------------------------------------------------- */

static void set_watches(PoplarRelay *r)
{
  uint32_t pair = 0, client = 0;
  if (r->down_off == r->down_len)
    r->down_off = r->down_len = 0;
  if (!r->pair_eof && r->down_len < sizeof r->down)
    pair |= EPOLLIN;
  if (r->up_len > 0)
    pair |= EPOLLOUT;
  if (!r->client_eof && r->up_len < sizeof r->up)
    client |= EPOLLIN;
  if (r->down_off < r->down_len || r->send_retry)
    client |= EPOLLOUT;
  poplard_loop_watch_set(r->loop, &r->pair_watch, pair);
  poplard_loop_watch_set(r->loop, &r->client_watch, client);
}

static void on_drain_timeout(void *ctx)
{
  relay_close(ctx, "the client did not take the last replies in time");
}

static void relay_pump(PoplarRelay *r)
{
  const char *fail = NULL;
  bool moved;
  do {
    moved = client_to_up(r, &fail);
    moved |= up_to_pair(r, &fail);
    moved |= pair_to_down(r, &fail);
    moved |= down_to_client(r, &fail);
  } while (moved && !fail);
  if (fail) {
    relay_close(r, fail);
    return;
  }
  bool drained = r->down_off == r->down_len && !r->send_retry;
  if (r->pair_eof && (drained || r->client_eof)) {
    relay_close(r, NULL); /* the user process logged the session's end */
    return;
  }
  if (r->pair_eof && !poplard_timer_armed(&r->timer))
    poplard_loop_timer_arm(r->loop, &r->timer,
                           poplard_loop_now(r->loop) +
                               (int64_t)RELAY_DRAIN_MS * 1000);
  set_watches(r);
}

static void on_relay_io(void *ctx, uint32_t events)
{
  (void)events;
  relay_pump(ctx);
}

/* A plain session's lifeline: it never carries data, only its end. */
static void on_lifeline(void *ctx, uint32_t events)
{
  PoplarRelay *r = ctx;
  (void)events;
  char buf[64];
  ssize_t n = recv(r->pair_fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  relay_close(r, NULL);
}

void poplard_relay_start(PoplarServer *server, unsigned loop_index,
                         const PoplarRelayParams *p)
{
  PoplarRelay *r = g_new0(PoplarRelay, 1);
  r->server = server;
  r->loop = server->loops[loop_index];
  r->list = &server->loop_clients[loop_index];
  r->next = r->list->relays;
  if (r->next)
    r->next->prev = r;
  r->list->relays = r;
  g_strlcpy(r->session_id, p->session_id, sizeof r->session_id);
  if (p->limits_key)
    g_strlcpy(r->limits_key, p->limits_key, sizeof r->limits_key);
  r->pair_fd = p->pair_fd;
  r->client_fd = p->client_fd;
  r->tls = p->tls;
  r->tls_ctx = p->tls_ctx;
  g_atomic_int_inc(&server->live_sessions);
  poplard_timer_init(&r->timer, on_drain_timeout, r);
  if (r->client_fd < 0) {
    poplard_watch_init(&r->pair_watch, r->pair_fd, on_lifeline, r);
    poplard_loop_watch_set(r->loop, &r->pair_watch, EPOLLIN);
    return;
  }
  poplard_watch_init(&r->pair_watch, r->pair_fd, on_relay_io, r);
  poplard_watch_init(&r->client_watch, r->client_fd, on_relay_io, r);
  relay_pump(r);
}

void poplard_relay_close_all(PoplarLoopClients *list)
{
  while (list->relays)
    relay_close(list->relays, "server shutting down");
}
