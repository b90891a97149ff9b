/* SPDX-License-Identifier: MIT */
/*
 * auth-sasl as the core sees it: init with a configuration, the registered
 * passdb and mechanisms, what libsasl2's codes mean, the SCRAM exchange
 * for unknown users, threads.  libsasl2 runs for real, on a sasldb this
 * test makes with saslpasswd2; the machine's own /etc/sasldb2 is never
 * read.
 */
#include "auth-sasl.h"
#include "poplar-private.h"
#include "test-log.h"
#include "test-plugin-init.h"

#include <glib/gstdio.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#ifndef SASLPASSWD2
#error "build through meson: SASLPASSWD2 is defined there"
#endif

const PoplarPluginDescriptor *poplar_plugin_auth_sasl(void);

#define REALM "example.org"

static char *test_dir;
static char *sasldb;

/* ---- the sasldb ---------------------------------------------------------------- */

static void add_user(const char *db, const char *user, const char *realm,
                     const char *password)
{
  g_autofree char *q_db = g_shell_quote(db);
  g_autofree char *q_realm = g_shell_quote(realm);
  g_autofree char *q_user = g_shell_quote(user);
  g_autofree char *cmd = g_strdup_printf("%s -p -f %s -u %s -c %s",
                                         SASLPASSWD2, q_db, q_realm, q_user);
  FILE *p = popen(cmd, "w");
  g_assert_nonnull(p);
  fputs(password, p);
  int status = pclose(p);
  if (status != 0)
    g_error("%s failed (status %d)", cmd, status);
}

/* ---- fixture ---------------------------------------------------------------------- */

typedef struct Fixture {
  PoplarRegistry *reg;
  PoplarPlugin *plugin;
  PoplarConfigFile *conf;
  PoplarSession session;
  const PoplarPassdbEntry *passdb;
  PoplarAuthRequest *req;
  bool init_called;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
  (void)data;
  f->reg = poplarpriv_registry_new();
  f->plugin = poplarpriv_plugin_new(f->reg, "auth-sasl", "auth-sasl.so");
  memset(&f->session, 0, sizeof f->session);
  g_strlcpy(f->session.id, "s1", sizeof f->session.id);
  g_strlcpy(f->session.remote_address, "192.0.2.9",
            sizeof f->session.remote_address);
  test_log_clear();
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
  (void)data;
  poplarpriv_auth_request_free(f->req);
  /* fini before the registry goes, since that frees the plugin too (the
   * tables' destroy callbacks do not need the settings fini frees). */
  if (f->init_called)
    poplar_plugin_auth_sasl()->fini(f->plugin);
  poplarpriv_registry_free(f->reg);
  poplarpriv_config_free(f->conf);
}

/* Runs init on an [auth-sasl] section (with sasldb and realm set unless
 * @bare). */
static bool start_with(Fixture *f, const char *section_text, bool bare)
{
  g_autofree char *body =
      g_strdup_printf("%s%s%s%s", bare ? "" : "sasldb = ", bare ? "" : sasldb,
                      bare ? "" : "\nrealm = " REALM "\n", section_text);
  const PoplarPluginDescriptor *desc = poplar_plugin_auth_sasl();
  g_assert_cmpstr(desc->name, ==, "auth_sasl");
  f->init_called = true;
  bool ok = test_plugin_init(f->plugin, desc, "auth-sasl", body, &f->conf);
  if (ok) {
    g_assert_cmpuint(f->reg->passdbs->len, ==, 1);
    f->passdb = g_ptr_array_index(f->reg->passdbs, 0);
    g_assert_cmpstr(f->passdb->name, ==, "sasl");
    g_assert_nonnull(f->passdb->ops.verify_plain);
    g_assert_null(f->passdb->ops.lookup_secret); /* no APOP */
  }
  return ok;
}

static void start(Fixture *f, const char *section_text)
{
  if (!start_with(f, section_text, false)) {
    for (guint i = 0; i < f->conf->errors->len; i++)
      g_printerr("  %s\n",
                 (const char *)g_ptr_array_index(f->conf->errors, i));
    g_error("init failed");
  }
  g_assert_cmpuint(f->conf->errors->len, ==, 0);
}

