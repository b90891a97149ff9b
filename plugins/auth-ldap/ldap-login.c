/* SPDX-License-Identifier: MIT */
/*
 * One login against the directory.
 *
 *   search mode  (base): find the user's entry with the search connection
 *                (bound as bind-dn), then bind as that entry's DN with the
 *                password on a bind connection, or, with
 *                password-attribute, check the entry's stored password
 *                (ldap-password.c)
 *   template mode (dn-template): bind as the DN made from the name; then
 *                read the entry's attributes as the user
 *
 * The client gets the same answer, after the same round trips, for an
 * unknown user as for a wrong password: an unknown user still costs a
 * bind (of a DN that does not exist).  An empty password is refused before
 * anything is sent: a simple bind with a DN and no password is an
 * "unauthenticated bind" (RFC 4513 section 5.1.2) that many servers answer
 * with success.
 *
 * A master login's lookup (no password) runs the same steps without the
 * bind: the entry is found, or read by its DN, on the search connection,
 * and its attributes give what a login gives.
 */
#include "auth-ldap.h"

#include <stdarg.h>
#include <string.h>
#include <sys/time.h>

/* How a login ended, before it is turned into a passdb answer. */
typedef struct Attempt {
  AuthLdap *a;
  PoplarAuthRequest *req;
  const char *user;
  const char *shown;    /* the user name, escaped for logs */
  const char *password;
  bool stale;           /* a reused connection found the server gone */
  char *stale_why;
} Attempt;

