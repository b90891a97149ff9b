/* SPDX-License-Identifier: MIT */
/*
 * TLS on a client connection: implicit on listen-tls sockets, or after
 * STLS (RFC 2595); the handshake, what the session learns from it, the tls
 * hooks; and the transport below the client, which reads and writes
 * either the plain socket or GnuTLS's records.
 */
#include "client-internal.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>

#include "hooks.h"
#include "pop3-commands.h"
#include "tls.h"
#include "stats-points.h"

ssize_t poplard_transport_recv(PoplarClient *c, void *buf, size_t len)
{
  if (!c->conn.tls)
    return recv(c->conn.fd, buf, len, 0);
  ssize_t n = gnutls_record_recv(c->conn.tls, buf, len);
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
  if (!c->conn.tls)
    return send(c->conn.fd, buf, len, MSG_NOSIGNAL);
  /* After EAGAIN GnuTLS holds the record it built: finish sending that
   * one (NULL, 0) before handing it new data. */
  ssize_t n = c->conn.tls_send_retry ? gnutls_record_send(c->conn.tls, NULL, 0)
                                : gnutls_record_send(c->conn.tls, buf, len);
  if (n >= 0) {
    c->conn.tls_send_retry = false;
    return n;
  }
  if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
    c->conn.tls_send_retry = true;
    errno = n == GNUTLS_E_AGAIN ? EAGAIN : EINTR;
    return -1;
  }
  errno = EPIPE;
  return -1;
}

/* Pieces of the queue handed to the kernel in one call: enough for a
 * reply line, a message's blocks and the next reply. */
#define FLUSH_IOV_MAX 16

/* Plain connections pass several blocks per call; GnuTLS takes one
 * record's worth at a time anyway. */
ssize_t poplard_transport_send_queue(PoplarClient *c)
{
  struct iovec iov[FLUSH_IOV_MAX];
  if (c->conn.tls) {
    size_t n = poplard_out_queue_peek(&c->out.queue, iov, 1);
    g_assert(n == 1);
    return transport_send(c, iov[0].iov_base, iov[0].iov_len);
  }
  struct msghdr mh = {.msg_iov = iov,
                      .msg_iovlen = poplard_out_queue_peek(&c->out.queue, iov,
                                                          FLUSH_IOV_MAX)};
  return sendmsg(c->conn.fd, &mh, MSG_NOSIGNAL);
}

bool poplard_transport_input_buffered(const PoplarClient *c)
{
  return c->conn.tls && gnutls_record_check_pending(c->conn.tls) > 0;
}

static void record_tls_info(PoplarClient *c)
{
  PoplarSession *s = &c->session;
  s->tls = true;
  g_free(s->tls_version);
  s->tls_version = g_strdup(
      gnutls_protocol_get_name(gnutls_protocol_get_version(c->conn.tls)));
  g_free(s->tls_cipher);
  s->tls_cipher =
      g_strdup(gnutls_cipher_get_name(gnutls_cipher_get(c->conn.tls)));
  char sni[256];
  size_t len = sizeof sni;
  unsigned type = 0;
  g_clear_pointer(&s->tls_sni, g_free);
  if (gnutls_server_name_get(c->conn.tls, sni, &len, &type, 0) == 0 &&
      type == GNUTLS_NAME_DNS)
    s->tls_sni = g_strndup(sni, len);
}

static void tls_established(PoplarClient *c)
{
  if (!c->job.ok) {
    /* A refused TLS session ends: the hook's text goes over TLS. */
    poplard_client_reply(c, c->job.reply);
    g_clear_pointer(&c->job.reply, g_free);
    poplard_client_logout(c, POPLAR_DISCONNECT_ERROR);
    return;
  }
  if (c->conn.implicit_tls)
    poplard_pop3_greet(c);
}

void poplard_client_tls_handshake_step(PoplarClient *c)
{
  int r = gnutls_handshake(c->conn.tls);
  if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED ||
      (r < 0 && !gnutls_error_is_fatal(r))) {
    poplard_client_update_watch(c);
    return;
  }
  if (r < 0) {
    poplarpriv_log(c->session.id, POPLAR_LOG_INFO, "TLS handshake failed: %s",
                   gnutls_strerror(r));
    poplard_stats_tls_handshake(false);
    poplard_client_close(c, POPLAR_DISCONNECT_ERROR);
    return;
  }
  c->conn.handshaking = false;
  poplard_stats_tls_handshake(true);
  record_tls_info(c);
  c->last_activity = poplard_loop_now(c->loop);
  poplard_client_arm_idle_timer(c);
  poplarpriv_log(c->session.id, POPLAR_LOG_INFO, "TLS: %s %s%s%s%s",
                 c->session.tls_version, c->session.tls_cipher,
                 c->session.tls_sni ? " SNI " : "",
                 c->session.tls_sni ? c->session.tls_sni : "",
                 gnutls_session_is_resumed(c->conn.tls) ? " (resumed)" : "");
  PoplarHookArgs args = {0};
  if (poplard_client_run_hooks(c, POPLAR_HOOK_TLS, &args, tls_established))
    poplard_client_update_watch(c);
  else
    poplard_client_pump(c);
}

void poplard_client_tls_begin(PoplarClient *c)
{
  char *error = NULL;
  c->conn.stls_pending = false;
  c->conn.tls_ctx = poplard_server_tls(c->server);
  if (!c->conn.tls_ctx ||
      !poplard_tls_session_new(c->conn.tls_ctx, c->conn.fd, &c->conn.tls,
                               &error)) {
    poplarpriv_log(c->session.id, POPLAR_LOG_ERROR, "cannot start TLS: %s",
                   error ? error : "TLS is not configured");
    g_free(error);
    poplard_client_close(c, POPLAR_DISCONNECT_ERROR);
    return;
  }
  c->conn.handshaking = true;
  uint64_t timeout_ms = c->server->cfg.tls.handshake_timeout_ms;
  poplard_loop_timer_arm(c->loop, &c->timer,
                        poplard_loop_now(c->loop) + (int64_t)timeout_ms * 1000);
  poplard_client_tls_handshake_step(c);
}

uint32_t poplard_client_tls_handshake_events(const PoplarClient *c)
{
  return gnutls_record_get_direction(c->conn.tls) ? EPOLLOUT : EPOLLIN;
}

void poplard_client_start_tls(PoplarClient *c)
{
  /* Whatever the client sent behind STLS was sent in plaintext and must
   * never be executed under TLS (CVE-2011-0411 and its many relatives). */
  c->in.len = 0;
  c->in.discarding = false;
  c->conn.stls_pending = true;
  g_clear_pointer(&c->login.user_arg, g_free);
}
