/* SPDX-License-Identifier: MIT */
/*
 * A small blocking POP3 client: one connection per user, plain TCP, STLS
 * (RFC 2595) or implicit TLS (RFC 8314) through GnuTLS.  Each of the
 * driver's threads runs its own client, so blocking I/O with socket
 * timeouts is all it takes; a server that stops answering fails the user
 * after the timeout instead of hanging the run.
 */
#include "uidl-import.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* RFC 2449 allows 512 octets for a response line; a multi-line body's
 * lines can be long (a header line), so this only bounds memory. */
#define LINE_MAX_LEN (1024 * 1024)

struct Pop3Client {
  int fd;
  unsigned timeout_s;
  gnutls_session_t tls;
  gnutls_certificate_credentials_t creds;
  char *host;
  char buf[16384];
  size_t start, end;
};

G_DEFINE_QUARK(poplar-uidl-import-error-quark, uidl_import_error)

bool pop3_client_global_init(GError **error)
{
  int rc = gnutls_global_init();
  if (rc < 0) {
    g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_FAILED,
                "GnuTLS: %s", gnutls_strerror(rc));
    return false;
  }
  return true;
}

static int tcp_connect(const Pop3ServerConfig *server, GError **error)
{
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                           .ai_family = AF_UNSPEC};
  struct addrinfo *res = NULL;
  int rc = getaddrinfo(server->host, server->port, &hints, &res);
  if (rc != 0) {
    g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_NETWORK,
                "cannot resolve %s: %s", server->host, gai_strerror(rc));
    return -1;
  }
  int fd = -1, err = 0;
  struct timeval tv = {.tv_sec = server->timeout_s};
  for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    /* Bounds connect() as well as every later read and write. */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      err = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0)
    g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_NETWORK,
                "cannot connect to %s port %s: %s", server->host,
                server->port, g_strerror(err));
  return fd;
}

static bool tls_fail(GError **error, const char *what, int rc)
{
  g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_NETWORK,
              "TLS %s: %s", what, gnutls_strerror(rc));
  return false;
}

static bool tls_start(Pop3Client *c, const Pop3ServerConfig *server,
                      GError **error)
{
  int rc = gnutls_certificate_allocate_credentials(&c->creds);
  if (rc < 0)
    return tls_fail(error, "set-up", rc);
  if (!server->insecure) {
    rc = server->ca_file
             ? gnutls_certificate_set_x509_trust_file(c->creds,
                                                      server->ca_file,
                                                      GNUTLS_X509_FMT_PEM)
             : gnutls_certificate_set_x509_system_trust(c->creds);
    if (rc <= 0) {
      g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_USAGE,
                  "no trusted certificate in %s%s%s",
                  server->ca_file ? server->ca_file : "the system store",
                  rc < 0 ? ": " : "", rc < 0 ? gnutls_strerror(rc) : "");
      return false;
    }
  }
  if ((rc = gnutls_init(&c->tls, GNUTLS_CLIENT)) < 0)
    return tls_fail(error, "set-up", rc);
  if ((rc = gnutls_set_default_priority(c->tls)) < 0 ||
      (rc = gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE,
                                   c->creds)) < 0)
    return tls_fail(error, "set-up", rc);
  /* SNI only takes a name, never an address literal (RFC 6066). */
  if (!g_hostname_is_ip_address(c->host))
    gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, c->host,
                           strlen(c->host));
  if (!server->insecure)
    gnutls_session_set_verify_cert(c->tls, c->host, 0);
  gnutls_transport_set_int(c->tls, c->fd);
  gnutls_handshake_set_timeout(c->tls, server->timeout_s * 1000u);
  /* Blocking socket with a receive timeout: GNUTLS_E_AGAIN is the
   * handshake timeout, which gnutls_handshake_set_timeout() bounds. */
  do
    rc = gnutls_handshake(c->tls);
  while (rc < 0 && !gnutls_error_is_fatal(rc) && rc != GNUTLS_E_AGAIN &&
         rc != GNUTLS_E_TIMEDOUT);
  if (rc < 0) {
    if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
      gnutls_datum_t text = {0};
      unsigned status = gnutls_session_get_verify_cert_status(c->tls);
      gnutls_certificate_verification_status_print(
          status, gnutls_certificate_type_get(c->tls), &text, 0);
      g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_NETWORK,
                  "TLS: the certificate of %s is not trusted: %s "
                  "(--ca-file names the CA)", c->host,
                  text.data ? (const char *)text.data : "?");
      gnutls_free(text.data);
      return false;
    }
    return tls_fail(error, "handshake", rc);
  }
  return true;
}

