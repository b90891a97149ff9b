/* SPDX-License-Identifier: MIT */
/*
 * The PROXY protocol header (v1 or v2) that a load balancer sends before
 * anything else: read without taking an octet beyond it, then the session
 * starts with the client's address from it, counted in the connection
 * limits under that address.
 */
#include "client-internal.h"

#include <errno.h>
#include <string.h>

#include "pop3-commands.h"
#include "proxy-protocol.h"

static void proxy_apply(PoplarClient *c, const PoplarProxyInfo *info)
{
  PoplarSession *s = &c->session;
  char proxy[48];
  g_strlcpy(proxy, s->remote_address, sizeof proxy);
  if (!info->local) {
    poplard_address_text((const struct sockaddr *)&info->source,
                         s->remote_address, sizeof s->remote_address,
                         &s->remote_port);
    poplard_address_text((const struct sockaddr *)&info->destination,
                         s->local_address, sizeof s->local_address,
                         &s->local_port);
    s->trusted = poplard_netlist_contains(
        c->server->cfg.trusted, (const struct sockaddr *)&info->source);
  }
  g_strlcpy(c->conn.limits_key, s->remote_address, sizeof c->conn.limits_key);
  bool per_address = false;
  if (!poplard_conn_limits_enter(c->server->limits, c->conn.limits_key,
                                &per_address)) {
    poplarpriv_log(s->id, POPLAR_LOG_WARNING,
                   "connection from %s (via %s) refused: %s",
                   c->conn.limits_key, proxy,
                   per_address ? "max-connections-per-ip reached"
                               : "max-connections reached");
    poplard_client_close(c, POPLAR_DISCONNECT_ERROR);
    return;
  }
  c->conn.counted = true;
  c->conn.proxy_pending = false;
  c->in.len = 0;
  c->last_activity = poplard_loop_now(c->loop);
  poplard_client_arm_idle_timer(c);
  poplarpriv_log(s->id, POPLAR_LOG_INFO, "connect from %s port %u via %s%s%s",
                 s->remote_address, s->remote_port, proxy,
                 info->local ? " (PROXY LOCAL)" : "",
                 s->trusted ? " (trusted)" : "");
  poplard_pop3_start(c);
}

/* Reads the header without taking a single octet beyond it: with implicit
 * TLS the client's handshake follows at once and belongs to GnuTLS. */
void poplard_client_proxy_step(PoplarClient *c)
{
  while (c->conn.proxy_skip > 0) {
    char scratch[4096];
    ssize_t n = recv(c->conn.fd, scratch,
                     MIN(sizeof scratch, c->conn.proxy_skip), 0);
    if (n > 0) {
      c->conn.proxy_skip -= (size_t)n;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      return;
    poplard_client_close(c, POPLAR_DISCONNECT_CLIENT_CLOSED);
    return;
  }
  if (c->conn.proxy_info) { /* header complete, only TLVs were left */
    PoplarProxyInfo info = *c->conn.proxy_info;
    g_clear_pointer(&c->conn.proxy_info, g_free);
    proxy_apply(c, &info);
    return;
  }
  unsigned char buf[sizeof c->in.buf];
  size_t have = c->in.len;
  memcpy(buf, c->in.buf, have);
  ssize_t n = recv(c->conn.fd, buf + have, sizeof buf - have, MSG_PEEK);
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
  ssize_t got = recv(c->conn.fd, c->in.buf + have, take, 0);
  if (got != (ssize_t)take) {
    poplard_client_close(c, POPLAR_DISCONNECT_ERROR);
    return;
  }
  c->in.len = have + take;
  if (r == POPLAR_PROXY_INCOMPLETE)
    return;
  c->conn.proxy_skip = info.header_len - c->in.len;
  if (c->conn.proxy_skip == 0) {
    proxy_apply(c, &info);
    return;
  }
  /* TLVs still to come: keep the parsed addresses until they are gone. */
  c->conn.proxy_info = g_memdup2(&info, sizeof info);
  poplard_client_proxy_step(c);
}