static PoplarPassdbResult verify(Fixture *f, const char *user,
                                 const char *password)
{
  poplarpriv_auth_request_free(f->req);
  f->req = poplarpriv_auth_request_new(&f->session, "USER", user);
  return f->passdb->ops.verify_plain(f->passdb->data, f->req, password);
}

static const PoplarSaslEntry *mech(Fixture *f, const char *name)
{
  return poplarpriv_registry_mech(f->reg, name);
}

static char *registered_names(Fixture *f)
{
  GString *out = g_string_new(NULL);
  for (guint i = 0; i < f->reg->mechs->len; i++) {
    const PoplarSaslEntry *e = g_ptr_array_index(f->reg->mechs, i);
    g_string_append_printf(out, "%s%s", out->len ? " " : "", e->name);
  }
  return g_string_free(out, FALSE);
}

/* ---- result codes ------------------------------------------------------------------ */

static void test_codes(void)
{
  static const struct {
    int code;
    PoplarSaslStatus exchange;
    PoplarPassdbResult passdb;
  } cases[] = {
      {SASL_OK, POPLAR_SASL_OK, POPLAR_PASSDB_OK},
      {SASL_CONTINUE, POPLAR_SASL_CONTINUE, POPLAR_PASSDB_TEMPFAIL},
      {SASL_BADAUTH, POPLAR_SASL_DENIED, POPLAR_PASSDB_DENIED},
      {SASL_NOUSER, POPLAR_SASL_DENIED, POPLAR_PASSDB_NO_SUCH_USER},
      {SASL_NOAUTHZ, POPLAR_SASL_DENIED, POPLAR_PASSDB_DENIED},
      {SASL_EXPIRED, POPLAR_SASL_DENIED, POPLAR_PASSDB_DENIED},
      {SASL_DISABLED, POPLAR_SASL_DENIED, POPLAR_PASSDB_DENIED},
      {SASL_BADPROT, POPLAR_SASL_MALFORMED, POPLAR_PASSDB_DENIED},
      {SASL_BADPARAM, POPLAR_SASL_MALFORMED, POPLAR_PASSDB_DENIED},
      {SASL_NOMECH, POPLAR_SASL_TEMPFAIL, POPLAR_PASSDB_TEMPFAIL},
      {SASL_TRYAGAIN, POPLAR_SASL_TEMPFAIL, POPLAR_PASSDB_TEMPFAIL},
      {SASL_UNAVAIL, POPLAR_SASL_TEMPFAIL, POPLAR_PASSDB_TEMPFAIL},
      {SASL_FAIL, POPLAR_SASL_TEMPFAIL, POPLAR_PASSDB_TEMPFAIL},
      {SASL_NOMEM, POPLAR_SASL_TEMPFAIL, POPLAR_PASSDB_TEMPFAIL},
      {SASL_CONFIGERR, POPLAR_SASL_TEMPFAIL, POPLAR_PASSDB_TEMPFAIL},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_assert_cmpint(auth_sasl_exchange_status(cases[i].code), ==,
                    cases[i].exchange);
    g_assert_cmpint(auth_sasl_passdb_result(cases[i].code), ==,
                    cases[i].passdb);
  }
}

/* ---- the SCRAM exchange for unknown users --------------------------------------------- */

static char *mock(const char *client_first, char **user)
{
  size_t len = 0;
  char *out = auth_sasl_scram_mock_first(
      (const unsigned char *)client_first, strlen(client_first), &len, user);
  if (out)
    g_assert_cmpuint(len, ==, strlen(out));
  return out;
}

static char *salt_of(const char *server_first)
{
  const char *s = strstr(server_first, ",s=");
  g_assert_nonnull(s);
  const char *end = strchr(s + 3, ',');
  g_assert_nonnull(end);
  return g_strndup(s + 3, (gsize)(end - s - 3));
}