static bool write_all(Pop3Client *c, const char *data, size_t len,
                      GError **error)
{
  while (len > 0) {
    ssize_t n;
    if (c->tls) {
      n = gnutls_record_send(c->tls, data, len);
      if (n == GNUTLS_E_INTERRUPTED)
        continue;
      if (n < 0)
        return tls_fail(error, "write", (int)n);
    } else {
      n = send(c->fd, data, len, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0) {
        g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_NETWORK,
                    "cannot send to %s: %s", c->host,
                    errno == EAGAIN ? "timed out" : g_strerror(errno));
        return false;
      }
    }
    data += n;
    len -= (size_t)n;
  }
  return true;
}

static bool fill(Pop3Client *c, GError **error)
{
  if (c->start > 0) {
    memmove(c->buf, c->buf + c->start, c->end - c->start);
    c->end -= c->start;
    c->start = 0;
  }
  gint64 deadline = g_get_monotonic_time() +
                    (gint64)c->timeout_s * G_USEC_PER_SEC;
  for (;;) {
    ssize_t n;
    if (c->tls) {
      n = gnutls_record_recv(c->tls, c->buf + c->end,
                             sizeof c->buf - c->end);
      if (n == GNUTLS_E_INTERRUPTED)
        continue;
      /* Also after a TLS 1.3 session ticket, which carries no data: only
       * the socket's timeout running out is a timeout. */
      if (n == GNUTLS_E_AGAIN && g_get_monotonic_time() < deadline)
        continue;
      if (n == GNUTLS_E_AGAIN) {
        g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_NETWORK,
                    "%s did not answer in time", c->host);
        return false;
      }
      if (n < 0)
        return tls_fail(error, "read", (int)n);
    } else {
      n = recv(c->fd, c->buf + c->end, sizeof c->buf - c->end, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0) {
        g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_NETWORK,
                    "%s: %s", c->host,
                    errno == EAGAIN ? "no answer in time" : g_strerror(errno));
        return false;
      }
    }
    if (n == 0) {
      g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_NETWORK,
                  "%s closed the connection", c->host);
      return false;
    }
    c->end += (size_t)n;
    return true;
  }
}

/* Reads one line into @line (without CRLF or LF). */
static bool read_line(Pop3Client *c, GString *line, GError **error)
{
  g_string_truncate(line, 0);
  for (;;) {
    char *nl = memchr(c->buf + c->start, '\n', c->end - c->start);
    size_t take = nl ? (size_t)(nl - (c->buf + c->start))
                     : c->end - c->start;
    if (line->len + take > LINE_MAX_LEN) {
      g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_PROTOCOL,
                  "%s sent a line longer than %d octets", c->host,
                  LINE_MAX_LEN);
      return false;
    }
    g_string_append_len(line, c->buf + c->start, (gssize)take);
    c->start += take;
    if (nl) {
      c->start++;
      if (line->len > 0 && line->str[line->len - 1] == '\r')
        g_string_truncate(line, line->len - 1);
      return true;
    }
    c->start = c->end = 0;
    if (!fill(c, error))
      return false;
  }
}

/* Reads a status line; false with the server's words on -ERR. */
static bool read_status(Pop3Client *c, const char *what, char **reply,
                        GError **error)
{
  g_autoptr(GString) line = g_string_new(NULL);
  if (!read_line(c, line, error))
    return false;
  if (g_str_has_prefix(line->str, "+OK")) {
    if (reply)
      *reply = g_strdup(line->str[3] == ' ' ? line->str + 4 : line->str + 3);
    return true;
  }
  g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_PROTOCOL,
              "%s: %s answered: %.200s", what, c->host, line->str);
  return false;
}

static bool send_line(Pop3Client *c, const char *text, GError **error)
{
  g_autofree char *line = g_strconcat(text, "\r\n", NULL);
  return write_all(c, line, strlen(line), error);
}

