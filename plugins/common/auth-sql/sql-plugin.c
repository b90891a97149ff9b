/* SPDX-License-Identifier: MIT */
/*
 * The password database every driver's plugin registers: USER/PASS and
 * SASL PLAIN/LOGIN (verify_plain).  Passwords are checked here, with
 * libpoplar's schemes, never by the database; APOP is not offered (it
 * needs plaintext secrets, which a user database should not hold).
 */
#include "auth-sql.h"

static PoplarPassdbResult auth_sql_verify_plain(void *data,
                                                PoplarAuthRequest *req,
                                                const char *password)
{
  const char *user = poplar_auth_request_user(req);
  if (!user || !user[0])
    return POPLAR_PASSDB_NO_SUCH_USER;
  return auth_sql_verify(data, req, user, password ? password : "");
}

static PoplarPassdbResult auth_sql_lookup_user(void *data,
                                               PoplarAuthRequest *req)
{
  const char *user = poplar_auth_request_user(req);
  if (!user || !user[0])
    return POPLAR_PASSDB_NO_SUCH_USER;
  return auth_sql_verify(data, req, user, NULL);
}

static void auth_sql_destroy(void *data)
{
  auth_sql_free(data);
}

static const PoplarPassdbOps auth_sql_ops = {
    .verify_plain = auth_sql_verify_plain,
    .destroy = auth_sql_destroy,
    .lookup_user = auth_sql_lookup_user,
};

bool auth_sql_plugin_init(PoplarPlugin *plugin, PoplarConfig *config,
                          const SqlDriver *driver)
{
  SqlSettings *s = sql_settings_read(config, driver);
  if (!s)
    return false;
  g_autofree char *error = NULL;
  AuthSql *a = auth_sql_new(plugin, driver, s, &error);
  if (!a) {
    poplar_config_error(config, "verify-cache", "%s", error);
    return false;
  }
  g_autofree char *name = g_strconcat("sql-", driver->name, NULL);
  if (!poplar_register_passdb(plugin, name, &auth_sql_ops,
                              sizeof auth_sql_ops, a)) {
    auth_sql_free(a);
    return false;
  }
  poplar_log(plugin, POPLAR_LOG_INFO,
             "%s database (%s), up to %u connections, timeout %" G_GUINT64_FORMAT
             " ms, verify cache %s",
             driver->name, driver->library, s->max_connections,
             s->timeout_ms, s->cache_ttl_ms ? "on" : "off");
  return true;
}