static void test_scram_mock(void)
{
  g_autofree char *user = NULL;
  g_autofree char *a = mock("n,,n=nobody,r=abcDEF123", &user);
  g_assert_nonnull(a);
  g_assert_cmpstr(user, ==, "nobody");
  /* r=<client nonce><32 characters>,s=<32 octets>,i=4096 */
  g_assert_true(g_str_has_prefix(a, "r=abcDEF123"));
  g_assert_true(g_str_has_suffix(a, ",i=4096"));
  const char *comma = strchr(a, ',');
  g_assert_cmpint((int)(comma - a), ==, 2 + 9 + 32);
  g_autofree char *salt = salt_of(a);
  gsize salt_len = 0;
  g_autofree guchar *raw = g_base64_decode(salt, &salt_len);
  g_assert_nonnull(raw);
  g_assert_cmpuint(salt_len, ==, 32);

  /* the same name, the same salt; a new nonce each time */
  g_autofree char *user2 = NULL;
  g_autofree char *b = mock("y,a=nobody,n=nobody,r=xyz", &user2);
  g_assert_nonnull(b);
  g_autofree char *salt_b = salt_of(b);
  g_assert_cmpstr(salt, ==, salt_b);
  g_autofree char *user2b = NULL;
  g_autofree char *again = mock("n,,n=nobody,r=abcDEF123", &user2b);
  g_assert_cmpstr(again, !=, a);

  /* another name, another salt */
  g_autofree char *user3 = NULL;
  g_autofree char *c = mock("n,,n=somebody,r=abc,ext=1", &user3);
  g_assert_nonnull(c);
  g_autofree char *salt_c = salt_of(c);
  g_assert_cmpstr(salt, !=, salt_c);

  g_autofree char *user4 = NULL;
  g_autofree char *d = mock("n,,n=a=2Cb=3Dc,r=abc", &user4);
  g_assert_nonnull(d);
  g_assert_cmpstr(user4, ==, "a,b=c");

  static const char *const malformed[] = {
      "",         "n,,",           "n=bob,r=abc",     "n,,r=abc,n=bob",
      "n,,n=,r=abc", "n,,n=bob",   "n,,n=bob,r=",     "n,,n=bob,x=abc",
      "n,,m=ext,n=bob,r=abc",     "n,,n=bob,r=a\001c",
  };
  for (size_t i = 0; i < G_N_ELEMENTS(malformed); i++) {
    char *u = NULL;
    char *out = mock(malformed[i], &u);
    if (out)
      g_error("'%s' was accepted: %s", malformed[i], out);
    g_assert_null(u);
  }
  char *u = NULL;
  size_t len = 0;
  g_assert_null(auth_sasl_scram_mock_first(
      (const unsigned char *)"n,,n=b\0b,r=abc", 15, &len, &u));
}

/* ---- configuration ------------------------------------------------------------------------ */

static void test_config_bad_values(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_false(start_with(f,
                            "service = po p\nrealm =\nmechanisms = ;\n"
                            "pwcheck-method = shadow\nmail =\n"
                            "strip-realm = perhaps\ncolour = blue\n",
                            true));
  test_assert_config_error(f->conf,
                           "[auth-sasl] service:", "not a SASL service name");
  test_assert_config_error(f->conf, "[auth-sasl] realm:", "not a realm");
  test_assert_config_error(f->conf, "[auth-sasl] mechanisms:", "is empty");
  test_assert_config_error(f->conf, "[auth-sasl] pwcheck-method:", "'shadow'");
  test_assert_config_error(f->conf, "[auth-sasl] mail:", "is empty");
  test_assert_config_error(f->conf, "[auth-sasl] strip-realm:", "perhaps");
  test_assert_config_error(f->conf, "colour", NULL);
}

static void test_config_bad_mechanism_name(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_false(start_with(
      f, "mechanisms = PLAIN; SCRAM SHA 256; A-NAME-LONGER-THAN-TWENTY\n",
      false));
  test_assert_config_error(f->conf, "[auth-sasl] mechanisms:",
                           "'SCRAM SHA 256' is not a SASL mechanism name");
  test_assert_config_error(
      f->conf, "[auth-sasl] mechanisms:", "'A-NAME-LONGER-THAN-TWENTY' is not");
}

static void test_config_missing_sasldb(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *missing = g_build_filename(test_dir, "none", NULL);
  g_autofree char *text = g_strdup_printf("sasldb = %s\n", missing);
  g_assert_false(start_with(f, text, true));
  test_assert_config_error(f->conf, "[auth-sasl] sasldb:", "saslpasswd2 -f");
  test_assert_config_error(f->conf, "[auth-sasl] sasldb:", missing);
}

