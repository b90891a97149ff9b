/* SPDX-License-Identifier: MIT */
/*
 * Connection life cycle and socket I/O.  The rule that keeps this simple:
 * poplard_client_pump() is the only place that decides what happens next
 * (process a command, stream more output, wait), and it is called after
 * every event.  A client is freed only by a deferred call on its loop, so
 * no event of the same epoll batch can see a freed client.
 */
#include "client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "hooks.h"
#include "proxy-protocol.h"
#include "tls.h"
#include "pop3-commands.h"
#include "session-end.h"
#include "session-relay.h"

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
  poplard_out_queue_append(&c->out, data, len);
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
  poplard_out_queue_append(&c->out, buf, len + 2);
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

/* ---- transport: plain socket or TLS, with send()/recv() conventions
 * (-1 and errno EAGAIN, EINTR or a real error) ---------------------------- */

static ssize_t transport_recv(PoplarClient *c, void *buf, size_t len)
{
  if (!c->tls)
    return recv(c->fd, buf, len, 0);
  ssize_t n = gnutls_record_recv(c->tls, buf, len);
  if (n >= 0)
    return n;
  if (n == GNUTLS_E_AGAIN)
    errno = EAGAIN;
  else if (n == GNUTLS_E_INTERRUPTED)
    errno = EINTR;
  else if (n == GNUTLS_E_PREMATURE_TERMINATION)
    return 0; /* closed without close_notify: as good as EOF for POP3 */
  else {
    poplarpriv_log(c->session.id, POPLAR_LOG_INFO, "TLS receive: %s",
                   gnutls_strerror((int)n));
    errno = ECONNRESET;
  }
  return -1;
}

static ssize_t transport_send(PoplarClient *c, const void *buf, size_t len)
{
  if (!c->tls)
    return send(c->fd, buf, len, MSG_NOSIGNAL);
  /* After EAGAIN GnuTLS holds the record it built: finish sending that
   * one (NULL, 0) before handing it new data. */
  ssize_t n = c->tls_send_retry ? gnutls_record_send(c->tls, NULL, 0)
                                : gnutls_record_send(c->tls, buf, len);
  if (n >= 0) {
    c->tls_send_retry = false;
    return n;
  }
  if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
    c->tls_send_retry = true;
    errno = n == GNUTLS_E_AGAIN ? EAGAIN : EINTR;
    return -1;
  }
  errno = EPIPE;
  return -1;
}

/* Pieces of the queue handed to the kernel in one call: enough for a
 * reply line, a message's blocks and the next reply. */
#define FLUSH_IOV_MAX 16

/* Sends as much as the socket takes.  Plain connections pass several
 * blocks per call; GnuTLS takes one record's worth at a time anyway.
 * Returns the octets sent, or -1 (errno set) when nothing could be. */
static ssize_t transport_send_queue(PoplarClient *c)
{
  struct iovec iov[FLUSH_IOV_MAX];
  if (c->tls) {
    size_t n = poplard_out_queue_peek(&c->out, iov, 1);
    g_assert(n == 1);
    return transport_send(c, iov[0].iov_base, iov[0].iov_len);
  }
  struct msghdr mh = {.msg_iov = iov,
                      .msg_iovlen = poplard_out_queue_peek(&c->out, iov,
                                                          FLUSH_IOV_MAX)};
  return sendmsg(c->fd, &mh, MSG_NOSIGNAL);
}

