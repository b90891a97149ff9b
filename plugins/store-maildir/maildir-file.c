/* SPDX-License-Identifier: MIT */
/*
 * Small files of the Maildir itself (dovecot-uidlist, courierimapuiddb,
 * poplar-uidls): read whole, and replaced atomically.
 */
#include "maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A UID list or record larger than this is not one (a million messages
 * take some 80 MB of dovecot-uidlist; refuse what is clearly not). */
#define MAX_FILE_LEN (512u * 1024 * 1024)

/* One attempt; *@stale is set when a step failed with ESTALE. */
static bool read_once(int root_fd, const char *name, char **text,
                      size_t *len, bool *stale, GError **error)
{
  *text = NULL;
  *len = 0;
  *stale = false;
  int fd;
  do
    fd = openat(root_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
                                   O_NONBLOCK);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    if (errno == ENOENT)
      return true;
    *stale = errno == ESTALE;
    maildir_set_errno_error(error, errno, "cannot open %s", name);
    return false;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    *stale = err == ESTALE;
    maildir_set_errno_error(error, err, "cannot stat %s", name);
    return false;
  }
  if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > MAX_FILE_LEN) {
    close(fd);
    g_set_error(error, MAILDIR_ERROR, POPLAR_STORE_PERMFAIL,
                "%s is not a regular file of a sensible size", name);
    return false;
  }
  GString *buf = g_string_sized_new((gsize)st.st_size + 1);
  char chunk[65536];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      g_string_free(buf, TRUE);
      *stale = err == ESTALE;
      maildir_set_errno_error(error, err, "cannot read %s", name);
      return false;
    }
    if (n == 0)
      break;
    g_string_append_len(buf, chunk, n);
    if (buf->len > MAX_FILE_LEN) {
      close(fd);
      g_string_free(buf, TRUE);
      g_set_error(error, MAILDIR_ERROR, POPLAR_STORE_PERMFAIL,
                  "%s is too large", name);
      return false;
    }
  }
  close(fd);
  *len = buf->len;
  *text = g_string_free(buf, FALSE);
  return true;
}

bool maildir_file_read(int root_fd, const char *name, char **text,
                       size_t *len, GError **error)
{
  /* These files are replaced by rename, possibly on another machine: a
   * network file system's cached handle for the old one answers ESTALE,
   * and the name is looked up afresh on the next attempt. */
  for (int attempt = 0;; attempt++) {
    GError *local = NULL;
    bool stale;
    if (read_once(root_fd, name, text, len, &stale, &local))
      return true;
    if (!stale || attempt == 2) {
      g_propagate_error(error, local);
      return false;
    }
    g_error_free(local);
  }
}

bool maildir_write_all(int fd, const char *data, size_t len)
{
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      if (n == 0)
        errno = EIO;
      return false;
    }
    data += n;
    len -= (size_t)n;
  }
  return true;
}

bool maildir_file_replace(int root_fd, const char *name, const char *tmp_name,
                          const char *data, size_t len, GError **error)
{
  int fd;
  do
    fd = openat(root_fd, tmp_name,
                O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW |
                    O_NOCTTY, 0600);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    maildir_set_errno_error(error, errno, "cannot create %s", tmp_name);
    return false;
  }
  bool ok = maildir_write_all(fd, data, len) && fsync(fd) == 0;
  int err = errno;
  if (close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (ok && renameat(root_fd, tmp_name, root_fd, name) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    unlinkat(root_fd, tmp_name, 0);
    maildir_set_errno_error(error, err, "cannot write %s", name);
    return false;
  }
  /* The rename itself must survive a crash too. */
  if (fsync(root_fd) != 0 && errno != EINVAL) {
    maildir_set_errno_error(error, errno, "cannot sync the Maildir after "
                            "writing %s", name);
    return false;
  }
  return true;
}
