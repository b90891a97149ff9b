/* SPDX-License-Identifier: MIT */
/*
 * Opening an mbox where a mail user may have arranged things: the user
 * can make the mbox (or a directory on the way to it) a symbolic link to
 * a file they may not read, a hard link to one, a FIFO or a directory.
 * Poplar reads, rewrites and locks as a user who can reach more than the
 * mail user, so each of those would read or destroy somebody else's file.
 *
 * - The directory is opened once, under the rule of store-path.h: links
 *   are resolved only in directories nobody but root (or this process's
 *   user) can change.  Every other name (the mbox, its dotlock, the
 *   index, the session lock, the rewrite's copy) is then looked up in
 *   that descriptor, never by path, and never through a link.
 * - The mbox itself is never a link, whatever its directory: the rewrite
 *   at UPDATE renames a new file over the name, which would replace a
 *   link by a file anyway.
 * - The mbox is used only when it is a regular file with one link, owned
 *   by the mailbox's owner (below); anything else is refused with
 *   PERMFAIL, which the client sees as -ERR [SYS/PERM].
 *
 * Who owns the mailbox: the password database's "uid" field when it gave
 * one; else, in a shared spool (a directory writable by its group or by
 * others, or sticky, such as /var/mail root:mail 2775), the system user
 * with the login name; else the owner of the directory (a home).
 */
#include "mbox.h"

#include "store-path.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

static bool parse_uid(const char *text, uid_t *uid)
{
  char *end = NULL;
  errno = 0;
  unsigned long long v = g_ascii_strtoull(text, &end, 10);
  if (errno || end == text || *end || text[0] == '-' ||
      v != (unsigned long long)(uid_t)v || (uid_t)v == (uid_t)-1)
    return false;
  *uid = (uid_t)v;
  return true;
}

static bool shared_spool(const struct stat *st)
{
  return (st->st_mode & (S_IWGRP | S_IWOTH | S_ISVTX)) != 0;
}

static bool system_uid(const char *user, uid_t *uid)
{
  struct passwd pw, *found = NULL;
  char buf[4096];
  if (getpwnam_r(user, &pw, buf, sizeof buf, &found) != 0 || !found)
    return false;
  *uid = found->pw_uid;
  return true;
}

static bool find_owner(MboxMailbox *mb, const struct stat *dir_st,
                       GError **error)
{
  const char *user = poplar_mailbox_user(mb->mbox);
  const char *field = poplar_mailbox_field(mb->mbox, "uid");
  if (field) {
    if (!parse_uid(field, &mb->owner)) {
      g_set_error(error, MBOX_ERROR, POPLAR_STORE_PERMFAIL,
                  "the password database gave %s the uid \"%s\", which is "
                  "not a number", user, field);
      return false;
    }
    return true;
  }
  if (!shared_spool(dir_st)) {
    mb->owner = dir_st->st_uid;
    return true;
  }
  if (!system_uid(user, &mb->owner)) {
    g_set_error(error, MBOX_ERROR, POPLAR_STORE_PERMFAIL,
                "%s is in a shared directory and there is no system user "
                "%s to own it: the password database must give a uid field",
                mb->path, user);
    return false;
  }
  return true;
}

/* Opens the directory @dir, creating it and missing parents (mode 0700)
 * one at a time in their opened parents, so that no link is followed to
 * make them either.  -1 with errno on failure. */
static int open_or_create_dir(const char *dir, unsigned depth)
{
  int fd = store_path_open_dir(dir, O_PATH, NULL);
  if (fd >= 0 || errno != ENOENT || depth > 64)
    return fd;
  g_autofree char *parent = g_path_get_dirname(dir);
  g_autofree char *name = g_path_get_basename(dir);
  if (strcmp(parent, dir) == 0)
    return -1;
  int parent_fd = open_or_create_dir(parent, depth + 1);
  if (parent_fd < 0)
    return -1;
  int made = mkdirat(parent_fd, name, 0700);
  int err = errno;
  close(parent_fd);
  if (made != 0 && err != EEXIST) {
    errno = err;
    return -1;
  }
  return store_path_open_dir(dir, O_PATH, NULL);
}

static int open_index_dir(const char *dir, GError **error)
{
  int fd = open_or_create_dir(dir, 0);
  if (fd < 0)
    mbox_set_errno_error(error, errno, "cannot open the index directory %s%s",
                         dir, errno == ELOOP ? " (a symbolic link where "
                                               "none is followed)"
                                             : "");
  return fd;
}

