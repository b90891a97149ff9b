/* SPDX-License-Identifier: MIT */
#include "backend-conn.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static bool set_blocking(int fd, bool blocking)
{
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0)
    return false;
  flags = blocking ? (flags & ~O_NONBLOCK) : (flags | O_NONBLOCK);
  return fcntl(fd, F_SETFL, flags) == 0;
}

/* Blocking reads and writes that give up after the step timeout: the
 * socket reports EAGAIN then, and GnuTLS passes that on. */
static bool set_step_timeouts(int fd, unsigned timeout_ms)
{
  struct timeval tv = {.tv_sec = timeout_ms / 1000,
                       .tv_usec = (timeout_ms % 1000) * 1000};
  return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0 &&
         setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0;
}

/* Connects without blocking longer than @timeout_ms. */
static int connect_one(const struct addrinfo *ai, unsigned timeout_ms,
                       int *err)
{
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  ai->ai_protocol);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
    if (errno != EINPROGRESS) {
      *err = errno;
      close(fd);
      return -1;
    }
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int n;
    do {
      n = poll(&p, 1, (int)timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
      *err = ETIMEDOUT;
      close(fd);
      return -1;
    }
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0 ||
        so_error != 0) {
      *err = n < 0 ? errno : so_error ? so_error : EIO;
      close(fd);
      return -1;
    }
  }
  return fd;
}

PoplarBackendConn *poplard_backend_connect(const char *host, const char *port,
                                           unsigned timeout_ms, char **error)
{
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_ADDRCONFIG};
  struct addrinfo *res = NULL;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc != 0) {
    *error = g_strdup_printf("cannot resolve %s: %s", host, gai_strerror(rc));
    return NULL;
  }
  int fd = -1, err = EHOSTUNREACH;
  for (const struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
    fd = connect_one(ai, timeout_ms, &err);
  freeaddrinfo(res);
  if (fd < 0) {
    *error = g_strdup_printf("cannot connect: %s", g_strerror(err));
    return NULL;
  }
  int one = 1;
  /* Replies are small and the relay writes whole buffers: no Nagle wait
   * for the last segment of a reply. */
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!set_blocking(fd, true) || !set_step_timeouts(fd, timeout_ms)) {
    *error = g_strdup_printf("cannot set up the socket: %s",
                             g_strerror(errno));
    close(fd);
    return NULL;
  }
  PoplarBackendConn *b = g_new0(PoplarBackendConn, 1);
  b->fd = fd;
  b->timeout_ms = timeout_ms;
  return b;
}

static const char *io_error(int err)
{
  return err == EAGAIN || err == EWOULDBLOCK ? "timed out" : g_strerror(err);
}

/* GnuTLS also answers AGAIN after a post-handshake message (a TLS 1.3
 * session ticket) with no data: only the socket's timeout having passed
 * makes it a timeout. */
static bool tls_again_is_timeout(const PoplarBackendConn *b, int64_t since)
{
  return g_get_monotonic_time() - since >= (int64_t)b->timeout_ms * 1000;
}

bool poplard_backend_send(PoplarBackendConn *b, const void *data, size_t len,
                          char **error)
{
  const char *p = data;
  while (len > 0) {
    ssize_t n;
    if (b->tls) {
      int64_t since = g_get_monotonic_time();
      do {
        n = gnutls_record_send(b->tls, p, len);
      } while (n == GNUTLS_E_INTERRUPTED ||
               (n == GNUTLS_E_AGAIN && !tls_again_is_timeout(b, since)));
      if (n < 0) {
        *error = g_strdup_printf("cannot send: %s",
                                 n == GNUTLS_E_AGAIN
                                     ? "timed out"
                                     : gnutls_strerror((int)n));
        return false;
      }
    } else {
      n = send(b->fd, p, len, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0) {
        *error = g_strdup_printf("cannot send: %s", io_error(errno));
        return false;
      }
    }
    p += n;
    len -= (size_t)n;
  }
  return true;
}