static void test_config_unknown_mechanism(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_false(start_with(f, "mechanisms = PLAIN; NO-SUCH-MECH\n", false));
  test_assert_config_error(f->conf, "[auth-sasl] mechanisms:",
                           "NO-SUCH-MECH is not offered by libsasl2");
  g_assert_cmpuint(f->reg->mechs->len, ==, 0);
}

static void test_config_saslauthd_secret_mechanism(Fixture *f,
                                                   gconstpointer data)
{
  (void)data;
  g_assert_false(start_with(f,
                            "pwcheck-method = saslauthd\n"
                            "mechanisms = PLAIN; CRAM-MD5\n",
                            true));
  test_assert_config_error(
      f->conf, "[auth-sasl] mechanisms:", "CRAM-MD5 needs each user's secret");
}

static void test_config_saslauthd_default(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_true(start_with(f,
                           "pwcheck-method = saslauthd\n"
                           "saslauthd-path = /nonexistent/mux\n",
                           true));
  /* only the mechanisms that hand over the password itself */
  g_autofree char *names = registered_names(f);
  g_assert_cmpstr(names, ==, "PLAIN LOGIN");
  g_assert_cmpuint(mech(f, "PLAIN")->flags, ==, POPLAR_SASL_PLAINTEXT);
  /* saslauthd is not running: the check cannot be made */
  g_assert_cmpint(verify(f, "alice", "alice pw"), ==, POPLAR_PASSDB_TEMPFAIL);
  test_assert_logged("error s1 auth-sasl: user 'alice': libsasl2 could not "
                     "check the password",
                     NULL);
}

/* ---- mechanisms -------------------------------------------------------------------------------- */

static void test_default_mechanisms(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "");
  for (const char *const *n = (const char *const[]){
           "SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "DIGEST-MD5",
           "PLAIN", "LOGIN", NULL};
       *n; n++) {
    const PoplarSaslEntry *e = mech(f, *n);
    if (!e) {
      g_autofree char *names = registered_names(f);
      g_error("%s is not registered (only %s)", *n, names);
    }
    bool plaintext = strcmp(*n, "PLAIN") == 0 || strcmp(*n, "LOGIN") == 0;
    g_assert_cmpuint(e->flags, ==, plaintext ? POPLAR_SASL_PLAINTEXT : 0);
  }
  g_assert_null(mech(f, "ANONYMOUS"));
  g_assert_null(mech(f, "EXTERNAL"));
  test_assert_logged("info - auth-sasl: libsasl2 ", NULL);
  test_assert_logged("realm 'example.org'", NULL);
}

static void test_configured_mechanisms(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "mechanisms = scram-sha-256; PLAIN; plain\n");
  g_autofree char *names = registered_names(f);
  g_assert_cmpstr(names, ==, "SCRAM-SHA-256 PLAIN");
  g_assert_cmpuint(f->conf->warnings->len, ==, 1); /* "listed twice" */
}

/* Drives a registered mechanism through the ops as the core does. */
typedef struct Exchange {
  const PoplarSaslEntry *e;
  void *state;
  PoplarAuthRequest *req;
} Exchange;

static void exchange_begin(Fixture *f, Exchange *x, const char *name)
{
  x->e = mech(f, name);
  g_assert_nonnull(x->e);
  x->req = poplarpriv_auth_request_new(&f->session, name, NULL);
  g_assert_true(x->e->ops.start(x->e->data, x->req, &x->state));
}

static PoplarSaslStatus exchange_step(Exchange *x, const char *in,
                                      size_t in_len, char **out)
{
  const unsigned char *o = NULL;
  size_t o_len = 0;
  PoplarSaslStatus st = x->e->ops.step(x->e->data, x->state, x->req,
                                       (const unsigned char *)in, in_len,
                                       &o, &o_len);
  if (out)
    *out = o ? g_strndup((const char *)o, o_len) : NULL;
  return st;
}

static void exchange_end(Exchange *x)
{
  x->e->ops.finish(x->e->data, x->state);
  poplarpriv_auth_request_free(x->req);
}

