/* SPDX-License-Identifier: MIT */
/*
 * auth-ldap without a server: escaping, templates, the settings and what
 * init reports, the result classes, the built shared object.  Everything
 * that talks to slapd is in test_ldap.py.
 */
#include "auth-ldap.h"
#include "poplar-private.h"
#include "test-plugin-init.h"

#include <glib/gstdio.h>
#include <gmodule.h>
#include <string.h>

#ifndef PLUGIN_PATH
#error "PLUGIN_PATH must name the built auth-ldap.so"
#endif

const PoplarPluginDescriptor *poplar_plugin_auth_ldap(void);

/* ---- escaping ------------------------------------------------------------ */

static void check_filter(const char *in, const char *want)
{
  g_autofree char *got = auth_ldap_escape_filter(in);
  g_assert_cmpstr(got, ==, want);
}

static void test_escape_filter(void)
{
  check_filter("alice", "alice");
  check_filter("a.b-c_d@example.org", "a.b-c_d@example.org");
  check_filter("*", "\\2a");
  check_filter("alice)(uid=*", "alice\\29\\28uid=\\2a");
  check_filter("*)(|(uid=*", "\\2a\\29\\28|\\28uid=\\2a");
  check_filter("back\\slash", "back\\5cslash");
  check_filter("tab\there", "tab\\09here");
  check_filter("caf\xc3\xa9", "caf\\c3\\a9");
  check_filter("", "");
}

static void check_dn(const char *in, const char *want)
{
  g_autofree char *got = auth_ldap_escape_dn(in);
  g_assert_cmpstr(got, ==, want);
}

static void test_escape_dn(void)
{
  check_dn("alice", "alice");
  check_dn("alice,ou=admins", "alice\\,ou\\=admins");
  check_dn("a+b\"c\\d<e>f;g", "a\\+b\\\"c\\\\d\\<e\\>f\\;g");
  check_dn("#hash", "\\#hash");
  check_dn(" lead and trail ", "\\ lead and trail\\ ");
  check_dn("mid#dle", "mid#dle");
  check_dn("nl\n", "nl\\0a");
  check_dn("caf\xc3\xa9", "caf\xc3\xa9");
}

static char *expand(const char *tmpl, const char *user,
                     PoplarExpandEscapeFunc escape)
{
  char why[POPLAR_EXPAND_ERROR_SIZE];
  char *out = poplar_expand(tmpl, user, NULL, AUTH_LDAP_TEMPLATE_VARIABLES,
                            escape, NULL, why, sizeof why);
  if (!out)
    g_test_message("'%s' refused: %s", tmpl, why);
  return out;
}

/* The templates as the plugin expands them: poplar_expand() with the
 * plugin's escapes. */
static void test_expand(void)
{
  g_autofree char *a = expand("(&(uid=%u)(o=%d)(cn=%n)(x=100%%))",
                              "bob*@example.org",
                              auth_ldap_escape_filter_value);
  g_assert_cmpstr(a, ==,
                  "(&(uid=bob\\2a@example.org)(o=example.org)(cn=bob\\2a)"
                  "(x=100%))");
  g_autofree char *b = expand("uid=%n,ou=%d,dc=org", "carol",
                              auth_ldap_escape_dn_value);
  g_assert_cmpstr(b, ==, "uid=carol,ou=,dc=org");
  g_autofree char *c = expand("uid=%u,dc=org", "x,dc=evil",
                              auth_ldap_escape_dn_value);
  g_assert_cmpstr(c, ==, "uid=x\\,dc\\=evil,dc=org");
  g_autofree char *d = expand("(uid=%u)", "*)(uid=*",
                              auth_ldap_escape_filter_value);
  g_assert_cmpstr(d, ==, "(uid=\\2a\\29\\28uid=\\2a)");

  g_assert_null(expand("uid=%x", "a", auth_ldap_escape_dn_value));
  g_assert_null(expand("uid=%", "a", auth_ldap_escape_dn_value));
  /* There is no home when the DN or the filter is expanded. */
  g_assert_null(expand("uid=%h", "a", auth_ldap_escape_dn_value));

  char why[POPLAR_EXPAND_ERROR_SIZE];
  unsigned used = 0;
  g_assert_true(poplar_expand_check("uid=%u", AUTH_LDAP_TEMPLATE_VARIABLES,
                                    &used, why, sizeof why));
  g_assert_cmpuint(used, ==, POPLAR_EXPAND_USER);
  g_assert_true(poplar_expand_check("%n@%d", AUTH_LDAP_TEMPLATE_VARIABLES,
                                    &used, why, sizeof why));
  g_assert_cmpuint(used, ==, POPLAR_EXPAND_LOCAL_PART | POPLAR_EXPAND_DOMAIN);
  g_assert_true(poplar_expand_check("uid=admin", AUTH_LDAP_TEMPLATE_VARIABLES,
                                    &used, why, sizeof why));
  g_assert_cmpuint(used, ==, 0);
  g_assert_true(poplar_expand_check("100%%u", AUTH_LDAP_TEMPLATE_VARIABLES,
                                    &used, why, sizeof why));
  g_assert_cmpuint(used, ==, 0);
  g_assert_false(poplar_expand_check("uid=%h", AUTH_LDAP_TEMPLATE_VARIABLES,
                                     &used, why, sizeof why));
  g_assert_nonnull(strstr(why, "%h"));
  g_assert_false(poplar_expand_check("trailing %",
                                     AUTH_LDAP_TEMPLATE_VARIABLES, &used, why,
                                     sizeof why));
}

