/* SPDX-License-Identifier: MIT */
/*
 * auth-passwd-file: the server's built-in password database.  Reads the
 * [auth-passwd-file] section, loads the file, and answers USER/PASS, SASL
 * PLAIN/LOGIN (verify_plain) and APOP (lookup_secret) from it.
 *
 * Every failed login is logged at info level with its cause, never with
 * the password.  The client sees the same reply, after the same work, for
 * an unknown user as for a wrong password.
 */
#include "passwd-file.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

/* How often the file is checked for changes unless configured. */
#define PW_DEFAULT_RELOAD_INTERVAL_MS 1000
/* User names from clients are cut to this in log lines. */
#define PW_LOG_USER_MAX 64
/* The verify cache: how long a verified password is trusted without a
 * hash, and how many users are remembered (about 100 octets each, plus
 * the user name). */
#define PW_DEFAULT_CACHE_TTL_MS (60 * 60 * 1000)
#define PW_MAX_CACHE_TTL_MS (24 * 60 * 60 * 1000)
#define PW_DEFAULT_CACHE_SIZE 100000
#define PW_MAX_CACHE_SIZE 10000000

/* A user name fit for a log line: control bytes escaped, length capped,
 * since it comes from the client when the user is unknown. */
static char *loggable_user(const char *user)
{
  g_autofree char *cut = g_strndup(user, PW_LOG_USER_MAX);
  char *escaped = g_strescape(cut, NULL);
  if (strlen(user) > PW_LOG_USER_MAX) {
    char *longer = g_strconcat(escaped, "...", NULL);
    g_free(escaped);
    escaped = longer;
  }
  return escaped;
}

