/* SPDX-License-Identifier: MIT */
/* auth-passwd-file: reading lines and files into a table of users. */
#include "passwd-file.h"
#include "pw-test-util.h"

#include <string.h>

static PwEntry *parse_line(const char *line, char **error)
{
  return pw_entry_parse(line, strlen(line), 7, false, error);
}

/* Parses @line, which must be bad, and checks that the error says
 * @expect. */
static void assert_bad_line(const char *line, const char *expect)
{
  char *error = NULL;
  PwEntry *e = parse_line(line, &error);
  if (e || !error || !strstr(error, expect))
    g_error("line '%s': expected an error with '%s', got %s '%s'", line,
            expect, e ? "an entry and" : "no entry and",
            error ? error : "(no error)");
  g_free(error);
}

static void test_full_line(void)
{
  g_autofree char *hash = pwt_hash("$6$", 1000, "secret");
  g_autofree char *line = g_strdup_printf(
      "alice:{SHA512-CRYPT}%s:1000:100:Alice A.:/home/alice:/bin/false:"
      "mail=maildir:%%h/Maildir quota=1G userdb_flags=x",
      hash);
  char *error = NULL;
  PwEntry *e = parse_line(line, &error);
  g_assert_null(error);
  g_assert_nonnull(e);
  g_assert_cmpstr(e->user, ==, "alice");
  g_assert_cmpuint(e->line, ==, 7);
  g_assert_cmpint(e->password.kind, ==, PW_KIND_HASH);
  g_autofree char *field = g_strconcat("{SHA512-CRYPT}", hash, NULL);
  g_assert_cmpstr(e->password.value, ==, field);
  g_assert_cmpstr(e->uid, ==, "1000");
  g_assert_cmpstr(e->gid, ==, "100");
  g_assert_cmpstr(e->home, ==, "/home/alice");
  /* the ':' inside the extra fields belongs to them */
  g_assert_cmpstr(e->mail, ==, "maildir:%h/Maildir");
  g_assert_nonnull(e->fields);
  g_assert_cmpuint(g_strv_length(e->fields), ==, 4);
  g_assert_cmpstr(e->fields[0], ==, "quota");
  g_assert_cmpstr(e->fields[1], ==, "1G");
  g_assert_cmpstr(e->fields[2], ==, "flags");
  g_assert_cmpstr(e->fields[3], ==, "x");
  g_assert_false(e->nologin);
  pw_entry_free(e);
}

static void test_short_lines(void)
{
  char *error = NULL;
  PwEntry *e = parse_line("bob:{PLAIN}pw", &error);
  g_assert_null(error);
  g_assert_nonnull(e);
  g_assert_cmpint(e->password.kind, ==, PW_KIND_PLAIN);
  g_assert_cmpstr(e->password.value, ==, "{PLAIN}pw");
  g_assert_null(e->uid);
  g_assert_null(e->home);
  g_assert_null(e->mail);
  g_assert_null(e->fields);
  pw_entry_free(e);

  /* empty fields, trailing colons, CRLF and trailing blanks */
  e = parse_line("carol:{plain}pw::::/srv/carol:: \r", &error);
  g_assert_null(error);
  g_assert_nonnull(e);
  g_assert_cmpstr(e->password.value, ==, "{plain}pw");
  g_assert_null(e->uid);
  g_assert_null(e->gid);
  g_assert_cmpstr(e->home, ==, "/srv/carol");
  pw_entry_free(e);

  /* an empty password: the account exists but cannot log in */
  e = parse_line("dave:", &error);
  g_assert_null(error);
  g_assert_nonnull(e);
  g_assert_cmpint(e->password.kind, ==, PW_KIND_NONE);
  pw_entry_free(e);

  /* CLEARTEXT is PLAIN */
  e = parse_line("erin:{CLEARTEXT}x:1:2", &error);
  g_assert_null(error);
  g_assert_cmpint(e->password.kind, ==, PW_KIND_PLAIN);
  g_assert_cmpstr(e->gid, ==, "2");
  pw_entry_free(e);
}