static void test_plain_exchange(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "mail = maildir:/var/mail/%u\n");
  Exchange x;
  exchange_begin(f, &x, "PLAIN");
  g_assert_cmpint(exchange_step(&x, "\0alice\0alice pw", 15, NULL), ==,
                  POPLAR_SASL_OK);
  /* alice@example.org, the configured realm removed */
  g_assert_cmpstr(poplar_auth_request_user(x.req), ==, "alice");
  g_assert_cmpstr(poplar_auth_request_mail(x.req), ==,
                  "maildir:/var/mail/%u");
  exchange_end(&x);

  /* no initial response: an empty challenge first */
  exchange_begin(f, &x, "PLAIN");
  char *out = NULL;
  g_assert_cmpint(exchange_step(&x, NULL, 0, &out), ==,
                  POPLAR_SASL_CONTINUE);
  g_assert_true(out == NULL || out[0] == '\0');
  g_free(out);
  g_assert_cmpint(exchange_step(&x, "\0alice\0wrong", 12, NULL), ==,
                  POPLAR_SASL_DENIED);
  exchange_end(&x);

  exchange_begin(f, &x, "PLAIN");
  g_assert_cmpint(exchange_step(&x, "no nul here", 11, NULL), ==,
                  POPLAR_SASL_MALFORMED);
  exchange_end(&x);

  /* acting as another user is refused */
  exchange_begin(f, &x, "PLAIN");
  g_assert_cmpint(exchange_step(&x, "bob\0alice\0alice pw", 18, NULL), ==,
                  POPLAR_SASL_DENIED);
  exchange_end(&x);
}

static void test_scram_unknown_user(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "");
  Exchange x;
  char *first = NULL;
  exchange_begin(f, &x, "SCRAM-SHA-256");
  const char *cf = "n,,n=nobody,r=0123456789abcdef";
  g_assert_cmpint(exchange_step(&x, cf, strlen(cf), &first), ==,
                  POPLAR_SASL_CONTINUE);
  g_assert_true(g_str_has_prefix(first, "r=0123456789abcdef"));
  g_assert_cmpstr(poplar_auth_request_user(x.req), ==, "nobody");
  g_autofree char *final_msg =
      g_strdup_printf("c=biws,%.*s,p=AAAA", (int)(strchr(first, ',') - first),
                      first);
  g_assert_cmpint(exchange_step(&x, final_msg, strlen(final_msg), NULL), ==,
                  POPLAR_SASL_DENIED);
  g_free(first);
  exchange_end(&x);

  /* a known user gets libsasl2's own server-first message, alike in
   * form */
  exchange_begin(f, &x, "SCRAM-SHA-256");
  cf = "n,,n=alice,r=0123456789abcdef";
  g_assert_cmpint(exchange_step(&x, cf, strlen(cf), &first), ==,
                  POPLAR_SASL_CONTINUE);
  g_assert_true(g_str_has_prefix(first, "r=0123456789abcdef"));
  g_assert_true(g_str_has_suffix(first, ",i=4096"));
  g_autofree char *salt = salt_of(first);
  g_assert_cmpuint(strlen(salt), ==, 44);
  g_assert_cmpuint((size_t)(strchr(first, ',') - first), ==, 2 + 16 + 32);
  g_free(first);
  exchange_end(&x);
}

/* ---- the password database ------------------------------------------------------------------------ */

