/* SPDX-License-Identifier: MIT */
/*
 * The passwd-file on disk.  Logins read an immutable, reference-counted
 * table; when the file changes, one login thread builds a new table aside
 * and swaps the pointer, so no login ever waits for a reload that another
 * thread is doing, and a table stays valid for as long as a login holds it.
 * A file that cannot be loaded never replaces a good table.
 */
#include "passwd-file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A passwd-file is a few hundred octets per user; anything bigger is not
 * one (a device, a log given by mistake). */
#define PW_FILE_MAX ((off_t)256 * 1024 * 1024)

static PwStamp stamp_from_stat(const struct stat *st)
{
  PwStamp s = {0};
  s.dev = st->st_dev;
  s.ino = st->st_ino;
  s.size = st->st_size;
  s.mtime_sec = (long long)st->st_mtim.tv_sec;
  s.mtime_nsec = (long long)st->st_mtim.tv_nsec;
  s.ctime_sec = (long long)st->st_ctim.tv_sec;
  s.ctime_nsec = (long long)st->st_ctim.tv_nsec;
  return s;
}

static PwStamp stamp_of_path(const char *path)
{
  struct stat st;
  if (stat(path, &st) != 0)
    return (PwStamp){.error = errno ? errno : EIO};
  return stamp_from_stat(&st);
}

static bool stamp_equal(const PwStamp *a, const PwStamp *b)
{
  return a->error == b->error && a->dev == b->dev && a->ino == b->ino &&
         a->size == b->size && a->mtime_sec == b->mtime_sec &&
         a->mtime_nsec == b->mtime_nsec && a->ctime_sec == b->ctime_sec &&
         a->ctime_nsec == b->ctime_nsec;
}

/* Reads the whole file into *@text (NUL-terminated; wipe before freeing:
 * it may hold {PLAIN} passwords).  The stamp comes from the descriptor
 * read, so it describes exactly the bytes returned. */
static bool read_file(const char *path, char **text, size_t *len,
                      PwStamp *stamp, mode_t *mode, char **error)
{
  /* O_NONBLOCK: opening a FIFO named by mistake must not hang a login. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    int e = errno;
    *error = g_strdup_printf("cannot open: %s%s", g_strerror(e),
                             e == EACCES ? " (the server reads it after "
                                           "dropping privileges: make it "
                                           "readable by the server's user)"
                                         : "");
    return false;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    *error = g_strdup_printf("cannot stat: %s", g_strerror(errno));
    close(fd);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    *error = g_strdup("is not a regular file");
    close(fd);
    return false;
  }
  if (st.st_size > PW_FILE_MAX) {
    *error = g_strdup_printf("is %lld octets, more than the %lld a "
                             "passwd-file may have",
                             (long long)st.st_size, (long long)PW_FILE_MAX);
    close(fd);
    return false;
  }
  /* Read to EOF rather than st_size octets: a file being appended to is
   * then read consistently up to where it ends now. */
  size_t cap = (size_t)st.st_size + 1;
  char *buf = g_malloc(cap + 1);
  size_t used = 0;
  for (;;) {
    if (used == cap) {
      if ((off_t)cap > PW_FILE_MAX) {
        *error = g_strdup("grew past the size a passwd-file may have while "
                          "being read");
        goto fail;
      }
      cap *= 2;
      buf = g_realloc(buf, cap + 1);
    }
    ssize_t n = read(fd, buf + used, cap - used);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      *error = g_strdup_printf("cannot read: %s", g_strerror(errno));
      goto fail;
    }
    if (n == 0)
      break;
    used += (size_t)n;
  }
  close(fd);
  buf[used] = '\0';
  *text = buf;
  *len = used;
  *stamp = stamp_from_stat(&st);
  *mode = st.st_mode;
  return true;

fail:
  explicit_bzero(buf, used);
  g_free(buf);
  close(fd);
  return false;
}

static void wipe_free(char *text, size_t len)
{
  if (text) {
    explicit_bzero(text, len);
    g_free(text);
  }
}

/* Reads and parses the file.  Each problem is appended to @problems as a
 * sentence naming the file (and the line). */
static PwTable *db_load(PwDb *db, PwStamp *stamp, mode_t *mode,
                        GPtrArray *problems)
{
  char *text = NULL;
  size_t len = 0;
  char *error = NULL;
  if (!read_file(db->path, &text, &len, stamp, mode, &error)) {
    g_ptr_array_add(problems, g_strdup_printf("%s: %s", db->path, error));
    g_free(error);
    return NULL;
  }
  if (*mode & S_IWOTH) {
    /* Anyone could add an account with a password of their choosing. */
    g_ptr_array_add(problems,
                    g_strdup_printf("%s: is writable by every local user, "
                                    "who could add accounts: run chmod o-w "
                                    "on it",
                                    db->path));
    wipe_free(text, len);
    return NULL;
  }
  GPtrArray *errors = NULL;
  PwTable *t = pw_table_parse(text, len, db->lowercase, &errors);
  wipe_free(text, len);
  for (guint i = 0; i < errors->len; i++) {
    const PwLineError *le = g_ptr_array_index(errors, i);
    if (le->line)
      g_ptr_array_add(problems, g_strdup_printf("%s:%u: %s", db->path,
                                                le->line, le->message));
    else
      g_ptr_array_add(problems,
                      g_strdup_printf("%s: %s", db->path, le->message));
  }
  g_ptr_array_unref(errors);
  if (!t)
    return NULL;
  if (!pw_table_prepare_dummy(t, &error)) {
    g_ptr_array_add(problems, g_strdup_printf("%s: %s", db->path, error));
    g_free(error);
    pw_table_unref(t);
    return NULL;
  }
  return t;
}

