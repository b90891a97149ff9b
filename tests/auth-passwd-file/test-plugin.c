/* SPDX-License-Identifier: MIT */
/*
 * auth-passwd-file as the core sees it: init with a configuration, the
 * registered passdb's callbacks, reloading, logging.
 */
#include "passwd-file.h"
#include "poplar-private.h"
#include "pw-test-util.h"
#include "test-log.h"
#include "test-plugin-init.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const PoplarPluginDescriptor *poplar_plugin_auth_passwd_file(void);

/* ---- fixture ------------------------------------------------------------ */

typedef struct Fixture {
  char *dir;
  char *path;
  PoplarRegistry *reg;
  PoplarPlugin *plugin;
  PoplarConfigFile *conf;
  PoplarSession session;
  const PoplarPassdbEntry *passdb;
  PoplarAuthRequest *req; /* the last request made */
} Fixture;

/* Replaces the file atomically, as an administrator should. */
static void write_file(const char *path, const char *text, int mode)
{
  g_autofree char *tmp = g_strconcat(path, ".tmp", NULL);
  GError *error = NULL;
  if (!g_file_set_contents(tmp, text, -1, &error))
    g_error("%s", error->message);
  g_assert_no_errno(chmod(tmp, (mode_t)mode));
  g_assert_no_errno(rename(tmp, path));
}

/* Rewrites the file in place, keeping its inode, and moves its mtime on so
 * that even a coarse clock shows the change. */
static void rewrite_in_place(const char *path, const char *text)
{
  struct stat before;
  g_assert_no_errno(stat(path, &before));
  int fd = open(path, O_WRONLY | O_TRUNC);
  g_assert_cmpint(fd, >=, 0);
  size_t len = strlen(text);
  g_assert_cmpint(write(fd, text, len), ==, (ssize_t)len);
  g_assert_no_errno(close(fd));
  struct timespec times[2] = {before.st_atim, before.st_mtim};
  times[1].tv_sec += 2;
  g_assert_no_errno(utimensat(AT_FDCWD, path, times, 0));
  struct stat after;
  g_assert_no_errno(stat(path, &after));
  g_assert_cmpint(after.st_ino, ==, before.st_ino);
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
  (void)data;
  GError *error = NULL;
  f->dir = g_dir_make_tmp("passwd-file-XXXXXX", &error);
  g_assert_no_error(error);
  f->path = g_build_filename(f->dir, "users", NULL);
  f->reg = poplarpriv_registry_new();
  f->plugin = poplarpriv_plugin_new(f->reg, "auth-passwd-file",
                                    "auth-passwd-file.so");
  memset(&f->session, 0, sizeof f->session);
  g_strlcpy(f->session.id, "s1", sizeof f->session.id);
  test_log_clear();
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
  (void)data;
  poplarpriv_auth_request_free(f->req);
  /* destroys the passdb */
  poplarpriv_registry_free(f->reg);
  poplarpriv_config_free(f->conf);
  g_autofree char *tmp = g_strconcat(f->path, ".tmp", NULL);
  g_unlink(tmp);
  g_unlink(f->path);
  g_rmdir(f->dir);
  g_free(f->path);
  g_free(f->dir);
}

/* Runs the plugin's init on a [auth-passwd-file] section made of
 * @section_text (with PATH replaced by the fixture's file). */
static bool start_with(Fixture *f, const char *section_text)
{
  g_autofree char *body = NULL;
  {
    g_auto(GStrv) parts = g_strsplit(section_text, "PATH", -1);
    body = g_strjoinv(f->path, parts);
  }
  const PoplarPluginDescriptor *desc = poplar_plugin_auth_passwd_file();
  g_assert_cmpstr(desc->name, ==, "auth_passwd_file");
  bool ok =
      test_plugin_init(f->plugin, desc, "auth-passwd-file", body, &f->conf);
  if (ok) {
    g_assert_cmpuint(f->reg->passdbs->len, ==, 1);
    f->passdb = g_ptr_array_index(f->reg->passdbs, 0);
    g_assert_nonnull(f->passdb->ops.verify_plain);
    g_assert_nonnull(f->passdb->ops.lookup_secret);
    g_assert_nonnull(f->passdb->ops.destroy);
  } else {
    g_assert_cmpuint(f->reg->passdbs->len, ==, 0);
  }
  return ok;
}

/* Starts on @users with reloads checked at every login. */
static void start(Fixture *f, const char *users)
{
  write_file(f->path, users, 0600);
  if (!start_with(f, "path = PATH\nreload-interval = 0\n")) {
    for (guint i = 0; i < f->conf->errors->len; i++)
      g_printerr("  %s\n", (const char *)g_ptr_array_index(f->conf->errors,
                                                          i));
    g_error("init failed");
  }
  g_assert_cmpuint(f->conf->errors->len, ==, 0);
}

static PoplarAuthRequest *new_request(Fixture *f, const char *mech,
                                      const char *user)
{
  poplarpriv_auth_request_free(f->req);
  f->req = poplarpriv_auth_request_new(&f->session, mech, user);
  return f->req;
}

static PoplarPassdbResult verify(Fixture *f, const char *user,
                                 const char *password)
{
  PoplarAuthRequest *req = new_request(f, "USER", user);
  return f->passdb->ops.verify_plain(f->passdb->data, req, password);
}

