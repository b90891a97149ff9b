/* SPDX-License-Identifier: MIT */
/*
 * The syslog sink: one datagram per event to the local syslog socket, in
 * the format syslog(3) uses ("<PRI>Mmm dd hh:mm:ss tag[pid]: message"),
 * the message being the event's JSON.  It talks to the socket itself
 * rather than through openlog(3), whose ident and facility are global to
 * the process and would change the log lines of every other user of
 * syslog(3) in poplard.
 */
#include "audit.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* What syslog daemons keep of a message by default (rsyslog: 8 KiB).
 * Longer events (an UPDATE of thousands of messages) are cut; the JSON
 * Lines file keeps them whole. */
#define SYSLOG_MESSAGE_MAX 8192

typedef struct SyslogSink {
  AuditSink base;
  char *path;
  int facility; /* already shifted: LOG_MAIL etc. */
  char *tag;
  int fd;
} SyslogSink;

static bool syslog_connect(SyslogSink *s, char **error)
{
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(s->path) >= sizeof sa.sun_path) {
    *error = g_strdup_printf("socket path %s is too long", s->path);
    return false;
  }
  strcpy(sa.sun_path, s->path);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    *error = g_strdup_printf("socket: %s", g_strerror(errno));
    return false;
  }
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    *error = g_strdup_printf("cannot connect to %s: %s", s->path,
                             g_strerror(errno));
    close(fd);
    return false;
  }
  s->fd = fd;
  return true;
}

static void syslog_disconnect(SyslogSink *s)
{
  if (s->fd >= 0)
    close(s->fd);
  s->fd = -1;
}

static bool syslog_send(SyslogSink *s, const char *msg, size_t len,
                        char **error)
{
  for (;;) {
    ssize_t n = send(s->fd, msg, len, MSG_NOSIGNAL);
    if (n >= 0)
      return true;
    if (errno == EINTR)
      continue;
    *error = g_strdup_printf("sending to %s: %s", s->path, g_strerror(errno));
    return false;
  }
}

static bool syslog_write(AuditSink *sink, const AuditEvent *ev,
                         const char *json, char **error)
{
  SyslogSink *s = (SyslogSink *)sink;
  time_t secs = (time_t)(ev->time_us / G_USEC_PER_SEC);
  struct tm tm;
  localtime_r(&secs, &tm);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", &tm);
  g_autofree char *msg =
      g_strdup_printf("<%d>%s %s[%d]: %s", s->facility | ev->priority, stamp,
                      s->tag, (int)getpid(), json);
  size_t len = MIN(strlen(msg), (size_t)SYSLOG_MESSAGE_MAX);

  if (s->fd < 0 && !syslog_connect(s, error))
    return false;
  if (syslog_send(s, msg, len, error))
    return true;
  /* The daemon may have restarted (a new socket at the same path): one
   * reconnection, then give up on this event. */
  syslog_disconnect(s);
  g_clear_pointer(error, g_free);
  if (!syslog_connect(s, error))
    return false;
  if (syslog_send(s, msg, len, error))
    return true;
  syslog_disconnect(s);
  return false;
}

static bool syslog_probe(AuditSink *sink, char **error)
{
  SyslogSink *s = (SyslogSink *)sink;
  syslog_disconnect(s);
  return syslog_connect(s, error);
}

static void syslog_free(AuditSink *sink)
{
  SyslogSink *s = (SyslogSink *)sink;
  syslog_disconnect(s);
  g_free(s->path);
  g_free(s->tag);
  g_free(s->base.name);
  g_free(s);
}

static const AuditSinkOps syslog_ops = {
    .write = syslog_write,
    .probe = syslog_probe,
    .free = syslog_free,
};

AuditSink *audit_sink_syslog_new(const char *socket_path, int facility,
                                 const char *tag)
{
  SyslogSink *s = g_new0(SyslogSink, 1);
  s->base.ops = &syslog_ops;
  s->base.name = g_strdup_printf("syslog %s", socket_path);
  s->path = g_strdup(socket_path);
  s->facility = facility;
  s->tag = g_strdup(tag);
  s->fd = -1;
  return &s->base;
}
