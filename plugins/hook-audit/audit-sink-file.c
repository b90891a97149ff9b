/* SPDX-License-Identifier: MIT */
/*
 * The JSON Lines file sink.  Each event is one line written with one
 * write(2) in O_APPEND mode, so lines are never interleaved or torn by
 * another writer of the same file.
 *
 * logrotate: the file is reopened when its name no longer leads to the
 * inode that is open (renamed or removed), checked at most once a second.
 * That needs neither a signal nor copytruncate.  (Reopening on SIGHUP will
 * come with the core's reload support; a plugin installs no signal
 * handlers of its own.)
 */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_CHECK_INTERVAL_US G_USEC_PER_SEC
#define FILE_MODE 0640

typedef struct FileSink {
  AuditSink base;
  char *path;
  int fd;
  dev_t dev;
  ino_t ino;
  int64_t last_check; /* monotonic time of the last stat or open attempt */
  char *open_error;   /* why the last open failed */
} FileSink;

static bool file_open(FileSink *f)
{
  f->last_check = g_get_monotonic_time();
  int fd = open(f->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
                FILE_MODE);
  if (fd < 0) {
    g_free(f->open_error);
    f->open_error = g_strdup_printf("cannot open %s: %s", f->path,
                                    g_strerror(errno));
    return false;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    g_free(f->open_error);
    f->open_error = g_strdup_printf("%s is not a regular file", f->path);
    close(fd);
    return false;
  }
  f->fd = fd;
  f->dev = st.st_dev;
  f->ino = st.st_ino;
  g_clear_pointer(&f->open_error, g_free);
  return true;
}

static void file_close(FileSink *f)
{
  if (f->fd >= 0)
    close(f->fd);
  f->fd = -1;
}

/* True when the path still names the open file. */
static bool file_still_there(const FileSink *f)
{
  struct stat st;
  if (stat(f->path, &st) != 0)
    return false;
  return st.st_dev == f->dev && st.st_ino == f->ino;
}

/* Makes sure a file is open, reopening at most once a second. */
static bool file_ready(FileSink *f, char **error)
{
  int64_t now = g_get_monotonic_time();
  bool due = now - f->last_check >= FILE_CHECK_INTERVAL_US;
  if (f->fd >= 0 && due) {
    f->last_check = now;
    if (!file_still_there(f))
      file_close(f);
  }
  if (f->fd < 0 && (due || f->last_check == 0))
    file_open(f);
  if (f->fd < 0) {
    *error = g_strdup(f->open_error ? f->open_error : "file not open");
    return false;
  }
  return true;
}

static bool file_write(AuditSink *sink, const AuditEvent *ev,
                       const char *json, char **error)
{
  FileSink *f = (FileSink *)sink;
  (void)ev;
  if (!file_ready(f, error))
    return false;
  g_autofree char *line = g_strconcat(json, "\n", NULL);
  size_t len = strlen(line);
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(f->fd, line + done, len - done);
    if (n > 0) {
      done += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    *error = g_strdup_printf("writing %s: %s", f->path,
                             n < 0 ? g_strerror(errno) : "no progress");
    /* Start afresh on the next event: the disk may have room again, or
     * the file may have been replaced. */
    file_close(f);
    return false;
  }
  return true;
}

static bool file_probe(AuditSink *sink, char **error)
{
  return file_ready((FileSink *)sink, error);
}

static void file_free(AuditSink *sink)
{
  FileSink *f = (FileSink *)sink;
  file_close(f);
  g_free(f->path);
  g_free(f->open_error);
  g_free(f->base.name);
  g_free(f);
}

static const AuditSinkOps file_ops = {
    .write = file_write,
    .probe = file_probe,
    .free = file_free,
};

AuditSink *audit_sink_file_new(const char *path)
{
  FileSink *f = g_new0(FileSink, 1);
  f->base.ops = &file_ops;
  f->base.name = g_strdup_printf("file %s", path);
  f->path = g_strdup(path);
  f->fd = -1;
  file_open(f);
  return &f->base;
}

/* Exposed for the plugin's start-up check. */
const char *audit_sink_file_error(AuditSink *sink);
const char *audit_sink_file_error(AuditSink *sink)
{
  FileSink *f = (FileSink *)sink;
  return f->fd >= 0 ? NULL : f->open_error;
}
