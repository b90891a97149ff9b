/* SPDX-License-Identifier: MIT */
#include "test-log.h"

#include <glib.h>
#include <pthread.h>
#include <string.h>

/* POSIX, not GMutex: ThreadSanitizer understands it. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static GPtrArray *log_lines;

static void capture(PoplarLogLevel level, const char *session_id,
                    const char *plugin, const char *message)
{
  static const char *const names[] = {"error", "warning", "info", "debug"};
  char *line = g_strdup_printf("%s %s %s: %s", names[level],
                               session_id ? session_id : "-",
                               plugin ? plugin : "-", message);
  if (g_getenv("POPLAR_TEST_VERBOSE"))
    g_printerr("%s\n", line);
  pthread_mutex_lock(&log_lock);
  if (log_lines)
    g_ptr_array_add(log_lines, line);
  else
    g_free(line);
  pthread_mutex_unlock(&log_lock);
}

void test_log_capture_start(PoplarLogLevel level)
{
  pthread_mutex_lock(&log_lock);
  if (!log_lines)
    log_lines = g_ptr_array_new_with_free_func(g_free);
  pthread_mutex_unlock(&log_lock);
  poplarpriv_set_log_level(level);
  poplarpriv_set_log_handler(capture);
}

void test_log_capture_stop(void)
{
  poplarpriv_set_log_handler(NULL);
  pthread_mutex_lock(&log_lock);
  g_clear_pointer(&log_lines, g_ptr_array_unref);
  pthread_mutex_unlock(&log_lock);
}

void test_log_clear(void)
{
  pthread_mutex_lock(&log_lock);
  if (log_lines)
    g_ptr_array_set_size(log_lines, 0);
  pthread_mutex_unlock(&log_lock);
}

unsigned test_log_count(const char *a, const char *b)
{
  unsigned n = 0;
  pthread_mutex_lock(&log_lock);
  for (guint i = 0; log_lines && i < log_lines->len; i++) {
    const char *line = g_ptr_array_index(log_lines, i);
    if (strstr(line, a) && (!b || strstr(line, b)))
      n++;
  }
  pthread_mutex_unlock(&log_lock);
  return n;
}

bool test_log_contains(const char *needle)
{
  return test_log_count(needle, NULL) > 0;
}

void test_log_dump(void)
{
  pthread_mutex_lock(&log_lock);
  for (guint i = 0; log_lines && i < log_lines->len; i++)
    g_printerr("  log: %s\n", (const char *)g_ptr_array_index(log_lines, i));
  pthread_mutex_unlock(&log_lock);
}

void test_assert_logged(const char *a, const char *b)
{
  if (test_log_count(a, b) > 0)
    return;
  test_log_dump();
  g_error("no log line with '%s'%s%s", a, b ? " and " : "", b ? b : "");
}

void test_assert_never_logged(const char *s)
{
  if (test_log_count(s, NULL) == 0)
    return;
  test_log_dump();
  g_error("a log line contains '%s'", s);
}

char *test_log_last_with(const char *needle)
{
  char *line = NULL;
  pthread_mutex_lock(&log_lock);
  for (guint i = log_lines ? log_lines->len : 0; i > 0 && !line; i--) {
    const char *l = g_ptr_array_index(log_lines, i - 1);
    if (strstr(l, needle))
      line = g_strdup(l);
  }
  pthread_mutex_unlock(&log_lock);
  return line;
}
