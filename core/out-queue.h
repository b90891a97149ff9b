/* SPDX-License-Identifier: MIT */
/*
 * A client's output: blocks sent in order.  Reply lines are copied into the
 * last block; a streamed message is encoded on the plugin pool straight
 * into blocks of its own, which then join the queue without another copy.
 * Drained stream blocks are kept for the next ones while a transfer goes
 * on, and freed when the session goes idle, so an idle session holds at
 * most one small block.
 *
 * A queue belongs to its client's loop thread.  A block taken with
 * poplard_out_queue_block_new() belongs to whoever holds it (a pool job may
 * fill it) until it is handed back with poplard_out_queue_block_put().
 */
#ifndef POPLAR_OUT_QUEUE_H
#define POPLAR_OUT_QUEUE_H

#include <stddef.h>
#include <sys/uio.h>

typedef struct PoplarOutBlock {
  struct PoplarOutBlock *next;
  size_t pos; /* next octet to send */
  size_t len; /* octets filled */
  size_t cap;
  char data[];
} PoplarOutBlock;

typedef struct PoplarOutQueue {
  PoplarOutBlock *head, *tail;
  size_t pending;        /* octets queued and not yet sent */
  PoplarOutBlock *spare; /* empty stream blocks kept for reuse */
  unsigned n_spare;
} PoplarOutQueue;

/* Capacity of a stream block: large enough that a message of average
 * size is one or two blocks, small enough to stay in the caches while it
 * is filled and sent. */
#define POPLAR_OUT_STREAM_BLOCK (128 * 1024)
/* Stream blocks kept for reuse. */
#define POPLAR_OUT_SPARE_MAX 4
/* A filled stream block with no more than this is copied into the queue
 * rather than linked, so that a short message does not pin a whole block. */
#define POPLAR_OUT_COPY_MAX (16 * 1024)

/* Appends a copy of @len octets. */
void poplard_out_queue_append(PoplarOutQueue *q, const void *data, size_t len);

/* An empty stream block (cap POPLAR_OUT_STREAM_BLOCK), a spare one when
 * there is one. */
PoplarOutBlock *poplard_out_queue_block_new(PoplarOutQueue *q);
/* Takes back a block from poplard_out_queue_block_new(): its octets
 * (pos..len) go to the end of the queue, linked or copied; an empty block
 * is kept for reuse or freed. */
void poplard_out_queue_block_put(PoplarOutQueue *q, PoplarOutBlock *b);
/* Frees a block outside of any queue (a transfer torn down on the pool). */
void poplard_out_block_free(PoplarOutBlock *b);

/* Fills @iov with up to @max pieces of the queued octets, in order;
 * returns how many. */
size_t poplard_out_queue_peek(const PoplarOutQueue *q, struct iovec *iov,
                             size_t max);
/* Drops the first @n queued octets (they were sent). */
void poplard_out_queue_advance(PoplarOutQueue *q, size_t n);

/* The session is idle: frees the spare blocks, and the last block unless it
 * is small and empty. */
void poplard_out_queue_trim(PoplarOutQueue *q);
/* Frees everything, queued octets included. */
void poplard_out_queue_clear(PoplarOutQueue *q);

#endif /* POPLAR_OUT_QUEUE_H */
