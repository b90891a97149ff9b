/* SPDX-License-Identifier: MIT */
/*
 * Connection life cycle and socket I/O.  The rule that keeps this simple:
 * poplard_client_pump() is the only place that decides what happens next
 * (process a command, stream more output, wait), and it is called after
 * every event.  A client is freed only by a deferred call on its loop, so
 * no event of the same epoll batch can see a freed client.
 */
#include "client-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "backend-relay.h"
#include "pop3-commands.h"
#include "session-end.h"
#include "session-relay.h"
#include "stats-points.h"

static const char *const state_names[] = {
    [POPLAR_STATE_CONNECT] = "CONNECT",
    [POPLAR_STATE_AUTHORIZATION] = "AUTHORIZATION",
    [POPLAR_STATE_TRANSACTION] = "TRANSACTION",
    [POPLAR_STATE_UPDATE] = "UPDATE",
    [POPLAR_STATE_LOGOUT] = "LOGOUT",
};

void poplard_client_enter_state(PoplarClient *c, PoplarPop3State state)
{
  if (poplarpriv_log_enabled(POPLAR_LOG_DEBUG))
    poplarpriv_log(c->session.id, POPLAR_LOG_DEBUG, "state %s -> %s",
                   state_names[c->state], state_names[state]);
  c->state = state;
}

/* ---- output ----------------------------------------------------------- */

void poplard_client_write(PoplarClient *c, const void *data, size_t len)
{
  poplard_out_queue_append(&c->out.queue, data, len);
}

void poplard_client_reply(PoplarClient *c, const char *line)
{
  char buf[POPLAR_RESPONSE_LINE_MAX];
  size_t len = strlen(line);
  /* RFC 2449 section 4: 512 octets with CRLF. */
  if (len > sizeof buf - 2)
    len = sizeof buf - 2;
  memcpy(buf, line, len);
  memcpy(buf + len, "\r\n", 2);
  poplard_out_queue_append(&c->out.queue, buf, len + 2);
}

void poplard_client_replyf(PoplarClient *c, const char *fmt, ...)
{
  char line[POPLAR_RESPONSE_LINE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line - 2, fmt, ap);
  va_end(ap);
  poplard_client_reply(c, line);
}

