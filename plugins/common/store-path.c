/* SPDX-License-Identifier: MIT */
/* Opening a mail location without following planted links (store-path.h). */
#include "store-path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* 1: try openat2(); 0: the kernel or a seccomp filter refused it. */
static atomic_int openat2_usable = 1;

void store_path_set_openat2(bool on)
{
  atomic_store(&openat2_usable, on ? 1 : 0);
}

bool store_path_dir_trusted(const struct stat *st)
{
  if (st->st_uid != 0 && st->st_uid != geteuid())
    return false;
  return (st->st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

static int retry_openat(int dir_fd, const char *name, int flags)
{
  int fd;
  do
    fd = openat(dir_fd, name, flags);
  while (fd < 0 && errno == EINTR);
  return fd;
}

/* ELOOP rather than the ENOTDIR a link opened with O_NOFOLLOW|O_DIRECTORY
 * gives, so that callers can say what was wrong. */
static int link_errno(int dir_fd, const char *name, int err)
{
  struct stat st;
  if ((err == ENOTDIR || err == ELOOP) &&
      fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISLNK(st.st_mode))
    return ELOOP;
  return err;
}

/* Opens @rest (relative, no "." or "..") below @dir_fd, following no link
 * at all.  Returns -1 with errno; ENOSYS when openat2() cannot be used. */
static int open_beneath_openat2(int dir_fd, const char *rest, int flags)
{
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (unsigned long long)flags;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd;
  do
    fd = syscall(SYS_openat2, dir_fd, rest, &how, sizeof how);
  while (fd < 0 && errno == EINTR);
  if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
    /* EPERM: a seccomp filter (some container runtimes) rather than a
     * permission, which openat2() reports as EACCES. */
    atomic_store(&openat2_usable, 0);
    errno = ENOSYS;
  }
  return (int)fd;
}

static int open_beneath_per_component(int dir_fd, char *rest, int flags)
{
  int fd = dup(dir_fd);
  if (fd < 0)
    return -1;
  char *save = NULL;
  char *comp = strtok_r(rest, "/", &save);
  while (comp) {
    char *next = strtok_r(NULL, "/", &save);
    int comp_flags = next ? O_PATH | O_DIRECTORY | O_CLOEXEC : flags;
    int child = retry_openat(fd, comp, comp_flags | O_NOFOLLOW);
    if (child < 0) {
      int err = link_errno(fd, comp, errno);
      close(fd);
      errno = err;
      return -1;
    }
    close(fd);
    fd = child;
    comp = next;
  }
  return fd;
}

static bool component_valid(const char *comp, size_t len)
{
  return !(len == 1 && comp[0] == '.') &&
         !(len == 2 && comp[0] == '.' && comp[1] == '.');
}

static bool path_valid(const char *path)
{
  for (const char *p = path; *p;) {
    while (*p == '/')
      p++;
    size_t len = strcspn(p, "/");
    if (len > 0 && !component_valid(p, len))
      return false;
    p += len;
  }
  return true;
}

int store_path_open_beneath(int dir_fd, const char *rest, int flags)
{
  if (atomic_load(&openat2_usable)) {
    int fd = open_beneath_openat2(dir_fd, rest, flags);
    if (fd >= 0 || errno != ENOSYS)
      return fd;
  }
  char *copy = strdup(rest);
  if (!copy)
    return -1;
  int fd = open_beneath_per_component(dir_fd, copy, flags);
  int err = errno;
  free(copy);
  errno = err;
  return fd;
}

/* The whole of @path in one call, following no link anywhere.  Where no
 * component is a link, the walk below would reach the same directory: it
 * only differs in which links it follows.  Returns -1 (errno untouched
 * for the caller to ignore) when the walk must decide. */
static int open_without_links(const char *path, int flags)
{
  if (!atomic_load(&openat2_usable))
    return -1;
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (unsigned long long)flags;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd;
  do
    fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
  while (fd < 0 && errno == EINTR);
  return (int)fd;
}

int store_path_open_dir(const char *path, int flags, bool *trusted)
{
  if (path[0] != '/' || !path_valid(path)) {
    errno = EINVAL;
    return -1;
  }
  int last_flags = flags | O_DIRECTORY | O_CLOEXEC;
  /* Telling whether the directory is trusted needs the walk's status
   * calls; opening it needs them only where a link is on the way. */
  if (!trusted) {
    int saved = errno;
    int fd = open_without_links(path, last_flags);
    if (fd >= 0)
      return fd;
    errno = saved;
  }
  int fd = retry_openat(AT_FDCWD, "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  struct stat st;
  if (fd < 0)
    return -1;
  if (fstat(fd, &st) != 0)
    goto failed;
  bool dir_trusted = store_path_dir_trusted(&st);
  const char *p = path;
  for (;;) {
    while (*p == '/')
      p++;
    if (!*p)
      break;
    if (!dir_trusted) {
      /* Everything from here on is for the user to arrange. */
      int child = store_path_open_beneath(fd, p, last_flags);
      int err = errno;
      close(fd);
      if (child >= 0 && trusted)
        *trusted = false;
      errno = err;
      return child;
    }
    size_t len = strcspn(p, "/");
    char name[NAME_MAX + 1];
    if (len > NAME_MAX) {
      errno = ENAMETOOLONG;
      goto failed;
    }
    memcpy(name, p, len);
    name[len] = '\0';
    p += len;
    bool last = !p[strspn(p, "/")];
    int child = retry_openat(fd, name, last ? last_flags
                                            : O_PATH | O_DIRECTORY |
                                                  O_CLOEXEC);
    if (child < 0)
      goto failed;
    close(fd);
    fd = child;
    if (fstat(fd, &st) != 0)
      goto failed;
    dir_trusted = store_path_dir_trusted(&st);
    if (last) {
      if (trusted)
        *trusted = dir_trusted;
      return fd;
    }
  }
  /* "/" itself. */
  if (trusted)
    *trusted = dir_trusted;
  if (flags == O_PATH)
    return fd;
  int again = retry_openat(fd, ".", last_flags);
  int again_err = errno;
  close(fd);
  errno = again_err;
  return again;

failed:;
  int err = errno;
  close(fd);
  errno = err;
  return -1;
}
