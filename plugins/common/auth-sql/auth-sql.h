/* SPDX-License-Identifier: MIT */
/*
 * auth-sql internals, shared by the three driver plugins
 * (plugins/auth-sql-pgsql, -mysql, -sqlite) and their tests.  Each plugin
 * is one driver file plus all of this shared code, so a site that loads
 * only the PostgreSQL plugin never maps MariaDB's or SQLite's library.
 *
 *   sql-query.c     a query's :name parameters -> the driver's placeholders
 *                   (no I/O)
 *   sql-result.c    rows and columns as text, and what the columns mean
 *                   (password, home, mail, uid, gid, nologin, proxy...)
 *   sql-settings.c  the plugin's section: reading and checking it
 *   sql-pool.c      connections lent to one login at a time, reconnection
 *                   with backoff
 *   sql-login.c     one login: the queries, the password, the fields
 *   sql-plugin.c    the passdb callback and registration, for any driver
 *   ../../auth-sql-DRIVER/driver-DRIVER.c
 *                   one database library each, and the plugin's entry
 */
#ifndef POPLAR_AUTH_SQL_H
#define POPLAR_AUTH_SQL_H

#include <glib.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <poplar/plugin.h>

#include "verify-cache.h"

G_BEGIN_DECLS

/* No user database has longer login names; longer ones, and names with
 * control characters or invalid UTF-8, are refused before any query. */
#define AUTH_SQL_USER_MAX 256
/* Client-supplied names are cut to this in log lines. */
#define AUTH_SQL_LOG_USER_MAX 64

/* ---- queries (sql-query.c) --------------------------------------------- */

/* The values a query may use, as :name. */
typedef enum SqlParam {
  SQL_PARAM_USER,      /* :user       the name the client gave */
  SQL_PARAM_LOCAL,     /* :local      before its last '@' */
  SQL_PARAM_DOMAIN,    /* :domain     after its last '@' ("" without one) */
  SQL_PARAM_REMOTE_IP, /* :remote_ip  the client's address */
  SQL_PARAM_SERVICE,   /* :service    "pop3" */
  SQL_PARAM_COUNT,
} SqlParam;

/* How a driver writes a parameter in its SQL text. */
typedef enum SqlPlaceholderStyle {
  SQL_PLACEHOLDER_DOLLAR,   /* $1, $2: one number per distinct name (libpq) */
  SQL_PLACEHOLDER_QUESTION, /* ?, ?: one per occurrence (MariaDB) */
  SQL_PLACEHOLDER_NUMBERED, /* ?1, ?2: one number per name (SQLite) */
} SqlPlaceholderStyle;

typedef struct SqlQuery {
  char *text;        /* the SQL with the driver's placeholders */
  SqlParam *params;  /* which value goes to placeholder i (from 0) */
  unsigned n_params;
} SqlQuery;

/* Turns the :name parameters of @source into placeholders of @style.
 * Quoted strings ('...', "...", `...`, PostgreSQL's $tag$...$tag$),
 * comments (-- and / * * /) and PostgreSQL casts (::type) are copied as
 * they are.  An unknown :name is an error, so that a typo is reported at
 * start-up rather than sent to the database.  On failure returns false
 * with *@error (g_free) set. */
bool sql_query_parse(const char *source, SqlPlaceholderStyle style,
                     SqlQuery *out, char **error);
void sql_query_clear(SqlQuery *q);
/* "user" for SQL_PARAM_USER... */
const char *sql_param_name(SqlParam p);

/* ---- results (sql-result.c) -------------------------------------------- */

/* A query's answer as text, as every driver can give it.  Column names are
 * folded to lower case; an SQL NULL is a NULL value. */
typedef struct SqlResult {
  unsigned n_columns;
  char **names;
  GPtrArray *rows; /* char*[n_columns] each */
} SqlResult;

SqlResult *sql_result_new(unsigned n_columns);
/* Sets the name of column @i (copied, folded). */
void sql_result_set_name(SqlResult *r, unsigned i, const char *name);
/* Appends a row of n_columns values, copied (NULL stays NULL); @lengths
 * may be NULL for NUL-terminated values. */
void sql_result_add_row(SqlResult *r, const char *const *values,
                        const unsigned long *lengths);
/* Wipes every value (passwords among them) and frees. */
void sql_result_free(SqlResult *r);
unsigned sql_result_rows(const SqlResult *r);
/* The value of column @name (lower case) in row @row, or NULL when the
 * column is absent or NULL. */
const char *sql_result_get(const SqlResult *r, unsigned row,
                           const char *name);
/* Whether a nologin (or similar flag) value means yes: anything but NULL,
 * "", 0, f, false, n, no, off (any case). */
bool sql_value_is_true(const char *value);
/* Hands row @row's columns to @req as the user's fields: home, mail, uid,
 * gid, user (the canonical name), and every other column except password,
 * nologin and reason as a field of its own name (a Dovecot "userdb_"
 * prefix is dropped).  Values with control characters, and a home that
 * is not an absolute path, are skipped and
 * named in *@skipped (g_free; NULL when none). */
void sql_result_apply(const SqlResult *r, unsigned row,
                      PoplarAuthRequest *req, char **skipped);

/* ---- the driver interface ------------------------------------------------ */

/* What a failed call means. */
typedef enum SqlFailure {
  SQL_FAIL_NONE,
  SQL_FAIL_DOWN, /* the connection or the server is gone: reconnect */
  SQL_FAIL_TEMP, /* timeout, an error of the query: TEMPFAIL */
} SqlFailure;