static PoplarPassdbResult lookup(Fixture *f, const char *user)
{
  PoplarAuthRequest *req = new_request(f, "APOP", user);
  return f->passdb->ops.lookup_secret(f->passdb->data, req);
}

static PwPassdb *fixture_passdb(Fixture *f)
{
  return f->passdb->data;
}

static PwDb *fixture_db(Fixture *f)
{
  return fixture_passdb(f)->db;
}

/* ---- configuration -------------------------------------------------------- */

static void test_config_missing_path(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_false(start_with(f, "lowercase-usernames = yes\n"));
  test_assert_config_error(
      f->conf, "test.conf:4: [auth-passwd-file] path:", "is required");
}

static void test_config_relative_path(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_false(start_with(f, "path = users\n"));
  test_assert_config_error(
      f->conf, "test.conf:5: [auth-passwd-file] path:", "absolute path");
}

static void test_config_missing_file(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_false(start_with(f, "path = PATH\n"));
  test_assert_config_error(
      f->conf, "test.conf:5: [auth-passwd-file] path:", "No such file");
  test_assert_config_error(f->conf, f->path, NULL);
}

static void test_config_not_regular(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_false(start_with(f, "path = /\n"));
  test_assert_config_error(f->conf, "/: is not a regular file", NULL);
}

static void test_config_bad_values(Fixture *f, gconstpointer data)
{
  (void)data;
  write_file(f->path, "a:{PLAIN}x\n", 0600);
  g_assert_false(start_with(f, "path = PATH\nlowercase-usernames = maybe\n"
                               "reload-interval = soon\n"));
  test_assert_config_error(f->conf, "lowercase-usernames", "maybe");
  test_assert_config_error(f->conf, "reload-interval", "soon");
}

static void test_config_keys_known(Fixture *f, gconstpointer data)
{
  (void)data;
  write_file(f->path, "a:{PLAIN}x\n", 0600);
  g_assert_true(start_with(f, "path = PATH\nlowercase-usernames = no\n"
                              "reload-interval = 5s\n"));
  g_assert_cmpuint(f->conf->errors->len, ==, 0);
  g_assert_cmpint(fixture_db(f)->check_interval_us, ==, 5 * G_USEC_PER_SEC);
  test_assert_logged("info - auth-passwd-file: 1 users from", f->path);
}

static void test_config_bad_lines(Fixture *f, gconstpointer data)
{
  (void)data;
  write_file(f->path,
             "alice:{PLAIN}a\n"
             "bob:plaintext\n"
             "# comment\n"
             "carol:{PLAIN}c:x y\n",
             0600);
  g_assert_false(start_with(f, "path = PATH\n"));
  g_autofree char *line2 = g_strdup_printf("%s:2: user 'bob'", f->path);
  g_autofree char *line4 = g_strdup_printf("%s:4: user 'carol'", f->path);
  test_assert_config_error(f->conf,
                           "test.conf:5: [auth-passwd-file] path: ", line2);
  test_assert_config_error(f->conf, line4, "uid");
  g_assert_cmpuint(f->conf->errors->len, ==, 2);
}

static void test_config_world_writable(Fixture *f, gconstpointer data)
{
  (void)data;
  write_file(f->path, "alice:{PLAIN}a\n", 0666);
  g_assert_false(start_with(f, "path = PATH\n"));
  test_assert_config_error(f->conf, "writable by every local user", NULL);
}

static void test_world_readable_warns(Fixture *f, gconstpointer data)
{
  (void)data;
  write_file(f->path, "alice:{PLAIN}a\n", 0644);
  g_assert_true(start_with(f, "path = PATH\n"));
  test_assert_logged("warning", "readable by every local user");
}

/* ---- verify_plain ---------------------------------------------------------- */

