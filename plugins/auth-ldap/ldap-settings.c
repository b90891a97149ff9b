/* SPDX-License-Identifier: MIT */
/*
 * The [auth-ldap] section.  Every key is read before anything is judged,
 * so that one run of --check-config reports every mistake.
 */
#include "auth-ldap.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_FILTER "(&(objectClass=posixAccount)(uid=%u))"
#define DEFAULT_NETWORK_TIMEOUT_MS 5000
#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_MAX_CONNECTIONS 16
#define MAX_MAX_CONNECTIONS 1024
/* A bind password file holds one line; anything bigger is not one. */
#define PASSWORD_FILE_MAX 4096

void auth_ldap_settings_free(AuthLdapSettings *s)
{
  if (!s)
    return;
  g_free(s->uris);
  g_free(s->ca_file);
  g_free(s->dn_template);
  g_free(s->base);
  g_free(s->filter);
  g_free(s->bind_dn);
  if (s->bind_password) {
    explicit_bzero(s->bind_password, strlen(s->bind_password));
    g_free(s->bind_password);
  }
  g_free(s->user_attribute);
  g_free(s->home_attribute);
  g_free(s->mail_attribute);
  g_free(s->mail_template);
  g_free(s->uid_attribute);
  g_free(s->gid_attribute);
  g_free(s->password_attribute);
  g_free(s->password_scheme);
  if (s->fields) {
    for (guint i = 0; i < s->fields->len; i++) {
      AuthLdapField *f = g_ptr_array_index(s->fields, i);
      g_free(f->name);
      g_free(f->attribute);
      g_free(f);
    }
    g_ptr_array_unref(s->fields);
  }
  g_free(s);
}

static bool has_scheme(const char *uri, const char *scheme)
{
  return g_ascii_strncasecmp(uri, scheme, strlen(scheme)) == 0;
}

static bool is_loopback_uri(const char *uri)
{
  return has_scheme(uri, "ldapi://") ||
         has_scheme(uri, "ldap://127.") ||
         has_scheme(uri, "ldap://localhost") ||
         has_scheme(uri, "ldap://[::1]");
}

/* uri: one or more LDAP URLs; tls: how they are protected. */
static bool read_uris(PoplarConfig *config, AuthLdapSettings *s)
{
  bool ok = true;
  size_t n = 0;
  const char *const *uris = poplar_config_get_list(config, "uri", &n);
  const char *tls = poplar_config_get_string(config, "tls", NULL);
  if (n == 0) {
    poplar_config_error(config, "uri",
                        "is required: the LDAP server, e.g. uri = "
                        "ldap://ldap.example.org/ (several separated by ';' "
                        "are tried in turn)");
    return false;
  }
  unsigned ldaps = 0;
  bool all_loopback = true;
  for (size_t i = 0; i < n; i++) {
    LDAPURLDesc *desc = NULL;
    if (ldap_url_parse(uris[i], &desc) != LDAP_URL_SUCCESS ||
        !(has_scheme(uris[i], "ldap://") || has_scheme(uris[i], "ldaps://") ||
          has_scheme(uris[i], "ldapi://"))) {
      poplar_config_error(config, "uri",
                          "'%s' is not an LDAP URL (ldap://host[:port]/, "
                          "ldaps://... or ldapi://...)",
                          uris[i]);
      ok = false;
    } else if (desc->lud_dn && desc->lud_dn[0]) {
      poplar_config_error(config, "uri",
                          "'%s' names a DN: give the server only, and the "
                          "search base with base =",
                          uris[i]);
      ok = false;
    }
    if (desc)
      ldap_free_urldesc(desc);
    ldaps += has_scheme(uris[i], "ldaps://");
    all_loopback &= is_loopback_uri(uris[i]);
  }
  s->uris = g_strjoinv(" ", (char **)uris);

  if (!tls)
    s->tls = ldaps == n ? AUTH_LDAP_TLS_LDAPS : AUTH_LDAP_TLS_NO;
  else if (g_ascii_strcasecmp(tls, "no") == 0)
    s->tls = AUTH_LDAP_TLS_NO;
  else if (g_ascii_strcasecmp(tls, "starttls") == 0)
    s->tls = AUTH_LDAP_TLS_STARTTLS;
  else if (g_ascii_strcasecmp(tls, "ldaps") == 0)
    s->tls = AUTH_LDAP_TLS_LDAPS;
  else {
    poplar_config_error(config, "tls",
                        "'%s' is not one of no, starttls, ldaps", tls);
    return false;
  }
  if (s->tls == AUTH_LDAP_TLS_LDAPS && ldaps != n) {
    poplar_config_error(config, "tls",
                        "ldaps needs every uri to be an ldaps:// URL");
    ok = false;
  }
  if (s->tls != AUTH_LDAP_TLS_LDAPS && ldaps > 0) {
    poplar_config_error(config, "tls",
                        "is %s, but an ldaps:// uri means TLS from the first "
                        "byte: set tls = ldaps, or use ldap:// URLs",
                        s->tls == AUTH_LDAP_TLS_NO ? "no" : "starttls");
    ok = false;
  }
  if (ok && s->tls == AUTH_LDAP_TLS_NO && !all_loopback)
    poplar_config_warning(config, "tls",
                          "is no: users' passwords cross the network to the "
                          "LDAP server in clear (set tls = starttls or use "
                          "ldaps:// URLs)");
  return ok;
}

