/* SPDX-License-Identifier: MIT */
#include "systemd.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* sd_listen_fds(3): passed descriptors start at 3. */
#define SD_LISTEN_FDS_START 3

void poplard_sd_notify(const char *state)
{
  const char *path = getenv("NOTIFY_SOCKET");
  if (!path || !path[0])
    return;
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  size_t len = strlen(path);
  if (len >= sizeof sun.sun_path)
    return;
  memcpy(sun.sun_path, path, len);
  if (path[0] == '@')
    sun.sun_path[0] = '\0'; /* abstract namespace */
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return;
  socklen_t slen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
  ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
                     (struct sockaddr *)&sun, slen);
  (void)n; /* readiness is advisory: nothing to do if systemd is gone */
  close(fd);
}

void poplard_sd_notifyf(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *state = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  poplard_sd_notify(state);
}

unsigned poplard_sd_listen_fds(PoplarInheritedFd *out, unsigned max)
{
  const char *pid = getenv("LISTEN_PID");
  const char *fds = getenv("LISTEN_FDS");
  const char *names = getenv("LISTEN_FDNAMES");
  unsigned n = 0;
  if (pid && fds && strtol(pid, NULL, 10) == (long)getpid()) {
    long count = strtol(fds, NULL, 10);
    g_auto(GStrv) split = names ? g_strsplit(names, ":", -1) : NULL;
    guint n_names = split ? g_strv_length(split) : 0;
    for (long i = 0; i < count && n < max; i++) {
      int fd = SD_LISTEN_FDS_START + (int)i;
      int flags = fcntl(fd, F_GETFD);
      if (flags < 0)
        continue;
      fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
      out[n].fd = fd;
      g_strlcpy(out[n].name, (guint)i < n_names ? split[i] : "",
                sizeof out[n].name);
      n++;
    }
  }
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  return n;
}