bool mbox_open_dirs(MboxMailbox *mb, const char *index_dir, GError **error)
{
  mb->dir_fd = store_path_open_dir(mb->dir, O_PATH, NULL);
  if (mb->dir_fd < 0) {
    int err = errno;
    if (err == ENOENT)
      g_set_error(error, MBOX_ERROR, POPLAR_STORE_PERMFAIL,
                  "the directory of the mbox %s does not exist", mb->path);
    else
      mbox_set_errno_error(error, err, "cannot open the directory of the "
                           "mbox %s%s", mb->path,
                           err == ELOOP ? " (a symbolic link where none is "
                                          "followed)"
                                        : "");
    return false;
  }
  struct stat dir_st;
  if (fstat(mb->dir_fd, &dir_st) != 0) {
    mbox_set_errno_error(error, errno, "cannot stat %s", mb->dir);
    return false;
  }
  if (!find_owner(mb, &dir_st, error))
    return false;
  if (!index_dir) {
    mb->index_dir_fd = dup(mb->dir_fd);
    if (mb->index_dir_fd < 0) {
      mbox_set_errno_error(error, errno, "cannot open %s", mb->dir);
      return false;
    }
    return true;
  }
  mb->index_dir_fd = open_index_dir(index_dir, error);
  return mb->index_dir_fd >= 0;
}

static const char *file_type(mode_t mode)
{
  if (S_ISLNK(mode))
    return "a symbolic link";
  if (S_ISDIR(mode))
    return "a directory";
  if (S_ISFIFO(mode))
    return "a FIFO";
  if (S_ISCHR(mode) || S_ISBLK(mode))
    return "a device";
  if (S_ISSOCK(mode))
    return "a socket";
  return "not a regular file";
}

static bool file_acceptable(const MboxMailbox *mb, const struct stat *st,
                            GError **error)
{
  if (!S_ISREG(st->st_mode)) {
    g_set_error(error, MBOX_ERROR, POPLAR_STORE_PERMFAIL,
                "refusing the mbox %s: it is %s%s", mb->path,
                file_type(st->st_mode),
                S_ISLNK(st->st_mode) ? " (the mbox is never a link)" : "");
    return false;
  }
  if (st->st_nlink != 1) {
    g_set_error(error, MBOX_ERROR, POPLAR_STORE_PERMFAIL,
                "refusing the mbox %s: it has %ld hard links (a user could "
                "have linked somebody else's file there)", mb->path,
                (long)st->st_nlink);
    return false;
  }
  if (st->st_uid != mb->owner) {
    g_set_error(error, MBOX_ERROR, POPLAR_STORE_PERMFAIL,
                "refusing the mbox %s: it is owned by uid %ld, not by "
                "uid %ld, the owner of the mailbox of %s", mb->path,
                (long)st->st_uid, (long)mb->owner,
                poplar_mailbox_user(mb->mbox));
    return false;
  }
  return true;
}

PoplarStoreResult mbox_open_file(MboxMailbox *mb, int flags, int *out,
                                 struct stat *st, GError **error)
{
  *out = -1;
  /* Looked at before opening: opening a device can have effects of its
   * own, and a FIFO would block. */
  if (fstatat(mb->dir_fd, mb->name, st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT)
      return POPLAR_STORE_GONE;
    mbox_set_errno_error(error, errno, "cannot stat %s", mb->path);
    return (PoplarStoreResult)(*error)->code;
  }
  if (!file_acceptable(mb, st, error))
    return POPLAR_STORE_PERMFAIL;
  int fd = openat(mb->dir_fd, mb->name,
                  flags | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT)
      return POPLAR_STORE_GONE;
    mbox_set_errno_error(error, errno, "cannot open %s", mb->path);
    return (PoplarStoreResult)(*error)->code;
  }
  /* Replaced between the look and the open: judge what was opened. */
  if (fstat(fd, st) != 0) {
    mbox_set_errno_error(error, errno, "cannot stat %s", mb->path);
    close(fd);
    return POPLAR_STORE_TEMPFAIL;
  }
  if (!file_acceptable(mb, st, error)) {
    close(fd);
    return POPLAR_STORE_PERMFAIL;
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0)
    (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  *out = fd;
  return POPLAR_STORE_OK;
}

bool mbox_name_matches(const MboxMailbox *mb, const struct stat *st)
{
  struct stat by_name;
  return fstatat(mb->dir_fd, mb->name, &by_name, AT_SYMLINK_NOFOLLOW) == 0 &&
         by_name.st_dev == st->st_dev && by_name.st_ino == st->st_ino;
}
