/* SPDX-License-Identifier: MIT */
#include "session-relay.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "conn-limits.h"
#include "relay-pipe.h"

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
  PoplarTls *tls_ctx;
  PoplarRelayEnd pair;   /* the user process */
  PoplarRelayEnd client; /* fd -1: a lifeline only */
  PoplarTimer timer;
  bool closed;
  PoplarRelayBuffer up;   /* client to user process */
  PoplarRelayBuffer down; /* user process to client */
  char up_data[RELAY_UP_SIZE];
  char down_data[RELAY_DOWN_SIZE];
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
  poplard_loop_timer_cancel(r->loop, &r->timer);
  poplard_relay_end_close(r->loop, &r->pair);
  if (r->client.fd >= 0) {
    poplard_relay_end_close(r->loop, &r->client);
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

/* ---- the pump ----------------------------------------------------------- */

static void on_drain_timeout(void *ctx)
{
  relay_close(ctx, "the client did not take the last replies in time");
}

static void relay_pump(PoplarRelay *r)
{
  const char *fail = NULL;
  bool moved;
  do {
    moved = poplard_relay_move(&r->client, &r->pair, &r->up, &fail);
    if (fail)
      break;
    moved |= poplard_relay_move(&r->pair, &r->client, &r->down, &fail);
  } while (moved && !fail);
  if (fail) {
    relay_close(r, fail);
    return;
  }
  if (r->pair.eof &&
      (poplard_relay_drained(&r->client, &r->down) || r->client.eof)) {
    relay_close(r, NULL); /* the user process logged the session's end */
    return;
  }
  if (r->pair.eof && !poplard_timer_armed(&r->timer))
    poplard_loop_timer_arm(r->loop, &r->timer,
                           poplard_loop_now(r->loop) +
                               (int64_t)RELAY_DRAIN_MS * 1000);
  poplard_relay_watch(r->loop, &r->client, &r->pair, &r->up, &r->down);
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
  ssize_t n = recv(r->pair.fd, buf, sizeof buf, MSG_DONTWAIT);
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
  r->pair.fd = p->pair_fd;
  r->client.fd = p->client_fd;
  r->client.tls = p->tls;
  r->tls_ctx = p->tls_ctx;
  r->up = (PoplarRelayBuffer){.data = r->up_data, .cap = sizeof r->up_data};
  r->down =
      (PoplarRelayBuffer){.data = r->down_data, .cap = sizeof r->down_data};
  g_atomic_int_inc(&server->live_sessions);
  poplard_timer_init(&r->timer, on_drain_timeout, r);
  if (r->client.fd < 0) {
    poplard_watch_init(&r->pair.watch, r->pair.fd, on_lifeline, r);
    poplard_loop_watch_set(r->loop, &r->pair.watch, EPOLLIN);
    return;
  }
  poplard_watch_init(&r->pair.watch, r->pair.fd, on_relay_io, r);
  poplard_watch_init(&r->client.watch, r->client.fd, on_relay_io, r);
  relay_pump(r);
}

void poplard_relay_close_all(PoplarLoopClients *list)
{
  while (list->relays)
    relay_close(list->relays, "server shutting down");
}
