/* SPDX-License-Identifier: MIT */
/*
 * passdb-textfile - a password database in a small text file.
 *
 * A complete Poplar password database, written to be copied.  The file
 * holds one user per line:
 *
 *   # comment
 *   alice  {PLAIN}correct horse
 *   bob    secret
 *
 * The user name ends at the first blank; the password is the rest of the
 * line after the blanks that follow (so it may contain blanks, and ends
 * only at the line end).  "{PLAIN}" is optional; any other {SCHEME} is
 * refused with the line number, so a hashed entry copied from elsewhere is
 * never taken for a plaintext password.
 *
 * ONLY FOR DEMONSTRATION AND TESTS.  The file holds plaintext passwords:
 * anyone who can read it can log in as every user in it.  Real deployments
 * store hashes (auth-passwd-file: {SHA512-CRYPT}, {BCRYPT}, {YESCRYPT}
 * through crypt(3)).  Plaintext has one use, shown here: it lets the
 * database supply the secret for APOP, which needs the shared secret on
 * both sides.
 *
 * Configuration (section [passdb-textfile]):
 *   file = /etc/poplar/users.txt      required
 *
 * The file is read at start-up (a bad line stops the server with the line
 * number) and read again when it changes; a bad line then keeps the
 * previous contents and logs a warning, so an edit in progress never locks
 * everybody out.
 *
 * Threading: lookups for different sessions run at the same time, and one
 * of them may re-read the file, so the table is guarded by a mutex.
 *
 * Plain C11 + POSIX threads; build with the Makefile next to this file.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <poplar/plugin.h>

struct user_entry {
  char *user;
  char *password;
};

struct user_table {
  struct user_entry *entries;
  size_t count;
};

struct textfile_db {
  PoplarPlugin *plugin;
  char *path;
  pthread_mutex_t lock; /* guards everything below */
  struct user_table table;
  struct stat seen; /* the file as last read (or tried) */
  bool seen_missing; /* the file was missing at the last check */
};

/* ---- small helpers ---------------------------------------------------- */

static const char *error_text(int err, char *buf, size_t len)
{
  if (strerror_r(err, buf, len) != 0)
    snprintf(buf, len, "error %d", err);
  return buf;
}

/* Overwrites @len octets of a secret before its memory is freed.  The
 * volatile pointer stops the compiler from dropping stores to memory that
 * is about to be freed. */
static void wipe(char *secret, size_t len)
{
  volatile char *p = secret;

  for (size_t i = 0; secret != NULL && i < len; i++)
    p[i] = '\0';
}

static void free_secret(char *secret)
{
  if (secret != NULL)
    wipe(secret, strlen(secret));
  free(secret);
}

/* Compares passwords in a time that depends only on what the client sent,
 * never on how much of it matched, so that timing cannot reveal a password
 * octet by octet. */
static bool secret_equal(const char *known, const char *given)
{
  size_t known_len = strlen(known), given_len = strlen(given);
  size_t diff = known_len ^ given_len;

  for (size_t i = 0; i < given_len; i++) {
    unsigned char k = known_len ? (unsigned char)known[i % known_len] : 0;
    diff |= k ^ (unsigned char)given[i];
  }
  return diff == 0;
}

static void table_clear(struct user_table *t)
{
  for (size_t i = 0; i < t->count; i++) {
    free(t->entries[i].user);
    free_secret(t->entries[i].password);
  }
  free(t->entries);
  t->entries = NULL;
  t->count = 0;
}

static const struct user_entry *table_find(const struct user_table *t,
                                           const char *user)
{
  /* A linear scan: fine for the few dozen users such a file holds. */
  for (size_t i = 0; i < t->count; i++)
    if (strcmp(t->entries[i].user, user) == 0)
      return &t->entries[i];
  return NULL;
}

/* ---- reading the file ------------------------------------------------- */

/* Parses one line into @entry.  Returns false with @why set on a bad
 * line; returns true with entry->user NULL on a blank or comment line. */
