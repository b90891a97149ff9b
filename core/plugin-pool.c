/* SPDX-License-Identifier: MIT */
/* The plugin pool (plugin-pool.h).
 *
 * Every login and QUIT passes through here, so a hand-over costs as few
 * system calls as it can: one futex wake by the loop, one wait returning
 * in the thread.  A semaphore counts the queued items (sem_post() makes no
 * call when no thread sleeps on it, sem_wait() none while it is above
 * zero), and the queue's mutex is only held to link or unlink an item.
 * A condition variable would cost a third call per hand-over: glibc takes
 * the mutex back after a wait as if contended, so its unlock always
 * wakes (and GLib's pool also signals with its queue locked). */
#include "plugin-pool.h"

#include <errno.h>
#include <glib.h>
#include <pthread.h>
#include <semaphore.h>

struct PoplarPool {
  pthread_mutex_t lock; /* items, threads, handles, stopping */
  sem_t queued;         /* items queued, plus one per thread at stop */
  GQueue items;
  unsigned threads, max_threads;
  /* Threads that wait, or are about to, on @queued, and posts to it not
   * taken yet: a new item needs a new thread only when every waiting
   * thread is spoken for already, or a slow call would hold up the next
   * one queued behind it while threads could still be started. */
  unsigned waiting, posted;
  bool stopping;
  GArray *handles; /* pthread_t of every thread started */
  PoplarPoolFunc func;
  void *user_data;
};

static void *pool_thread(void *data)
{
  PoplarPool *pool = data;
  for (;;) {
    pthread_mutex_lock(&pool->lock);
    pool->waiting++;
    pthread_mutex_unlock(&pool->lock);
    while (sem_wait(&pool->queued) != 0 && errno == EINTR)
      ;
    pthread_mutex_lock(&pool->lock);
    pool->waiting--;
    pool->posted--;
    void *item = g_queue_pop_head(&pool->items);
    bool stop = !item && pool->stopping;
    pthread_mutex_unlock(&pool->lock);
    if (stop)
      break;
    if (item)
      pool->func(item, pool->user_data);
  }
  return NULL;
}

PoplarPool *poplard_pool_new(PoplarPoolFunc func, void *user_data,
                             unsigned max_threads)
{
  PoplarPool *pool = g_new0(PoplarPool, 1);
  pthread_mutex_init(&pool->lock, NULL);
  sem_init(&pool->queued, 0, 0);
  g_queue_init(&pool->items);
  pool->max_threads = max_threads > 0 ? max_threads : 1;
  pool->handles = g_array_new(FALSE, FALSE, sizeof(pthread_t));
  pool->func = func;
  pool->user_data = user_data;
  return pool;
}

bool poplard_pool_push(PoplarPool *pool, void *item)
{
  pthread_mutex_lock(&pool->lock);
  g_queue_push_tail(&pool->items, item);
  /* An idle thread takes it; without one, a busy thread will once it is
   * done, but a new thread starts while there is room for one. */
  if (pool->waiting <= pool->posted && pool->threads < pool->max_threads) {
    pthread_t t;
    int err = pthread_create(&t, NULL, pool_thread, pool);
    if (err == 0) {
      pool->threads++;
      g_array_append_val(pool->handles, t);
    } else if (pool->threads == 0) {
      /* Nobody would ever run it. */
      g_queue_pop_tail(&pool->items);
      pthread_mutex_unlock(&pool->lock);
      errno = err;
      return false;
    }
  }
  pool->posted++;
  pthread_mutex_unlock(&pool->lock);
  sem_post(&pool->queued);
  return true;
}

void poplard_pool_free(PoplarPool *pool)
{
  if (!pool)
    return;
  pthread_mutex_lock(&pool->lock);
  pool->stopping = true;
  unsigned threads = pool->threads;
  pool->posted += threads;
  pthread_mutex_unlock(&pool->lock);
  /* Each thread runs what is queued, then takes one of these to stop. */
  for (unsigned i = 0; i < threads; i++)
    sem_post(&pool->queued);
  for (guint i = 0; i < pool->handles->len; i++)
    pthread_join(g_array_index(pool->handles, pthread_t, i), NULL);
  g_array_unref(pool->handles);
  g_queue_clear(&pool->items);
  sem_destroy(&pool->queued);
  pthread_mutex_destroy(&pool->lock);
  g_free(pool);
}