/* Returns false when the connection failed. */
static bool client_flush(PoplarClient *c)
{
  if (c->handshaking)
    return true;
  while (c->out.pending > 0) {
    ssize_t n = transport_send_queue(c);
    if (n > 0) {
      poplard_out_queue_advance(&c->out, (size_t)n);
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

static bool wants_input(const PoplarClient *c)
{
  return !c->eof && !c->job_pending && !c->delayed_then && !c->fill &&
         !c->close_after_flush && !c->stls_pending && !c->handshaking &&
         c->state != POPLAR_STATE_CONNECT &&
         poplard_client_pending(c) < POPLAR_OUTPUT_HIGH_WATER &&
         c->in_len < sizeof c->in;
}

static void update_watch(PoplarClient *c)
{
  uint32_t ev = 0;
  if (c->proxy_pending) {
    if (!poplard_loop_watch_set(c->loop, &c->watch, EPOLLIN))
      poplard_client_close(c, POPLAR_DISCONNECT_ERROR);
    return;
  }
  if (c->handshaking) {
    ev = gnutls_record_get_direction(c->tls) ? EPOLLOUT : EPOLLIN;
    if (!poplard_loop_watch_set(c->loop, &c->watch, ev))
      poplard_client_close(c, POPLAR_DISCONNECT_ERROR);
    return;
  }
  if (wants_input(c))
    ev |= EPOLLIN;
  if (poplard_client_pending(c) > 0)
    ev |= EPOLLOUT;
  if (!poplard_loop_watch_set(c->loop, &c->watch, ev))
    poplard_client_close(c, POPLAR_DISCONNECT_ERROR);
}

/* Reads what the socket has.  Returns false on EOF or error. */
static bool client_read(PoplarClient *c)
{
  for (;;) {
    size_t room = sizeof c->in - c->in_len;
    if (room == 0)
      return true;
    ssize_t n = transport_recv(c, c->in + c->in_len, room);
    if (n > 0) {
      c->in_len += (size_t)n;
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
    c->eof = true;
    return false;
  }
}

/* Takes one complete line from the input buffer and runs it.  Returns
 * false when no complete line is buffered. */
static bool process_one_line(PoplarClient *c)
{
  char *nl = memchr(c->in, '\n', c->in_len);
  if (!nl) {
    if (c->in_len == sizeof c->in) {
      /* No line end in a full buffer: the line is far too long.  Drop
       * what we have and the rest of the line when it comes. */
      c->in_len = 0;
      if (!c->in_discarding) {
        c->in_discarding = true;
        poplard_pop3_line_too_long(c);
      }
    }
    return false;
  }
  size_t consumed = (size_t)(nl - c->in) + 1;
  size_t len = consumed - 1;
  c->last_activity = poplard_loop_now(c->loop);
  if (len > 0 && c->in[len - 1] == '\r')
    len--;
  /* RFC 5034 4: SASL responses are not bound by the 255-octet command
   * limit; the input buffer bounds them. */
  size_t max = c->sasl ? sizeof c->in : POPLAR_COMMAND_LINE_MAX;
  if (c->in_discarding) {
    c->in_discarding = false;
  } else if (consumed > max) {
    poplard_pop3_line_too_long(c);
  } else {
    char line[sizeof c->in + 1];
    memcpy(line, c->in, len);
    line[len] = '\0';
    /* The copy is the only place a password passes through: wiped below. */
    memmove(c->in, c->in + consumed, c->in_len - consumed);
    c->in_len -= consumed;
    poplard_pop3_dispatch(c, line, len);
    explicit_bzero(line, sizeof line);
    return true;
  }
  memmove(c->in, c->in + consumed, c->in_len - consumed);
  c->in_len -= consumed;
  return true;
}

static void tls_begin(PoplarClient *c);
static void arm_idle_timer(PoplarClient *c);
static void address_text(const struct sockaddr *sa, char *buf, size_t size,
                         unsigned *port);

/* True when the session can make progress without waiting for the socket,
 * a plugin call or a timer: stream more of a reply, or run a buffered
 * command. */
static bool can_produce(const PoplarClient *c)
{
  if (c->closing || c->job_pending || c->delayed_then || c->close_after_flush ||
      c->stls_pending || c->handshaking)
    return false;
  if (c->fill)
    return poplard_client_pending(c) <
           (c->fill_below ? c->fill_below : POPLAR_OUTPUT_LOW_WATER);
  if (c->state == POPLAR_STATE_CONNECT ||
      poplard_client_pending(c) >= POPLAR_OUTPUT_HIGH_WATER)
    return false;
  return c->in_len == sizeof c->in || memchr(c->in, '\n', c->in_len);
}

void poplard_client_pump(PoplarClient *c)
{
  if (c->closing)
    return;
  for (;;) {
    while (can_produce(c)) {
      if (c->fill) {
        if (c->fill(c)) {
          c->fill = NULL;
          c->fill_below = 0;
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
    if (c->stls_pending && poplard_client_pending(c) == 0) {
      tls_begin(c);
      return;
    }
    /* GnuTLS may hold decrypted input the socket no longer signals. */
    if (c->tls && wants_input(c) && gnutls_record_check_pending(c->tls) > 0) {
      client_read(c);
      continue;
    }
    /* Sending may have made room for more of a streamed reply or for the
     * replies of commands the client pipelined. */
    if (!can_produce(c))
      break;
  }
  if (c->close_after_flush && poplard_client_pending(c) == 0 &&
      !c->job_pending && !c->delayed_then) {
    poplard_client_close(c, c->reason);
    return;
  }
  if (c->eof && !c->job_pending && !c->fill) {
    /* The client is gone; whatever it pipelined before leaving has been
     * answered as far as it could be. */
    poplard_client_close(c, POPLAR_DISCONNECT_CLIENT_CLOSED);
    return;
  }
  if (!c->job_pending && !c->fill && poplard_client_pending(c) == 0)
    poplard_out_queue_trim(&c->out); /* idle: keep no stream blocks */
  update_watch(c);
}

/* ---- TLS: implicit on listen-tls sockets, or after STLS (RFC 2595) ----- */

static void record_tls_info(PoplarClient *c)
{
  PoplarSession *s = &c->session;
  s->tls = true;
  g_free(s->tls_version);
  s->tls_version = g_strdup(
      gnutls_protocol_get_name(gnutls_protocol_get_version(c->tls)));
  g_free(s->tls_cipher);
  s->tls_cipher = g_strdup(gnutls_cipher_get_name(gnutls_cipher_get(c->tls)));
  char sni[256];
  size_t len = sizeof sni;
  unsigned type = 0;
  g_clear_pointer(&s->tls_sni, g_free);
  if (gnutls_server_name_get(c->tls, sni, &len, &type, 0) == 0 &&
      type == GNUTLS_NAME_DNS)
    s->tls_sni = g_strndup(sni, len);
}

static void tls_hooks_work(PoplarClient *c)
{
  PoplarHookArgs args = {0};
  g_free(c->job_reply);
  c->job_reply = NULL;
  PoplarVerdict v = poplard_hooks_run(c->server->registry, &c->session,
                                     POPLAR_HOOK_TLS, &args, &c->job_reply);
  c->job_ok = (v == POPLAR_CONTINUE);
}

static void tls_established(PoplarClient *c)
{
  if (!c->job_ok) {
    /* A refused TLS session ends: the hook's text goes over TLS. */
    poplard_client_reply(c, c->job_reply);
    g_clear_pointer(&c->job_reply, g_free);
    poplard_client_logout(c, POPLAR_DISCONNECT_ERROR);
    return;
  }
  if (c->implicit_tls)
    poplard_pop3_greet(c);
}

static void tls_handshake_step(PoplarClient *c)
{
  int r = gnutls_handshake(c->tls);
  if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED ||
      (r < 0 && !gnutls_error_is_fatal(r))) {
    update_watch(c);
    return;
  }
  if (r < 0) {
    poplarpriv_log(c->session.id, POPLAR_LOG_INFO, "TLS handshake failed: %s",
                   gnutls_strerror(r));
    poplard_client_close(c, POPLAR_DISCONNECT_ERROR);
    return;
  }
  c->handshaking = false;
  record_tls_info(c);
  c->last_activity = poplard_loop_now(c->loop);
  arm_idle_timer(c);
  poplarpriv_log(c->session.id, POPLAR_LOG_INFO, "TLS: %s %s%s%s%s",
                 c->session.tls_version, c->session.tls_cipher,
                 c->session.tls_sni ? " SNI " : "",
                 c->session.tls_sni ? c->session.tls_sni : "",
                 gnutls_session_is_resumed(c->tls) ? " (resumed)" : "");
  c->job_ok = true;
  if (poplard_hooks_present(c->server->registry, POPLAR_HOOK_TLS)) {
    poplard_client_run_job(c, tls_hooks_work, tls_established);
    update_watch(c);
    return;
  }
  tls_established(c);
  poplard_client_pump(c);
}

static void tls_begin(PoplarClient *c)
{
  char *error = NULL;
  c->stls_pending = false;
  c->tls_ctx = poplard_server_tls(c->server);
  if (!c->tls_ctx ||
      !poplard_tls_session_new(c->tls_ctx, c->fd, &c->tls, &error)) {
    poplarpriv_log(c->session.id, POPLAR_LOG_ERROR, "cannot start TLS: %s",
                   error ? error : "TLS is not configured");
    g_free(error);
    poplard_client_close(c, POPLAR_DISCONNECT_ERROR);
    return;
  }
  c->handshaking = true;
  uint64_t timeout_ms = c->server->cfg.tls.handshake_timeout_ms;
  poplard_loop_timer_arm(c->loop, &c->timer,
                        poplard_loop_now(c->loop) + (int64_t)timeout_ms * 1000);
  tls_handshake_step(c);
}

void poplard_client_start_tls(PoplarClient *c)
{
  /* Whatever the client sent behind STLS was sent in plaintext and must
   * never be executed under TLS (CVE-2011-0411 and its many relatives). */
  c->in_len = 0;
  c->in_discarding = false;
  c->stls_pending = true;
  g_clear_pointer(&c->user_arg, g_free);
}

bool poplard_client_plaintext_ok(const PoplarClient *c)
{
  return c->session.tls || c->session.trusted;
}

void poplard_client_connected(PoplarClient *c)
{
  if (c->implicit_tls) {
    tls_begin(c);
    return;
  }
  poplard_pop3_greet(c);
}

/* ---- PROXY protocol: the load balancer's header before anything else --- */

static void proxy_apply(PoplarClient *c, const PoplarProxyInfo *info)
{
  PoplarSession *s = &c->session;
  char proxy[48];
  g_strlcpy(proxy, s->remote_address, sizeof proxy);
  if (!info->local) {
    address_text((const struct sockaddr *)&info->source, s->remote_address,
                 sizeof s->remote_address, &s->remote_port);
    address_text((const struct sockaddr *)&info->destination,
                 s->local_address, sizeof s->local_address, &s->local_port);
    s->trusted = poplard_netlist_contains(
        c->server->cfg.trusted, (const struct sockaddr *)&info->source);
  }
  g_strlcpy(c->limits_key, s->remote_address, sizeof c->limits_key);
  bool per_address = false;
  if (!poplard_conn_limits_enter(c->server->limits, c->limits_key,
                                &per_address)) {
    poplarpriv_log(s->id, POPLAR_LOG_WARNING,
                   "connection from %s (via %s) refused: %s", c->limits_key,
                   proxy, per_address ? "max-connections-per-ip reached"
                                      : "max-connections reached");
    poplard_client_close(c, POPLAR_DISCONNECT_ERROR);
    return;
  }
  c->counted = true;
  c->proxy_pending = false;
  c->in_len = 0;
  c->last_activity = poplard_loop_now(c->loop);
  arm_idle_timer(c);
  poplarpriv_log(s->id, POPLAR_LOG_INFO, "connect from %s port %u via %s%s%s",
                 s->remote_address, s->remote_port, proxy,
                 info->local ? " (PROXY LOCAL)" : "",
                 s->trusted ? " (trusted)" : "");
  poplard_pop3_start(c);
}

/* Reads the header without taking a single octet beyond it: with implicit
 * TLS the client's handshake follows at once and belongs to GnuTLS. */
static void proxy_step(PoplarClient *c)
{
  while (c->proxy_skip > 0) {
    char scratch[4096];
    ssize_t n = recv(c->fd, scratch, MIN(sizeof scratch, c->proxy_skip), 0);
    if (n > 0) {
      c->proxy_skip -= (size_t)n;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      return;
    poplard_client_close(c, POPLAR_DISCONNECT_CLIENT_CLOSED);
    return;
  }
  if (c->proxy_info) { /* header complete, only TLVs were left */
    PoplarProxyInfo info = *c->proxy_info;
    g_clear_pointer(&c->proxy_info, g_free);
    proxy_apply(c, &info);
    return;
  }
  unsigned char buf[sizeof c->in];
  size_t have = c->in_len;
  memcpy(buf, c->in, have);
  ssize_t n = recv(c->fd, buf + have, sizeof buf - have, MSG_PEEK);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0) {
    poplard_client_close(c, POPLAR_DISCONNECT_CLIENT_CLOSED);
    return;
  }
  PoplarProxyInfo info;
  const char *why = NULL;
  size_t total = have + (size_t)n;
  PoplarProxyResult r = poplard_proxy_parse(buf, total, &info, &why);
  if (r == POPLAR_PROXY_INCOMPLETE && total == sizeof buf) {
    r = POPLAR_PROXY_INVALID;
    why = "PROXY header too long";
  }
  if (r == POPLAR_PROXY_INVALID) {
    poplarpriv_log(c->session.id, POPLAR_LOG_WARNING,
                   "bad PROXY header from %s: %s", c->session.remote_address,
                   why);
    poplard_client_close(c, POPLAR_DISCONNECT_ERROR);
    return;
  }
  /* Everything peeked is header while it is incomplete; once complete,
   * take exactly the rest of it. */
  size_t take = (size_t)n;
  if (r == POPLAR_PROXY_DONE && info.header_len - have < take)
    take = info.header_len - have;
  ssize_t got = recv(c->fd, c->in + have, take, 0);
  if (got != (ssize_t)take) {
    poplard_client_close(c, POPLAR_DISCONNECT_ERROR);
    return;
  }
  c->in_len = have + take;
  if (r == POPLAR_PROXY_INCOMPLETE)
    return;
  c->proxy_skip = info.header_len - c->in_len;
  if (c->proxy_skip == 0) {
    proxy_apply(c, &info);
    return;
  }
  /* TLVs still to come: keep the parsed addresses until they are gone. */
  c->proxy_info = g_memdup2(&info, sizeof info);
  proxy_step(c);
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
  if (c->proxy_pending) {
    proxy_step(c);
    return;
  }
  if (c->handshaking) {
    tls_handshake_step(c);
    return;
  }
  if (events & (EPOLLIN | EPOLLHUP))
    client_read(c);
  poplard_client_pump(c);
}

/* ---- timers ------------------------------------------------------------ */

static void arm_idle_timer(PoplarClient *c)
{
  int64_t timeout = (int64_t)c->server->cfg.idle_timeout_ms * 1000;
  poplard_loop_timer_arm(c->loop, &c->timer, c->last_activity + timeout);
}

static void on_timer(void *ctx)
{
  PoplarClient *c = ctx;
  if (c->closing)
    return;
  if (c->proxy_pending) {
    poplarpriv_log(c->session.id, POPLAR_LOG_INFO,
                   "no PROXY header from %s in time: disconnecting",
                   c->session.remote_address);
    poplard_client_close(c, POPLAR_DISCONNECT_TIMEOUT);
    return;
  }
  if (c->handshaking) {
    poplarpriv_log(c->session.id, POPLAR_LOG_INFO,
                   "TLS handshake timed out: disconnecting");
    poplard_client_close(c, POPLAR_DISCONNECT_TIMEOUT);
    return;
  }
  if (c->delayed_then) {
    PoplarJobDone then = c->delayed_then;
    c->delayed_then = NULL;
    c->last_activity = poplard_loop_now(c->loop);
    arm_idle_timer(c);
    then(c);
    poplard_client_pump(c);
    return;
  }
  int64_t timeout = (int64_t)c->server->cfg.idle_timeout_ms * 1000;
  int64_t now = poplard_loop_now(c->loop);
  if (c->job_pending || now < c->last_activity + timeout) {
    /* A plugin call is not the client idling. */
    if (c->job_pending)
      c->last_activity = now;
    arm_idle_timer(c);
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
  c->delayed_then = then;
  poplard_loop_timer_arm(c->loop, &c->timer,
                        poplard_loop_now(c->loop) + (int64_t)delay_ms * 1000);
}

static void send_delayed_reply(PoplarClient *c)
{
  poplard_client_reply(c, c->delayed_reply);
  g_clear_pointer(&c->delayed_reply, g_free);
  if (c->logout_after_delay)
    poplard_client_logout(c, POPLAR_DISCONNECT_ERROR);
}

void poplard_client_delay(PoplarClient *c, uint64_t delay_ms, char *reply,
                         bool then_logout)
{
  g_free(c->delayed_reply);
  c->delayed_reply = reply;
  c->logout_after_delay = then_logout;
  poplard_client_delay_then(c, delay_ms, send_delayed_reply);
}

/* ---- plugin jobs ------------------------------------------------------- */

static void job_finished(void *data)
{
  PoplarClient *c = data;
  c->job_pending = false;
  PoplarJobDone done = c->job_done;
  c->job_work = NULL;
  c->job_done = NULL;
  c->last_activity = poplard_loop_now(c->loop);
  if (c->final_job) {
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
  c->job_work(c);
  poplard_loop_invoke(c->loop, job_finished, c);
}

void poplard_client_run_job(PoplarClient *c, PoplarJobFunc work,
                           PoplarJobDone done)
{
  g_assert(!c->job_pending);
  c->job_pending = true;
  c->job_work = work;
  c->job_done = done;
  GError *error = NULL;
  if (!g_thread_pool_push(c->server->pool, c, &error)) {
    /* Only fails when a new thread cannot be created: run it here rather
     * than lose the session's state. */
    poplarpriv_log(c->session.id, POPLAR_LOG_ERROR,
                   "plugin pool: %s; running the call on the loop",
                   error->message);
    g_error_free(error);
    work(c);
    poplard_loop_invoke(c->loop, job_finished, c);
  }
}

void poplard_client_run_final_job(PoplarClient *c, PoplarJobFunc work,
                                 PoplarJobDone done)
{
  c->final_job = true;
  poplard_client_run_job(c, work, done);
}

/* ---- closing ----------------------------------------------------------- */

void poplard_client_logout(PoplarClient *c, PoplarDisconnectReason reason)
{
  c->reason = reason;
  c->close_after_flush = true;
  if (c->state != POPLAR_STATE_LOGOUT)
    poplard_client_enter_state(c, POPLAR_STATE_LOGOUT);
}

void poplard_client_close(PoplarClient *c, PoplarDisconnectReason reason)
{
  if (c->closing)
    return;
  c->closing = true;
  c->reason = reason;
  poplard_loop_watch_remove(c->loop, &c->watch);
  poplard_loop_timer_cancel(c->loop, &c->timer);
  if (c->tls && !c->handshaking)
    gnutls_bye(c->tls, GNUTLS_SHUT_WR); /* best effort, never waits */
  close(c->fd);
  c->fd = -1;
  if (!c->job_pending)
    poplard_session_end(c);
  /* else job_finished() ends the session when the call returns */
}

/* ---- creation ---------------------------------------------------------- */

static void address_text(const struct sockaddr *sa, char *buf, size_t size,
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
  c->fd = fd;
  c->lifeline_fd = -1;
  c->last_activity = poplard_loop_now(loop);
  g_atomic_int_inc(&server->live_sessions);
  poplard_watch_init(&c->watch, fd, on_io, c);
  poplard_timer_init(&c->timer, on_timer, c);
  arm_idle_timer(c);
  return c;
}

void poplard_client_detach(PoplarClient *c)
{
  g_assert(!c->closing && !c->job_pending);
  poplard_loop_watch_remove(c->loop, &c->watch);
  poplard_loop_timer_cancel(c->loop, &c->timer);
  c->handed_off = true;
  c->closing = true;
  c->reason = POPLAR_DISCONNECT_QUIT;
  poplard_session_end(c);
}

void poplard_client_create(PoplarServer *server, unsigned loop_index, int fd,
                          bool implicit_tls, const struct sockaddr *remote,
                          socklen_t rlen)
{
  PoplarLoop *loop = server->loops[loop_index];
  (void)rlen;
  char addr[48];
  unsigned port;
  address_text(remote, addr, sizeof addr, &port);
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
  g_strlcpy(c->limits_key, addr, sizeof c->limits_key);
  c->counted = !proxied;
  c->proxy_pending = proxied;
  poplard_server_next_session_id(server, c->session.id, sizeof c->session.id);
  g_strlcpy(c->session.remote_address, addr,
            sizeof c->session.remote_address);
  c->session.remote_port = port;
  struct sockaddr_storage local;
  socklen_t llen = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &llen) == 0)
    address_text((struct sockaddr *)&local, c->session.local_address,
                 sizeof c->session.local_address, &c->session.local_port);
  c->session.trusted = poplard_netlist_contains(server->cfg.trusted, remote);
  c->session.start_time = g_get_real_time();
  c->state = POPLAR_STATE_CONNECT;
  c->implicit_tls = implicit_tls;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (proxied) {
    poplard_loop_timer_arm(
        loop, &c->timer,
        c->last_activity + (int64_t)server->cfg.tls.handshake_timeout_ms * 1000);
    update_watch(c);
    return;
  }
  poplarpriv_log(c->session.id, POPLAR_LOG_INFO, "connect from %s port %u%s",
                 addr, port, c->session.trusted ? " (trusted)" : "");
  poplard_pop3_start(c);
}
