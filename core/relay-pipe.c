/* SPDX-License-Identifier: MIT */
#include "relay-pipe.h"

#include <errno.h>
#include <glib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* One TLS record at most per send. */
#define RELAY_RECORD_MAX 16384

/* > 0 octets, 0 end of data, -1 nothing now, -2 error (*fail set). */
static ssize_t end_recv(PoplarRelayEnd *e, char *buf, size_t len,
                        const char **fail)
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
static ssize_t end_send(PoplarRelayEnd *e, const char *buf, size_t len,
                        const char **fail)
{
  if (e->tls) {
    /* After EAGAIN GnuTLS holds the record it built: finish that one. */
    ssize_t n = e->send_retry
                    ? gnutls_record_send(e->tls, NULL, 0)
                    : gnutls_record_send(e->tls, buf,
                                         MIN(len, (size_t)RELAY_RECORD_MAX));
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
static void end_shutdown(PoplarRelayEnd *e)
{
  if (e->shut)
    return;
  e->shut = true;
  if (e->tls)
    gnutls_bye(e->tls, GNUTLS_SHUT_WR);
  shutdown(e->fd, SHUT_WR);
}

static bool tls_buffered(const PoplarRelayEnd *e)
{
  return e->tls && gnutls_record_check_pending(e->tls) > 0;
}

bool poplard_relay_move(PoplarRelayEnd *from, PoplarRelayEnd *to,
                        PoplarRelayBuffer *buf, const char **fail)
{
  bool moved = false;
  if (buf->off == buf->len)
    buf->off = buf->len = 0;
  /* GnuTLS may hold decrypted octets that epoll no longer signals: read
   * until it holds none, the buffer is full or nothing comes. */
  while (!from->eof && buf->len < buf->cap) {
    ssize_t n = end_recv(from, buf->data + buf->len, buf->cap - buf->len,
                         fail);
    if (n == -2)
      return false;
    if (n == -1)
      break;
    moved = true;
    if (n == 0) {
      from->eof = true;
      break;
    }
    buf->len += (size_t)n;
    if (!tls_buffered(from))
      break;
  }
  if (buf->off < buf->len || to->send_retry) {
    ssize_t n = end_send(to, buf->data + buf->off, buf->len - buf->off, fail);
    if (n == -2)
      return false;
    if (n > 0) {
      buf->off += (size_t)n;
      buf->count += (uint64_t)n;
      moved = true;
    }
  }
  if (from->eof && poplard_relay_drained(to, buf))
    end_shutdown(to);
  return moved;
}

bool poplard_relay_drained(const PoplarRelayEnd *to,
                           const PoplarRelayBuffer *buf)
{
  return buf->off == buf->len && !to->send_retry;
}

static uint32_t events_of(const PoplarRelayEnd *e,
                          const PoplarRelayBuffer *reads_into,
                          const PoplarRelayBuffer *sends_from)
{
  uint32_t events = 0;
  if (!e->eof && reads_into->len < reads_into->cap)
    events |= EPOLLIN;
  if (sends_from->off < sends_from->len || e->send_retry)
    events |= EPOLLOUT;
  return events;
}

void poplard_relay_watch(PoplarLoop *loop, PoplarRelayEnd *a,
                         PoplarRelayEnd *b, PoplarRelayBuffer *ab,
                         PoplarRelayBuffer *ba)
{
  poplard_loop_watch_set(loop, &a->watch, events_of(a, ab, ba));
  poplard_loop_watch_set(loop, &b->watch, events_of(b, ba, ab));
}

void poplard_relay_end_close(PoplarLoop *loop, PoplarRelayEnd *e)
{
  poplard_loop_watch_remove(loop, &e->watch);
  if (e->tls) {
    if (!e->eof && !e->shut)
      gnutls_bye(e->tls, GNUTLS_SHUT_WR); /* best effort, never waits */
    gnutls_deinit(e->tls);
  }
  close(e->fd);
}