static bool parse_line(char *line, struct user_entry *entry, char *why,
                       size_t why_len)
{
  entry->user = entry->password = NULL;
  line[strcspn(line, "\r\n")] = '\0';

  char *user = line + strspn(line, " \t");
  if (*user == '\0' || *user == '#')
    return true;
  size_t user_len = strcspn(user, " \t");
  char *password = user + user_len;
  password += strspn(password, " \t");
  if (*password == '\0') {
    snprintf(why, why_len, "no password after the user name");
    return false;
  }
  user[user_len] = '\0';

  if (password[0] == '{') {
    char *close = strchr(password, '}');
    if (close == NULL) {
      snprintf(why, why_len, "'{' without '}' in the password scheme");
      return false;
    }
    *close = '\0';
    if (strcasecmp(password + 1, "PLAIN") != 0) {
      snprintf(why, why_len,
               "scheme {%.40s} is not supported: this example reads "
               "{PLAIN} passwords only",
               password + 1);
      return false;
    }
    password = close + 1;
  }

  entry->user = strdup(user);
  entry->password = strdup(password);
  if (entry->user == NULL || entry->password == NULL) {
    free(entry->user);
    free_secret(entry->password);
    entry->user = entry->password = NULL;
    snprintf(why, why_len, "out of memory");
    return false;
  }
  return true;
}

/* Reads @path into @out.  On failure @why names the line and the problem;
 * @out is left empty. */
static bool table_load(const char *path, struct user_table *out, char *why,
                       size_t why_len)
{
  struct user_table t = {NULL, 0};
  size_t capacity = 0, line_no = 0, len = 0;
  char *line = NULL;
  char ebuf[128];
  char problem[160];
  bool ok = true;

  /* O_CLOEXEC: a program another plugin starts must not inherit it. */
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
  if (f == NULL) {
    snprintf(why, why_len, "cannot open: %s",
             error_text(errno, ebuf, sizeof ebuf));
    if (fd >= 0)
      close(fd);
    return false;
  }
  while (ok && getline(&line, &len, f) != -1) {
    struct user_entry entry;
    line_no++;
    if (!parse_line(line, &entry, problem, sizeof problem)) {
      snprintf(why, why_len, "line %zu: %s", line_no, problem);
      ok = false;
    } else if (entry.user == NULL) {
      continue;
    } else if (table_find(&t, entry.user) != NULL) {
      snprintf(why, why_len, "line %zu: user %.64s is listed twice", line_no,
               entry.user);
      free(entry.user);
      free_secret(entry.password);
      ok = false;
    } else {
      if (t.count == capacity) {
        size_t more = capacity ? capacity * 2 : 16;
        struct user_entry *grown = realloc(t.entries, more * sizeof *grown);
        if (grown == NULL) {
          free(entry.user);
          free_secret(entry.password);
          snprintf(why, why_len, "out of memory");
          ok = false;
          continue;
        }
        t.entries = grown;
        capacity = more;
      }
      t.entries[t.count++] = entry;
    }
  }
  if (ok && ferror(f)) {
    snprintf(why, why_len, "read error after line %zu", line_no);
    ok = false;
  }
  wipe(line, len); /* the whole buffer: parsing put '\0's into it */
  free(line);
  fclose(f);
  if (!ok) {
    table_clear(&t);
    return false;
  }
  *out = t;
  return true;
}

