/* SPDX-License-Identifier: MIT */
/*
 * auth-sql-pgsql: the user database in PostgreSQL, through libpq.
 *
 *   connect = host=db.example.org dbname=mail user=poplar password=...
 *
 * The connect value is a libpq connection string (key=value or a
 * postgresql:// URI), so every libpq option works (sslmode, several
 * hosts with target_session_attrs, a service file...).  Queries are
 * prepared once per connection (PQprepare) and run with their values as
 * parameters (PQsendQueryPrepared), waiting at most the timeout; a query
 * still running then is cancelled and its connection closed.
 */
#include "auth-sql.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <string.h>

typedef struct PgConn {
  PGconn *pg;
} PgConn;

static bool pgsql_check_connect(const char *connect, char **error)
{
  char *why = NULL;
  PQconninfoOption *opts = PQconninfoParse(connect, &why);
  if (!opts) {
    g_autofree char *text = g_strdup(why ? why : "out of memory");
    g_strchomp(text);
    *error = g_strdup_printf("not a libpq connection string: %s", text);
    PQfreemem(why);
    return false;
  }
  PQconninfoFree(opts);
  return true;
}

/* libpq's message without its final newline. */
static char *pg_message(const char *text)
{
  char *copy = g_strdup(text && text[0] ? text : "unknown error");
  return g_strchomp(copy);
}

static char *statement_name(unsigned index)
{
  return g_strdup_printf("poplar_%u", index);
}

static void pgsql_close(void *conn)
{
  PgConn *c = conn;
  if (!c)
    return;
  PQfinish(c->pg);
  g_free(c);
}

static void *pgsql_open(const SqlSettings *s, SqlFailure *failure,
                        char **error)
{
  /* connect_timeout is in whole seconds, and libpq takes less than 2 as
   * 2; one given in the connect string comes later and wins. */
  g_autofree char *seconds =
      g_strdup_printf("%" G_GUINT64_FORMAT, MAX((s->timeout_ms + 999) / 1000,
                                                (uint64_t)2));
  const char *const keys[] = {"connect_timeout", "application_name",
                              "dbname", NULL};
  const char *const values[] = {seconds, "poplar", s->connect, NULL};
  PGconn *pg = PQconnectdbParams(keys, values, 1);
  if (!pg || PQstatus(pg) != CONNECTION_OK) {
    g_autofree char *why = pg_message(pg ? PQerrorMessage(pg)
                                         : "out of memory");
    *failure = SQL_FAIL_DOWN;
    *error = g_strdup_printf("cannot connect: %s", why);
    PQfinish(pg);
    return NULL;
  }
  for (unsigned i = 0; i < s->n_queries; i++) {
    g_autofree char *name = statement_name(i);
    PGresult *res = PQprepare(pg, name, s->queries[i].text,
                              (int)s->queries[i].n_params, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
      g_autofree char *why = pg_message(PQresultErrorMessage(res));
      *failure = PQstatus(pg) == CONNECTION_BAD ? SQL_FAIL_DOWN
                                                : SQL_FAIL_TEMP;
      *error = g_strdup_printf("cannot prepare the %s: %s",
                               i == SQL_QUERY_PASSWORD ? "password-query"
                                                       : "user-query",
                               why);
      PQclear(res);
      PQfinish(pg);
      return NULL;
    }
    PQclear(res);
  }
  PgConn *c = g_new0(PgConn, 1);
  c->pg = pg;
  *failure = SQL_FAIL_NONE;
  return c;
}

/* Waits until the answer is complete or @deadline (monotonic µs) passes.
 * Returns false with *@failure and *@error set. */
