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
    g_assert_cmpint(pw.kind, ==, PW_KIND_CRYPT);
    unsigned before = pw_crypt_calls();
    g_assert_cmpint(pw_password_check(&pw, "correct horse"), ==,
                    PW_CHECK_MATCH);
    g_assert_cmpint(pw_password_check(&pw, "correct horsE"), ==,
                    PW_CHECK_MISMATCH);
    g_assert_cmpint(pw_password_check(&pw, ""), ==, PW_CHECK_MISMATCH);
    g_assert_cmpint(pw_password_check(&pw, "correct horse "), ==,
                    PW_CHECK_MISMATCH);
    g_assert_cmpuint(pw_crypt_calls() - before, ==, 4);
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
    unsigned before = pw_crypt_calls();
    g_assert_cmpint(pw_password_check(&pw, "s3cret"), ==, PW_CHECK_MATCH);
    g_assert_cmpint(pw_password_check(&pw, "s3cre"), ==, PW_CHECK_MISMATCH);
    g_assert_cmpint(pw_password_check(&pw, "s3crett"), ==,
                    PW_CHECK_MISMATCH);
    g_assert_cmpint(pw_password_check(&pw, "S3cret"), ==, PW_CHECK_MISMATCH);
    g_assert_cmpint(pw_password_check(&pw, ""), ==, PW_CHECK_MISMATCH);
    g_assert_cmpuint(pw_crypt_calls(), ==, before);
    pw_password_clear(&pw);
  }
}

static void test_no_password(void)
{
  PwPassword pw;
  parse_password("", &pw);
  g_assert_cmpint(pw.kind, ==, PW_KIND_NONE);
  g_assert_cmpint(pw_password_check(&pw, ""), ==, PW_CHECK_MISMATCH);
  g_assert_cmpint(pw_password_check(&pw, "x"), ==, PW_CHECK_MISMATCH);
}

static void test_equal_consttime(void)
{
  g_assert_true(pw_equal_consttime("", ""));
  g_assert_true(pw_equal_consttime("abc", "abc"));
  g_assert_false(pw_equal_consttime("abc", "abd"));
  g_assert_false(pw_equal_consttime("abc", "ab"));
  g_assert_false(pw_equal_consttime("ab", "abc"));
  g_assert_false(pw_equal_consttime("", "a"));
  g_assert_false(pw_equal_consttime("a", ""));
  /* a repetition of the stored value must not pass the cyclic walk */
  g_assert_false(pw_equal_consttime("abab", "ab"));
  g_assert_false(pw_equal_consttime("xbc", "abc"));
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
  g_assert_cmpint(t->dummy.kind, ==, PW_KIND_CRYPT);
  char want[64], got[64];
  pw_hash_cost_class(y1, want, sizeof want);
  pw_hash_cost_class(t->dummy.value, got, sizeof got);
  g_assert_cmpstr(got, ==, want);
  /* it is a fresh hash, not a user's */
  g_assert_cmpstr(t->dummy.value, !=, y1);
  g_assert_cmpstr(t->dummy.value, !=, y2);

  unsigned before = pw_crypt_calls();
  pw_table_burn_dummy(t, "whatever");
  g_assert_cmpuint(pw_crypt_calls() - before, ==, 1);
  pw_table_unref(t);
}

static void test_dummy_of_plain_file(void)
{
  PwTable *t = table_from("a:{PLAIN}x\nb:{PLAIN}y\n");
  g_assert_cmpint(t->dummy.kind, ==, PW_KIND_PLAIN);
  unsigned before = pw_crypt_calls();
  pw_table_burn_dummy(t, "x");
  g_assert_cmpuint(pw_crypt_calls(), ==, before);
  pw_table_unref(t);

  /* an empty file still has something to check unknown users against */
  t = table_from("");
  g_assert_cmpint(t->dummy.kind, ==, PW_KIND_PLAIN);
  pw_table_unref(t);
}

/* Passwords up to libcrypt's limit hash; one octet more fails cleanly. */
static void test_long_password(void)
{
  g_autofree char *hash = pwt_hash("$6$", 1000, "x");
  PwPassword pw;
  parse_password(hash, &pw);
  char *longest = g_strnfill(PW_PASSWORD_MAX, 'a');
  g_assert_cmpint(pw_password_check(&pw, longest), ==, PW_CHECK_MISMATCH);
  char *too_long = g_strnfill(PW_PASSWORD_MAX + 1, 'a');
  g_assert_cmpint(pw_password_check(&pw, too_long), ==, PW_CHECK_FAILED);
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
  g_test_add_func("/passwd-file/verify/equal-consttime",
                  test_equal_consttime);
  g_test_add_func("/passwd-file/verify/dummy-typical",
                  test_dummy_follows_typical_hash);
  g_test_add_func("/passwd-file/verify/dummy-plain", test_dummy_of_plain_file);
  g_test_add_func("/passwd-file/verify/long-password", test_long_password);
  return g_test_run();
}
