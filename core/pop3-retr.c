/* SPDX-License-Identifier: MIT */
/*
 * RETR and TOP, streamed: a plugin-pool job reads one chunk from the store
 * and encodes it (CRLF, dot-stuffing); the loop queues it and asks for the
 * next chunk only when the socket has taken most of the previous one.  So
 * memory per transfer is two chunk buffers whatever the message size, and
 * a client that stops reading stops the reading from disk.
 */
#include <stddef.h>
#include <string.h>

#include "dotstuff.h"
#include "hooks.h"
#include "pop3-commands.h"

struct PoplarRetr {
  PoplarMessage *msg;
  long top_lines;
  void *stream;
  bool stream_open;
  bool eof;
  bool failed;
  PoplarStoreResult open_result;
  PoplarVerdict verdict;
  char *hook_reply;
  PoplarDotStuff enc;
  size_t enc_len;
  uint64_t octets;   /* encoded octets queued so far */
  size_t prefix_pos; /* hook-added header octets already encoded */
  bool reported;     /* message_sent hooks told */
  char raw[POPLAR_RETR_CHUNK];
  char encoded[POPLAR_DOTSTUFF_MAX_OUT(POPLAR_RETR_CHUNK) +
               POPLAR_DOTSTUFF_FINISH_MAX];
};

static void retr_free(PoplarClient *c)
{
  PoplarRetr *r = c->retr;
  if (!r)
    return;
  g_free(r->hook_reply);
  g_free(r);
  c->retr = NULL;
}

/* Tells the message_sent hooks how the transfer ended, once.  On the
 * pool. */
static void retr_report(PoplarClient *c, bool complete)
{
  PoplarRetr *r = c->retr;
  if (r->reported)
    return;
  r->reported = true;
  if (!poplar_hooks_present(c->server->registry, POPLAR_HOOK_MESSAGE_SENT))
    return;
  PoplarHookArgs args = {.msg = r->msg, .top_lines = r->top_lines,
                         .octets = r->octets, .complete = complete};
  char *reply = NULL;
  poplar_hooks_run(c->server->registry, &c->session,
                   POPLAR_HOOK_MESSAGE_SENT, &args, &reply);
  g_free(reply);
}

/* Closes the store's read handle.  On the pool (a plugin call). */
static void retr_close_stream(PoplarClient *c)
{
  PoplarRetr *r = c->retr;
  if (r->stream_open) {
    const PoplarStoreEntry *store = c->session.mailbox->store;
    store->ops.message_close(store->data, r->stream);
    r->stream_open = false;
  }
}

/* Reads and encodes the next chunk.  On the pool. */
static void retr_read_chunk(PoplarClient *c)
{
  PoplarRetr *r = c->retr;
  PoplarMailbox *mbox = c->session.mailbox;
  const PoplarStoreEntry *store = mbox->store;
  r->enc_len = 0;
  if (r->prefix_pos < r->msg->prefix_len) {
    /* Headers added by hooks go first, through the same encoder, a chunk
     * at a time like the message itself. */
    size_t slice = MIN(sizeof r->raw, r->msg->prefix_len - r->prefix_pos);
    r->enc_len = poplar_dotstuff_encode(&r->enc, r->msg->prefix + r->prefix_pos,
                                        slice, r->encoded);
    r->prefix_pos += slice;
    r->octets += r->enc_len;
    return;
  }
  int64_t n = store->ops.message_read(store->data, r->stream, r->raw,
                                      sizeof r->raw);
  if (n < 0 || (uint64_t)n > sizeof r->raw) {
    poplarpriv_log(c->session.id, POPLAR_LOG_ERROR,
                   "reading message %s failed: %s", r->msg->uidl,
                   mbox->error ? mbox->error : "store read error");
    poplarpriv_mailbox_clear_error(mbox);
    r->failed = true;
    retr_close_stream(c);
    retr_report(c, false);
    return;
  }
  if (n > 0)
    r->enc_len = poplar_dotstuff_encode(&r->enc, r->raw, (size_t)n,
                                        r->encoded);
  if (n == 0 || r->enc.done) {
    r->enc_len += poplar_dotstuff_finish(&r->enc, r->encoded + r->enc_len);
    r->octets += r->enc_len;
    r->eof = true;
    retr_close_stream(c);
    retr_report(c, true);
    return;
  }
  r->octets += r->enc_len;
}