static bool wait_for_answer(PGconn *pg, gint64 deadline, uint64_t timeout_ms,
                            SqlFailure *failure, char **error)
{
  for (;;) {
    if (!PQconsumeInput(pg)) {
      g_autofree char *why = pg_message(PQerrorMessage(pg));
      *failure = SQL_FAIL_DOWN;
      *error = g_strdup(why);
      return false;
    }
    if (!PQisBusy(pg))
      return true;
    gint64 left = deadline - g_get_monotonic_time();
    if (left <= 0) {
      /* Ask the server to stop the query; the connection is closed
       * anyway, since its state is unknown. */
      PGcancel *cancel = PQgetCancel(pg);
      char buf[256];
      if (cancel) {
        PQcancel(cancel, buf, sizeof buf);
        PQfreeCancel(cancel);
      }
      *failure = SQL_FAIL_TEMP;
      *error = g_strdup_printf("no answer within the timeout (%" G_GUINT64_FORMAT
                               " ms)", timeout_ms);
      return false;
    }
    struct pollfd pfd = {.fd = PQsocket(pg), .events = POLLIN};
    int ms = (int)MIN((left + 999) / 1000, G_MAXINT);
    if (poll(&pfd, 1, ms) < 0 && errno != EINTR) {
      *failure = SQL_FAIL_DOWN;
      *error = g_strdup_printf("poll: %s", g_strerror(errno));
      return false;
    }
  }
}

/* A failed query: the connection's fault, or the query's. */
static SqlFailure classify(PGconn *pg, const PGresult *res)
{
  if (PQstatus(pg) == CONNECTION_BAD)
    return SQL_FAIL_DOWN;
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  /* 08: connection exceptions; 57P: the server is shutting down. */
  if (state && (g_str_has_prefix(state, "08") ||
                g_str_has_prefix(state, "57P")))
    return SQL_FAIL_DOWN;
  return SQL_FAIL_TEMP;
}

static SqlResult *result_of(const PGresult *res)
{
  int cols = PQnfields(res);
  int rows = PQntuples(res);
  SqlResult *r = sql_result_new((unsigned)cols);
  for (int c = 0; c < cols; c++)
    sql_result_set_name(r, (unsigned)c, PQfname(res, c));
  g_autofree const char **values = g_new0(const char *, (gsize)cols + 1);
  for (int row = 0; row < rows; row++) {
    for (int c = 0; c < cols; c++)
      values[c] = PQgetisnull(res, row, c) ? NULL
                                           : PQgetvalue(res, row, c);
    sql_result_add_row(r, values, NULL);
  }
  return r;
}

static SqlFailure pgsql_run(void *conn, const SqlSettings *s, unsigned index,
                            const char *const *values, SqlResult **out,
                            char **error)
{
  PGconn *pg = ((PgConn *)conn)->pg;
  gint64 deadline = g_get_monotonic_time() +
                    (gint64)s->timeout_ms * G_TIME_SPAN_MILLISECOND;
  g_autofree char *name = statement_name(index);
  *out = NULL;
  if (!PQsendQueryPrepared(pg, name, (int)s->queries[index].n_params,
                           values, NULL, NULL, 0)) {
    *error = pg_message(PQerrorMessage(pg));
    return classify(pg, NULL);
  }
  SqlFailure failure = SQL_FAIL_NONE;
  if (!wait_for_answer(pg, deadline, s->timeout_ms, &failure, error))
    return failure;
  /* One statement gives one result, then NULL; read them all so that the
   * connection is ready for the next query. */
  PGresult *res;
  while ((res = PQgetResult(pg))) {
    if (!*out && failure == SQL_FAIL_NONE) {
      if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        *out = result_of(res);
      } else {
        failure = classify(pg, res);
        *error = pg_message(PQresultErrorMessage(res));
      }
    }
    PQclear(res);
    if (PQstatus(pg) == CONNECTION_BAD)
      break;
    if (PQisBusy(pg) &&
        !wait_for_answer(pg, deadline, s->timeout_ms, &failure, error))
      break;
  }
  if (failure != SQL_FAIL_NONE) {
    sql_result_free(*out);
    *out = NULL;
    return failure;
  }
  if (!*out) {
    *error = pg_message(PQerrorMessage(pg));
    return classify(pg, NULL);
  }
  return SQL_FAIL_NONE;
}

static const SqlDriver pgsql_driver = {
    .name = "pgsql",
    .library = "libpq",
    .style = SQL_PLACEHOLDER_DOLLAR,
    .check_connect = pgsql_check_connect,
    .open = pgsql_open,
    .run = pgsql_run,
    .close = pgsql_close,
};

static bool auth_sql_pgsql_init(PoplarPlugin *plugin, PoplarConfig *config)
{
  return auth_sql_plugin_init(plugin, config, &pgsql_driver);
}

POPLAR_PLUGIN_DEFINE(auth_sql_pgsql, "0.1.0",
                     "Users and passwords in PostgreSQL", NULL,
                     auth_sql_pgsql_init, NULL)
