/* SPDX-License-Identifier: MIT */
/*
 * The POP3 session lock: one session per mailbox ([IN-USE], RFC 2449).
 *
 * It is an open file description lock (F_OFD_SETLK; flock where the kernel
 * lacks those) on a file of our own, ".<mbox>.poplar-lock" beside the
 * index, held for the whole session.  It is not a lock MTAs know about, so
 * mail keeps arriving while a client idles; the MTA locks are taken only
 * while Poplar reads or rewrites the mbox.  The kernel drops it when
 * poplard dies, so a crash never leaves a mailbox locked.  The file is
 * never removed (removing lock files races with their next user); it
 * holds the pid and session of the holder, for the administrator.  It is
 * opened relative to its directory without following a link, and used
 * only when it is a regular file of ours with a single link.
 */
#include "mbox.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static int ofd_unsupported; /* atomic */

static bool try_lock(int fd, bool *busy, int *err_no)
{
  *busy = false;
#ifdef F_OFD_SETLK
  if (!g_atomic_int_get(&ofd_unsupported)) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
      return true;
    if (errno == EAGAIN || errno == EACCES) {
      *busy = true;
      return false;
    }
    if (errno != EINVAL) {
      *err_no = errno;
      return false;
    }
    g_atomic_int_set(&ofd_unsupported, 1);
  }
#endif
  if (flock(fd, LOCK_EX | LOCK_NB) == 0)
    return true;
  *busy = errno == EWOULDBLOCK;
  *err_no = errno;
  return false;
}

/* The file is truncated and written: it must be one of ours, not a hard
 * link a user made to somebody else's file. */
static bool lock_file_sane(int fd, const char *path, uid_t owner,
                           GError **error)
{
  struct stat st;
  if (fstat(fd, &st) != 0) {
    mbox_set_errno_error(error, errno, "cannot stat %s", path);
    return false;
  }
  if (!S_ISREG(st.st_mode) || st.st_nlink != 1 ||
      (st.st_uid != geteuid() && st.st_uid != owner)) {
    g_set_error(error, MBOX_ERROR, POPLAR_STORE_PERMFAIL,
                "refusing the session lock file %s: not a regular file with "
                "one link owned by uid %ld or %ld (mode %o, %ld links, "
                "uid %ld)", path, (long)geteuid(), (long)owner,
                (unsigned)st.st_mode, (long)st.st_nlink, (long)st.st_uid);
    return false;
  }
  return true;
}

PoplarStoreResult mbox_session_lock_acquire(MboxSessionLock *lock,
                                            int dir_fd, const char *name,
                                            const char *path, uid_t owner,
                                            const char *who,
                                            GError **error)
{
  lock->fd = -1;
  int fd = openat(dir_fd, name,
                  O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
                      O_NONBLOCK,
                  0600);
  if (fd < 0) {
    mbox_set_errno_error(error, errno,
                         "cannot open the session lock file %s", path);
    return (PoplarStoreResult)(*error)->code;
  }
  if (!lock_file_sane(fd, path, owner, error)) {
    close(fd);
    return POPLAR_STORE_PERMFAIL;
  }
  bool busy = false;
  int err = 0;
  if (!try_lock(fd, &busy, &err)) {
    if (busy) {
      char holder[200];
      ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
      holder[n > 0 ? n : 0] = '\0';
      g_strchomp(holder);
      g_set_error(error, MBOX_ERROR, POPLAR_STORE_IN_USE,
                  "another POP3 session holds %s (%s)", path,
                  holder[0] ? holder : "unknown holder");
      close(fd);
      return POPLAR_STORE_IN_USE;
    }
    mbox_set_errno_error(error, err, "cannot lock %s", path);
    close(fd);
    return (PoplarStoreResult)(*error)->code;
  }
  /* Only informative: failing to write it changes nothing. */
  if (ftruncate(fd, 0) == 0) {
    g_autofree char *text = g_strdup_printf("%s\n", who);
    (void)!pwrite(fd, text, strlen(text), 0);
  }
  lock->fd = fd;
  return POPLAR_STORE_OK;
}

void mbox_session_lock_release(MboxSessionLock *lock)
{
  if (lock->fd < 0)
    return;
  (void)!ftruncate(lock->fd, 0);
  close(lock->fd); /* drops the lock */
  lock->fd = -1;
}
