/* SPDX-License-Identifier: MIT */
/*
 * One login: the password query (its values bound, never pasted), the
 * stored password checked with libpoplar's schemes (and the verify
 * cache), nologin, the optional user query, and the columns handed on as
 * fields.
 *
 * The client gets the same answer, after about the same work, for an
 * unknown user as for a wrong password: an unknown user's password is
 * checked against the last stored password seen.  A database that is
 * down or too slow is a temporary failure ([SYS/TEMP]), never a refusal.
 */
#include "auth-sql.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct Attempt {
  AuthSql *a;
  PoplarAuthRequest *req;
  const char *user;
  const char *shown; /* the user name, escaped for logs */
  const char *values[SQL_PARAM_COUNT];
} Attempt;

static void auth_log(const Attempt *t, PoplarLogLevel level, const char *fmt,
                     ...) G_GNUC_PRINTF(3, 4);

static void auth_log(const Attempt *t, PoplarLogLevel level, const char *fmt,
                     ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  poplar_session_log(poplar_auth_request_session(t->req), t->a->plugin,
                     level, "%s", msg);
}

/* A user name fit for a log line: control bytes escaped, length capped,
 * since it comes from the client when the user is unknown. */
static char *loggable(const char *user)
{
  g_autofree char *cut = g_strndup(user, AUTH_SQL_LOG_USER_MAX);
  char *escaped = g_strescape(cut, NULL);
  if (strlen(user) > AUTH_SQL_LOG_USER_MAX) {
    char *longer = g_strconcat(escaped, "...", NULL);
    g_free(escaped);
    escaped = longer;
  }
  return escaped;
}

static const char *query_name(unsigned index)
{
  return index == SQL_QUERY_PASSWORD ? "password-query" : "user-query";
}

/* Runs query @index, on a reused connection first and, when that one
 * turns out to be dead (the server restarted, a firewall dropped it), once
 * more on a new connection.  Logs its own failures.  Returns NULL with
 * *@result set to TEMPFAIL when there is no answer. */
static SqlResult *run_query(Attempt *t, unsigned index)
{
  AuthSql *a = t->a;
  const SqlQuery *q = &a->settings->queries[index];
  g_autofree const char **values = g_new0(const char *, q->n_params + 1);
  for (unsigned i = 0; i < q->n_params; i++)
    values[i] = t->values[q->params[i]];

  for (int attempt = 0; attempt < 2; attempt++) {
    SqlFailure failure;
    char *error = NULL;
    SqlConn *c = sql_pool_take(&a->pool, &failure, &error);
    if (!c) {
      auth_log(t, POPLAR_LOG_ERROR, "user '%s': database unavailable: %s",
               t->shown, error);
      g_free(error);
      return NULL;
    }
    SqlResult *res = NULL;
    failure = a->driver->run(c->handle, a->settings, index, values, &res,
                             &error);
    bool reused = c->reused;
    sql_pool_give_back(&a->pool, c, failure == SQL_FAIL_NONE);
    if (failure == SQL_FAIL_NONE)
      return res;
    if (failure == SQL_FAIL_DOWN && reused && attempt == 0) {
      /* Every connection made before is as stale as this one. */
      sql_pool_invalidate(&a->pool);
      auth_log(t, POPLAR_LOG_DEBUG, "database connection lost (%s): "
               "retrying on a new connection", error);
      g_free(error);
      continue;
    }
    auth_log(t, POPLAR_LOG_ERROR, "user '%s': %s failed: %s", t->shown,
             query_name(index), error);
    g_free(error);
    return NULL;
  }
  return NULL;
}

/* ---- the unknown user's price ------------------------------------------- */

static void remember_dummy(AuthSql *a, const char *stored)
{
  pthread_mutex_lock(&a->dummy_lock);
  if (!a->dummy_stored || strcmp(a->dummy_stored, stored) != 0) {
    g_free(a->dummy_stored);
    a->dummy_stored = g_strdup(stored);
  }
  pthread_mutex_unlock(&a->dummy_lock);
}

static void burn_dummy(AuthSql *a, const char *password)
{
  if (!password)
    return; /* a lookup for a master login: no password to time */
  pthread_mutex_lock(&a->dummy_lock);
  char *stored = g_strdup(a->dummy_stored);
  pthread_mutex_unlock(&a->dummy_lock);
  if (!stored)
    return; /* nobody has logged in yet: there is nothing to look like */
  /* volatile: the result is unused, yet the check must run in full. */
  volatile PoplarPasswordResult r = poplar_password_verify(
      stored, password, a->settings->default_scheme, NULL);
  (void)r;
  g_free(stored);
}