static void test_comments_and_blanks(void)
{
  const char *lines[] = {"", "   ", "\t", "# a comment", "   # indented",
                         "\r", "#alice:{PLAIN}x"};
  for (size_t i = 0; i < G_N_ELEMENTS(lines); i++) {
    char *error = NULL;
    PwEntry *e = parse_line(lines[i], &error);
    g_assert_null(e);
    g_assert_null(error);
  }
}

static void test_bare_crypt_hashes(void)
{
  const char *prefixes[] = {"$6$", "$5$", "$2b$", "$y$", "$1$"};
  const unsigned long counts[] = {1000, 1000, 4, 1, 0};
  for (size_t i = 0; i < G_N_ELEMENTS(prefixes); i++) {
    g_autofree char *hash = pwt_hash(prefixes[i], counts[i], "pw");
    g_autofree char *line = g_strdup_printf("u:%s", hash);
    char *error = NULL;
    PwEntry *e = parse_line(line, &error);
    if (!e)
      g_error("%s: %s", prefixes[i], error);
    g_assert_cmpint(e->password.kind, ==, PW_KIND_HASH);
    g_assert_cmpstr(e->password.value, ==, hash);
    pw_entry_free(e);
  }
}

static void test_scheme_names(void)
{
  g_autofree char *sha512 = pwt_hash("$6$", 1000, "pw");
  g_autofree char *sha256 = pwt_hash("$5$", 1000, "pw");
  g_autofree char *bcrypt = pwt_hash("$2b$", 4, "pw");
  g_autofree char *bcrypt_y = pwt_hash("$2y$", 4, "pw");
  g_autofree char *yescrypt = pwt_hash("$y$", 1, "pw");
  const struct {
    const char *scheme;
    const char *hash;
  } good[] = {
      {"SHA512-CRYPT", sha512}, {"sha512-crypt", sha512},
      {"SHA256-CRYPT", sha256}, {"BLF-CRYPT", bcrypt},
      {"BCRYPT", bcrypt},       {"BCRYPT", bcrypt_y},
      {"YESCRYPT", yescrypt},   {"CRYPT", yescrypt},
      {"CRYPT", sha512},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
    g_autofree char *line =
        g_strdup_printf("u:{%s}%s", good[i].scheme, good[i].hash);
    char *error = NULL;
    PwEntry *e = parse_line(line, &error);
    if (!e)
      g_error("{%s}: %s", good[i].scheme, error);
    pw_entry_free(e);
  }

  /* a hash under the wrong scheme name */
  g_autofree char *mismatch = g_strdup_printf("u:{SHA512-CRYPT}%s", bcrypt);
  assert_bad_line(mismatch, "{SHA512-CRYPT} needs a hash starting with $6$");
  g_autofree char *mismatch2 = g_strdup_printf("u:{YESCRYPT}%s", sha512);
  assert_bad_line(mismatch2, "{YESCRYPT} needs a hash starting with $y$");
}

static void test_bad_passwords(void)
{
  /* Plaintext without {PLAIN} must never be taken for a hash. */
  assert_bad_line("u:secret", "not a crypt(3) hash");
  assert_bad_line("u:{FOO}bar", "unknown password scheme {FOO}");
  assert_bad_line("u:{PLAIN", "no '}' ends the scheme name");
  assert_bad_line("u:{PLAIN}", "empty password");
  assert_bad_line("u:$6$salt$", "incomplete");
  assert_bad_line("u:$6$salt", "incomplete");
  assert_bad_line("u:$6$salt$tooshort", "damaged or truncated");
  assert_bad_line("u:$2b$04$tooshort", "bcrypt hash has 60 characters");
  assert_bad_line("u:$nosuch$salt$digest", "does not support");

  g_autofree char *hash = pwt_hash("$y$", 1, "pw");
  hash[strlen(hash) - 3] = '\0';
  g_autofree char *truncated = g_strdup_printf("u:%s", hash);
  assert_bad_line(truncated, "damaged or truncated");

  /* the error never repeats the password */
  char *error = NULL;
  PwEntry *e = parse_line("u:hunter2-secret", &error);
  g_assert_null(e);
  g_assert_null(strstr(error, "hunter2"));
  g_free(error);
}

