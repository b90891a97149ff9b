/* SPDX-License-Identifier: MIT */
/*
 * A spamd client for the SPAMC/SPAMD protocol 1.5, one connection per
 * message as spamc does:
 *
 *   SYMBOLS SPAMC/1.5          SPAMD/1.1 0 EX_OK
 *   Content-length: 123        Content-length: 16
 *   User: alice                Spam: True ; 1005.2 / 5.0
 *                              
 *   <message>                  GTUBE,NO_RECEIVED
 *
 * Every step (waiting for a connection slot, connecting, sending,
 * reading) counts against one deadline, so a hung spamd costs a session
 * at most the configured timeout per message.  The number of connections
 * open at once over all sessions is bounded, so a mailbox of thousands of
 * new messages cannot take every spamd child.
 */
#include "spamd.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A spamd answer is a status line, two headers and a report: far below
 * this.  More means something that is not spamd. */
#define SPAMD_RESPONSE_MAX (256 * 1024)

struct SpamdServer {
  char *address; /* as configured, for log lines */
  bool is_unix;
  char *path;    /* unix */
  char *host;    /* tcp */
  char *port;
  int64_t timeout_us;
  unsigned max_connections;
  GMutex lock;
  GCond freed;
  unsigned in_use;
};

SpamdServer *spamd_server_new(const char *address, uint64_t timeout_ms,
                              unsigned max_connections, char **error)
{
  SpamdServer *srv = g_new0(SpamdServer, 1);
  srv->address = g_strdup(address);
  srv->timeout_us = (int64_t)timeout_ms * 1000;
  srv->max_connections = max_connections;
  g_mutex_init(&srv->lock);
  g_cond_init(&srv->freed);
  if (g_str_has_prefix(address, "unix:") || address[0] == '/') {
    const char *path = address[0] == '/' ? address : address + 5;
    if (path[0] != '/' || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
      *error = g_strdup_printf("'%s' is not unix:/absolute/path (at most "
                               "107 characters)", address);
      spamd_server_free(srv);
      return NULL;
    }
    srv->is_unix = true;
    srv->path = g_strdup(path);
    return srv;
  }
  const char *colon;
  if (address[0] == '[') {
    const char *close = strchr(address, ']');
    if (!close || close[1] != ':') {
      *error = g_strdup_printf("'%s' is not [address]:port", address);
      spamd_server_free(srv);
      return NULL;
    }
    srv->host = g_strndup(address + 1, (gsize)(close - address - 1));
    colon = close + 1;
  } else {
    colon = strrchr(address, ':');
    if (!colon || colon == address) {
      *error = g_strdup_printf("'%s' is not host:port or unix:/path",
                               address);
      spamd_server_free(srv);
      return NULL;
    }
    srv->host = g_strndup(address, (gsize)(colon - address));
  }
  char *end = NULL;
  long port = strtol(colon + 1, &end, 10);
  if (!colon[1] || *end || port < 1 || port > 65535) {
    *error = g_strdup_printf("'%s': the port must be 1 to 65535", address);
    spamd_server_free(srv);
    return NULL;
  }
  srv->port = g_strdup(colon + 1);
  return srv;
}

void spamd_server_free(SpamdServer *srv)
{
  if (!srv)
    return;
  g_free(srv->address);
  g_free(srv->path);
  g_free(srv->host);
  g_free(srv->port);
  g_mutex_clear(&srv->lock);
  g_cond_clear(&srv->freed);
  g_free(srv);
}

const char *spamd_server_address(const SpamdServer *srv)
{
  return srv->address;
}

void spamd_verdict_clear(SpamdVerdict *v)
{
  g_clear_pointer(&v->symbols, g_free);
  g_clear_pointer(&v->report, g_free);
}

/* ---- the connection slots ------------------------------------------------- */

static bool slot_acquire(SpamdServer *srv, int64_t deadline)
{
  g_mutex_lock(&srv->lock);
  while (srv->in_use >= srv->max_connections) {
    if (!g_cond_wait_until(&srv->freed, &srv->lock, deadline) &&
        srv->in_use >= srv->max_connections) {
      g_mutex_unlock(&srv->lock);
      return false;
    }
  }
  srv->in_use++;
  g_mutex_unlock(&srv->lock);
  return true;
}

static void slot_release(SpamdServer *srv)
{
  g_mutex_lock(&srv->lock);
  srv->in_use--;
  g_cond_signal(&srv->freed);
  g_mutex_unlock(&srv->lock);
}