/* ---- the password --------------------------------------------------------- */

/* Checks @password against @stored, through the cache when there is one.
 * Only a right password is ever answered from the cache; any other
 * attempt costs the full check, as it does without a cache. */
static PoplarPassdbResult check_password(Attempt *t, const char *stored,
                                         const char *password)
{
  AuthSql *a = t->a;
  const char *scheme = a->settings->default_scheme;
  VerifyCacheDigest digest;
  bool cacheable = a->cache &&
                   verify_cache_digest(a->cache, 0, stored, password,
                                       &digest);
  if (cacheable && verify_cache_match(a->cache, t->user, &digest)) {
    explicit_bzero(&digest, sizeof digest);
    auth_log(t, POPLAR_LOG_DEBUG,
             "user '%s': password verified from the cache", t->shown);
    return POPLAR_PASSDB_OK;
  }
  char *why = NULL;
  PoplarPasswordResult r = poplar_password_verify(stored, password, scheme,
                                                  &why);
  PoplarPassdbResult answer = POPLAR_PASSDB_DENIED;
  switch (r) {
  case POPLAR_PASSWORD_MATCH:
    remember_dummy(a, stored);
    if (cacheable)
      verify_cache_remember(a->cache, t->user, &digest);
    answer = POPLAR_PASSDB_OK;
    break;
  case POPLAR_PASSWORD_MISMATCH:
    remember_dummy(a, stored);
    /* A cached password is never trusted past a failure. */
    if (cacheable)
      verify_cache_forget(a->cache, t->user);
    auth_log(t, POPLAR_LOG_INFO, "user '%s': wrong password", t->shown);
    break;
  case POPLAR_PASSWORD_UNSUPPORTED_SCHEME:
  case POPLAR_PASSWORD_MALFORMED:
    /* The database holds something no password can match: the
     * administrator must hear of it, the client only that it failed. */
    auth_log(t, POPLAR_LOG_ERROR,
             "user '%s': the stored password cannot be checked: %s: login "
             "refused", t->shown, why);
    break;
  case POPLAR_PASSWORD_FAILED:
  default:
    auth_log(t, POPLAR_LOG_ERROR, "user '%s': checking the password "
             "failed: %s", t->shown, why ? why : "unknown error");
    answer = POPLAR_PASSDB_TEMPFAIL;
    break;
  }
  explicit_bzero(&digest, sizeof digest);
  free(why);
  return answer;
}

/* The user query's row, after the password was found right. */
static PoplarPassdbResult apply_user_query(Attempt *t)
{
  SqlResult *res = run_query(t, SQL_QUERY_USER);
  if (!res)
    return POPLAR_PASSDB_TEMPFAIL;
  unsigned rows = sql_result_rows(res);
  if (rows != 1) {
    /* Without its row the user would get the server's default mailbox:
     * better no login than the wrong mailbox. */
    auth_log(t, POPLAR_LOG_ERROR,
             "user '%s': user-query returned %u rows instead of 1: login "
             "refused", t->shown, rows);
    sql_result_free(res);
    return POPLAR_PASSDB_DENIED;
  }
  g_autofree char *skipped = NULL;
  sql_result_apply(res, 0, t->req, &skipped);
  if (skipped)
    auth_log(t, POPLAR_LOG_WARNING, "user '%s': user-query columns %s hold "
             "control characters or a relative home: ignored", t->shown,
             skipped);
  sql_result_free(res);
  return POPLAR_PASSDB_OK;
}