static void retr_read_work(PoplarClient *c)
{
  retr_read_chunk(c);
}

static void retr_queue_chunk(PoplarClient *c)
{
  PoplarRetr *r = c->retr;
  if (r->failed) {
    /* Part of the message is out and there is no way to say -ERR now;
     * closing without the final "." tells the client the transfer broke,
     * and nothing was deleted. */
    poplar_client_close(c, POPLAR_DISCONNECT_ERROR);
    return;
  }
  poplar_client_write(c, r->encoded, r->enc_len);
}

static void retr_read_done(PoplarClient *c)
{
  retr_queue_chunk(c);
}

static bool retr_fill(PoplarClient *c)
{
  if (c->retr->eof) {
    retr_free(c);
    return true;
  }
  poplar_client_run_job(c, retr_read_work, retr_read_done);
  return false;
}

static void retr_open_work(PoplarClient *c)
{
  PoplarRetr *r = c->retr;
  PoplarMailbox *mbox = c->session.mailbox;
  if (poplar_hooks_present(c->server->registry,
                           POPLAR_HOOK_MESSAGE_RETRIEVE)) {
    PoplarHookArgs args = {.msg = r->msg, .top_lines = r->top_lines};
    r->verdict = poplar_hooks_run(c->server->registry, &c->session,
                                  POPLAR_HOOK_MESSAGE_RETRIEVE, &args,
                                  &r->hook_reply);
    if (r->verdict != POPLAR_CONTINUE)
      return;
  }
  const PoplarStoreEntry *store = mbox->store;
  r->open_result = store->ops.message_open(store->data, mbox, r->msg,
                                           &r->stream);
  if (r->open_result != POPLAR_STORE_OK) {
    poplarpriv_log(c->session.id,
                   r->open_result == POPLAR_STORE_GONE ? POPLAR_LOG_WARNING
                                                       : POPLAR_LOG_ERROR,
                   "cannot open message %s: %s", r->msg->uidl,
                   mbox->error ? mbox->error
                   : r->open_result == POPLAR_STORE_GONE ? "gone"
                                                         : "store failure");
    poplarpriv_mailbox_clear_error(mbox);
    return;
  }
  r->stream_open = true;
  retr_read_chunk(c);
}

static void retr_open_done(PoplarClient *c)
{
  PoplarRetr *r = c->retr;
  if (r->verdict != POPLAR_CONTINUE) {
    poplar_client_reply(c, r->hook_reply);
    if (r->verdict == POPLAR_DISCONNECT)
      poplar_client_logout(c, POPLAR_DISCONNECT_ERROR);
    retr_free(c);
    return;
  }
  if (r->open_result != POPLAR_STORE_OK) {
    poplar_client_reply(c, r->open_result == POPLAR_STORE_GONE
                               ? "-ERR Message was removed meanwhile"
                               : "-ERR [SYS/TEMP] Message cannot be read "
                                 "now");
    retr_free(c);
    return;
  }
  if (r->failed) {
    /* The first read failed: nothing was sent, so a -ERR can still say
     * so (retr_read_chunk() closed the stream and told the hooks). */
    poplar_client_reply(c, "-ERR [SYS/TEMP] Message cannot be read now");
    retr_free(c);
    return;
  }
  if (r->top_lines < 0) {
    poplar_client_replyf(c, "+OK %" G_GUINT64_FORMAT " octets", r->msg->size);
    c->retrieved++;
    c->retrieved_octets += r->msg->size;
  } else {
    poplar_client_reply(c, "+OK Top of message follows");
  }
  retr_queue_chunk(c);
  if (!c->closing)
    c->fill = retr_fill;
}

