/* SPDX-License-Identifier: MIT */
/*
 * Every loop thread watches every listening socket with EPOLLEXCLUSIVE, so
 * the kernel wakes one loop per connection and the loops share the load
 * without a dispatcher thread.
 *
 * When accept() fails for want of descriptors (EMFILE, ENFILE) or memory,
 * the connection stays queued and the socket stays readable: retrying at
 * once would spin the loop and write a log line per attempt.  So the loop
 * stops watching the socket for ACCEPT_PAUSE_MS and tries again after
 * that, while the other loops and workers, which may have room, go on
 * accepting; the failures are reported at most once per
 * ACCEPT_REPORT_INTERVAL_US per listener, with their count.
 */
#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client-internal.h"
#include "client.h"
#include "fd-limit.h"
#include "poplar-limits.h"

/* Accepts per wake-up.  One: the listener is level-triggered, so a
 * connection still queued wakes the next epoll_wait() along with the
 * sessions' events, no loop starves its sessions, and an accept4() that
 * would only say EAGAIN is never made. */
#define ACCEPT_BATCH 1
/* How long a loop leaves a listener alone after accept() failed for want
 * of resources: long enough not to spin, short enough that a waiting
 * client hardly notices once descriptors are free again. */
#define ACCEPT_PAUSE_MS 100
/* At most one log line per listener this often about failing accepts. */
#define ACCEPT_REPORT_INTERVAL_US (1000 * 1000)

typedef struct ListenerWatch {
  PoplarWatch watch;
  PoplarTimer resume; /* armed while this loop leaves the listener alone */
  PoplarListener *listener;
  unsigned loop_index;
} ListenerWatch;

struct PoplarListener {
  int fd;
  bool tls;
  char address[64];
  /* The address every connection gets, when it is not a wildcard (then
   * each connection's own is asked for). */
  char local_host[48];
  unsigned local_port;
  PoplarServer *server;
  ListenerWatch *watches; /* one per loop */
  unsigned n_watches;
  gint attached; /* loops still watching; the last one to stop closes */
  gint failing;  /* accepts failed since the last report said they work */
  GMutex report_lock; /* the loops' reports of failed accepts: */
  unsigned failed_unreported;
  int last_error;
  int64_t last_report_us; /* monotonic */
};

const char *poplard_listener_address(const PoplarListener *l)
{
  return l->address;
}

bool poplard_listener_is_tls(const PoplarListener *l)
{
  return l->tls;
}

static void describe_bound(PoplarListener *l);
static struct addrinfo *resolve(const char *spec, char **error);

int poplard_listener_fd(const PoplarListener *l)
{
  return l->fd;
}

void poplard_listener_set_tls(PoplarListener *l, bool tls)
{
  l->tls = tls;
}

static PoplarListener *listener_new(int fd, bool tls)
{
  PoplarListener *l = g_new0(PoplarListener, 1);
  l->fd = fd;
  l->tls = tls;
  g_mutex_init(&l->report_lock);
  return l;
}

PoplarListener *poplard_listener_adopt(int fd, bool tls)
{
  int listening = 0;
  socklen_t len = sizeof listening;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
      !listening)
    return NULL;
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
    return NULL;
  PoplarListener *l = listener_new(fd, tls);
  describe_bound(l);
  return l;
}

bool poplard_listener_matches(const PoplarListener *l, const char *spec)
{
  char *error = NULL;
  struct addrinfo *ai = resolve(spec, &error);
  g_free(error);
  if (!ai)
    return false;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  bool match = false;
  if (getsockname(l->fd, (struct sockaddr *)&ss, &len) == 0 &&
      ss.ss_family == ai->ai_family) {
    if (ss.ss_family == AF_INET) {
      const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
      const struct sockaddr_in *b = (const struct sockaddr_in *)ai->ai_addr;
      match = a->sin_addr.s_addr == b->sin_addr.s_addr &&
              (b->sin_port == 0 || a->sin_port == b->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
      const struct sockaddr_in6 *b = (const struct sockaddr_in6 *)ai->ai_addr;
      match = memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) ==
                  0 &&
              (b->sin6_port == 0 || a->sin6_port == b->sin6_port);
    }
  }
  freeaddrinfo(ai);
  return match;
}

static void close_after_batch(void *data)
{
  PoplarListener *l = data;
  close(l->fd);
  l->fd = -1;
}

/* On each loop's own thread, so no accept of that loop can be running;
 * the last loop closes this process's copy of the socket after its
 * current batch of events. */
