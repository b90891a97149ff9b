/* SPDX-License-Identifier: MIT */
/*
 * plugins/common/store-path.c: links are followed only in directories
 * nobody but root or this process's user can change, with openat2() and
 * with the per-component fallback of older kernels alike.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store-path.h"

typedef struct Fixture {
  char *untrusted; /* mode 0777: a directory a user can change */
} Fixture;

static void setup(Fixture *f, gconstpointer data)
{
  (void)data;
  f->untrusted = g_dir_make_tmp("store-path-XXXXXX", NULL);
  g_assert_nonnull(f->untrusted);
  g_assert_cmpint(chmod(f->untrusted, 0777), ==, 0);
  store_path_set_openat2(GPOINTER_TO_INT(data) == 0);
}

static void teardown(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->untrusted);
  g_assert_cmpint(system(cmd), ==, 0);
  g_free(f->untrusted);
  store_path_set_openat2(true);
}

static char *in(Fixture *f, const char *rel)
{
  return g_build_filename(f->untrusted, rel, NULL);
}

static int open_dir(const char *path, bool *trusted)
{
  return store_path_open_dir(path, O_RDONLY, trusted);
}

static void test_plain_dirs(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *d = in(f, "a/b");
  g_assert_cmpint(g_mkdir_with_parents(d, 0700), ==, 0);
  bool trusted = true;
  int fd = open_dir(d, &trusted);
  g_assert_cmpint(fd, >=, 0);
  g_assert_false(trusted);
  struct stat by_fd, by_path;
  g_assert_cmpint(fstat(fd, &by_fd), ==, 0);
  g_assert_cmpint(stat(d, &by_path), ==, 0);
  g_assert_true(by_fd.st_ino == by_path.st_ino);
  close(fd);
  /* O_PATH works for directories a user can search but not read. */
  g_assert_cmpint(chmod(d, 0111), ==, 0);
  fd = store_path_open_dir(d, O_PATH, NULL);
  g_assert_cmpint(fd, >=, 0);
  close(fd);
}

static void test_links_refused(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *real = in(f, "real/inner");
  g_assert_cmpint(g_mkdir_with_parents(real, 0700), ==, 0);
  g_autofree char *last = in(f, "last");
  g_autofree char *middle = in(f, "middle");
  g_assert_cmpint(symlink(real, last), ==, 0);
  g_autofree char *real_parent = in(f, "real");
  g_assert_cmpint(symlink(real_parent, middle), ==, 0);
  g_autofree char *via_middle = in(f, "middle/inner");
  const char *paths[] = {last, via_middle};
  for (size_t i = 0; i < G_N_ELEMENTS(paths); i++) {
    errno = 0;
    g_assert_cmpint(open_dir(paths[i], NULL), ==, -1);
    g_assert_cmpint(errno, ==, ELOOP);
    errno = 0;
    g_assert_cmpint(store_path_open_dir(paths[i], O_PATH, NULL), ==, -1);
    g_assert_cmpint(errno, ==, ELOOP);
  }
}

static void test_dots_refused(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *d = in(f, "a");
  g_assert_cmpint(mkdir(d, 0700), ==, 0);
  g_autofree char *up = in(f, "a/../a");
  g_autofree char *dot = in(f, "a/.");
  errno = 0;
  g_assert_cmpint(open_dir(up, NULL), ==, -1);
  g_assert_cmpint(errno, ==, EINVAL);
  errno = 0;
  g_assert_cmpint(open_dir(dot, NULL), ==, -1);
  g_assert_cmpint(errno, ==, EINVAL);
  errno = 0;
  g_assert_cmpint(open_dir("relative", NULL), ==, -1);
  g_assert_cmpint(errno, ==, EINVAL);
}

/* In a directory only root (or we) can change, a link is the
 * administrator's and is followed. */
static void test_trusted_link_followed(void)
{
  g_autofree char *cwd = g_get_current_dir();
  g_autofree char *base = g_build_filename(cwd, "store-path-XXXXXX", NULL);
  if (!g_mkdtemp_full(base, 0755)) {
    g_test_skip("cannot make a directory here");
    return;
  }
  bool trusted = false;
  int fd = open_dir(base, &trusted);
  g_assert_cmpint(fd, >=, 0);
  close(fd);
  if (!trusted) {
    g_test_skip("the build directory is writable by others");
    g_assert_cmpint(rmdir(base), ==, 0);
    return;
  }
  g_autofree char *real = g_build_filename(base, "real", NULL);
  g_autofree char *link = g_build_filename(base, "link", NULL);
  g_assert_cmpint(mkdir(real, 0755), ==, 0);
  g_assert_cmpint(symlink("real", link), ==, 0);
  fd = open_dir(link, &trusted);
  g_assert_cmpint(fd, >=, 0);
  g_assert_true(trusted);
  close(fd);
  g_assert_cmpint(unlink(link), ==, 0);
  g_assert_cmpint(rmdir(real), ==, 0);
  g_assert_cmpint(rmdir(base), ==, 0);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  /* 0: openat2(); 1: the per-component fallback. */
  for (int fallback = 0; fallback < 2; fallback++) {
    const char *kind = fallback ? "fallback" : "openat2";
    gconstpointer data = GINT_TO_POINTER(fallback);
#define ADD(name, fn)                                                      \
  do {                                                                     \
    g_autofree char *path = g_strdup_printf("/store-path/%s/" name, kind); \
    g_test_add(path, Fixture, data, setup, fn, teardown);                  \
  } while (0)
    ADD("plain-dirs", test_plain_dirs);
    ADD("links-refused", test_links_refused);
    ADD("dots-refused", test_dots_refused);
#undef ADD
  }
  g_test_add_func("/store-path/trusted-link-followed",
                  test_trusted_link_followed);
  return g_test_run();
}
