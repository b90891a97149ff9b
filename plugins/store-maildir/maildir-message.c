/* SPDX-License-Identifier: MIT */
/*
 * Reading messages (RETR, TOP, hooks) and removing them at UPDATE.
 *
 * A message is opened by the name it had when the mailbox was listed.
 * Other programs may rename it meanwhile (an IMAP server or an MUA changing
 * its flags), so when that name is gone the Maildir is listed again and
 * every message is found by its unique part; only a message that is in
 * neither cur/ nor new/ any more is reported as gone.
 *
 * A message is opened by its path below the Maildir's descriptor, and
 * cur/ and new/ are opened for each expunge and closed again: between
 * commands a session holds no descriptor here, and while it streams a
 * message, only that file's.
 */
#include "maildir.h"
#include "store-path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Messages from this size on are read with a wider read-ahead. */
#define MAILDIR_SEQUENTIAL_MIN ((off_t)1024 * 1024)

typedef struct MaildirStream {
  int fd;
  PoplarMailbox *mbox;
  const MaildirMsg *msg;
} MaildirStream;

static const char *dir_name(const MaildirMsg *m)
{
  return m->in_new ? "new" : "cur";
}

bool maildir_mailbox_refind(MaildirMailbox *mb, MaildirDirs *dirs,
                            GError **error)
{
  if (!mb->by_base) {
    mb->by_base = g_hash_table_new(g_str_hash, g_str_equal);
    /* In POP3 order, so that of two files with one unique part the one
     * the client sees is the one kept. */
    for (size_t i = 0; i < mb->n_msgs; i++) {
      MaildirMsg *m = &mb->msgs[i];
      if (!m->dropped && !g_hash_table_contains(mb->by_base, m->base))
        g_hash_table_insert(mb->by_base, (gpointer)m->base, m);
    }
  }
  return maildir_refind(dirs, mb->by_base, error);
}

/* Looks for renamed messages with cur/ and new/ opened for the search. */
static bool refind_now(MaildirMailbox *mb, GError **error)
{
  MaildirDirs dirs = MAILDIR_DIRS_INIT;
  if (!maildir_dirs_open(mb->root_fd, mb->path, &dirs, error))
    return false;
  bool found = maildir_mailbox_refind(mb, &dirs, error);
  maildir_dirs_close(&dirs);
  return found;
}

/* Returns the open file, or -1 with errno set.  One call where the
 * kernel has openat2(): no link is followed, in cur/ or new/ either.
 * O_NONBLOCK: a FIFO planted in the Maildir must not hang the open. */
