/* SPDX-License-Identifier: MIT */
/*
 * The TLS ceiling: the least a POP3-over-TLS server can do.  A few
 * threads accept, complete the GnuTLS handshake with the given
 * certificate and priority (session tickets on, so resumption works),
 * send a greeting, answer every line with +OK and close after QUIT or at
 * the client's close.  poplar-bench's handshake scenario against it gives
 * the handshake rate this machine allows.
 *
 *   tls-ceiling-server --cert PEM --key PEM [--priority P] [--port N]
 *                      [--threads N]
 * Prints "listening on 127.0.0.1:PORT" and runs until SIGTERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct Ceiling {
  int listen_fd;
  gnutls_certificate_credentials_t creds;
  gnutls_priority_t priority;
  gnutls_datum_t ticket_key;
} Ceiling;

static bool send_all(gnutls_session_t s, const char *text)
{
  size_t len = strlen(text);
  while (len > 0) {
    ssize_t r = gnutls_record_send(s, text, len);
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
      continue;
    if (r < 0)
      return false;
    text += r;
    len -= (size_t)r;
  }
  return true;
}

/* Answers each line with +OK until QUIT or the end of the connection. */
static void converse(gnutls_session_t s)
{
  char buf[4096];
  size_t have = 0;
  if (!send_all(s, "+OK ceiling ready\r\n"))
    return;
  for (;;) {
    ssize_t r = gnutls_record_recv(s, buf + have, sizeof buf - have);
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
      continue;
    if (r <= 0)
      return;
    have += (size_t)r;
    char *nl;
    while ((nl = memchr(buf, '\n', have))) {
      bool quit = strncasecmp(buf, "QUIT", 4) == 0;
      if (!send_all(s, quit ? "+OK bye\r\n" : "+OK\r\n") || quit)
        return;
      size_t used = (size_t)(nl - buf) + 1;
      memmove(buf, nl + 1, have - used);
      have -= used;
    }
    if (have == sizeof buf)
      return;
  }
}

static void serve(Ceiling *c, int fd)
{
  gnutls_session_t s;
  if (gnutls_init(&s, GNUTLS_SERVER) < 0)
    return;
  if (gnutls_priority_set(s, c->priority) < 0 ||
      gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, c->creds) < 0 ||
      gnutls_session_ticket_enable_server(s, &c->ticket_key) < 0) {
    gnutls_deinit(s);
    return;
  }
  gnutls_certificate_server_set_request(s, GNUTLS_CERT_IGNORE);
  gnutls_transport_set_int(s, fd);
  int r;
  do {
    r = gnutls_handshake(s);
  } while (r < 0 && !gnutls_error_is_fatal(r));
  if (r == 0) {
    converse(s);
    gnutls_bye(s, GNUTLS_SHUT_WR);
  }
  gnutls_deinit(s);
}

static void *accept_loop(void *arg)
{
  Ceiling *c = arg;
  for (;;) {
    int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
        continue;
      perror("tls-ceiling-server: accept");
      exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    serve(c, fd);
    close(fd);
  }
  return NULL;
}

static void die(const char *what, int r)
{
  fprintf(stderr, "tls-ceiling-server: %s: %s\n", what, gnutls_strerror(r));
  exit(1);
}

int main(int argc, char **argv)
{
  const char *cert = NULL, *key = NULL, *priority = "NORMAL";
  int port = 0, threads = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--cert") == 0)
      cert = argv[i + 1];
    else if (strcmp(argv[i], "--key") == 0)
      key = argv[i + 1];
    else if (strcmp(argv[i], "--priority") == 0)
      priority = argv[i + 1];
    else if (strcmp(argv[i], "--port") == 0)
      port = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--threads") == 0)
      threads = atoi(argv[i + 1]);
    else {
      fprintf(stderr, "tls-ceiling-server: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (!cert || !key || threads < 1) {
    fprintf(stderr, "usage: tls-ceiling-server --cert PEM --key PEM "
                    "[--priority P] [--port N] [--threads N]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  Ceiling c = {0};
  int r = gnutls_certificate_allocate_credentials(&c.creds);
  if (r < 0)
    die("credentials", r);
  r = gnutls_certificate_set_x509_key_file(c.creds, cert, key,
                                           GNUTLS_X509_FMT_PEM);
  if (r < 0)
    die(cert, r);
  const char *err_pos = NULL;
  r = gnutls_priority_init(&c.priority, priority, &err_pos);
  if (r < 0)
    die(priority, r);
  r = gnutls_session_ticket_key_generate(&c.ticket_key);
  if (r < 0)
    die("ticket key", r);

  c.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(c.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  if (bind(c.listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      listen(c.listen_fd, 4096) != 0 ||
      getsockname(c.listen_fd, (struct sockaddr *)&sa, &len) != 0) {
    perror("tls-ceiling-server: listen");
    return 1;
  }
  fprintf(stderr, "listening on 127.0.0.1:%d\n", ntohs(sa.sin_port));
  for (int i = 0; i < threads; i++) {
    pthread_t t;
    if (pthread_create(&t, NULL, accept_loop, &c) != 0) {
      fprintf(stderr, "tls-ceiling-server: pthread_create failed\n");
      return 1;
    }
    pthread_detach(t);
  }
  for (;;)
    pause();
}
