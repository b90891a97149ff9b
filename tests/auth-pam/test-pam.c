/* SPDX-License-Identifier: MIT */
/*
 * auth-pam as the core sees it: init with a configuration, the registered
 * passdb's callback, logging, threads.  PAM is the real libpam under
 * pam_wrapper, with stacks of pam_matrix (users from a file of this test),
 * pam_chatty and the test module pam-fixed-result.so; the passwd database
 * is nss_wrapper's.  The machine's own accounts are never consulted.
 *
 * pam_wrapper and nss_wrapper must be preloaded before the process starts,
 * so main() writes the stacks into a temporary directory and executes
 * itself again with the wrappers' environment.
 */
#include "auth-pam.h"
#include "poplar-private.h"
#include "test-log.h"
#include "test-plugin-init.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <gmodule.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if !defined(PAM_WRAPPER_LIB) || !defined(NSS_WRAPPER_LIB) ||                \
    !defined(PAM_MATRIX_MODULE) || !defined(PAM_CHATTY_MODULE) ||            \
    !defined(FIXED_RESULT_MODULE) || !defined(PLUGIN_PATH)
#error "build through meson: the wrapper and module paths are defined there"
#endif

const PoplarPluginDescriptor *poplar_plugin_auth_pam(void);

#define DIR_ENV "AUTH_PAM_TEST_DIR"

static char *test_dir; /* where the stacks, passdb and passwd live */

/* ---- fixture -------------------------------------------------------------- */

typedef struct Fixture {
  PoplarRegistry *reg;
  PoplarPlugin *plugin;
  PoplarConfigFile *conf;
  PoplarSession session;
  const PoplarPassdbEntry *passdb;
  PoplarAuthRequest *req;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
  (void)data;
  f->reg = poplarpriv_registry_new();
  f->plugin = poplarpriv_plugin_new(f->reg, "auth-pam", "auth-pam.so");
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
  poplarpriv_registry_free(f->reg);
  poplarpriv_config_free(f->conf);
}

/* Runs the plugin's init on an [auth-pam] section of @section_text. */
static bool start_with(Fixture *f, const char *section_text)
{
  const PoplarPluginDescriptor *desc = poplar_plugin_auth_pam();
  g_assert_cmpstr(desc->name, ==, "auth_pam");
  bool ok =
      test_plugin_init(f->plugin, desc, "auth-pam", section_text, &f->conf);
  if (ok) {
    g_assert_cmpuint(f->reg->passdbs->len, ==, 1);
    f->passdb = g_ptr_array_index(f->reg->passdbs, 0);
    g_assert_nonnull(f->passdb->ops.verify_plain);
    /* PAM has no secrets to hand out: no APOP */
    g_assert_null(f->passdb->ops.lookup_secret);
    g_assert_nonnull(f->passdb->ops.destroy);
  } else {
    g_assert_cmpuint(f->reg->passdbs->len, ==, 0);
  }
  return ok;
}

static void start(Fixture *f, const char *section_text)
{
  if (!start_with(f, section_text)) {
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

/* ---- configuration ------------------------------------------------------- */

static void test_config_defaults(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "");
  const PamSettings *s = f->passdb->data;
  g_assert_cmpstr(s->service, ==, "poplar");
  g_assert_false(s->setcred);
  g_assert_false(s->home_from_passwd);
  g_assert_null(s->mail);
  g_assert_cmpstr(f->passdb->name, ==, "pam");
  test_assert_logged("info - auth-pam: PAM service 'poplar'", NULL);
  /* the stack is found where pam_wrapper looks: no warning */
  g_assert_cmpuint(f->conf->warnings->len, ==, 0);
}

static void test_config_bad_values(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_false(start_with(f, "service = ../etc/shadow\nsetcred = maybe\n"
                               "home-from-passwd = sometimes\nmail =\n"
                               "colour = blue\n"));
  test_assert_config_error(
      f->conf, "test.conf:5: [auth-pam] service:", "not a PAM service name");
  test_assert_config_error(f->conf, "[auth-pam] setcred:", "maybe");
  test_assert_config_error(f->conf,
                           "[auth-pam] home-from-passwd:", "sometimes");
  test_assert_config_error(f->conf, "[auth-pam] mail:", "is empty");
}

static void test_config_unknown_key(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_true(start_with(f, "colour = blue\n"));
  test_assert_config_error(f->conf, "colour", NULL);
}

static void test_config_warnings(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "service = no-such-stack\nmail = maildir:%h/Mail\nsetcred = yes\n");
  GPtrArray *w = f->conf->warnings;
  g_assert_true(test_has_message(w, "[auth-pam] service:",
                                 "no PAM configuration for service "
                                 "'no-such-stack'"));
  g_assert_true(test_has_message(w, "[auth-pam] mail:", "home-from-passwd"));
  g_assert_true(test_has_message(w, "[auth-pam] setcred:", "pam_group"));
}

