/* SPDX-License-Identifier: MIT */
/*
 * auth-sql-sqlite: the user database in an SQLite file.
 *
 *   connect = /etc/poplar/users.sqlite
 *
 * The file is opened read-only; it must be readable by the server's user.
 * Queries are prepared once per connection and run with their values
 * bound as parameters.  The timeout bounds both the wait for a writer's
 * lock (busy timeout) and the query itself (interrupted when it runs
 * longer).
 */
#include "auth-sql.h"

#include <sqlite3.h>
#include <string.h>

typedef struct LiteConn {
  sqlite3 *db;
  sqlite3_stmt *stmts[SQL_QUERY_MAX];
  gint64 deadline; /* of the query running, monotonic µs */
} LiteConn;

static bool sqlite_check_connect(const char *connect, char **error)
{
  if (connect[0] != '/') {
    *error = g_strdup_printf("'%s' must be the absolute path of the "
                             "database file", connect);
    return false;
  }
  return true;
}

static void sqlite_close(void *conn)
{
  LiteConn *c = conn;
  if (!c)
    return;
  for (unsigned i = 0; i < SQL_QUERY_MAX; i++)
    sqlite3_finalize(c->stmts[i]);
  sqlite3_close(c->db);
  g_free(c);
}

/* A failed call: a file that cannot be read is like a server that is
 * down (worth the backoff); anything else is the query's. */
static SqlFailure classify(int rc)
{
  switch (rc & 0xff) {
  case SQLITE_CANTOPEN:
  case SQLITE_IOERR:
  case SQLITE_NOTADB:
  case SQLITE_CORRUPT:
    return SQL_FAIL_DOWN;
  default:
    return SQL_FAIL_TEMP;
  }
}

/* Called by SQLite every few thousand instructions of a query: non-zero
 * interrupts it. */
static int past_deadline(void *data)
{
  const LiteConn *c = data;
  return c->deadline && g_get_monotonic_time() > c->deadline;
}

static void *sqlite_open(const SqlSettings *s, SqlFailure *failure,
                         char **error)
{
  sqlite3 *db = NULL;
  int rc = sqlite3_open_v2(s->connect, &db,
                           SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    *failure = SQL_FAIL_DOWN;
    *error = g_strdup_printf("cannot open %s: %s", s->connect,
                             db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return NULL;
  }
  sqlite3_busy_timeout(db, (int)MIN(s->timeout_ms, (uint64_t)G_MAXINT));
  LiteConn *c = g_new0(LiteConn, 1);
  c->db = db;
  sqlite3_progress_handler(db, 1000, past_deadline, c);
  for (unsigned i = 0; i < s->n_queries; i++) {
    rc = sqlite3_prepare_v3(db, s->queries[i].text, -1,
                            SQLITE_PREPARE_PERSISTENT, &c->stmts[i], NULL);
    if (rc != SQLITE_OK) {
      *failure = classify(rc);
      *error = g_strdup_printf(
          "cannot prepare the %s on %s: %s",
          i == SQL_QUERY_PASSWORD ? "password-query" : "user-query",
          s->connect, sqlite3_errmsg(db));
      sqlite_close(c);
      return NULL;
    }
  }
  *failure = SQL_FAIL_NONE;
  return c;
}

static SqlFailure sqlite_run(void *conn, const SqlSettings *s,
                             unsigned index, const char *const *values,
                             SqlResult **out, char **error)
{
  LiteConn *c = conn;
  sqlite3_stmt *stmt = c->stmts[index];
  *out = NULL;
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  for (unsigned i = 0; i < s->queries[index].n_params; i++) {
    int rc = sqlite3_bind_text(stmt, (int)i + 1, values[i], -1,
                               SQLITE_STATIC);
    if (rc != SQLITE_OK) {
      *error = g_strdup_printf("binding :%s: %s",
                               sql_param_name(s->queries[index].params[i]),
                               sqlite3_errmsg(c->db));
      return SQL_FAIL_TEMP;
    }
  }
  int cols = sqlite3_column_count(stmt);
  SqlResult *r = sql_result_new((unsigned)cols);
  for (int i = 0; i < cols; i++)
    sql_result_set_name(r, (unsigned)i, sqlite3_column_name(stmt, i));
  g_autofree const char **row = g_new0(const char *, (gsize)cols + 1);
  c->deadline = g_get_monotonic_time() +
                (gint64)s->timeout_ms * G_TIME_SPAN_MILLISECOND;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    for (int i = 0; i < cols; i++)
      row[i] = sqlite3_column_type(stmt, i) == SQLITE_NULL
                   ? NULL
                   : (const char *)sqlite3_column_text(stmt, i);
    sql_result_add_row(r, row, NULL);
  }
  c->deadline = 0;
  SqlFailure failure = SQL_FAIL_NONE;
  if (rc != SQLITE_DONE) {
    failure = classify(rc);
    *error = rc == SQLITE_INTERRUPT
                 ? g_strdup_printf("no answer within the timeout (%"
                                   G_GUINT64_FORMAT " ms)", s->timeout_ms)
                 : g_strdup(sqlite3_errmsg(c->db));
    sql_result_free(r);
    r = NULL;
  }
  /* Unbind the values, which belong to the caller, and release the
   * read lock. */
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  *out = r;
  return failure;
}

static const SqlDriver sqlite_driver = {
    .name = "sqlite",
    .library = "SQLite " SQLITE_VERSION,
    .style = SQL_PLACEHOLDER_NUMBERED,
    .check_connect = sqlite_check_connect,
    .open = sqlite_open,
    .run = sqlite_run,
    .close = sqlite_close,
};

static bool auth_sql_sqlite_init(PoplarPlugin *plugin, PoplarConfig *config)
{
  return auth_sql_plugin_init(plugin, config, &sqlite_driver);
}

POPLAR_PLUGIN_DEFINE(auth_sql_sqlite, "0.1.0",
                     "Users and passwords in an SQLite file", NULL,
                     auth_sql_sqlite_init, NULL)