static ssize_t recv_some(PoplarBackendConn *b, char *buf, size_t size,
                         char **error)
{
  int64_t since = g_get_monotonic_time();
  for (;;) {
    ssize_t n;
    if (b->tls) {
      n = gnutls_record_recv(b->tls, buf, size);
      if (n == GNUTLS_E_INTERRUPTED || n == GNUTLS_E_REHANDSHAKE ||
          (n == GNUTLS_E_AGAIN && !tls_again_is_timeout(b, since)))
        continue;
      if (n == 0 || n == GNUTLS_E_PREMATURE_TERMINATION) {
        *error = g_strdup("the backend closed the connection");
        return -1;
      }
      if (n < 0) {
        *error = g_strdup_printf("cannot read: %s",
                                 n == GNUTLS_E_AGAIN
                                     ? "timed out"
                                     : gnutls_strerror((int)n));
        return -1;
      }
      return n;
    }
    n = recv(b->fd, buf, size, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0) {
      *error = g_strdup("the backend closed the connection");
      return -1;
    }
    if (n < 0) {
      *error = g_strdup_printf("cannot read: %s", io_error(errno));
      return -1;
    }
    return n;
  }
}

bool poplard_backend_read_line(PoplarBackendConn *b, char *line, size_t size,
                               char **error)
{
  for (;;) {
    char *nl = memchr(b->in, '\n', b->in_len);
    if (nl) {
      size_t len = (size_t)(nl - b->in);
      size_t used = len + 1;
      if (len > 0 && b->in[len - 1] == '\r')
        len--;
      if (len >= size) {
        *error = g_strdup("the backend sent an overlong line");
        return false;
      }
      memcpy(line, b->in, len);
      line[len] = '\0';
      memmove(b->in, b->in + used, b->in_len - used);
      b->in_len -= used;
      return true;
    }
    if (b->in_len == sizeof b->in) {
      *error = g_strdup("the backend sent an overlong line");
      return false;
    }
    ssize_t n = recv_some(b, b->in + b->in_len, sizeof b->in - b->in_len,
                          error);
    if (n < 0)
      return false;
    b->in_len += (size_t)n;
  }
}

bool poplard_backend_start_tls(PoplarBackendConn *b,
                               gnutls_certificate_credentials_t cred,
                               const char *host, char **error)
{
  gnutls_session_t s = NULL;
  int rc = gnutls_init(&s, GNUTLS_CLIENT);
  if (rc == GNUTLS_E_SUCCESS)
    rc = gnutls_set_default_priority(s);
  if (rc == GNUTLS_E_SUCCESS)
    rc = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
  /* SNI only for a name: RFC 6066 forbids literal addresses there. */
  if (rc == GNUTLS_E_SUCCESS && !g_hostname_is_ip_address(host))
    rc = gnutls_server_name_set(s, GNUTLS_NAME_DNS, host, strlen(host));
  if (rc != GNUTLS_E_SUCCESS) {
    *error = g_strdup_printf("cannot set up TLS: %s", gnutls_strerror(rc));
    if (s)
      gnutls_deinit(s);
    return false;
  }
  gnutls_session_set_verify_cert(s, host, 0);
  gnutls_transport_set_int(s, b->fd);
  int64_t since = g_get_monotonic_time();
  do {
    rc = gnutls_handshake(s);
  } while (rc < 0 && !gnutls_error_is_fatal(rc) &&
           (rc != GNUTLS_E_AGAIN || !tls_again_is_timeout(b, since)));
  if (rc < 0) {
    if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
      gnutls_datum_t why = {NULL, 0};
      gnutls_certificate_verification_status_print(
          gnutls_session_get_verify_cert_status(s),
          gnutls_certificate_type_get(s), &why, 0);
      *error = g_strdup_printf("TLS: the backend's certificate is not "
                               "trusted for %s: %s", host,
                               why.data ? (char *)why.data : "?");
      gnutls_free(why.data);
    } else {
      *error = g_strdup_printf("TLS handshake failed: %s",
                               rc == GNUTLS_E_AGAIN ? "timed out"
                                                    : gnutls_strerror(rc));
    }
    gnutls_deinit(s);
    return false;
  }
  b->tls = s;
  return true;
}

bool poplard_backend_set_nonblocking(PoplarBackendConn *b, char **error)
{
  if (!set_blocking(b->fd, false)) {
    *error = g_strdup_printf("cannot make the socket non-blocking: %s",
                             g_strerror(errno));
    return false;
  }
  return true;
}

void poplard_backend_conn_free(PoplarBackendConn *b)
{
  if (!b)
    return;
  if (b->tls)
    gnutls_deinit(b->tls);
  if (b->fd >= 0)
    close(b->fd);
  explicit_bzero(b->in, sizeof b->in);
  g_free(b->address);
  g_free(b);
}