static bool read_tls_files(PoplarConfig *config, AuthLdapSettings *s)
{
  const char *ca = poplar_config_get_string(config, "ca-file", NULL);
  if (!ca)
    return true;
  if (s->tls == AUTH_LDAP_TLS_NO) {
    poplar_config_warning(config, "ca-file", "is not used without tls");
    return true;
  }
  if (ca[0] != '/') {
    poplar_config_error(config, "ca-file", "'%s' must be an absolute path",
                        ca);
    return false;
  }
  if (access(ca, R_OK) != 0) {
    poplar_config_error(config, "ca-file", "%s: %s", ca, g_strerror(errno));
    return false;
  }
  s->ca_file = g_strdup(ca);
  return true;
}

/* The first line of @path, the bind password. */
static char *read_password_file(PoplarConfig *config, const char *path)
{
  g_autoptr(GError) error = NULL;
  char *text = NULL;
  gsize len = 0;
  if (!g_file_get_contents(path, &text, &len, &error)) {
    poplar_config_error(config, "bind-password-file", "%s", error->message);
    return NULL;
  }
  if (len > PASSWORD_FILE_MAX || strlen(text) != len) {
    poplar_config_error(config, "bind-password-file",
                        "%s: not a password file (one line expected)",
                        path);
    explicit_bzero(text, len);
    g_free(text);
    return NULL;
  }
  text[strcspn(text, "\r\n")] = '\0';
  return text;
}