static void test_bad_fields(void)
{
  assert_bad_line("nocolon", "no ':' after the user name");
  assert_bad_line(":{PLAIN}x", "user name is empty");
  assert_bad_line(" alice:{PLAIN}x", "contains a blank");
  assert_bad_line("a\x01:{PLAIN}x", "control character");
  assert_bad_line("u:{PLAIN}x:12x", "uid '12x' is neither");
  assert_bad_line("u:{PLAIN}x:1:g!d", "gid 'g!d' is neither");
  assert_bad_line("u:{PLAIN}x:1:1::home/u", "home 'home/u' is not an absolute");
  assert_bad_line("u:{PLAIN}x:::::: mail=", "mail= needs a location");
  assert_bad_line("u:{PLAIN}x::::::home=rel", "not an absolute path");
  assert_bad_line("u:{PLAIN}x::::::uid=-1", "uid '-1' is neither");
  assert_bad_line("u:{PLAIN}x::::::a=1 a=2", "'a' is given twice");
  assert_bad_line("u:{PLAIN}x::::::mail=a userdb_mail=b", "given twice");
  assert_bad_line("u:{PLAIN}x::::::b@d=1", "a key is letters");
  assert_bad_line("u:{PLAIN}x::::::nopassword", "nopassword");
  assert_bad_line("u:{PLAIN}x::::::reason=gone", "only goes with nologin");

  char *error = NULL;
  static const char nul_line[] = "u:{PLAIN}x\0y";
  PwEntry *e = pw_entry_parse(nul_line, sizeof nul_line - 1, 1, false, &error);
  g_assert_null(e);
  g_assert_nonnull(strstr(error, "NUL"));
  g_free(error);
}

static void test_extra_fields(void)
{
  char *error = NULL;
  PwEntry *e = parse_line(
      "u:{PLAIN}x:1:1::/home/u::userdb_home=/srv/u userdb_uid=vmail "
      "gid=2000  nologin reason=moved flag",
      &error);
  if (!e)
    g_error("%s", error);
  /* the extra field overrides the home and uid columns */
  g_assert_cmpstr(e->home, ==, "/srv/u");
  g_assert_cmpstr(e->uid, ==, "vmail");
  g_assert_cmpstr(e->gid, ==, "2000");
  g_assert_true(e->nologin);
  g_assert_cmpstr(e->reason, ==, "moved");
  g_assert_cmpuint(g_strv_length(e->fields), ==, 2);
  g_assert_cmpstr(e->fields[0], ==, "flag");
  g_assert_cmpstr(e->fields[1], ==, "");
  pw_entry_free(e);
}

static void test_lowercase(void)
{
  char *error = NULL;
  PwEntry *e = pw_entry_parse("Alice@Example.ORG:{PLAIN}x", 26, 1, true,
                              &error);
  g_assert_nonnull(e);
  g_assert_cmpstr(e->user, ==, "alice@example.org");
  pw_entry_free(e);

  const char text[] = "Bob:{PLAIN}x\n";
  GPtrArray *errors = NULL;
  PwTable *t = pw_table_parse(text, strlen(text), true, &errors);
  g_assert_nonnull(t);
  g_assert_nonnull(pw_table_lookup(t, "BOB"));
  g_assert_nonnull(pw_table_lookup(t, "bob"));
  pw_table_unref(t);
  g_ptr_array_unref(errors);

  t = pw_table_parse(text, strlen(text), false, &errors);
  g_assert_nonnull(t);
  g_assert_null(pw_table_lookup(t, "bob"));
  g_assert_nonnull(pw_table_lookup(t, "Bob"));
  pw_table_unref(t);
  g_ptr_array_unref(errors);
}

static void test_table(void)
{
  const char text[] = "# users\n"
                      "\n"
                      "alice:{PLAIN}a:1000:1000::/home/alice\n"
                      "bob:{PLAIN}b\r\n"
                      "carol:{PLAIN}c"; /* no final newline */
  GPtrArray *errors = NULL;
  PwTable *t = pw_table_parse(text, strlen(text), false, &errors);
  g_assert_nonnull(t);
  g_assert_cmpuint(errors->len, ==, 0);
  g_assert_cmpuint(pw_table_size(t), ==, 3);
  const PwEntry *e = pw_table_lookup(t, "alice");
  g_assert_nonnull(e);
  g_assert_cmpuint(e->line, ==, 3);
  g_assert_cmpstr(pw_table_lookup(t, "bob")->password.value, ==, "{PLAIN}b");
  g_assert_cmpuint(pw_table_lookup(t, "carol")->line, ==, 5);
  g_assert_null(pw_table_lookup(t, "dave"));
  pw_table_unref(t);
  g_ptr_array_unref(errors);
}

