/* SPDX-License-Identifier: MIT */
/* What store-maildir reads from a file name: unique part, UIDL, W= size,
 * delivery time and POP3 order. */
#include "maildir.h"

#include <stdlib.h>
#include <string.h>

/* RFC 1939 section 7, checked here independently of the plugin. */
static void assert_rfc1939_uidl(const char *uidl)
{
  size_t len = strlen(uidl);
  g_assert_cmpuint(len, >=, 1);
  g_assert_cmpuint(len, <=, 70);
  for (size_t i = 0; i < len; i++) {
    g_assert_cmpint((unsigned char)uidl[i], >=, 0x21);
    g_assert_cmpint((unsigned char)uidl[i], <=, 0x7e);
  }
}

static void check_base(const char *file, const char *expected)
{
  g_autofree char *base = maildir_name_base(file);
  g_assert_cmpstr(base, ==, expected);
}

static void test_base(void)
{
  check_base("1700000000.M123456P42.mx", "1700000000.M123456P42.mx");
  check_base("1700000000.M123456P42.mx:2,", "1700000000.M123456P42.mx");
  check_base("1700000000.M123456P42.mx:2,RS", "1700000000.M123456P42.mx");
  /* Dovecot's size fields never change the unique part. */
  check_base("1700000000.M1P2.mx,S=1234,W=1260:2,S", "1700000000.M1P2.mx");
  check_base("1700000000.M1P2.mx,W=1260,S=1234", "1700000000.M1P2.mx");
  check_base("1700000000.M1P2.mx,S=1234:2,S", "1700000000.M1P2.mx");
  /* Other fields stay. */
  check_base("1.M1P2.mx,X=7,S=5:2,", "1.M1P2.mx,X=7");
  check_base("1.M1P2.mx,S=5,X=7:2,", "1.M1P2.mx,X=7");
  /* Only ,S=<digits> and ,W=<digits> are size fields. */
  check_base("1.M1P2.mx,S=abc:2,", "1.M1P2.mx,S=abc");
  check_base("1.M1P2.mx,S=:2,", "1.M1P2.mx,S=");
  check_base("1.M1P2.mx,W=12x", "1.M1P2.mx,W=12x");
  check_base("1.M1P2.mx,s=12", "1.M1P2.mx,s=12");
  /* The first field is the name itself, whatever it looks like. */
  check_base("S=5,W=6", "S=5");
  /* Size fields after the colon belong to the info part. */
  check_base("1.M1P2.mx:2,S=5", "1.M1P2.mx");
  check_base(":2,S", "");
}

static void test_wsize(void)
{
  uint64_t w = 0;
  g_assert_true(maildir_name_wsize("1.M1P2.mx,S=1234,W=1260:2,S", &w));
  g_assert_cmpuint(w, ==, 1260);
  g_assert_true(maildir_name_wsize("1.M1P2.mx,W=0", &w));
  g_assert_cmpuint(w, ==, 0);
  g_assert_false(maildir_name_wsize("1.M1P2.mx,S=1234:2,S", &w));
  g_assert_false(maildir_name_wsize("1.M1P2.mx:2,W=5", &w));
  g_assert_false(maildir_name_wsize("1.M1P2.mx,W=:2,", &w));
  g_assert_false(maildir_name_wsize("1.M1P2.mx,W=5x", &w));
  g_assert_false(maildir_name_wsize("W=5", &w)); /* the name, not a field */
  /* Larger than any size: counted from the file instead. */
  g_assert_false(maildir_name_wsize("1.M1P2.mx,W=99999999999999999999999", &w));
}

static void test_uidl_plain(void)
{
  g_autofree char *u = maildir_uidl_for_base("1700000000.M123456P42.mx");
  g_assert_cmpstr(u, ==, "1700000000.M123456P42.mx");
  char seventy[71];
  memset(seventy, 'a', 70);
  seventy[70] = '\0';
  g_autofree char *u70 = maildir_uidl_for_base(seventy);
  g_assert_cmpstr(u70, ==, seventy);
}

static void check_hashed(const char *base)
{
  g_autofree char *u = maildir_uidl_for_base(base);
  assert_rfc1939_uidl(u);
  g_assert_cmpint(u[0], ==, MAILDIR_UIDL_HASH_PREFIX);
  g_autofree char *hex =
      g_compute_checksum_for_string(G_CHECKSUM_SHA256, base, -1);
  g_assert_cmpstr(u + 1, ==, hex);
  /* Stable: the same base always gives the same UIDL. */
  g_autofree char *again = maildir_uidl_for_base(base);
  g_assert_cmpstr(u, ==, again);
}

static void test_uidl_hashed(void)
{
  char seventy_one[72];
  memset(seventy_one, 'a', 71);
  seventy_one[71] = '\0';
  check_hashed(seventy_one);
  check_hashed("1700000000.M1P2.my host");      /* blank */
  check_hashed("1700000000.M1P2.h\xc3\xb6st"); /* UTF-8 */
  check_hashed("1700000000.M1P2.h\tx");         /* control character */
  check_hashed("1700000000.M1P2.h\x7f");        /* DEL */
  check_hashed("");
  /* A name that starts like a hashed UIDL is hashed too, so that no file
   * can take the UIDL of another one. */
  g_autofree char *fake_hex =
      g_compute_checksum_for_string(G_CHECKSUM_SHA256, "x y", -1);
  g_autofree char *fake = g_strdup_printf("~%s", fake_hex);
  check_hashed(fake);
  g_autofree char *real = maildir_uidl_for_base("x y");
  g_autofree char *from_fake = maildir_uidl_for_base(fake);
  g_assert_cmpstr(real, ==, fake);
  g_assert_cmpstr(from_fake, !=, real);
  check_hashed("~");
}