/* ---- verify_plain ---------------------------------------------------------- */

static void test_verify_basic(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "");
  g_assert_cmpint(verify(f, "alice", "alice pw"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpstr(poplar_auth_request_user(f->req), ==, "alice");
  /* nothing configured: the server's defaults apply */
  g_assert_null(poplar_auth_request_home(f->req));
  g_assert_null(poplar_auth_request_mail(f->req));
  g_assert_null(f->req->reason_text);

  g_assert_cmpint(verify(f, "alice", "wrong"), ==, POPLAR_PASSDB_DENIED);
  g_assert_null(f->req->reason_text);
  test_assert_logged("info s1 auth-pam: user 'alice': authentication failed "
                     "(pam_authenticate: Authentication failure)",
                     NULL);

  /* pam_matrix says PAM_AUTH_ERR for a user it does not know: as for a
   * wrong password, with no reason for the client */
  g_assert_cmpint(verify(f, "mallory", "alice pw"), ==,
                  POPLAR_PASSDB_DENIED);
  g_assert_null(f->req->reason_text);

  g_assert_cmpint(verify(f, "bob", "bob-pw"), ==, POPLAR_PASSDB_OK);
  test_assert_never_logged("alice pw");
  test_assert_never_logged("bob-pw");
  test_assert_never_logged("wrong");
}

static void test_verify_user_unknown(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "");
  g_assert_cmpint(verify(f, "ghost", "x"), ==, POPLAR_PASSDB_NO_SUCH_USER);
  g_assert_null(f->req->reason_text);
  test_assert_logged(
      "info s1 auth-pam: unknown user 'ghost' (pam_authenticate:", NULL);
}

static void test_verify_account_refused(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "");
  /* pam_matrix's account module: the user may use another service only */
  g_assert_cmpint(verify(f, "locked", "locked-pw"), ==,
                  POPLAR_PASSDB_DENIED);
  g_assert_cmpstr(f->req->reason_code, ==, "SYS/PERM");
  g_assert_cmpstr(f->req->reason_text, ==,
                  "Account locked or not allowed to log in");
  test_assert_logged(
      "user 'locked': right password, but the account is refused "
      "(pam_acct_mgmt: Permission denied)",
      NULL);
  /* a wrong password learns nothing about the account's state */
  g_assert_cmpint(verify(f, "locked", "guess"), ==, POPLAR_PASSDB_DENIED);
  g_assert_null(f->req->reason_text);

  g_assert_cmpint(verify(f, "expired", "expired-pw"), ==,
                  POPLAR_PASSDB_DENIED);
  g_assert_cmpstr(f->req->reason_code, ==, "SYS/PERM");
  g_assert_cmpstr(f->req->reason_text, ==, "Account expired");
  g_assert_cmpint(verify(f, "expired", "guess"), ==, POPLAR_PASSDB_DENIED);
  g_assert_null(f->req->reason_text);

  g_assert_cmpint(verify(f, "pwold", "pwold-pw"), ==, POPLAR_PASSDB_DENIED);
  g_assert_cmpstr(f->req->reason_code, ==, "AUTH");
  g_assert_cmpstr(f->req->reason_text, ==,
                  "Password expired: change it before logging in");
}

