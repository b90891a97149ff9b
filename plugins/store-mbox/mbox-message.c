/* SPDX-License-Identifier: MIT */
/*
 * RETR and TOP: a message is read from the mbox at its offsets, under a
 * shared lock held only while the message is being sent.
 *
 * Between commands no lock is held, so MTAs deliver and MUAs work while a
 * client idles.  Before a message is read, the shared lock (fcntl and/or
 * flock; the dotlock when only dotlocks are configured) makes sure no
 * locking writer changes the file while it is sent, and the message is
 * checked to be still where it was: if the file changed since it was
 * parsed (ctime, mtime or size), the message's From_ line and separator
 * must still be at their offsets.  Mail appended by an MTA passes that
 * check; an MUA that rewrote the mbox does not, and the file is then
 * parsed again and every message found by its content.
 */
#include "mbox.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

typedef struct MboxStream {
  MboxMailbox *mb;
  const MboxMsg *msg;
  MboxReader reader;
} MboxStream;

static PoplarStoreResult read_lock(MboxMailbox *mb, GError **error)
{
  if (mb->read_refs > 0) {
    mb->read_refs++;
    return POPLAR_STORE_OK;
  }
  unsigned methods =
      mb->store->lock.methods & (MBOX_LOCK_FCNTL | MBOX_LOCK_FLOCK);
  if (!methods)
    methods = MBOX_LOCK_DOTLOCK;
  g_autofree char *note = NULL;
  PoplarStoreResult r =
      mbox_lock_acquire(&mb->read_lock, &mb->store->lock, mb->dir_fd,
                        mb->path, mb->fd,
                        methods, false, &note, error);
  if (note)
    mbox_log(mb, POPLAR_LOG_INFO, "%s", note);
  if (r == POPLAR_STORE_OK)
    mb->read_refs = 1;
  return r;
}

static void read_unlock(MboxMailbox *mb)
{
  if (mb->read_refs == 0 || --mb->read_refs > 0)
    return;
  g_autofree char *warning = NULL;
  if (!mbox_lock_release(&mb->read_lock, &warning))
    mbox_log(mb, POPLAR_LOG_WARNING, "%s", warning);
}

static bool stat_same(const struct stat *a, const struct stat *b)
{
  return a->st_size == b->st_size &&
         mbox_stat_mtime_ns(a) == mbox_stat_mtime_ns(b) &&
         mbox_stat_ctime_ns(a) == mbox_stat_ctime_ns(b);
}

/* Checks that @m is still where it was parsed; parses the file again when
 * not.  Called under the read lock. */
static PoplarStoreResult check_message(MboxMailbox *mb, MboxMsg *m,
                                       GError **error)
{
  struct stat now;
  if (fstat(mb->fd, &now) != 0) {
    mbox_set_errno_error(error, errno, "cannot stat %s", mb->path);
    return POPLAR_STORE_TEMPFAIL;
  }
  if (stat_same(&now, &mb->st))
    return POPLAR_STORE_OK;
  size_t i = (size_t)(m - mb->msgs);
  bool intact = mbox_msg_from_intact(mb->fd, m) &&
                mbox_msg_end_intact(mb->fd, m, (uint64_t)now.st_size) &&
                (i + 1 >= mb->n_msgs || mb->msgs[i + 1].gone ||
                 mbox_msg_from_intact(mb->fd, &mb->msgs[i + 1]));
  if (intact)
    return POPLAR_STORE_OK;
  if (!mbox_relocate(mb, &mb->read_lock, error))
    return (PoplarStoreResult)(*error)->code;
  return POPLAR_STORE_OK;
}

PoplarStoreResult mbox_message_open(void *data, PoplarMailbox *mbox,
                                    PoplarMessage *msg, void **stream)
{
  (void)data;
  MboxMailbox *mb = poplar_mailbox_get_data(mbox);
  MboxMsg *m = poplar_message_get_data(msg);
  if (m->gone || mb->fd < 0) {
    poplar_mailbox_set_error(mbox, "message %s is no longer in %s", m->uidl,
                             mb->path);
    return POPLAR_STORE_GONE;
  }
  g_autoptr(GError) error = NULL;
  PoplarStoreResult r = read_lock(mb, &error);
  if (r == POPLAR_STORE_OK)
    r = check_message(mb, m, &error);
  if (r == POPLAR_STORE_OK && m->gone) {
    read_unlock(mb);
    poplar_mailbox_set_error(mbox, "message %s was removed from %s by "
                             "another program", m->uidl, mb->path);
    return POPLAR_STORE_GONE;
  }
  if (r != POPLAR_STORE_OK) {
    if (mb->read_refs > 0)
      read_unlock(mb);
    poplar_mailbox_set_error(mbox, "%s", error->message);
    /* A message that cannot be locked now can be read later. */
    return r == POPLAR_STORE_IN_USE ? POPLAR_STORE_TEMPFAIL : r;
  }
  MboxStream *s = g_new0(MboxStream, 1);
  s->mb = mb;
  s->msg = m;
  mbox_reader_init(&s->reader, mb->fd, mb->store->format, m->data, m->end,
                   0);
  *stream = s;
  return POPLAR_STORE_OK;
}

int64_t mbox_message_read(void *data, void *stream, char *buf, size_t len)
{
  (void)data;
  MboxStream *s = stream;
  int err = 0;
  mbox_lock_keep_fresh(&s->mb->read_lock);
  int64_t n = mbox_reader_read(&s->reader, buf, len, &err);
  if (n < 0)
    poplar_mailbox_set_error(s->mb->mbox, "cannot read message %s of %s: %s",
                             s->msg->uidl, s->mb->path,
                             err == EIO ? "the file is shorter than the "
                                          "message (truncated meanwhile?)"
                                        : g_strerror(err));
  return n;
}

void mbox_message_close(void *data, void *stream)
{
  (void)data;
  MboxStream *s = stream;
  if (!s)
    return;
  mbox_reader_clear(&s->reader);
  read_unlock(s->mb);
  g_free(s);
}