typedef struct SqlSettings SqlSettings;

typedef struct SqlDriver {
  const char *name;          /* "pgsql": the passdb's name is sql-NAME */
  const char *library;       /* for logs: "libpq 15" */
  SqlPlaceholderStyle style;
  /* Checks the connect setting at start-up, without connecting. */
  bool (*check_connect)(const char *connect, char **error);
  /* Connects and prepares every query of @s.  Returns the connection, or
   * NULL with *@failure and *@error (g_free) set. */
  void *(*open)(const SqlSettings *s, SqlFailure *failure, char **error);
  /* Runs query @index of @s with @values (one per placeholder), within
   * @timeout_ms.  On success sets *@out. */
  SqlFailure (*run)(void *conn, const SqlSettings *s, unsigned index,
                    const char *const *values, SqlResult **out,
                    char **error);
  void (*close)(void *conn);
} SqlDriver;

/* ---- settings (sql-settings.c) ------------------------------------------- */

enum { SQL_QUERY_PASSWORD, SQL_QUERY_USER, SQL_QUERY_MAX };

struct SqlSettings {
  const char *connect;        /* owned by the configuration */
  const char *default_scheme; /* for values without {SCHEME} */
  unsigned max_connections;   /* per worker process */
  uint64_t timeout_ms;        /* connect, wait for a connection, query */
  SqlQuery queries[SQL_QUERY_MAX];
  unsigned n_queries;         /* 1, or 2 with user-query */
  uint64_t cache_ttl_ms;      /* 0: no verify cache */
  unsigned cache_size;
};

/* Reads and checks the section for @driver.  Every problem is reported
 * with poplar_config_error() (all of them in one run); returns NULL when
 * there was any. */
SqlSettings *sql_settings_read(PoplarConfig *config, const SqlDriver *driver);
void sql_settings_free(SqlSettings *s);

/* Splits a "key=value key='quoted value'" connect string (MariaDB's;
 * libpq parses its own) into a NULL-terminated key, value, key, value...
 * array (g_strfreev).  Returns NULL with *@error set when it is not one. */
char **sql_connect_split(const char *connect, char **error);

/* ---- connections (sql-pool.c) -------------------------------------------- */

typedef struct SqlConn {
  void *handle;
  unsigned generation; /* the pool's generation when it was made */
  bool reused;         /* lent before: it may have gone stale since */
} SqlConn;

/* Monotonic microseconds; replaceable so that tests need not sleep. */
typedef gint64 (*SqlClock)(void);

typedef struct SqlPool {
  const SqlDriver *driver;
  const SqlSettings *settings;
  PoplarPlugin *plugin;
  pthread_mutex_t lock;
  pthread_cond_t freed;  /* a connection came back or a slot opened */
  GPtrArray *idle;       /* SqlConn* */
  unsigned total;        /* idle + lent out + being made */
  unsigned generation;   /* bumped when the server went away */
  unsigned made;         /* connections made so far (for tests) */
  /* Reconnection: after a failed connect, no new one is tried before
   * retry_at; each failure in a row doubles the wait, up to a limit. */
  gint64 retry_at;
  gint64 backoff_us;
  bool down;             /* the last connect failed (logged once) */
  SqlClock clock;
} SqlPool;

#define SQL_BACKOFF_FIRST_US (100 * G_TIME_SPAN_MILLISECOND)
#define SQL_BACKOFF_MAX_US (5 * G_TIME_SPAN_SECOND)

void sql_pool_init(SqlPool *pool, const SqlDriver *driver,
                   const SqlSettings *s, PoplarPlugin *plugin);
/* Closes every idle connection; none may be lent out. */
void sql_pool_clear(SqlPool *pool);
/* Lends a connection: an idle one of the current generation, or a new
 * one, waiting up to the timeout when max-connections are all lent out.
 * Returns NULL with *@failure and *@error (g_free) set. */
SqlConn *sql_pool_take(SqlPool *pool, SqlFailure *failure, char **error);
/* Returns @conn, or closes it when @healthy is false (after a timeout or
 * a lost connection its state is unknown). */
void sql_pool_give_back(SqlPool *pool, SqlConn *conn, bool healthy);
/* Marks every connection made so far as stale. */
void sql_pool_invalidate(SqlPool *pool);

/* ---- one login (sql-login.c) ---------------------------------------------- */

typedef struct AuthSql {
  PoplarPlugin *plugin;
  const SqlDriver *driver;
  SqlSettings *settings;
  SqlPool pool;
  VerifyCache *cache;    /* NULL without verify-cache */
  /* The last stored password checked, which an unknown user's password
   * is checked against (and the result thrown away), so that it costs
   * what a known user's costs. */
  pthread_mutex_t dummy_lock;
  char *dummy_stored;
} AuthSql;

/* Takes @settings.  Returns NULL with *@error set when the cache cannot
 * be made. */
AuthSql *auth_sql_new(PoplarPlugin *plugin, const SqlDriver *driver,
                      SqlSettings *settings, char **error);
void auth_sql_free(AuthSql *a);
/* @password NULL: the row's fields without a password check (a master
 * user's login as @user). */
PoplarPassdbResult auth_sql_verify(AuthSql *a, PoplarAuthRequest *req,
                                   const char *user, const char *password);

/* ---- the plugin (sql-plugin.c) --------------------------------------------- */

/* The init of every driver's plugin. */
bool auth_sql_plugin_init(PoplarPlugin *plugin, PoplarConfig *config,
                          const SqlDriver *driver);

G_END_DECLS

#endif /* POPLAR_AUTH_SQL_H */
