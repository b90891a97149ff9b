/* SPDX-License-Identifier: MIT */
/*
 * Locking an mbox the way Debian's MTAs and MUAs do, so that none of them
 * writes while Poplar reads or rewrites it.
 *
 * Order: dotlock, then flock, then fcntl -- the order of Postfix, Exim and
 * procmail, so that two programs never hold one lock each and wait for
 * the other.  Every lock is tried without blocking and retried until
 * lock-timeout.
 *
 * Dotlock ("<mbox>.lock"), as liblockfile makes it, safe on NFS: a
 * uniquely named file holding our pid ("%d\n") is hard-linked to the lock
 * name, and the lock is ours when that file then has two links (link()'s
 * own answer is not trusted over NFS).  A dotlock is stale when it is
 * older than dotlock-stale (measured against a file we just created, so
 * in the file server's clock) and no live process on this host has its
 * pid; then it is moved aside under a unique name, checked to be the very
 * file judged stale, and removed.  If another program replaced it in the
 * meantime, it is linked back.  Our own dotlocks carry a second line
 * naming the host, the kernel boot and the pid namespace: one whose
 * process is provably dead (that line is ours, its pid is not alive) is
 * taken over at once, so a poplard killed during a rewrite does not lock
 * its user out for dotlock-stale.
 *
 * Every name is looked up relative to the mbox's directory, opened once
 * without following links (mbox-open.c), and none is followed: a link
 * planted as "<mbox>.lock" is never written through.
 *
 * fcntl: an open file description lock (F_OFD_SETLK) over the whole file.
 * It conflicts with the classic fcntl locks MTAs take, and unlike those it
 * belongs to our descriptor rather than to the whole poplard process, so
 * sessions on different threads never share or drop each other's locks.
 * Where the kernel lacks OFD locks, classic locks are used instead.
 */
#include "mbox.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

/* How often a held dotlock is touched during long operations. */
#define DOTLOCK_REFRESH_US (30 * G_USEC_PER_SEC)
#define RETRY_FIRST_MS 10
#define RETRY_MAX_MS 250

static int ofd_unsupported; /* atomic: the kernel refused F_OFD_SETLK */
static unsigned unique_counter; /* atomic */

char *mbox_dotlock_path(const char *path)
{
  return g_strconcat(path, ".lock", NULL);
}

static int64_t timespec_ns(const struct timespec *ts)
{
  return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static void nap(unsigned *delay_ms, int64_t deadline_us)
{
  int64_t left_us = deadline_us - g_get_monotonic_time();
  int64_t us = (int64_t)*delay_ms * 1000;
  if (us > left_us)
    us = left_us;
  if (us > 0)
    g_usleep((gulong)us);
  *delay_ms = *delay_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : *delay_ms * 2;
}

/* A name for a file of our own in the mbox's directory. */
static char *unique_name(const char *what)
{
  char host[256];
  if (gethostname(host, sizeof host) != 0)
    g_strlcpy(host, "localhost", sizeof host);
  host[sizeof host - 1] = '\0';
  for (char *c = host; *c; c++) {
    if (*c == '/' || *c == '.')
      *c = '_';
  }
  unsigned n = (unsigned)g_atomic_int_add((int *)&unique_counter, 1);
  return g_strdup_printf(".%s%ld.%u.%x.%s", what, (long)getpid(), n,
                         g_random_int(), host);
}

/* What identifies this process's pid space: host name, kernel boot and
 * pid namespace.  A pid means the same process only where all three are
 * the same. */
static char *dotlock_host_line(void)
{
  char host[256];
  if (gethostname(host, sizeof host) != 0)
    g_strlcpy(host, "-", sizeof host);
  host[sizeof host - 1] = '\0';
  for (char *c = host; *c; c++) {
    if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f)
      *c = '_';
  }
  g_autofree char *boot = NULL;
  if (!g_file_get_contents("/proc/sys/kernel/random/boot_id", &boot, NULL,
                           NULL))
    boot = g_strdup("-");
  g_strstrip(boot);
  char pidns[64];
  ssize_t n = readlink("/proc/self/ns/pid", pidns, sizeof pidns - 1);
  pidns[n > 0 ? n : 0] = '\0';
  /* Without a boot id nothing can be proved: the line then never
   * matches, and only the age makes such a lock stale. */
  if (strcmp(boot, "-") == 0 || !pidns[0])
    return g_strdup_printf("poplar %s - - %ld", host, (long)getpid());
  return g_strdup_printf("poplar %s %s %s", host, boot, pidns);
}

