/* SPDX-License-Identifier: MIT */
/*
 * auth-passwd-file internals, shared by the plugin's files and its tests.
 *
 *   passwd-file-verify.c  stored passwords, on libpoplar's schemes; the dummy
 *                         check for unknown users
 *   passwd-file-parse.c   text of a passwd-file -> table of users (no I/O)
 *   passwd-file-db.c      the file on disk: reading, permissions, reloading,
 *                         handing out table snapshots to concurrent logins
 *   ../common/verify-cache.c  passwords verified recently, so that a
 *                         repeated login does not pay for the hash again
 *   passwd-file-plugin.c  configuration, the passdb callbacks, registration
 */
#ifndef POPLAR_PASSWD_FILE_H
#define POPLAR_PASSWD_FILE_H

#include <glib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <poplar/plugin.h>

#include "verify-cache.h"

G_BEGIN_DECLS

/* ---- stored passwords (passwd-file-verify.c) -------------------------- */

/* libxcrypt refuses longer passphrases (CRYPT_MAX_PASSPHRASE_SIZE - 1);
 * longer attempts are refused without hashing, whatever the scheme, so
 * that the answer does not depend on the user's scheme. */
#define PW_PASSWORD_MAX 511

typedef enum PwKind {
  PW_KIND_NONE,  /* empty password field: the account cannot log in */
  PW_KIND_PLAIN, /* {PLAIN} / {CLEARTEXT} / {CLEAR}: the secret itself */
  PW_KIND_HASH,  /* any other scheme, or a bare crypt(3) hash */
} PwKind;

typedef struct PwPassword {
  PwKind kind;
  /* The field as the file has it, {SCHEME} and all, for
   * poplar_password_verify(); NULL for PW_KIND_NONE. */
  char *value;
} PwPassword;

typedef enum PwCheck {
  PW_CHECK_MATCH,
  PW_CHECK_MISMATCH,
  PW_CHECK_FAILED, /* the check could not run (out of memory...) */
} PwCheck;

/* Parses a password field ("{SHA512-CRYPT}$6$...", "$y$...",
 * "{SSHA512}...", "{PLAIN}x", ""), checking with libpoplar that the
 * scheme is known and the value has its form.  On failure returns false
 * and sets *@error (free with g_free) to a sentence that never contains
 * the password. */
bool pw_password_parse(const char *field, PwPassword *out, char **error);
/* Wipes and frees out->value. */
void pw_password_clear(PwPassword *pw);
/* Checks @attempt against @pw; PW_KIND_NONE never matches.  Thread-safe.
 * For PW_CHECK_FAILED sets *@error (optional; free with g_free). */
PwCheck pw_password_check(const PwPassword *pw, const char *attempt,
                          char **error);
/* The secret of a PW_KIND_PLAIN password (wipe, then g_free), else NULL. */
char *pw_password_secret(const PwPassword *pw);
/* Writes the scheme and cost of a stored hash ("$6$rounds=5000",
 * "$2b$12", "$y$j9T", "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1") into
 * @buf: hashes of one class cost the same to check. */
void pw_hash_cost_class(const char *value, char *buf, size_t size);
/* How many times a hashed password has been checked in this process (for
 * tests). */
unsigned pw_hash_checks(void);

/* ---- the table of users (passwd-file-parse.c) ------------------------- */

typedef struct PwEntry {
  char *user;
  unsigned line;
  PwPassword password;
  char *uid;    /* NULL when empty */
  char *gid;
  char *home;
  char *mail;   /* from the extra field mail= (or userdb_mail=) */
  bool nologin; /* extra field nologin: right password, still refused */
  char *reason; /* extra field reason=, told to a nologin user */
  char **fields; /* other extra fields: key, value, key, value..., NULL */
} PwEntry;

typedef struct PwLineError {
  unsigned line;
  char *message;
} PwLineError;

typedef struct PwTable {
  atomic_uint ref;
  GPtrArray *entries;  /* PwEntry*, in file order (owns them) */
  GHashTable *by_user; /* user -> PwEntry* */
  bool lowercase;      /* user names were folded to lower case */
  /* What an unknown user's password is checked against, so that every
   * attempt costs what a typical entry of this file costs.  Set by
   * pw_table_prepare_dummy(). */
  PwPassword dummy;
} PwTable;

/* Parses one line (without its newline).  Returns NULL with *@error set
 * for a bad line, and NULL with *@error NULL for a blank or comment line.
 * With @lowercase the user name is folded to lower case (ASCII). */
PwEntry *pw_entry_parse(const char *line, size_t len, unsigned lineno,
                        bool lowercase, char **error);
void pw_entry_free(PwEntry *e);

/* Parses a whole file.  Every bad line is appended to *@errors (a new
 * array of PwLineError*, freed with g_ptr_array_unref) and then NULL is
 * returned: a table is made only from a file without errors. */
PwTable *pw_table_parse(const char *text, size_t len, bool lowercase,
                        GPtrArray **errors);
PwTable *pw_table_ref(PwTable *t);
void pw_table_unref(PwTable *t);
/* Looks up @user (folded when the table was built with lowercase). */
const PwEntry *pw_table_lookup(const PwTable *t, const char *user);
/* Number of users. */
unsigned pw_table_size(const PwTable *t);
/* Chooses t->dummy: a fresh hash in the file's most common cost class, or
 * a plaintext when the file has no hashes.  Returns false with *@error set
 * when crypt(3) fails. */
bool pw_table_prepare_dummy(PwTable *t, char **error);
/* Runs the dummy check for @attempt and throws the result away. */
void pw_table_burn_dummy(const PwTable *t, const char *attempt);

/* ---- the file on disk (passwd-file-db.c) ------------------------------ */

/* What identifies one version of the file: a change to any member means
 * it must be read again. */
typedef struct PwStamp {
  int error; /* errno of a failed stat(), or 0 */
  dev_t dev;
  ino_t ino;
  off_t size;
  long long mtime_sec, mtime_nsec;
  long long ctime_sec, ctime_nsec;
} PwStamp;

typedef struct PwDb {
  PoplarPlugin *plugin;
  char *path;
  bool lowercase;
  gint64 check_interval_us;

  /* pthread rather than GMutex: ThreadSanitizer understands these. */
  pthread_mutex_t table_lock; /* guards table only: held for a pointer copy */
  PwTable *table;

  pthread_mutex_t reload_lock; /* one thread checks the file at a time */
  gint64 last_check;  /* monotonic µs, under reload_lock */
  PwStamp loaded;     /* the version the table came from */
  PwStamp failed;     /* the last version that could not be loaded */
  bool has_failed;    /* failed is set (and was logged) */
} PwDb;

PwDb *pw_db_new(PoplarPlugin *plugin, const char *path, bool lowercase,
                gint64 check_interval_us);
void pw_db_free(PwDb *db);
/* First load, from init.  Every problem (unreadable file, bad line,
 * world-writable file) is appended to @problems as a sentence naming the
 * file (and line); returns false when there is any. */
bool pw_db_load_initial(PwDb *db, GPtrArray *problems);
/* Rereads the file when it changed since the last look, at most once per
 * check interval.  A file that cannot be loaded is logged and the current
 * table kept. */
void pw_db_maybe_reload(PwDb *db);
/* A reference to the current table: release with pw_table_unref(). */
PwTable *pw_db_snapshot(PwDb *db);

/* ---- the registered password database (passwd-file-plugin.c) ----------- */

typedef struct PwPassdb {
  PwDb *db;
  VerifyCache *cache; /* NULL when verify-cache = no */
} PwPassdb;

G_END_DECLS

#endif /* POPLAR_PASSWD_FILE_H */
