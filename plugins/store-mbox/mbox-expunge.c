/* SPDX-License-Identifier: MIT */
/*
 * Removing deleted messages at UPDATE, crash-safe.
 *
 * The mbox is never changed in place.  Under the MTA locks (dotlock, then
 * exclusive flock/fcntl), the messages kept are copied octet for octet to
 * ".<name>.poplar-new" in the mbox's directory, followed by everything
 * appended after the part this session parsed (mail that arrived during
 * the session); the copy gets the mbox's owner, group and mode, is
 * fsync()ed, and is renamed over the mbox, and the directory is synced.
 * rename() is atomic, so at any instant the mbox's name holds either the
 * complete old file or the complete new one, and a kill -9 anywhere loses
 * and duplicates nothing (a leftover temporary file is removed by the next
 * session).  A full disk fails the copy or its fsync, before the rename:
 * the old mbox is untouched and the client gets -ERR [SYS/TEMP].
 *
 * Writers that honour the dotlock (Postfix, Exim and procmail on Debian
 * take it before they open the mbox) cannot append between the last copy
 * of the tail and the rename.  Before renaming, the file is measured again
 * anyway and any late tail copied.
 *
 * The messages to remove are found by offset when the file is still laid
 * out as parsed (appended mail allowed), and by content hash when another
 * program rewrote it during the session.
 */
#include "mbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define COPY_CHUNK (1024 * 1024)

/* A range of the old file to keep, and where it lands in the new one. */
typedef struct Range {
  uint64_t start;
  uint64_t end;
} Range;

typedef struct Rewrite {
  MboxMailbox *mb;
  MboxLock lock;
  int fd;       /* the mbox, open for reading and writing */
  int tmp_fd;
  char *tmp_path;  /* the copy, for messages */
  char *tmp_name;  /* its name in the mbox's directory */
  struct stat st;
  GArray *ranges;      /* Range */
  uint64_t covered;    /* the ranges describe [0, covered) */
  uint64_t copied_to;  /* the old file is copied up to here (tail) */
  uint64_t written;    /* octets in the new file */
  bool by_offset;      /* planned from the session's offsets */
  size_t removed;
  char *buf;
} Rewrite;

static void add_range(GArray *ranges, uint64_t start, uint64_t end)
{
  if (end <= start)
    return;
  if (ranges->len > 0) {
    Range *last = &g_array_index(ranges, Range, ranges->len - 1);
    if (last->end == start) {
      last->end = end;
      return;
    }
  }
  Range r = {start, end};
  g_array_append_val(ranges, r);
}

/* Plans from the offsets parsed at open: everything but the deleted
 * messages' [from, next). */
static void plan_by_offset(Rewrite *rw, PoplarMailbox *mbox)
{
  MboxMailbox *mb = rw->mb;
  uint64_t at = 0;
  size_t n = poplar_mailbox_message_count(mbox);
  for (size_t i = 0; i < n; i++) {
    PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    const MboxMsg *m = poplar_message_get_data(msg);
    if (!poplar_message_is_deleted(msg) || m->gone)
      continue;
    add_range(rw->ranges, at, m->from);
    at = m->next;
    rw->removed++;
  }
  add_range(rw->ranges, at, mb->scanned);
  rw->covered = mb->scanned;
  rw->by_offset = true;
}

static guint hash_hash(gconstpointer key)
{
  guint h;
  memcpy(&h, key, sizeof h);
  return h;
}

static gboolean hash_equal(gconstpointer a, gconstpointer b)
{
  return memcmp(a, b, MBOX_HASH_LEN) == 0;
}

/* Plans from a new parse of the file: the deleted messages are found by
 * content, one for one. */
