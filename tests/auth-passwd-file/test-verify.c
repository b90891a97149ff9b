/* SPDX-License-Identifier: MIT */
/* auth-passwd-file: checking passwords against what the file stores. */
#include "passwd-file.h"
#include "pw-test-util.h"

#include <string.h>

static void parse_password(const char *field, PwPassword *pw)
{
  char *error = NULL;
  if (!pw_password_parse(field, pw, &error))
    g_error("'%s' does not parse: %s", field, error);
}

/* Each scheme accepts its password and refuses others. */
static void test_schemes(void)
{
  const struct {
    const char *scheme; /* NULL: a bare hash */
    const char *prefix;
    unsigned long count;
  } cases[] = {
      {"SHA512-CRYPT", "$6$", 1000}, {NULL, "$6$", 1000},
      {"SHA256-CRYPT", "$5$", 1000}, {"BLF-CRYPT", "$2b$", 4},
      {"BCRYPT", "$2y$", 4},         {NULL, "$2b$", 4},
      {"YESCRYPT", "$y$", 1},        {NULL, "$y$", 1},
      {"CRYPT", "$y$", 1},           {"MD5-CRYPT", "$1$", 0},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *hash =
        pwt_hash(cases[i].prefix, cases[i].count, "correct horse");
    g_autofree char *field =
        cases[i].scheme ? g_strdup_printf("{%s}%s", cases[i].scheme, hash)
                        : g_strdup(hash);
    PwPassword pw;
    parse_password(field, &pw);
    g_assert_cmpint(pw.kind, ==, PW_KIND_HASH);
    unsigned before = pw_hash_checks();
    g_assert_cmpint(pw_password_check(&pw, "correct horse", NULL), ==,
                    PW_CHECK_MATCH);
    g_assert_cmpint(pw_password_check(&pw, "correct horsE", NULL), ==,
                    PW_CHECK_MISMATCH);
    g_assert_cmpint(pw_password_check(&pw, "", NULL), ==, PW_CHECK_MISMATCH);
    g_assert_cmpint(pw_password_check(&pw, "correct horse ", NULL), ==,
                    PW_CHECK_MISMATCH);
    g_assert_cmpuint(pw_hash_checks() - before, ==, 4);
    pw_password_clear(&pw);
    g_assert_null(pw.value);
  }
}

static void test_plain(void)
{
  const char *fields[] = {"{PLAIN}s3cret", "{CLEARTEXT}s3cret",
                          "{plain}s3cret"};
  for (size_t i = 0; i < G_N_ELEMENTS(fields); i++) {
    PwPassword pw;
    parse_password(fields[i], &pw);
    g_assert_cmpint(pw.kind, ==, PW_KIND_PLAIN);
    unsigned before = pw_hash_checks();
    g_assert_cmpint(pw_password_check(&pw, "s3cret", NULL), ==, PW_CHECK_MATCH);
    g_assert_cmpint(pw_password_check(&pw, "s3cre", NULL), ==, PW_CHECK_MISMATCH);
    g_assert_cmpint(pw_password_check(&pw, "s3crett", NULL), ==,
                    PW_CHECK_MISMATCH);
    g_assert_cmpint(pw_password_check(&pw, "S3cret", NULL), ==, PW_CHECK_MISMATCH);
    g_assert_cmpint(pw_password_check(&pw, "", NULL), ==, PW_CHECK_MISMATCH);
    g_assert_cmpuint(pw_hash_checks(), ==, before);
    pw_password_clear(&pw);
  }
}

static void test_no_password(void)
{
  PwPassword pw;
  parse_password("", &pw);
  g_assert_cmpint(pw.kind, ==, PW_KIND_NONE);
  g_assert_cmpint(pw_password_check(&pw, "", NULL), ==, PW_CHECK_MISMATCH);
  g_assert_cmpint(pw_password_check(&pw, "x", NULL), ==, PW_CHECK_MISMATCH);
}

/* Schemes beyond crypt(3), from libpoplar, with hashes made by Dovecot's
 * doveadm at run time (skipped when it is not installed). */
