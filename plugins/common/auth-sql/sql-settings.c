/* SPDX-License-Identifier: MIT */
/*
 * The plugin's section, in the terms of Dovecot's dovecot-sql.conf.ext:
 *
 *   [auth-sql-pgsql]
 *   connect = host=/run/postgresql dbname=mail user=poplar
 *   password-query = SELECT username AS user, password FROM mailbox
 *                    WHERE username = :user AND active = true
 *   user-query = ...            (optional: fields read after the check)
 *   default-scheme = CRYPT      (values without {SCHEME})
 *   max-connections = 4         (per worker process)
 *   timeout = 5s                (connect, wait, query)
 *   verify-cache = yes, verify-cache-ttl = 1h, verify-cache-size = 100000
 *
 * Nothing is sent to the database here: a database that is down at
 * start-up makes logins fail with [SYS/TEMP] until it is back.
 */
#include "auth-sql.h"

#include <string.h>

#define SQL_DEFAULT_SCHEME "CRYPT"
#define SQL_DEFAULT_MAX_CONNECTIONS 4
#define SQL_MAX_MAX_CONNECTIONS 256
#define SQL_DEFAULT_TIMEOUT_MS 5000
#define SQL_MAX_TIMEOUT_MS (5 * 60 * 1000)
/* As in auth-passwd-file: how long a verified password is trusted without
 * a hash, and how many users are remembered. */
#define SQL_DEFAULT_CACHE_TTL_MS (60 * 60 * 1000)
#define SQL_MAX_CACHE_TTL_MS (24 * 60 * 60 * 1000)
#define SQL_DEFAULT_CACHE_SIZE 100000
#define SQL_MAX_CACHE_SIZE 10000000

static bool read_query(PoplarConfig *config, const SqlDriver *driver,
                       const char *key, bool required, SqlSettings *s,
                       unsigned index)
{
  const char *text = poplar_config_get_string(config, key, NULL);
  if (!text || !text[0]) {
    if (required)
      poplar_config_error(config, key,
                          "is required: the query that finds a user's "
                          "password, e.g. SELECT password FROM users WHERE "
                          "name = :user");
    return !required;
  }
  g_autofree char *error = NULL;
  if (!sql_query_parse(text, driver->style, &s->queries[index], &error)) {
    poplar_config_error(config, key, "%s", error);
    return false;
  }
  s->n_queries = MAX(s->n_queries, index + 1);
  return true;
}

static bool read_cache(PoplarConfig *config, SqlSettings *s)
{
  bool ok = true;
  bool enabled = true;
  ok &= poplar_config_get_bool(config, "verify-cache", true, &enabled);
  uint64_t ttl = SQL_DEFAULT_CACHE_TTL_MS;
  if (poplar_config_get_duration(config, "verify-cache-ttl",
                                 SQL_DEFAULT_CACHE_TTL_MS, &ttl)) {
    if (ttl == 0) {
      poplar_config_error(config, "verify-cache-ttl",
                          "must be longer than 0 (to turn the cache off, "
                          "set verify-cache = no)");
      ok = false;
    } else if (ttl > SQL_MAX_CACHE_TTL_MS) {
      poplar_config_error(config, "verify-cache-ttl",
                          "is at most 1d: a password is checked against "
                          "the database's hash at least once a day");
      ok = false;
    }
  } else {
    ok = false;
  }
  long long n = SQL_DEFAULT_CACHE_SIZE;
  ok &= poplar_config_get_int(config, "verify-cache-size",
                              SQL_DEFAULT_CACHE_SIZE, 1, SQL_MAX_CACHE_SIZE,
                              &n);
  s->cache_ttl_ms = enabled ? ttl : 0;
  s->cache_size = (unsigned)n;
  return ok;
}