static void auth_log(const Attempt *t, PoplarLogLevel level,
                     const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static void auth_log(const Attempt *t, PoplarLogLevel level,
                     const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  poplar_session_log(poplar_auth_request_session(t->req), t->a->plugin,
                     level, "%s", msg);
}

static struct timeval op_timeout(const AuthLdap *a)
{
  uint64_t ms = a->settings->timeout_ms;
  return (struct timeval){.tv_sec = (time_t)(ms / 1000),
                          .tv_usec = (suseconds_t)(ms % 1000) * 1000};
}

/* A connection could not be lent (connect, StartTLS, service bind). */
static PoplarPassdbResult take_failed(Attempt *t, char *error)
{
  auth_log(t, POPLAR_LOG_ERROR, "user '%s': LDAP unavailable: %s", t->shown,
           error);
  g_free(error);
  return POPLAR_PASSDB_TEMPFAIL;
}

/* @setting could not be expanded for this user.  The template was checked
 * at start-up, so this is a server fault, not the client's. */
static PoplarPassdbResult expand_failed(Attempt *t, const char *setting,
                                        const char *why)
{
  auth_log(t, POPLAR_LOG_ERROR, "user '%s': %s: %s", t->shown, setting, why);
  return POPLAR_PASSDB_TEMPFAIL;
}

/* An operation on @conn failed with @rc, a failure of the connection or
 * the server: the connection is closed, and a reused one earns a retry. */
static PoplarPassdbResult op_failed(Attempt *t, AuthLdapPool *pool,
                                    AuthLdapConn *conn, int rc,
                                    const char *what)
{
  g_autofree char *why = auth_ldap_error_text(conn->ld, rc);
  bool reused = conn->reused;
  auth_ldap_pool_give_back(pool, conn, false);
  if (reused && auth_ldap_classify(rc) == AUTH_LDAP_FAIL_DOWN) {
    t->stale = true;
    g_free(t->stale_why);
    t->stale_why = g_strdup_printf("%s: %s", what, why);
    return POPLAR_PASSDB_TEMPFAIL;
  }
  auth_log(t, POPLAR_LOG_ERROR, "user '%s': %s at %s failed: %s", t->shown,
           what, t->a->settings->uris, why);
  return POPLAR_PASSDB_TEMPFAIL;
}

/* Binds a DN that does not exist with the password, so that an unknown
 * user costs the round trip a known one does.  Its answer is of no
 * interest, unless the connection broke. */
static void dummy_bind(Attempt *t)
{
  AuthLdapFailure failure;
  char *error = NULL;
  AuthLdapConn *c = auth_ldap_pool_take(&t->a->bind, &failure, &error);
  if (!c) {
    g_free(error);
    return;
  }
  int rc = auth_ldap_simple_bind(c->ld, t->a->dummy_dn, t->password);
  auth_ldap_pool_give_back(&t->a->bind, c,
                           auth_ldap_classify(rc) == AUTH_LDAP_FAIL_NONE);
}

/* ---- the entry's attributes -------------------------------------------- */

static bool value_usable(const struct berval *v)
{
  if (v->bv_len == 0)
    return false;
  for (ber_len_t i = 0; i < v->bv_len; i++) {
    unsigned char c = (unsigned char)v->bv_val[i];
    if (c < 0x20 || c == 0x7f)
      return false;
  }
  return true;
}

/* The first value of each attribute of @entry, keyed by the attribute's
 * name in lower case (LDAP names are case-insensitive). */
static GHashTable *entry_values(Attempt *t, LDAP *ld, LDAPMessage *entry)
{
  GHashTable *values =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  BerElement *ber = NULL;
  for (char *attr = ldap_first_attribute(ld, entry, &ber); attr;
       attr = ldap_next_attribute(ld, entry, ber)) {
    struct berval **vals = ldap_get_values_len(ld, entry, attr);
    if (vals && vals[0]) {
      if (value_usable(vals[0]))
        g_hash_table_insert(values, g_ascii_strdown(attr, -1),
                            g_strndup(vals[0]->bv_val, vals[0]->bv_len));
      else
        auth_log(t, POPLAR_LOG_WARNING,
                 "user '%s': attribute %s is empty or holds control "
                 "characters: ignored",
                 t->shown, attr);
    }
    ldap_value_free_len(vals);
    ldap_memfree(attr);
  }
  if (ber)
    ber_free(ber, 0);
  return values;
}

static const char *value_of(GHashTable *values, const char *attribute)
{
  if (!values || !attribute)
    return NULL;
  g_autofree char *key = g_ascii_strdown(attribute, -1);
  return g_hash_table_lookup(values, key);
}

/* "%$" in the mail template becomes the attribute's value, with its own
 * '%' doubled so that the server does not expand them. */
static char *mail_location(const char *tmpl, const char *value)
{
  g_auto(GStrv) parts = g_strsplit(value, "%", -1);
  g_autofree char *escaped = g_strjoinv("%%", parts);
  g_auto(GStrv) around = g_strsplit(tmpl, "%$", -1);
  return g_strjoinv(escaped, around);
}

static void apply_values(Attempt *t, GHashTable *values)
{
  const AuthLdapSettings *s = t->a->settings;
  PoplarAuthRequest *req = t->req;
  const char *name = value_of(values, s->user_attribute);
  if (name && strcmp(name, t->user) != 0)
    poplar_auth_request_set_user(req, name);
  const char *home = value_of(values, s->home_attribute);
  if (home && home[0] == '/')
    poplar_auth_request_set_home(req, home);
  else if (home)
    auth_log(t, POPLAR_LOG_WARNING,
             "user '%s': %s '%s' is not an absolute path: ignored", t->shown,
             s->home_attribute, home);
  const char *mail = value_of(values, s->mail_attribute);
  if (mail) {
    g_autofree char *location = mail_location(s->mail_template, mail);
    poplar_auth_request_set_mail(req, location);
  }
  const char *uid = value_of(values, s->uid_attribute);
  if (uid)
    poplar_auth_request_set_field(req, "uid", uid);
  const char *gid = value_of(values, s->gid_attribute);
  if (gid)
    poplar_auth_request_set_field(req, "gid", gid);
  for (guint i = 0; i < s->fields->len; i++) {
    const AuthLdapField *f = g_ptr_array_index(s->fields, i);
    const char *v = value_of(values, f->attribute);
    if (v)
      poplar_auth_request_set_field(req, f->name, v);
  }
}

static bool wants_attributes(const AuthLdap *a)
{
  return strcmp(a->attributes[0], "1.1") != 0;
}

/* ---- the steps ------------------------------------------------------------ */

/* Template mode, after a refused bind: asks the search connection whether
 * the DN exists, to tell an unknown user (the next database may know it)
 * from a wrong password.  Only with bind-dn: an anonymous search could be
 * denied the entry and take a real user for an unknown one. */
static PoplarPassdbResult unknown_or_denied(Attempt *t, const char *dn)
{
  AuthLdap *a = t->a;
  if (!a->settings->bind_dn)
    return POPLAR_PASSDB_DENIED;
  AuthLdapFailure failure;
  char *error = NULL;
  AuthLdapConn *c = auth_ldap_pool_take(&a->search, &failure, &error);
  if (!c) {
    auth_log(t, POPLAR_LOG_WARNING,
             "user '%s': cannot check whether %s exists: %s", t->shown, dn,
             error);
    g_free(error);
    return POPLAR_PASSDB_DENIED;
  }
  struct timeval tv = op_timeout(a);
  LDAPMessage *res = NULL;
  char *none[] = {(char *)"1.1", NULL};
  int rc = ldap_search_ext_s(c->ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)",
                             none, 0, NULL, NULL, &tv, 1, &res);
  int entries = rc == LDAP_SUCCESS ? ldap_count_entries(c->ld, res) : 0;
  ldap_msgfree(res);
  auth_ldap_pool_give_back(&a->search, c,
                           auth_ldap_classify(rc) == AUTH_LDAP_FAIL_NONE);
  if (rc == LDAP_NO_SUCH_OBJECT || (rc == LDAP_SUCCESS && entries == 0))
    return POPLAR_PASSDB_NO_SUCH_USER;
  return POPLAR_PASSDB_DENIED;
}