static bool read_lookup(PoplarConfig *config, AuthLdapSettings *s)
{
  bool ok = true;
  const char *dn_template =
      poplar_config_get_string(config, "dn-template", NULL);
  const char *base = poplar_config_get_string(config, "base", NULL);
  const char *filter = poplar_config_get_string(config, "filter", NULL);
  const char *scope = poplar_config_get_string(config, "scope", NULL);
  const char *bind_dn = poplar_config_get_string(config, "bind-dn", NULL);
  const char *password =
      poplar_config_get_string(config, "bind-password", NULL);
  const char *password_file =
      poplar_config_get_string(config, "bind-password-file", NULL);

  if (!dn_template == !base) {
    poplar_config_error(config, dn_template ? "base" : NULL,
                        "set either dn-template (bind as "
                        "uid=%%u,ou=people,...) or base (search for the "
                        "user's entry, then bind as it), not %s",
                        dn_template ? "both" : "neither");
    ok = false;
  }
  char why[POPLAR_EXPAND_ERROR_SIZE];
  unsigned used = 0;
  if (dn_template) {
    if (!poplar_expand_check(dn_template, AUTH_LDAP_TEMPLATE_VARIABLES, &used,
                             why, sizeof why) ||
        !used) {
      poplar_config_error(config, "dn-template", "'%s': %s", dn_template,
                          !used && !why[0] ? "does not use the user name (%u)"
                                           : why);
      ok = false;
    }
    if (filter || scope) {
      poplar_config_error(config, filter ? "filter" : "scope",
                          "is only used with base (a search); "
                          "dn-template binds without one");
      ok = false;
    }
  }
  s->filter = g_strdup(filter ? filter : DEFAULT_FILTER);
  if (!poplar_expand_check(s->filter, AUTH_LDAP_TEMPLATE_VARIABLES, &used,
                           why, sizeof why)) {
    poplar_config_error(config, "filter", "'%s': %s", s->filter, why);
    ok = false;
  } else if (!used || s->filter[0] != '(' ||
             s->filter[strlen(s->filter) - 1] != ')') {
    poplar_config_error(config, "filter", "'%s': %s", s->filter,
                        "must be a parenthesised LDAP filter that uses the "
                        "user name (%u)");
    ok = false;
  }
  s->scope = LDAP_SCOPE_SUBTREE;
  if (scope) {
    if (g_ascii_strcasecmp(scope, "sub") == 0)
      s->scope = LDAP_SCOPE_SUBTREE;
    else if (g_ascii_strcasecmp(scope, "one") == 0)
      s->scope = LDAP_SCOPE_ONELEVEL;
    else if (g_ascii_strcasecmp(scope, "base") == 0)
      s->scope = LDAP_SCOPE_BASE;
    else {
      poplar_config_error(config, "scope",
                          "'%s' is not one of sub, one, base", scope);
      ok = false;
    }
  }
  s->dn_template = g_strdup(dn_template);
  s->base = g_strdup(base);

  if (password && password_file) {
    poplar_config_error(config, "bind-password-file",
                        "set bind-password or bind-password-file, not both");
    ok = false;
  }
  if ((password || password_file) && !bind_dn) {
    poplar_config_error(config, password ? "bind-password"
                                         : "bind-password-file",
                        "is set without bind-dn");
    ok = false;
  }
  if (bind_dn) {
    char *secret = password_file ? read_password_file(config, password_file)
                                 : g_strdup(password);
    if (!secret && password_file)
      ok = false;
    else if (!secret || !secret[0]) {
      /* A DN with an empty password is an unauthenticated bind, which
       * servers accept as anonymous: never what was meant. */
      poplar_config_error(config, "bind-dn",
                          "needs a password (bind-password or "
                          "bind-password-file): a bind with an empty "
                          "password is anonymous");
      ok = false;
    }
    s->bind_password = secret;
    s->bind_dn = g_strdup(bind_dn);
  }
  return ok;
}

static bool attribute_name_valid(const char *name)
{
  if (!g_ascii_isalpha(name[0]))
    return false;
  for (const char *p = name; *p; p++) {
    if (!g_ascii_isalnum(*p) && *p != '-' && *p != ';')
      return false;
  }
  return true;
}

static char *read_attribute(PoplarConfig *config, const char *key, bool *ok)
{
  const char *name = poplar_config_get_string(config, key, NULL);
  if (!name)
    return NULL;
  if (!attribute_name_valid(name)) {
    poplar_config_error(config, key, "'%s' is not an attribute name", name);
    *ok = false;
    return NULL;
  }
  return g_strdup(name);
}

static bool read_attributes(PoplarConfig *config, AuthLdapSettings *s)
{
  bool ok = true;
  s->user_attribute = read_attribute(config, "user-attribute", &ok);
  s->home_attribute = read_attribute(config, "home-attribute", &ok);
  s->mail_attribute = read_attribute(config, "mail-attribute", &ok);
  s->uid_attribute = read_attribute(config, "uid-attribute", &ok);
  s->gid_attribute = read_attribute(config, "gid-attribute", &ok);
  const char *mail_template =
      poplar_config_get_string(config, "mail-template", NULL);
  if (mail_template && !s->mail_attribute) {
    poplar_config_error(config, "mail-template",
                        "is set without mail-attribute");
    ok = false;
  } else if (mail_template && !strstr(mail_template, "%$")) {
    poplar_config_error(config, "mail-template",
                        "'%s' does not use the attribute's value (%%$), "
                        "e.g. mail-template = maildir:%%$",
                        mail_template);
    ok = false;
  }
  s->mail_template = g_strdup(mail_template ? mail_template : "%$");

  s->fields = g_ptr_array_new();
  size_t n = 0;
  const char *const *items = poplar_config_get_list(config, "fields", &n);
  for (size_t i = 0; i < n; i++) {
    const char *eq = strchr(items[i], '=');
    g_autofree char *name =
        eq ? g_strstrip(g_strndup(items[i], (gsize)(eq - items[i]))) : NULL;
    g_autofree char *attr = eq ? g_strstrip(g_strdup(eq + 1)) : NULL;
    if (!eq || !name[0] || !attribute_name_valid(attr)) {
      poplar_config_error(config, "fields",
                          "'%s' is not name=attribute (e.g. fields = "
                          "quota=mailQuota; uid=uidNumber)",
                          items[i]);
      ok = false;
      continue;
    }
    AuthLdapField *f = g_new0(AuthLdapField, 1);
    f->name = g_steal_pointer(&name);
    f->attribute = g_steal_pointer(&attr);
    g_ptr_array_add(s->fields, f);
  }
  return ok;
}

