/* SPDX-License-Identifier: MIT */
/*
 * The [auth-sasl] section.  Every key is read before any is judged, so one
 * run of poplard --check-config reports every mistake.  Whether the named
 * mechanisms exist is only known once libsasl2 runs: sasl-plugin.c checks
 * that.
 */
#include "auth-sasl.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool service_name_valid(const char *name)
{
  if (!name[0])
    return false;
  for (const char *p = name; *p; p++) {
    if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '.')
      return false;
  }
  return true;
}

static bool has_space_or_control(const char *s)
{
  for (; *s; s++) {
    if ((unsigned char)*s <= 0x20 || *s == 0x7f)
      return true;
  }
  return false;
}

static bool mech_name_valid(const char *name)
{
  size_t len = strlen(name);
  if (len == 0 || len > AUTH_SASL_MECH_NAME_MAX)
    return false;
  for (const char *p = name; *p; p++) {
    if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_')
      return false;
  }
  return true;
}

static bool read_mechanisms(PoplarConfig *config, SaslSettings *s)
{
  size_t n = 0;
  const char *const *items = poplar_config_get_list(config, "mechanisms", &n);
  if (!poplar_config_has_key(config, "mechanisms"))
    return true;
  if (n == 0) {
    poplar_config_error(config, "mechanisms",
                        "is empty: leave it out to offer every mechanism "
                        "libsasl2 has, or list some (e.g. SCRAM-SHA-256; "
                        "PLAIN)");
    return false;
  }
  bool ok = true;
  GPtrArray *names = g_ptr_array_new();
  for (size_t i = 0; i < n; i++) {
    if (!mech_name_valid(items[i])) {
      poplar_config_error(config, "mechanisms",
                          "'%s' is not a SASL mechanism name (up to %d "
                          "letters, digits, '-' and '_')",
                          items[i], AUTH_SASL_MECH_NAME_MAX);
      ok = false;
      continue;
    }
    char *upper = g_ascii_strup(items[i], -1);
    bool dup = false;
    for (guint j = 0; j < names->len; j++)
      dup |= strcmp(g_ptr_array_index(names, j), upper) == 0;
    if (dup) {
      poplar_config_warning(config, "mechanisms", "'%s' is listed twice",
                            items[i]);
      g_free(upper);
      continue;
    }
    g_ptr_array_add(names, upper);
  }
  g_ptr_array_add(names, NULL);
  s->mechanisms = (char **)g_ptr_array_free(names, FALSE);
  return ok;
}

static bool read_pwcheck(PoplarConfig *config, SaslSettings *s)
{
  const char *v = poplar_config_get_string(config, "pwcheck-method",
                                           "auxprop");
  if (g_ascii_strcasecmp(v, "auxprop") == 0) {
    s->pwcheck = SASL_PWCHECK_AUXPROP;
    return true;
  }
  if (g_ascii_strcasecmp(v, "saslauthd") == 0) {
    s->pwcheck = SASL_PWCHECK_SASLAUTHD;
    return true;
  }
  poplar_config_error(config, "pwcheck-method",
                      "'%s' is not one of auxprop (users in the sasldb "
                      "file), saslauthd",
                      v);
  return false;
}

/* The server has dropped its privileges when init runs: what it cannot
 * read now, it can never read. */
static bool check_sasldb(PoplarConfig *config, const SaslSettings *s,
                         bool configured)
{
  const char *key = configured ? "sasldb" : NULL;
  struct stat st;
  if (stat(s->sasldb, &st) != 0) {
    poplar_config_error(config, key,
                        "the sasldb '%s' cannot be used: %s (create it with "
                        "saslpasswd2 -f %s -u REALM -c USER%s)",
                        s->sasldb, g_strerror(errno), s->sasldb,
                        configured ? "" : ", or set sasldb = PATH");
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    poplar_config_error(config, key, "the sasldb '%s' is not a file",
                        s->sasldb);
    return false;
  }
  if (access(s->sasldb, R_OK) != 0) {
    poplar_config_error(config, key,
                        "the sasldb '%s' is not readable by the server's "
                        "user: %s",
                        s->sasldb, g_strerror(errno));
    return false;
  }
  return true;
}

bool auth_sasl_settings_read(PoplarConfig *config, SaslSettings *s)
{
  bool ok = true;
  const char *service = poplar_config_get_string(config, "service",
                                                 AUTH_SASL_DEFAULT_SERVICE);
  const char *realm = poplar_config_get_string(config, "realm", NULL);
  const char *hostname = poplar_config_get_string(config, "hostname", NULL);
  ok &= read_mechanisms(config, s);
  ok &= read_pwcheck(config, s);
  const char *sasldb = poplar_config_get_string(config, "sasldb", NULL);
  const char *saslauthd_path =
      poplar_config_get_string(config, "saslauthd-path", NULL);
  const char *mail = poplar_config_get_string(config, "mail", NULL);
  ok &= poplar_config_get_bool(config, "strip-realm", true, &s->strip_realm);

  if (!service_name_valid(service)) {
    poplar_config_error(config, "service",
                        "'%s' is not a SASL service name (letters, digits, "
                        "'-', '_', '.'; POP3's is pop)",
                        service);
    ok = false;
  }
  if (realm && (!realm[0] || has_space_or_control(realm))) {
    poplar_config_error(config, "realm",
                        "'%s' is not a realm: leave it out for the host "
                        "name, or give the one saslpasswd2 -u used",
                        realm);
    ok = false;
  }
  if (hostname && (!hostname[0] || has_space_or_control(hostname))) {
    poplar_config_error(config, "hostname", "'%s' is not a host name",
                        hostname);
    ok = false;
  }
  if (mail && !mail[0]) {
    poplar_config_error(config, "mail",
                        "is empty: leave it out to use [server] mail, or "
                        "give a location such as maildir:/var/mail/%%u");
    ok = false;
  }
  if (mail && strstr(mail, "%h"))
    poplar_config_warning(config, "mail",
                          "uses %%h, but SASL users have no home directory");
  if (sasldb && !sasldb[0]) {
    poplar_config_error(config, "sasldb", "is empty");
    ok = false;
  }
  if (saslauthd_path && !saslauthd_path[0]) {
    poplar_config_error(config, "saslauthd-path", "is empty");
    ok = false;
  }
  if (!ok)
    return false;

  s->service = g_strdup(service);
  s->realm = g_strdup(realm);
  s->hostname = g_strdup(hostname ? hostname : g_get_host_name());
  s->mail = g_strdup(mail);
  if (s->pwcheck == SASL_PWCHECK_AUXPROP) {
    if (saslauthd_path)
      poplar_config_warning(config, "saslauthd-path",
                            "is only used with pwcheck-method = saslauthd");
    s->sasldb = g_strdup(sasldb ? sasldb : AUTH_SASL_DEFAULT_SASLDB);
    return check_sasldb(config, s, sasldb != NULL);
  }
  if (sasldb)
    poplar_config_warning(config, "sasldb",
                          "is not used with pwcheck-method = saslauthd");
  s->saslauthd_path = g_strdup(saslauthd_path);
  return true;
}

void auth_sasl_settings_clear(SaslSettings *s)
{
  g_free(s->service);
  g_free(s->realm);
  g_free(s->hostname);
  g_strfreev(s->mechanisms);
  g_free(s->sasldb);
  g_free(s->saslauthd_path);
  g_free(s->mail);
  memset(s, 0, sizeof *s);
}
