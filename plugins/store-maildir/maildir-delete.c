/* SPDX-License-Identifier: MIT */
/*
 * Removing one message as [server] delete says: unlink it, move it into a
 * Maildir++ folder (trash:.Trash), or hide it in place with the T flag
 * (hide), which the listing then skips.  The last two keep the message for
 * a webmail or IMAP user to find and undo; only unlink frees space, so only
 * unlink is told to a Maildir++ maildirsize quota file.
 */
#include "maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FOLDER_MODE 0700
#define QUOTA_FILE "maildirsize"
/* The Maildir flag hide adds: "trashed" (IMAP \Deleted), which IMAP
 * clients show as deleted and can clear. */
#define HIDDEN_FLAG 'T'

bool maildir_name_hidden(const char *file)
{
  const char *info = strstr(file, ":2,");
  return info && strchr(info + 3, HIDDEN_FLAG) != NULL;
}

/* @file with the T flag added, in the sorted place Maildir readers
 * expect ("...:2,ST" rather than "...:2,TS"). */
static char *name_with_hidden_flag(const char *file)
{
  const char *info = strstr(file, ":2,");
  if (!info)
    return g_strdup_printf("%s:2,%c", file, HIDDEN_FLAG);
  const char *flags = info + 3;
  const char *at = flags;
  while (*at && *at < HIDDEN_FLAG)
    at++;
  return g_strdup_printf("%.*s%c%s", (int)(at - file), file, HIDDEN_FLAG, at);
}

static int open_or_make_dir(int at_fd, const char *name)
{
  int fd = openat(at_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                   O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    if (mkdirat(at_fd, name, FOLDER_MODE) != 0 && errno != EEXIST)
      return -1;
    fd = openat(at_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                 O_CLOEXEC);
  }
  return fd;
}

bool maildir_trash_open(MaildirMailbox *mb, const char *folder,
                        MaildirDirs *trash, GError **error)
{
  int folder_fd = open_or_make_dir(mb->root_fd, folder);
  if (folder_fd < 0) {
    maildir_set_errno_error(error, errno, "cannot open trash folder %s/%s",
                            mb->path, folder);
    return false;
  }
  int tmp_fd = open_or_make_dir(folder_fd, "tmp");
  trash->cur_fd = open_or_make_dir(folder_fd, "cur");
  trash->new_fd = open_or_make_dir(folder_fd, "new");
  int err = errno;
  /* Maildir++: the marker IMAP servers look for in a folder. */
  int marker = openat(folder_fd, "maildirfolder",
                      O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (marker >= 0)
    close(marker);
  else
    err = errno;
  if (tmp_fd >= 0)
    close(tmp_fd);
  close(folder_fd);
  if (tmp_fd < 0 || trash->cur_fd < 0 || trash->new_fd < 0 || marker < 0) {
    maildir_dirs_close(trash);
    maildir_set_errno_error(error, err, "cannot set up trash folder %s/%s",
                            mb->path, folder);
    return false;
  }
  return true;
}

/* The octets a quota counts for @m: S= of the name, else the file's. */
static uint64_t stored_size(int dir_fd, const MaildirMsg *m)
{
  const char *s = strstr(m->file, ",S=");
  if (s) {
    guint64 v;
    const char *end = s + 3 + strspn(s + 3, "0123456789");
    g_autofree char *digits = g_strndup(s + 3, (gsize)(end - s - 3));
    if (g_ascii_string_to_unsigned(digits, 10, 0, G_MAXUINT64, &v, NULL))
      return v;
  }
  struct stat st;
  if (fstatat(dir_fd, m->file, &st, AT_SYMLINK_NOFOLLOW) == 0)
    return (uint64_t)st.st_size;
  return 0;
}

void maildir_quota_note_removed(MaildirMailbox *mb, uint64_t octets,
                                unsigned count)
{
  if (count == 0)
    return;
  /* Only where a quota is kept: never create one. */
  int fd = openat(mb->root_fd, QUOTA_FILE,
                  O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT)
      maildir_log(mb, POPLAR_LOG_WARNING, "%s/" QUOTA_FILE " not updated: %s",
                  mb->path, g_strerror(errno));
    return;
  }
  char line[64];
  int len = g_snprintf(line, sizeof line, "-%" PRIu64 " -%u\n", octets, count);
  /* One write: Maildir++ writers append whole lines. */
  if (write(fd, line, (size_t)len) != len)
    maildir_log(mb, POPLAR_LOG_WARNING, "%s/" QUOTA_FILE " not updated: %s",
                mb->path, g_strerror(errno));
  close(fd);
}

int maildir_delete_message(const MaildirDirs *dirs, const MaildirDirs *trash,
                           PoplarDeleteMode mode, MaildirMsg *m,
                           uint64_t *freed)
{
  int from = m->in_new ? dirs->new_fd : dirs->cur_fd;
  *freed = 0;
  if (mode == POPLAR_DELETE_HIDE) {
    g_autofree char *hidden = name_with_hidden_flag(m->file);
    if (renameat(from, m->file, dirs->cur_fd, hidden) != 0)
      return errno;
    g_free(m->file);
    m->file = g_steal_pointer(&hidden);
    m->in_new = false;
    return 0;
  }
  if (mode == POPLAR_DELETE_TRASH) {
    int to = m->in_new ? trash->new_fd : trash->cur_fd;
    return renameat(from, m->file, to, m->file) == 0 ? 0 : errno;
  }
  uint64_t size = stored_size(from, m);
  if (unlinkat(from, m->file, 0) != 0)
    return errno;
  *freed = size;
  return 0;
}
