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