static void test_loggable(void)
{
  g_autofree char *a = auth_ldap_loggable("a\nb");
  g_assert_cmpstr(a, ==, "a\\nb");
  g_autofree char *big = g_strnfill(AUTH_LDAP_LOG_USER_MAX + 5, 'u');
  g_autofree char *b = auth_ldap_loggable(big);
  g_assert_cmpuint(strlen(b), ==, AUTH_LDAP_LOG_USER_MAX + 3);
}

static void test_classify(void)
{
  g_assert_cmpint(auth_ldap_classify(LDAP_SUCCESS), ==, AUTH_LDAP_FAIL_NONE);
  g_assert_cmpint(auth_ldap_classify(LDAP_INVALID_CREDENTIALS), ==,
                  AUTH_LDAP_FAIL_NONE);
  g_assert_cmpint(auth_ldap_classify(LDAP_SERVER_DOWN), ==,
                  AUTH_LDAP_FAIL_DOWN);
  g_assert_cmpint(auth_ldap_classify(LDAP_CONNECT_ERROR), ==,
                  AUTH_LDAP_FAIL_DOWN);
  g_assert_cmpint(auth_ldap_classify(LDAP_UNAVAILABLE), ==,
                  AUTH_LDAP_FAIL_DOWN);
  g_assert_cmpint(auth_ldap_classify(LDAP_TIMEOUT), ==, AUTH_LDAP_FAIL_TEMP);
  g_assert_cmpint(auth_ldap_classify(LDAP_BUSY), ==, AUTH_LDAP_FAIL_TEMP);
  g_assert_cmpint(auth_ldap_classify(LDAP_INSUFFICIENT_ACCESS), ==,
                  AUTH_LDAP_FAIL_TEMP);
}

/* ---- init and settings ------------------------------------------------------ */

typedef struct Fixture {
  PoplarRegistry *reg;
  PoplarPlugin *plugin;
  PoplarConfigFile *conf;
  const PoplarPassdbEntry *passdb;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
  (void)data;
  f->reg = poplarpriv_registry_new();
  f->plugin = poplarpriv_plugin_new(f->reg, "auth-ldap", "auth-ldap.so");
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
  (void)data;
  poplarpriv_registry_free(f->reg);
  poplarpriv_config_free(f->conf);
}

static bool start_with(Fixture *f, const char *section_text)
{
  bool ok = test_plugin_init(f->plugin, poplar_plugin_auth_ldap(), "auth-ldap",
                             section_text, &f->conf);
  if (ok) {
    g_assert_cmpuint(f->reg->passdbs->len, ==, 1);
    f->passdb = g_ptr_array_index(f->reg->passdbs, 0);
    g_assert_cmpstr(f->passdb->name, ==, "ldap");
    g_assert_nonnull(f->passdb->ops.verify_plain);
    g_assert_null(f->passdb->ops.lookup_secret);
  } else {
    g_assert_cmpuint(f->reg->passdbs->len, ==, 0);
  }
  return ok;
}

static const AuthLdapSettings *settings(Fixture *f)
{
  return ((AuthLdap *)f->passdb->data)->settings;
}

