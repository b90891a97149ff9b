/* SPDX-License-Identifier: MIT */
/* The JSON and time formatting of hook-audit: whatever a client sends as a
 * user name, an event stays one valid JSON line. */
#include <glib.h>
#include <string.h>

#include "audit.h"

static char *json_of(const char *s)
{
  GString *out = g_string_new(NULL);
  audit_json_string(out, s);
  return g_string_free(out, FALSE);
}

static void test_escapes(void)
{
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"alice", "\"alice\""},
      {"", "\"\""},
      {"a\"b\\c", "\"a\\\"b\\\\c\""},
      {"tab\there\nnl\r", "\"tab\\u0009here\\u000anl\\u000d\""},
      {"del\x7f", "\"del\\u007f\""},
      {"caf\xc3\xa9 \xe2\x82\xac", "\"caf\xc3\xa9 \xe2\x82\xac\""},
      /* Invalid UTF-8: a lone continuation byte, a truncated sequence,
       * an overlong encoding. */
      {"a\x80z", "\"a\\ufffdz\""},
      {"b\xe2\x82", "\"b\\ufffd\\ufffd\""},
      {"\xc0\xaf", "\"\\ufffd\\ufffd\""},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *got = json_of(cases[i].in);
    g_assert_cmpstr(got, ==, cases[i].out);
    g_assert_true(g_utf8_validate(got, -1, NULL));
  }
}

static void test_time(void)
{
  char buf[32];
  audit_format_time(0, buf);
  g_assert_cmpstr(buf, ==, "1970-01-01T00:00:00.000000Z");
  audit_format_time(G_GINT64_CONSTANT(1714554843512084), buf);
  g_assert_cmpstr(buf, ==, "2024-05-01T09:14:03.512084Z");
  audit_format_time(G_GINT64_CONSTANT(1714554843000001), buf);
  g_assert_cmpstr(buf, ==, "2024-05-01T09:14:03.000001Z");
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/hook-audit/json-escapes", test_escapes);
  g_test_add_func("/hook-audit/rfc3339-time", test_time);
  return g_test_run();
}