static void test_other_schemes(void)
{
  const char *schemes[] = {"SSHA512", "ARGON2ID", "PBKDF2", "CRAM-MD5",
                           "SHA256.HEX", "PLAIN.B64"};
  for (size_t i = 0; i < G_N_ELEMENTS(schemes); i++) {
    g_autofree char *path = g_find_program_in_path("doveadm");
    if (!path) {
      g_test_skip("doveadm (dovecot-core) is not installed");
      return;
    }
    const char *argv[] = {"doveadm", "pw", "-s", schemes[i], "-p",
                          "correct horse", NULL};
    char *out = NULL;
    int status = 0;
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL,
                               G_SPAWN_SEARCH_PATH, NULL, NULL, &out, NULL,
                               &status, NULL));
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    g_strstrip(out);
    PwPassword pw;
    parse_password(out, &pw);
    bool plain = g_str_has_prefix(schemes[i], "PLAIN");
    g_assert_cmpint(pw.kind, ==, plain ? PW_KIND_PLAIN : PW_KIND_HASH);
    g_assert_cmpstr(pw.value, ==, out);
    g_assert_cmpint(pw_password_check(&pw, "correct horse", NULL), ==,
                    PW_CHECK_MATCH);
    g_assert_cmpint(pw_password_check(&pw, "correct horsE", NULL), ==,
                    PW_CHECK_MISMATCH);
    g_autofree char *secret = pw_password_secret(&pw);
    g_assert_cmpstr(secret, ==, plain ? "correct horse" : NULL);
    pw_password_clear(&pw);
    g_free(out);
  }
}

static PwTable *table_from(const char *text)
{
  GPtrArray *errors = NULL;
  PwTable *t = pw_table_parse(text, strlen(text), false, &errors);
  if (!t) {
    const PwLineError *le = g_ptr_array_index(errors, 0);
    g_error("line %u: %s", le->line, le->message);
  }
  g_ptr_array_unref(errors);
  char *error = NULL;
  if (!pw_table_prepare_dummy(t, &error))
    g_error("%s", error);
  return t;
}

/* The dummy is a hash of the file's most common cost class, and checking
 * it runs crypt(3). */
static void test_dummy_follows_typical_hash(void)
{
  g_autofree char *y1 = pwt_hash("$y$", 1, "a");
  g_autofree char *y2 = pwt_hash("$y$", 1, "b");
  g_autofree char *s1 = pwt_hash("$6$", 1000, "c");
  g_autofree char *text = g_strdup_printf("p:{PLAIN}x\ns:%s\na:%s\nb:%s\n",
                                          s1, y1, y2);
  PwTable *t = table_from(text);
  g_assert_cmpint(t->dummy.kind, ==, PW_KIND_HASH);
  char want[64], got[64];
  pw_hash_cost_class(y1, want, sizeof want);
  pw_hash_cost_class(t->dummy.value, got, sizeof got);
  g_assert_cmpstr(got, ==, want);
  /* it is a fresh hash, not a user's */
  g_assert_cmpstr(t->dummy.value, !=, y1);
  g_assert_cmpstr(t->dummy.value, !=, y2);

  unsigned before = pw_hash_checks();
  pw_table_burn_dummy(t, "whatever");
  g_assert_cmpuint(pw_hash_checks() - before, ==, 1);
  pw_table_unref(t);
}

static void test_dummy_of_plain_file(void)
{
  PwTable *t = table_from("a:{PLAIN}x\nb:{PLAIN}y\n");
  g_assert_cmpint(t->dummy.kind, ==, PW_KIND_PLAIN);
  unsigned before = pw_hash_checks();
  pw_table_burn_dummy(t, "x");
  g_assert_cmpuint(pw_hash_checks(), ==, before);
  pw_table_unref(t);

  /* an empty file still has something to check unknown users against */
  t = table_from("");
  g_assert_cmpint(t->dummy.kind, ==, PW_KIND_PLAIN);
  pw_table_unref(t);
}

/* Passwords up to libcrypt's limit hash; one octet more cannot match any
 * crypt(3) hash (and the plugin refuses it before checking). */
static void test_long_password(void)
{
  g_autofree char *hash = pwt_hash("$6$", 1000, "x");
  PwPassword pw;
  parse_password(hash, &pw);
  char *longest = g_strnfill(PW_PASSWORD_MAX, 'a');
  g_assert_cmpint(pw_password_check(&pw, longest, NULL), ==, PW_CHECK_MISMATCH);
  char *too_long = g_strnfill(PW_PASSWORD_MAX + 1, 'a');
  g_assert_cmpint(pw_password_check(&pw, too_long, NULL), ==,
                  PW_CHECK_MISMATCH);
  g_free(longest);
  g_free(too_long);
  pw_password_clear(&pw);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/passwd-file/verify/schemes", test_schemes);
  g_test_add_func("/passwd-file/verify/plain", test_plain);
  g_test_add_func("/passwd-file/verify/no-password", test_no_password);
  g_test_add_func("/passwd-file/verify/other-schemes", test_other_schemes);
  g_test_add_func("/passwd-file/verify/dummy-typical",
                  test_dummy_follows_typical_hash);
  g_test_add_func("/passwd-file/verify/dummy-plain", test_dummy_of_plain_file);
  g_test_add_func("/passwd-file/verify/long-password", test_long_password);
  return g_test_run();
}
