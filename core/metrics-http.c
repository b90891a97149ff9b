/* SPDX-License-Identifier: MIT */
#include "metrics-http.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "listener.h"
#include "metrics-text.h"
#include "stats.h"

/* A scraper that does not send its request in this time is dropped: the
 * master serves nothing else meanwhile. */
#define REQUEST_TIMEOUT_MS 2000

struct PoplarMetricsHttp {
  PoplarListener *listener;
};

PoplarMetricsHttp *poplard_metrics_http_open(const char *address,
                                             char **error)
{
  PoplarListener *l = poplard_listener_bind(address, false, error);
  if (!l)
    return NULL;
  PoplarMetricsHttp *h = g_new0(PoplarMetricsHttp, 1);
  h->listener = l;
  return h;
}

int poplard_metrics_http_fd(const PoplarMetricsHttp *h)
{
  return poplard_listener_fd(h->listener);
}

const char *poplard_metrics_http_address(const PoplarMetricsHttp *h)
{
  return poplard_listener_address(h->listener);
}

void poplard_metrics_http_free(PoplarMetricsHttp *h)
{
  if (!h)
    return;
  poplard_listener_free(h->listener);
  g_free(h);
}

int poplard_metrics_http_status(const char *head)
{
  const char *eol = strstr(head, "\r\n");
  if (!eol)
    eol = head + strlen(head);
  g_autofree char *line = g_strndup(head, (gsize)(eol - head));
  g_auto(GStrv) parts = g_strsplit(line, " ", 4);
  if (g_strv_length(parts) != 3 || !g_str_has_prefix(parts[2], "HTTP/1."))
    return 400;
  if (strcmp(parts[0], "GET") != 0 && strcmp(parts[0], "HEAD") != 0)
    return 405;
  /* A query string (a scraper's ?name[]=...) selects nothing here. */
  char *query = strchr(parts[1], '?');
  if (query)
    *query = '\0';
  return strcmp(parts[1], "/metrics") == 0 ? 200 : 404;
}

bool poplard_metrics_http_wants_text(const char *head)
{
  g_auto(GStrv) lines = g_strsplit(head, "\n", -1);
  for (char **l = lines; *l; l++) {
    if (g_ascii_strncasecmp(*l, "Accept:", 7) != 0)
      continue;
    g_autofree char *value = g_ascii_strdown(*l + 7, -1);
    return strstr(value, "text/plain") &&
           !strstr(value, "application/openmetrics-text");
  }
  return false;
}

static const char *reason_of(int status)
{
  switch (status) {
  case 200:
    return "OK";
  case 400:
    return "Bad Request";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 431:
    return "Request Header Fields Too Large";
  case 503:
    return "Service Unavailable";
  }
  return "Error";
}

/* Reads the request head: 0 when whole, else the status to answer. */
static int read_head(int fd, GString *in)
{
  int64_t deadline = g_get_monotonic_time() +
                     (int64_t)REQUEST_TIMEOUT_MS * 1000;
  char buf[1024];
  while (!strstr(in->str, "\r\n\r\n") && !strstr(in->str, "\n\n")) {
    if (in->len >= POPLAR_METRICS_MAX_REQUEST)
      return 431;
    int64_t left = deadline - g_get_monotonic_time();
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (left <= 0 || poll(&p, 1, (int)((left + 999) / 1000)) <= 0)
      return 408;
    size_t room = MIN(sizeof buf, POPLAR_METRICS_MAX_REQUEST - in->len);
    ssize_t n = recv(fd, buf, room, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n <= 0)
      return 400;
    if (memchr(buf, '\0', (size_t)n))
      return 400;
    g_string_append_len(in, buf, n);
  }
  return 0;
}

static void send_all(int fd, const char *p, size_t n)
{
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return;
    p += w;
    n -= (size_t)w;
  }
}

void poplard_metrics_http_serve_one(PoplarMetricsHttp *h,
                                    const PoplarMasterView *view)
{
  int fd = accept4(poplard_metrics_http_fd(h), NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0)
    return;
  struct timeval tv = {.tv_sec = REQUEST_TIMEOUT_MS / 1000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  g_autoptr(GString) in = g_string_new(NULL);
  g_autoptr(GString) body = g_string_new(NULL);
  int status = read_head(fd, in);
  if (status == 0)
    status = poplard_metrics_http_status(in->str);
  const char *type = "text/plain; charset=utf-8";
  if (status == 200) {
    g_autoptr(GHashTable) merged = poplard_stats_merged_new();
    g_autoptr(GString) error = g_string_new(NULL);
    if (poplard_control_collect_stats(view, merged, error)) {
      bool text = poplard_metrics_http_wants_text(in->str);
      poplard_metrics_render(merged, text, body);
      type = text ? POPLAR_METRICS_CONTENT_TYPE_TEXT
                  : POPLAR_METRICS_CONTENT_TYPE;
    } else {
      /* Partial counters would look like counters going down. */
      status = 503;
      g_string_append_printf(body, "%s\n", error->str);
    }
  } else {
    g_string_append_printf(body, "%s\n", reason_of(status));
  }
  bool head_only = g_str_has_prefix(in->str, "HEAD ");
  g_autoptr(GString) out = g_string_new(NULL);
  g_string_append_printf(out,
                         "HTTP/1.1 %d %s\r\n"
                         "Content-Type: %s\r\n"
                         "Content-Length: %zu\r\n"
                         "Connection: close\r\n"
                         "%s"
                         "\r\n",
                         status, reason_of(status), type, body->len,
                         status == 405 ? "Allow: GET, HEAD\r\n" : "");
  if (!head_only)
    g_string_append_len(out, body->str, (gssize)body->len);
  send_all(fd, out->str, out->len);
  close(fd);
}
