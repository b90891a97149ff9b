/* SPDX-License-Identifier: MIT */
/* The header key: what must and must not change it. */
#include "uidl-import.h"

#include <string.h>

static char *key_of(const char *text)
{
  char out[HEADER_KEY_LEN + 1];
  header_key_of(text, strlen(text), out);
  return g_strdup(out);
}

static void assert_same(const char *a, const char *b)
{
  g_autofree char *ka = key_of(a);
  g_autofree char *kb = key_of(b);
  if (strcmp(ka, kb) != 0)
    g_error("keys differ:\n---\n%s---\n%s---", a, b);
}

static void assert_differ(const char *a, const char *b)
{
  g_autofree char *ka = key_of(a);
  g_autofree char *kb = key_of(b);
  if (strcmp(ka, kb) == 0)
    g_error("keys equal:\n---\n%s---\n%s---", a, b);
}

#define BASE "Subject: hello\nFrom: a@example.org\nMessage-ID: <1@x>\n"

static void test_line_ends_and_body(void)
{
  assert_same(BASE "\nbody\n",
              "Subject: hello\r\nFrom: a@example.org\r\n"
              "Message-ID: <1@x>\r\n\r\nanother body\r\n");
  /* TOP n 0 gives the header and the empty line only. */
  assert_same(BASE "\n", BASE "\nbody\n");
  /* A message that is all header. */
  assert_same(BASE, BASE "\n");
  /* CR CR LF ends the header, as some servers think. */
  assert_same(BASE "\r\r\nX-After: 1\n\n", BASE "\n");
}

static void test_store_headers_ignored(void)
{
  assert_same(BASE "\n",
              "Status: RO\nSubject: hello\nX-UID: 7\nFrom: a@example.org\n"
              "X-IMAPbase: 1700000000 8\nMessage-ID: <1@x>\n"
              "X-UIDL: abc\nx-status: A\ncontent-length: 12\n"
              "Return-Path: <a@example.org>\nX-Keywords: $Junk\n\n");
  /* ...and their continuation lines with them. */
  assert_same(BASE "\n", "X-Keywords: one\n two\n" BASE "\n");
}

static void test_whitespace_and_8bit(void)
{
  /* Spaces and tabs do not count, wherever they are. */
  assert_same(BASE "\n",
              "Subject:   hello  \nFrom:\ta@example.org\t\n"
              "Message-ID: <1@x>\n\n");
  /* 8-bit and control characters, and '?', become one '?' per run. */
  assert_same("Subject: caf\xc3\xa9\n\n", "Subject: caf?\n\n");
  assert_same("Subject: a\x01\x02\x03z\n\n", "Subject: a??z\n\n");
  assert_same("Subject: a\x80\n\n", "Subject: a\x01\n\n");
  /* Whitespace-only continuation lines and lines without a colon are
   * dropped by some servers. */
  assert_same("Subject: x\n \t\nFrom: y\n\n", "Subject: x\nFrom: y\n\n");
  assert_same("Subject: x\nno colon here\nFrom: y\n\n",
              "Subject: x\nFrom: y\n\n");
  assert_same("Subject: x\nBad Name: 1\nFrom: y\n\n",
              "Subject: x\nFrom: y\n\n");
}

static void test_real_differences(void)
{
  assert_differ(BASE "\n", "Subject: hello\nFrom: a@example.org\n"
                           "Message-ID: <2@x>\n\n");
  assert_differ("Subject: a\nFrom: b\n\n", "From: b\nSubject: a\n\n");
  /* A folded header keeps its text. */
  assert_differ("Subject: one\n two\n\n", "Subject: one\n\n");
  /* An extra header that is no store's. */
  assert_differ(BASE "\n", BASE "Received: from x\n\n");
}

static void test_incremental(void)
{
  /* Fed in pieces of every size, the key is the same. */
  const char *text = "Received: from a\r\n\tby b\r\nStatus: O\r\n"
                     "Subject: caf\xc3\xa9 ??\r\n\r\nbody\r\n";
  g_autofree char *whole = key_of(text);
  for (size_t step = 1; step < 9; step++) {
    HeaderKey *k = header_key_new();
    for (size_t i = 0; i < strlen(text); i += step)
      header_key_feed(k, text + i, MIN(step, strlen(text) - i));
    char out[HEADER_KEY_LEN + 1];
    header_key_finish(k, out);
    header_key_free(k);
    g_assert_cmpstr(out, ==, whole);
  }
}

static void test_store_header_size(void)
{
  const char *text = "Subject: x\r\nStatus: RO\r\nX-UID: 12\r\n"
                     "X-Keywords: a\r\n b\r\nFrom: y\r\n\r\nbody\r\n";
  HeaderKey *k = header_key_new();
  g_assert_false(header_key_feed(k, text, strlen(text)));
  uint64_t raw, crlf;
  header_key_store_size(k, &raw, &crlf);
  header_key_free(k);
  /* "Status: RO", "X-UID: 12", "X-Keywords: a", " b", each CRLF */
  g_assert_cmpuint(raw, ==, 12 + 11 + 15 + 4);
  g_assert_cmpuint(crlf, ==, raw);

  const char *lf = "Status: RO\nSubject: x\n\n";
  k = header_key_new();
  header_key_feed(k, lf, strlen(lf));
  header_key_store_size(k, &raw, &crlf);
  header_key_free(k);
  g_assert_cmpuint(raw, ==, 11);
  g_assert_cmpuint(crlf, ==, 12);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/header-key/line-ends-and-body", test_line_ends_and_body);
  g_test_add_func("/header-key/store-headers", test_store_headers_ignored);
  g_test_add_func("/header-key/whitespace-and-8bit",
                  test_whitespace_and_8bit);
  g_test_add_func("/header-key/real-differences", test_real_differences);
  g_test_add_func("/header-key/incremental", test_incremental);
  g_test_add_func("/header-key/store-header-size", test_store_header_size);
  return g_test_run();
}