static void detach_one(void *data)
{
  ListenerWatch *lw = data;
  PoplarListener *l = lw->listener;
  PoplarLoop *loop = l->server->loops[lw->loop_index];
  poplard_loop_timer_cancel(loop, &lw->resume);
  poplard_loop_watch_remove(loop, &lw->watch);
  if (g_atomic_int_dec_and_test(&l->attached))
    poplard_loop_defer(loop, close_after_batch, l);
}

void poplard_listener_detach(PoplarListener *l, PoplarServer *server)
{
  for (unsigned i = 0; i < l->n_watches; i++)
    poplard_loop_invoke(server->loops[i], detach_one, &l->watches[i]);
}

bool poplard_listener_fd_name(const PoplarListener *l, struct sockaddr *sa,
                             socklen_t *len)
{
  return getsockname(l->fd, sa, len) == 0;
}

static bool split_host_port(const char *spec, char **host, char **port)
{
  const char *colon;
  if (spec[0] == '[') {
    const char *close = strchr(spec, ']');
    if (!close || close[1] != ':')
      return false;
    *host = g_strndup(spec + 1, (gsize)(close - spec - 1));
    colon = close + 1;
  } else {
    colon = strrchr(spec, ':');
    if (!colon)
      return false;
    *host = g_strndup(spec, (gsize)(colon - spec));
  }
  *port = g_strdup(colon + 1);
  if (!**port || !**host) {
    /* The caller's g_autofree frees them again: leave nothing behind. */
    g_clear_pointer(host, g_free);
    g_clear_pointer(port, g_free);
    return false;
  }
  return true;
}

static void describe_bound(PoplarListener *l)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (getsockname(l->fd, (struct sockaddr *)&ss, &len) != 0)
    return;
  if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
    /* Linux gives accepted sockets the listener's TCP options: one call
     * here instead of one per connection. */
    int one = 1;
    (void)setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  bool wildcard =
      (ss.ss_family == AF_INET &&
       ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY)) ||
      (ss.ss_family == AF_INET6 &&
       IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr));
  if (!wildcard)
    poplard_address_text((struct sockaddr *)&ss, l->local_host,
                         sizeof l->local_host, &l->local_port);
  if (ss.ss_family == AF_INET) {
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
    g_snprintf(l->address, sizeof l->address, "%s:%u", host, port);
  } else if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    port = ntohs(in6->sin6_port);
    g_snprintf(l->address, sizeof l->address, "[%s]:%u", host, port);
  }
}

static struct addrinfo *resolve(const char *spec, char **error)
{
  g_autofree char *host = NULL;
  g_autofree char *port = NULL;
  if (!split_host_port(spec, &host, &port)) {
    *error = g_strdup_printf("'%s' is not host:port or [ipv6]:port", spec);
    return NULL;
  }
  struct addrinfo hints = {
      .ai_family = AF_UNSPEC,
      .ai_socktype = SOCK_STREAM,
      .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
  };
  struct addrinfo *ai = NULL;
  const char *h = strcmp(host, "*") == 0 ? NULL : host;
  int gai = getaddrinfo(h, port, &hints, &ai);
  if (gai != 0) {
    *error = g_strdup_printf("'%s': %s (numeric addresses and ports only)",
                             spec, gai_strerror(gai));
    return NULL;
  }
  return ai;
}

bool poplard_listener_check(const char *spec, char **error)
{
  struct addrinfo *ai = resolve(spec, error);
  if (ai)
    freeaddrinfo(ai);
  return ai != NULL;
}

PoplarListener *poplard_listener_bind(const char *spec, bool tls,
                                     char **error)
{
  struct addrinfo *ai = resolve(spec, error);
  if (!ai)
    return NULL;
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  0);
  if (fd < 0) {
    *error = g_strdup_printf("listen %s: socket: %s", spec, g_strerror(errno));
    freeaddrinfo(ai);
    return NULL;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ai->ai_family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
      listen(fd, POPLAR_LISTEN_BACKLOG) != 0) {
    *error = g_strdup_printf("listen %s: %s", spec, g_strerror(errno));
    close(fd);
    freeaddrinfo(ai);
    return NULL;
  }
  freeaddrinfo(ai);
  PoplarListener *l = listener_new(fd, tls);
  g_strlcpy(l->address, spec, sizeof l->address);
  describe_bound(l);
  return l;
}

/* Errors that belong to the one connection being accepted (Linux hands
 * pending network errors to accept()): the next may well work. */
static bool connection_error(int err)
{
  switch (err) {
  case EINTR:
  case ECONNABORTED:
  case EPROTO:
  case ENETDOWN:
  case ENETUNREACH:
  case EHOSTDOWN:
  case EHOSTUNREACH:
  case ENONET:
  case ENOPROTOOPT:
  case EOPNOTSUPP:
  case ETIMEDOUT:
    return true;
  default:
    return false;
  }
}

