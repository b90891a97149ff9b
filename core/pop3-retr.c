/* SPDX-License-Identifier: MIT */
/*
 * RETR and TOP, streamed: a plugin-pool job reads the message from the
 * store and encodes it (CRLF, dot-stuffing) straight into output blocks,
 * as many as the output queue has room for; the loop links the blocks
 * into the queue as they are, and starts the next job while the socket
 * still has plenty to send.  Memory per transfer is bounded by
 * RETR_QUEUE_TARGET whatever the message size, and a client that stops
 * reading stops the reading from disk.
 */
#include <stddef.h>
#include <string.h>

#include "dotstuff.h"
#include "hooks.h"
#include "pop3-commands.h"

/* Output a transfer keeps queued: enough for the socket to send while the
 * next job runs on the pool, so that one job per 256 KiB or per message
 * (most are smaller) is all the thread hand-over a transfer costs. */
#define RETR_QUEUE_TARGET (4 * POPLAR_OUT_STREAM_BLOCK)
/* The next job starts when the queue falls below this: the mark below
 * which the next pipelined command runs, too, so that a RETR after a RETR
 * starts as early as the next part of one message would. */
#define RETR_REFILL_BELOW POPLAR_OUTPUT_HIGH_WATER
_Static_assert(RETR_REFILL_BELOW + POPLAR_OUT_STREAM_BLOCK <= RETR_QUEUE_TARGET,
               "a refill must have room for at least one block");
#define RETR_JOB_BLOCKS_MAX (RETR_QUEUE_TARGET / POPLAR_OUT_STREAM_BLOCK)

struct PoplarRetr {
  PoplarMessage *msg;
  long top_lines;
  void *stream;
  bool stream_open;
  bool eof;    /* the whole reply is encoded, terminator included */
  bool failed;
  PoplarStoreResult open_result;
  PoplarVerdict verdict;
  char *hook_reply;
  PoplarDotStuff enc;
  uint64_t octets;   /* encoded octets produced so far */
  size_t prefix_pos; /* hook-added header octets already encoded */
  bool reported;     /* message_sent hooks told */
  /* The blocks the running job fills, taken from the output queue on the
   * loop before the job and handed back to it after. */
  PoplarOutBlock *blocks[RETR_JOB_BLOCKS_MAX];
  unsigned n_blocks;
  size_t raw_pos, raw_len; /* raw[raw_pos..raw_len): read, not encoded */
  char raw[POPLAR_RETR_CHUNK];
};

static void retr_free(PoplarClient *c)
{
  PoplarRetr *r = c->out.retr;
  if (!r)
    return;
  /* Blocks still held belong to a job that never handed them back (a
   * failure, or the client left); this may run on the pool. */
  for (unsigned i = 0; i < r->n_blocks; i++)
    poplard_out_block_free(r->blocks[i]);
  g_free(r->hook_reply);
  g_free(r);
  c->out.retr = NULL;
}

/* Tells the message_sent hooks how the transfer ended, once.  On the
 * pool. */
static void retr_report(PoplarClient *c, bool complete)
{
  PoplarRetr *r = c->out.retr;
  if (r->reported)
    return;
  r->reported = true;
  if (!poplard_hooks_present(c->server->registry, POPLAR_HOOK_MESSAGE_SENT))
    return;
  PoplarHookArgs args = {.msg = r->msg, .top_lines = r->top_lines,
                         .octets = r->octets, .complete = complete};
  char *reply = NULL;
  poplard_hooks_run(c->server->registry, &c->session,
                   POPLAR_HOOK_MESSAGE_SENT, &args, &reply);
  g_free(reply);
}

/* Closes the store's read handle.  On the pool (a plugin call). */
static void retr_close_stream(PoplarClient *c)
{
  PoplarRetr *r = c->out.retr;
  if (r->stream_open) {
    const PoplarStoreEntry *store = c->session.mailbox->store;
    store->ops.message_close(store->data, r->stream);
    r->stream_open = false;
  }
}

/* The message is all encoded: the terminator goes into @b, which always
 * keeps room for it.  On the pool. */
static void retr_finish(PoplarClient *c, PoplarOutBlock *b)
{
  PoplarRetr *r = c->out.retr;
  size_t w = poplard_dotstuff_finish(&r->enc, b->data + b->len);
  b->len += w;
  r->octets += w;
  r->eof = true;
  retr_close_stream(c);
  retr_report(c, true);
}

/* Reads the next chunk of the message into raw.  Returns false at its end
 * or when the store failed (r->failed).  On the pool. */
static bool retr_read(PoplarClient *c)
{
  PoplarRetr *r = c->out.retr;
  PoplarMailbox *mbox = c->session.mailbox;
  const PoplarStoreEntry *store = mbox->store;
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
    return false;
  }
  r->raw_pos = 0;
  r->raw_len = (size_t)n;
  return n > 0;
}