static bool same_file_state(const struct stat *a, const struct stat *b)
{
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
         a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
         a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Re-reads the file when it changed since the last look.  Called with the
 * lock held.  On failure the previous table stays in use and one warning
 * is logged per change, not one per login. */
static void refresh_locked(struct textfile_db *db)
{
  struct stat st;
  char why[256];
  char ebuf[128];

  if (stat(db->path, &st) != 0) {
    if (!db->seen_missing)
      poplar_log(db->plugin, POPLAR_LOG_WARNING,
                 "%s: %s; keeping the %zu user(s) read before", db->path,
                 error_text(errno, ebuf, sizeof ebuf), db->table.count);
    db->seen_missing = true;
    return;
  }
  if (!db->seen_missing && same_file_state(&st, &db->seen))
    return;
  db->seen = st;
  db->seen_missing = false;

  struct user_table fresh;
  if (!table_load(db->path, &fresh, why, sizeof why)) {
    poplar_log(db->plugin, POPLAR_LOG_WARNING,
               "%s: %s; keeping the %zu user(s) read before", db->path, why,
               db->table.count);
    return;
  }
  table_clear(&db->table);
  db->table = fresh;
  poplar_log(db->plugin, POPLAR_LOG_INFO, "%s: read %zu user(s)", db->path,
             db->table.count);
}

/* ---- the passdb operations -------------------------------------------- */

static PoplarPassdbResult textfile_verify_plain(void *data,
                                                PoplarAuthRequest *req,
                                                const char *password)
{
  struct textfile_db *db = data;
  const char *user = poplar_auth_request_user(req);
  PoplarPassdbResult result;

  if (user == NULL)
    return POPLAR_PASSDB_NO_SUCH_USER;
  pthread_mutex_lock(&db->lock);
  refresh_locked(db);
  const struct user_entry *entry = table_find(&db->table, user);
  if (entry == NULL)
    result = POPLAR_PASSDB_NO_SUCH_USER; /* the next database may know */
  else if (secret_equal(entry->password, password))
    result = POPLAR_PASSDB_OK;
  else
    result = POPLAR_PASSDB_DENIED;
  pthread_mutex_unlock(&db->lock);
  return result;
}

/* For APOP: the core computes MD5(timestamp + secret) itself and compares;
 * the database only hands over the secret. */
static PoplarPassdbResult textfile_lookup_secret(void *data,
                                                 PoplarAuthRequest *req)
{
  struct textfile_db *db = data;
  const char *user = poplar_auth_request_user(req);
  PoplarPassdbResult result = POPLAR_PASSDB_NO_SUCH_USER;

  if (user == NULL)
    return result;
  pthread_mutex_lock(&db->lock);
  refresh_locked(db);
  const struct user_entry *entry = table_find(&db->table, user);
  if (entry != NULL) {
    poplar_auth_request_set_secret(req, entry->password); /* core copies */
    result = POPLAR_PASSDB_OK;
  }
  pthread_mutex_unlock(&db->lock);
  return result;
}

static void textfile_destroy(void *data)
{
  struct textfile_db *db = data;

  table_clear(&db->table);
  pthread_mutex_destroy(&db->lock);
  free(db->path);
  free(db);
}

/* ---- life cycle ------------------------------------------------------- */

static bool textfile_init(PoplarPlugin *plugin, PoplarConfig *config)
{
  const char *path = poplar_config_get_string(config, "file", NULL);
  char why[256];
  char ebuf[128];

  if (path == NULL || path[0] == '\0') {
    poplar_config_error(config, NULL,
                        "'file' is required: the path of the user file");
    return false;
  }

  struct textfile_db *db = calloc(1, sizeof *db);
  if (db == NULL || (db->path = strdup(path)) == NULL) {
    free(db);
    poplar_log(plugin, POPLAR_LOG_ERROR, "out of memory");
    return false;
  }
  db->plugin = plugin;
  int err = pthread_mutex_init(&db->lock, NULL);
  if (err != 0) {
    poplar_log(plugin, POPLAR_LOG_ERROR, "cannot create a mutex: %s",
               error_text(err, ebuf, sizeof ebuf));
    free(db->path);
    free(db);
    return false;
  }

  /* Read it now, after the privilege drop, so that a file the server user
   * cannot read is reported at start-up rather than at the first login. */
  if (stat(path, &db->seen) != 0) {
    poplar_config_error(config, "file", "%s: %s", path,
                        error_text(errno, ebuf, sizeof ebuf));
    textfile_destroy(db);
    return false;
  }
  if (!table_load(path, &db->table, why, sizeof why)) {
    poplar_config_error(config, "file", "%s: %s", path, why);
    textfile_destroy(db);
    return false;
  }

  static const PoplarPassdbOps ops = {
      .verify_plain = textfile_verify_plain,
      .lookup_secret = textfile_lookup_secret,
      .destroy = textfile_destroy,
  };
  if (!poplar_register_passdb(plugin, "textfile", &ops, sizeof ops, db)) {
    textfile_destroy(db);
    return false;
  }
  poplar_log(plugin, POPLAR_LOG_INFO, "%s: read %zu user(s)", path,
             db->table.count);
  return true;
}

POPLAR_PLUGIN_DEFINE(passdb_textfile, "1.0.0",
                     "Demonstration password database: a text file of "
                     "users and {PLAIN} passwords",
                     NULL, textfile_init, NULL)
