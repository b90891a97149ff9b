/* SPDX-License-Identifier: MIT */
/*
 * The output queue (core/out-queue.c): octets leave in the order they were
 * queued whether copied or linked as blocks, large stream blocks are linked
 * without a copy, small ones are copied so they do not pin a whole block,
 * drained blocks are reused and an idle queue keeps at most a small block.
 */
#include <glib.h>
#include <string.h>

#include "out-queue.h"

/* Everything queued, as the socket would get it, taken @step octets at a
 * time. */
static GString *drain(PoplarOutQueue *q, size_t step)
{
  GString *out = g_string_new(NULL);
  while (q->pending > 0) {
    struct iovec iov[4];
    size_t n = poplard_out_queue_peek(q, iov, G_N_ELEMENTS(iov));
    g_assert_cmpuint(n, >, 0);
    size_t taken = 0;
    for (size_t i = 0; i < n && taken < step; i++) {
      size_t k = MIN(iov[i].iov_len, step - taken);
      g_string_append_len(out, iov[i].iov_base, (gssize)k);
      taken += k;
    }
    poplard_out_queue_advance(q, taken);
  }
  return out;
}

/* A stream block holding @len copies of @fill. */
static PoplarOutBlock *filled_block(PoplarOutQueue *q, char fill, size_t len)
{
  PoplarOutBlock *b = poplard_out_queue_block_new(q);
  g_assert_cmpuint(b->cap, ==, POPLAR_OUT_STREAM_BLOCK);
  g_assert_cmpuint(b->len, ==, 0);
  g_assert_cmpuint(len, <=, b->cap);
  memset(b->data, fill, len);
  b->len = len;
  return b;
}

static void test_append_order(void)
{
  PoplarOutQueue q = {0};
  GString *want = g_string_new(NULL);
  for (int i = 0; i < 2000; i++) {
    char line[32];
    int n = g_snprintf(line, sizeof line, "%d line\r\n", i);
    poplard_out_queue_append(&q, line, (size_t)n);
    g_string_append(want, line);
  }
  g_assert_cmpuint(q.pending, ==, want->len);
  g_autoptr(GString) got = drain(&q, 1000);
  g_assert_cmpmem(got->str, got->len, want->str, want->len);
  g_assert_cmpuint(q.pending, ==, 0);
  g_string_free(want, TRUE);
  poplard_out_queue_clear(&q);
}

/* A large block is sent from where it was filled; the replies around it
 * stay in order. */
static void test_block_linked(void)
{
  PoplarOutQueue q = {0};
  size_t big = POPLAR_OUT_COPY_MAX + 1;
  poplard_out_queue_append(&q, "+OK\r\n", 5);
  PoplarOutBlock *b = filled_block(&q, 'x', big);
  const char *where = b->data;
  poplard_out_queue_block_put(&q, b);
  poplard_out_queue_append(&q, "+OK next\r\n", 10);
  g_assert_cmpuint(q.pending, ==, 5 + big + 10);

  struct iovec iov[8];
  size_t n = poplard_out_queue_peek(&q, iov, G_N_ELEMENTS(iov));
  /* The next reply went into the block's free room. */
  g_assert_cmpuint(n, ==, 2);
  g_assert_cmpmem(iov[0].iov_base, iov[0].iov_len, "+OK\r\n", 5);
  g_assert_true(iov[1].iov_base == where); /* not copied */
  g_assert_cmpuint(iov[1].iov_len, ==, big + 10);
  g_assert_cmpmem((const char *)iov[1].iov_base + big, 10, "+OK next\r\n",
                  10);

  /* Drained, the stream block is kept for the next one. */
  g_autoptr(GString) got = drain(&q, 7000);
  g_assert_cmpuint(got->len, ==, 5 + big + 10);
  g_assert_cmpuint(q.n_spare, ==, 1);
  PoplarOutBlock *again = poplard_out_queue_block_new(&q);
  g_assert_true(again == b);
  g_assert_cmpuint(again->len, ==, 0);
  g_assert_cmpuint(again->pos, ==, 0);
  poplard_out_queue_block_put(&q, again); /* empty: back to the spares */
  g_assert_cmpuint(q.pending, ==, 0);
  g_assert_cmpuint(q.n_spare, ==, 1);
  poplard_out_queue_clear(&q);
  g_assert_null(q.spare);
  g_assert_null(q.head);
}