static int open_message_file(const MaildirMailbox *mb, const MaildirMsg *m)
{
  char rel[sizeof "new/" + NAME_MAX];
  int n = snprintf(rel, sizeof rel, "%s/%s", dir_name(m), m->file);
  if (n < 0 || (size_t)n >= sizeof rel) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return store_path_open_beneath(
      mb->root_fd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
}

/* Opens the file of @msg; *@size is its size on disk. */
static PoplarStoreResult open_stream(PoplarMailbox *mbox, PoplarMessage *msg,
                                     MaildirStream **stream, off_t *size)
{
  MaildirMailbox *mb = poplar_mailbox_get_data(mbox);
  MaildirMsg *m = poplar_message_get_data(msg);
  int fd = open_message_file(mb, m);
  if (fd < 0 && errno == ENOENT) {
    g_autoptr(GError) error = NULL;
    if (!refind_now(mb, &error)) {
      poplar_mailbox_set_error(mbox, "%s: %s", mb->path, error->message);
      return (PoplarStoreResult)error->code;
    }
    fd = open_message_file(mb, m);
  }
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) {
      poplar_mailbox_set_error(mbox, "message %s (%s/%s/%s) was removed by "
                               "another program", m->uidl, mb->path,
                               dir_name(m), m->file);
      return POPLAR_STORE_GONE;
    }
    poplar_mailbox_set_error(mbox, "cannot open %s/%s/%s: %s", mb->path,
                             dir_name(m), m->file, g_strerror(err));
    return poplar_store_result_from_errno(err);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    poplar_mailbox_set_error(mbox, "cannot stat %s/%s/%s: %s", mb->path,
                             dir_name(m), m->file, g_strerror(err));
    close(fd);
    return poplar_store_result_from_errno(err);
  }
  if (!S_ISREG(st.st_mode)) {
    poplar_mailbox_set_error(mbox, "%s/%s/%s is not a regular file",
                             mb->path, dir_name(m), m->file);
    close(fd);
    return POPLAR_STORE_PERMFAIL;
  }
  if (!maildir_message_file_ok(&st, mb->owner)) {
    /* A hard link to somebody else's file, made by the mail user. */
    poplar_mailbox_set_error(mbox, "refusing %s/%s/%s: it is owned by uid "
                             "%ld, not by uid %ld, the owner of the "
                             "mailbox", mb->path, dir_name(m), m->file,
                             (long)st.st_uid, (long)mb->owner);
    close(fd);
    return POPLAR_STORE_PERMFAIL;
  }
  /* Reads of a regular file ignore O_NONBLOCK on a local disk, not
   * necessarily on a network or FUSE one: cleared (the open's other
   * status flags are none that F_SETFL keeps). */
  (void)fcntl(fd, F_SETFL, 0);
  /* The default read-ahead serves a message of ordinary size; only a
   * large one gains from a wider window. */
  if (st.st_size >= MAILDIR_SEQUENTIAL_MIN)
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  MaildirStream *s = g_new0(MaildirStream, 1);
  s->fd = fd;
  s->mbox = mbox;
  s->msg = m;
  *stream = s;
  *size = st.st_size;
  return POPLAR_STORE_OK;
}

PoplarStoreResult maildir_message_open(void *data, PoplarMailbox *mbox,
                                       PoplarMessage *msg, void **stream)
{
  (void)data;
  off_t size;
  return open_stream(mbox, msg, (MaildirStream **)stream, &size);
}

/* The file itself is offered when counting found it sent as stored and it
 * still has the size counted then: a Maildir message never changes, but
 * a file rewritten by hand must not go out with a wrong length (the
 * stream is read instead, and sent as the file is now). */
PoplarStoreResult maildir_message_open_fd(void *data, PoplarMailbox *mbox,
                                          PoplarMessage *msg, void **stream,
                                          int *fd, uint64_t *offset,
                                          uint64_t *length)
{
  (void)data;
  MaildirStream *s = NULL;
  off_t size;
  PoplarStoreResult r = open_stream(mbox, msg, &s, &size);
  if (r != POPLAR_STORE_OK)
    return r;
  *stream = s;
  if (s->msg->as_stored && (uint64_t)size == s->msg->size) {
    MaildirMailbox *mb = poplar_mailbox_get_data(mbox);
    mb->fd_offers++;
    *fd = s->fd;
    *offset = 0;
    *length = s->msg->size;
  }
  return POPLAR_STORE_OK;
}

int64_t maildir_message_read(void *data, void *stream, char *buf, size_t len)
{
  (void)data;
  MaildirStream *s = stream;
  if (len > (size_t)G_MAXSSIZE)
    len = (size_t)G_MAXSSIZE;
  for (;;) {
    ssize_t n = read(s->fd, buf, len);
    if (n >= 0)
      return (int64_t)n;
    if (errno == EINTR)
      continue;
    MaildirMailbox *mb = poplar_mailbox_get_data(s->mbox);
    poplar_mailbox_set_error(s->mbox, "cannot read %s/%s/%s: %s", mb->path,
                             dir_name(s->msg), s->msg->file,
                             g_strerror(errno));
    return -1;
  }
}

void maildir_message_close(void *data, void *stream)
{
  (void)data;
  MaildirStream *s = stream;
  if (!s)
    return;
  close(s->fd);
  g_free(s);
}