/* Returns false when the connection failed. */
static bool client_flush(PoplarClient *c)
{
  if (c->conn.handshaking)
    return true;
  while (c->out.queue.pending > 0) {
    ssize_t n = poplard_transport_send_queue(c);
    if (n > 0) {
      poplard_out_queue_advance(&c->out.queue, (size_t)n);
      c->session.bytes_out += (uint64_t)n;
      c->last_activity = poplard_loop_now(c->loop);
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return true;
    return false;
  }
  return true;
}

/* ---- input ------------------------------------------------------------ */

bool poplard_client_wants_input(const PoplarClient *c)
{
  return !c->in.eof && !c->job.pending && !c->delay.then && !c->out.fill &&
         !c->out.close_after_flush && !c->conn.stls_pending &&
         !c->conn.handshaking && c->state != POPLAR_STATE_CONNECT &&
         poplard_client_pending(c) < POPLAR_OUTPUT_HIGH_WATER &&
         c->in.len < sizeof c->in.buf;
}

void poplard_client_update_watch(PoplarClient *c)
{
  uint32_t ev = 0;
  if (c->conn.proxy_pending) {
    if (!poplard_loop_watch_set(c->loop, &c->conn.watch, EPOLLIN))
      poplard_client_close(c, POPLAR_DISCONNECT_ERROR);
    return;
  }
  if (c->conn.handshaking) {
    ev = poplard_client_tls_handshake_events(c);
    if (!poplard_loop_watch_set(c->loop, &c->conn.watch, ev))
      poplard_client_close(c, POPLAR_DISCONNECT_ERROR);
    return;
  }
  if (poplard_client_wants_input(c)) {
    ev |= EPOLLIN;
    c->conn.input_unwanted = false;
  }
  if (poplard_client_pending(c) > 0 || c->out.await_writable)
    ev |= EPOLLOUT;
  /* A client mostly waits for the reply to its last command, so input
   * stays watched while a plugin call or a reply is pending: two
   * epoll_ctl calls fewer per call.  Should input come meanwhile, on_io()
   * leaves it unread and the watch is narrowed then. */
  const PoplarWatch *w = &c->conn.watch;
  if (w->added && (w->events & EPOLLIN) && (ev | EPOLLIN) == w->events &&
      !c->conn.input_unwanted)
    return;
  if (!poplard_loop_watch_set(c->loop, &c->conn.watch, ev))
    poplard_client_close(c, POPLAR_DISCONNECT_ERROR);
}

/* Reads what the socket has.  Returns false on EOF or error. */
bool poplard_client_read(PoplarClient *c)
{
  for (;;) {
    size_t room = sizeof c->in.buf - c->in.len;
    if (room == 0)
      return true;
    ssize_t n = poplard_transport_recv(c, c->in.buf + c->in.len, room);
    if (n > 0) {
      c->in.len += (size_t)n;
      c->session.bytes_in += (uint64_t)n;
      /* Octets alone are no activity: a client trickling a line that
       * never ends (slowloris) must still reach the idle timeout.  A
       * complete line counts (process_one_line()). */
      if ((size_t)n < room)
        return true;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return true;
    c->in.eof = true;
    return false;
  }
}

/* Takes one complete line from the input buffer and runs it.  Returns
 * false when no complete line is buffered. */
static bool process_one_line(PoplarClient *c)
{
  char *nl = memchr(c->in.buf, '\n', c->in.len);
  if (!nl) {
    if (c->in.len == sizeof c->in.buf) {
      /* No line end in a full buffer: the line is far too long.  Drop
       * what we have and the rest of the line when it comes. */
      c->in.len = 0;
      if (!c->in.discarding) {
        c->in.discarding = true;
        poplard_pop3_line_too_long(c);
      }
    }
    return false;
  }
  size_t consumed = (size_t)(nl - c->in.buf) + 1;
  size_t len = consumed - 1;
  c->last_activity = poplard_loop_now(c->loop);
  if (len > 0 && c->in.buf[len - 1] == '\r')
    len--;
  /* RFC 5034 4: SASL responses are not bound by the 255-octet command
   * limit; the input buffer bounds them. */
  size_t max = c->login.sasl ? sizeof c->in.buf : POPLAR_COMMAND_LINE_MAX;
  if (c->in.discarding) {
    c->in.discarding = false;
  } else if (consumed > max) {
    poplard_pop3_line_too_long(c);
  } else {
    char line[sizeof c->in.buf + 1];
    memcpy(line, c->in.buf, len);
    line[len] = '\0';
    /* The copy is the only place a password passes through: wiped below. */
    memmove(c->in.buf, c->in.buf + consumed, c->in.len - consumed);
    c->in.len -= consumed;
    poplard_pop3_dispatch(c, line, len);
    explicit_bzero(line, sizeof line);
    return true;
  }
  memmove(c->in.buf, c->in.buf + consumed, c->in.len - consumed);
  c->in.len -= consumed;
  return true;
}

/* True when the session can make progress without waiting for the socket,
 * a plugin call or a timer: stream more of a reply, or run a buffered
 * command. */
static bool can_produce(const PoplarClient *c)
{
  if (c->closing || c->job.pending || c->delay.then ||
      c->out.close_after_flush || c->conn.stls_pending ||
      c->conn.handshaking || c->out.await_writable)
    return false;
  if (c->out.fill)
    return poplard_client_pending(c) <
           (c->out.fill_below ? c->out.fill_below : POPLAR_OUTPUT_LOW_WATER);
  if (c->state == POPLAR_STATE_CONNECT ||
      poplard_client_pending(c) >= POPLAR_OUTPUT_HIGH_WATER)
    return false;
  return c->in.len == sizeof c->in.buf || memchr(c->in.buf, '\n', c->in.len);
}

void poplard_client_pump(PoplarClient *c)
{
  if (c->closing)
    return;
  for (;;) {
    while (can_produce(c)) {
      if (c->out.fill) {
        if (c->out.fill(c)) {
          c->out.fill = NULL;
          c->out.fill_below = 0;
        }
      } else {
        process_one_line(c);
      }
      if (c->closing)
        return;
    }
    if (!client_flush(c)) {
      poplard_client_close(c, POPLAR_DISCONNECT_CLIENT_CLOSED);
      return;
    }
    if (c->conn.stls_pending && poplard_client_pending(c) == 0) {
      poplard_client_tls_begin(c);
      return;
    }
    /* GnuTLS may hold decrypted input the socket no longer signals. */
    if (poplard_client_wants_input(c) && poplard_transport_input_buffered(c)) {
      poplard_client_read(c);
      continue;
    }
    /* Sending may have made room for more of a streamed reply or for the
     * replies of commands the client pipelined. */
    if (!can_produce(c))
      break;
  }
  if (c->out.close_after_flush && poplard_client_pending(c) == 0 &&
      !c->job.pending && !c->delay.then) {
    poplard_client_close(c, c->reason);
    return;
  }
  if (c->in.eof && !c->job.pending && !c->out.fill) {
    /* The client is gone; whatever it pipelined before leaving has been
     * answered as far as it could be. */
    poplard_client_close(c, POPLAR_DISCONNECT_CLIENT_CLOSED);
    return;
  }
  if (!c->job.pending && !c->out.fill && poplard_client_pending(c) == 0)
    poplard_out_queue_trim(&c->out.queue); /* idle: keep no stream blocks */
  poplard_client_update_watch(c);
}

bool poplard_client_plaintext_ok(const PoplarClient *c)
{
  return c->session.tls || c->session.trusted;
}

void poplard_client_connected(PoplarClient *c)
{
  if (c->conn.implicit_tls) {
    poplard_client_tls_begin(c);
    return;
  }
  poplard_pop3_greet(c);
}

static void on_io(void *ctx, uint32_t events)
{
  PoplarClient *c = ctx;
  if (c->closing)
    return;
  if (events & EPOLLERR) {
    poplard_client_close(c, POPLAR_DISCONNECT_CLIENT_CLOSED);
    return;
  }
  if (c->conn.proxy_pending) {
    poplard_client_proxy_step(c);
    return;
  }
  if (c->conn.handshaking) {
    poplard_client_tls_handshake_step(c);
    return;
  }
  if ((events & (EPOLLIN | EPOLLHUP)) == EPOLLIN &&
      !poplard_client_wants_input(c)) {
    /* Still watched only to spare epoll_ctl calls (update_watch()). */
    c->conn.input_unwanted = true;
    events &= ~(uint32_t)EPOLLIN;
  }
  if (events & (EPOLLIN | EPOLLHUP))
    poplard_client_read(c);
  if (events & EPOLLOUT)
    c->out.await_writable = false;
  poplard_client_pump(c);
}

/* ---- timers ------------------------------------------------------------ */

void poplard_client_arm_idle_timer(PoplarClient *c)
{
  int64_t timeout = (int64_t)c->server->cfg.idle_timeout_ms * 1000;
  poplard_loop_timer_arm(c->loop, &c->timer, c->last_activity + timeout);
}

static void on_timer(void *ctx)
{
  PoplarClient *c = ctx;
  if (c->closing)
    return;
  if (c->conn.proxy_pending) {
    poplarpriv_log(c->session.id, POPLAR_LOG_INFO,
                   "no PROXY header from %s in time: disconnecting",
                   c->session.remote_address);
    poplard_client_close(c, POPLAR_DISCONNECT_TIMEOUT);
    return;
  }
  if (c->conn.handshaking) {
    poplarpriv_log(c->session.id, POPLAR_LOG_INFO,
                   "TLS handshake timed out: disconnecting");
    poplard_client_close(c, POPLAR_DISCONNECT_TIMEOUT);
    return;
  }
  if (c->delay.then) {
    PoplarJobDone then = c->delay.then;
    c->delay.then = NULL;
    c->last_activity = poplard_loop_now(c->loop);
    poplard_client_arm_idle_timer(c);
    then(c);
    poplard_client_pump(c);
    return;
  }
  int64_t timeout = (int64_t)c->server->cfg.idle_timeout_ms * 1000;
  int64_t now = poplard_loop_now(c->loop);
  if (c->job.pending || now < c->last_activity + timeout) {
    /* A plugin call is not the client idling. */
    if (c->job.pending)
      c->last_activity = now;
    poplard_client_arm_idle_timer(c);
    return;
  }
  poplarpriv_log(c->session.id, POPLAR_LOG_INFO,
                 "idle for %llu s: disconnecting",
                 (unsigned long long)(timeout / G_USEC_PER_SEC));
  /* RFC 1939 section 3: an autologout timer ends the session without
   * entering the UPDATE state, so nothing is deleted. */
  poplard_client_reply(c, "-ERR Idle timeout, closing connection");
  client_flush(c);
  poplard_client_close(c, POPLAR_DISCONNECT_TIMEOUT);
}

void poplard_client_delay_then(PoplarClient *c, uint64_t delay_ms,
                              PoplarJobDone then)
{
  if (delay_ms == 0) {
    then(c);
    return;
  }
  c->delay.then = then;
  poplard_loop_timer_arm(c->loop, &c->timer,
                        poplard_loop_now(c->loop) + (int64_t)delay_ms * 1000);
}

static void send_delayed_reply(PoplarClient *c)
{
  poplard_client_reply(c, c->delay.reply);
  g_clear_pointer(&c->delay.reply, g_free);
  if (c->delay.logout_after)
    poplard_client_logout(c, POPLAR_DISCONNECT_ERROR);
}

void poplard_client_delay(PoplarClient *c, uint64_t delay_ms, char *reply,
                         bool then_logout)
{
  g_free(c->delay.reply);
  c->delay.reply = reply;
  c->delay.logout_after = then_logout;
  poplard_client_delay_then(c, delay_ms, send_delayed_reply);
}

/* ---- plugin jobs ------------------------------------------------------- */

static void job_finished(void *data)
{
  PoplarClient *c = data;
  c->job.pending = false;
  PoplarJobDone done = c->job.done;
  c->job.work = NULL;
  c->job.done = NULL;
  c->last_activity = poplard_loop_now(c->loop);
  if (c->job.final) {
    done(c);
    return;
  }
  if (c->closing) {
    /* The connection went away during the call: finish tearing down. */
    poplard_session_end(c);
    return;
  }
  if (done)
    done(c);
  poplard_client_pump(c);
}

void poplard_client_job_thread(gpointer data, gpointer user_data)
{
  PoplarClient *c = data;
  (void)user_data;
  c->job.work(c);
  poplard_loop_invoke(c->loop, job_finished, c);
}

void poplard_client_run_job(PoplarClient *c, PoplarJobFunc work,
                           PoplarJobDone done)
{
  g_assert(!c->job.pending);
  c->job.pending = true;
  c->job.work = work;
  c->job.done = done;
  if (!poplard_pool_push(c->server->pool, c)) {
    /* Only fails when no thread runs and none can be created: run it here
     * rather than lose the session's state. */
    poplarpriv_log(c->session.id, POPLAR_LOG_ERROR,
                   "plugin pool: cannot start a thread: %s; running the "
                   "call on the loop",
                   g_strerror(errno));
    work(c);
    poplard_loop_invoke(c->loop, job_finished, c);
  }
}

static void hooks_work(PoplarClient *c)
{
  PoplarVerdict v =
      poplard_hooks_run(c->server->registry, &c->session, c->job.hook_point,
                        &c->job.hook_args, &c->job.reply);
  c->job.ok = v == POPLAR_CONTINUE;
  c->job.disconnect = v == POPLAR_DISCONNECT;
}

bool poplard_client_run_hooks(PoplarClient *c, PoplarHookPoint point,
                              const PoplarHookArgs *args, PoplarJobDone done)
{
  g_clear_pointer(&c->job.reply, g_free);
  c->job.hook_point = point;
  c->job.hook_args = *args;
  c->job.ok = true;
  c->job.disconnect = false;
  if (!poplard_hooks_present(c->server->registry, point)) {
    done(c);
    return false;
  }
  poplard_client_run_job(c, hooks_work, done);
  return true;
}

void poplard_client_run_final_job(PoplarClient *c, PoplarJobFunc work,
                                 PoplarJobDone done)
{
  c->job.final = true;
  poplard_client_run_job(c, work, done);
}

/* ---- closing ----------------------------------------------------------- */

void poplard_client_logout(PoplarClient *c, PoplarDisconnectReason reason)
{
  c->reason = reason;
  c->out.close_after_flush = true;
  if (c->state != POPLAR_STATE_LOGOUT)
    poplard_client_enter_state(c, POPLAR_STATE_LOGOUT);
}

void poplard_client_close(PoplarClient *c, PoplarDisconnectReason reason)
{
  if (c->closing)
    return;
  c->closing = true;
  c->reason = reason;
  poplard_loop_watch_remove(c->loop, &c->conn.watch);
  poplard_loop_timer_cancel(c->loop, &c->timer);
  if (c->conn.tls && !c->conn.handshaking)
    gnutls_bye(c->conn.tls, GNUTLS_SHUT_WR); /* best effort, never waits */
  close(c->conn.fd);
  c->conn.fd = -1;
  if (!c->job.pending)
    poplard_session_end(c);
  /* else job_finished() ends the session when the call returns */
}

/* ---- creation ---------------------------------------------------------- */

void poplard_address_text(const struct sockaddr *sa, char *buf, size_t size,
                          unsigned *port)
{
  buf[0] = '\0';
  *port = 0;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &in->sin_addr, buf, (socklen_t)size);
    *port = ntohs(in->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
      inet_ntop(AF_INET, in6->sin6_addr.s6_addr + 12, buf, (socklen_t)size);
    else
      inet_ntop(AF_INET6, &in6->sin6_addr, buf, (socklen_t)size);
    *port = ntohs(in6->sin6_port);
  }
}

void poplard_client_close_all(void *data)
{
  PoplarLoopClients *list = data;
  for (PoplarClient *c = list->head; c; c = c->next)
    poplard_client_close(c, POPLAR_DISCONNECT_SHUTDOWN);
  poplard_relay_close_all(list);
  poplard_backend_relay_close_all(list);
}

void poplard_client_unlink(PoplarClient *c)
{
  if (c->prev)
    c->prev->next = c->next;
  else
    c->siblings->head = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->prev = c->next = NULL;
}

PoplarClient *poplard_client_alloc(PoplarServer *server, unsigned loop_index,
                                   int fd)
{
  PoplarLoop *loop = server->loops[loop_index];
  PoplarClient *c = g_new0(PoplarClient, 1);
  c->server = server;
  c->loop = loop;
  c->siblings = &server->loop_clients[loop_index];
  c->next = c->siblings->head;
  if (c->next)
    c->next->prev = c;
  c->siblings->head = c;
  c->conn.fd = fd;
  c->handoff.lifeline_fd = -1;
  c->last_activity = poplard_loop_now(loop);
  g_atomic_int_inc(&server->live_sessions);
  poplard_watch_init(&c->conn.watch, fd, on_io, c);
  poplard_timer_init(&c->timer, on_timer, c);
  poplard_client_arm_idle_timer(c);
  return c;
}

void poplard_client_detach(PoplarClient *c)
{
  g_assert(!c->closing && !c->job.pending);
  poplard_loop_watch_remove(c->loop, &c->conn.watch);
  poplard_loop_timer_cancel(c->loop, &c->timer);
  c->handoff.done = true;
  c->closing = true;
  c->reason = POPLAR_DISCONNECT_QUIT;
  poplard_session_end(c);
}

void poplard_client_create(PoplarServer *server, unsigned loop_index, int fd,
                          bool implicit_tls, const struct sockaddr *remote,
                          socklen_t rlen, const char *listener,
                          const char *local_host, unsigned local_port)
{
  PoplarLoop *loop = server->loops[loop_index];
  (void)rlen;
  char addr[48];
  unsigned port;
  poplard_address_text(remote, addr, sizeof addr, &port);
  bool proxied = server->cfg.proxy_protocol;
  if (proxied && !poplard_netlist_contains(server->cfg.trusted_proxies,
                                          remote)) {
    /* Anyone else could claim to be any client address. */
    poplarpriv_log(NULL, POPLAR_LOG_WARNING,
                   "connection from %s refused: not in trusted-proxies, "
                   "and this server expects PROXY headers", addr);
    close(fd);
    return;
  }
  bool per_address = false;
  /* Behind a proxy the limits apply to the client address in the header,
   * counted once it is read. */
  if (!proxied &&
      !poplard_conn_limits_enter(server->limits, addr, &per_address)) {
    static const char busy_ip[] =
        "-ERR [SYS/TEMP] Too many connections from your address\r\n";
    static const char busy[] = "-ERR [SYS/TEMP] Server busy, try later\r\n";
    const char *msg = per_address ? busy_ip : busy;
    ssize_t ignored = send(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)ignored;
    close(fd);
    poplarpriv_log(NULL, POPLAR_LOG_WARNING,
                   "connection from %s refused: %s", addr,
                   per_address ? "max-connections-per-ip reached"
                               : "max-connections reached");
    return;
  }

  PoplarClient *c = poplard_client_alloc(server, loop_index, fd);
  g_strlcpy(c->conn.limits_key, addr, sizeof c->conn.limits_key);
  g_strlcpy(c->conn.listener, listener, sizeof c->conn.listener);
  c->conn.counted = !proxied;
  c->conn.proxy_pending = proxied;
  poplard_server_next_session_id(server, c->session.id, sizeof c->session.id);
  g_strlcpy(c->session.remote_address, addr,
            sizeof c->session.remote_address);
  c->session.remote_port = port;
  if (local_host) {
    g_strlcpy(c->session.local_address, local_host,
              sizeof c->session.local_address);
    c->session.local_port = local_port;
  } else {
    struct sockaddr_storage local;
    socklen_t llen = sizeof local;
    if (getsockname(fd, (struct sockaddr *)&local, &llen) == 0)
      poplard_address_text((struct sockaddr *)&local,
                           c->session.local_address,
                           sizeof c->session.local_address,
                           &c->session.local_port);
  }
  c->session.trusted = poplard_netlist_contains(server->cfg.trusted, remote);
  c->session.start_time = g_get_real_time();
  c->state = POPLAR_STATE_CONNECT;
  c->conn.implicit_tls = implicit_tls;
  poplard_stats_connection(c, true);
  if (proxied) {
    poplard_loop_timer_arm(
        loop, &c->timer,
        c->last_activity + (int64_t)server->cfg.tls.handshake_timeout_ms * 1000);
    poplard_client_update_watch(c);
    return;
  }
  poplarpriv_log(c->session.id, POPLAR_LOG_INFO, "connect from %s port %u%s",
                 addr, port, c->session.trusted ? " (trusted)" : "");
  poplard_pop3_start(c);
}