static void auth_log(const PwDb *db, PoplarAuthRequest *req,
                     PoplarLogLevel level, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

static void auth_log(const PwDb *db, PoplarAuthRequest *req,
                     PoplarLogLevel level, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  poplar_session_log(poplar_auth_request_session(req), db->plugin, level,
                     "%s", msg);
}

/* Hands the entry's home, mail location and fields to the request. */
static void apply_entry(PoplarAuthRequest *req, const PwEntry *e)
{
  const char *asked = poplar_auth_request_user(req);
  if (!asked || strcmp(asked, e->user) != 0)
    poplar_auth_request_set_user(req, e->user);
  if (e->home)
    poplar_auth_request_set_home(req, e->home);
  if (e->mail)
    poplar_auth_request_set_mail(req, e->mail);
  if (e->uid)
    poplar_auth_request_set_field(req, "uid", e->uid);
  if (e->gid)
    poplar_auth_request_set_field(req, "gid", e->gid);
  for (char **f = e->fields; f && f[0]; f += 2)
    poplar_auth_request_set_field(req, f[0], f[1]);
}

/* Whether a check of @e costs a hash: a hashed entry, or a {PLAIN} one
 * that pays for the dummy hash.  Only those gain from the cache. */
static bool check_is_costly(const PwTable *t, const PwEntry *e)
{
  return e->password.kind == PW_KIND_HASH ||
         (e->password.kind == PW_KIND_PLAIN &&
          t->dummy.kind == PW_KIND_HASH);
}

/* The full check of @password against @e: its scheme's hash, and for a
 * {PLAIN} entry the dummy hash as well when the file's typical entry is
 * hashed, or {PLAIN} users would stand out. */
static PwCheck check_in_full(const PwTable *t, const PwEntry *e,
                             const char *password, char **error)
{
  PwCheck check = pw_password_check(&e->password, password, error);
  if (e->password.kind == PW_KIND_PLAIN && t->dummy.kind == PW_KIND_HASH)
    pw_table_burn_dummy(t, password);
  return check;
}

static PoplarPassdbResult verify_in_table(PwPassdb *pdb, const PwTable *t,
                                          PoplarAuthRequest *req,
                                          const char *user,
                                          const char *password)
{
  PwDb *db = pdb->db;
  g_autofree char *shown = loggable_user(user);
  const PwEntry *e = pw_table_lookup(t, user);

  if (strlen(password) > PW_PASSWORD_MAX) {
    /* crypt(3) refuses it whoever the user is: no hashing either way. */
    auth_log(db, req, POPLAR_LOG_INFO,
             "user '%s': password longer than %d octets refused", shown,
             PW_PASSWORD_MAX);
    return e ? POPLAR_PASSDB_DENIED : POPLAR_PASSDB_NO_SUCH_USER;
  }
  if (!e) {
    /* As much work as checking a real password of this file, so that the
     * time of the reply does not tell which user names exist. */
    pw_table_burn_dummy(t, password);
    auth_log(db, req, POPLAR_LOG_INFO, "unknown user '%s' (not in %s)",
             shown, db->path);
    return POPLAR_PASSDB_NO_SUCH_USER;
  }
  if (e->password.kind == PW_KIND_NONE) {
    pw_table_burn_dummy(t, password);
    auth_log(db, req, POPLAR_LOG_INFO,
             "user '%s' has no password (%s line %u): login refused", shown,
             db->path, e->line);
    return POPLAR_PASSDB_DENIED;
  }

  /* Only a right password is ever answered from the cache; any other
   * attempt costs the full check, as it does without a cache. */
  VerifyCacheDigest digest;
  bool cacheable = pdb->cache && check_is_costly(t, e) &&
                   verify_cache_digest(pdb->cache,
                                       (unsigned char)e->password.kind,
                                       e->password.value, password,
                                       &digest);
  PwCheck check;
  g_autofree char *failure = NULL;
  if (cacheable && verify_cache_match(pdb->cache, e->user, &digest)) {
    check = PW_CHECK_MATCH;
    auth_log(db, req, POPLAR_LOG_DEBUG,
             "user '%s': password verified from the cache", shown);
  } else {
    check = check_in_full(t, e, password, &failure);
    if (cacheable && check == PW_CHECK_MATCH)
      verify_cache_remember(pdb->cache, e->user, &digest);
    else if (cacheable && check == PW_CHECK_MISMATCH)
      /* A wrong password makes the next right one pay for a full check
       * again: a cached password is never trusted past a failure. */
      verify_cache_forget(pdb->cache, e->user);
  }
  explicit_bzero(&digest, sizeof digest);

  switch (check) {
  case PW_CHECK_FAILED:
    auth_log(db, req, POPLAR_LOG_ERROR,
             "user '%s': checking the password of %s line %u failed: %s",
             shown, db->path, e->line, failure);
    return POPLAR_PASSDB_TEMPFAIL;
  case PW_CHECK_MISMATCH:
    auth_log(db, req, POPLAR_LOG_INFO, "user '%s': wrong password", shown);
    return POPLAR_PASSDB_DENIED;
  case PW_CHECK_MATCH:
    break;
  }
  /* nologin is looked at only after the password is right, so that it
   * tells nothing to someone who does not know the password. */
  if (e->nologin) {
    auth_log(db, req, POPLAR_LOG_INFO,
             "user '%s' is marked nologin (%s line %u): login refused", shown,
             db->path, e->line);
    if (e->reason)
      poplar_auth_request_set_reason(req, "AUTH", e->reason);
    return POPLAR_PASSDB_DENIED;
  }
  apply_entry(req, e);
  return POPLAR_PASSDB_OK;
}

static PoplarPassdbResult passwd_file_verify_plain(void *data,
                                                   PoplarAuthRequest *req,
                                                   const char *password)
{
  PwPassdb *pdb = data;
  const char *user = poplar_auth_request_user(req);
  if (!user || !user[0])
    return POPLAR_PASSDB_NO_SUCH_USER;
  pw_db_maybe_reload(pdb->db);
  PwTable *t = pw_db_snapshot(pdb->db);
  if (!t)
    return POPLAR_PASSDB_TEMPFAIL;
  PoplarPassdbResult r =
      verify_in_table(pdb, t, req, user, password ? password : "");
  pw_table_unref(t);
  return r;
}

/* APOP needs the secret itself: only {PLAIN} entries have one.  A user
 * whose password is hashed gets DENIED rather than NO_SUCH_USER: the user
 * exists here, and another database must not answer for the same name. */
static PoplarPassdbResult lookup_in_table(PwDb *db, const PwTable *t,
                                          PoplarAuthRequest *req,
                                          const char *user)
{
  g_autofree char *shown = loggable_user(user);
  const PwEntry *e = pw_table_lookup(t, user);
  if (!e) {
    auth_log(db, req, POPLAR_LOG_INFO, "unknown user '%s' (not in %s)",
             shown, db->path);
    return POPLAR_PASSDB_NO_SUCH_USER;
  }
  if (e->password.kind != PW_KIND_PLAIN) {
    auth_log(db, req, POPLAR_LOG_INFO,
             "user '%s': %s needs a {PLAIN} password, and %s line %u has "
             "%s: login refused",
             shown, poplar_auth_request_mechanism(req), db->path, e->line,
             e->password.kind == PW_KIND_NONE ? "none" : "a hash");
    return POPLAR_PASSDB_DENIED;
  }
  if (e->nologin) {
    /* No reason given: the client has not proved it knows the secret. */
    auth_log(db, req, POPLAR_LOG_INFO,
             "user '%s' is marked nologin (%s line %u): login refused", shown,
             db->path, e->line);
    return POPLAR_PASSDB_DENIED;
  }
  char *secret = pw_password_secret(&e->password);
  if (!secret) {
    auth_log(db, req, POPLAR_LOG_ERROR,
             "user '%s': cannot read the {PLAIN} password of %s line %u",
             shown, db->path, e->line);
    return POPLAR_PASSDB_TEMPFAIL;
  }
  poplar_auth_request_set_secret(req, secret);
  explicit_bzero(secret, strlen(secret));
  g_free(secret);
  apply_entry(req, e);
  return POPLAR_PASSDB_OK;
}

static PoplarPassdbResult passwd_file_lookup_secret(void *data,
                                                    PoplarAuthRequest *req)
{
  PwDb *db = ((PwPassdb *)data)->db;
  const char *user = poplar_auth_request_user(req);
  if (!user || !user[0])
    return POPLAR_PASSDB_NO_SUCH_USER;
  pw_db_maybe_reload(db);
  PwTable *t = pw_db_snapshot(db);
  if (!t)
    return POPLAR_PASSDB_TEMPFAIL;
  PoplarPassdbResult r = lookup_in_table(db, t, req, user);
  pw_table_unref(t);
  return r;
}

/* A master user's login as this user: the entry's fields, no password. */
static PoplarPassdbResult passwd_file_lookup_user(void *data,
                                                  PoplarAuthRequest *req)
{
  PwDb *db = ((PwPassdb *)data)->db;
  const char *user = poplar_auth_request_user(req);
  if (!user || !user[0])
    return POPLAR_PASSDB_NO_SUCH_USER;
  pw_db_maybe_reload(db);
  PwTable *t = pw_db_snapshot(db);
  if (!t)
    return POPLAR_PASSDB_TEMPFAIL;
  const PwEntry *e = pw_table_lookup(t, user);
  PoplarPassdbResult r = POPLAR_PASSDB_NO_SUCH_USER;
  if (e && e->nologin) {
    g_autofree char *shown = loggable_user(user);
    auth_log(db, req, POPLAR_LOG_INFO,
             "user '%s' is marked nologin (%s line %u): master login "
             "refused", shown, db->path, e->line);
    r = POPLAR_PASSDB_DENIED;
  } else if (e) {
    apply_entry(req, e);
    r = POPLAR_PASSDB_OK;
  }
  pw_table_unref(t);
  return r;
}

static void pw_passdb_free(PwPassdb *pdb)
{
  if (!pdb)
    return;
  verify_cache_free(pdb->cache);
  pw_db_free(pdb->db);
  g_free(pdb);
}

static void passwd_file_destroy(void *data)
{
  pw_passdb_free(data);
}

static const PoplarPassdbOps passwd_file_ops = {
    .verify_plain = passwd_file_verify_plain,
    .lookup_secret = passwd_file_lookup_secret,
    .destroy = passwd_file_destroy,
    .lookup_user = passwd_file_lookup_user,
};

/* Reads the verify-cache keys.  *@ttl_ms is 0 when the cache is off. */
static bool read_cache_config(PoplarConfig *config, uint64_t *ttl_ms,
                              unsigned *size)
{
  bool ok = true;
  bool enabled = true;
  ok &= poplar_config_get_bool(config, "verify-cache", true, &enabled);
  uint64_t ttl = PW_DEFAULT_CACHE_TTL_MS;
  if (poplar_config_get_duration(config, "verify-cache-ttl",
                                 PW_DEFAULT_CACHE_TTL_MS, &ttl)) {
    if (ttl == 0) {
      poplar_config_error(config, "verify-cache-ttl",
                          "must be longer than 0 (to turn the cache off, "
                          "set verify-cache = no)");
      ok = false;
    } else if (ttl > PW_MAX_CACHE_TTL_MS) {
      poplar_config_error(config, "verify-cache-ttl",
                          "is at most 1d: a password is checked against "
                          "the file's hash at least once a day");
      ok = false;
    }
  } else {
    ok = false;
  }
  long long n = PW_DEFAULT_CACHE_SIZE;
  ok &= poplar_config_get_int(config, "verify-cache-size",
                              PW_DEFAULT_CACHE_SIZE, 1, PW_MAX_CACHE_SIZE,
                              &n);
  *ttl_ms = enabled ? ttl : 0;
  *size = (unsigned)n;
  return ok;
}

static bool passwd_file_init(PoplarPlugin *plugin, PoplarConfig *config)
{
  /* Read every key before giving up, so one run reports every mistake. */
  bool ok = true;
  const char *path = poplar_config_get_string(config, "path", NULL);
  bool lowercase = false;
  ok &= poplar_config_get_bool(config, "lowercase-usernames", false,
                               &lowercase);
  uint64_t interval_ms = PW_DEFAULT_RELOAD_INTERVAL_MS;
  ok &= poplar_config_get_duration(config, "reload-interval",
                                   PW_DEFAULT_RELOAD_INTERVAL_MS,
                                   &interval_ms);
  if (ok && interval_ms > (uint64_t)G_MAXINT64 / 1000) {
    poplar_config_error(config, "reload-interval", "is too long");
    ok = false;
  }
  uint64_t cache_ttl_ms = 0;
  unsigned cache_size = 0;
  ok &= read_cache_config(config, &cache_ttl_ms, &cache_size);
  if (!path || !path[0]) {
    poplar_config_error(config, "path",
                        "is required: the passwd-file holding the users, "
                        "e.g. path = /etc/poplar/users");
    return false;
  }
  if (path[0] != '/') {
    poplar_config_error(config, "path",
                        "'%s' must be an absolute path (the server does not "
                        "run from the configuration's directory)",
                        path);
    return false;
  }
  if (!ok)
    return false;

  PwPassdb *pdb = g_new0(PwPassdb, 1);
  pdb->db = pw_db_new(plugin, path, lowercase,
                      (gint64)interval_ms * G_TIME_SPAN_MILLISECOND);
  if (cache_ttl_ms) {
    g_autofree char *error = NULL;
    pdb->cache = verify_cache_new(
        cache_size, (gint64)cache_ttl_ms * G_TIME_SPAN_MILLISECOND, &error);
    if (!pdb->cache) {
      poplar_config_error(config, "verify-cache", "%s", error);
      pw_passdb_free(pdb);
      return false;
    }
  }
  g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
  if (!pw_db_load_initial(pdb->db, problems)) {
    for (guint i = 0; i < problems->len; i++)
      poplar_config_error(config, "path", "%s",
                          (const char *)g_ptr_array_index(problems, i));
    pw_passdb_free(pdb);
    return false;
  }
  if (!poplar_register_passdb(plugin, "passwd-file", &passwd_file_ops,
                              sizeof passwd_file_ops, pdb)) {
    pw_passdb_free(pdb);
    return false;
  }
  return true;
}

POPLAR_PLUGIN_DEFINE(auth_passwd_file, "0.1.0",
                     "Users and passwords from a passwd-like file", NULL,
                     passwd_file_init, NULL)