/* ---- socket I/O with a deadline ------------------------------------------ */

/* Waits for @events on @fd until @deadline (monotonic).  Returns false on
 * timeout (errno ETIMEDOUT) or error. */
static bool wait_fd(int fd, short events, int64_t deadline)
{
  for (;;) {
    int64_t left = deadline - g_get_monotonic_time();
    if (left <= 0) {
      errno = ETIMEDOUT;
      return false;
    }
    struct pollfd p = {.fd = fd, .events = events};
    int n = poll(&p, 1, (int)MIN((left + 999) / 1000, G_MAXINT));
    if (n > 0)
      return true;
    if (n < 0 && errno != EINTR)
      return false;
  }
}

static int connect_addr(const struct sockaddr *sa, socklen_t len,
                        int64_t deadline)
{
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                  0);
  if (fd < 0)
    return -1;
  if (connect(fd, sa, len) == 0)
    return fd;
  if (errno != EINPROGRESS && errno != EAGAIN) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  if (!wait_fd(fd, POLLOUT, deadline)) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  int err = 0;
  socklen_t elen = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0) {
    close(fd);
    errno = err ? err : EIO;
    return -1;
  }
  return fd;
}

static int spamd_connect(const SpamdServer *srv, int64_t deadline,
                         char **error)
{
  if (srv->is_unix) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, srv->path);
    int fd = connect_addr((struct sockaddr *)&sa, sizeof sa, deadline);
    if (fd < 0)
      *error = g_strdup_printf("cannot connect to spamd at %s: %s",
                               srv->address, g_strerror(errno));
    return fd;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC,
                           .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_ADDRCONFIG};
  struct addrinfo *res = NULL;
  int gai = getaddrinfo(srv->host, srv->port, &hints, &res);
  if (gai != 0) {
    *error = g_strdup_printf("cannot resolve spamd host %s: %s", srv->host,
                             gai_strerror(gai));
    return -1;
  }
  int fd = -1;
  int last_errno = 0;
  for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = connect_addr(ai->ai_addr, ai->ai_addrlen, deadline);
    if (fd < 0)
      last_errno = errno;
  }
  freeaddrinfo(res);
  if (fd < 0)
    *error = g_strdup_printf("cannot connect to spamd at %s: %s",
                             srv->address, g_strerror(last_errno));
  return fd;
}

static bool send_all(int fd, const void *data, size_t len, int64_t deadline)
{
  const char *p = data;
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n > 0) {
      p += n;
      len -= (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_fd(fd, POLLOUT, deadline))
        return false;
      continue;
    }
    return false;
  }
  return true;
}

/* Reads until spamd closes the connection. */
static bool read_all(int fd, GByteArray *out, int64_t deadline)
{
  char buf[8192];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      if (out->len + (size_t)n > SPAMD_RESPONSE_MAX) {
        errno = EMSGSIZE;
        return false;
      }
      g_byte_array_append(out, (const guint8 *)buf, (guint)n);
      continue;
    }
    if (n == 0)
      return true;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_fd(fd, POLLIN, deadline))
        return false;
      continue;
    }
    return false;
  }
}

/* ---- the protocol ----------------------------------------------------------- */

static const char *command_name(SpamdCommand c)
{
  switch (c) {
  case SPAMD_CHECK:
    return "CHECK";
  case SPAMD_SYMBOLS:
    return "SYMBOLS";
  case SPAMD_REPORT:
    return "REPORT";
  }
  return "CHECK";
}

/* "True ; 1005.2 / 5.0" */
static bool parse_spam_header(const char *v, SpamdVerdict *out)
{
  while (*v == ' ')
    v++;
  if (g_ascii_strncasecmp(v, "True", 4) == 0 ||
      g_ascii_strncasecmp(v, "Yes", 3) == 0)
    out->spam = true;
  else if (g_ascii_strncasecmp(v, "False", 5) == 0 ||
           g_ascii_strncasecmp(v, "No", 2) == 0)
    out->spam = false;
  else
    return false;
  const char *semi = strchr(v, ';');
  if (!semi)
    return false;
  char *end = NULL;
  out->score = g_ascii_strtod(semi + 1, &end);
  if (end == semi + 1)
    return false;
  const char *slash = strchr(end, '/');
  if (!slash)
    return false;
  const char *start = slash + 1;
  out->required = g_ascii_strtod(start, &end);
  return end != start;
}