static bool plan_by_content(Rewrite *rw, PoplarMailbox *mbox, GError **error)
{
  MboxMailbox *mb = rw->mb;
  g_autoptr(GHashTable) to_remove =
      g_hash_table_new(hash_hash, hash_equal); /* hash -> count */
  size_t n = poplar_mailbox_message_count(mbox);
  for (size_t i = 0; i < n; i++) {
    PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    MboxMsg *m = poplar_message_get_data(msg);
    if (!poplar_message_is_deleted(msg))
      continue;
    guint count = GPOINTER_TO_UINT(g_hash_table_lookup(to_remove, m->hash));
    g_hash_table_insert(to_remove, m->hash, GUINT_TO_POINTER(count + 1));
  }
  g_autoptr(GArray) found = g_array_new(FALSE, FALSE, sizeof(MboxMsg));
  g_autoptr(GStringChunk) strings = g_string_chunk_new(1024);
  MboxScanOptions options;
  mbox_scan_options_init(&options, mb, &rw->lock);
  if (!mbox_scan(rw->fd, &options, 0, (uint64_t)rw->st.st_size, found,
                 strings, error))
    return false;
  uint64_t at = 0;
  for (guint i = 0; i < found->len; i++) {
    const MboxMsg *f = &g_array_index(found, MboxMsg, i);
    guint count = GPOINTER_TO_UINT(g_hash_table_lookup(to_remove, f->hash));
    if (count == 0)
      continue;
    g_hash_table_insert(to_remove, (gpointer)f->hash,
                        GUINT_TO_POINTER(count - 1));
    add_range(rw->ranges, at, f->from);
    at = f->next;
    rw->removed++;
  }
  add_range(rw->ranges, at, (uint64_t)rw->st.st_size);
  rw->covered = (uint64_t)rw->st.st_size;
  rw->by_offset = false;
  mbox_log(mb, POPLAR_LOG_WARNING,
           "%s was changed by another program during the session: the "
           "deleted messages were looked for by content (%zu found)",
           mb->path, rw->removed);
  return true;
}

static bool write_all(int fd, const char *p, size_t len, int *err_no)
{
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      *err_no = errno;
      return false;
    }
    p += n;
    len -= (size_t)n;
  }
  return true;
}

/* Appends [start, end) of the old file to the new one. */
static bool copy_range(Rewrite *rw, uint64_t start, uint64_t end,
                       GError **error)
{
  int err = 0;
  while (start < end) {
    if (mbox_fault_fail(MBOX_FAULT_COPY_PARTIAL, &err))
      goto failed;
    size_t want = end - start > COPY_CHUNK ? COPY_CHUNK
                                           : (size_t)(end - start);
    ssize_t n;
    do
      n = pread(rw->fd, rw->buf, want, (off_t)start);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
      mbox_set_errno_error(error, errno, "cannot read %s", rw->mb->path);
      return false;
    }
    if (n == 0) {
      g_set_error(error, MBOX_ERROR, POPLAR_STORE_TEMPFAIL,
                  "%s became shorter while locked (another program "
                  "ignores the locks)", rw->mb->path);
      return false;
    }
    if (!write_all(rw->tmp_fd, rw->buf, (size_t)n, &err))
      goto failed;
    start += (uint64_t)n;
    rw->written += (uint64_t)n;
    mbox_lock_keep_fresh(&rw->lock);
  }
  return true;

failed:
  if (mbox_errno_is_full(err))
    g_set_error(error, MBOX_ERROR, POPLAR_STORE_TEMPFAIL,
                "no room to rewrite %s (%s); nothing was removed",
                rw->mb->path, g_strerror(err));
  else
    mbox_set_errno_error(error, err, "cannot write %s", rw->tmp_path);
  return false;
}

/* Copies whatever was appended after what is copied so far, until the
 * file stops growing. */
static bool copy_tail(Rewrite *rw, GError **error)
{
  for (;;) {
    struct stat now;
    if (fstat(rw->fd, &now) != 0) {
      mbox_set_errno_error(error, errno, "cannot stat %s", rw->mb->path);
      return false;
    }
    if ((uint64_t)now.st_size <= rw->copied_to)
      return true;
    uint64_t end = (uint64_t)now.st_size;
    if (!copy_range(rw, rw->copied_to, end, error))
      return false;
    rw->copied_to = end;
  }
}

/* Gives the new file the mbox's owner, group and mode. */
static bool keep_owner_and_mode(Rewrite *rw, GError **error)
{
  const struct stat *st = &rw->st;
  if (fchown(rw->tmp_fd, st->st_uid, st->st_gid) != 0) {
    int err = errno;
    struct stat tst;
    if (fstat(rw->tmp_fd, &tst) != 0 || tst.st_uid != st->st_uid ||
        (tst.st_gid != st->st_gid &&
         fchown(rw->tmp_fd, (uid_t)-1, st->st_gid) != 0)) {
      g_set_error(error, MBOX_ERROR, POPLAR_STORE_PERMFAIL,
                  "cannot give the rewritten %s its owner and group "
                  "(%ld:%ld): %s; poplard must run as root or as the "
                  "mailbox's owner to remove messages",
                  rw->mb->path, (long)st->st_uid, (long)st->st_gid,
                  g_strerror(err));
      return false;
    }
  }
  if (fchmod(rw->tmp_fd, st->st_mode & 07777) != 0) {
    mbox_set_errno_error(error, errno, "cannot set the mode of %s",
                         rw->tmp_path);
    return false;
  }
  return true;
}

