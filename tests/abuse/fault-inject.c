/* SPDX-License-Identifier: MIT */
/*
 * Storage faults on demand, for the fault tests: an LD_PRELOAD library
 * that makes chosen file operations of poplard fail with a chosen errno,
 * the way a dying disk (EIO) or a full one (ENOSPC) would.
 *
 *   POPLAR_FAULT_SWITCH  a file: faults happen only while it exists, so a
 *                        test turns them on after the login and off again
 *   POPLAR_FAULT_OP      unlinkat, renameat, read (pread too), openat or
 *                        fsync
 *   POPLAR_FAULT_MATCH   a substring of the file name (or, for read and
 *                        fsync, of the path of the descriptor)
 *   POPLAR_FAULT_ERRNO   EIO, ENOSPC, EACCES or EROFS
 *
 * Never built into poplard; the build only links it for tests/abuse.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static int fault_errno(void)
{
  const char *e = getenv("POPLAR_FAULT_ERRNO");
  if (!e || strcmp(e, "EIO") == 0)
    return EIO;
  if (strcmp(e, "ENOSPC") == 0)
    return ENOSPC;
  if (strcmp(e, "EACCES") == 0)
    return EACCES;
  if (strcmp(e, "EROFS") == 0)
    return EROFS;
  return EIO;
}

static bool armed(const char *op)
{
  const char *want = getenv("POPLAR_FAULT_OP");
  const char *sw = getenv("POPLAR_FAULT_SWITCH");
  if (!want || !sw || strcmp(want, op) != 0)
    return false;
  struct stat st;
  /* A raw stat: no interposed call in here. */
  return stat(sw, &st) == 0;
}

static bool name_matches(const char *name)
{
  const char *m = getenv("POPLAR_FAULT_MATCH");
  return name && m && m[0] && strstr(name, m) != NULL;
}

static bool fd_matches(int fd)
{
  char link[64], path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0)
    return false;
  path[n] = '\0';
  return name_matches(path);
}

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

int unlinkat(int dirfd, const char *path, int flags)
{
  if (armed("unlinkat") && name_matches(path)) {
    errno = fault_errno();
    return -1;
  }
  return NEXT(unlinkat)(dirfd, path, flags);
}

int renameat(int olddirfd, const char *oldpath, int newdirfd,
             const char *newpath)
{
  if (armed("renameat") && (name_matches(oldpath) || name_matches(newpath))) {
    errno = fault_errno();
    return -1;
  }
  return NEXT(renameat)(olddirfd, oldpath, newdirfd, newpath);
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd,
              const char *newpath, unsigned int flags)
{
  if (armed("renameat") && (name_matches(oldpath) || name_matches(newpath))) {
    errno = fault_errno();
    return -1;
  }
  return NEXT(renameat2)(olddirfd, oldpath, newdirfd, newpath, flags);
}

int openat(int dirfd, const char *path, int flags, ...)
{
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = (mode_t)va_arg(ap, int);
    va_end(ap);
  }
  if (armed("openat") && name_matches(path)) {
    errno = fault_errno();
    return -1;
  }
  return NEXT(openat)(dirfd, path, flags, mode);
}

ssize_t read(int fd, void *buf, size_t len)
{
  if (armed("read") && fd_matches(fd)) {
    errno = fault_errno();
    return -1;
  }
  return NEXT(read)(fd, buf, len);
}

/* The core reads the start of a file it sends with sendfile() this way
 * (pread() is pread64 with 64-bit file offsets, as poplard is built). */
ssize_t pread64(int fd, void *buf, size_t len, off64_t offset)
{
  if (armed("read") && fd_matches(fd)) {
    errno = fault_errno();
    return -1;
  }
  return NEXT(pread64)(fd, buf, len, offset);
}

int fsync(int fd)
{
  if (armed("fsync") && fd_matches(fd)) {
    errno = fault_errno();
    return -1;
  }
  return NEXT(fsync)(fd);
}