/* Reads @dn's entry on @c, taken from @pool, and applies its attributes.
 * @c always goes back (or is dropped by op_failed()).  When the server
 * answers but returns no entry, *@missing describes why and the result
 * is for the caller to decide. */
static PoplarPassdbResult read_entry(Attempt *t, AuthLdapPool *pool,
                                     AuthLdapConn *c, const char *dn,
                                     char **missing)
{
  AuthLdap *a = t->a;
  *missing = NULL;
  struct timeval tv = op_timeout(a);
  LDAPMessage *res = NULL;
  int rc = ldap_search_ext_s(c->ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)",
                             a->attributes, 0, NULL, NULL, &tv, 1, &res);
  if (auth_ldap_classify(rc) != AUTH_LDAP_FAIL_NONE) {
    ldap_msgfree(res);
    return op_failed(t, pool, c, rc, "reading the user's entry");
  }
  LDAPMessage *entry =
      rc == LDAP_SUCCESS ? ldap_first_entry(c->ld, res) : NULL;
  if (!entry) {
    *missing = rc == LDAP_SUCCESS ? g_strdup("no entry returned")
                                  : auth_ldap_error_text(c->ld, rc);
    ldap_msgfree(res);
    auth_ldap_pool_give_back(pool, c, true);
    return POPLAR_PASSDB_TEMPFAIL;
  }
  GHashTable *values = entry_values(t, c->ld, entry);
  ldap_msgfree(res);
  auth_ldap_pool_give_back(pool, c, true);
  apply_values(t, values);
  g_hash_table_unref(values);
  return POPLAR_PASSDB_OK;
}

/* Template mode, after a successful bind: the entry read as the user. */
static PoplarPassdbResult read_own_entry(Attempt *t, AuthLdapConn *c,
                                         const char *dn)
{
  g_autofree char *missing = NULL;
  PoplarPassdbResult r = read_entry(t, &t->a->bind, c, dn, &missing);
  if (missing) {
    /* The mail location would silently fall back to the default one: a
     * different mailbox.  Better no login than the wrong mailbox. */
    auth_log(t, POPLAR_LOG_ERROR,
             "user '%s': bound as %s but cannot read the entry's "
             "attributes (%s): does the directory let users read their own "
             "entry?",
             t->shown, dn, missing);
    return POPLAR_PASSDB_TEMPFAIL;
  }
  return r;
}

