/* SPDX-License-Identifier: MIT */
/*
 * Database connections of one worker process.  A connection serves one
 * login at a time (no client library lets two threads share a connection
 * in the middle of a query), so the pool lends them out and takes them
 * back; with the core's plugin threads coming and going, a pool rather
 * than a thread-local connection keeps connections open across threads.
 * Each connection prepares the queries once, when it is made.
 *
 * A slow query holds its own connection only: other logins take another
 * one, or make one, up to max-connections.
 *
 * When a connect fails, no new connection is tried before a wait that
 * doubles with each failure in a row (SQL_BACKOFF_FIRST_US up to
 * SQL_BACKOFF_MAX_US), so a database that is down is not hammered by
 * every login; logins in the meantime fail at once with TEMPFAIL.  The
 * first connect that works again ends the outage: nothing needs a
 * restart.
 */
#include "auth-sql.h"

#include <string.h>
#include <time.h>

void sql_pool_init(SqlPool *pool, const SqlDriver *driver,
                   const SqlSettings *s, PoplarPlugin *plugin)
{
  memset(pool, 0, sizeof *pool);
  pool->driver = driver;
  pool->settings = s;
  pool->plugin = plugin;
  pthread_mutex_init(&pool->lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&pool->freed, &attr);
  pthread_condattr_destroy(&attr);
  pool->idle = g_ptr_array_new();
  pool->clock = g_get_monotonic_time;
}

static void conn_close(SqlPool *pool, SqlConn *c)
{
  if (c) {
    pool->driver->close(c->handle);
    g_free(c);
  }
}

void sql_pool_clear(SqlPool *pool)
{
  if (!pool->idle)
    return;
  for (guint i = 0; i < pool->idle->len; i++)
    conn_close(pool, g_ptr_array_index(pool->idle, i));
  g_ptr_array_unref(pool->idle);
  pool->idle = NULL;
  pthread_cond_destroy(&pool->freed);
  pthread_mutex_destroy(&pool->lock);
}

static struct timespec deadline_after(uint64_t ms)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  t.tv_sec += (time_t)(ms / 1000);
  t.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (t.tv_nsec >= 1000000000L) {
    t.tv_sec++;
    t.tv_nsec -= 1000000000L;
  }
  return t;
}

/* What happened when the pool was asked for a connection. */
typedef enum Lend {
  LEND_IDLE,    /* an idle connection */
  LEND_MAKE,    /* a slot for a new one */
  LEND_BACKOFF, /* the database is down and the wait is not over */
  LEND_BUSY,    /* every connection stayed lent out for the timeout */
} Lend;

SqlConn *sql_pool_take(SqlPool *pool, SqlFailure *failure, char **error)
{
  *failure = SQL_FAIL_NONE;
  *error = NULL;
  const SqlSettings *s = pool->settings;
  struct timespec deadline = deadline_after(s->timeout_ms);

  GPtrArray *stale = g_ptr_array_new();
  SqlConn *conn = NULL;
  unsigned generation = 0;
  gint64 backoff_left = 0;
  Lend lend = LEND_BUSY;
  pthread_mutex_lock(&pool->lock);
  for (;;) {
    while (pool->idle->len > 0 && !conn) {
      SqlConn *c = g_ptr_array_steal_index(pool->idle, pool->idle->len - 1);
      if (c->generation == pool->generation) {
        conn = c;
        conn->reused = true;
      } else {
        g_ptr_array_add(stale, c);
        pool->total--;
      }
    }
    if (conn) {
      lend = LEND_IDLE;
      break;
    }
    if (pool->total < s->max_connections) {
      gint64 now = pool->clock();
      if (pool->down && now < pool->retry_at) {
        backoff_left = pool->retry_at - now;
        lend = LEND_BACKOFF;
        break;
      }
      if (pool->down) {
        /* This login probes; the others wait for its answer no longer
         * than a connect takes, by failing fast until it is known. */
        pool->retry_at = now + (gint64)s->timeout_ms * 1000;
      }
      pool->total++;
      pool->made++;
      generation = pool->generation;
      lend = LEND_MAKE;
      break;
    }
    if (pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline) != 0)
      break;
  }
  pthread_mutex_unlock(&pool->lock);
  for (guint i = 0; i < stale->len; i++)
    conn_close(pool, g_ptr_array_index(stale, i));
  g_ptr_array_unref(stale);

  switch (lend) {
  case LEND_IDLE:
    return conn;
  case LEND_BACKOFF:
    *failure = SQL_FAIL_DOWN;
    *error = g_strdup_printf("the database is unreachable (next connect "
                             "attempt in %" G_GINT64_FORMAT " ms)",
                             (backoff_left + 999) / 1000);
    return NULL;
  case LEND_BUSY:
    *failure = SQL_FAIL_TEMP;
    *error = g_strdup_printf("all %u connections stayed busy for the "
                             "whole timeout", s->max_connections);
    return NULL;
  case LEND_MAKE:
    break;
  }

  void *handle = pool->driver->open(s, failure, error);
  pthread_mutex_lock(&pool->lock);
  bool recovered = false;
  if (handle) {
    recovered = pool->down;
    pool->down = false;
    pool->backoff_us = 0;
  } else {
    pool->total--;
    if (*failure == SQL_FAIL_DOWN) {
      pool->backoff_us = pool->backoff_us
                             ? MIN(pool->backoff_us * 2, SQL_BACKOFF_MAX_US)
                             : SQL_BACKOFF_FIRST_US;
      pool->retry_at = pool->clock() + pool->backoff_us;
      pool->down = true;
    }
    pthread_cond_signal(&pool->freed);
  }
  pthread_mutex_unlock(&pool->lock);
  if (recovered)
    poplar_log(pool->plugin, POPLAR_LOG_INFO,
               "the database is reachable again");
  if (!handle)
    return NULL;
  conn = g_new0(SqlConn, 1);
  conn->handle = handle;
  conn->generation = generation;
  return conn;
}

void sql_pool_give_back(SqlPool *pool, SqlConn *conn, bool healthy)
{
  pthread_mutex_lock(&pool->lock);
  if (healthy && conn->generation == pool->generation) {
    g_ptr_array_add(pool->idle, conn);
    conn = NULL;
  } else {
    pool->total--;
  }
  pthread_cond_signal(&pool->freed);
  pthread_mutex_unlock(&pool->lock);
  conn_close(pool, conn);
}

void sql_pool_invalidate(SqlPool *pool)
{
  pthread_mutex_lock(&pool->lock);
  pool->generation++;
  pthread_mutex_unlock(&pool->lock);
}
