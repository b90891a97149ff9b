/* SPDX-License-Identifier: MIT */
/*
 * The journald sink: every field of an event becomes a journal field
 * (POPLAR_AUDIT_USER=alice, ...), so `journalctl POPLAR_AUDIT_EVENT=auth_result`
 * selects events without parsing text.  MESSAGE holds the event's JSON.
 *
 * With libsystemd (found at build time) and the standard socket, events go
 * through sd_journal_sendv().  Otherwise, or with another socket path, the
 * sink speaks journald's native protocol itself: one datagram of
 * KEY=value lines (a value with a line end in the binary form), or, for an
 * event too large for one datagram, a sealed memfd passed over the socket,
 * as sd_journal_sendv() does.
 */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-journal.h>
#endif

#define JOURNAL_DEFAULT_SOCKET "/run/systemd/journal/socket"
#define JOURNAL_FIELD_PREFIX "POPLAR_AUDIT_"

typedef struct JournalSink {
  AuditSink base;
  char *path;
  int facility; /* shifted, as in LOG_MAIL */
  char *tag;
  int fd;
  bool use_libsystemd;
} JournalSink;

bool audit_journal_available(const char *socket_path)
{
  struct stat st;
  return stat(socket_path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* ---- building the fields ------------------------------------------------- */

static void add_pair(GPtrArray *pairs, const char *key, const char *value)
{
  g_ptr_array_add(pairs, g_strconcat(key, "=", value, NULL));
}

/* "KEY=value" strings, one per journal field. */
static GPtrArray *journal_fields(const JournalSink *j, const AuditEvent *ev,
                                 const char *json)
{
  GPtrArray *pairs = g_ptr_array_new_with_free_func(g_free);
  char num[16];
  add_pair(pairs, "MESSAGE", json);
  g_snprintf(num, sizeof num, "%d", ev->priority);
  add_pair(pairs, "PRIORITY", num);
  g_snprintf(num, sizeof num, "%d", j->facility >> 3);
  add_pair(pairs, "SYSLOG_FACILITY", num);
  add_pair(pairs, "SYSLOG_IDENTIFIER", j->tag);
  for (guint i = 0; i < ev->fields->len; i++) {
    const AuditField *f = &g_array_index(ev->fields, AuditField, i);
    if (f->kind == AUDIT_NULL)
      continue; /* an absent field reads as null */
    g_autofree char *upper = g_ascii_strup(f->key, -1);
    g_autofree char *key = g_strconcat(JOURNAL_FIELD_PREFIX, upper, NULL);
    if (f->kind == AUDIT_LIST) {
      /* UIDLs have no spaces (RFC 1939), so a space-separated list is
       * unambiguous. */
      GString *v = g_string_new(NULL);
      for (guint k = 0; k < f->list->len; k++) {
        if (k > 0)
          g_string_append_c(v, ' ');
        g_string_append(v, g_ptr_array_index(f->list, k));
      }
      add_pair(pairs, key, v->str);
      g_string_free(v, TRUE);
    } else {
      add_pair(pairs, key, f->text);
    }
  }
  return pairs;
}

/* ---- the native protocol ------------------------------------------------- */

static void append_le64(GByteArray *out, uint64_t v)
{
  guint8 b[8];
  for (int i = 0; i < 8; i++)
    b[i] = (guint8)(v >> (8 * i));
  g_byte_array_append(out, b, 8);
}

static GByteArray *native_datagram(GPtrArray *pairs)
{
  GByteArray *out = g_byte_array_new();
  for (guint i = 0; i < pairs->len; i++) {
    const char *pair = g_ptr_array_index(pairs, i);
    const char *eq = strchr(pair, '=');
    const char *value = eq + 1;
    if (!strchr(value, '\n')) {
      g_byte_array_append(out, (const guint8 *)pair, (guint)strlen(pair));
    } else {
      /* Binary form: KEY \n little-endian length value. */
      g_byte_array_append(out, (const guint8 *)pair, (guint)(eq - pair));
      g_byte_array_append(out, (const guint8 *)"\n", 1);
      append_le64(out, strlen(value));
      g_byte_array_append(out, (const guint8 *)value, (guint)strlen(value));
    }
    g_byte_array_append(out, (const guint8 *)"\n", 1);
  }
  return out;
}

static bool journal_connect(JournalSink *j, char **error)
{
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(j->path) >= sizeof sa.sun_path) {
    *error = g_strdup_printf("socket path %s is too long", j->path);
    return false;
  }
  strcpy(sa.sun_path, j->path);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    *error = g_strdup_printf("socket: %s", g_strerror(errno));
    return false;
  }
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    *error = g_strdup_printf("cannot connect to %s: %s", j->path,
                             g_strerror(errno));
    close(fd);
    return false;
  }
  j->fd = fd;
  return true;
}