/* Encodes into @b until it is full or the reply is complete: headers added
 * by hooks first, then the message, then the terminator.  On the pool. */
static void retr_fill_block(PoplarClient *c, PoplarOutBlock *b)
{
  PoplarRetr *r = c->out.retr;
  const PoplarMessage *msg = r->msg;
  size_t limit = b->cap - POPLAR_DOTSTUFF_FINISH_MAX;
  while (b->len + 2 <= limit) {
    const char *in;
    size_t avail;
    bool prefix = r->prefix_pos < msg->prefix_len;
    if (prefix) {
      in = msg->prefix + r->prefix_pos;
      avail = msg->prefix_len - r->prefix_pos;
    } else {
      if (r->raw_pos == r->raw_len && !retr_read(c)) {
        if (!r->failed)
          retr_finish(c, b);
        return;
      }
      in = r->raw + r->raw_pos;
      avail = r->raw_len - r->raw_pos;
    }
    size_t used = 0;
    size_t w = poplard_dotstuff_encode_into(&r->enc, in, avail, &used,
                                           b->data + b->len, limit - b->len);
    b->len += w;
    r->octets += w;
    if (prefix)
      r->prefix_pos += used;
    else
      r->raw_pos += used;
    if (r->enc.done) { /* TOP has its lines */
      retr_finish(c, b);
      return;
    }
  }
}

/* Fills the job's blocks in order.  On the pool. */
static void retr_produce(PoplarClient *c)
{
  PoplarRetr *r = c->out.retr;
  for (unsigned i = 0; i < r->n_blocks && !r->eof && !r->failed; i++)
    retr_fill_block(c, r->blocks[i]);
}

/* Hands the job blocks for as much output as the queue has room for, and
 * no more than the rest of the message needs by its size, so that a short
 * message holds one block, not four (dot-stuffing may make the estimate
 * short by a few octets: the next job sends them).  On the loop. */
static void retr_take_blocks(PoplarClient *c)
{
  PoplarRetr *r = c->out.retr;
  size_t pending = poplard_client_pending(c);
  size_t n = pending < RETR_QUEUE_TARGET
                 ? (RETR_QUEUE_TARGET - pending) / POPLAR_OUT_STREAM_BLOCK
                 : 0;
  uint64_t total = r->msg->size + POPLAR_DOTSTUFF_FINISH_MAX;
  uint64_t left = total > r->octets ? total - r->octets : 1;
  uint64_t usable = POPLAR_OUT_STREAM_BLOCK - POPLAR_DOTSTUFF_FINISH_MAX;
  uint64_t need = (left + usable - 1) / usable;
  if (need < n)
    n = (size_t)need;
  n = CLAMP(n, 1, RETR_JOB_BLOCKS_MAX);
  for (r->n_blocks = 0; r->n_blocks < n; r->n_blocks++)
    r->blocks[r->n_blocks] = poplard_out_queue_block_new(&c->out.queue);
}

/* Queues what the job produced, in order; unused blocks go back for
 * reuse.  On the loop. */
static void retr_queue_blocks(PoplarClient *c)
{
  PoplarRetr *r = c->out.retr;
  for (unsigned i = 0; i < r->n_blocks; i++)
    poplard_out_queue_block_put(&c->out.queue, r->blocks[i]);
  r->n_blocks = 0;
}

static void retr_read_work(PoplarClient *c)
{
  retr_produce(c);
}

static void retr_read_done(PoplarClient *c)
{
  if (c->out.retr->failed) {
    /* Part of the message is out and there is no way to say -ERR now;
     * closing without the final "." tells the client the transfer broke,
     * and nothing was deleted. */
    poplard_client_close(c, POPLAR_DISCONNECT_ERROR);
    return;
  }
  retr_queue_blocks(c);
}

static bool retr_fill(PoplarClient *c)
{
  if (c->out.retr->eof) {
    retr_free(c);
    return true;
  }
  retr_take_blocks(c);
  poplard_client_run_job(c, retr_read_work, retr_read_done);
  return false;
}