static void start_retr(PoplarClient *c, PoplarMessage *msg, long top_lines)
{
  /* Only the fields before the two buffers need zeroing: clearing 200 KB
   * per RETR was a measurable share of a session's time. */
  PoplarRetr *r = g_malloc(sizeof *r);
  memset(r, 0, offsetof(PoplarRetr, raw));
  r->msg = msg;
  r->top_lines = top_lines;
  poplar_dotstuff_init(&r->enc, top_lines);
  c->retr = r;
  poplar_client_run_job(c, retr_open_work, retr_open_done);
}

void poplar_cmd_retr(PoplarClient *c, const PoplarCommandLine *cmd)
{
  PoplarMessage *msg = poplar_pop3_message_arg(c, cmd->argv[0]);
  if (msg)
    start_retr(c, msg, -1);
}

void poplar_cmd_top(PoplarClient *c, const PoplarCommandLine *cmd)
{
  unsigned lines = 0;
  if (!poplar_pop3_parse_number(cmd->argv[1], &lines) ||
      lines > (unsigned)G_MAXINT32) {
    poplar_client_reply(c, "-ERR Line count must be a non-negative number");
    return;
  }
  PoplarMessage *msg = poplar_pop3_message_arg(c, cmd->argv[0]);
  if (msg)
    start_retr(c, msg, (long)lines);
}

/* ---- LIST and UIDL: streamed so a 100,000-message listing never sits in
 * memory whole ---------------------------------------------------------- */

static bool listing_fill(PoplarClient *c, bool uidl)
{
  PoplarMailbox *mbox = c->session.mailbox;
  while (c->fill_cursor < mbox->n_visible &&
         poplar_client_pending(c) < POPLAR_OUTPUT_HIGH_WATER) {
    const PoplarMessage *msg = mbox->visible[c->fill_cursor++];
    if (msg->deleted)
      continue;
    if (uidl)
      poplar_client_replyf(c, "%u %s", msg->number, msg->uidl);
    else
      poplar_client_replyf(c, "%u %" G_GUINT64_FORMAT, msg->number,
                           msg->size);
  }
  if (c->fill_cursor < mbox->n_visible)
    return false;
  poplar_client_reply(c, ".");
  return true;
}

static bool list_fill(PoplarClient *c) { return listing_fill(c, false); }
static bool uidl_fill(PoplarClient *c) { return listing_fill(c, true); }

static void listing(PoplarClient *c, const PoplarCommandLine *cmd, bool uidl)
{
  if (cmd->argc == 1) {
    PoplarMessage *msg = poplar_pop3_message_arg(c, cmd->argv[0]);
    if (!msg)
      return;
    if (uidl)
      poplar_client_replyf(c, "+OK %u %s", msg->number, msg->uidl);
    else
      poplar_client_replyf(c, "+OK %u %" G_GUINT64_FORMAT, msg->number,
                           msg->size);
    return;
  }
  poplar_client_reply(c, uidl ? "+OK Unique-ID listing follows"
                              : "+OK Scan listing follows");
  c->fill_cursor = 0;
  c->fill = uidl ? uidl_fill : list_fill;
}

void poplar_cmd_list(PoplarClient *c, const PoplarCommandLine *cmd)
{
  listing(c, cmd, false);
}

void poplar_cmd_uidl(PoplarClient *c, const PoplarCommandLine *cmd)
{
  listing(c, cmd, true);
}

void poplar_retr_abort(PoplarClient *c)
{
  if (c->retr) {
    retr_close_stream(c);
    if (c->retr->stream_open || c->retr->octets > 0)
      retr_report(c, c->retr->eof);
    retr_free(c);
  }
}
