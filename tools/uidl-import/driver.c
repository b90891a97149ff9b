/* SPDX-License-Identifier: MIT */
/*
 * Many users at a time, but never more than --parallel sessions with the
 * old server: it is usually still in production during a migration, and
 * its connection limits are the site's to keep.  Each summary is printed
 * as its user finishes, one line at a time (so lines of different users
 * never interleave).
 */
#include "uidl-import.h"

#include <stdio.h>

typedef struct {
  DriverJob job;
  gpointer data;
  GMutex lock;
  unsigned running;
  unsigned peak;
} Driver;

static void run_one(gpointer item, gpointer user_data)
{
  Driver *d = user_data;
  g_mutex_lock(&d->lock);
  d->running++;
  d->peak = MAX(d->peak, d->running);
  g_mutex_unlock(&d->lock);
  d->job(item, d->data);
  g_mutex_lock(&d->lock);
  d->running--;
  g_mutex_unlock(&d->lock);
}

void driver_run(GPtrArray *items, unsigned parallel, DriverJob job,
                gpointer data, unsigned *peak)
{
  Driver d = {.job = job, .data = data};
  g_mutex_init(&d.lock);
  /* Exclusive threads: exactly @parallel of them, none shared with
   * anything else in the process. */
  GThreadPool *pool = g_thread_pool_new(run_one, &d, (gint)MAX(parallel, 1u),
                                        TRUE, NULL);
  for (guint i = 0; i < items->len; i++)
    g_thread_pool_push(pool, g_ptr_array_index(items, i), NULL);
  /* Waits for every queued item. */
  g_thread_pool_free(pool, FALSE, TRUE);
  g_mutex_clear(&d.lock);
  if (peak)
    *peak = d.peak;
}

typedef struct {
  const ImportOptions *options;
  GMutex lock;
  unsigned failed;
} ImportRun;

static void import_job(gpointer item, gpointer data)
{
  const UserEntry *entry = item;
  ImportRun *run = data;
  ImportResult result;
  import_user(run->options, entry, &result);
  g_autofree char *summary =
      import_result_summary(entry->user, &result, run->options->dry_run);
  g_mutex_lock(&run->lock);
  if (result.failed)
    run->failed++;
  printf("%s\n", summary);
  if (run->options->verbose) {
    for (guint i = 0; i < result.details->len; i++)
      printf("user %s: %s\n", entry->user,
             (const char *)g_ptr_array_index(result.details, i));
  }
  fflush(stdout);
  g_mutex_unlock(&run->lock);
  import_result_clear(&result);
}

unsigned driver_import_all(const ImportOptions *options, GPtrArray *users,
                           unsigned parallel, unsigned *peak)
{
  ImportRun run = {.options = options};
  g_mutex_init(&run.lock);
  driver_run(users, parallel, import_job, &run, peak);
  g_mutex_clear(&run.lock);
  return run.failed;
}