static void test_config_search(Fixture *f, gconstpointer data)
{
  (void)data;
  if (!start_with(f, "uri = ldap://127.0.0.1:389/; ldap://[::1]/\n"
                     "base = dc=example,dc=org\n"
                     "bind-dn = cn=poplar,dc=example,dc=org\n"
                     "bind-password = s3cret\n"
                     "scope = one\n"
                     "user-attribute = uid\nhome-attribute = homeDirectory\n"
                     "mail-attribute = mailLocation\n"
                     "mail-template = maildir:%$/Maildir\n"
                     "uid-attribute = uidNumber\ngid-attribute = gidNumber\n"
                     "fields = quota=mailQuota; office = roomNumber\n"
                     "timeout = 4s\nnetwork-timeout = 500ms\n"
                     "max-connections = 3\n")) {
    test_dump_messages(f->conf->errors);
    g_error("init failed");
  }
  g_assert_cmpuint(f->conf->errors->len, ==, 0);
  /* loopback servers: no warning about clear-text passwords */
  g_assert_cmpuint(f->conf->warnings->len, ==, 0);
  const AuthLdapSettings *s = settings(f);
  g_assert_cmpstr(s->uris, ==, "ldap://127.0.0.1:389/ ldap://[::1]/");
  g_assert_cmpint(s->tls, ==, AUTH_LDAP_TLS_NO);
  g_assert_null(s->dn_template);
  g_assert_cmpstr(s->filter, ==, "(&(objectClass=posixAccount)(uid=%u))");
  g_assert_cmpint(s->scope, ==, LDAP_SCOPE_ONELEVEL);
  g_assert_cmpstr(s->bind_password, ==, "s3cret");
  g_assert_cmpuint(s->timeout_ms, ==, 4000);
  g_assert_cmpuint(s->network_timeout_ms, ==, 500);
  g_assert_cmpuint(s->max_connections, ==, 3);
  g_assert_cmpuint(s->fields->len, ==, 2);
  const AuthLdapField *office = g_ptr_array_index(s->fields, 1);
  g_assert_cmpstr(office->name, ==, "office");
  g_assert_cmpstr(office->attribute, ==, "roomNumber");
  const AuthLdap *a = f->passdb->data;
  const char *want[] = {"uid",       "homeDirectory", "mailLocation",
                        "uidNumber", "gidNumber",     "mailQuota",
                        "roomNumber", NULL};
  for (size_t i = 0; i < G_N_ELEMENTS(want); i++)
    g_assert_cmpstr(a->attributes[i], ==, want[i]);
  g_assert_cmpstr(a->dummy_dn, ==,
                  "cn=poplar-no-such-user,dc=example,dc=org");
}

static void test_config_template(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_true(start_with(f, "uri = ldaps://ldap.example.org/\n"
                              "dn-template = uid=%u,ou=people,dc=example,"
                              "dc=org\n"));
  const AuthLdapSettings *s = settings(f);
  /* ldaps:// URLs mean LDAPS without saying so */
  g_assert_cmpint(s->tls, ==, AUTH_LDAP_TLS_LDAPS);
  const AuthLdap *a = f->passdb->data;
  g_assert_cmpstr(a->attributes[0], ==, "1.1");
  g_assert_null(a->attributes[1]);
  g_assert_cmpstr(a->dummy_dn, ==,
                  "cn=poplar-no-such-user,ou=people,dc=example,dc=org");
  g_assert_cmpuint(f->conf->warnings->len, ==, 0);
}

static void test_config_cleartext_warning(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_true(start_with(f, "uri = ldap://ldap.example.org/\n"
                              "base = dc=example,dc=org\n"));
  g_assert_true(
      test_has_message(f->conf->warnings, "[auth-ldap] tls:", "in clear"));
}

static void test_config_required(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_false(start_with(f, ""));
  test_assert_config_error(f->conf, "[auth-ldap] uri:", "is required");
  test_assert_config_error(f->conf, "[auth-ldap]", "set either dn-template");
}

