/* SPDX-License-Identifier: MIT */
/*
 * Every loop thread watches every listening socket with EPOLLEXCLUSIVE, so
 * the kernel wakes one loop per connection and the loops share the load
 * without a dispatcher thread.
 */
#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "poplar-limits.h"

/* Accepts per wake-up, so one busy listener cannot starve sessions. */
#define ACCEPT_BATCH 32

typedef struct ListenerWatch {
  PoplarWatch watch;
  PoplarListener *listener;
  unsigned loop_index;
} ListenerWatch;

struct PoplarListener {
  int fd;
  bool tls;
  char address[64];
  PoplarServer *server;
  ListenerWatch *watches; /* one per loop */
  unsigned n_watches;
  gint attached; /* loops still watching; the last one to stop closes */
};

const char *poplar_listener_address(const PoplarListener *l)
{
  return l->address;
}

bool poplar_listener_is_tls(const PoplarListener *l)
{
  return l->tls;
}

static void describe_bound(PoplarListener *l);
static struct addrinfo *resolve(const char *spec, char **error);

int poplar_listener_fd(const PoplarListener *l)
{
  return l->fd;
}

void poplar_listener_set_tls(PoplarListener *l, bool tls)
{
  l->tls = tls;
}

PoplarListener *poplar_listener_adopt(int fd, bool tls)
{
  int listening = 0;
  socklen_t len = sizeof listening;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
      !listening)
    return NULL;
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
    return NULL;
  PoplarListener *l = g_new0(PoplarListener, 1);
  l->fd = fd;
  l->tls = tls;
  describe_bound(l);
  return l;
}

bool poplar_listener_matches(const PoplarListener *l, const char *spec)
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
  poplar_loop_watch_remove(loop, &lw->watch);
  if (g_atomic_int_dec_and_test(&l->attached))
    poplar_loop_defer(loop, close_after_batch, l);
}

void poplar_listener_detach(PoplarListener *l, PoplarServer *server)
{
  for (unsigned i = 0; i < l->n_watches; i++)
    poplar_loop_invoke(server->loops[i], detach_one, &l->watches[i]);
}

bool poplar_listener_fd_name(const PoplarListener *l, struct sockaddr *sa,
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

bool poplar_listener_check(const char *spec, char **error)
{
  struct addrinfo *ai = resolve(spec, error);
  if (ai)
    freeaddrinfo(ai);
  return ai != NULL;
}

PoplarListener *poplar_listener_bind(const char *spec, bool tls,
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
  PoplarListener *l = g_new0(PoplarListener, 1);
  l->fd = fd;
  l->tls = tls;
  g_strlcpy(l->address, spec, sizeof l->address);
  describe_bound(l);
  return l;
}

static void on_accept(void *ctx, uint32_t events)
{
  ListenerWatch *lw = ctx;
  PoplarServer *server = lw->listener->server;
  (void)events;
  for (int i = 0; i < ACCEPT_BATCH; i++) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = accept4(lw->listener->fd, (struct sockaddr *)&ss, &len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        poplarpriv_log(NULL, POPLAR_LOG_ERROR, "accept on %s: %s",
                       lw->listener->address, g_strerror(errno));
      return;
    }
    poplar_client_create(server, lw->loop_index, fd, lw->listener->tls,
                         (struct sockaddr *)&ss, len);
  }
}

bool poplar_listener_attach(PoplarListener *l, PoplarServer *server)
{
  l->server = server;
  l->n_watches = server->n_loops;
  l->attached = (gint)server->n_loops;
  l->watches = g_new0(ListenerWatch, server->n_loops);
  for (unsigned i = 0; i < server->n_loops; i++) {
    ListenerWatch *lw = &l->watches[i];
    lw->listener = l;
    lw->loop_index = i;
    poplar_watch_init(&lw->watch, l->fd, on_accept, lw);
    if (!poplar_loop_watch_exclusive(server->loops[i], &lw->watch))
      return false;
  }
  return true;
}

void poplar_listener_free(PoplarListener *l)
{
  if (!l)
    return;
  if (l->fd >= 0)
    close(l->fd);
  g_free(l->watches);
  g_free(l);
}