/* Binds as @dn with the password.  @values: the attributes found by the
 * search (search mode), or NULL (template mode: read after the bind). */
static PoplarPassdbResult bind_as_user(Attempt *t, const char *dn,
                                       GHashTable *values)
{
  AuthLdap *a = t->a;
  AuthLdapFailure failure;
  char *error = NULL;
  AuthLdapConn *c = auth_ldap_pool_take(&a->bind, &failure, &error);
  if (!c)
    return take_failed(t, error);
  int rc = auth_ldap_simple_bind(c->ld, dn, t->password);
  if (auth_ldap_classify(rc) != AUTH_LDAP_FAIL_NONE)
    return op_failed(t, &a->bind, c, rc, "bind as the user");
  if (rc != LDAP_SUCCESS) {
    g_autofree char *why = auth_ldap_error_text(c->ld, rc);
    auth_ldap_pool_give_back(&a->bind, c, true);
    PoplarPassdbResult r =
        values ? POPLAR_PASSDB_DENIED : unknown_or_denied(t, dn);
    if (r == POPLAR_PASSDB_NO_SUCH_USER)
      auth_log(t, POPLAR_LOG_INFO, "unknown user '%s' (no entry %s)",
               t->shown, dn);
    else
      auth_log(t, POPLAR_LOG_INFO, "user '%s': wrong password (bind as %s: "
               "%s)", t->shown, dn, why);
    return r;
  }
  if (!values && wants_attributes(a))
    return read_own_entry(t, c, dn);
  auth_ldap_pool_give_back(&a->bind, c, true);
  if (values)
    apply_values(t, values);
  return POPLAR_PASSDB_OK;
}

/* Template mode, for a master login (no password): the DN's entry read
 * on the search connection, bound as bind-dn (or anonymous). */
static PoplarPassdbResult look_up_dn(Attempt *t, const char *dn)
{
  AuthLdap *a = t->a;
  AuthLdapFailure failure;
  char *error = NULL;
  AuthLdapConn *c = auth_ldap_pool_take(&a->search, &failure, &error);
  if (!c)
    return take_failed(t, error);
  g_autofree char *missing = NULL;
  PoplarPassdbResult r = read_entry(t, &a->search, c, dn, &missing);
  if (missing) {
    /* Without bind-dn the search is anonymous, and a directory that hides
     * entries from anonymous readers looks like one without the user. */
    auth_log(t, POPLAR_LOG_INFO, "unknown user '%s' for a master login (no "
             "entry %s readable as %s: %s)", t->shown, dn,
             a->settings->bind_dn ? a->settings->bind_dn : "anonymous",
             missing);
    return POPLAR_PASSDB_NO_SUCH_USER;
  }
  return r;
}

static PoplarPassdbResult login_by_template(Attempt *t)
{
  char why[POPLAR_EXPAND_ERROR_SIZE];
  g_autofree char *dn = poplar_expand(
      t->a->settings->dn_template, t->user, NULL, AUTH_LDAP_TEMPLATE_VARIABLES,
      auth_ldap_escape_dn_value, NULL, why, sizeof why);
  if (!dn)
    return expand_failed(t, "dn-template", why);
  if (!t->password)
    return look_up_dn(t, dn);
  return bind_as_user(t, dn, NULL);
}