static bool create_temp(Rewrite *rw, GError **error)
{
  MboxMailbox *mb = rw->mb;
  rw->tmp_name = g_strdup_printf(".%s" MBOX_REWRITE_SUFFIX, mb->name);
  rw->tmp_path = g_build_filename(mb->dir, rw->tmp_name, NULL);
  /* A leftover of a crash: we hold every lock, nobody else writes it. */
  if (unlinkat(mb->dir_fd, rw->tmp_name, 0) == 0)
    mbox_log(mb, POPLAR_LOG_INFO, "removed %s left by an interrupted "
             "rewrite", rw->tmp_path);
  rw->tmp_fd = openat(mb->dir_fd, rw->tmp_name,
                      O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                      0600);
  if (rw->tmp_fd < 0) {
    mbox_set_errno_error(error, errno, "cannot create %s", rw->tmp_path);
    return false;
  }
  return true;
}

static bool sync_temp(Rewrite *rw, GError **error)
{
  int err = 0;
  if (mbox_fault_fail(MBOX_FAULT_SYNCED, &err) || fsync(rw->tmp_fd) != 0) {
    if (!err)
      err = errno;
    if (mbox_errno_is_full(err) || err == EIO)
      g_set_error(error, MBOX_ERROR, POPLAR_STORE_TEMPFAIL,
                  "cannot sync the rewritten %s (%s); nothing was removed",
                  rw->mb->path, g_strerror(err));
    else
      mbox_set_errno_error(error, err, "cannot sync %s", rw->tmp_path);
    return false;
  }
  return true;
}

static void sync_dir(MboxMailbox *mb)
{
  int dfd = openat(mb->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || fsync(dfd) != 0)
    mbox_log(mb, POPLAR_LOG_WARNING, "cannot sync the directory %s (the "
             "removal may be undone by a power failure): %s", mb->dir,
             g_strerror(errno));
  if (dfd >= 0)
    close(dfd);
}

/* The index of the new file: the kept messages at their new offsets. */
static void save_new_index(Rewrite *rw, PoplarMailbox *mbox)
{
  MboxMailbox *mb = rw->mb;
  struct stat st;
  if (fstat(rw->tmp_fd, &st) != 0)
    return;
  g_autoptr(GArray) kept = g_array_new(FALSE, FALSE, sizeof(MboxMsg));
  /* The folder-data message, first in the file and never listed, stays
   * where it is. */
  if (mb->n_msgs > 0 && (mb->msgs[0].flags & MBOX_MSG_PSEUDO) &&
      !mb->msgs[0].gone)
    g_array_append_val(kept, mb->msgs[0]);
  uint64_t shift = 0;
  size_t n = poplar_mailbox_message_count(mbox);
  for (size_t i = 0; i < n; i++) {
    PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    MboxMsg m = *(const MboxMsg *)poplar_message_get_data(msg);
    if (m.gone)
      continue;
    if (poplar_message_is_deleted(msg)) {
      shift += m.next - m.from;
      continue;
    }
    m.from -= shift;
    m.data -= shift;
    m.end -= shift;
    m.next -= shift;
    /* Followed by mail appended during the session: not the end any more,
     * and parsed again by the next session anyway. */
    m.flags &= ~(uint32_t)MBOX_MSG_TRUNCATED;
    g_array_append_val(kept, m);
  }
  uint64_t scanned = mb->scanned - shift;
  if (kept->len > 0)
    g_array_index(kept, MboxMsg, kept->len - 1).next = scanned;
  g_autoptr(GError) error = NULL;
  if (!mbox_index_save_at(mb->index_dir_fd, mb->index_name, mb->index_path,
                          mb->store->format, &st, scanned,
                          (const MboxMsg *)(void *)kept->data, kept->len,
                          &error))
    mbox_log(mb, POPLAR_LOG_WARNING, "%s (the next session parses the "
             "mbox again)", error->message);
}

