/* SPDX-License-Identifier: MIT */
/*
 * libsasl2 (Cyrus SASL) for the whole process.
 *
 * Threads: libsasl2's global state (sasl_set_mutex, sasl_server_init,
 * sasl_server_done, the plugin list it loads) is not thread-safe, so it is
 * set up and torn down only from the plugin's init and fini, which the
 * core runs on the main thread before the first session and after the
 * last.  Everything else works on a connection context (sasl_conn_t) of
 * its own, one per exchange or password check, used by one plugin thread
 * at a time: libsasl2 supports that, provided it has real mutexes for the
 * little it shares (its mechanism list, auxprop lookups), which
 * sasl_set_mutex() gives it here.  The callbacks below read only settings
 * that stay unchanged while the library runs.
 */
#include "auth-sasl.h"

#include <sasl/saslplug.h>
#include <stdio.h>
#include <string.h>

/* Log lines carry at most this much of a client's or the library's text. */
#define AUTH_SASL_LOG_TEXT_MAX 200

static const SaslSettings *running; /* set while the library is started */
static bool mutexes_set;

/* ---- mutexes -------------------------------------------------------------- */

static void *mutex_alloc(void)
{
  GMutex *m = g_new0(GMutex, 1);
  g_mutex_init(m);
  return m;
}

static int mutex_lock(void *m)
{
  g_mutex_lock(m);
  return SASL_OK;
}

static int mutex_unlock(void *m)
{
  g_mutex_unlock(m);
  return SASL_OK;
}

static void mutex_free(void *m)
{
  g_mutex_clear(m);
  g_free(m);
}

/* ---- the options libsasl2 asks for ------------------------------------------ */

static int answer(const char *value, const char **result, unsigned *len)
{
  if (!value)
    return SASL_FAIL;
  *result = value;
  if (len)
    *len = (unsigned)strlen(value);
  return SASL_OK;
}

/* What this plugin sets overrides /etc/sasl2/poplar.conf; libsasl2 reads
 * that file for everything else (SASL_FAIL here). */
static int get_option(void *context, const char *plugin_name,
                      const char *option, const char **result, unsigned *len)
{
  const SaslSettings *s = context;
  bool auxprop = s->pwcheck == SASL_PWCHECK_AUXPROP;
  (void)plugin_name;
  if (!option || !result)
    return SASL_BADPARAM;
  if (strcmp(option, "pwcheck_method") == 0)
    return answer(auxprop ? "auxprop" : "saslauthd", result, len);
  if (strcmp(option, "auxprop_plugin") == 0)
    return answer(auxprop ? "sasldb" : NULL, result, len);
  if (strcmp(option, "sasldb_path") == 0)
    return answer(auxprop ? s->sasldb : NULL, result, len);
  if (strcmp(option, "saslauthd_path") == 0)
    return answer(auxprop ? NULL : s->saslauthd_path, result, len);
  /* Up to SASL_LOG_NOTE: authentication failures and their causes, not
   * protocol traces (SASL_LOG_PASS would log passwords). */
  if (strcmp(option, "log_level") == 0)
    return answer("4", result, len);
  return SASL_FAIL;
}

/* ---- the library's log ---------------------------------------------------- */

char *auth_sasl_loggable(const char *text, size_t len)
{
  GString *out = g_string_new(NULL);
  for (size_t i = 0; i < len && text[i]; i++) {
    unsigned char ch = (unsigned char)text[i];
    if (out->len >= AUTH_SASL_LOG_TEXT_MAX) {
      g_string_append(out, "...");
      break;
    }
    if (ch < 0x20 || ch == 0x7f)
      g_string_append_printf(out, "\\x%02x", ch);
    else
      g_string_append_c(out, (char)ch);
  }
  return g_string_free(out, FALSE);
}

static void log_line(const SaslSettings *s, PoplarSession *session, int level,
                     const char *message)
{
  PoplarLogLevel ours;
  switch (level) {
  case SASL_LOG_ERR:
    ours = POPLAR_LOG_ERROR;
    break;
  case SASL_LOG_WARN:
    ours = POPLAR_LOG_WARNING;
    break;
  case SASL_LOG_FAIL: /* a failed authentication: the client's doing */
  case SASL_LOG_NOTE:
    ours = POPLAR_LOG_INFO;
    break;
  case SASL_LOG_DEBUG:
  case SASL_LOG_TRACE:
    ours = POPLAR_LOG_DEBUG;
    break;
  default: /* SASL_LOG_PASS and anything unknown: may hold a password */
    return;
  }
  g_autofree char *text = auth_sasl_loggable(message ? message : "",
                                             SIZE_MAX);
  if (session)
    poplar_session_log(session, s->plugin, ours, "libsasl2: %s", text);
  else
    poplar_log(s->plugin, ours, "libsasl2: %s", text);
}