/* The pid written in a dotlock, or 0 when it has none (Postfix and Exim
 * leave theirs empty).  *@ours_here: the lock was written by a poplard
 * with this host's pid space (see dotlock_host_line()). */
static long long dotlock_pid(int dir_fd, const char *name, bool *ours_here)
{
  char text[512];
  *ours_here = false;
  int fd = openat(dir_fd, name,
                  O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0)
    return 0;
  struct stat st;
  ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode)
                  ? read(fd, text, sizeof text - 1)
                  : -1;
  close(fd);
  if (n <= 0)
    return 0;
  text[n] = '\0';
  char *end = NULL;
  long long pid = g_ascii_strtoll(text, &end, 10);
  if (end == text || pid <= 0)
    return 0;
  if (*end == '\n') {
    g_autofree char *self = dotlock_host_line();
    size_t len = strlen(self);
    *ours_here = strncmp(end + 1, self, len) == 0 &&
                 (end[1 + len] == '\n' || end[1 + len] == '\0');
  }
  return pid;
}

static bool pid_alive(long long pid)
{
  if (pid <= 0 || pid > INT32_MAX)
    return false;
  return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* Moves the stale dotlock @judged (as lstat saw it) out of the way. */
static bool break_stale(int dir_fd, const char *lock_name,
                        const char *lock_path, const struct stat *judged,
                        GError **error)
{
  g_autofree char *aside = unique_name("lk-stale.");
  if (renameat(dir_fd, lock_name, dir_fd, aside) != 0) {
    if (errno == ENOENT)
      return true; /* someone else removed it */
    mbox_set_errno_error(error, errno, "cannot remove the stale dotlock %s",
                         lock_path);
    return false;
  }
  struct stat st;
  if (fstatat(dir_fd, aside, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      (st.st_dev != judged->st_dev || st.st_ino != judged->st_ino)) {
    /* Replaced by a fresh lock between our look and the rename: give it
     * back (unless yet another one is there already). */
    (void)linkat(dir_fd, aside, dir_fd, lock_name, 0);
  }
  (void)unlinkat(dir_fd, aside, 0);
  return true;
}

/* The dotlock's ctime as we left it: with device and inode, it tells our
 * lock from one another program made after removing ours (inode numbers
 * are reused at once). */
static void remember_ctime(MboxLock *lock)
{
  struct stat st;
  if (fstatat(lock->dir_fd, lock->dotlock, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      st.st_dev == lock->dot_dev && st.st_ino == lock->dot_ino)
    lock->dot_ctime_ns = timespec_ns(&st.st_ctim);
}

static bool dotlock_is_ours(const MboxLock *lock)
{
  struct stat st;
  return fstatat(lock->dir_fd, lock->dotlock, &st, AT_SYMLINK_NOFOLLOW) ==
             0 &&
         st.st_dev == lock->dot_dev &&
         st.st_ino == lock->dot_ino &&
         timespec_ns(&st.st_ctim) == lock->dot_ctime_ns;
}

typedef enum TryResult { TRY_OK, TRY_BUSY, TRY_FAILED } TryResult;

static TryResult dotlock_try(MboxLock *lock, const char *lock_name,
                             const char *lock_path,
                             const MboxLockSettings *settings, char **note,
                             char **holder, GError **error)
{
  g_autofree char *tmp = unique_name("lk");
  int fd = openat(lock->dir_fd, tmp,
                  O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    mbox_set_errno_error(error, errno, "cannot create a dotlock beside %s",
                         lock_path);
    return TRY_FAILED;
  }
  /* The pid first, as liblockfile writes it; our host line after it lets
   * the next session take over at once when this process died. */
  g_autofree char *host_line = dotlock_host_line();
  g_autofree char *pid_text =
      g_strdup_printf("%ld\n%s\n", (long)getpid(), host_line);
  int len = (int)strlen(pid_text);
  struct stat tst;
  bool written = write(fd, pid_text, (size_t)len) == len;
  int err = errno;
  if (written && fstat(fd, &tst) != 0) {
    written = false;
    err = errno;
  }
  close(fd);
  if (!written) {
    unlinkat(lock->dir_fd, tmp, 0);
    mbox_set_errno_error(error, err, "cannot write the dotlock %s", tmp);
    return TRY_FAILED;
  }
  int link_err =
      linkat(lock->dir_fd, tmp, lock->dir_fd, lock_name, 0) == 0 ? 0 : errno;
  struct stat after;
  bool ours = fstatat(lock->dir_fd, tmp, &after, AT_SYMLINK_NOFOLLOW) == 0 &&
              after.st_nlink == 2;
  unlinkat(lock->dir_fd, tmp, 0);
  if (ours) {
    lock->dotlock = g_strdup(lock_name);
    lock->dot_dev = after.st_dev;
    lock->dot_ino = after.st_ino;
    remember_ctime(lock);
    lock->dot_touched = g_get_monotonic_time();
    lock->held |= MBOX_LOCK_DOTLOCK;
    return TRY_OK;
  }
  if (link_err != 0 && link_err != EEXIST) {
    mbox_set_errno_error(error, link_err, "cannot create the dotlock %s",
                         lock_path);
    return TRY_FAILED;
  }
  struct stat cur;
  if (fstatat(lock->dir_fd, lock_name, &cur, AT_SYMLINK_NOFOLLOW) != 0)
    return TRY_BUSY; /* released meanwhile: try again */
  bool ours_here = false;
  long long pid = dotlock_pid(lock->dir_fd, lock_name, &ours_here);
  bool alive = pid_alive(pid);
  /* Written by a poplard on this very boot of this host whose process is
   * gone: nobody can be using the mbox under it. */
  bool dead_here = ours_here && pid && !alive;
  int64_t age_ms =
      (timespec_ns(&tst.st_mtim) - timespec_ns(&cur.st_mtim)) / 1000000;
  g_free(*holder);
  *holder = pid ? g_strdup_printf("pid %lld, %s, %lld s old", pid,
                                  alive       ? "running"
                                  : dead_here ? "dead, taken over"
                                              : "not running here",
                                  (long long)(age_ms / 1000))
                : g_strdup_printf("no pid, %lld s old",
                                  (long long)(age_ms / 1000));
  if (dead_here || (age_ms >= 0 &&
                    (uint64_t)age_ms >= settings->dotlock_stale_ms &&
                    !alive)) {
    if (!break_stale(lock->dir_fd, lock_name, lock_path, &cur, error))
      return TRY_FAILED;
    if (note) {
      g_free(*note);
      *note = g_strdup_printf("removed the stale dotlock %s (%s)", lock_path,
                              *holder);
    }
  }
  return TRY_BUSY;
}

static TryResult fcntl_try(MboxLock *lock, int fd, bool exclusive,
                           int *err_no)
{
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = exclusive ? F_WRLCK : F_RDLCK;
  fl.l_whence = SEEK_SET;
#ifdef F_OFD_SETLK
  if (!g_atomic_int_get(&ofd_unsupported)) {
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0) {
      lock->ofd = true;
      return TRY_OK;
    }
    if (errno != EINVAL)
      goto failed;
    g_atomic_int_set(&ofd_unsupported, 1);
  }
#endif
  if (fcntl(fd, F_SETLK, &fl) == 0) {
    lock->ofd = false;
    return TRY_OK;
  }
#ifdef F_OFD_SETLK
failed:
#endif
  if (errno == EAGAIN || errno == EACCES)
    return TRY_BUSY;
  *err_no = errno;
  return TRY_FAILED;
}

static void fcntl_unlock(MboxLock *lock)
{
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_UNLCK;
  fl.l_whence = SEEK_SET;
#ifdef F_OFD_SETLK
  if (lock->ofd) {
    (void)fcntl(lock->fd, F_OFD_SETLK, &fl);
    return;
  }
#endif
  (void)fcntl(lock->fd, F_SETLK, &fl);
}

static TryResult flock_try(int fd, bool exclusive, int *err_no)
{
  if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0)
    return TRY_OK;
  if (errno == EWOULDBLOCK || errno == EINTR)
    return TRY_BUSY;
  *err_no = errno;
  return TRY_FAILED;
}

static const char *method_name(unsigned method)
{
  switch (method) {
  case MBOX_LOCK_DOTLOCK:
    return "dotlock";
  case MBOX_LOCK_FLOCK:
    return "flock";
  default:
    return "fcntl";
  }
}

PoplarStoreResult mbox_lock_acquire(MboxLock *lock,
                                    const MboxLockSettings *settings,
                                    int dir_fd, const char *path, int fd,
                                    unsigned methods, bool exclusive,
                                    char **note, GError **error)
{
  static const unsigned order[] = {MBOX_LOCK_DOTLOCK, MBOX_LOCK_FLOCK,
                                   MBOX_LOCK_FCNTL};
  g_assert(lock->held == 0);
  lock->fd = fd;
  lock->dir_fd = dir_fd;
  g_autofree char *base = g_path_get_basename(path);
  g_autofree char *lock_name = g_strconcat(base, ".lock", NULL);
  for (size_t i = 0; i < G_N_ELEMENTS(order); i++) {
    unsigned method = order[i];
    if (!(methods & method))
      continue;
    int64_t deadline =
        g_get_monotonic_time() + (int64_t)settings->timeout_ms * 1000;
    unsigned delay = RETRY_FIRST_MS;
    g_autofree char *lock_path =
        method == MBOX_LOCK_DOTLOCK ? mbox_dotlock_path(path) : NULL;
    g_autofree char *holder = NULL;
    for (;;) {
      TryResult r;
      int err = 0;
      if (method == MBOX_LOCK_DOTLOCK)
        r = dotlock_try(lock, lock_name, lock_path, settings, note, &holder,
                        error);
      else if (method == MBOX_LOCK_FLOCK)
        r = flock_try(fd, exclusive, &err);
      else
        r = fcntl_try(lock, fd, exclusive, &err);
      if (r == TRY_OK) {
        lock->held |= method;
        break;
      }
      if (r == TRY_FAILED) {
        if (method != MBOX_LOCK_DOTLOCK)
          mbox_set_errno_error(error, err, "cannot take the %s lock of %s",
                               method_name(method), path);
        mbox_lock_release(lock, NULL);
        return (PoplarStoreResult)(*error)->code;
      }
      if (g_get_monotonic_time() >= deadline) {
        g_autofree char *what =
            method == MBOX_LOCK_DOTLOCK
                ? g_strdup_printf("dotlock %s, %s", lock_path,
                                  holder ? holder : "gone")
                : g_strdup(method_name(method));
        g_set_error(error, MBOX_ERROR, POPLAR_STORE_IN_USE,
                    "%s is locked by another program (%s); gave up after "
                    "%" G_GUINT64_FORMAT " ms",
                    path, what, settings->timeout_ms);
        mbox_lock_release(lock, NULL);
        return POPLAR_STORE_IN_USE;
      }
      nap(&delay, deadline);
    }
  }
  return POPLAR_STORE_OK;
}

void mbox_lock_keep_fresh(MboxLock *lock)
{
  if (!(lock->held & MBOX_LOCK_DOTLOCK))
    return;
  int64_t now = g_get_monotonic_time();
  if (now - lock->dot_touched < DOTLOCK_REFRESH_US)
    return;
  lock->dot_touched = now;
  if (dotlock_is_ours(lock) &&
      utimensat(lock->dir_fd, lock->dotlock, NULL, AT_SYMLINK_NOFOLLOW) == 0)
    remember_ctime(lock);
}

bool mbox_lock_release(MboxLock *lock, char **warning)
{
  bool ok = true;
  if (lock->held & MBOX_LOCK_FCNTL)
    fcntl_unlock(lock);
  if (lock->held & MBOX_LOCK_FLOCK)
    (void)flock(lock->fd, LOCK_UN);
  if (lock->held & MBOX_LOCK_DOTLOCK) {
    if (dotlock_is_ours(lock)) {
      if (unlinkat(lock->dir_fd, lock->dotlock, 0) != 0 && warning) {
        *warning = g_strdup_printf("cannot remove the dotlock %s: %s",
                                   lock->dotlock, g_strerror(errno));
        ok = false;
      }
    } else {
      if (warning)
        *warning = g_strdup_printf("the dotlock %s was removed or replaced "
                                   "by another program while held",
                                   lock->dotlock);
      ok = false;
    }
  }
  g_clear_pointer(&lock->dotlock, g_free);
  lock->held = 0;
  return ok;
}
