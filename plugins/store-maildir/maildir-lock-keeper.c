/* SPDX-License-Identifier: MIT */
/*
 * Keeps the mailbox locks of this process fresh.
 *
 * A lock is judged stale once its mtime is older than lock-timeout (see
 * maildir-lock.c), but a POP3 session may hold its mailbox for hours: a
 * client that sends NOOP now and then, or a long RETR to a slow client,
 * makes no store call for minutes.  So one thread per store refreshes every
 * held lock each lock-timeout / 4, whatever the sessions are doing, and
 * stops refreshing a lock the moment its session closes (or the process
 * dies, which is what lets other nodes recover the mailbox).
 *
 * The thread starts with the first lock taken in a process, not at init:
 * the server may fork its workers after loading plugins, and threads do not
 * survive a fork.  If the process id changes (a fork after locks were
 * taken), the parent's locks are forgotten and a new thread starts.
 *
 * All state is behind one mutex; the refresh itself runs under it too, so
 * that once maildir_lock_keeper_remove() returns the thread never touches
 * the lock again (its session is about to free it).  The mutex and condition
 * are POSIX ones rather than GLib's, whose futex implementation
 * ThreadSanitizer cannot see.
 */
#include "maildir.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

struct MaildirLockKeeper {
  PoplarPlugin *plugin;
  uint64_t interval_ms;
  pthread_mutex_t mutex;
  pthread_cond_t cond; /* on CLOCK_MONOTONIC */
  GHashTable *locks;   /* MaildirLock* -> KeptLock* */
  bool has_thread;
  pthread_t thread;
  pid_t thread_pid;
  bool stopping;
};

typedef struct KeptLock {
  char *path; /* for log lines */
  bool lost;  /* said once */
} KeptLock;

static void kept_lock_free(gpointer p)
{
  KeptLock *k = p;
  g_free(k->path);
  g_free(k);
}

static void refresh_all(MaildirLockKeeper *keeper)
{
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init(&it, keeper->locks);
  while (g_hash_table_iter_next(&it, &key, &value)) {
    KeptLock *k = value;
    g_autoptr(GError) error = NULL;
    if (k->lost || maildir_lock_refresh(key, &error))
      continue;
    k->lost = true;
    poplar_log(keeper->plugin, POPLAR_LOG_ERROR,
               "mailbox lock of %s lost: %s; another session may serve this "
               "mailbox now", k->path, error->message);
  }
}

static struct timespec deadline_after(uint64_t ms)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += (time_t)(ms / 1000);
  ts.tv_nsec += (long)(ms % 1000) * 1000000;
  if (ts.tv_nsec >= 1000000000) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000;
  }
  return ts;
}

static void *keeper_run(void *data)
{
  MaildirLockKeeper *keeper = data;
  pthread_mutex_lock(&keeper->mutex);
  while (!keeper->stopping) {
    struct timespec deadline = deadline_after(keeper->interval_ms);
    while (!keeper->stopping &&
           pthread_cond_timedwait(&keeper->cond, &keeper->mutex,
                                  &deadline) != ETIMEDOUT)
      ; /* woken early (or spuriously): wait out the interval */
    if (!keeper->stopping)
      refresh_all(keeper);
  }
  pthread_mutex_unlock(&keeper->mutex);
  return NULL;
}

MaildirLockKeeper *maildir_lock_keeper_new(PoplarPlugin *plugin,
                                           uint64_t interval_ms)
{
  MaildirLockKeeper *keeper = g_new0(MaildirLockKeeper, 1);
  keeper->plugin = plugin;
  keeper->interval_ms = interval_ms ? interval_ms : 1;
  pthread_mutex_init(&keeper->mutex, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&keeper->cond, &attr);
  pthread_condattr_destroy(&attr);
  keeper->locks = g_hash_table_new_full(NULL, NULL, NULL, kept_lock_free);
  return keeper;
}

/* With the mutex held. */
static void ensure_thread(MaildirLockKeeper *keeper)
{
  pid_t pid = maildir_self_pid();
  if (keeper->has_thread && keeper->thread_pid == pid)
    return;
  if (keeper->has_thread) {
    /* Forked: that thread and those locks were the parent's.  The thread
     * does not exist here, so it is not joined. */
    keeper->has_thread = false;
    g_hash_table_remove_all(keeper->locks);
  }
  int err = pthread_create(&keeper->thread, NULL, keeper_run, keeper);
  if (err != 0) {
    poplar_log(keeper->plugin, POPLAR_LOG_ERROR,
               "cannot start the thread that refreshes mailbox locks (%s): "
               "sessions longer than lock-timeout may lose their lock",
               g_strerror(err));
    return;
  }
  keeper->has_thread = true;
  keeper->thread_pid = pid;
}

void maildir_lock_keeper_add(MaildirLockKeeper *keeper, MaildirLock *lock,
                             const char *path)
{
  KeptLock *k = g_new0(KeptLock, 1);
  k->path = g_strdup(path);
  pthread_mutex_lock(&keeper->mutex);
  ensure_thread(keeper);
  g_hash_table_insert(keeper->locks, lock, k);
  pthread_mutex_unlock(&keeper->mutex);
}

void maildir_lock_keeper_remove(MaildirLockKeeper *keeper, MaildirLock *lock)
{
  pthread_mutex_lock(&keeper->mutex);
  g_hash_table_remove(keeper->locks, lock);
  pthread_mutex_unlock(&keeper->mutex);
}

void maildir_lock_keeper_free(MaildirLockKeeper *keeper)
{
  if (!keeper)
    return;
  pthread_mutex_lock(&keeper->mutex);
  keeper->stopping = true;
  pthread_cond_broadcast(&keeper->cond);
  bool join = keeper->has_thread && keeper->thread_pid == maildir_self_pid();
  pthread_mutex_unlock(&keeper->mutex);
  if (join)
    pthread_join(keeper->thread, NULL);
  g_hash_table_unref(keeper->locks);
  pthread_cond_destroy(&keeper->cond);
  pthread_mutex_destroy(&keeper->mutex);
  g_free(keeper);
}
