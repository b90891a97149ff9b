/* SPDX-License-Identifier: MIT */
/* hook-spamd's parsing of spamd answers and of spamd addresses: anything
 * that is not a clean answer is an error, never a verdict. */
#include <glib.h>
#include <string.h>

#include "spamd.h"

static bool parse(const char *text, SpamdVerdict *v, char **error)
{
  return spamd_parse_response(text, strlen(text), v, error);
}

static void test_answers(void)
{
  SpamdVerdict v;
  char *error = NULL;
  g_assert_true(parse("SPAMD/1.1 0 EX_OK\r\nContent-length: 15\r\n"
                      "Spam: True ; 1005.2 / 5.0\r\n\r\nGTUBE,NO_RELAYS",
                      &v, &error));
  g_assert_true(v.spam);
  g_assert_cmpfloat_with_epsilon(v.score, 1005.2, 1e-9);
  g_assert_cmpfloat_with_epsilon(v.required, 5.0, 1e-9);
  g_assert_cmpstr(v.report, ==, "GTUBE,NO_RELAYS");
  spamd_verdict_clear(&v);

  g_assert_true(parse("SPAMD/1.1 0 EX_OK\r\nSpam: False ; -1.9 / 5.0\r\n"
                      "\r\n",
                      &v, &error));
  g_assert_false(v.spam);
  g_assert_cmpfloat_with_epsilon(v.score, -1.9, 1e-9);
  g_assert_null(v.report);
  spamd_verdict_clear(&v);

  static const char *const bad[] = {
      "",
      "HTTP/1.1 200 OK\r\n\r\n",
      "SPAMD/1.1 76 Bad header line: (EOF)\r\n\r\n",
      "SPAMD/1.1 0 EX_OK\r\n\r\n",                       /* no Spam: */
      "SPAMD/1.1 0 EX_OK\r\nSpam: Maybe ; 1 / 5\r\n\r\n", /* bad verdict */
      "SPAMD/1.1 0 EX_OK\r\nSpam: True ; x / 5\r\n\r\n",  /* bad score */
      "SPAMD/1.1 0 EX_OK\r\nSpam: True ; 9.0\r\n\r\n",    /* no threshold */
      "SPAMD/1.1 0 EX_OK\r\nSpam: True ; 9.0 / 5.0\r\n",  /* cut short */
      /* body cut */
      ("SPAMD/1.1 0 EX_OK\r\nContent-length: 15\r\nSpam: True ; 9.0 / 5.0"
       "\r\n\r\nGTUBE,NO"),
  };
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_assert_false(parse(bad[i], &v, &error));
    g_assert_nonnull(error);
    g_clear_pointer(&error, g_free);
  }
}

static void test_addresses(void)
{
  static const char *const good[] = {"127.0.0.1:783", "[::1]:783",
                                     "localhost:10783", "unix:/run/s.sock",
                                     "/run/spamd.sock"};
  static const char *const bad[] = {"127.0.0.1", "host:", "host:0",
                                    "host:65536", "[::1]783", "unix:rel",
                                    ":783", "host:78x"};
  for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
    char *error = NULL;
    SpamdServer *srv = spamd_server_new(good[i], 1000, 1, &error);
    g_assert_nonnull(srv);
    g_assert_null(error);
    g_assert_cmpstr(spamd_server_address(srv), ==, good[i]);
    spamd_server_free(srv);
  }
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    char *error = NULL;
    g_assert_null(spamd_server_new(bad[i], 1000, 1, &error));
    g_assert_nonnull(error);
    g_free(error);
  }
}

static void test_unreachable(void)
{
  /* Port 1 on loopback: nothing listens there. */
  char *error = NULL;
  SpamdServer *srv = spamd_server_new("127.0.0.1:1", 2000, 1, &error);
  SpamdVerdict v;
  g_assert_false(spamd_check(srv, SPAMD_SYMBOLS, NULL, "x\n", 2, &v, &error));
  g_assert_nonnull(strstr(error, "cannot connect"));
  g_free(error);
  spamd_server_free(srv);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/hook-spamd/answers", test_answers);
  g_test_add_func("/hook-spamd/addresses", test_addresses);
  g_test_add_func("/hook-spamd/unreachable", test_unreachable);
  return g_test_run();
}