static void test_config_bad(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_false(start_with(
      f, "uri = http://example.org/; ldap://h/dc=x\n"
         "tls = sometimes\n"
         "dn-template = uid=%x\n"
         "base = dc=example,dc=org\n"
         "filter = uid=%u\n"
         "scope = deep\n"
         "bind-password = x\n"
         "mail-template = maildir:/x\n"
         "home-attribute = home directory\n"
         "fields = quota\n"
         "timeout = soon\n"
         "max-connections = 0\n"));
  test_assert_config_error(f->conf, "[auth-ldap] uri:",
                           "'http://example.org/' is not an LDAP "
                           "URL");
  test_assert_config_error(f->conf, "[auth-ldap] uri:", "names a DN");
  test_assert_config_error(f->conf, "[auth-ldap] tls:", "'sometimes'");
  test_assert_config_error(f->conf, "[auth-ldap] base:", "not both");
  test_assert_config_error(f->conf,
                           "[auth-ldap] dn-template:", "unknown %-sequence");
  test_assert_config_error(f->conf,
                           "[auth-ldap] filter:", "is only used with base");
  test_assert_config_error(f->conf, "[auth-ldap] filter:", "parenthesised");
  test_assert_config_error(f->conf, "[auth-ldap] scope:", "deep");
  test_assert_config_error(f->conf,
                           "[auth-ldap] bind-password:", "without bind-dn");
  test_assert_config_error(
      f->conf, "[auth-ldap] mail-template:", "without mail-attribute");
  test_assert_config_error(
      f->conf, "[auth-ldap] home-attribute:", "not an attribute name");
  test_assert_config_error(f->conf, "[auth-ldap] fields:", "name=attribute");
  test_assert_config_error(f->conf, "[auth-ldap] timeout:", "soon");
  test_assert_config_error(f->conf, "[auth-ldap] max-connections:", NULL);
}

static void test_config_tls_mismatch(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_false(start_with(f, "uri = ldaps://a/; ldap://b/\n"
                               "tls = starttls\n"
                               "base = dc=x\n"
                               "ca-file = /nonexistent/ca.pem\n"));
  test_assert_config_error(f->conf, "[auth-ldap] tls:", "set tls = ldaps");
  test_assert_config_error(f->conf,
                           "[auth-ldap] ca-file:", "/nonexistent/ca.pem");
}

static void test_config_empty_bind_password(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_false(start_with(f, "uri = ldap://127.0.0.1/\nbase = dc=x\n"
                               "bind-dn = cn=svc,dc=x\n"));
  test_assert_config_error(f->conf, "[auth-ldap] bind-dn:", "anonymous");
  poplarpriv_config_free(f->conf);
  f->conf = NULL;
  g_assert_false(start_with(f, "uri = ldap://127.0.0.1/\nbase = dc=x\n"
                               "bind-dn = cn=svc,dc=x\nbind-password =\n"));
  test_assert_config_error(f->conf, "[auth-ldap] bind-dn:", "anonymous");
}

static void test_config_password_file(Fixture *f, gconstpointer data)
{
  (void)data;
  GError *error = NULL;
  g_autofree char *dir = g_dir_make_tmp("auth-ldap-XXXXXX", &error);
  g_assert_no_error(error);
  g_autofree char *path = g_build_filename(dir, "secret", NULL);
  g_assert_true(g_file_set_contents(path, "from-file\n", -1, &error));
  g_autofree char *text = g_strdup_printf(
      "uri = ldap://127.0.0.1/\nbase = dc=x\nbind-dn = cn=svc,dc=x\n"
      "bind-password-file = %s\n",
      path);
  g_assert_true(start_with(f, text));
  g_assert_cmpstr(settings(f)->bind_password, ==, "from-file");
  g_unlink(path);
  g_rmdir(dir);
}

/* An empty password never reaches the server (whose answer to a DN
 * without a password would be an anonymous success); a name with control
 * characters never reaches a filter.  Neither needs a server to answer. */
static void test_refused_before_ldap(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_true(start_with(f, "uri = ldap://127.0.0.1:1/\n"
                              "base = dc=example,dc=org\n"));
  PoplarSession session = {0};
  g_strlcpy(session.id, "s1", sizeof session.id);
  PoplarAuthRequest *req =
      poplarpriv_auth_request_new(&session, "USER", "alice");
  g_assert_cmpint(f->passdb->ops.verify_plain(f->passdb->data, req, ""), ==,
                  POPLAR_PASSDB_DENIED);
  poplarpriv_auth_request_free(req);
  req = poplarpriv_auth_request_new(&session, "USER", "ali\rce");
  g_assert_cmpint(f->passdb->ops.verify_plain(f->passdb->data, req, "x"), ==,
                  POPLAR_PASSDB_NO_SUCH_USER);
  poplarpriv_auth_request_free(req);
  const AuthLdap *a = f->passdb->data;
  g_assert_cmpuint(a->search.made, ==, 0);
  g_assert_cmpuint(a->bind.made, ==, 0);
}

