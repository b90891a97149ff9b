/* SPDX-License-Identifier: MIT */
/*
 * Preloaded (LD_PRELOAD) into one poplard node by tests/ha: the process
 * that creates a mailbox's "poplar-lock" is killed with SIGKILL right after
 * the file exists and before the owner line is in it, as a node that
 * crashes at that moment would be.  The file is the private one the line
 * is written to before it is linked into place: "poplar-lock.new.*", or,
 * on a local file system, an unnamed O_TMPFILE (poplard opens no other).  Armed by the file named in
 * $POPLAR_CRASH_ONCE: whoever removes it dies, so exactly one process does.
 */
/* Both openat and openat64 are defined here, as themselves. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef int (*OpenatFn)(int, const char *, int, ...);

static void crash_if_armed(int fd, const char *path, int flags)
{
  bool lock_file = (flags & O_EXCL) && strncmp(path, "poplar-lock", 11) == 0 &&
                   strncmp(path, "poplar-lock.break", 17) != 0;
  bool unnamed = (flags & O_TMPFILE) == O_TMPFILE;
  if (fd < 0 || !(lock_file || unnamed))
    return;
  const char *trigger = getenv("POPLAR_CRASH_ONCE");
  if (trigger && unlink(trigger) == 0)
    kill(getpid(), SIGKILL);
}

static int call(const char *name, int dirfd, const char *path, int flags,
                mode_t mode)
{
  OpenatFn real;
  /* The POSIX way to get a function pointer from dlsym(). */
  *(void **)&real = dlsym(RTLD_NEXT, name);
  int fd = real(dirfd, path, flags, mode);
  crash_if_armed(fd, path, flags);
  return fd;
}

static mode_t mode_arg(int flags, va_list ap)
{
  return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, unsigned) : 0;
}

int openat(int dirfd, const char *path, int flags, ...)
{
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return call("openat", dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return call("openat64", dirfd, path, flags, mode);
}