/* An event too large for a datagram: its bytes in a sealed memfd, whose
 * descriptor is the whole message. */
static bool send_memfd(JournalSink *j, const GByteArray *data, char **error)
{
  int mfd = memfd_create("poplar-audit", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0) {
    *error = g_strdup_printf("memfd_create: %s", g_strerror(errno));
    return false;
  }
  size_t done = 0;
  while (done < data->len) {
    ssize_t n = write(mfd, data->data + done, data->len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      *error = g_strdup_printf("writing memfd: %s", g_strerror(errno));
      close(mfd);
      return false;
    }
    done += (size_t)n;
  }
  if (fcntl(mfd, F_ADD_SEALS,
            F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0) {
    *error = g_strdup_printf("sealing memfd: %s", g_strerror(errno));
    close(mfd);
    return false;
  }
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr mh = {.msg_control = control.buf,
                      .msg_controllen = sizeof control.buf};
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&mh);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &mfd, sizeof(int));
  ssize_t n;
  do {
    n = sendmsg(j->fd, &mh, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  int saved = errno;
  close(mfd);
  if (n < 0) {
    *error = g_strdup_printf("sending to %s: %s", j->path, g_strerror(saved));
    return false;
  }
  return true;
}

static bool native_send(JournalSink *j, GPtrArray *pairs, char **error)
{
  g_autoptr(GByteArray) data = native_datagram(pairs);
  if (j->fd < 0 && !journal_connect(j, error))
    return false;
  ssize_t n;
  do {
    n = send(j->fd, data->data, data->len, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n >= 0)
    return true;
  if (errno == EMSGSIZE || errno == ENOBUFS)
    return send_memfd(j, data, error);
  *error = g_strdup_printf("sending to %s: %s", j->path, g_strerror(errno));
  /* journald restarted or went away: reconnect on the next event. */
  close(j->fd);
  j->fd = -1;
  return false;
}

#ifdef HAVE_LIBSYSTEMD
static bool libsystemd_send(GPtrArray *pairs, char **error)
{
  struct iovec *iov = g_new(struct iovec, pairs->len);
  for (guint i = 0; i < pairs->len; i++) {
    iov[i].iov_base = g_ptr_array_index(pairs, i);
    iov[i].iov_len = strlen(g_ptr_array_index(pairs, i));
  }
  int r = sd_journal_sendv(iov, (int)pairs->len);
  g_free(iov);
  if (r < 0) {
    *error = g_strdup_printf("sd_journal_sendv: %s", g_strerror(-r));
    return false;
  }
  return true;
}
#endif

static bool journal_write(AuditSink *sink, const AuditEvent *ev,
                          const char *json, char **error)
{
  JournalSink *j = (JournalSink *)sink;
  g_autoptr(GPtrArray) pairs = journal_fields(j, ev, json);
#ifdef HAVE_LIBSYSTEMD
  if (j->use_libsystemd)
    return libsystemd_send(pairs, error);
#endif
  return native_send(j, pairs, error);
}

static bool journal_probe(AuditSink *sink, char **error)
{
  JournalSink *j = (JournalSink *)sink;
  if (!audit_journal_available(j->path)) {
    *error = g_strdup_printf("%s is not a socket", j->path);
    return false;
  }
  if (j->use_libsystemd)
    return true;
  if (j->fd >= 0)
    close(j->fd);
  j->fd = -1;
  return journal_connect(j, error);
}

static void journal_free(AuditSink *sink)
{
  JournalSink *j = (JournalSink *)sink;
  if (j->fd >= 0)
    close(j->fd);
  g_free(j->path);
  g_free(j->tag);
  g_free(j->base.name);
  g_free(j);
}

static const AuditSinkOps journal_ops = {
    .write = journal_write,
    .probe = journal_probe,
    .free = journal_free,
};

AuditSink *audit_sink_journal_new(const char *socket_path, int facility,
                                  const char *tag)
{
  JournalSink *j = g_new0(JournalSink, 1);
  j->base.ops = &journal_ops;
  j->base.name = g_strdup_printf("journald %s", socket_path);
  j->path = g_strdup(socket_path);
  j->facility = facility;
  j->tag = g_strdup(tag);
  j->fd = -1;
#ifdef HAVE_LIBSYSTEMD
  j->use_libsystemd = strcmp(socket_path, JOURNAL_DEFAULT_SOCKET) == 0;
#endif
  return &j->base;
}