/* Opens the mbox for writing and locks it; retries when it was replaced
 * between the open and the lock. */
static PoplarStoreResult lock_mbox(Rewrite *rw, GError **error)
{
  MboxMailbox *mb = rw->mb;
  for (int attempt = 0;; attempt++) {
    PoplarStoreResult r = mbox_open_file(mb, O_RDWR, &rw->fd, &rw->st, error);
    if (r != POPLAR_STORE_OK)
      return r;
    g_autofree char *note = NULL;
    r = mbox_lock_acquire(&rw->lock, &mb->store->lock, mb->dir_fd, mb->path,
                          rw->fd, mb->store->lock.methods, true, &note,
                          error);
    if (note)
      mbox_log(mb, POPLAR_LOG_INFO, "%s", note);
    if (r != POPLAR_STORE_OK)
      return r;
    if (fstat(rw->fd, &rw->st) != 0) {
      mbox_set_errno_error(error, errno, "cannot stat %s", mb->path);
      return POPLAR_STORE_TEMPFAIL;
    }
    if (mbox_name_matches(mb, &rw->st))
      return POPLAR_STORE_OK;
    if (attempt == 3) {
      g_set_error(error, MBOX_ERROR, POPLAR_STORE_TEMPFAIL,
                  "%s keeps being replaced by another program", mb->path);
      return POPLAR_STORE_TEMPFAIL;
    }
    mbox_lock_release(&rw->lock, NULL);
    close(rw->fd);
    rw->fd = -1;
  }
}

static PoplarStoreResult rewrite(Rewrite *rw, PoplarMailbox *mbox,
                                 GError **error)
{
  MboxMailbox *mb = rw->mb;
  PoplarStoreResult r = lock_mbox(rw, error);
  if (r == POPLAR_STORE_GONE) {
    mbox_log(mb, POPLAR_LOG_WARNING, "%s was removed by another program: "
             "nothing left to delete", mb->path);
    return POPLAR_STORE_OK;
  }
  if (r != POPLAR_STORE_OK)
    return r == POPLAR_STORE_IN_USE ? POPLAR_STORE_TEMPFAIL : r;
  mbox_fault_point(MBOX_FAULT_LOCKED);

  rw->ranges = g_array_new(FALSE, FALSE, sizeof(Range));
  bool same = rw->st.st_dev == mb->st.st_dev &&
              rw->st.st_ino == mb->st.st_ino &&
              (uint64_t)rw->st.st_size >= mb->scanned &&
              mbox_layout_intact(rw->fd, mb->msgs, mb->n_msgs,
                                 (uint64_t)rw->st.st_size);
  if (same)
    plan_by_offset(rw, mbox);
  else if (!plan_by_content(rw, mbox, error))
    return (PoplarStoreResult)(*error)->code;
  if (rw->removed == 0)
    return POPLAR_STORE_OK;

  if (!create_temp(rw, error))
    return (PoplarStoreResult)(*error)->code;
  mbox_fault_point(MBOX_FAULT_TEMP_CREATED);
  if (!keep_owner_and_mode(rw, error))
    return POPLAR_STORE_PERMFAIL;
  rw->buf = g_malloc(COPY_CHUNK);
  for (guint i = 0; i < rw->ranges->len; i++) {
    const Range *range = &g_array_index(rw->ranges, Range, i);
    if (!copy_range(rw, range->start, range->end, error))
      return (PoplarStoreResult)(*error)->code;
    if (i == 0)
      mbox_fault_point(MBOX_FAULT_COPY_PARTIAL);
  }
  rw->copied_to = rw->covered;
  if (!copy_tail(rw, error))
    return (PoplarStoreResult)(*error)->code;
  mbox_fault_point(MBOX_FAULT_COPIED);
  if (!sync_temp(rw, error))
    return (PoplarStoreResult)(*error)->code;
  mbox_fault_point(MBOX_FAULT_SYNCED);
  /* Last look before the switch: late appends by a writer that ignores
   * the locks. */
  if (!copy_tail(rw, error) || !sync_temp(rw, error))
    return (PoplarStoreResult)(*error)->code;
  if (renameat(mb->dir_fd, rw->tmp_name, mb->dir_fd, mb->name) != 0) {
    mbox_set_errno_error(error, errno, "cannot rename %s to %s",
                         rw->tmp_path, mb->path);
    return (PoplarStoreResult)(*error)->code;
  }
  g_clear_pointer(&rw->tmp_path, g_free); /* nothing to clean up now */
  mbox_fault_point(MBOX_FAULT_RENAMED);
  sync_dir(mb);
  mbox_fault_point(MBOX_FAULT_DIR_SYNCED);
  if (rw->by_offset)
    save_new_index(rw, mbox);
  mbox_fault_point(MBOX_FAULT_INDEXED);
  mbox_log(mb, POPLAR_LOG_INFO,
           "%s rewritten: %zu messages removed, %" G_GUINT64_FORMAT
           " octets kept (%" G_GUINT64_FORMAT " appended during the "
           "session)", mb->path, rw->removed, rw->written,
           rw->copied_to - rw->covered);
  return POPLAR_STORE_OK;
}

