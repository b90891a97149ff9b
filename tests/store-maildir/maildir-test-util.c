/* SPDX-License-Identifier: MIT */
#include "maildir-test-util.h"

#include "poplar-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

char *test_make_tmp_dir(void)
{
  GError *error = NULL;
  char *dir = g_dir_make_tmp("poplar-maildir-XXXXXX", &error);
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

void test_write_file(const char *dir, const char *name, const char *data,
                     gssize len)
{
  g_autofree char *path = g_build_filename(dir, name, NULL);
  /* Written in place (no temporary name), so any legal name works. */
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    g_error("cannot create %s: %s", path, g_strerror(errno));
  size_t left = len < 0 ? strlen(data) : (size_t)len;
  while (left > 0) {
    ssize_t n = write(fd, data, left);
    g_assert_cmpint(n, >, 0);
    data += n;
    left -= (size_t)n;
  }
  g_assert_cmpint(close(fd), ==, 0);
}

void test_make_maildir(const char *path)
{
  const char *subs[] = {"", "new", "cur", "tmp"};
  for (size_t i = 0; i < G_N_ELEMENTS(subs); i++) {
    g_autofree char *p = g_build_filename(path, subs[i], NULL);
    g_assert_cmpint(g_mkdir_with_parents(p, 0700), ==, 0);
  }
}

static gint compare_strings(gconstpointer a, gconstpointer b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

GPtrArray *test_list_dir(const char *dir)
{
  GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
  GDir *d = g_dir_open(dir, 0, NULL);
  g_assert_nonnull(d);
  const char *name;
  while ((name = g_dir_read_name(d))) {
    if (name[0] != '.')
      g_ptr_array_add(names, g_strdup(name));
  }
  g_dir_close(d);
  g_ptr_array_sort(names, compare_strings);
  return names;
}

bool test_file_exists(const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename(dir, name, NULL);
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

int64_t test_file_age(const char *path)
{
  struct stat st;
  g_assert_cmpint(lstat(path, &st), ==, 0);
  return (int64_t)time(NULL) - (int64_t)st.st_mtime;
}

long long test_dead_pid(void)
{
  pid_t pid = fork();
  g_assert_cmpint(pid, >=, 0);
  if (pid == 0)
    _exit(0);
  int status;
  g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
  /* Not reused this fast on a system that assigns pids in sequence. */
  return (long long)pid;
}

/* The highest open descriptor, and how many are open, below @below (a
 * tool such as valgrind keeps its own above the limit it reports). */
static int scan_fds(rlim_t below, unsigned *count)
{
  int highest = -1;
  *count = 0;
  DIR *dir = opendir("/proc/self/fd");
  g_assert_nonnull(dir);
  int own = dirfd(dir);
  struct dirent *e;
  while ((e = readdir(dir))) {
    if (e->d_name[0] == '.')
      continue;
    int fd = atoi(e->d_name);
    if (fd == own || (rlim_t)fd >= below)
      continue;
    (*count)++;
    highest = MAX(highest, fd);
  }
  closedir(dir);
  return highest;
}

unsigned test_open_fds(void)
{
  struct rlimit rl;
  g_assert_cmpint(getrlimit(RLIMIT_NOFILE, &rl), ==, 0);
  unsigned count;
  scan_fds(rl.rlim_cur, &count);
  return count;
}

struct TestFdHog {
  GArray *fds;
  struct rlimit saved;
};

TestFdHog *test_fds_hog(unsigned keep_free)
{
  TestFdHog *hog = g_new0(TestFdHog, 1);
  g_assert_cmpint(getrlimit(RLIMIT_NOFILE, &hog->saved), ==, 0);
  unsigned count;
  int highest = scan_fds(hog->saved.rlim_cur, &count);
  struct rlimit low = hog->saved;
  low.rlim_cur = (rlim_t)highest + 1 + keep_free + 16;
  g_assert_cmpuint(low.rlim_cur, <=, hog->saved.rlim_cur);
  g_assert_cmpint(setrlimit(RLIMIT_NOFILE, &low), ==, 0);
  hog->fds = g_array_new(FALSE, FALSE, sizeof(int));
  for (;;) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      g_assert_cmpint(errno, ==, EMFILE);
      break;
    }
    g_array_append_val(hog->fds, fd);
  }
  g_assert_cmpuint(hog->fds->len, >=, keep_free);
  for (unsigned i = 0; i < keep_free; i++) {
    close(g_array_index(hog->fds, int, hog->fds->len - 1));
    g_array_set_size(hog->fds, hog->fds->len - 1);
  }
  return hog;
}

void test_fds_give_back(TestFdHog *hog)
{
  for (guint i = 0; i < hog->fds->len; i++)
    close(g_array_index(hog->fds, int, i));
  g_array_unref(hog->fds);
  g_assert_cmpint(setrlimit(RLIMIT_NOFILE, &hog->saved), ==, 0);
  g_free(hog);
}

/* POSIX, not GMutex: ThreadSanitizer understands it. */
static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
static GPtrArray *log_lines;

static void capture(PoplarLogLevel level, const char *session_id,
                    const char *plugin, const char *message)
{
  static const char *const names[] = {"error", "warning", "info", "debug"};
  pthread_mutex_lock(&log_mutex);
  g_ptr_array_add(log_lines,
                  g_strdup_printf("%s %s%s%s: %s", names[level],
                                  session_id ? session_id : "",
                                  session_id ? " " : "",
                                  plugin ? plugin : "-", message));
  if (g_getenv("MAILDIR_TEST_VERBOSE"))
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