static void test_table_errors(void)
{
  const char text[] = "alice:{PLAIN}a\n"
                      "# fine\n"
                      "broken line\n"
                      "bob:{PLAIN}b\n"
                      "alice:{PLAIN}again\n"
                      "carol:plaintext\n";
  GPtrArray *errors = NULL;
  PwTable *t = pw_table_parse(text, strlen(text), false, &errors);
  g_assert_null(t);
  g_assert_cmpuint(errors->len, ==, 3);
  const PwLineError *le = g_ptr_array_index(errors, 0);
  g_assert_cmpuint(le->line, ==, 3);
  g_assert_nonnull(strstr(le->message, "no ':'"));
  le = g_ptr_array_index(errors, 1);
  g_assert_cmpuint(le->line, ==, 5);
  g_assert_nonnull(strstr(le->message, "already defined on line 1"));
  le = g_ptr_array_index(errors, 2);
  g_assert_cmpuint(le->line, ==, 6);
  g_assert_nonnull(strstr(le->message, "user 'carol'"));
  g_ptr_array_unref(errors);
}

static void test_table_error_cap(void)
{
  GString *text = g_string_new(NULL);
  for (unsigned i = 0; i < 50; i++)
    g_string_append(text, "garbage\n");
  GPtrArray *errors = NULL;
  PwTable *t = pw_table_parse(text->str, text->len, false, &errors);
  g_assert_null(t);
  g_assert_cmpuint(errors->len, ==, 21);
  const PwLineError *last = g_ptr_array_index(errors, 20);
  g_assert_cmpuint(last->line, ==, 0);
  g_assert_nonnull(strstr(last->message, "30 more bad lines"));
  g_ptr_array_unref(errors);
  g_string_free(text, TRUE);
}

static void test_cost_class(void)
{
  char cls[64];
  pw_hash_cost_class("$6$salt$digest", cls, sizeof cls);
  g_assert_cmpstr(cls, ==, "$6");
  pw_hash_cost_class("$6$rounds=5000$salt$digest", cls, sizeof cls);
  g_assert_cmpstr(cls, ==, "$6$rounds=5000");
  pw_hash_cost_class("$y$j9T$salt$digest", cls, sizeof cls);
  g_assert_cmpstr(cls, ==, "$y$j9T");
  g_autofree char *b12 = pwt_hash("$2b$", 5, "x");
  pw_hash_cost_class(b12, cls, sizeof cls);
  g_assert_cmpstr(cls, ==, "$2b$05");
  pw_hash_cost_class("abcdefghijklm", cls, sizeof cls);
  g_assert_cmpstr(cls, ==, "des");
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/passwd-file/parse/full-line", test_full_line);
  g_test_add_func("/passwd-file/parse/short-lines", test_short_lines);
  g_test_add_func("/passwd-file/parse/comments", test_comments_and_blanks);
  g_test_add_func("/passwd-file/parse/bare-hashes", test_bare_crypt_hashes);
  g_test_add_func("/passwd-file/parse/schemes", test_scheme_names);
  g_test_add_func("/passwd-file/parse/bad-passwords", test_bad_passwords);
  g_test_add_func("/passwd-file/parse/bad-fields", test_bad_fields);
  g_test_add_func("/passwd-file/parse/extra-fields", test_extra_fields);
  g_test_add_func("/passwd-file/parse/lowercase", test_lowercase);
  g_test_add_func("/passwd-file/parse/table", test_table);
  g_test_add_func("/passwd-file/parse/table-errors", test_table_errors);
  g_test_add_func("/passwd-file/parse/error-cap", test_table_error_cap);
  g_test_add_func("/passwd-file/parse/cost-class", test_cost_class);
  return g_test_run();
}
