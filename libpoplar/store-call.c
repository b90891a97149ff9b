/* SPDX-License-Identifier: MIT */
/*
 * The one place a store's operations are called from.  A store explains a
 * failure with poplar_mailbox_set_error(); the text is logged here, once,
 * with the session id and the store's plugin name, and cleared, so that
 * no caller repeats that and no text outlives the operation it was about
 * (the next failure must not be explained by an old one).  Answers a
 * store has no business giving (a result outside the enum, a read longer
 * than the buffer, a file range of the wrong length) are caught here too.
 */
#include "poplar-private.h"

#include <inttypes.h>
#include <stdarg.h>

static bool result_known(PoplarStoreResult r)
{
  return r == POPLAR_STORE_OK || r == POPLAR_STORE_IN_USE ||
         r == POPLAR_STORE_TEMPFAIL || r == POPLAR_STORE_PERMFAIL ||
         r == POPLAR_STORE_GONE;
}

/* The store's error text for a log line, or @fallback. */
static const char *error_text(const PoplarMailbox *mbox, const char *fallback)
{
  return mbox->error ? mbox->error : fallback;
}

static void store_log(PoplarMailbox *mbox, PoplarLogLevel level,
                      const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static void store_log(PoplarMailbox *mbox, PoplarLogLevel level,
                      const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *text = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  poplar_session_log(mbox->session, mbox->store->plugin, level, "%s", text);
}

/* An answer outside the enum is a store bug; retrying may still help. */
static PoplarStoreResult checked(PoplarMailbox *mbox, const char *op,
                                 PoplarStoreResult r)
{
  if (result_known(r))
    return r;
  store_log(mbox, POPLAR_LOG_ERROR,
            "store %s: returned invalid result %d: treated as tempfail", op,
            (int)r);
  return POPLAR_STORE_TEMPFAIL;
}

PoplarStoreResult poplarpriv_store_open(PoplarMailbox *mbox)
{
  const PoplarStoreEntry *store = mbox->store;
  PoplarStoreResult r =
      checked(mbox, "open", store->ops.open(store->data, mbox,
                                            mbox->location));
  if (r != POPLAR_STORE_OK)
    store_log(mbox, r == POPLAR_STORE_IN_USE ? POPLAR_LOG_INFO
                                             : POPLAR_LOG_ERROR,
              "cannot open mailbox %s:%s of %s: %s", store->scheme,
              mbox->location, mbox->user,
              error_text(mbox, r == POPLAR_STORE_IN_USE ? "in use"
                                                        : "store failure"));
  poplarpriv_mailbox_clear_error(mbox);
  return r;
}

void poplarpriv_store_close(PoplarMailbox *mbox)
{
  mbox->store->ops.close(mbox->store->data, mbox);
  if (mbox->error)
    store_log(mbox, POPLAR_LOG_WARNING, "closing mailbox %s:%s: %s",
              mbox->store->scheme, mbox->location, mbox->error);
  poplarpriv_mailbox_clear_error(mbox);
}

static void log_message_open_failure(PoplarMailbox *mbox,
                                     const PoplarMessage *msg,
                                     PoplarStoreResult r)
{
  bool gone = r == POPLAR_STORE_GONE;
  store_log(mbox, gone ? POPLAR_LOG_WARNING : POPLAR_LOG_ERROR,
            "cannot open message %s: %s", msg->uidl,
            error_text(mbox, gone ? "gone" : "store failure"));
}

PoplarStoreResult poplarpriv_store_message_open(PoplarMailbox *mbox,
                                                PoplarMessage *msg,
                                                void **stream)
{
  const PoplarStoreEntry *store = mbox->store;
  *stream = NULL;
  PoplarStoreResult r = checked(
      mbox, "message_open",
      store->ops.message_open(store->data, mbox, msg, stream));
  if (r != POPLAR_STORE_OK)
    log_message_open_failure(mbox, msg, r);
  poplarpriv_mailbox_clear_error(mbox);
  return r;
}

PoplarStoreResult poplarpriv_store_message_open_fd(PoplarMailbox *mbox,
                                                   PoplarMessage *msg,
                                                   void **stream,
                                                   PoplarFileRange *range)
{
  const PoplarStoreEntry *store = mbox->store;
  *range = (PoplarFileRange){.fd = -1};
  if (!store->ops.message_open_fd)
    return poplarpriv_store_message_open(mbox, msg, stream);
  *stream = NULL;
  PoplarStoreResult r = checked(
      mbox, "message_open_fd",
      store->ops.message_open_fd(store->data, mbox, msg, stream, &range->fd,
                                 &range->offset, &range->length));
  if (r != POPLAR_STORE_OK) {
    log_message_open_failure(mbox, msg, r);
    poplarpriv_mailbox_clear_error(mbox);
    range->fd = -1;
    return r;
  }
  poplarpriv_mailbox_clear_error(mbox);
  uint64_t stored = msg->size - msg->prefix_len;
  if (range->fd >= 0 && range->length != stored) {
    /* Sending it would contradict the size LIST and RETR announce. */
    store_log(mbox, POPLAR_LOG_WARNING,
              "message %s offered as %" PRIu64 " octets of a file, but its "
              "size is %" PRIu64 ": read instead", msg->uidl, range->length,
              stored);
    range->fd = -1;
  }
  if (range->fd < 0)
    range->offset = range->length = 0;
  return r;
}

int64_t poplarpriv_store_message_read(PoplarMailbox *mbox, PoplarMessage *msg,
                                      void *stream, char *buf, size_t len)
{
  const PoplarStoreEntry *store = mbox->store;
  int64_t n = store->ops.message_read(store->data, stream, buf, len);
  if (n >= 0 && (uint64_t)n <= len) {
    /* Nothing to explain; a text set anyway would be mistaken for the
     * next failure's. */
    poplarpriv_mailbox_clear_error(mbox);
    return n;
  }
  if (n < 0)
    store_log(mbox, POPLAR_LOG_ERROR, "reading message %s failed: %s",
              msg->uidl, error_text(mbox, "store read error"));
  else
    store_log(mbox, POPLAR_LOG_ERROR,
              "reading message %s failed: the store returned %" PRId64
              " octets for a read of %zu", msg->uidl, n, len);
  poplarpriv_mailbox_clear_error(mbox);
  return -1;
}

void poplarpriv_store_message_close(PoplarMailbox *mbox, void *stream)
{
  mbox->store->ops.message_close(mbox->store->data, stream);
  poplarpriv_mailbox_clear_error(mbox);
}

/* Which messages the expunge removed.  A store that reported none speaks
 * ABI 1.0: OK means all, anything else none. */
static void settle_expunged(PoplarMailbox *mbox, PoplarStoreResult r,
                            unsigned *removed, uint64_t *octets)
{
  unsigned reported = 0;
  for (size_t i = 0; i < mbox->n_messages; i++) {
    PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    if (msg->expunged && !msg->deleted) {
      store_log(mbox, POPLAR_LOG_ERROR,
                "store reported message %s removed, which was not marked "
                "deleted: not counted", msg->uidl);
      msg->expunged = false;
    }
    reported += msg->expunged;
  }
  *removed = 0;
  *octets = 0;
  for (size_t i = 0; i < mbox->n_messages; i++) {
    PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    if (reported == 0)
      msg->expunged = msg->deleted && r == POPLAR_STORE_OK;
    if (msg->expunged) {
      (*removed)++;
      *octets += msg->size;
    }
  }
}

PoplarStoreResult poplarpriv_store_expunge(PoplarMailbox *mbox,
                                           unsigned *removed,
                                           uint64_t *octets)
{
  unsigned marked = 0;
  for (size_t i = 0; i < mbox->n_messages; i++) {
    PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    msg->expunged = false;
    marked += msg->deleted;
  }
  *removed = 0;
  *octets = 0;
  if (marked == 0)
    return POPLAR_STORE_OK;
  const PoplarStoreEntry *store = mbox->store;
  PoplarStoreResult r =
      checked(mbox, "expunge", store->ops.expunge(store->data, mbox));
  settle_expunged(mbox, r, removed, octets);
  if (r != POPLAR_STORE_OK)
    store_log(mbox, POPLAR_LOG_ERROR,
              "expunge of %u messages failed, %u removed: %s", marked,
              *removed, error_text(mbox, "store failure"));
  else if (*removed < marked)
    store_log(mbox, POPLAR_LOG_WARNING,
              "expunge of %u messages removed only %u", marked, *removed);
  poplarpriv_mailbox_clear_error(mbox);
  return r;
}