static void warn_if_world_readable(PwDb *db, mode_t mode)
{
  if (mode & S_IROTH)
    poplar_log(db->plugin, POPLAR_LOG_WARNING,
               "%s is readable by every local user, and it holds password "
               "hashes: run chmod o-r on it",
               db->path);
}

PwDb *pw_db_new(PoplarPlugin *plugin, const char *path, bool lowercase,
                gint64 check_interval_us)
{
  PwDb *db = g_new0(PwDb, 1);
  db->plugin = plugin;
  db->path = g_strdup(path);
  db->lowercase = lowercase;
  db->check_interval_us = check_interval_us;
  pthread_mutex_init(&db->table_lock, NULL);
  pthread_mutex_init(&db->reload_lock, NULL);
  return db;
}

void pw_db_free(PwDb *db)
{
  if (!db)
    return;
  pw_table_unref(db->table);
  pthread_mutex_destroy(&db->table_lock);
  pthread_mutex_destroy(&db->reload_lock);
  g_free(db->path);
  g_free(db);
}

bool pw_db_load_initial(PwDb *db, GPtrArray *problems)
{
  PwStamp stamp;
  mode_t mode = 0;
  PwTable *t = db_load(db, &stamp, &mode, problems);
  if (!t)
    return false;
  pthread_mutex_lock(&db->table_lock);
  PwTable *old = db->table;
  db->table = t;
  pthread_mutex_unlock(&db->table_lock);
  pw_table_unref(old);
  pthread_mutex_lock(&db->reload_lock);
  db->loaded = stamp;
  db->has_failed = false;
  db->last_check = g_get_monotonic_time();
  pthread_mutex_unlock(&db->reload_lock);
  warn_if_world_readable(db, mode);
  poplar_log(db->plugin, POPLAR_LOG_INFO, "%u users from %s",
             pw_table_size(t), db->path);
  return true;
}

/* Called with reload_lock held. */
static void db_reload_locked(PwDb *db)
{
  PwStamp now = stamp_of_path(db->path);
  if (stamp_equal(&now, &db->loaded)) {
    db->has_failed = false;
    return;
  }
  /* A version already found bad is not read (nor logged) again until it
   * changes. */
  if (db->has_failed && stamp_equal(&now, &db->failed))
    return;

  PwTable *current = pw_db_snapshot(db);
  unsigned n_current = current ? pw_table_size(current) : 0;
  pw_table_unref(current);

  g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
  PwStamp stamp;
  mode_t mode = 0;
  PwTable *t;
  if (now.error) {
    g_ptr_array_add(problems, g_strdup_printf("%s: %s", db->path,
                                              g_strerror(now.error)));
    t = NULL;
  } else {
    t = db_load(db, &stamp, &mode, problems);
  }
  if (!t) {
    for (guint i = 0; i < problems->len; i++)
      poplar_log(db->plugin, POPLAR_LOG_ERROR, "%s",
                 (const char *)g_ptr_array_index(problems, i));
    poplar_log(db->plugin, POPLAR_LOG_ERROR,
               "%s changed but cannot be loaded: still using the %u users "
               "read before",
               db->path, n_current);
    db->failed = now;
    db->has_failed = true;
    return;
  }
  pthread_mutex_lock(&db->table_lock);
  PwTable *old = db->table;
  db->table = t;
  pthread_mutex_unlock(&db->table_lock);
  pw_table_unref(old);
  db->loaded = stamp;
  db->has_failed = false;
  warn_if_world_readable(db, mode);
  poplar_log(db->plugin, POPLAR_LOG_INFO, "reloaded %s: %u users", db->path,
             pw_table_size(t));
}

void pw_db_maybe_reload(PwDb *db)
{
  /* Whoever holds the lock is already looking at the file; the others go
   * on with the table they have rather than queue behind a reload. */
  if (pthread_mutex_trylock(&db->reload_lock) != 0)
    return;
  gint64 now = g_get_monotonic_time();
  if (now - db->last_check >= db->check_interval_us) {
    db->last_check = now;
    db_reload_locked(db);
  }
  pthread_mutex_unlock(&db->reload_lock);
}

PwTable *pw_db_snapshot(PwDb *db)
{
  pthread_mutex_lock(&db->table_lock);
  PwTable *t = db->table ? pw_table_ref(db->table) : NULL;
  pthread_mutex_unlock(&db->table_lock);
  return t;
}