/* Takes each failed accept (@err) and, while failures are being
 * reported, each accept that worked (@err 0).  Writes at most one line per
 * ACCEPT_REPORT_INTERVAL_US: the failures since the last line, or, once an
 * interval has passed without any, that accepting works again.  (A
 * worker at its limit flaps many times a second: each session it refuses
 * frees a descriptor for the next accept.) */
static void report_accepts(PoplarListener *l, int err, int64_t now)
{
  g_mutex_lock(&l->report_lock);
  if (err != 0) {
    l->failed_unreported++;
    l->last_error = err;
    g_atomic_int_set(&l->failing, 1);
  }
  bool due = l->last_report_us == 0 ||
             now - l->last_report_us >= ACCEPT_REPORT_INTERVAL_US;
  unsigned failed = l->failed_unreported;
  int last_error = l->last_error;
  if (due) {
    l->last_report_us = now;
    l->failed_unreported = 0;
    if (failed == 0)
      g_atomic_int_set(&l->failing, 0);
  }
  g_mutex_unlock(&l->report_lock);
  if (!due)
    return;
  if (failed == 0)
    poplarpriv_log(NULL, POPLAR_LOG_INFO, "accepting on %s again",
                   l->address);
  else if (last_error == EMFILE || last_error == ENFILE)
    poplarpriv_log(NULL, POPLAR_LOG_ERROR,
                   "accept on %s: %s (open files limit %llu): new "
                   "connections wait, retried every %d ms (attempts failed "
                   "since the last report: %u)", l->address,
                   g_strerror(last_error),
                   (unsigned long long)poplard_fd_limit_current(),
                   ACCEPT_PAUSE_MS, failed);
  else
    poplarpriv_log(NULL, POPLAR_LOG_ERROR,
                   "accept on %s: %s: new connections wait, retried every "
                   "%d ms (attempts failed since the last report: %u)",
                   l->address, g_strerror(last_error), ACCEPT_PAUSE_MS,
                   failed);
}

static void pause_accepting(ListenerWatch *lw, int err)
{
  PoplarListener *l = lw->listener;
  PoplarLoop *loop = l->server->loops[lw->loop_index];
  int64_t now = poplard_loop_now(loop);
  poplard_loop_watch_remove(loop, &lw->watch);
  poplard_loop_timer_arm(loop, &lw->resume, now + ACCEPT_PAUSE_MS * 1000);
  report_accepts(l, err, now);
}

static void resume_accepting(void *ctx)
{
  ListenerWatch *lw = ctx;
  PoplarLoop *loop = lw->listener->server->loops[lw->loop_index];
  /* Level-triggered: connections queued meanwhile wake the loop at once. */
  if (!poplard_loop_watch_exclusive(loop, &lw->watch))
    pause_accepting(lw, errno);
}

static void on_accept(void *ctx, uint32_t events)
{
  ListenerWatch *lw = ctx;
  PoplarListener *l = lw->listener;
  PoplarServer *server = l->server;
  (void)events;
  for (int i = 0; i < ACCEPT_BATCH; i++) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (connection_error(err))
        continue;
      if (err != EAGAIN && err != EWOULDBLOCK)
        pause_accepting(lw, err);
      return;
    }
    if (g_atomic_int_get(&l->failing))
      report_accepts(l, 0, poplard_loop_now(server->loops[lw->loop_index]));
    poplard_client_create(server, lw->loop_index, fd, l->tls,
                         (struct sockaddr *)&ss, len, l->address,
                         l->local_host[0] ? l->local_host : NULL,
                         l->local_port);
  }
}

bool poplard_listener_attach(PoplarListener *l, PoplarServer *server)
{
  l->server = server;
  l->n_watches = server->n_loops;
  l->attached = (gint)server->n_loops;
  l->watches = g_new0(ListenerWatch, server->n_loops);
  for (unsigned i = 0; i < server->n_loops; i++) {
    ListenerWatch *lw = &l->watches[i];
    lw->listener = l;
    lw->loop_index = i;
    poplard_watch_init(&lw->watch, l->fd, on_accept, lw);
    poplard_timer_init(&lw->resume, resume_accepting, lw);
    if (!poplard_loop_watch_exclusive(server->loops[i], &lw->watch))
      return false;
  }
  return true;
}

void poplard_listener_free(PoplarListener *l)
{
  if (!l)
    return;
  if (l->fd >= 0)
    close(l->fd);
  g_free(l->watches);
  g_mutex_clear(&l->report_lock);
  g_free(l);
}