static int global_log(void *context, int level, const char *message)
{
  log_line(context, NULL, level, message);
  return SASL_OK;
}

static int conn_log(void *context, int level, const char *message)
{
  const SaslConn *c = context;
  log_line(c->settings, c->session, level, message);
  return SASL_OK;
}

/* ---- start and stop -------------------------------------------------------- */

static sasl_callback_t global_callbacks[] = {
    {SASL_CB_GETOPT, NULL, NULL},
    {SASL_CB_LOG, NULL, NULL},
    {SASL_CB_LIST_END, NULL, NULL},
};

bool auth_sasl_library_start(const SaslSettings *s, char **error)
{
  g_return_val_if_fail(running == NULL, false);
  if (!mutexes_set) {
    /* Once per process, before the first init: libsasl2 keeps the
     * functions for good. */
    sasl_set_mutex(mutex_alloc, mutex_lock, mutex_unlock, mutex_free);
    mutexes_set = true;
  }
  global_callbacks[0].proc = (int (*)(void))(void (*)(void))get_option;
  global_callbacks[0].context = (void *)s;
  global_callbacks[1].proc = (int (*)(void))(void (*)(void))global_log;
  global_callbacks[1].context = (void *)s;
  running = s;
  int r = sasl_server_init(global_callbacks, AUTH_SASL_APP_NAME);
  if (r != SASL_OK) {
    /* A failed sasl_server_init() has undone itself. */
    *error = g_strdup_printf("libsasl2 did not start: %s",
                             sasl_errstring(r, NULL, NULL));
    running = NULL;
    return false;
  }
  return true;
}

void auth_sasl_library_stop(void)
{
  if (!running)
    return;
  sasl_server_done();
  running = NULL;
}

const char *auth_sasl_library_version(void)
{
  const char *implementation = NULL;
  const char *version = NULL;
  sasl_version_info(&implementation, &version, NULL, NULL, NULL, NULL);
  return version ? version : "?";
}

/* ---- connection contexts ---------------------------------------------------- */

SaslConn *auth_sasl_conn_new(const SaslSettings *s, PoplarSession *session,
                             char **error)
{
  SaslConn *c = g_new0(SaslConn, 1);
  c->settings = s;
  c->session = session;
  c->callbacks[0].id = SASL_CB_LOG;
  c->callbacks[0].proc = (int (*)(void))(void (*)(void))conn_log;
  c->callbacks[0].context = c;
  c->callbacks[1].id = SASL_CB_LIST_END;
  /* SASL_SUCCESS_DATA: a mechanism's last words (SCRAM's server
   * signature) come with SASL_OK; the core sends them as a challenge that
   * the client answers with an empty line (RFC 5034 section 4). */
  int r = sasl_server_new(s->service, s->hostname, s->realm, NULL, NULL,
                          c->callbacks, SASL_SUCCESS_DATA, &c->conn);
  if (r != SASL_OK) {
    *error = g_strdup_printf("sasl_server_new: %s",
                             c->conn ? sasl_errdetail(c->conn)
                                     : sasl_errstring(r, NULL, NULL));
    auth_sasl_conn_free(c);
    return NULL;
  }
  /* No security layer: TLS protects the connection, and the core has no
   * place for one.  Anonymous logins have no account to open. */
  sasl_security_properties_t props = {
      .min_ssf = 0,
      .max_ssf = 0,
      .maxbufsize = 0,
      .security_flags = SASL_SEC_NOANONYMOUS,
      .property_names = NULL,
      .property_values = NULL,
  };
  r = sasl_setprop(c->conn, SASL_SEC_PROPS, &props);
  if (r != SASL_OK) {
    *error = g_strdup_printf("sasl_setprop(SASL_SEC_PROPS): %s",
                             sasl_errdetail(c->conn));
    auth_sasl_conn_free(c);
    return NULL;
  }
  return c;
}

void auth_sasl_conn_free(SaslConn *c)
{
  if (!c)
    return;
  if (c->conn)
    sasl_dispose(&c->conn);
  g_free(c);
}

const char *auth_sasl_conn_error(const SaslConn *c)
{
  const char *detail = sasl_errdetail(c->conn);
  return detail ? detail : "no details";
}

char *auth_sasl_conn_account(const SaslConn *c)
{
  const void *value = NULL;
  if (sasl_getprop(c->conn, SASL_USERNAME, &value) != SASL_OK || !value ||
      !((const char *)value)[0])
    return NULL;
  const char *name = value;
  const SaslSettings *s = c->settings;
  if (s->strip_realm && s->realm) {
    const char *at = strrchr(name, '@');
    if (at && at != name && strcmp(at + 1, s->realm) == 0)
      return g_strndup(name, (gsize)(at - name));
  }
  return g_strdup(name);
}