static void rewrite_clear(Rewrite *rw)
{
  MboxMailbox *mb = rw->mb;
  if (rw->tmp_fd >= 0)
    close(rw->tmp_fd);
  if (rw->tmp_path && unlinkat(mb->dir_fd, rw->tmp_name, 0) != 0 &&
      errno != ENOENT)
    mbox_log(mb, POPLAR_LOG_WARNING, "cannot remove %s: %s", rw->tmp_path,
             g_strerror(errno));
  g_autofree char *warning = NULL;
  if (rw->lock.held && !mbox_lock_release(&rw->lock, &warning))
    mbox_log(mb, POPLAR_LOG_WARNING, "%s", warning);
  if (rw->fd >= 0) {
    /* A writer that ignored every lock and appended to the old file after
     * the rename would have lost its mail into a removed file: say so. */
    struct stat late;
    if (rw->copied_to > 0 && fstat(rw->fd, &late) == 0 &&
        (uint64_t)late.st_size > rw->copied_to && !rw->tmp_path)
      mbox_log(mb, POPLAR_LOG_ERROR,
               "%s: %" G_GUINT64_FORMAT " octets were appended to the old "
               "file after it was replaced, by a program that ignores the "
               "mbox locks; they are not in the mailbox",
               mb->path, (uint64_t)late.st_size - rw->copied_to);
    close(rw->fd);
  }
  g_free(rw->tmp_path);
  g_free(rw->tmp_name);
  g_free(rw->buf);
  if (rw->ranges)
    g_array_free(rw->ranges, TRUE);
}

/* The rename is the commit: before it nothing was removed, after it every
 * marked message is gone (rewritten away, or already gone before, which is
 * what the client asked for too). */
static void report_removed(PoplarMailbox *mbox)
{
  size_t n = poplar_mailbox_message_count(mbox);
  for (size_t i = 0; i < n; i++) {
    PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    if (poplar_message_is_deleted(msg))
      poplar_message_set_expunged(msg, true);
  }
}

PoplarStoreResult mbox_expunge(void *data, PoplarMailbox *mbox)
{
  (void)data;
  MboxMailbox *mb = poplar_mailbox_get_data(mbox);
  /* An mbox has no folder beside it to move to and no flag POP3 could
   * skip without rewriting the file: keeping the mail is the safe
   * refusal. */
  if (poplar_mailbox_delete_mode(mbox, NULL) != POPLAR_DELETE_UNLINK) {
    poplar_mailbox_set_error(mbox, "nothing removed: [server] delete = "
                             "trash:FOLDER or hide is for Maildir; mbox "
                             "mailboxes need delete = unlink");
    return POPLAR_STORE_PERMFAIL;
  }
  if (mb->fd < 0) {
    report_removed(mbox); /* no file, no messages */
    return POPLAR_STORE_OK;
  }
  Rewrite rw;
  memset(&rw, 0, sizeof rw);
  MboxLock no_lock = MBOX_LOCK_INIT;
  rw.mb = mb;
  rw.lock = no_lock;
  rw.fd = -1;
  rw.tmp_fd = -1;
  g_autoptr(GError) error = NULL;
  PoplarStoreResult r = rewrite(&rw, mbox, &error);
  rewrite_clear(&rw);
  if (r != POPLAR_STORE_OK)
    poplar_mailbox_set_error(mbox, "%s", error->message);
  else
    report_removed(mbox);
  return r;
}