static void test_verify_tempfail(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "");
  g_assert_cmpint(verify(f, "broken", "x"), ==, POPLAR_PASSDB_TEMPFAIL);
  test_assert_logged(
      "error s1 auth-pam: user 'broken': the PAM service 'poplar' "
      "could not decide (pam_authenticate:",
      NULL);
}

static void test_verify_missing_passdb(Fixture *f, gconstpointer data)
{
  (void)data;
  /* pam_matrix cannot read its file: PAM_AUTHINFO_UNAVAIL */
  start(f, "service = poplar-nodb\n");
  g_assert_cmpint(verify(f, "alice", "alice pw"), ==,
                  POPLAR_PASSDB_TEMPFAIL);
  test_assert_logged("could not decide", "poplar-nodb");
}

static void test_verify_unanswerable(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "");
  g_assert_cmpint(verify(f, "otp", "otp-pw"), ==, POPLAR_PASSDB_DENIED);
  test_assert_logged("warning s1 auth-pam: PAM asked a question of a kind POP3 "
                     "cannot answer",
                     NULL);
  test_assert_logged(
      "warning s1 auth-pam: user 'otp': the PAM service 'poplar' "
      "asked for more than a password",
      NULL);
}

static void test_verify_refused_before_pam(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "");
  g_assert_cmpint(verify(f, "alice", ""), ==, POPLAR_PASSDB_DENIED);
  test_assert_logged("user 'alice': empty password refused", NULL);
  g_autofree char *long_pw = g_strnfill(AUTH_PAM_PASSWORD_MAX + 1, 'p');
  g_assert_cmpint(verify(f, "alice", long_pw), ==, POPLAR_PASSDB_DENIED);
  test_assert_logged("password longer than 511 octets refused", NULL);
  test_assert_never_logged(long_pw);
  g_assert_cmpint(verify(f, "ali\nce", "alice pw"), ==,
                  POPLAR_PASSDB_NO_SUCH_USER);
  test_assert_logged("user name 'ali\\nce' refused", NULL);
  g_autofree char *long_user = g_strnfill(AUTH_PAM_USER_MAX + 1, 'u');
  g_assert_cmpint(verify(f, long_user, "x"), ==, POPLAR_PASSDB_NO_SUCH_USER);
  g_assert_cmpint(verify(f, "", "x"), ==, POPLAR_PASSDB_NO_SUCH_USER);
}

static void test_verify_canonical_name(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "");
  /* a module of the stack renames ALICE to alice */
  g_assert_cmpint(verify(f, "ALICE", "alice pw"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpstr(poplar_auth_request_user(f->req), ==, "alice");
}

static void test_verify_messages_logged(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "");
  g_assert_cmpint(verify(f, "chatty", "chatty-pw"), ==, POPLAR_PASSDB_OK);
  test_assert_logged(
      "info s1 auth-pam: PAM info: Your password expires in 3 days", NULL);
  /* the trailing newline is dropped */
  test_assert_logged("info s1 auth-pam: PAM error message: Last failed login "
                     "from 192.0.2.1",
                     NULL);
  g_assert_cmpuint(test_log_count("192.0.2.1\\n", NULL), ==, 0);
}

/* pam_matrix's verbose mode and pam_chatty send messages without an answer
 * pointer: the conversation must cope. */
static void test_verify_verbose_stack(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "service = poplar-verbose\n");
  g_assert_cmpint(verify(f, "alice", "alice pw"), ==, POPLAR_PASSDB_OK);
  test_assert_logged("PAM info: Authentication succeeded", NULL);
  g_assert_cmpint(verify(f, "alice", "bad"), ==, POPLAR_PASSDB_DENIED);
  test_assert_logged("PAM error message: Authentication failed", NULL);
}