SqlSettings *sql_settings_read(PoplarConfig *config, const SqlDriver *driver)
{
  SqlSettings *s = g_new0(SqlSettings, 1);
  bool ok = true;

  /* The driver is the plugin loaded; the key is accepted so that a
   * section copied from Dovecot's terms reads as it says. */
  const char *name = poplar_config_get_string(config, "driver", NULL);
  if (name && strcmp(name, driver->name) != 0) {
    poplar_config_error(config, "driver",
                        "'%s' does not match this plugin, which is the %s "
                        "driver: load auth-sql-%s for %s",
                        name, driver->name, name, name);
    ok = false;
  }

  s->connect = poplar_config_get_string(config, "connect", NULL);
  if (!s->connect || !s->connect[0]) {
    poplar_config_error(config, "connect",
                        "is required: where the database is (see the "
                        "plugin's README for the %s form)", driver->name);
    ok = false;
  } else {
    g_autofree char *error = NULL;
    if (!driver->check_connect(s->connect, &error)) {
      poplar_config_error(config, "connect", "%s", error);
      ok = false;
    }
  }

  ok &= read_query(config, driver, "password-query", true, s,
                   SQL_QUERY_PASSWORD);
  ok &= read_query(config, driver, "user-query", false, s, SQL_QUERY_USER);

  s->default_scheme = poplar_config_get_string(config, "default-scheme",
                                               SQL_DEFAULT_SCHEME);
  if (!poplar_password_scheme_supported(s->default_scheme)) {
    poplar_config_error(config, "default-scheme",
                        "'%s' is not a password scheme this server knows "
                        "(e.g. CRYPT, SHA512-CRYPT, SSHA512, ARGON2ID, "
                        "PLAIN)", s->default_scheme);
    ok = false;
  }

  long long n = SQL_DEFAULT_MAX_CONNECTIONS;
  ok &= poplar_config_get_int(config, "max-connections",
                              SQL_DEFAULT_MAX_CONNECTIONS, 1,
                              SQL_MAX_MAX_CONNECTIONS, &n);
  s->max_connections = (unsigned)n;

  uint64_t timeout = SQL_DEFAULT_TIMEOUT_MS;
  if (poplar_config_get_duration(config, "timeout", SQL_DEFAULT_TIMEOUT_MS,
                                 &timeout)) {
    if (timeout < 100 || timeout > SQL_MAX_TIMEOUT_MS) {
      poplar_config_error(config, "timeout",
                          "must be between 100ms and 5min");
      ok = false;
    }
  } else {
    ok = false;
  }
  s->timeout_ms = timeout;

  ok &= read_cache(config, s);
  if (!ok) {
    sql_settings_free(s);
    return NULL;
  }
  return s;
}

void sql_settings_free(SqlSettings *s)
{
  if (!s)
    return;
  for (unsigned i = 0; i < SQL_QUERY_MAX; i++)
    sql_query_clear(&s->queries[i]);
  g_free(s);
}

/* ---- key=value connect strings ------------------------------------------- */

char **sql_connect_split(const char *connect, char **error)
{
  *error = NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
  const char *p = connect;
  for (;;) {
    while (g_ascii_isspace(*p))
      p++;
    if (!*p)
      break;
    const char *eq = p;
    while (*eq && *eq != '=' && !g_ascii_isspace(*eq))
      eq++;
    if (*eq != '=' || eq == p) {
      *error = g_strdup_printf("'%.*s' is not key=value", (int)(eq - p), p);
      break;
    }
    GString *value = g_string_new(NULL);
    const char *v = eq + 1;
    if (*v == '\'' || *v == '"') {
      char quote = *v++;
      while (*v && *v != quote) {
        if (*v == '\\' && v[1])
          v++;
        g_string_append_c(value, *v++);
      }
      if (*v != quote) {
        *error = g_strdup_printf("the value of %.*s is not closed",
                                 (int)(eq - p), p);
        explicit_bzero(value->str, value->len);
        g_string_free(value, TRUE);
        break;
      }
      v++;
    } else {
      while (*v && !g_ascii_isspace(*v))
        g_string_append_c(value, *v++);
    }
    g_ptr_array_add(out, g_strndup(p, (gsize)(eq - p)));
    g_ptr_array_add(out, g_string_free(value, FALSE));
    p = v;
  }
  if (*error) {
    for (guint i = 0; i < out->len; i++) {
      char *str = g_ptr_array_index(out, i);
      explicit_bzero(str, strlen(str));
    }
    g_ptr_array_unref(out);
    return NULL;
  }
  g_ptr_array_add(out, NULL);
  return (char **)g_ptr_array_free(out, FALSE);
}