static PoplarPassdbResult login(Attempt *t, const char *password)
{
  AuthSql *a = t->a;
  SqlResult *res = run_query(t, SQL_QUERY_PASSWORD);
  if (!res)
    return POPLAR_PASSDB_TEMPFAIL;
  unsigned rows = sql_result_rows(res);
  if (rows != 1) {
    sql_result_free(res);
    burn_dummy(a, password);
    if (rows == 0) {
      auth_log(t, POPLAR_LOG_INFO, "unknown user '%s' (password-query "
               "returned no row)", t->shown);
      return POPLAR_PASSDB_NO_SUCH_USER;
    }
    auth_log(t, POPLAR_LOG_ERROR,
             "user '%s': password-query returned %u rows: login refused "
             "(make the query match one row per user)", t->shown, rows);
    return POPLAR_PASSDB_DENIED;
  }
  const char *stored = sql_result_get(res, 0, "password");
  if (!stored)
    stored = sql_result_get(res, 0, "userdb_password");
  if (password && (!stored || !stored[0])) {
    burn_dummy(a, password);
    auth_log(t, POPLAR_LOG_INFO, "user '%s' has no password (the "
             "password column is NULL, empty or missing): login refused",
             t->shown);
    sql_result_free(res);
    return POPLAR_PASSDB_DENIED;
  }
  /* No password: a master login, whose master was checked already. */
  PoplarPassdbResult r = password ? check_password(t, stored, password)
                                  : POPLAR_PASSDB_OK;
  if (r != POPLAR_PASSDB_OK) {
    sql_result_free(res);
    return r;
  }
  /* nologin is looked at only after the password is right, so that it
   * tells nothing to someone who does not know the password. */
  if (sql_value_is_true(sql_result_get(res, 0, "nologin"))) {
    const char *reason = sql_result_get(res, 0, "reason");
    auth_log(t, POPLAR_LOG_INFO, "user '%s' is marked nologin: login "
             "refused", t->shown);
    if (reason && reason[0])
      poplar_auth_request_set_reason(t->req, "AUTH", reason);
    sql_result_free(res);
    return POPLAR_PASSDB_DENIED;
  }
  g_autofree char *skipped = NULL;
  sql_result_apply(res, 0, t->req, &skipped);
  if (skipped)
    auth_log(t, POPLAR_LOG_WARNING, "user '%s': password-query columns %s "
             "hold control characters or a relative home: ignored",
             t->shown, skipped);
  sql_result_free(res);
  if (a->settings->n_queries > SQL_QUERY_USER)
    return apply_user_query(t);
  return POPLAR_PASSDB_OK;
}

/* Whether @user may be sent to the database at all: a name no database
 * holds (too long, control characters, invalid UTF-8 that a server would
 * answer with an encoding error) is an unknown user, not a fault. */
static bool user_acceptable(const char *user)
{
  if (strlen(user) > AUTH_SQL_USER_MAX || !g_utf8_validate(user, -1, NULL))
    return false;
  for (const char *p = user; *p; p++) {
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      return false;
  }
  return true;
}

PoplarPassdbResult auth_sql_verify(AuthSql *a, PoplarAuthRequest *req,
                                   const char *user, const char *password)
{
  g_autofree char *shown = loggable(user);
  Attempt t = {.a = a, .req = req, .user = user, .shown = shown};
  if (!user_acceptable(user)) {
    burn_dummy(a, password);
    auth_log(&t, POPLAR_LOG_INFO,
             "user name '%s' refused: control characters, invalid UTF-8 or "
             "longer than %d octets", shown, AUTH_SQL_USER_MAX);
    return POPLAR_PASSDB_NO_SUCH_USER;
  }
  const char *at = strrchr(user, '@');
  g_autofree char *local = at ? g_strndup(user, (gsize)(at - user))
                              : g_strdup(user);
  PoplarSession *session = poplar_auth_request_session(req);
  const char *remote = session ? poplar_session_remote_address(session) : NULL;
  t.values[SQL_PARAM_USER] = user;
  t.values[SQL_PARAM_LOCAL] = local;
  t.values[SQL_PARAM_DOMAIN] = at ? at + 1 : "";
  t.values[SQL_PARAM_REMOTE_IP] = remote ? remote : "";
  t.values[SQL_PARAM_SERVICE] = "pop3";
  return login(&t, password);
}

AuthSql *auth_sql_new(PoplarPlugin *plugin, const SqlDriver *driver,
                      SqlSettings *settings, char **error)
{
  *error = NULL;
  AuthSql *a = g_new0(AuthSql, 1);
  a->plugin = plugin;
  a->driver = driver;
  a->settings = settings;
  sql_pool_init(&a->pool, driver, settings, plugin);
  pthread_mutex_init(&a->dummy_lock, NULL);
  if (settings->cache_ttl_ms) {
    a->cache = verify_cache_new(settings->cache_size,
                                (gint64)settings->cache_ttl_ms *
                                    G_TIME_SPAN_MILLISECOND,
                                error);
    if (!a->cache) {
      auth_sql_free(a);
      return NULL;
    }
  }
  return a;
}

void auth_sql_free(AuthSql *a)
{
  if (!a)
    return;
  sql_pool_clear(&a->pool);
  verify_cache_free(a->cache);
  pthread_mutex_destroy(&a->dummy_lock);
  g_free(a->dummy_stored);
  sql_settings_free(a->settings);
  g_free(a);
}
