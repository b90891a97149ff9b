/* SPDX-License-Identifier: MIT */
/*
 * Every log line is escaped where all lines pass (libpoplar/log.c): bytes
 * a client sent (a user name with CSI, ESC, invalid UTF-8) reach the log
 * as \xHH, and valid UTF-8 stays as it is.
 */
#include <glib.h>
#include <string.h>

#include "poplar-private.h"

static GPtrArray *lines;

static void capture(PoplarLogLevel level, const char *session_id,
                    const char *plugin, const char *message)
{
  (void)level;
  (void)session_id;
  (void)plugin;
  g_ptr_array_add(lines, g_strdup(message));
}

static const char *log_one(const char *user)
{
  g_ptr_array_set_size(lines, 0);
  poplarpriv_log("s1", POPLAR_LOG_INFO, "login failed for %s", user);
  g_assert_cmpuint(lines->len, ==, 1);
  return g_ptr_array_index(lines, 0);
}

typedef struct Case {
  const char *user;
  const char *want;
} Case;

static const Case cases[] = {
    {"alice", "login failed for alice"},
    /* C1 CSI alone (not UTF-8) */
    {"a\x9b" "31mb", "login failed for a\\x9B31mb"},
    /* C1 CSI as UTF-8 (U+009B): still a control */
    {"a\xc2\x9b" "b", "login failed for a\\xC2\\x9Bb"},
    /* ESC and a line break: no forged line, no terminal escape */
    {"a\x1b[2Jb\nc\r", "login failed for a\\x1B[2Jb\\x0Ac\\x0D"},
    {"del\x7f", "login failed for del\\x7F"},
    /* invalid UTF-8: a lone continuation byte, a truncated sequence, an
     * overlong encoding */
    {"x\x80y", "login failed for x\\x80y"},
    {"x\xc3", "login failed for x\\xC3"},
    {"x\xc0\xafy", "login failed for x\\xC0\\xAFy"},
    /* valid UTF-8 stays */
    {"jos\xc3\xa9", "login failed for jos\xc3\xa9"},
    {"\xe6\x97\xa5\xe6\x9c\xac", "login failed for \xe6\x97\xa5\xe6\x9c\xac"},
    {"\xf0\x9f\x93\xab", "login failed for \xf0\x9f\x93\xab"},
};

static void test_escape(void)
{
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
    g_assert_cmpstr(log_one(cases[i].user), ==, cases[i].want);
}

/* Plugins' lines go the same way. */
static void test_plugin_lines(void)
{
  g_ptr_array_set_size(lines, 0);
  poplar_session_log(NULL, NULL, POPLAR_LOG_WARNING, "user %s", "\x9b\x1b");
  poplar_log(NULL, POPLAR_LOG_ERROR, "%s", "caf\xc3\xa9\xff");
  g_assert_cmpuint(lines->len, ==, 2);
  g_assert_cmpstr(g_ptr_array_index(lines, 0), ==, "user \\x9B\\x1B");
  g_assert_cmpstr(g_ptr_array_index(lines, 1), ==, "caf\xc3\xa9\\xFF");
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  lines = g_ptr_array_new_with_free_func(g_free);
  poplarpriv_set_log_handler(capture);
  poplarpriv_set_log_level(POPLAR_LOG_DEBUG);
  g_test_add_func("/log/escape", test_escape);
  g_test_add_func("/log/plugin-lines", test_plugin_lines);
  int r = g_test_run();
  poplarpriv_set_log_handler(NULL);
  g_ptr_array_unref(lines);
  return r;
}