static void test_verify_mail_and_home(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "mail = maildir:%h/Mail\nhome-from-passwd = yes\n");
  g_assert_cmpuint(f->conf->warnings->len, ==, 0);
  g_assert_cmpint(verify(f, "alice", "alice pw"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpstr(poplar_auth_request_home(f->req), ==, "/srv/home/alice");
  g_assert_cmpstr(poplar_auth_request_mail(f->req), ==, "maildir:%h/Mail");
  g_assert_cmpstr(poplar_auth_request_field(f->req, "uid"), ==, "5001");
  g_assert_cmpstr(poplar_auth_request_field(f->req, "gid"), ==, "5000");

  /* authenticated by PAM, but no passwd entry for its home */
  g_assert_cmpint(verify(f, "bob", "bob-pw"), ==, POPLAR_PASSDB_DENIED);
  g_assert_cmpstr(f->req->reason_code, ==, "SYS/PERM");
  g_assert_cmpstr(f->req->reason_text, ==,
                  "No home directory for this account");
  test_assert_logged(
      "error s1 auth-pam: user 'bob' was authenticated by PAM but "
      "has no passwd entry",
      NULL);
  /* the home comes from the canonical name */
  g_assert_cmpint(verify(f, "ALICE", "alice pw"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpstr(poplar_auth_request_home(f->req), ==, "/srv/home/alice");
}

static void test_verify_setcred(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "setcred = yes\n");
  g_assert_cmpint(verify(f, "alice", "alice pw"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpint(verify(f, "credold", "credold-pw"), ==,
                  POPLAR_PASSDB_DENIED);
  g_assert_cmpstr(f->req->reason_text, ==, "Credentials expired");
  test_assert_logged("(pam_setcred:", NULL);
}

static void test_verify_setcred_off(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "setcred = no\n");
  /* pam_setcred() is never called, so its refusal is never seen */
  g_assert_cmpint(verify(f, "credold", "credold-pw"), ==, POPLAR_PASSDB_OK);
}

/* ---- threads -------------------------------------------------------------------- */

typedef struct Worker {
  Fixture *f;
  unsigned index;
  unsigned failures;
} Worker;

#define WORKER_ROUNDS 40

static gpointer worker_main(gpointer data)
{
  Worker *w = data;
  PoplarSession session = {0};
  g_snprintf(session.id, sizeof session.id, "w%u", w->index);
  for (unsigned i = 0; i < WORKER_ROUNDS; i++) {
    PoplarAuthRequest *req =
        poplarpriv_auth_request_new(&session, "USER", "alice");
    if (w->f->passdb->ops.verify_plain(w->f->passdb->data, req,
                                       "alice pw") != POPLAR_PASSDB_OK)
      w->failures++;
    poplarpriv_auth_request_free(req);
    req = poplarpriv_auth_request_new(&session, "USER", "bob");
    if (w->f->passdb->ops.verify_plain(w->f->passdb->data, req, "alice pw") !=
        POPLAR_PASSDB_DENIED)
      w->failures++;
    poplarpriv_auth_request_free(req);
  }
  return NULL;
}

static void test_concurrent_logins(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "");
  enum { N_WORKERS = 8 };
  Worker workers[N_WORKERS];
  GThread *threads[N_WORKERS];
  for (unsigned i = 0; i < N_WORKERS; i++) {
    workers[i] = (Worker){.f = f, .index = i};
    threads[i] = g_thread_new("login", worker_main, &workers[i]);
  }
  for (unsigned i = 0; i < N_WORKERS; i++) {
    g_thread_join(threads[i]);
    g_assert_cmpuint(workers[i].failures, ==, 0);
  }
}

/* ---- the conversation and the codes, without PAM -------------------------------- */

static int converse(PamConvData *cd, const struct pam_message *m, int n,
                    struct pam_response **resp)
{
  const struct pam_message *msgs[PAM_MAX_NUM_MSG + 1];
  for (int i = 0; i < n; i++)
    msgs[i] = &m[i < 4 ? i : 0];
  return auth_pam_conversation(n, msgs, resp, cd);
}

static void free_resp(struct pam_response *resp, int n)
{
  for (int i = 0; i < n; i++)
    free(resp[i].resp);
  free(resp);
}

static void test_conversation(void)
{
  test_log_clear();
  PamConvData cd = {.user = "alice", .password = "secret"};
  struct pam_message m[4] = {
      {PAM_PROMPT_ECHO_OFF, "Password: "},
      {PAM_PROMPT_ECHO_ON, "login: "},
      {PAM_TEXT_INFO, "hello\tthere"},
      {PAM_ERROR_MSG, "careful\n"},
  };
  struct pam_response *resp = NULL;
  g_assert_cmpint(converse(&cd, m, 4, &resp), ==, PAM_SUCCESS);
  g_assert_cmpstr(resp[0].resp, ==, "secret");
  g_assert_cmpstr(resp[1].resp, ==, "alice");
  g_assert_null(resp[2].resp);
  g_assert_null(resp[3].resp);
  g_assert_cmpuint(cd.prompts, ==, 2);
  free_resp(resp, 4);
  test_assert_logged("PAM info: hello\\tthere", NULL);
  test_assert_logged("PAM error message: careful", NULL);

  /* messages alone: no answer array for a module to forget to free */
  resp = (struct pam_response *)&cd;
  g_assert_cmpint(converse(&cd, m + 2, 2, &resp), ==, PAM_SUCCESS);
  g_assert_null(resp);
  /* messages without an answer pointer */
  g_assert_cmpint(converse(&cd, m + 2, 2, NULL), ==, PAM_SUCCESS);
  /* a prompt without one cannot be answered */
  g_assert_cmpint(converse(&cd, m, 1, NULL), ==, PAM_CONV_ERR);

  /* kinds of message POP3 cannot answer */
  struct pam_message binary = {7, "\x01"};
  resp = NULL;
  g_assert_cmpint(converse(&cd, &binary, 1, &resp), ==, PAM_CONV_ERR);
  g_assert_null(resp);
  g_assert_true(cd.refused);

  /* counts out of range */
  g_assert_cmpint(converse(&cd, m, 0, &resp), ==, PAM_CONV_ERR);
  g_assert_cmpint(converse(&cd, m, PAM_MAX_NUM_MSG + 1, &resp), ==,
                  PAM_CONV_ERR);
  test_assert_never_logged("secret");
}

static void test_loggable(void)
{
  g_autofree char *a = auth_pam_loggable("two\nlines\n");
  g_assert_cmpstr(a, ==, "two\\nlines");
  g_autofree char *big = g_strnfill(AUTH_PAM_LOG_TEXT_MAX + 10, 'x');
  g_autofree char *b = auth_pam_loggable(big);
  g_assert_cmpuint(strlen(b), ==, AUTH_PAM_LOG_TEXT_MAX + 3);
  g_assert_true(g_str_has_suffix(b, "x..."));
  g_autofree char *c = auth_pam_loggable(NULL);
  g_assert_cmpstr(c, ==, "");
}

static void test_code_map(void)
{
  const char *code, *text;
  struct {
    PamStep step;
    int pam;
    PoplarPassdbResult want;
    const char *want_code;
  } cases[] = {
      {PAM_STEP_START, PAM_SUCCESS, POPLAR_PASSDB_OK, NULL},
      {PAM_STEP_START, PAM_ABORT, POPLAR_PASSDB_TEMPFAIL, NULL},
      {PAM_STEP_AUTHENTICATE, PAM_SUCCESS, POPLAR_PASSDB_OK, NULL},
      {PAM_STEP_AUTHENTICATE, PAM_USER_UNKNOWN, POPLAR_PASSDB_NO_SUCH_USER,
       NULL},
      {PAM_STEP_AUTHENTICATE, PAM_AUTH_ERR, POPLAR_PASSDB_DENIED, NULL},
      {PAM_STEP_AUTHENTICATE, PAM_MAXTRIES, POPLAR_PASSDB_DENIED, NULL},
      /* before the password is proved, no reason is given */
      {PAM_STEP_AUTHENTICATE, PAM_ACCT_EXPIRED, POPLAR_PASSDB_DENIED, NULL},
      {PAM_STEP_AUTHENTICATE, PAM_CONV_ERR, POPLAR_PASSDB_DENIED, NULL},
      {PAM_STEP_AUTHENTICATE, PAM_AUTHINFO_UNAVAIL, POPLAR_PASSDB_TEMPFAIL,
       NULL},
      {PAM_STEP_AUTHENTICATE, PAM_SYSTEM_ERR, POPLAR_PASSDB_TEMPFAIL, NULL},
      {PAM_STEP_AUTHENTICATE, PAM_TRY_AGAIN, POPLAR_PASSDB_TEMPFAIL, NULL},
      {PAM_STEP_ACCOUNT, PAM_SUCCESS, POPLAR_PASSDB_OK, NULL},
      {PAM_STEP_ACCOUNT, PAM_ACCT_EXPIRED, POPLAR_PASSDB_DENIED, "SYS/PERM"},
      {PAM_STEP_ACCOUNT, PAM_PERM_DENIED, POPLAR_PASSDB_DENIED, "SYS/PERM"},
      {PAM_STEP_ACCOUNT, PAM_AUTH_ERR, POPLAR_PASSDB_DENIED, "SYS/PERM"},
      {PAM_STEP_ACCOUNT, PAM_NEW_AUTHTOK_REQD, POPLAR_PASSDB_DENIED, "AUTH"},
      {PAM_STEP_ACCOUNT, PAM_USER_UNKNOWN, POPLAR_PASSDB_DENIED, NULL},
      {PAM_STEP_ACCOUNT, PAM_AUTHINFO_UNAVAIL, POPLAR_PASSDB_TEMPFAIL, NULL},
      {PAM_STEP_SETCRED, PAM_SUCCESS, POPLAR_PASSDB_OK, NULL},
      {PAM_STEP_SETCRED, PAM_CRED_EXPIRED, POPLAR_PASSDB_DENIED, "SYS/PERM"},
      {PAM_STEP_SETCRED, PAM_CRED_UNAVAIL, POPLAR_PASSDB_TEMPFAIL, NULL},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    PoplarPassdbResult r =
        auth_pam_map_code(cases[i].step, cases[i].pam, &code, &text);
    if (r != cases[i].want || g_strcmp0(code, cases[i].want_code) != 0)
      g_error("%s returning %d: got %d [%s], want %d [%s]",
              auth_pam_step_name(cases[i].step), cases[i].pam, r,
              code ? code : "-", cases[i].want,
              cases[i].want_code ? cases[i].want_code : "-");
    g_assert_true((code == NULL) == (text == NULL));
  }
}

/* ---- the built shared object ------------------------------------------------ */

static void test_module_descriptor(void)
{
  GModule *module = g_module_open(PLUGIN_PATH, G_MODULE_BIND_LOCAL);
  if (!module)
    g_error("%s", g_module_error());
  typedef const PoplarPluginDescriptor *(*Getter)(void);
  Getter getter = NULL;
  g_assert_true(g_module_symbol(module, "poplar_plugin_auth_pam",
                                (gpointer *)&getter));
  const PoplarPluginDescriptor *d = getter();
  g_assert_cmphex(d->magic, ==, POPLAR_PLUGIN_MAGIC);
  g_assert_cmpuint(d->abi_major, ==, POPLAR_ABI_MAJOR);
  g_assert_cmpuint(d->struct_size, ==, sizeof(PoplarPluginDescriptor));
  g_assert_cmpstr(d->name, ==, "auth_pam");
  g_assert_null(d->preinit);
  g_assert_nonnull(d->init);
  gpointer internal = NULL;
  g_assert_false(g_module_symbol(module, "auth_pam_check", &internal));
  g_assert_false(g_module_symbol(module, "auth_pam_conversation", &internal));
  g_module_close(module);
}

/* ---- the wrapped world ------------------------------------------------------ */

static void write_text(const char *dir, const char *name, const char *text)
{
  g_autofree char *path = g_build_filename(dir, name, NULL);
  GError *error = NULL;
  if (!g_file_set_contents(path, text, -1, &error))
    g_error("%s", error->message);
}

static void remove_tree(const char *path)
{
  GDir *dir = g_dir_open(path, 0, NULL);
  if (dir) {
    const char *name;
    while ((name = g_dir_read_name(dir))) {
      g_autofree char *child = g_build_filename(path, name, NULL);
      remove_tree(child);
    }
    g_dir_close(dir);
    g_rmdir(path);
  } else {
    g_unlink(path);
  }
}

/* Writes the PAM stacks, pam_matrix's users and nss_wrapper's passwd into
 * a new directory, and returns it. */
static char *make_world(void)
{
  GError *error = NULL;
  char *dir = g_dir_make_tmp("auth-pam-XXXXXX", &error);
  g_assert_no_error(error);
  g_autofree char *services = g_build_filename(dir, "services", NULL);
  g_assert_no_errno(g_mkdir(services, 0700));
  g_autofree char *pdb = g_build_filename(dir, "passdb", NULL);

  /* user:password:the service whose account stack lets the user in */
  write_text(dir, "passdb",
             "alice:alice pw:poplar\n"
             "bob:bob-pw:poplar\n"
             "locked:locked-pw:another-service\n"
             "expired:expired-pw:poplar\n"
             "pwold:pwold-pw:poplar\n"
             "otp:otp-pw:poplar\n"
             "chatty:chatty-pw:poplar\n"
             "credold:credold-pw:poplar\n");
  g_autofree char *stack = g_strdup_printf(
      "auth     requisite %1$s ghost=PAM_USER_UNKNOWN "
      "broken=PAM_AUTHINFO_UNAVAIL otp=BINARY ALICE=RENAME:alice "
      "chatty=CHAT cred:credold=PAM_CRED_EXPIRED\n"
      "auth     required  %2$s passdb=%3$s\n"
      "account  requisite %1$s expired=PAM_ACCT_EXPIRED "
      "pwold=PAM_NEW_AUTHTOK_REQD\n"
      "account  required  %2$s passdb=%3$s\n",
      FIXED_RESULT_MODULE, PAM_MATRIX_MODULE, pdb);
  write_text(services, "poplar", stack);
  g_autofree char *verbose = g_strdup_printf(
      "auth     optional  %1$s num_lines=1 info\n"
      "auth     required  %2$s passdb=%3$s verbose\n"
      "account  required  %4$s *=PAM_SUCCESS\n",
      PAM_CHATTY_MODULE, PAM_MATRIX_MODULE, pdb, FIXED_RESULT_MODULE);
  write_text(services, "poplar-verbose", verbose);
  g_autofree char *nodb = g_strdup_printf(
      "auth     required  %1$s passdb=%2$s/missing\n"
      "account  required  %1$s passdb=%2$s/missing\n",
      PAM_MATRIX_MODULE, dir);
  write_text(services, "poplar-nodb", nodb);
  /* What PAM uses for a service without a file, as on most systems. */
  g_autofree char *other = g_strdup_printf(
      "auth     required  %1$s *=PAM_AUTH_ERR\n"
      "account  required  %1$s *=PAM_PERM_DENIED\n",
      FIXED_RESULT_MODULE);
  write_text(services, "other", other);

  write_text(dir, "passwd",
             "alice:x:5001:5000:Alice:/srv/home/alice:/bin/false\n");
  write_text(dir, "group", "mail-users:x:5000:\n");
  return dir;
}

#if defined(__SANITIZE_ADDRESS__)
/* The path of the AddressSanitizer runtime this process runs with. */
static char *sanitizer_runtime(void)
{
  g_autofree char *maps = NULL;
  if (!g_file_get_contents("/proc/self/maps", &maps, NULL, NULL))
    return NULL;
  for (char *line = maps; line && *line;) {
    char *end = strchr(line, '\n');
    if (end)
      *end = '\0';
    char *path = strchr(line, '/');
    if (path && strstr(path, "/libasan.so"))
      return g_strdup(path);
    line = end ? end + 1 : NULL;
  }
  return NULL;
}
#endif

/* Executes this program again under pam_wrapper and nss_wrapper. */
static void reexec_wrapped(char **argv)
{
  char *dir = make_world();
  g_autofree char *services = g_build_filename(dir, "services", NULL);
  g_autofree char *passwd = g_build_filename(dir, "passwd", NULL);
  g_autofree char *group = g_build_filename(dir, "group", NULL);
  /* Whatever is preloaded already (a sanitizer's runtime) stays first. */
  const char *before = g_getenv("LD_PRELOAD");
#if defined(__SANITIZE_ADDRESS__)
  /* pam_wrapper loads libpam without RTLD_DEEPBIND (which sanitizers
   * cannot work with) only when it sees libasan in LD_PRELOAD. */
  g_autofree char *asan_lib = sanitizer_runtime();
  g_autofree char *with_asan = NULL;
  if (asan_lib && !(before && strstr(before, "libasan"))) {
    with_asan = before && before[0] ? g_strdup_printf("%s:%s", asan_lib, before)
                                    : g_strdup(asan_lib);
    before = with_asan;
  }
#endif
  g_autofree char *preload = g_strdup_printf(
      "%s%s%s:%s", before ? before : "", before && before[0] ? ":" : "",
      PAM_WRAPPER_LIB, NSS_WRAPPER_LIB);
  g_setenv("LD_PRELOAD", preload, TRUE);
#if defined(__SANITIZE_ADDRESS__)
  /* Sanitizers want their runtime first and no RTLD_DEEPBIND. */
  const char *asan = g_getenv("ASAN_OPTIONS");
  g_autofree char *asan_options = g_strdup_printf(
      "%s%sverify_asan_link_order=0", asan ? asan : "",
      asan && asan[0] ? ":" : "");
  g_setenv("ASAN_OPTIONS", asan_options, TRUE);
  g_setenv("PAM_WRAPPER_DISABLE_DEEPBIND", "1", TRUE);
#endif
  g_setenv("PAM_WRAPPER", "1", TRUE);
  g_setenv("PAM_WRAPPER_SERVICE_DIR", services, TRUE);
  g_setenv("NSS_WRAPPER_PASSWD", passwd, TRUE);
  g_setenv("NSS_WRAPPER_GROUP", group, TRUE);
  g_setenv(DIR_ENV, dir, TRUE);
  execv("/proc/self/exe", argv);
  g_error("cannot execute this test again under pam_wrapper: %s",
          g_strerror(errno));
}

int main(int argc, char **argv)
{
  const char *dir = g_getenv(DIR_ENV);
  if (!dir)
    reexec_wrapped(argv);
  test_dir = g_strdup(dir);

  g_test_init(&argc, &argv, NULL);
  test_log_capture_start(POPLAR_LOG_DEBUG);

#define ADD(name, func)                                                      \
  g_test_add("/auth-pam/" name, Fixture, NULL, fixture_setup, func,          \
             fixture_teardown)
  ADD("config/defaults", test_config_defaults);
  ADD("config/bad-values", test_config_bad_values);
  ADD("config/unknown-key", test_config_unknown_key);
  ADD("config/warnings", test_config_warnings);
  ADD("verify/basic", test_verify_basic);
  ADD("verify/user-unknown", test_verify_user_unknown);
  ADD("verify/account-refused", test_verify_account_refused);
  ADD("verify/tempfail", test_verify_tempfail);
  ADD("verify/missing-passdb", test_verify_missing_passdb);
  ADD("verify/unanswerable", test_verify_unanswerable);
  ADD("verify/refused-before-pam", test_verify_refused_before_pam);
  ADD("verify/canonical-name", test_verify_canonical_name);
  ADD("verify/messages-logged", test_verify_messages_logged);
  ADD("verify/verbose-stack", test_verify_verbose_stack);
  ADD("verify/mail-and-home", test_verify_mail_and_home);
  ADD("verify/setcred", test_verify_setcred);
  ADD("verify/setcred-off", test_verify_setcred_off);
  ADD("threads", test_concurrent_logins);
#undef ADD
  g_test_add_func("/auth-pam/conversation", test_conversation);
  g_test_add_func("/auth-pam/loggable", test_loggable);
  g_test_add_func("/auth-pam/code-map", test_code_map);
  g_test_add_func("/auth-pam/module/descriptor", test_module_descriptor);

  int rc = g_test_run();
  test_log_capture_stop();
  remove_tree(test_dir);
  g_free(test_dir);
  return rc;
}
