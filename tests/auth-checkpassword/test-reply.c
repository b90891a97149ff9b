/* SPDX-License-Identifier: MIT */
/*
 * auth-checkpassword's reply parser, request builder and log escaping.
 * The replies are written as Dovecot's checkpassword-reply writes them;
 * the integration test runs both reply programs for real.
 */
#include "auth-checkpassword.h"

#include <string.h>

static const char *field(const CheckpwReply *r, const char *key)
{
  const char *found = NULL;
  for (guint i = 0; i < r->fields->len; i++) {
    const CheckpwField *f = g_ptr_array_index(r->fields, i);
    if (!strcmp(f->key, key))
      found = f->value;
  }
  return found;
}

static void parse_ok(const char *text, CheckpwReply *r)
{
  g_autofree char *error = NULL;
  gboolean ok = checkpw_reply_parse(text, strlen(text), r, &error);
  g_assert_null(error);
  g_assert_true(ok);
}

static void parse_fails(const char *text, size_t len, const char *why)
{
  CheckpwReply r = {0};
  g_autofree char *error = NULL;
  g_assert_false(checkpw_reply_parse(text, len, &r, &error));
  g_assert_null(r.fields);
  g_assert_nonnull(error);
  if (!strstr(error, why))
    g_error("reply error '%s' does not mention '%s'", error, why);
}

static void test_dovecot_reply(void)
{
  CheckpwReply r;
  parse_ok("user=alice\tuserdb_home=/home/alice\tuserdb_mail=maildir:~/M\t"
           "userdb_uid=1000\tuserdb_gid=100\tquota=10M\t", &r);
  g_assert_cmpuint(r.fields->len, ==, 6);
  g_assert_cmpstr(field(&r, "user"), ==, "alice");
  g_assert_cmpstr(field(&r, "home"), ==, "/home/alice");
  g_assert_cmpstr(field(&r, "mail"), ==, "maildir:~/M");
  g_assert_cmpstr(field(&r, "uid"), ==, "1000");
  g_assert_cmpstr(field(&r, "gid"), ==, "100");
  g_assert_cmpstr(field(&r, "quota"), ==, "10M");
  g_assert_null(field(&r, "userdb_uid"));
  checkpw_reply_clear(&r);
  g_assert_null(r.fields);
}

static void test_order_and_case(void)
{
  CheckpwReply r;
  /* No final TAB, empty items, upper case keys, a repeated key (the last
   * one counts), an empty value, '=' inside a value. */
  parse_ok("\t\tUSER=Bob\t\tMail=\tuser=bob\tx=a=b", &r);
  g_assert_cmpuint(r.fields->len, ==, 4);
  g_assert_cmpstr(field(&r, "user"), ==, "bob");
  g_assert_cmpstr(field(&r, "mail"), ==, "");
  g_assert_cmpstr(field(&r, "x"), ==, "a=b");
  checkpw_reply_clear(&r);

  /* "userdb_" alone is a key of its own, not an empty one. */
  parse_ok("userdb_=v", &r);
  g_assert_cmpstr(field(&r, "userdb_"), ==, "v");
  checkpw_reply_clear(&r);
}

static void test_empty_replies(void)
{
  CheckpwReply r;
  /* What our reply program writes when the program set nothing. */
  parse_ok("\t", &r);
  g_assert_cmpuint(r.fields->len, ==, 0);
  checkpw_reply_clear(&r);
  parse_ok("", &r);
  g_assert_cmpuint(r.fields->len, ==, 0);
  checkpw_reply_clear(&r);
}

static void test_utf8_and_space(void)
{
  CheckpwReply r;
  parse_ok("user=J\xc3\xb6rg M\xc3\xbcller\tuserdb_home=/home/j m\t", &r);
  g_assert_cmpstr(field(&r, "user"), ==, "J\xc3\xb6rg M\xc3\xbcller");
  g_assert_cmpstr(field(&r, "home"), ==, "/home/j m");
  checkpw_reply_clear(&r);
}