static void retr_open_work(PoplarClient *c)
{
  PoplarRetr *r = c->out.retr;
  PoplarMailbox *mbox = c->session.mailbox;
  if (poplard_hooks_present(c->server->registry,
                           POPLAR_HOOK_MESSAGE_RETRIEVE)) {
    PoplarHookArgs args = {.msg = r->msg, .top_lines = r->top_lines};
    r->verdict = poplard_hooks_run(c->server->registry, &c->session,
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
  retr_produce(c);
}

static void retr_open_done(PoplarClient *c)
{
  PoplarRetr *r = c->out.retr;
  if (r->verdict != POPLAR_CONTINUE) {
    poplard_client_reply(c, r->hook_reply);
    if (r->verdict == POPLAR_DISCONNECT)
      poplard_client_logout(c, POPLAR_DISCONNECT_ERROR);
    retr_free(c);
    return;
  }
  if (r->open_result != POPLAR_STORE_OK) {
    poplard_client_reply(c, r->open_result == POPLAR_STORE_GONE
                               ? "-ERR Message was removed meanwhile"
                               : "-ERR [SYS/TEMP] Message cannot be read "
                                 "now");
    retr_free(c);
    return;
  }
  if (r->failed) {
    /* A read of the first job failed: nothing was sent, so a -ERR can
     * still say so (retr_read() closed the stream and told the hooks). */
    poplard_client_reply(c, "-ERR [SYS/TEMP] Message cannot be read now");
    retr_free(c);
    return;
  }
  if (r->top_lines < 0) {
    poplard_client_replyf(c, "+OK %" G_GUINT64_FORMAT " octets", r->msg->size);
    c->stats.retrieved++;
    c->stats.retrieved_octets += r->msg->size;
  } else {
    poplard_client_reply(c, "+OK Top of message follows");
  }
  retr_queue_blocks(c);
  c->out.fill = retr_fill;
  c->out.fill_below = RETR_REFILL_BELOW;
}

static void start_retr(PoplarClient *c, PoplarMessage *msg, long top_lines)
{
  /* Only the fields before the read buffer need zeroing: clearing it per
   * RETR was a measurable share of a session's time. */
  PoplarRetr *r = g_malloc(sizeof *r);
  memset(r, 0, offsetof(PoplarRetr, raw));
  r->msg = msg;
  r->top_lines = top_lines;
  poplard_dotstuff_init(&r->enc, top_lines);
  c->out.retr = r;
  retr_take_blocks(c);
  poplard_client_run_job(c, retr_open_work, retr_open_done);
}

void poplard_cmd_retr(PoplarClient *c, const PoplarCommandLine *cmd)
{
  PoplarMessage *msg = poplard_pop3_message_arg(c, cmd->argv[0]);
  if (msg)
    start_retr(c, msg, -1);
}

void poplard_cmd_top(PoplarClient *c, const PoplarCommandLine *cmd)
{
  unsigned lines = 0;
  if (!poplard_pop3_parse_number(cmd->argv[1], &lines) ||
      lines > (unsigned)G_MAXINT32) {
    poplard_client_reply(c, "-ERR Line count must be a non-negative number");
    return;
  }
  PoplarMessage *msg = poplard_pop3_message_arg(c, cmd->argv[0]);
  if (msg)
    start_retr(c, msg, (long)lines);
}

/* ---- LIST and UIDL: streamed so a 100,000-message listing never sits in
 * memory whole ---------------------------------------------------------- */

static bool listing_fill(PoplarClient *c, bool uidl)
{
  PoplarMailbox *mbox = c->session.mailbox;
  while (c->out.fill_cursor < mbox->n_visible &&
         poplard_client_pending(c) < POPLAR_OUTPUT_HIGH_WATER) {
    const PoplarMessage *msg = mbox->visible[c->out.fill_cursor++];
    if (msg->deleted)
      continue;
    if (uidl)
      poplard_client_replyf(c, "%u %s", msg->number, msg->uidl);
    else
      poplard_client_replyf(c, "%u %" G_GUINT64_FORMAT, msg->number,
                           msg->size);
  }
  if (c->out.fill_cursor < mbox->n_visible)
    return false;
  poplard_client_reply(c, ".");
  return true;
}

static bool list_fill(PoplarClient *c) { return listing_fill(c, false); }
static bool uidl_fill(PoplarClient *c) { return listing_fill(c, true); }

static void listing(PoplarClient *c, const PoplarCommandLine *cmd, bool uidl)
{
  if (cmd->argc == 1) {
    PoplarMessage *msg = poplard_pop3_message_arg(c, cmd->argv[0]);
    if (!msg)
      return;
    if (uidl)
      poplard_client_replyf(c, "+OK %u %s", msg->number, msg->uidl);
    else
      poplard_client_replyf(c, "+OK %u %" G_GUINT64_FORMAT, msg->number,
                           msg->size);
    return;
  }
  poplard_client_reply(c, uidl ? "+OK Unique-ID listing follows"
                              : "+OK Scan listing follows");
  c->out.fill_cursor = 0;
  c->out.fill = uidl ? uidl_fill : list_fill;
}

void poplard_cmd_list(PoplarClient *c, const PoplarCommandLine *cmd)
{
  listing(c, cmd, false);
}

void poplard_cmd_uidl(PoplarClient *c, const PoplarCommandLine *cmd)
{
  listing(c, cmd, true);
}

void poplard_retr_abort(PoplarClient *c)
{
  if (c->out.retr) {
    retr_close_stream(c);
    if (c->out.retr->stream_open || c->out.retr->octets > 0)
      retr_report(c, c->out.retr->eof);
    retr_free(c);
  }
}