static PoplarPassdbResult login_by_search(Attempt *t)
{
  AuthLdap *a = t->a;
  const AuthLdapSettings *s = a->settings;
  char why[POPLAR_EXPAND_ERROR_SIZE];
  g_autofree char *filter = poplar_expand(
      s->filter, t->user, NULL, AUTH_LDAP_TEMPLATE_VARIABLES,
      auth_ldap_escape_filter_value, NULL, why, sizeof why);
  if (!filter)
    return expand_failed(t, "filter", why);
  AuthLdapFailure failure;
  char *error = NULL;
  AuthLdapConn *c = auth_ldap_pool_take(&a->search, &failure, &error);
  if (!c)
    return take_failed(t, error);

  struct timeval tv = op_timeout(a);
  LDAPMessage *res = NULL;
  /* A size limit of 2: one entry is the user, two mean the filter is
   * ambiguous, and more would only cost time. */
  int rc = ldap_search_ext_s(c->ld, s->base, s->scope, filter, a->attributes,
                             0, NULL, NULL, &tv, 2, &res);
  if (auth_ldap_classify(rc) != AUTH_LDAP_FAIL_NONE) {
    ldap_msgfree(res);
    return op_failed(t, &a->search, c, rc, "search for the user");
  }
  if (rc == LDAP_NO_SUCH_OBJECT) {
    ldap_msgfree(res);
    auth_ldap_pool_give_back(&a->search, c, true);
    auth_log(t, POPLAR_LOG_ERROR,
             "user '%s': the search base '%s' does not exist at %s",
             t->shown, s->base, s->uris);
    return POPLAR_PASSDB_TEMPFAIL;
  }
  int entries = ldap_count_entries(c->ld, res);
  if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
    g_autofree char *text = auth_ldap_error_text(c->ld, rc);
    ldap_msgfree(res);
    auth_ldap_pool_give_back(&a->search, c, true);
    auth_log(t, POPLAR_LOG_ERROR, "user '%s': search %s under %s: %s",
             t->shown, filter, s->base, text);
    return POPLAR_PASSDB_TEMPFAIL;
  }
  if (entries != 1) {
    ldap_msgfree(res);
    auth_ldap_pool_give_back(&a->search, c, true);
    /* A master login (no password) has no password to spend time on. */
    if (t->password && s->password_attribute)
      auth_ldap_burn_dummy(a, t->password);
    else if (t->password)
      dummy_bind(t);
    if (entries == 0) {
      auth_log(t, POPLAR_LOG_INFO, "unknown user '%s' (no entry matches "
               "%s under %s)", t->shown, filter, s->base);
      return POPLAR_PASSDB_NO_SUCH_USER;
    }
    auth_log(t, POPLAR_LOG_ERROR,
             "user '%s': several entries match %s under %s: login refused "
             "(make the filter match one entry per user)",
             t->shown, filter, s->base);
    return POPLAR_PASSDB_DENIED;
  }
  LDAPMessage *entry = ldap_first_entry(c->ld, res);
  char *dn = ldap_get_dn(c->ld, entry);
  GHashTable *values = entry_values(t, c->ld, entry);
  ldap_msgfree(res);
  auth_ldap_pool_give_back(&a->search, c, true);
  PoplarPassdbResult r = POPLAR_PASSDB_TEMPFAIL;
  if (dn && dn[0] && !t->password) {
    apply_values(t, values);
    r = POPLAR_PASSDB_OK;
  } else if (dn && dn[0] && s->password_attribute) {
    r = auth_ldap_check_stored(a, t->req, t->shown,
                               value_of(values, s->password_attribute),
                               t->password);
    if (r == POPLAR_PASSDB_OK)
      apply_values(t, values);
  } else if (dn && dn[0])
    r = bind_as_user(t, dn, values);
  else
    auth_log(t, POPLAR_LOG_ERROR, "user '%s': the entry found has no DN",
             t->shown);
  g_hash_table_unref(values);
  if (dn)
    ldap_memfree(dn);
  return r;
}

static bool has_control_char(const char *s)
{
  for (; *s; s++) {
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return true;
  }
  return false;
}