void auth_sasl_apply_account(const SaslSettings *s, PoplarAuthRequest *req,
                             const char *account)
{
  const char *asked = poplar_auth_request_user(req);
  if (!asked || strcmp(asked, account) != 0)
    poplar_auth_request_set_user(req, account);
  if (s->mail)
    poplar_auth_request_set_mail(req, s->mail);
}

/* ---- the mechanisms on offer ------------------------------------------------- */

void auth_sasl_mech_info_free(void *info)
{
  SaslMechInfo *m = info;
  if (!m)
    return;
  g_free(m->name);
  g_free(m);
}

static void collect_flags(server_sasl_mechanism_t *m,
                          sasl_info_callback_stage_t stage, void *rock)
{
  GHashTable *flags = rock;
  if (stage != SASL_INFO_LIST_MECH || !m || !m->plug || !m->plug->mech_name)
    return;
  g_hash_table_insert(flags, g_ascii_strup(m->plug->mech_name, -1),
                      GUINT_TO_POINTER(m->plug->security_flags));
}

GPtrArray *auth_sasl_library_mechanisms(const SaslSettings *s, char **error)
{
  SaslConn *probe = auth_sasl_conn_new(s, NULL, error);
  if (!probe)
    return NULL;
  const char *list = NULL;
  unsigned len = 0;
  int count = 0;
  int r = sasl_listmech(probe->conn, NULL, "", " ", "", &list, &len, &count);
  if (r != SASL_OK && r != SASL_NOMECH) {
    *error = g_strdup_printf("sasl_listmech: %s",
                             auth_sasl_conn_error(probe));
    auth_sasl_conn_free(probe);
    return NULL;
  }
  g_autoptr(GHashTable) flags =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  /* The security flags say which mechanisms send the password itself. */
  sasl_server_plugin_info(NULL, collect_flags, flags);

  GPtrArray *out = g_ptr_array_new_with_free_func(auth_sasl_mech_info_free);
  g_auto(GStrv) names = g_strsplit(r == SASL_OK && list ? list : "", " ", -1);
  for (char **n = names; *n; n++) {
    if (!**n)
      continue;
    SaslMechInfo *m = g_new0(SaslMechInfo, 1);
    m->name = g_ascii_strup(*n, -1);
    gpointer f = NULL;
    unsigned sec = 0;
    if (g_hash_table_lookup_extended(flags, m->name, NULL, &f))
      sec = GPOINTER_TO_UINT(f);
    else
      sec = 0; /* unknown: treated as plaintext, the cautious side */
    m->plaintext = !(sec & SASL_SEC_NOPLAINTEXT);
    g_ptr_array_add(out, m);
  }
  auth_sasl_conn_free(probe);
  return out;
}

/* ---- result codes -------------------------------------------------------------- */

PoplarSaslStatus auth_sasl_exchange_status(int code)
{
  switch (code) {
  case SASL_OK:
  case SASL_TRANS: /* succeeded, and a secret was added for next time */
    return POPLAR_SASL_OK;
  case SASL_CONTINUE:
    return POPLAR_SASL_CONTINUE;
  case SASL_BADPROT:
  case SASL_BADPARAM:
    return POPLAR_SASL_MALFORMED;
  case SASL_BADAUTH:
  case SASL_NOUSER:
  case SASL_NOAUTHZ:
  case SASL_TOOWEAK:
  case SASL_ENCRYPT:
  case SASL_EXPIRED:
  case SASL_DISABLED:
  case SASL_PWLOCK:
  case SASL_NOVERIFY:
  case SASL_NOUSERPASS:
  case SASL_BADBINDING:
  case SASL_WRONGMECH:
    return POPLAR_SASL_DENIED;
  default:
    /* SASL_FAIL, SASL_NOMEM, SASL_NOMECH (the mechanism vanished or is
     * misconfigured), SASL_TRYAGAIN, SASL_UNAVAIL (saslauthd or a
     * directory down), SASL_NOTINIT, SASL_CONFIGERR...: nothing the
     * client did wrong. */
    return POPLAR_SASL_TEMPFAIL;
  }
}

PoplarPassdbResult auth_sasl_passdb_result(int code)
{
  switch (code) {
  case SASL_OK:
  case SASL_TRANS:
    return POPLAR_PASSDB_OK;
  case SASL_NOUSER:
    return POPLAR_PASSDB_NO_SUCH_USER;
  case SASL_BADAUTH:
  case SASL_BADPARAM:
  case SASL_BADPROT:
  case SASL_NOAUTHZ:
  case SASL_TOOWEAK:
  case SASL_ENCRYPT:
  case SASL_EXPIRED:
  case SASL_DISABLED:
  case SASL_PWLOCK:
  case SASL_NOVERIFY:
  case SASL_NOUSERPASS:
    return POPLAR_PASSDB_DENIED;
  default:
    return POPLAR_PASSDB_TEMPFAIL;
  }
}
