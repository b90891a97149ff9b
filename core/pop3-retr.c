/* SPDX-License-Identifier: MIT */
/*
 * RETR and TOP, streamed: a plugin-pool job reads the message from the
 * store and encodes it (CRLF, dot-stuffing) straight into output blocks,
 * as many as the output queue has room for; the loop links the blocks
 * into the queue as they are, and starts the next job while the socket
 * still has plenty to send.  Memory per transfer is bounded by
 * RETR_QUEUE_TARGET whatever the message size, and a client that stops
 * reading stops the reading from disk.
 *
 * A message the store keeps exactly as it is sent (PoplarStoreOps.
 * message_open_fd) goes out with sendfile() instead, on plain TCP and when
 * no hook added headers: once the +OK line has left the queue, pool jobs
 * call sendfile() on a duplicate of the socket until it is full, the loop
 * waits for EPOLLOUT between them, and the terminator is queued after the
 * last octet.  The jobs run on the pool because sendfile() reads the file
 * synchronously: a cold file must delay its own session, not a loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "dotstuff.h"
#include "hooks.h"
#include "mailbox-policy.h"
#include "pop3-commands.h"
#include "stats-points.h"

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
/* Octets one sendfile job sends at most before it gives its pool thread
 * back, so that a fast client of a huge message shares the pool. */
#define RETR_SENDFILE_JOB_MAX (8 * 1024 * 1024)
/* Read before the +OK, so that a file that cannot be read at all gets a
 * -ERR as on the encoder's path (whose first read precedes the +OK). */
#define RETR_SENDFILE_PROBE 4096
/* How long a sendfile job waits for a full socket to take more before it
 * leaves the waiting to the loop. */
#define RETR_SENDFILE_WAIT_MS 5

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
  /* The sendfile path: the store's file range, a duplicate of the socket
   * that stays valid while a job uses it (the client's own descriptor is
   * closed on the loop when the connection ends), what is sent, and how
   * the last job stopped. */
  PoplarFileRange file;
  int sock;
  uint64_t file_sent;
  uint64_t job_sent;
  int send_errno;
  bool socket_full;
  bool file_short;  /* the file ended before file.length */
  bool unsupported; /* sendfile() cannot read this file: read it instead */
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
  if (r->sock >= 0)
    close(r->sock);
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
  poplard_stats_sent(r->top_lines < 0 ? "RETR" : "TOP", r->octets, complete);
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
    poplarpriv_store_message_close(c->session.mailbox, r->stream);
    r->stream_open = false;
    r->file.fd = -1; /* closed with the stream */
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
  int64_t n = poplarpriv_store_message_read(c->session.mailbox, r->msg,
                                            r->stream, r->raw, sizeof r->raw);
  if (n < 0) { /* logged */
    r->failed = true;
    retr_close_stream(c);
    retr_report(c, false);
    return false;
  }
  r->raw_pos = 0;
  r->raw_len = (size_t)n;
  return n > 0;
}

/* A TOP that reached the end of the message sent all of it: EXPIRE counts
 * it as a RETR (fetchmail reads with TOP when it keeps mail), on record
 * before the terminator.  False when that failed: the transfer breaks off.
 * On the pool. */
static bool retr_note_whole_top(PoplarClient *c)
{
  PoplarRetr *r = c->out.retr;
  if (r->top_lines < 0 || poplard_policy_note_retrieval(c, r->msg))
    return true;
  r->failed = true;
  retr_close_stream(c);
  retr_report(c, false);
  return false;
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
        if (!r->failed && retr_note_whole_top(c))
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

/* ---- the sendfile path ------------------------------------------------- */

/* Only where the octets on the wire are the stored ones: RETR (TOP counts
 * lines), no TLS record layer, no header added by a hook.  On the pool. */
static bool retr_may_sendfile(const PoplarClient *c)
{
  const PoplarRetr *r = c->out.retr;
  return r->top_lines < 0 && !c->conn.tls && r->msg->prefix_len == 0;
}

/* Reads the start of the file range before anything is promised.  False
 * when that fails (logged, r->failed); a file already shorter than
 * offered is read through the stream instead.  On the pool. */
static bool retr_probe_file(PoplarClient *c)
{
  PoplarRetr *r = c->out.retr;
  size_t want = (size_t)MIN(r->file.length, RETR_SENDFILE_PROBE);
  ssize_t n;
  do
    n = pread(r->file.fd, r->raw, want, (off_t)r->file.offset);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    poplarpriv_log(c->session.id, POPLAR_LOG_ERROR,
                   "reading message %s failed: cannot read its file: %s",
                   r->msg->uidl, g_strerror(errno));
    r->failed = true;
    retr_close_stream(c);
    retr_report(c, false);
    return false;
  }
  if ((size_t)n < want)
    r->file.fd = -1;
  return true;
}

/* Sends from the file until the socket is full, the message is out, the
 * job's share is used, or something fails.  On the pool. */