static void test_escapes(void)
{
  CheckpwReply r;
  /* Escapes of printable characters do not exist, but a value with no
   * escape passes untouched. */
  parse_ok("note=a b\tuser=c", &r);
  g_assert_cmpstr(field(&r, "note"), ==, "a b");
  checkpw_reply_clear(&r);
  /* Every escape decodes to a control character, which no field may
   * hold: a home or mail location with a line end is refused. */
  parse_fails("note=a\0011b", 9, "control character");
  parse_fails("home=/a\001tb", 10, "control character");
  parse_fails("home=/a\001nb", 10, "control character");
  parse_fails("home=/a\001rb", 10, "control character");
  parse_fails("home=/a\0010b", 10, "NUL");
  parse_fails("home=/a\001xb", 10, "bad escape");
  parse_fails("home=/a\001", 8, "bad escape");
}

static void test_garbage(void)
{
  parse_fails("hello world", 11, "not key=value");
  parse_fails("user=a\nhome=/b", 14, "line feed");
  parse_fails("user=a\0home=/b", 14, "NUL");
  parse_fails("=value", 6, "empty");
  parse_fails("us er=a", 7, "characters other than");
  parse_fails("us\xc3\xa9r=a", 7, "characters other than");
  parse_fails("user=a\rb", 8, "control character");
  parse_fails("user=a\x7f", 7, "control character");
  char key[100];
  memset(key, 'k', sizeof key);
  key[80] = '=';
  parse_fails(key, 81, "longer than 64");
}

static void test_too_long(void)
{
  size_t len = CHECKPW_REPLY_MAX + 1;
  char *big = g_malloc(len);
  memcpy(big, "x=", 2);
  memset(big + 2, 'a', len - 2);
  parse_fails(big, len, "longer than");
  /* Exactly the limit is fine. */
  CheckpwReply r;
  g_autofree char *error = NULL;
  g_assert_true(checkpw_reply_parse(big, len - 1, &r, &error));
  g_assert_cmpuint(strlen(field(&r, "x")), ==, len - 3);
  checkpw_reply_clear(&r);
  g_free(big);
}

static void test_request(void)
{
  GByteArray *b = g_byte_array_new();
  g_assert_true(checkpw_request_build("al ice", "p\xc3\xa4ss", b));
  static const char want[] = "al ice\0p\xc3\xa4ss\0";
  g_assert_cmpmem(b->data, b->len, want, sizeof want);
  g_byte_array_set_size(b, 0);

  /* 512 octets with the three NULs, and no more. */
  char user[300], pass[300];
  memset(user, 'u', sizeof user);
  memset(pass, 'p', sizeof pass);
  user[255] = '\0';
  pass[254] = '\0';
  g_assert_true(checkpw_request_build(user, pass, b));
  g_assert_cmpuint(b->len, ==, CHECKPW_REQUEST_MAX);
  g_byte_array_set_size(b, 0);
  pass[254] = 'p';
  pass[255] = '\0';
  g_assert_false(checkpw_request_build(user, pass, b));
  g_assert_cmpuint(b->len, ==, 0);
  g_byte_array_free(b, TRUE);
}

static void test_loggable(void)
{
  g_autofree char *a = checkpw_loggable("a\tb\\c\n", 6, 100);
  g_assert_cmpstr(a, ==, "a\\x09b\\\\c\\x0a");
  g_autofree char *b = checkpw_loggable("abcdef", 6, 3);
  g_assert_cmpstr(b, ==, "abc...");
  g_autofree char *c = checkpw_loggable("abc", 3, 3);
  g_assert_cmpstr(c, ==, "abc");
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/checkpassword/reply/dovecot", test_dovecot_reply);
  g_test_add_func("/checkpassword/reply/order-and-case", test_order_and_case);
  g_test_add_func("/checkpassword/reply/empty", test_empty_replies);
  g_test_add_func("/checkpassword/reply/utf8-and-space", test_utf8_and_space);
  g_test_add_func("/checkpassword/reply/escapes", test_escapes);
  g_test_add_func("/checkpassword/reply/garbage", test_garbage);
  g_test_add_func("/checkpassword/reply/too-long", test_too_long);
  g_test_add_func("/checkpassword/request", test_request);
  g_test_add_func("/checkpassword/loggable", test_loggable);
  return g_test_run();
}
