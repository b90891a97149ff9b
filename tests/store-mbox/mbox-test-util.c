/* SPDX-License-Identifier: MIT */
#include "mbox-test-util.h"

#include "poplar-private.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

char *test_make_tmp_dir(void)
{
  GError *error = NULL;
  char *dir = g_dir_make_tmp("poplar-mbox-XXXXXX", &error);
  g_assert_no_error(error);
  return dir;
}

void test_remove_tree(const char *path)
{
  struct stat st;
  if (lstat(path, &st) != 0)
    return;
  if (S_ISDIR(st.st_mode)) {
    chmod(path, 0700);
    GDir *dir = g_dir_open(path, 0, NULL);
    if (dir) {
      const char *name;
      while ((name = g_dir_read_name(dir))) {
        g_autofree char *child = g_build_filename(path, name, NULL);
        test_remove_tree(child);
      }
      g_dir_close(dir);
    }
    g_assert_cmpint(rmdir(path), ==, 0);
  } else {
    g_assert_cmpint(unlink(path), ==, 0);
  }
}

static void write_at(const char *path, int flags, const char *data,
                     size_t len)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0600);
  if (fd < 0)
    g_error("cannot open %s: %s", path, g_strerror(errno));
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    g_assert_cmpint(n, >, 0);
    data += n;
    len -= (size_t)n;
  }
  g_assert_cmpint(close(fd), ==, 0);
}

void test_write_file(const char *path, const char *data, gssize len)
{
  write_at(path, O_TRUNC, data, len < 0 ? strlen(data) : (size_t)len);
}

void test_append_file(const char *path, const char *data)
{
  write_at(path, O_APPEND, data, strlen(data));
}

char *test_read_file(const char *path, gsize *len)
{
  char *text = NULL;
  GError *error = NULL;
  gsize n = 0;
  if (!g_file_get_contents(path, &text, &n, &error))
    g_error("%s", error->message);
  if (len)
    *len = n;
  return text;
}

bool test_exists(const char *path)
{
  struct stat st;
  return lstat(path, &st) == 0;
}

void test_age_file(const char *path, int64_t seconds_ago)
{
  struct timespec ts[2];
  ts[0].tv_sec = time(NULL) - seconds_ago;
  ts[0].tv_nsec = 0;
  ts[1] = ts[0];
  g_assert_cmpint(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), ==, 0);
}

long long test_dead_pid(void)
{
  pid_t pid = fork();
  g_assert_cmpint(pid, >=, 0);
  if (pid == 0)
    _exit(0);
  int status;
  g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
  return (long long)pid;
}

static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
static GPtrArray *log_lines;

static void capture(PoplarLogLevel level, const char *session_id,
                    const char *plugin, const char *message)
{
  static const char *const names[] = {"error", "warning", "info", "debug"};
  pthread_mutex_lock(&log_mutex);
  g_ptr_array_add(log_lines,
                  g_strdup_printf("%s %s %s: %s", names[level],
                                  session_id ? session_id : "-",
                                  plugin ? plugin : "-", message));
  if (g_getenv("MBOX_TEST_VERBOSE"))
    g_printerr("%s\n", (char *)g_ptr_array_index(log_lines,
                                                 log_lines->len - 1));
  pthread_mutex_unlock(&log_mutex);
}

void test_log_capture_start(void)
{
  pthread_mutex_lock(&log_mutex);
  if (!log_lines)
    log_lines = g_ptr_array_new_with_free_func(g_free);
  pthread_mutex_unlock(&log_mutex);
  poplarpriv_set_log_level(POPLAR_LOG_DEBUG);
  poplarpriv_set_log_handler(capture);
}

bool test_log_contains(const char *needle)
{
  bool found = false;
  pthread_mutex_lock(&log_mutex);
  for (guint i = 0; log_lines && i < log_lines->len && !found; i++)
    found = strstr(g_ptr_array_index(log_lines, i), needle) != NULL;
  pthread_mutex_unlock(&log_mutex);
  return found;
}

char *test_log_last_with(const char *needle)
{
  char *line = NULL;
  pthread_mutex_lock(&log_mutex);
  for (guint i = log_lines ? log_lines->len : 0; i > 0 && !line; i--) {
    const char *l = g_ptr_array_index(log_lines, i - 1);
    if (strstr(l, needle))
      line = g_strdup(l);
  }
  pthread_mutex_unlock(&log_mutex);
  return line;
}

void test_log_clear(void)
{
  pthread_mutex_lock(&log_mutex);
  if (log_lines)
    g_ptr_array_set_size(log_lines, 0);
  pthread_mutex_unlock(&log_mutex);
}
