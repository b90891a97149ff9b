/* SPDX-License-Identifier: MIT */
#include "out-queue.h"

#include <glib.h>
#include <string.h>

/* The block an idle session keeps for its next replies, as big as the
 * replies of a whole session usually are. */
#define SMALL_BLOCK 4096
/* Copy blocks grow with what is queued (a streamed listing) up to this. */
#define COPY_BLOCK_MAX (64 * 1024)

static PoplarOutBlock *block_alloc(size_t cap)
{
  PoplarOutBlock *b = g_malloc(sizeof *b + cap);
  b->next = NULL;
  b->pos = b->len = 0;
  b->cap = cap;
  return b;
}

void poplard_out_block_free(PoplarOutBlock *b)
{
  g_free(b);
}

/* A block that left the queue (drained) or was never filled. */
static void block_recycle(PoplarOutQueue *q, PoplarOutBlock *b)
{
  if (b->cap == POPLAR_OUT_STREAM_BLOCK && q->n_spare < POPLAR_OUT_SPARE_MAX) {
    b->pos = b->len = 0;
    b->next = q->spare;
    q->spare = b;
    q->n_spare++;
    return;
  }
  g_free(b);
}

static void link_block(PoplarOutQueue *q, PoplarOutBlock *b)
{
  if (q->head && q->pending == 0) {
    /* Only the drained block kept for replies is there: it would sit in
     * front of the new one for nothing. */
    block_recycle(q, q->head);
    q->head = q->tail = NULL;
  }
  b->next = NULL;
  if (q->tail)
    q->tail->next = b;
  else
    q->head = b;
  q->tail = b;
  q->pending += b->len - b->pos;
}

void poplard_out_queue_append(PoplarOutQueue *q, const void *data, size_t len)
{
  if (len == 0)
    return;
  PoplarOutBlock *t = q->tail;
  if (!t || t->cap - t->len < len) {
    size_t cap = MIN(MAX(q->pending, SMALL_BLOCK), COPY_BLOCK_MAX);
    t = block_alloc(MAX(cap, len));
    link_block(q, t);
  }
  memcpy(t->data + t->len, data, len);
  t->len += len;
  q->pending += len;
}

PoplarOutBlock *poplard_out_queue_block_new(PoplarOutQueue *q)
{
  PoplarOutBlock *b = q->spare;
  if (!b)
    return block_alloc(POPLAR_OUT_STREAM_BLOCK);
  q->spare = b->next;
  q->n_spare--;
  b->next = NULL;
  return b;
}

void poplard_out_queue_block_put(PoplarOutQueue *q, PoplarOutBlock *b)
{
  size_t n = b->len - b->pos;
  if (n > POPLAR_OUT_COPY_MAX) {
    link_block(q, b);
    return;
  }
  poplard_out_queue_append(q, b->data + b->pos, n);
  block_recycle(q, b);
}

size_t poplard_out_queue_peek(const PoplarOutQueue *q, struct iovec *iov,
                             size_t max)
{
  size_t n = 0;
  for (const PoplarOutBlock *b = q->head; b && n < max; b = b->next) {
    if (b->len == b->pos)
      continue;
    iov[n].iov_base = (void *)(b->data + b->pos);
    iov[n].iov_len = b->len - b->pos;
    n++;
  }
  return n;
}

void poplard_out_queue_advance(PoplarOutQueue *q, size_t n)
{
  g_assert(n <= q->pending);
  q->pending -= n;
  while (q->head) {
    PoplarOutBlock *b = q->head;
    size_t avail = b->len - b->pos;
    if (n < avail) {
      b->pos += n;
      return;
    }
    n -= avail;
    if (b == q->tail) {
      if (b->cap <= SMALL_BLOCK) {
        b->pos = b->len = 0; /* kept for the next replies */
        return;
      }
      q->head = q->tail = NULL;
      block_recycle(q, b);
      return;
    }
    q->head = b->next;
    block_recycle(q, b);
  }
}

void poplard_out_queue_trim(PoplarOutQueue *q)
{
  while (q->spare) {
    PoplarOutBlock *b = q->spare;
    q->spare = b->next;
    g_free(b);
  }
  q->n_spare = 0;
  if (q->pending == 0 && q->head && q->head->cap > SMALL_BLOCK) {
    g_free(q->head);
    q->head = q->tail = NULL;
  }
}

void poplard_out_queue_clear(PoplarOutQueue *q)
{
  while (q->head) {
    PoplarOutBlock *b = q->head;
    q->head = b->next;
    g_free(b);
  }
  q->tail = NULL;
  q->pending = 0;
  poplard_out_queue_trim(q);
}
