/* SPDX-License-Identifier: MIT */
/*
 * One client connection: a non-blocking socket, optionally wrapped in
 * GnuTLS, and a POP3 reply parser that streams multi-line bodies without
 * keeping them (only their size is counted).  Edge-triggered epoll: every
 * event drives the connection until the socket would block.
 */
#include "bench.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

static const char terminator[] = ".\r\n";

bool bench_conn_busy(const BenchConn *c)
{
  return c->state != BENCH_CONN_IDLE;
}

static void reset_parser(BenchConn *c)
{
  c->pending_head = c->pending_count = 0;
  c->in_body = false;
  c->status_len = 0;
  c->out_len = c->out_off = 0;
  c->body_bytes = 0;
  c->greeted = false;
}

static void expect(BenchConn *c, BenchReplyKind kind)
{
  if (c->pending_count == BENCH_PENDING_MAX)
    abort(); /* a scenario never has more in flight: a bug */
  c->pending[(c->pending_head + c->pending_count) % BENCH_PENDING_MAX] = kind;
  c->pending_count++;
}

bool bench_conn_start(BenchConn *c)
{
  const BenchOptions *opt = c->worker->run->opt;
  reset_parser(c);
  c->generation++;
  c->step = 0;
  c->resumed = false;
  c->t_start = bench_now_ns();
  c->deadline = c->t_start + (uint64_t)(opt->timeout_s * 1e9);
  c->fd = socket(opt->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                 0);
  if (c->fd < 0) {
    bench_worker_note_error(c->worker, strerror(errno));
    return false;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(c->fd, (const struct sockaddr *)&opt->addr, opt->addr_len) != 0 &&
      errno != EINPROGRESS) {
    char why[128];
    snprintf(why, sizeof why, "connect: %s", strerror(errno));
    close(c->fd);
    c->fd = -1;
    bench_worker_note_error(c->worker, why);
    return false;
  }
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP,
                           .data.ptr = c};
  if (epoll_ctl(c->worker->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
    char why[128];
    snprintf(why, sizeof why, "epoll_ctl: %s", strerror(errno));
    close(c->fd);
    c->fd = -1;
    bench_worker_note_error(c->worker, why);
    return false;
  }
  c->state = BENCH_CONN_CONNECTING;
  c->worker->started++;
  return true;
}

void bench_conn_send(BenchConn *c, BenchReplyKind kind, const char *cmd)
{
  size_t n = strlen(cmd);
  if (c->out_off == c->out_len)
    c->out_off = c->out_len = 0;
  if (c->out_len + n + 2 > sizeof c->out) {
    if (c->out_off > 0) {
      memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
      c->out_len -= c->out_off;
      c->out_off = 0;
    }
    if (c->out_len + n + 2 > sizeof c->out)
      abort(); /* commands are short and few: a bug */
  }
  memcpy(c->out + c->out_len, cmd, n);
  memcpy(c->out + c->out_len + n, "\r\n", 2);
  c->out_len += n + 2;
  expect(c, kind);
}

void bench_conn_finish(BenchConn *c, bool ok, const char *why)
{
  if (c->state == BENCH_CONN_IDLE)
    return;
  const BenchOptions *opt = c->worker->run->opt;
  if (c->tls) {
    if (ok && c->state == BENCH_CONN_OPEN) {
      if (opt->resume) {
        gnutls_datum_t d = {NULL, 0};
        if (gnutls_session_get_data2(c->tls, &d) == 0) {
          gnutls_free(c->resume_data.data);
          c->resume_data = d;
        }
      }
      /* close_notify, as a real client sends it; no wait for the answer. */
      gnutls_bye(c->tls, GNUTLS_SHUT_WR);
    }
    gnutls_deinit(c->tls);
    c->tls = NULL;
  }
  if (c->fd >= 0) {
    close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
  }
  c->state = BENCH_CONN_IDLE;
  if (!ok)
    bench_worker_note_error(c->worker, why ? why : "failed");
  c->worker->run->scenario->on_end(c, ok);
}

/* Our own transport functions, so the connection knows whether the socket
 * itself would block: GnuTLS also answers GNUTLS_E_AGAIN after handling a
 * post-handshake message (a TLS 1.3 session ticket) with more records
 * still waiting in the socket, and an edge-triggered epoll would never
 * report those again. */
static ssize_t tls_pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
  BenchConn *c = ptr;
  ssize_t r = recv(c->fd, buf, len, 0);
  if (r < 0) {
    if (errno == EAGAIN)
      c->would_block = true;
    gnutls_transport_set_errno(c->tls, errno);
  }
  return r;
}

