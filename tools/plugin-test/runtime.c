/* SPDX-License-Identifier: MIT */
/*
 * What the kit provides in place of poplard's event loop: sessions, the
 * log, and running work on a plugin thread pool.
 */
#include "kit.h"

#include <stdio.h>
#include <string.h>

/* ---- the log ------------------------------------------------------------ */

typedef struct LoggedLine {
  PoplarLogLevel level;
  char *text;
} LoggedLine;

static GMutex log_lock;
static GHashTable *log_by_session; /* session id -> GPtrArray of LoggedLine */
static unsigned log_total;
static bool log_verbose;

static void logged_line_free(gpointer p)
{
  LoggedLine *line = p;
  g_free(line->text);
  g_free(line);
}

static void kit_log_handler(PoplarLogLevel level, const char *session_id,
                            const char *plugin, const char *message)
{
  const char *key = session_id ? session_id : "";
  LoggedLine *line = g_new(LoggedLine, 1);
  line->level = level;
  line->text = plugin ? g_strdup_printf("%s: %s", plugin, message)
                      : g_strdup(message);
  g_mutex_lock(&log_lock);
  log_total++;
  if (log_verbose)
    fprintf(stderr, "log [%s] %s\n", key, line->text);
  GPtrArray *lines = g_hash_table_lookup(log_by_session, key);
  if (!lines) {
    lines = g_ptr_array_new_with_free_func(logged_line_free);
    g_hash_table_insert(log_by_session, g_strdup(key), lines);
  }
  g_ptr_array_add(lines, line);
  g_mutex_unlock(&log_lock);
}

void kit_log_init(bool verbose)
{
  log_verbose = verbose;
  log_by_session = g_hash_table_new_full(
      g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
  poplarpriv_set_log_handler(kit_log_handler);
  poplarpriv_set_log_level(POPLAR_LOG_DEBUG);
}

char *kit_log_take(const char *session_id, PoplarLogLevel level)
{
  GString *out = g_string_new(NULL);
  g_mutex_lock(&log_lock);
  GPtrArray *lines = g_hash_table_lookup(log_by_session, session_id);
  for (guint i = 0; lines && i < lines->len; i++) {
    const LoggedLine *line = g_ptr_array_index(lines, i);
    /* Lower values are more severe (POPLAR_LOG_ERROR first). */
    if (line->level > level)
      continue;
    if (out->len)
      g_string_append(out, "; ");
    g_string_append(out, line->text);
  }
  if (lines)
    g_hash_table_remove(log_by_session, session_id);
  g_mutex_unlock(&log_lock);
  return g_string_free(out, FALSE);
}

unsigned kit_log_count(void)
{
  g_mutex_lock(&log_lock);
  unsigned n = log_total;
  g_mutex_unlock(&log_lock);
  return n;
}

void kit_log_shutdown(void)
{
  poplarpriv_set_log_handler(NULL);
  g_clear_pointer(&log_by_session, g_hash_table_unref);
}

/* ---- sessions -------------------------------------------------------------- */

PoplarSession *kit_session_new(const char *user)
{
  static gint counter;
  PoplarSession *s = g_new0(PoplarSession, 1);
  g_snprintf(s->id, sizeof s->id, "kit-%d", g_atomic_int_add(&counter, 1));
  g_strlcpy(s->remote_address, "127.0.0.1", sizeof s->remote_address);
  g_strlcpy(s->local_address, "127.0.0.1", sizeof s->local_address);
  s->remote_port = 40000;
  s->local_port = 110;
  s->start_time = g_get_real_time();
  if (user)
    poplarpriv_session_set_user(s, user);
  return s;
}

void kit_session_free(PoplarSession *s)
{
  if (!s)
    return;
  poplarpriv_session_clear(s);
  g_free(s);
}

/* ---- the pool -------------------------------------------------------------- */

typedef struct ParallelRun {
  KitParallelFunc func;
  void *data;
  GMutex lock;
  GCond cond;
  unsigned waiting; /* jobs not yet at the start line */
} ParallelRun;

/* Every job waits until all have started, so that they really overlap
 * instead of running one after another on a busy machine. */
static void parallel_job(gpointer job, gpointer user_data)
{
  ParallelRun *run = user_data;
  unsigned index = GPOINTER_TO_UINT(job) - 1;
  g_mutex_lock(&run->lock);
  if (--run->waiting == 0)
    g_cond_broadcast(&run->cond);
  while (run->waiting > 0)
    g_cond_wait(&run->cond, &run->lock);
  g_mutex_unlock(&run->lock);

  run->func(index, run->data);
}

bool kit_run_parallel(unsigned n, KitParallelFunc func, void *data,
                      GError **error)
{
  ParallelRun run = {.func = func, .data = data, .waiting = n};
  g_mutex_init(&run.lock);
  g_cond_init(&run.cond);
  /* Exclusive threads, as poplard's plugin pool (core/server.c). */
  GThreadPool *pool =
      g_thread_pool_new(parallel_job, &run, (gint)n, TRUE, error);
  if (!pool) {
    g_mutex_clear(&run.lock);
    g_cond_clear(&run.cond);
    return false;
  }
  for (unsigned i = 0; i < n; i++)
    g_thread_pool_push(pool, GUINT_TO_POINTER(i + 1), NULL);
  /* Waits for every job to finish. */
  g_thread_pool_free(pool, FALSE, TRUE);
  g_mutex_clear(&run.lock);
  g_cond_clear(&run.cond);
  return true;
}