Pop3Client *pop3_client_connect(const Pop3ServerConfig *server,
                                GError **error)
{
  int fd = tcp_connect(server, error);
  if (fd < 0)
    return NULL;
  Pop3Client *c = g_new0(Pop3Client, 1);
  c->fd = fd;
  c->timeout_s = server->timeout_s;
  c->host = g_strdup(server->host);
  if (server->tls == POP3_TLS_IMPLICIT && !tls_start(c, server, error))
    goto fail;
  if (!read_status(c, "greeting", NULL, error))
    goto fail;
  if (server->tls == POP3_TLS_STARTTLS) {
    if (!send_line(c, "STLS", error) || !read_status(c, "STLS", NULL, error))
      goto fail;
    /* Nothing may follow +OK before the handshake (RFC 2595 4). */
    if (c->end != c->start) {
      g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_PROTOCOL,
                  "%s sent data after +OK to STLS", c->host);
      goto fail;
    }
    if (!tls_start(c, server, error))
      goto fail;
  }
  return c;
fail:
  pop3_client_free(c);
  return NULL;
}

void pop3_client_free(Pop3Client *c)
{
  if (!c)
    return;
  if (c->tls)
    gnutls_deinit(c->tls);
  if (c->creds)
    gnutls_certificate_free_credentials(c->creds);
  if (c->fd >= 0)
    close(c->fd);
  g_free(c->host);
  g_free(c);
}

bool pop3_client_command(Pop3Client *c, const char *command, char **reply,
                         GError **error)
{
  g_autofree char *verb = g_strndup(command, strcspn(command, " "));
  return send_line(c, command, error) &&
         read_status(c, verb, reply, error);
}

bool pop3_client_login(Pop3Client *c, const char *user, const char *password,
                       GError **error)
{
  if (strpbrk(user, "\r\n") || strpbrk(password, "\r\n")) {
    g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_USAGE,
                "a user name or password holds a line break");
    return false;
  }
  g_autofree char *u = g_strconcat("USER ", user, NULL);
  g_autofree char *p = g_strconcat("PASS ", password, NULL);
  return pop3_client_command(c, u, NULL, error) &&
         pop3_client_command(c, p, NULL, error);
}

bool pop3_client_auth_plain(Pop3Client *c, const char *authzid,
                            const char *authcid, const char *password,
                            GError **error)
{
  size_t zl = strlen(authzid), cl = strlen(authcid), pl = strlen(password);
  g_autofree guchar *msg = g_malloc(zl + cl + pl + 2);
  memcpy(msg, authzid, zl);
  msg[zl] = '\0';
  memcpy(msg + zl + 1, authcid, cl);
  msg[zl + 1 + cl] = '\0';
  memcpy(msg + zl + cl + 2, password, pl);
  g_autofree char *b64 = g_base64_encode(msg, zl + cl + pl + 2);
  memset(msg, 0, zl + cl + pl + 2);
  /* Without an initial response: every RFC 5034 server takes that. */
  if (!send_line(c, "AUTH PLAIN", error))
    return false;
  g_autoptr(GString) line = g_string_new(NULL);
  if (!read_line(c, line, error))
    return false;
  if (!g_str_has_prefix(line->str, "+")) {
    g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_PROTOCOL,
                "AUTH PLAIN: %s answered: %.200s", c->host, line->str);
    return false;
  }
  bool ok = send_line(c, b64, error) &&
            read_status(c, "AUTH PLAIN", NULL, error);
  memset(b64, 0, strlen(b64));
  return ok;
}

bool pop3_client_multiline(Pop3Client *c, const char *command,
                           GString **body, GError **error)
{
  if (!pop3_client_command(c, command, NULL, error))
    return false;
  GString *out = g_string_new(NULL);
  g_autoptr(GString) line = g_string_new(NULL);
  for (;;) {
    if (!read_line(c, line, error)) {
      g_string_free(out, TRUE);
      return false;
    }
    if (line->len == 1 && line->str[0] == '.')
      break;
    /* Lengths, not C strings: a header may hold a NUL. */
    size_t skip = line->len > 0 && line->str[0] == '.' ? 1 : 0;
    g_string_append_len(out, line->str + skip, (gssize)(line->len - skip));
    g_string_append_c(out, '\n');
  }
  *body = out;
  return true;
}

void pop3_client_quit(Pop3Client *c)
{
  g_autoptr(GError) ignored = NULL;
  if (send_line(c, "QUIT", &ignored))
    read_status(c, "QUIT", NULL, &ignored);
  if (c->tls)
    gnutls_bye(c->tls, GNUTLS_SHUT_WR);
}