bool spamd_parse_response(const char *data, size_t len, SpamdVerdict *out,
                          char **error)
{
  memset(out, 0, sizeof *out);
  g_autofree char *text = g_strndup(data, len);
  char *body = strstr(text, "\r\n\r\n");
  if (!body) {
    *error = g_strdup("spamd's answer has no end of headers");
    return false;
  }
  *body = '\0';
  body += 4;
  size_t body_len = len - (size_t)(body - text);
  char **lines = g_strsplit(text, "\r\n", -1);
  bool ok = false;
  bool have_spam = false;
  int code = -1;
  char status_text[64] = "";
  if (!lines[0] || sscanf(lines[0], "SPAMD/%*d.%*d %d %63[^\r\n]", &code,
                          status_text) < 1) {
    *error = g_strdup_printf("not a spamd answer: '%.60s'",
                             lines[0] ? lines[0] : "");
    goto out;
  }
  if (code != 0) {
    /* EX_USAGE, EX_TEMPFAIL...: spamd could not scan the message. */
    *error = g_strdup_printf("spamd answered %d %s", code, status_text);
    goto out;
  }
  for (char **l = lines + 1; *l; l++) {
    if (g_ascii_strncasecmp(*l, "Content-length:", 15) == 0) {
      char *end = NULL;
      guint64 n = g_ascii_strtoull(*l + 15, &end, 10);
      if (end == *l + 15 || n != body_len) {
        *error = g_strdup_printf("spamd's answer was cut short (%zu of "
                                 "'%.30s' octets)", body_len, *l + 15);
        goto out;
      }
    } else if (g_ascii_strncasecmp(*l, "Spam:", 5) == 0) {
      if (!parse_spam_header(*l + 5, out)) {
        *error = g_strdup_printf("bad Spam header from spamd: '%.60s'", *l);
        goto out;
      }
      have_spam = true;
    }
  }
  if (!have_spam) {
    *error = g_strdup("spamd's answer has no Spam header");
    goto out;
  }
  ok = true;
out:
  g_strfreev(lines);
  if (ok && *body) {
    /* SYMBOLS: "A,B,C" on one line; REPORT: text. */
    g_strchomp(body);
    out->symbols = NULL;
    out->report = g_strdup(body);
  }
  return ok;
}

/* One request and its answer on a connected socket. */
static bool exchange(SpamdServer *srv, int fd, SpamdCommand command,
                     const char *user, const void *message, size_t len,
                     int64_t deadline, SpamdVerdict *out, char **error)
{
  GString *req = g_string_new(NULL);
  g_string_append_printf(req, "%s SPAMC/1.5\r\nContent-length: %zu\r\n",
                         command_name(command), len);
  if (user)
    g_string_append_printf(req, "User: %s\r\n", user);
  g_string_append(req, "\r\n");
  bool sent = send_all(fd, req->str, req->len, deadline) &&
              send_all(fd, message, len, deadline);
  g_string_free(req, TRUE);
  /* spamd reads Content-length octets; the half-close tells older
   * versions too that the message is complete. */
  if (sent)
    shutdown(fd, SHUT_WR);
  g_autoptr(GByteArray) resp = g_byte_array_new();
  if (!sent || !read_all(fd, resp, deadline)) {
    *error = g_strdup_printf("spamd at %s: %s", srv->address,
                             errno == ETIMEDOUT ? "timed out"
                                                : g_strerror(errno));
    return false;
  }
  if (!spamd_parse_response((const char *)resp->data, resp->len, out,
                            error))
    return false;
  if (command == SPAMD_SYMBOLS)
    out->symbols = g_steal_pointer(&out->report);
  return true;
}

bool spamd_check(SpamdServer *srv, SpamdCommand command, const char *user,
                 const void *message, size_t len, SpamdVerdict *out,
                 char **error)
{
  int64_t deadline = g_get_monotonic_time() + srv->timeout_us;
  memset(out, 0, sizeof *out);
  if (!slot_acquire(srv, deadline)) {
    *error = g_strdup_printf("no free spamd connection within the timeout "
                             "(%u in use)", srv->max_connections);
    return false;
  }
  bool ok = false;
  int fd = spamd_connect(srv, deadline, error);
  if (fd >= 0) {
    ok = exchange(srv, fd, command, user, message, len, deadline, out,
                  error);
    close(fd);
  }
  slot_release(srv);
  return ok;
}
