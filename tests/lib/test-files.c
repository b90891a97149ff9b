/* SPDX-License-Identifier: MIT */
#include "test-files.h"

#include <fcntl.h>
#include <glib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

char *test_make_tmp_dir(const char *prefix)
{
  g_autofree char *tmpl = g_strconcat(prefix, "-XXXXXX", NULL);
  GError *error = NULL;
  char *dir = g_dir_make_tmp(tmpl, &error);
  g_assert_no_error(error);
  return dir;
}

void test_remove_tree(const char *path)
{
  struct stat st;
  if (lstat(path, &st) != 0)
    return;
  if (!S_ISDIR(st.st_mode)) {
    g_assert_cmpint(unlink(path), ==, 0);
    return;
  }
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