#ifdef README_PATH
static char *replace_all(const char *text, const char *old, const char *new)
{
  g_auto(GStrv) parts = g_strsplit(text, old, -1);
  return g_strjoinv(new, parts);
}

/* The README's example sections load as they are, with the files they
 * name made here. */
static void test_readme_examples(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *text = NULL;
  GError *error = NULL;
  g_assert_true(g_file_get_contents(README_PATH, &text, NULL, &error));
  g_autofree char *dir = g_dir_make_tmp("auth-ldap-XXXXXX", &error);
  g_assert_no_error(error);
  g_autofree char *ca = g_build_filename(dir, "ca.pem", NULL);
  g_autofree char *secret = g_build_filename(dir, "secret", NULL);
  g_assert_true(g_file_set_contents(ca, "", -1, &error));
  g_assert_true(g_file_set_contents(secret, "pw\n", -1, &error));
  g_autofree char *step = replace_all(text, "/etc/ssl/certs/example-ca.pem",
                                      ca);
  g_autofree char *readme = replace_all(step, "/etc/poplar/ldap-password",
                                        secret);
  unsigned checked = 0;
  for (const char *p = readme; (p = strstr(p, "```ini\n"));) {
    p += strlen("```ini\n");
    const char *end = strstr(p, "```");
    g_assert_nonnull(end);
    g_autofree char *block = g_strndup(p, (gsize)(end - p));
    const char *section = strstr(block, "[auth-ldap]\n");
    if (section) {
      section += strlen("[auth-ldap]\n");
      poplarpriv_registry_free(f->reg);
      poplarpriv_config_free(f->conf);
      f->conf = NULL;
      fixture_setup(f, NULL);
      if (!start_with(f, section)) {
        test_dump_messages(f->conf->errors);
        g_error("a README example does not load:\n%s", section);
      }
      checked++;
    }
    p = end + 3;
  }
  g_assert_cmpuint(checked, >=, 2);
  g_unlink(ca);
  g_unlink(secret);
  g_rmdir(dir);
}
#endif

/* ---- the built shared object ---------------------------------------------- */

static void test_module_descriptor(void)
{
  GModule *module = g_module_open(PLUGIN_PATH, G_MODULE_BIND_LOCAL);
  if (!module)
    g_error("%s", g_module_error());
  typedef const PoplarPluginDescriptor *(*Getter)(void);
  Getter getter = NULL;
  g_assert_true(g_module_symbol(module, "poplar_plugin_auth_ldap",
                                (gpointer *)&getter));
  const PoplarPluginDescriptor *d = getter();
  g_assert_cmphex(d->magic, ==, POPLAR_PLUGIN_MAGIC);
  g_assert_cmpuint(d->abi_major, ==, POPLAR_ABI_MAJOR);
  g_assert_cmpstr(d->name, ==, "auth_ldap");
  g_assert_nonnull(d->init);
  gpointer internal = NULL;
  g_assert_false(g_module_symbol(module, "auth_ldap_verify", &internal));
  g_assert_false(g_module_symbol(module, "auth_ldap_escape_filter",
                                 &internal));
  g_module_close(module);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/auth-ldap/escape/filter", test_escape_filter);
  g_test_add_func("/auth-ldap/escape/dn", test_escape_dn);
  g_test_add_func("/auth-ldap/expand", test_expand);
  g_test_add_func("/auth-ldap/loggable", test_loggable);
  g_test_add_func("/auth-ldap/classify", test_classify);
#define ADD(name, func)                                                      \
  g_test_add("/auth-ldap/" name, Fixture, NULL, fixture_setup, func,         \
             fixture_teardown)
  ADD("config/search", test_config_search);
  ADD("config/template", test_config_template);
  ADD("config/cleartext-warning", test_config_cleartext_warning);
  ADD("config/required", test_config_required);
  ADD("config/bad", test_config_bad);
  ADD("config/tls-mismatch", test_config_tls_mismatch);
  ADD("config/empty-bind-password", test_config_empty_bind_password);
  ADD("config/password-file", test_config_password_file);
  ADD("verify/refused-before-ldap", test_refused_before_ldap);
#ifdef README_PATH
  ADD("readme-examples", test_readme_examples);
#endif
#undef ADD
  g_test_add_func("/auth-ldap/module/descriptor", test_module_descriptor);
  return g_test_run();
}