static ssize_t tls_push(gnutls_transport_ptr_t ptr, const void *buf,
                        size_t len)
{
  BenchConn *c = ptr;
  ssize_t r = send(c->fd, buf, len, MSG_NOSIGNAL);
  if (r < 0) {
    if (errno == EAGAIN)
      c->would_block = true;
    gnutls_transport_set_errno(c->tls, errno);
  }
  return r;
}

static int tls_pull_timeout(gnutls_transport_ptr_t ptr, unsigned ms)
{
  BenchConn *c = ptr;
  struct pollfd p = {.fd = c->fd, .events = POLLIN};
  return poll(&p, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
}

static bool tls_begin(BenchConn *c)
{
  BenchRun *run = c->worker->run;
  int r = gnutls_init(&c->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
  if (r < 0)
    goto fail;
  if ((r = gnutls_priority_set(c->tls, run->tls.priority)) < 0 ||
      (r = gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE,
                                  run->tls.creds)) < 0)
    goto fail;
  gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, "localhost",
                         strlen("localhost"));
  if (run->tls.verify)
    gnutls_session_set_verify_cert(c->tls, "localhost", 0);
  if (run->opt->resume && c->resume_data.data &&
      (r = gnutls_session_set_data(c->tls, c->resume_data.data,
                                   c->resume_data.size)) < 0)
    goto fail;
  gnutls_handshake_set_timeout(c->tls, 0);
  gnutls_transport_set_ptr(c->tls, c);
  gnutls_transport_set_pull_function(c->tls, tls_pull);
  gnutls_transport_set_push_function(c->tls, tls_push);
  gnutls_transport_set_pull_timeout_function(c->tls, tls_pull_timeout);
  c->state = BENCH_CONN_HANDSHAKE;
  return true;
fail:;
  char why[160];
  snprintf(why, sizeof why, "TLS setup: %s", gnutls_strerror(r));
  bench_conn_finish(c, false, why);
  return false;
}

/* The reply at the head of the queue is complete. */
static void deliver(BenchConn *c, bool ok, uint64_t body)
{
  const BenchScenario *s = c->worker->run->scenario;
  c->status[c->status_len] = '\0';
  if (!c->greeted) {
    c->greeted = true;
    if (!ok) {
      char why[BENCH_STATUS_MAX + 16];
      snprintf(why, sizeof why, "greeting: %s", c->status);
      bench_conn_finish(c, false, why);
      return;
    }
    s->on_greeting(c);
    return;
  }
  s->on_reply(c, ok, c->status, body);
}

/* Feeds received octets to the parser.  Returns false when the session
 * ended on the way (the slot may already hold a new session). */
static bool feed(BenchConn *c, const char *buf, size_t n, unsigned gen)
{
  size_t i = 0;
  while (i < n) {
    if (c->pending_count == 0) {
      bench_conn_finish(c, false, "data the client did not ask for");
      return false;
    }
    if (!c->in_body) {
      const char *nl = memchr(buf + i, '\n', n - i);
      size_t take = nl ? (size_t)(nl - (buf + i)) + 1 : n - i;
      size_t room = sizeof c->status - 1 - c->status_len;
      size_t copy = take < room ? take : room;
      memcpy(c->status + c->status_len, buf + i, copy);
      c->status_len += copy;
      i += take;
      if (!nl)
        return true;
      while (c->status_len > 0 && (c->status[c->status_len - 1] == '\n' ||
                                   c->status[c->status_len - 1] == '\r'))
        c->status_len--;
      c->status[c->status_len] = '\0';
      BenchReplyKind kind = c->pending[c->pending_head];
      bool ok = strncmp(c->status, "+OK", 3) == 0;
      if (kind == BENCH_REPLY_MULTI && ok) {
        c->in_body = true;
        c->line_start = true;
        c->term_match = 0;
        c->body_bytes = 0;
        continue;
      }
      c->pending_head = (c->pending_head + 1) % BENCH_PENDING_MAX;
      c->pending_count--;
      deliver(c, ok, 0);
      c->status_len = 0;
      if (c->state == BENCH_CONN_IDLE || c->generation != gen)
        return false;
      continue;
    }
    /* Body: look for a line that is exactly ".". */
    size_t start = i;
    bool done = false;
    while (i < n) {
      if (c->line_start) {
        if (buf[i] == terminator[c->term_match]) {
          i++;
          if (++c->term_match == 3) {
            done = true;
            break;
          }
          continue;
        }
        c->line_start = false;
        c->term_match = 0;
      }
      const char *nl = memchr(buf + i, '\n', n - i);
      if (!nl) {
        i = n;
        break;
      }
      i = (size_t)(nl - buf) + 1;
      c->line_start = true;
    }
    c->body_bytes += i - start;
    if (done) {
      uint64_t body = c->body_bytes;
      c->in_body = false;
      c->pending_head = (c->pending_head + 1) % BENCH_PENDING_MAX;
      c->pending_count--;
      deliver(c, true, body);
      c->status_len = 0;
      if (c->state == BENCH_CONN_IDLE || c->generation != gen)
        return false;
    }
  }
  return true;
}