static PoplarStoreResult expunge_in(PoplarMailbox *mbox, MaildirMailbox *mb,
                                    MaildirDirs *dirs, const MaildirDirs *trash,
                                    PoplarDeleteMode mode)
{
  unsigned removed = 0, vanished = 0, failed = 0, unlinked = 0;
  uint64_t freed_total = 0;
  bool refound = false, touched_cur = false, touched_new = false;
  g_autofree char *first_error = NULL;
  size_t n = poplar_mailbox_message_count(mbox);
  for (size_t i = 0; i < n; i++) {
    PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    if (!poplar_message_is_deleted(msg))
      continue;
    MaildirMsg *m = poplar_message_get_data(msg);
    bool was_new = m->in_new;
    uint64_t freed = 0;
    int err = maildir_delete_message(dirs, trash, mode, m, &freed);
    if (err == ENOENT && !refound) {
      /* Renamed by another program?  One listing finds them all. */
      g_autoptr(GError) error = NULL;
      refound = true;
      was_new = m->in_new;
      if (maildir_mailbox_refind(mb, dirs, &error))
        err = maildir_delete_message(dirs, trash, mode, m, &freed);
      else
        maildir_log(mb, POPLAR_LOG_WARNING, "%s: %s", mb->path,
                    error->message);
    }
    if (err == 0 || err == ENOENT)
      poplar_message_set_expunged(msg, true);
    if (err == 0) {
      removed++;
      if (mode == POPLAR_DELETE_UNLINK) {
        unlinked++;
        freed_total += freed;
      }
      if (was_new)
        touched_new = true;
      else
        touched_cur = true;
      if (mode == POPLAR_DELETE_HIDE)
        touched_cur = true; /* renamed into cur/ */
    } else if (err == ENOENT) {
      vanished++; /* removed by someone else: what the client wanted */
    } else {
      if (!first_error)
        first_error = g_strdup_printf("cannot remove %s/%s/%s: %s", mb->path,
                                      dir_name(m), m->file, g_strerror(err));
      failed++;
    }
  }
  /* The removals must survive a crash right after +OK: the directories
   * they left and, for trash, the ones they went to. */
  int fds[] = {touched_cur ? dirs->cur_fd : -1,
               touched_new ? dirs->new_fd : -1,
               touched_cur && trash ? trash->cur_fd : -1,
               touched_new && trash ? trash->new_fd : -1};
  for (size_t i = 0; i < G_N_ELEMENTS(fds); i++) {
    if (fds[i] >= 0 && fsync(fds[i]) != 0) {
      if (!first_error)
        first_error = g_strdup_printf("cannot sync a directory of %s: %s",
                                      mb->path, g_strerror(errno));
      failed++;
    }
  }
  maildir_quota_note_removed(mb, freed_total, unlinked);
  maildir_log(mb, POPLAR_LOG_DEBUG,
              "%s: %u messages removed, %u already gone, %u failures",
              mb->path, removed, vanished, failed);
  if (failed) {
    poplar_mailbox_set_error(mbox, "%u removals failed; first: %s", failed,
                             first_error);
    return POPLAR_STORE_TEMPFAIL;
  }
  return POPLAR_STORE_OK;
}

PoplarStoreResult maildir_expunge(void *data, PoplarMailbox *mbox)
{
  (void)data;
  MaildirMailbox *mb = poplar_mailbox_get_data(mbox);
  MaildirDirs dirs = MAILDIR_DIRS_INIT;
  g_autoptr(GError) error = NULL;
  if (!maildir_dirs_open(mb->root_fd, mb->path, &dirs, &error)) {
    poplar_mailbox_set_error(mbox, "nothing removed: %s", error->message);
    return (PoplarStoreResult)error->code;
  }
  const char *folder = NULL;
  PoplarDeleteMode mode = poplar_mailbox_delete_mode(mbox, &folder);
  MaildirDirs trash = MAILDIR_DIRS_INIT;
  if (mode == POPLAR_DELETE_TRASH &&
      !maildir_trash_open(mb, folder, &trash, &error)) {
    maildir_dirs_close(&dirs);
    poplar_mailbox_set_error(mbox, "nothing removed: %s", error->message);
    return (PoplarStoreResult)error->code;
  }
  PoplarStoreResult r = expunge_in(mbox, mb, &dirs,
                                   mode == POPLAR_DELETE_TRASH ? &trash : NULL,
                                   mode);
  maildir_dirs_close(&trash);
  maildir_dirs_close(&dirs);
  return r;
}