/* password-attribute mode needs the entry before any bind: a search as
 * bind-dn, which must be allowed to read the attribute. */
static bool read_password_check(PoplarConfig *config, AuthLdapSettings *s)
{
  bool ok = true;
  s->password_attribute = read_attribute(config, "password-attribute", &ok);
  const char *scheme =
      poplar_config_get_string(config, "default-password-scheme", NULL);
  if (scheme && !s->password_attribute) {
    poplar_config_error(config, "default-password-scheme",
                        "is set without password-attribute");
    ok = false;
  } else if (scheme && !poplar_password_scheme_supported(scheme)) {
    poplar_config_error(config, "default-password-scheme",
                        "'%s' is not a password scheme this server knows "
                        "(e.g. CRYPT, SSHA512, ARGON2ID, PLAIN)",
                        scheme);
    ok = false;
  }
  s->password_scheme = g_strdup(scheme ? scheme : "CRYPT");
  if (s->password_attribute && (!s->base || !s->bind_dn)) {
    poplar_config_error(config, "password-attribute",
                        "needs base and bind-dn: the entry and its stored "
                        "password are read by a search as bind-dn before "
                        "the password is checked");
    ok = false;
  }
  return ok;
}

static bool read_limits(PoplarConfig *config, AuthLdapSettings *s)
{
  bool ok = true;
  ok &= poplar_config_get_duration(config, "network-timeout",
                                   DEFAULT_NETWORK_TIMEOUT_MS,
                                   &s->network_timeout_ms);
  ok &= poplar_config_get_duration(config, "timeout", DEFAULT_TIMEOUT_MS,
                                   &s->timeout_ms);
  long long max = DEFAULT_MAX_CONNECTIONS;
  ok &= poplar_config_get_int(config, "max-connections",
                              DEFAULT_MAX_CONNECTIONS, 1, MAX_MAX_CONNECTIONS,
                              &max);
  s->max_connections = (unsigned)max;
  if (ok && (s->network_timeout_ms == 0 || s->timeout_ms == 0)) {
    poplar_config_error(config, s->timeout_ms ? "network-timeout" : "timeout",
                        "must be longer than 0: a login must never wait "
                        "for ever on the directory");
    ok = false;
  }
  return ok;
}

AuthLdapSettings *auth_ldap_settings_read(PoplarConfig *config)
{
  AuthLdapSettings *s = g_new0(AuthLdapSettings, 1);
  bool ok = true;
  ok &= read_uris(config, s);
  ok &= read_tls_files(config, s);
  ok &= read_lookup(config, s);
  ok &= read_attributes(config, s);
  ok &= read_password_check(config, s);
  ok &= read_limits(config, s);
  if (!ok) {
    auth_ldap_settings_free(s);
    return NULL;
  }
  return s;
}

char **auth_ldap_settings_attributes(const AuthLdapSettings *s)
{
  GPtrArray *attrs = g_ptr_array_new();
  const char *singles[] = {s->user_attribute, s->home_attribute,
                           s->mail_attribute, s->uid_attribute,
                           s->gid_attribute, s->password_attribute};
  for (size_t i = 0; i < G_N_ELEMENTS(singles); i++) {
    if (singles[i])
      g_ptr_array_add(attrs, (char *)singles[i]);
  }
  for (guint i = 0; i < s->fields->len; i++) {
    AuthLdapField *f = g_ptr_array_index(s->fields, i);
    g_ptr_array_add(attrs, f->attribute);
  }
  /* RFC 4511 section 4.5.1.8: "1.1" asks for no attributes at all. */
  if (attrs->len == 0)
    g_ptr_array_add(attrs, (char *)"1.1");
  g_ptr_array_add(attrs, NULL);
  return (char **)g_ptr_array_free(attrs, FALSE);
}