static void retr_sendfile_work(PoplarClient *c)
{
  PoplarRetr *r = c->out.retr;
  r->job_sent = 0;
  r->socket_full = false;
  while (r->file_sent < r->file.length &&
         r->job_sent < RETR_SENDFILE_JOB_MAX) {
    off_t at = (off_t)(r->file.offset + r->file_sent);
    size_t want = (size_t)MIN(r->file.length - r->file_sent,
                              RETR_SENDFILE_JOB_MAX - r->job_sent);
    ssize_t n = sendfile(r->sock, r->file.fd, &at, want);
    if (n > 0) {
      r->file_sent += (uint64_t)n;
      r->job_sent += (uint64_t)n;
      r->octets = r->file_sent; /* for the message_sent hooks */
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      /* A client that keeps up makes room within moments: waiting that
       * long here saves a trip through the loop and back per socket
       * buffer.  A slower one gets the loop's EPOLLOUT instead. */
      struct pollfd out = {.fd = r->sock, .events = POLLOUT};
      if (poll(&out, 1, RETR_SENDFILE_WAIT_MS) > 0)
        continue;
      r->socket_full = true;
      return;
    }
    if (n < 0 && r->file_sent == 0 &&
        (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
      r->unsupported = true; /* nothing sent: the stream can take over */
      return;
    }
    if (n == 0)
      r->file_short = true;
    else
      r->send_errno = errno;
    r->failed = true;
    retr_close_stream(c);
    retr_report(c, false);
    return;
  }
  if (r->file_sent == r->file.length) {
    r->octets = r->file_sent + 3; /* and the terminator, queued next */
    retr_close_stream(c);
    retr_report(c, true);
  }
}

static void retr_sendfile_done(PoplarClient *c)
{
  PoplarRetr *r = c->out.retr;
  c->session.bytes_out += r->job_sent;
  if (r->job_sent > 0)
    c->last_activity = poplard_loop_now(c->loop);
  if (r->unsupported) {
    poplarpriv_log(c->session.id, POPLAR_LOG_DEBUG,
                   "message %s: sendfile() refused the file; reading it",
                   r->msg->uidl);
    r->file.fd = -1;
    c->out.fill = retr_fill;
    c->out.fill_below = RETR_REFILL_BELOW;
    return;
  }
  if (r->file_short) {
    /* The size is announced and part of the message is out: no reply can
     * correct it now, and the client must not take a short message for a
     * whole one, so the connection ends without the terminator. */
    poplarpriv_log(c->session.id, POPLAR_LOG_ERROR,
                   "message %s: its file ended after %" G_GUINT64_FORMAT
                   " of %" G_GUINT64_FORMAT " octets (changed or truncated "
                   "while being sent): closing the connection",
                   r->msg->uidl, r->file_sent, r->file.length);
    poplard_client_close(c, POPLAR_DISCONNECT_ERROR);
    return;
  }
  if (r->failed) {
    bool client_gone = r->send_errno == EPIPE || r->send_errno == ECONNRESET ||
                       r->send_errno == ENOTCONN;
    if (!client_gone)
      poplarpriv_log(c->session.id, POPLAR_LOG_ERROR,
                     "message %s: sendfile() failed after %" G_GUINT64_FORMAT
                     " octets: %s", r->msg->uidl, r->file_sent,
                     g_strerror(r->send_errno));
    poplard_client_close(c, client_gone ? POPLAR_DISCONNECT_CLIENT_CLOSED
                                        : POPLAR_DISCONNECT_ERROR);
    return;
  }
  if (r->file_sent == r->file.length) {
    poplard_client_write(c, ".\r\n", 3);
    r->eof = true;
    c->stats.retrieved_by_sendfile++;
    return;
  }
  c->out.await_writable = r->socket_full;
}

/* Called when the queue is empty (fill_below 1), so that the octets sent
 * from the file follow everything queued before them, the +OK line
 * first.  Loop thread. */
static bool retr_sendfile_fill(PoplarClient *c)
{
  if (c->out.retr->eof) {
    retr_free(c);
    return true;
  }
  poplard_client_run_job(c, retr_sendfile_work, retr_sendfile_done);
  return false;
}

/* After the +OK: sends the message with sendfile() from now on.  Returns
 * false when that cannot start (no descriptor left); the stream is then
 * read as usual.  Loop thread. */
static bool retr_sendfile_begin(PoplarClient *c)
{
  PoplarRetr *r = c->out.retr;
  r->sock = fcntl(c->conn.fd, F_DUPFD_CLOEXEC, 0);
  if (r->sock < 0) {
    poplarpriv_log(c->session.id, POPLAR_LOG_DEBUG,
                   "message %s: no descriptor for sendfile(): %s; reading "
                   "it", r->msg->uidl, g_strerror(errno));
    r->file.fd = -1;
    return false;
  }
  c->out.fill = retr_sendfile_fill;
  c->out.fill_below = 1;
  return true;
}

/* ---- opening -------------------------------------------------------------- */

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
  /* A failure is logged on the way out of the store. */
  if (retr_may_sendfile(c))
    r->open_result = poplarpriv_store_message_open_fd(mbox, r->msg,
                                                      &r->stream, &r->file);
  else
    r->open_result = poplarpriv_store_message_open(mbox, r->msg, &r->stream);
  if (r->open_result != POPLAR_STORE_OK)
    return;
  r->stream_open = true;
  /* EXPIRE counts from the first RETR: on record before the +OK. */
  if (r->top_lines < 0 && !poplard_policy_note_retrieval(c, r->msg)) {
    retr_close_stream(c);
    retr_report(c, false);
    r->failed = true;
    return;
  }
  if (r->file.fd >= 0 && !retr_probe_file(c))
    return;
  if (r->file.fd < 0)
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
  if (r->file.fd >= 0 && retr_sendfile_begin(c))
    return;
  c->out.fill = retr_fill;
  c->out.fill_below = RETR_REFILL_BELOW;
}

static void start_retr(PoplarClient *c, PoplarMessage *msg, long top_lines)
{
  /* Only the fields before the read buffer need zeroing: clearing it per
   * RETR was a measurable share of a session's time. */
  PoplarRetr *r = g_malloc(sizeof *r);
  memset(r, 0, offsetof(PoplarRetr, raw));
  r->file.fd = -1;
  r->sock = -1;
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

void poplard_retr_abort(PoplarClient *c)
{
  if (c->out.retr) {
    retr_close_stream(c);
    if (c->out.retr->stream_open || c->out.retr->octets > 0)
      retr_report(c, c->out.retr->eof);
    retr_free(c);
  }
}