static void test_uidl_distinct(void)
{
  /* Many odd names that differ in one character past the 70th. */
  g_autoptr(GHashTable) seen =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  for (int i = 0; i < 500; i++) {
    g_autofree char *base = g_strdup_printf(
        "1700000000.M1P2.%0100d.with blank", i);
    char *u = maildir_uidl_for_base(base);
    assert_rfc1939_uidl(u);
    g_assert_false(g_hash_table_contains(seen, u));
    g_hash_table_add(seen, u);
  }
  g_assert_cmpuint(g_hash_table_size(seen), ==, 500);
}

static void test_uidl_valid(void)
{
  g_assert_true(maildir_uidl_valid("a"));
  g_assert_true(maildir_uidl_valid("!~"));
  g_assert_false(maildir_uidl_valid(""));
  g_assert_false(maildir_uidl_valid("a b"));
  g_assert_false(maildir_uidl_valid("a\x7f"));
  char s[72];
  memset(s, 'z', 71);
  s[71] = '\0';
  g_assert_false(maildir_uidl_valid(s));
  s[70] = '\0';
  g_assert_true(maildir_uidl_valid(s));
}

static void check_time(const char *base, uint64_t seconds, uint32_t usec)
{
  uint64_t s = 99;
  uint32_t u = 99;
  maildir_name_time(base, &s, &u);
  g_assert_cmpuint(s, ==, seconds);
  g_assert_cmpuint(u, ==, usec);
}

static void test_time(void)
{
  check_time("1700000000.M123456P42.mx", 1700000000, 123456);
  check_time("1700000000.M123456P42V0000000000000803I0001.mx", 1700000000,
             123456);
  check_time("1700000000.P42M7.mx", 1700000000, 7);
  check_time("1700000000.42_1.mx", 1700000000, 0);
  check_time("1700000000.42.mx.M55", 1700000000, 0); /* M in the host */
  check_time("1700000000", 0, 0);                    /* no dot: no time */
  check_time("mail-from-elsewhere", 0, 0);
  check_time("", 0, 0);
  check_time("99999999999999999999999.M1.mx", 0, 0); /* overflow */
}

static void test_order(void)
{
  /* Listed in a scrambled order; expected oldest first. */
  const char *names[] = {
      "1700000001.M5P1.mx:2,",
      "1700000000.M10P1.mx:2,",
      "no-time-b",
      "1700000000.M9P1.mx:2,S",
      "1700000000.M9P1.aa:2,",
      "no-time-a",
      "1699999999.M999999P1.mx",
      "1700000000.M9P1.aa,S=5:2,RS", /* same unique part as another */
  };
  const char *expected[] = {
      "no-time-a",
      "no-time-b",
      "1699999999.M999999P1.mx",
      "1700000000.M9P1.aa,S=5:2,RS",
      "1700000000.M9P1.aa:2,",
      "1700000000.M9P1.mx:2,S",
      "1700000000.M10P1.mx:2,", /* 10 > 9: numbers, not text */
      "1700000001.M5P1.mx:2,",
  };
  size_t n = G_N_ELEMENTS(names);
  MaildirMsg *msgs = g_new0(MaildirMsg, n);
  GStringChunk *strings = g_string_chunk_new(256);
  for (size_t i = 0; i < n; i++) {
    g_autofree char *base = maildir_name_base(names[i]);
    msgs[i].file = g_strdup(names[i]);
    msgs[i].base = g_string_chunk_insert(strings, base);
    maildir_name_time(msgs[i].base, &msgs[i].seconds, &msgs[i].usec);
  }
  qsort(msgs, n, sizeof *msgs, maildir_msg_compare);
  for (size_t i = 0; i < n; i++) {
    g_assert_cmpstr(msgs[i].file, ==, expected[i]);
    g_free(msgs[i].file);
  }
  g_free(msgs);
  g_string_chunk_free(strings);
}

static void test_cur_name(void)
{
  g_autofree char *a = maildir_cur_name("1700000000.M1P2.mx");
  g_assert_cmpstr(a, ==, "1700000000.M1P2.mx:2,");
  g_autofree char *b = maildir_cur_name("1700000000.M1P2.mx,S=5");
  g_assert_cmpstr(b, ==, "1700000000.M1P2.mx,S=5:2,");
  /* An info part is kept as it is. */
  g_autofree char *c = maildir_cur_name("1700000000.M1P2.mx:2,S");
  g_assert_cmpstr(c, ==, "1700000000.M1P2.mx:2,S");
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/maildir-name/base", test_base);
  g_test_add_func("/maildir-name/wsize", test_wsize);
  g_test_add_func("/maildir-name/uidl-plain", test_uidl_plain);
  g_test_add_func("/maildir-name/uidl-hashed", test_uidl_hashed);
  g_test_add_func("/maildir-name/uidl-distinct", test_uidl_distinct);
  g_test_add_func("/maildir-name/uidl-valid", test_uidl_valid);
  g_test_add_func("/maildir-name/time", test_time);
  g_test_add_func("/maildir-name/order", test_order);
  g_test_add_func("/maildir-name/cur-name", test_cur_name);
  return g_test_run();
}