/* A short message is copied and its block goes back at once, so a client
 * pipelining RETRs of small messages does not hold a block per reply. */
static void test_small_block_copied(void)
{
  PoplarOutQueue q = {0};
  for (int i = 0; i < 100; i++) {
    PoplarOutBlock *b = filled_block(&q, (char)('a' + i % 26), 1000);
    poplard_out_queue_block_put(&q, b);
  }
  g_assert_cmpuint(q.pending, ==, 100 * 1000);
  g_assert_cmpuint(q.n_spare, ==, 1); /* the same block, every time */
  struct iovec iov[64];
  size_t n = poplard_out_queue_peek(&q, iov, G_N_ELEMENTS(iov));
  for (size_t i = 0; i < n; i++)
    g_assert_cmpuint(iov[i].iov_len, <, POPLAR_OUT_STREAM_BLOCK);
  g_autoptr(GString) got = drain(&q, 4096);
  for (size_t i = 0; i < got->len; i++)
    g_assert_cmpint(got->str[i], ==, 'a' + (int)(i / 1000) % 26);
  poplard_out_queue_clear(&q);
}

/* Spares are bounded, and an idle queue keeps only a small block. */
static void test_spares_and_trim(void)
{
  PoplarOutQueue q = {0};
  PoplarOutBlock *blocks[POPLAR_OUT_SPARE_MAX + 3];
  for (size_t i = 0; i < G_N_ELEMENTS(blocks); i++)
    blocks[i] = filled_block(&q, 'z', POPLAR_OUT_STREAM_BLOCK);
  for (size_t i = 0; i < G_N_ELEMENTS(blocks); i++)
    poplard_out_queue_block_put(&q, blocks[i]);
  g_assert_cmpuint(q.pending, ==,
                   G_N_ELEMENTS(blocks) * POPLAR_OUT_STREAM_BLOCK);
  g_autoptr(GString) got = drain(&q, 100000);
  g_assert_cmpuint(got->len, ==,
                   G_N_ELEMENTS(blocks) * POPLAR_OUT_STREAM_BLOCK);
  g_assert_cmpuint(q.n_spare, ==, POPLAR_OUT_SPARE_MAX);
  g_assert_null(q.head); /* a drained stream block is not kept in line */

  poplard_out_queue_append(&q, "+OK\r\n", 5);
  g_autoptr(GString) reply = drain(&q, 100);
  g_assert_cmpstr(reply->str, ==, "+OK\r\n");
  g_assert_nonnull(q.head); /* the small block, for the next reply */
  poplard_out_queue_trim(&q);
  g_assert_null(q.spare);
  g_assert_cmpuint(q.n_spare, ==, 0);
  g_assert_nonnull(q.head);
  g_assert_cmpuint(q.head->cap, <=, 4096);

  /* A block linked behind the kept small block goes first. */
  PoplarOutBlock *b = filled_block(&q, 'y', POPLAR_OUT_COPY_MAX + 10);
  poplard_out_queue_block_put(&q, b);
  struct iovec iov[2];
  g_assert_cmpuint(poplard_out_queue_peek(&q, iov, 2), ==, 1);
  g_assert_true(iov[0].iov_base == b->data);
  poplard_out_queue_clear(&q);
}

/* A reply longer than the usual copy block gets a block of its own. */
static void test_large_append(void)
{
  PoplarOutQueue q = {0};
  size_t len = 200 * 1024;
  g_autofree char *data = g_malloc(len);
  for (size_t i = 0; i < len; i++)
    data[i] = (char)(i * 7);
  poplard_out_queue_append(&q, "a", 1);
  poplard_out_queue_append(&q, data, len);
  poplard_out_queue_append(&q, "b", 1);
  g_autoptr(GString) got = drain(&q, 65536);
  g_assert_cmpuint(got->len, ==, len + 2);
  g_assert_cmpint(got->str[0], ==, 'a');
  g_assert_cmpmem(got->str + 1, len, data, len);
  g_assert_cmpint(got->str[len + 1], ==, 'b');
  poplard_out_queue_clear(&q);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/out-queue/append-order", test_append_order);
  g_test_add_func("/out-queue/block-linked", test_block_linked);
  g_test_add_func("/out-queue/small-block-copied", test_small_block_copied);
  g_test_add_func("/out-queue/spares-and-trim", test_spares_and_trim);
  g_test_add_func("/out-queue/large-append", test_large_append);
  return g_test_run();
}
