/* SPDX-License-Identifier: MIT */
#include "control-fanout.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control-protocol.h"

/* An answer that came after its deadline must not pass for the answer to
 * the next request. */
static void discard_late_answers(int fd)
{
  char buf[4096];
  while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
    ;
}

static bool send_all(int fd, const char *p, size_t n)
{
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    p += w;
    n -= (size_t)w;
  }
  return true;
}

typedef struct Answer {
  GString *buf;
  bool done;
} Answer;

/* Takes the complete lines of @a; true once its last line came. */
static void take_lines(Answer *a, GString *records, GString *error)
{
  char *nl;
  while (!a->done && (nl = memchr(a->buf->str, '\n', a->buf->len))) {
    size_t len = (size_t)(nl - a->buf->str) + 1;
    if (a->buf->str[0] == 'R') {
      g_string_append_len(records, a->buf->str, (gssize)len);
    } else {
      a->done = true;
      if (strncmp(a->buf->str, "OK", 2) != 0 && !error->len) {
        *nl = '\0';
        g_auto(GStrv) f = poplard_control_split(a->buf->str);
        g_string_append(error, f && f[0] && strncmp(f[0], "ERR ", 4) == 0
                                   ? f[0] + 4
                                   : "a worker gave a malformed answer");
      }
    }
    g_string_erase(a->buf, 0, (gssize)len);
  }
}

bool poplard_control_fanout(const int *fds, unsigned n, char *const *request,
                            GString *records, GString *error)
{
  g_autoptr(GString) line = g_string_new(NULL);
  for (char *const *f = request; *f; f++) {
    if (f != request)
      g_string_append_c(line, '\t');
    poplard_control_escape(line, *f);
  }
  g_string_append_c(line, '\n');
  Answer *answers = g_new0(Answer, n ? n : 1);
  struct pollfd *p = g_new0(struct pollfd, n ? n : 1);
  for (unsigned i = 0; i < n; i++) {
    answers[i].buf = g_string_new(NULL);
    discard_late_answers(fds[i]);
    p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
    if (!send_all(fds[i], line->str, line->len)) {
      answers[i].done = true;
      p[i].fd = -1;
      if (!error->len)
        g_string_append(error, "a worker's control channel failed");
    }
  }
  int64_t deadline = g_get_monotonic_time() +
                     (int64_t)POPLAR_CONTROL_WORKER_TIMEOUT_MS * 1000;
  for (;;) {
    unsigned waiting = 0;
    for (unsigned i = 0; i < n; i++)
      if (!answers[i].done)
        waiting++;
    int64_t left = deadline - g_get_monotonic_time();
    if (!waiting || left <= 0)
      break;
    int r = poll(p, n, (int)((left + 999) / 1000));
    if (r < 0 && errno != EINTR)
      break;
    for (unsigned i = 0; r > 0 && i < n; i++) {
      if (!p[i].revents)
        continue;
      char buf[8192];
      ssize_t got = recv(fds[i], buf, sizeof buf, MSG_DONTWAIT);
      if (got <= 0 && !(got < 0 && (errno == EAGAIN || errno == EINTR))) {
        answers[i].done = true;
        p[i].fd = -1;
        if (!error->len)
          g_string_append(error, "a worker closed its control channel");
        continue;
      }
      if (got > 0)
        g_string_append_len(answers[i].buf, buf, got);
      take_lines(&answers[i], records, error);
      if (answers[i].done)
        p[i].fd = -1;
      else if (answers[i].buf->len > POPLAR_CONTROL_MAX_LINE * 16) {
        answers[i].done = true;
        p[i].fd = -1;
        if (!error->len)
          g_string_append(error, "a worker's answer was too long");
      }
    }
  }
  bool all = true;
  for (unsigned i = 0; i < n; i++) {
    all &= answers[i].done;
    g_string_free(answers[i].buf, TRUE);
  }
  if (!all && !error->len)
    g_string_append(error, "a worker did not answer in time");
  g_free(answers);
  g_free(p);
  return error->len == 0;
}