static ssize_t conn_recv(BenchConn *c, char *buf, size_t len)
{
  if (!c->tls) {
    ssize_t r = recv(c->fd, buf, len, 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
      return -EAGAIN;
    return r < 0 ? -errno : r;
  }
  ssize_t r;
  c->would_block = false;
  do
    r = gnutls_record_recv(c->tls, buf, len);
  while ((r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) &&
         !c->would_block);
  if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
    return -EAGAIN;
  if (r == GNUTLS_E_PREMATURE_TERMINATION)
    return 0;
  return r < 0 ? -EPROTO : r;
}

static ssize_t conn_send(BenchConn *c, const char *buf, size_t len)
{
  if (!c->tls) {
    ssize_t r = send(c->fd, buf, len, MSG_NOSIGNAL);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
      return -EAGAIN;
    return r < 0 ? -errno : r;
  }
  ssize_t r = gnutls_record_send(c->tls, buf, len);
  if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
    return -EAGAIN;
  return r < 0 ? -EPROTO : r;
}

/* Returns false when the connection failed (and was finished). */
static bool flush(BenchConn *c)
{
  while (c->out_off < c->out_len) {
    ssize_t r = conn_send(c, c->out + c->out_off, c->out_len - c->out_off);
    if (r == -EAGAIN)
      return true;
    if (r <= 0) {
      char why[128];
      snprintf(why, sizeof why, "send: %s",
               r == -EPROTO ? "TLS error" : strerror((int)-r));
      bench_conn_finish(c, false, why);
      return false;
    }
    c->out_off += (size_t)r;
  }
  return true;
}

static void connected(BenchConn *c)
{
  if (c->worker->run->opt->tls) {
    if (!tls_begin(c))
      return;
    c->worker->tls_sessions++;
  } else {
    c->state = BENCH_CONN_OPEN;
    expect(c, BENCH_REPLY_LINE); /* the greeting */
  }
}

void bench_conn_drive(BenchConn *c)
{
  unsigned gen = c->generation;
  if (c->state == BENCH_CONN_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
      err = errno;
    if (err) {
      char why[128];
      snprintf(why, sizeof why, "connect: %s", strerror(err));
      bench_conn_finish(c, false, why);
      return;
    }
    struct sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    if (getpeername(c->fd, (struct sockaddr *)&peer, &plen) != 0)
      return; /* not connected yet */
    connected(c);
    if (c->state == BENCH_CONN_IDLE)
      return;
  }
  if (c->state == BENCH_CONN_HANDSHAKE) {
    int r;
    c->would_block = false;
    do
      r = gnutls_handshake(c->tls);
    while ((r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) &&
           !c->would_block);
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
      return;
    if (r < 0) {
      char why[160];
      snprintf(why, sizeof why, "TLS handshake: %s", gnutls_strerror(r));
      bench_conn_finish(c, false, why);
      return;
    }
    c->resumed = gnutls_session_is_resumed(c->tls) != 0;
    if (c->resumed)
      c->worker->resumed++;
    c->state = BENCH_CONN_OPEN;
    expect(c, BENCH_REPLY_LINE); /* the greeting */
  }
  if (c->state != BENCH_CONN_OPEN)
    return;
  for (;;) {
    if (!flush(c))
      return;
    bool progress = false;
    for (;;) {
      ssize_t r = conn_recv(c, c->worker->rbuf, c->worker->rbuf_size);
      if (r == -EAGAIN)
        break;
      if (r == 0) {
        bench_conn_finish(c, false, "connection closed by the server");
        return;
      }
      if (r < 0) {
        char why[128];
        snprintf(why, sizeof why, "recv: %s",
                 r == -EPROTO ? "TLS error" : strerror((int)-r));
        bench_conn_finish(c, false, why);
        return;
      }
      progress = true;
      if (!feed(c, c->worker->rbuf, (size_t)r, gen))
        return;
    }
    if (!progress || c->out_off == c->out_len)
      break;
  }
  flush(c);
}