static bool user_name_acceptable(const Attempt *t)
{
  if (strlen(t->user) <= AUTH_LDAP_USER_MAX && !has_control_char(t->user))
    return true;
  auth_log(t, POPLAR_LOG_INFO,
           "user name '%s' refused: control characters or longer than %d "
           "octets", t->shown, AUTH_LDAP_USER_MAX);
  return false;
}

/* Runs the login (or lookup, when t->password is NULL), once more on new
 * connections when a reused one found the server gone. */
static PoplarPassdbResult run_with_retry(Attempt *t)
{
  AuthLdap *a = t->a;
  PoplarPassdbResult r = POPLAR_PASSDB_TEMPFAIL;
  for (int attempt = 0; attempt < 2; attempt++) {
    t->stale = false;
    r = a->settings->dn_template ? login_by_template(t)
                                 : login_by_search(t);
    if (!t->stale)
      break;
    /* Every connection made before is as stale as this one. */
    auth_ldap_pool_invalidate(&a->search);
    auth_ldap_pool_invalidate(&a->bind);
    if (attempt == 0)
      auth_log(t, POPLAR_LOG_INFO, "LDAP connection lost (%s): retrying "
               "on a new connection", t->stale_why);
    else
      auth_log(t, POPLAR_LOG_ERROR, "user '%s': LDAP at %s unavailable: "
               "%s", t->shown, a->settings->uris, t->stale_why);
  }
  g_free(t->stale_why);
  t->stale_why = NULL;
  return r;
}

PoplarPassdbResult auth_ldap_verify(AuthLdap *a, PoplarAuthRequest *req,
                                    const char *user, const char *password)
{
  g_autofree char *shown = auth_ldap_loggable(user);
  Attempt t = {
      .a = a, .req = req, .user = user, .shown = shown, .password = password,
  };
  if (!user_name_acceptable(&t))
    return POPLAR_PASSDB_NO_SUCH_USER;
  if (!password || !password[0]) {
    auth_log(&t, POPLAR_LOG_INFO,
             "user '%s': empty password refused (an LDAP bind without a "
             "password is anonymous)", shown);
    return POPLAR_PASSDB_DENIED;
  }
  return run_with_retry(&t);
}

PoplarPassdbResult auth_ldap_lookup(AuthLdap *a, PoplarAuthRequest *req,
                                    const char *user)
{
  g_autofree char *shown = auth_ldap_loggable(user);
  Attempt t = {.a = a, .req = req, .user = user, .shown = shown};
  if (!user_name_acceptable(&t))
    return POPLAR_PASSDB_NO_SUCH_USER;
  return run_with_retry(&t);
}


AuthLdap *auth_ldap_new(PoplarPlugin *plugin, AuthLdapSettings *settings)
{
  AuthLdap *a = g_new0(AuthLdap, 1);
  a->plugin = plugin;
  a->settings = settings;
  a->attributes = auth_ldap_settings_attributes(settings);
  auth_ldap_pool_init(&a->search, settings, plugin, "search", true);
  auth_ldap_pool_init(&a->bind, settings, plugin, "bind", false);
  /* Under the base (or beside the users) so that the server treats it
   * like any other DN it does not hold. */
  const char *suffix = settings->base;
  if (!suffix) {
    const char *comma = strchr(settings->dn_template, ',');
    suffix = comma ? comma + 1 : "";
  }
  a->dummy_dn = g_strdup_printf("cn=poplar-no-such-user%s%s",
                                suffix[0] ? "," : "", suffix);
  pthread_mutex_init(&a->dummy_lock, NULL);
  return a;
}

void auth_ldap_free(AuthLdap *a)
{
  if (!a)
    return;
  auth_ldap_pool_clear(&a->search);
  auth_ldap_pool_clear(&a->bind);
  g_free(a->attributes);
  g_free(a->dummy_dn);
  pthread_mutex_destroy(&a->dummy_lock);
  g_free(a->dummy_stored);
  auth_ldap_settings_free(a->settings);
  g_free(a);
}