static void test_verify(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *hash = pwt_hash("$6$", 1000, "alice-pw");
  g_autofree char *users = g_strdup_printf(
      "alice:{SHA512-CRYPT}%s:1000:1001:Alice:/home/alice:/bin/sh:"
      "mail=maildir:%%h/Mail quota=2G\n"
      "bob:{PLAIN}bob-pw\n",
      hash);
  start(f, users);

  g_assert_cmpint(verify(f, "alice", "alice-pw"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpstr(poplar_auth_request_user(f->req), ==, "alice");
  g_assert_cmpstr(poplar_auth_request_home(f->req), ==, "/home/alice");
  g_assert_cmpstr(poplar_auth_request_mail(f->req), ==, "maildir:%h/Mail");
  g_assert_cmpstr(poplar_auth_request_field(f->req, "uid"), ==, "1000");
  g_assert_cmpstr(poplar_auth_request_field(f->req, "gid"), ==, "1001");
  g_assert_cmpstr(poplar_auth_request_field(f->req, "quota"), ==, "2G");

  g_assert_cmpint(verify(f, "alice", "wrong-pw"), ==, POPLAR_PASSDB_DENIED);
  /* nothing of the account leaks into a failed request */
  g_assert_null(poplar_auth_request_home(f->req));
  g_assert_null(poplar_auth_request_mail(f->req));
  test_assert_logged("info s1 auth-passwd-file: user 'alice': wrong password",
                     NULL);

  g_assert_cmpint(verify(f, "bob", "bob-pw"), ==, POPLAR_PASSDB_OK);
  g_assert_null(poplar_auth_request_home(f->req));
  g_assert_cmpint(verify(f, "bob", "BOB-PW"), ==, POPLAR_PASSDB_DENIED);

  g_assert_cmpint(verify(f, "mallory", "alice-pw"), ==,
                  POPLAR_PASSDB_NO_SUCH_USER);
  test_assert_logged("info s1 auth-passwd-file: unknown user 'mallory'",
                     f->path);
  /* names are case-sensitive unless configured otherwise */
  g_assert_cmpint(verify(f, "Alice", "alice-pw"), ==,
                  POPLAR_PASSDB_NO_SUCH_USER);

  test_assert_never_logged("alice-pw");
  test_assert_never_logged("bob-pw");
  test_assert_never_logged("wrong-pw");
}

/* An unknown user costs a crypt(3) run like a real one does. */
static void test_unknown_user_runs_crypt(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *h1 = pwt_hash("$6$", 1000, "one");
  g_autofree char *h2 = pwt_hash("$6$", 1000, "two");
  g_autofree char *users =
      g_strdup_printf("u1:%s\nu2:%s\nplain:{PLAIN}p\nlocked:\n", h1, h2);
  start(f, users);

  unsigned before = pw_hash_checks();
  g_assert_cmpint(verify(f, "nobody", "one"), ==, POPLAR_PASSDB_NO_SUCH_USER);
  g_assert_cmpuint(pw_hash_checks() - before, ==, 1);

  before = pw_hash_checks();
  g_assert_cmpint(verify(f, "u1", "two"), ==, POPLAR_PASSDB_DENIED);
  g_assert_cmpuint(pw_hash_checks() - before, ==, 1);

  /* {PLAIN} users and accounts without a password pay the same */
  before = pw_hash_checks();
  g_assert_cmpint(verify(f, "plain", "p"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpuint(pw_hash_checks() - before, ==, 1);
  before = pw_hash_checks();
  g_assert_cmpint(verify(f, "locked", ""), ==, POPLAR_PASSDB_DENIED);
  g_assert_cmpuint(pw_hash_checks() - before, ==, 1);
  test_assert_logged("user 'locked' has no password", NULL);

  /* the dummy hash has the file's method and cost */
  PwTable *t = pw_db_snapshot(fixture_db(f));
  char want[64], got[64];
  pw_hash_cost_class(h1, want, sizeof want);
  pw_hash_cost_class(t->dummy.value, got, sizeof got);
  g_assert_cmpstr(got, ==, want);
  pw_table_unref(t);
}

static void test_long_password(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *hash = pwt_hash("$6$", 1000, "pw");
  g_autofree char *users = g_strdup_printf("alice:%s\n", hash);
  start(f, users);
  g_autofree char *pw = g_strnfill(PW_PASSWORD_MAX + 1, 'x');
  unsigned before = pw_hash_checks();
  g_assert_cmpint(verify(f, "alice", pw), ==, POPLAR_PASSDB_DENIED);
  g_assert_cmpint(verify(f, "nobody", pw), ==, POPLAR_PASSDB_NO_SUCH_USER);
  g_assert_cmpuint(pw_hash_checks(), ==, before);
  test_assert_never_logged(pw);
}

static void test_nologin(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "gone:{PLAIN}pw::::/home/gone::nologin reason=Account_moved\n"
           "quiet:{PLAIN}pw::::::nologin\n");
  g_assert_cmpint(verify(f, "gone", "bad"), ==, POPLAR_PASSDB_DENIED);
  g_assert_null(f->req->reason_text);

  g_assert_cmpint(verify(f, "gone", "pw"), ==, POPLAR_PASSDB_DENIED);
  g_assert_cmpstr(f->req->reason_code, ==, "AUTH");
  g_assert_cmpstr(f->req->reason_text, ==, "Account_moved");
  g_assert_null(poplar_auth_request_home(f->req));
  test_assert_logged("user 'gone' is marked nologin", NULL);

  g_assert_cmpint(verify(f, "quiet", "pw"), ==, POPLAR_PASSDB_DENIED);
  g_assert_null(f->req->reason_text);
}

static void test_lowercase_usernames(Fixture *f, gconstpointer data)
{
  (void)data;
  write_file(f->path, "Alice:{PLAIN}pw\n", 0600);
  g_assert_true(
      start_with(f, "path = PATH\nlowercase-usernames = yes\n"));
  g_assert_cmpint(verify(f, "ALICE", "pw"), ==, POPLAR_PASSDB_OK);
  /* the request carries the name as the file spells it (folded) */
  g_assert_cmpstr(poplar_auth_request_user(f->req), ==, "alice");
  g_assert_cmpint(verify(f, "alice", "PW"), ==, POPLAR_PASSDB_DENIED);
}

/* ---- lookup_secret ---------------------------------------------------------- */

static void test_lookup_secret(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *hash = pwt_hash("$y$", 1, "hashed-pw");
  g_autofree char *users = g_strdup_printf(
      "apop:{PLAIN}tanstaaf::::/home/apop::mail=maildir:~/M\n"
      "hashed:%s\n"
      "nopw:\n",
      hash);
  start(f, users);

  g_assert_cmpint(lookup(f, "apop"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpstr(f->req->secret, ==, "tanstaaf");
  g_assert_cmpstr(poplar_auth_request_home(f->req), ==, "/home/apop");
  g_assert_cmpstr(poplar_auth_request_mail(f->req), ==, "maildir:~/M");

  g_assert_cmpint(lookup(f, "hashed"), ==, POPLAR_PASSDB_DENIED);
  g_assert_null(f->req->secret);
  test_assert_logged("user 'hashed': APOP needs a {PLAIN} password", "a hash");

  g_assert_cmpint(lookup(f, "nopw"), ==, POPLAR_PASSDB_DENIED);
  g_assert_null(f->req->secret);

  g_assert_cmpint(lookup(f, "nobody"), ==, POPLAR_PASSDB_NO_SUCH_USER);
  g_assert_null(f->req->secret);
  test_assert_never_logged("tanstaaf");
}

/* ---- reloading ---------------------------------------------------------------- */

static void test_reload_on_rename(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "alice:{PLAIN}old\n");
  g_assert_cmpint(verify(f, "alice", "old"), ==, POPLAR_PASSDB_OK);
  write_file(f->path, "alice:{PLAIN}new\nbob:{PLAIN}b\n", 0600);
  g_assert_cmpint(verify(f, "alice", "new"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpint(verify(f, "alice", "old"), ==, POPLAR_PASSDB_DENIED);
  g_assert_cmpint(verify(f, "bob", "b"), ==, POPLAR_PASSDB_OK);
  test_assert_logged("reloaded", "2 users");
}

static void test_reload_in_place(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *old_hash = pwt_hash("$6$", 1000, "old");
  g_autofree char *new_hash = pwt_hash("$6$", 1000, "new");
  g_autofree char *v1 = g_strdup_printf("alice:%s\n", old_hash);
  g_autofree char *v2 = g_strdup_printf("alice:%s\n", new_hash);
  start(f, v1);
  g_assert_cmpint(verify(f, "alice", "old"), ==, POPLAR_PASSDB_OK);
  rewrite_in_place(f->path, v2);
  g_assert_cmpint(verify(f, "alice", "new"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpint(verify(f, "alice", "old"), ==, POPLAR_PASSDB_DENIED);
}

static void test_reload_broken_keeps_table(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "alice:{PLAIN}old\n");
  write_file(f->path, "alice:{PLAIN}new\nbob:not-a-hash\n", 0600);
  g_assert_cmpint(verify(f, "alice", "old"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpint(verify(f, "alice", "new"), ==, POPLAR_PASSDB_DENIED);
  g_autofree char *where = g_strdup_printf("%s:2: user 'bob'", f->path);
  test_assert_logged("error - auth-passwd-file: ", where);
  test_assert_logged("still using the 1 users", NULL);
  /* the same broken version is reported once, not at every login */
  g_assert_cmpint(verify(f, "alice", "old"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpuint(test_log_count(where, NULL), ==, 1);
  test_assert_never_logged("not-a-hash");

  /* fixed: the new version is taken */
  write_file(f->path, "alice:{PLAIN}new\n", 0600);
  g_assert_cmpint(verify(f, "alice", "new"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpint(verify(f, "alice", "old"), ==, POPLAR_PASSDB_DENIED);

  /* broken again with the same error: reported again */
  write_file(f->path, "alice:{PLAIN}newer\nbob:not-a-hash\n", 0600);
  g_assert_cmpint(verify(f, "alice", "new"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpuint(test_log_count(where, NULL), ==, 2);
}

static void test_reload_insecure_refused(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "alice:{PLAIN}old\n");
  write_file(f->path, "alice:{PLAIN}new\n", 0666);
  g_assert_cmpint(verify(f, "alice", "old"), ==, POPLAR_PASSDB_OK);
  test_assert_logged("error", "writable by every local user");
}

static void test_reload_file_removed(Fixture *f, gconstpointer data)
{
  (void)data;
  start(f, "alice:{PLAIN}pw\n");
  g_assert_no_errno(g_unlink(f->path));
  g_assert_cmpint(verify(f, "alice", "pw"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpint(verify(f, "alice", "pw"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpuint(test_log_count("No such file", NULL), ==, 1);
  write_file(f->path, "alice:{PLAIN}back\n", 0600);
  g_assert_cmpint(verify(f, "alice", "back"), ==, POPLAR_PASSDB_OK);
}

/* With the default interval the file is looked at no more than once per
 * second (here: once per hour). */
static void test_reload_interval(Fixture *f, gconstpointer data)
{
  (void)data;
  write_file(f->path, "alice:{PLAIN}old\n", 0600);
  g_assert_true(start_with(f, "path = PATH\nreload-interval = 1h\n"));
  write_file(f->path, "alice:{PLAIN}new\n", 0600);
  g_assert_cmpint(verify(f, "alice", "old"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpint(verify(f, "alice", "new"), ==, POPLAR_PASSDB_DENIED);
  /* once the interval has passed, the change is seen */
  fixture_db(f)->last_check -= 2 * G_TIME_SPAN_HOUR;
  g_assert_cmpint(verify(f, "alice", "new"), ==, POPLAR_PASSDB_OK);
}

/* ---- the verify cache ------------------------------------------------------ */

static gint64 fake_now = 1000;

static gint64 fake_clock(void)
{
  return fake_now;
}

/* Crypt runs of one verify. */
static unsigned crypt_cost(Fixture *f, const char *user, const char *password,
                           PoplarPassdbResult expect)
{
  unsigned before = pw_hash_checks();
  g_assert_cmpint(verify(f, user, password), ==, expect);
  return pw_hash_checks() - before;
}

static void test_cache_hit(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *hash = pwt_hash("$6$", 1000, "alice-pw");
  g_autofree char *users = g_strdup_printf(
      "alice:{SHA512-CRYPT}%s:1000:1001::/home/alice::quota=2G\n", hash);
  start(f, users);
  g_assert_nonnull(fixture_passdb(f)->cache);

  g_assert_cmpuint(crypt_cost(f, "alice", "alice-pw", POPLAR_PASSDB_OK), ==,
                   1);
  g_assert_cmpuint(test_log_count("from the cache", NULL), ==, 0);
  g_assert_cmpuint(crypt_cost(f, "alice", "alice-pw", POPLAR_PASSDB_OK), ==,
                   0);
  test_assert_logged("debug s1 auth-passwd-file: user 'alice': password "
                     "verified from the cache",
                     NULL);
  /* a hit hands over the account like a full check */
  g_assert_cmpstr(poplar_auth_request_home(f->req), ==, "/home/alice");
  g_assert_cmpstr(poplar_auth_request_field(f->req, "uid"), ==, "1000");
  g_assert_cmpstr(poplar_auth_request_field(f->req, "quota"), ==, "2G");
  g_assert_cmpuint(crypt_cost(f, "alice", "alice-pw", POPLAR_PASSDB_OK), ==,
                   0);
  g_assert_cmpuint(verify_cache_size(fixture_passdb(f)->cache), ==, 1);
  test_assert_never_logged("alice-pw");
}

/* A wrong password pays the full check, is never remembered, and the next
 * right password is checked in full again. */
static void test_cache_wrong_password(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *hash = pwt_hash("$6$", 1000, "alice-pw");
  g_autofree char *users = g_strdup_printf("alice:%s\n", hash);
  start(f, users);
  g_assert_cmpuint(crypt_cost(f, "alice", "wrong", POPLAR_PASSDB_DENIED), ==,
                   1);
  g_assert_cmpuint(verify_cache_size(fixture_passdb(f)->cache), ==, 0);
  g_assert_cmpuint(crypt_cost(f, "alice", "alice-pw", POPLAR_PASSDB_OK), ==,
                   1);
  g_assert_cmpuint(crypt_cost(f, "alice", "wrong", POPLAR_PASSDB_DENIED), ==,
                   1);
  g_assert_cmpuint(crypt_cost(f, "alice", "wrong", POPLAR_PASSDB_DENIED), ==,
                   1);
  g_assert_cmpuint(crypt_cost(f, "alice", "alice-pw", POPLAR_PASSDB_OK), ==,
                   1);
  g_assert_cmpuint(crypt_cost(f, "alice", "alice-pw", POPLAR_PASSDB_OK), ==,
                   0);
}

/* The file is the truth: a new hash, a new scheme or a removed user make
 * the cached password worthless at once. */
static void test_cache_file_changes(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *old_hash = pwt_hash("$6$", 1000, "old");
  g_autofree char *new_hash = pwt_hash("$6$", 1000, "new");
  g_autofree char *v1 =
      g_strdup_printf("alice:%s\nbob:%s\n", old_hash, old_hash);
  g_autofree char *v2 =
      g_strdup_printf("alice:%s\nbob:%s\n", new_hash, old_hash);
  start(f, v1);
  g_assert_cmpuint(crypt_cost(f, "alice", "old", POPLAR_PASSDB_OK), ==, 1);
  g_assert_cmpuint(crypt_cost(f, "bob", "old", POPLAR_PASSDB_OK), ==, 1);
  g_assert_cmpuint(crypt_cost(f, "alice", "old", POPLAR_PASSDB_OK), ==, 0);

  rewrite_in_place(f->path, v2);
  g_assert_cmpuint(crypt_cost(f, "alice", "old", POPLAR_PASSDB_DENIED), ==,
                   1);
  g_assert_cmpuint(crypt_cost(f, "alice", "new", POPLAR_PASSDB_OK), ==, 1);
  g_assert_cmpuint(crypt_cost(f, "alice", "new", POPLAR_PASSDB_OK), ==, 0);
  /* an unchanged line keeps its entry across the reload */
  g_assert_cmpuint(crypt_cost(f, "bob", "old", POPLAR_PASSDB_OK), ==, 0);

  /* bob's hash becomes his password in plain text */
  g_autofree char *v3 =
      g_strdup_printf("alice:%s\nbob:{PLAIN}%s\n", new_hash, old_hash);
  write_file(f->path, v3, 0600);
  g_assert_cmpint(verify(f, "bob", "old"), ==, POPLAR_PASSDB_DENIED);
  g_assert_cmpint(verify(f, "bob", old_hash), ==, POPLAR_PASSDB_OK);

  /* alice is removed */
  write_file(f->path, "bob:{PLAIN}b\n", 0600);
  g_assert_cmpint(verify(f, "alice", "new"), ==, POPLAR_PASSDB_NO_SUCH_USER);
  /* and comes back with another hash of the same password */
  g_autofree char *newer_hash = pwt_hash("$6$", 1000, "new");
  g_autofree char *v4 = g_strdup_printf("alice:%s\n", newer_hash);
  write_file(f->path, v4, 0600);
  g_assert_cmpuint(crypt_cost(f, "alice", "new", POPLAR_PASSDB_OK), ==, 1);
}

static void test_cache_expiry(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *hash = pwt_hash("$6$", 1000, "pw");
  g_autofree char *users = g_strdup_printf("alice:%s\n", hash);
  write_file(f->path, users, 0600);
  g_assert_true(start_with(f, "path = PATH\nverify-cache-ttl = 10m\n"));
  fake_now = 1000;
  verify_cache_set_clock(fixture_passdb(f)->cache, fake_clock);
  g_assert_cmpuint(crypt_cost(f, "alice", "pw", POPLAR_PASSDB_OK), ==, 1);
  fake_now += 10 * G_TIME_SPAN_MINUTE - 1;
  g_assert_cmpuint(crypt_cost(f, "alice", "pw", POPLAR_PASSDB_OK), ==, 0);
  fake_now += 1;
  g_assert_cmpuint(crypt_cost(f, "alice", "pw", POPLAR_PASSDB_OK), ==, 1);
  g_assert_cmpuint(crypt_cost(f, "alice", "pw", POPLAR_PASSDB_OK), ==, 0);
}

static void test_cache_size(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *hash = pwt_hash("$6$", 1000, "pw");
  g_autofree char *users =
      g_strdup_printf("u1:%s\nu2:%s\nu3:%s\n", hash, hash, hash);
  write_file(f->path, users, 0600);
  g_assert_true(start_with(f, "path = PATH\nverify-cache-size = 2\n"));
  fake_now = 1000;
  verify_cache_set_clock(fixture_passdb(f)->cache, fake_clock);
  g_assert_cmpuint(crypt_cost(f, "u1", "pw", POPLAR_PASSDB_OK), ==, 1);
  fake_now++;
  g_assert_cmpuint(crypt_cost(f, "u2", "pw", POPLAR_PASSDB_OK), ==, 1);
  fake_now++;
  g_assert_cmpuint(crypt_cost(f, "u3", "pw", POPLAR_PASSDB_OK), ==, 1);
  g_assert_cmpuint(verify_cache_size(fixture_passdb(f)->cache), ==, 2);
  /* u1, the oldest, made room */
  g_assert_cmpuint(crypt_cost(f, "u3", "pw", POPLAR_PASSDB_OK), ==, 0);
  g_assert_cmpuint(crypt_cost(f, "u2", "pw", POPLAR_PASSDB_OK), ==, 0);
  g_assert_cmpuint(crypt_cost(f, "u1", "pw", POPLAR_PASSDB_OK), ==, 1);
}

static void test_cache_disabled(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *hash = pwt_hash("$6$", 1000, "pw");
  g_autofree char *users = g_strdup_printf("alice:%s\nbob:{PLAIN}b\n", hash);
  write_file(f->path, users, 0600);
  g_assert_true(start_with(f, "path = PATH\nverify-cache = no\n"
                              "verify-cache-ttl = 5m\n"
                              "verify-cache-size = 10\n"));
  g_assert_cmpuint(f->conf->errors->len, ==, 0);
  g_assert_null(fixture_passdb(f)->cache);
  for (unsigned i = 0; i < 3; i++) {
    g_assert_cmpuint(crypt_cost(f, "alice", "pw", POPLAR_PASSDB_OK), ==, 1);
    g_assert_cmpuint(crypt_cost(f, "bob", "b", POPLAR_PASSDB_OK), ==, 1);
  }
  g_assert_cmpuint(test_log_count("from the cache", NULL), ==, 0);
}

/* A {PLAIN} user pays for the dummy hash when the file is hashed; the cache
 * spares it that as it spares a hashed user, and only for the right
 * password.  In a file of {PLAIN} passwords, nothing is cached. */
static void test_cache_plain(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *hash = pwt_hash("$6$", 1000, "pw");
  g_autofree char *users =
      g_strdup_printf("alice:%s\ncarol:{PLAIN}carol-pw\n", hash);
  start(f, users);
  g_assert_cmpuint(crypt_cost(f, "carol", "carol-pw", POPLAR_PASSDB_OK), ==,
                   1);
  g_assert_cmpuint(crypt_cost(f, "carol", "carol-pw", POPLAR_PASSDB_OK), ==,
                   0);
  g_assert_cmpuint(crypt_cost(f, "carol", "wrong", POPLAR_PASSDB_DENIED), ==,
                   1);
  g_assert_cmpuint(crypt_cost(f, "carol", "carol-pw", POPLAR_PASSDB_OK), ==,
                   1);

  write_file(f->path, "carol:{PLAIN}carol-pw\ndave:{PLAIN}dave-pw\n",
             0600);
  unsigned hits = test_log_count("from the cache", NULL);
  for (unsigned i = 0; i < 2; i++) {
    g_assert_cmpuint(crypt_cost(f, "carol", "carol-pw", POPLAR_PASSDB_OK),
                     ==, 0);
    g_assert_cmpuint(crypt_cost(f, "dave", "dave-pw", POPLAR_PASSDB_OK), ==,
                     0);
  }
  g_assert_cmpuint(test_log_count("from the cache", NULL), ==, hits);
  g_assert_cmpuint(verify_cache_size(fixture_passdb(f)->cache), ==, 1);
}

/* nologin is read from the file at every login, cached password or not. */
static void test_cache_nologin(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *hash = pwt_hash("$6$", 1000, "pw");
  g_autofree char *v1 = g_strdup_printf("alice:%s\n", hash);
  g_autofree char *v2 = g_strdup_printf(
      "alice:%s::::::nologin reason=Moved\n", hash);
  start(f, v1);
  g_assert_cmpuint(crypt_cost(f, "alice", "pw", POPLAR_PASSDB_OK), ==, 1);
  write_file(f->path, v2, 0600);
  g_assert_cmpuint(crypt_cost(f, "alice", "pw", POPLAR_PASSDB_DENIED), ==, 0);
  g_assert_cmpstr(f->req->reason_text, ==, "Moved");
  test_assert_logged("user 'alice' is marked nologin", NULL);
}

/* APOP asks for the secret: the cache neither answers nor learns it. */
static void test_cache_apop_unaffected(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *hash = pwt_hash("$6$", 1000, "pw");
  g_autofree char *users =
      g_strdup_printf("alice:%s\ncarol:{PLAIN}carol-pw\n", hash);
  start(f, users);
  g_assert_cmpuint(crypt_cost(f, "alice", "pw", POPLAR_PASSDB_OK), ==, 1);
  g_assert_cmpint(lookup(f, "alice"), ==, POPLAR_PASSDB_DENIED);
  g_assert_null(f->req->secret);
  g_assert_cmpint(lookup(f, "carol"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpstr(f->req->secret, ==, "carol-pw");
  g_assert_cmpuint(verify_cache_size(fixture_passdb(f)->cache), ==, 1);
}

static void test_cache_config_errors(Fixture *f, gconstpointer data)
{
  (void)data;
  write_file(f->path, "a:{PLAIN}x\n", 0600);
  g_assert_false(start_with(f, "path = PATH\n"
                               "verify-cache = sometimes\n"
                               "verify-cache-ttl = 2d\n"
                               "verify-cache-size = 0\n"));
  test_assert_config_error(
      f->conf, "test.conf:6: [auth-passwd-file] verify-cache:", "sometimes");
  test_assert_config_error(
      f->conf,
      "test.conf:7: [auth-passwd-file] verify-cache-ttl:", "at most 1d");
  test_assert_config_error(
      f->conf, "test.conf:8: [auth-passwd-file] verify-cache-size:", NULL);
  g_assert_cmpuint(f->conf->errors->len, ==, 3);
}

static void test_cache_config_zero_ttl(Fixture *f, gconstpointer data)
{
  (void)data;
  write_file(f->path, "a:{PLAIN}x\n", 0600);
  g_assert_false(start_with(f, "path = PATH\nverify-cache-ttl = 0\n"
                               "verify-cache-size = lots\n"));
  test_assert_config_error(
      f->conf,
      "test.conf:6: [auth-passwd-file] verify-cache-ttl:", "verify-cache = no");
  test_assert_config_error(
      f->conf, "test.conf:7: [auth-passwd-file] verify-cache-size:", "lots");
}

static void test_cache_config_limits(Fixture *f, gconstpointer data)
{
  (void)data;
  write_file(f->path, "a:{PLAIN}x\n", 0600);
  g_assert_true(start_with(f, "path = PATH\nverify-cache-ttl = 1d\n"
                              "verify-cache-size = 10000000\n"));
  g_assert_nonnull(fixture_passdb(f)->cache);
}

/* ---- the README's example ------------------------------------------------------ */

#ifdef README_PATH
static void test_readme_example(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *readme = NULL;
  GError *error = NULL;
  g_assert_true(g_file_get_contents(README_PATH, &readme, NULL, &error));
  const char *section = strstr(readme, "### Example");
  g_assert_nonnull(section);
  const char *open = strstr(section, "```\n");
  g_assert_nonnull(open);
  open += 4;
  const char *close = strstr(open, "```");
  g_assert_nonnull(close);
  g_autofree char *users = g_strndup(open, (size_t)(close - open));
  start(f, users);

  g_assert_cmpint(verify(f, "alice", "alice-secret"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpstr(poplar_auth_request_mail(f->req), ==, "maildir:%h/Maildir");
  g_assert_cmpstr(poplar_auth_request_field(f->req, "uid"), ==, "1000");
  g_assert_cmpint(verify(f, "bob", "bob-secret"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpstr(poplar_auth_request_home(f->req), ==, "/srv/mail/bob");
  g_assert_cmpint(verify(f, "carol", "tanstaaf"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpstr(poplar_auth_request_field(f->req, "quota"), ==, "2G");
  g_assert_cmpint(lookup(f, "carol"), ==, POPLAR_PASSDB_OK);
  g_assert_cmpint(verify(f, "dave", "dave-secret"), ==,
                  POPLAR_PASSDB_DENIED);
  g_assert_cmpstr(f->req->reason_text, ==, "Account_closed");
  g_assert_cmpint(verify(f, "eve", ""), ==, POPLAR_PASSDB_DENIED);
  g_assert_cmpint(verify(f, "frank", "x"), ==, POPLAR_PASSDB_NO_SUCH_USER);
}
#endif

/* ---- threads ------------------------------------------------------------------- */

typedef struct Worker {
  Fixture *f;
  unsigned failures;
  unsigned rounds;
} Worker;

static volatile gint stop_workers;

static gpointer worker_main(gpointer data)
{
  Worker *w = data;
  PoplarSession session = {0};
  g_strlcpy(session.id, "w", sizeof session.id);
  while (!g_atomic_int_get(&stop_workers) || w->rounds < 20) {
    /* alice never changes; bob's password flips between versions */
    PoplarAuthRequest *req =
        poplarpriv_auth_request_new(&session, "USER", "alice");
    PoplarPassdbResult r =
        w->f->passdb->ops.verify_plain(w->f->passdb->data, req, "stable");
    if (r != POPLAR_PASSDB_OK ||
        g_strcmp0(poplar_auth_request_home(req), "/home/alice") != 0)
      w->failures++;
    poplarpriv_auth_request_free(req);
    req = poplarpriv_auth_request_new(&session, "USER", "bob");
    r = w->f->passdb->ops.verify_plain(w->f->passdb->data, req, "v1");
    if (r != POPLAR_PASSDB_OK && r != POPLAR_PASSDB_DENIED)
      w->failures++;
    poplarpriv_auth_request_free(req);
    w->rounds++;
  }
  return NULL;
}

static void test_concurrent_logins_and_reloads(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *alice = pwt_hash("$6$", 1000, "stable");
  g_autofree char *v1 = g_strdup_printf(
      "alice:%s::::/home/alice\nbob:{PLAIN}v1\n", alice);
  g_autofree char *v2 = g_strdup_printf(
      "alice:%s::::/home/alice\nbob:{PLAIN}v2\ncarol:{PLAIN}c\n", alice);
  start(f, v1);
  enum { N_WORKERS = 8 };
  Worker workers[N_WORKERS] = {0};
  GThread *threads[N_WORKERS];
  g_atomic_int_set(&stop_workers, 0);
  for (unsigned i = 0; i < N_WORKERS; i++) {
    workers[i].f = f;
    threads[i] = g_thread_new("login", worker_main, &workers[i]);
  }
  for (unsigned i = 0; i < 40; i++) {
    write_file(f->path, i % 2 ? v1 : v2, 0600);
    g_usleep(2000);
  }
  g_atomic_int_set(&stop_workers, 1);
  for (unsigned i = 0; i < N_WORKERS; i++) {
    g_thread_join(threads[i]);
    g_assert_cmpuint(workers[i].failures, ==, 0);
    g_assert_cmpuint(workers[i].rounds, >=, 20);
  }
  /* reloads did happen while the workers ran */
  g_assert_cmpuint(test_log_count("reloaded", NULL), >, 0);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  test_log_capture_start(POPLAR_LOG_DEBUG);

#define ADD(name, func)                                                      \
  g_test_add("/passwd-file/plugin/" name, Fixture, NULL, fixture_setup,      \
             func, fixture_teardown)
  ADD("config/missing-path", test_config_missing_path);
  ADD("config/relative-path", test_config_relative_path);
  ADD("config/missing-file", test_config_missing_file);
  ADD("config/not-regular", test_config_not_regular);
  ADD("config/bad-values", test_config_bad_values);
  ADD("config/keys-known", test_config_keys_known);
  ADD("config/bad-lines", test_config_bad_lines);
  ADD("config/world-writable", test_config_world_writable);
  ADD("config/world-readable", test_world_readable_warns);
  ADD("verify/basic", test_verify);
  ADD("verify/unknown-user-runs-crypt", test_unknown_user_runs_crypt);
  ADD("verify/long-password", test_long_password);
  ADD("verify/nologin", test_nologin);
  ADD("verify/lowercase", test_lowercase_usernames);
  ADD("lookup-secret", test_lookup_secret);
  ADD("reload/rename", test_reload_on_rename);
  ADD("reload/in-place", test_reload_in_place);
  ADD("reload/broken-keeps-table", test_reload_broken_keeps_table);
  ADD("reload/insecure-refused", test_reload_insecure_refused);
  ADD("reload/file-removed", test_reload_file_removed);
  ADD("reload/interval", test_reload_interval);
  ADD("cache/hit", test_cache_hit);
  ADD("cache/wrong-password", test_cache_wrong_password);
  ADD("cache/file-changes", test_cache_file_changes);
  ADD("cache/expiry", test_cache_expiry);
  ADD("cache/size", test_cache_size);
  ADD("cache/disabled", test_cache_disabled);
  ADD("cache/plain", test_cache_plain);
  ADD("cache/nologin", test_cache_nologin);
  ADD("cache/apop-unaffected", test_cache_apop_unaffected);
  ADD("cache/config-errors", test_cache_config_errors);
  ADD("cache/config-zero-ttl", test_cache_config_zero_ttl);
  ADD("cache/config-limits", test_cache_config_limits);
  ADD("threads", test_concurrent_logins_and_reloads);
#ifdef README_PATH
  ADD("readme-example", test_readme_example);
#endif
#undef ADD

  int rc = g_test_run();
  test_log_capture_stop();
  return rc;
}
