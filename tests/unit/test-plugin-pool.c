/* SPDX-License-Identifier: MIT */
/* The plugin pool: every item runs once, a call that blocks does not hold
 * up the next while threads may still be started, and freeing the pool
 * runs what is queued. */
#include <glib.h>

#include "plugin-pool.h"

typedef struct {
  GMutex lock;
  GCond changed;
  unsigned ran;
  bool release;      /* the blocking item may return */
  bool blocker_in;   /* the blocking item is running */
  int counts[64];    /* runs of each plain item */
} World;

typedef struct {
  World *w;
  int index; /* -1: the blocking item */
} Item;

static void run(void *data, void *user_data)
{
  Item *it = data;
  World *w = user_data;
  g_assert_true(it->w == w);
  g_mutex_lock(&w->lock);
  if (it->index < 0) {
    w->blocker_in = true;
    g_cond_broadcast(&w->changed);
    while (!w->release)
      g_cond_wait(&w->changed, &w->lock);
  } else {
    w->counts[it->index]++;
  }
  w->ran++;
  g_cond_broadcast(&w->changed);
  g_mutex_unlock(&w->lock);
}

static void wait_ran(World *w, unsigned n)
{
  g_mutex_lock(&w->lock);
  while (w->ran < n)
    g_cond_wait(&w->changed, &w->lock);
  g_mutex_unlock(&w->lock);
}

static void test_each_once(void)
{
  World w = {0};
  g_mutex_init(&w.lock);
  g_cond_init(&w.changed);
  PoplarPool *pool = poplard_pool_new(run, &w, 4);
  Item items[64];
  for (int round = 0; round < 20; round++) {
    for (int i = 0; i < 64; i++) {
      items[i] = (Item){&w, i};
      g_assert_true(poplard_pool_push(pool, &items[i]));
    }
    wait_ran(&w, (unsigned)(round + 1) * 64);
  }
  poplard_pool_free(pool);
  for (int i = 0; i < 64; i++)
    g_assert_cmpint(w.counts[i], ==, 20);
  g_mutex_clear(&w.lock);
  g_cond_clear(&w.changed);
}

/* One thread is busy in a call that will not return until the others
 * ran: with room for a second thread they must not wait for it. */
static void test_blocked_call_holds_nobody(void)
{
  World w = {0};
  g_mutex_init(&w.lock);
  g_cond_init(&w.changed);
  PoplarPool *pool = poplard_pool_new(run, &w, 2);
  Item blocker = {&w, -1};
  Item plain[3] = {{&w, 0}, {&w, 1}, {&w, 2}};
  g_assert_true(poplard_pool_push(pool, &blocker));
  g_mutex_lock(&w.lock);
  while (!w.blocker_in)
    g_cond_wait(&w.changed, &w.lock);
  g_mutex_unlock(&w.lock);
  for (int i = 0; i < 3; i++)
    g_assert_true(poplard_pool_push(pool, &plain[i]));
  wait_ran(&w, 3); /* would never come if they queued behind the blocker */
  g_mutex_lock(&w.lock);
  w.release = true;
  g_cond_broadcast(&w.changed);
  g_mutex_unlock(&w.lock);
  poplard_pool_free(pool);
  g_assert_cmpuint(w.ran, ==, 4);
  g_mutex_clear(&w.lock);
  g_cond_clear(&w.changed);
}

/* Items pushed back to back, while the thread of the first is still on
 * its way to it, each get a thread of their own when the first blocks. */
static void test_back_to_back_pushes(void)
{
  World w = {0};
  g_mutex_init(&w.lock);
  g_cond_init(&w.changed);
  PoplarPool *pool = poplard_pool_new(run, &w, 2);
  /* Warm: one thread started and waiting again. */
  Item first = {&w, 5};
  g_assert_true(poplard_pool_push(pool, &first));
  wait_ran(&w, 1);
  Item blocker = {&w, -1};
  Item plain = {&w, 6};
  g_assert_true(poplard_pool_push(pool, &blocker));
  g_assert_true(poplard_pool_push(pool, &plain));
  wait_ran(&w, 2); /* the plain one, whichever thread took the blocker */
  g_mutex_lock(&w.lock);
  g_assert_cmpint(w.counts[6], ==, 1);
  w.release = true;
  g_cond_broadcast(&w.changed);
  g_mutex_unlock(&w.lock);
  poplard_pool_free(pool);
  g_assert_cmpuint(w.ran, ==, 3);
  g_mutex_clear(&w.lock);
  g_cond_clear(&w.changed);
}

/* Freeing runs what is still queued behind a busy single thread. */
static void test_free_runs_queued(void)
{
  World w = {0};
  g_mutex_init(&w.lock);
  g_cond_init(&w.changed);
  w.release = true;
  PoplarPool *pool = poplard_pool_new(run, &w, 1);
  Item items[16];
  for (int i = 0; i < 16; i++) {
    items[i] = (Item){&w, i};
    g_assert_true(poplard_pool_push(pool, &items[i]));
  }
  poplard_pool_free(pool);
  g_assert_cmpuint(w.ran, ==, 16);
  g_mutex_clear(&w.lock);
  g_cond_clear(&w.changed);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/plugin-pool/each-once", test_each_once);
  g_test_add_func("/plugin-pool/blocked-call-holds-nobody",
                  test_blocked_call_holds_nobody);
  g_test_add_func("/plugin-pool/back-to-back-pushes",
                  test_back_to_back_pushes);
  g_test_add_func("/plugin-pool/free-runs-queued", test_free_runs_queued);
  return g_test_run();
}