static void test_verify(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "");
  g_assert_cmpint(verify(f, "alice", "alice pw"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpstr(poplar_auth_request_user(f->req), ==, "alice");
  g_assert_null(poplar_auth_request_mail(f->req));
  g_assert_cmpint(verify(f, "alice@" REALM, "alice pw"), ==,
                  POPLAR_PASSDB_OK);
  g_assert_cmpstr(poplar_auth_request_user(f->req), ==, "alice");
  g_assert_cmpint(verify(f, "alice", "wrong"), ==, POPLAR_PASSDB_DENIED);
  test_assert_logged("info s1 auth-sasl: user 'alice': password check failed",
                     NULL);
  g_assert_cmpint(verify(f, "alice", ""), ==, POPLAR_PASSDB_DENIED);
  /* the next database may know this one */
  g_assert_cmpint(verify(f, "nobody", "alice pw"), ==,
                  POPLAR_PASSDB_NO_SUCH_USER);
  test_assert_logged("info s1 auth-sasl: unknown user 'nobody'", NULL);
  /* the other realm's carol is a different account */
  g_assert_cmpint(verify(f, "carol", "carol pw"), ==,
                  POPLAR_PASSDB_NO_SUCH_USER);
  g_assert_cmpint(verify(f, "carol@other.example", "carol pw"), ==,
                  POPLAR_PASSDB_OK);
  g_assert_cmpstr(poplar_auth_request_user(f->req), ==,
                  "carol@other.example");
  g_assert_false(test_log_contains("alice pw"));
}

static void test_verify_keep_realm(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "strip-realm = no\n");
  g_assert_cmpint(verify(f, "alice", "alice pw"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpstr(poplar_auth_request_user(f->req), ==, "alice@" REALM);
}

typedef struct ThreadArgs {
  Fixture *f;
  unsigned index;
  unsigned failures;
} ThreadArgs;

static gpointer verify_thread(gpointer p)
{
  ThreadArgs *a = p;
  PoplarSession session = {0};
  g_snprintf(session.id, sizeof session.id, "t%u", a->index);
  for (unsigned i = 0; i < 40; i++) {
    bool right = (i + a->index) % 2 == 0;
    PoplarAuthRequest *req =
        poplarpriv_auth_request_new(&session, "USER", "alice");
    PoplarPassdbResult r = a->f->passdb->ops.verify_plain(
        a->f->passdb->data, req, right ? "alice pw" : "wrong");
    if (r != (right ? POPLAR_PASSDB_OK : POPLAR_PASSDB_DENIED))
      a->failures++;
    poplarpriv_auth_request_free(req);
  }
  return NULL;
}

static void test_threads(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "");
  enum { N = 8 };
  ThreadArgs args[N];
  GThread *threads[N];
  for (unsigned i = 0; i < N; i++) {
    args[i] = (ThreadArgs){f, i, 0};
    threads[i] = g_thread_new("verify", verify_thread, &args[i]);
  }
  for (unsigned i = 0; i < N; i++) {
    g_thread_join(threads[i]);
    g_assert_cmpuint(args[i].failures, ==, 0);
  }
}

/* ---- main ------------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  test_log_capture_start(POPLAR_LOG_DEBUG);

  GError *error = NULL;
  test_dir = g_dir_make_tmp("auth-sasl-test-XXXXXX", &error);
  g_assert_no_error(error);
  sasldb = g_build_filename(test_dir, "sasldb2", NULL);
  add_user(sasldb, "alice", REALM, "alice pw");
  add_user(sasldb, "bob", REALM, "bob pw");
  add_user(sasldb, "carol", "other.example", "carol pw");

  g_test_add_func("/auth-sasl/codes", test_codes);
  g_test_add_func("/auth-sasl/scram-mock", test_scram_mock);
#define ADD(path, fn)                                                         \
  g_test_add("/auth-sasl/" path, Fixture, NULL, fixture_setup, fn,           \
             fixture_teardown)
  ADD("config/bad-values", test_config_bad_values);
  ADD("config/bad-mechanism-name", test_config_bad_mechanism_name);
  ADD("config/missing-sasldb", test_config_missing_sasldb);
  ADD("config/unknown-mechanism", test_config_unknown_mechanism);
  ADD("config/saslauthd-secret-mechanism",
      test_config_saslauthd_secret_mechanism);
  ADD("config/saslauthd-default", test_config_saslauthd_default);
  ADD("mech/default", test_default_mechanisms);
  ADD("mech/configured", test_configured_mechanisms);
  ADD("mech/plain", test_plain_exchange);
  ADD("mech/scram-unknown-user", test_scram_unknown_user);
  ADD("passdb/verify", test_verify);
  ADD("passdb/keep-realm", test_verify_keep_realm);
  ADD("passdb/threads", test_threads);
#undef ADD
  int status = g_test_run();

  g_autofree char *db_lock = g_strconcat(sasldb, ".lock", NULL);
  g_unlink(sasldb);
  g_unlink(db_lock);
  g_rmdir(test_dir);
  g_free(sasldb);
  g_free(test_dir);
  test_log_capture_stop();
  return status;
}
