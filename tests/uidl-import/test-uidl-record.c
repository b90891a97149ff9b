/* SPDX-License-Identifier: MIT */
/* poplar-uidls: parsing, the merge rule, atomic saving. */
#include "uidl-import.h"

#include <dirent.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static UidlRecord *parse_ok(const char *text)
{
  g_autoptr(GError) error = NULL;
  UidlRecord *r = uidl_record_parse(text, strlen(text), &error);
  g_assert_no_error(error);
  g_assert_nonnull(r);
  return r;
}

static void parse_fails(const char *text)
{
  g_autoptr(GError) error = NULL;
  UidlRecord *r = uidl_record_parse(text, strlen(text), &error);
  g_assert_null(r);
  g_assert_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_FORMAT);
}

static void test_parse(void)
{
  UidlRecord *r = parse_ok("");
  g_assert_cmpuint(uidl_record_size(r), ==, 0);
  uidl_record_free(r);

  r = parse_ok("poplar-uidls 1\n1700000000.M1P2.host old-1\n"
               "1700000001.M1P2.host old-2 future words\n");
  g_assert_cmpuint(uidl_record_size(r), ==, 2);
  g_assert_cmpstr(uidl_record_lookup(r, "1700000000.M1P2.host"), ==,
                  "old-1");
  g_assert_cmpstr(uidl_record_owner(r, "old-2"), ==, "1700000001.M1P2.host");
  g_assert_null(uidl_record_lookup(r, "nope"));
  /* Words after the UIDL survive a rewrite. */
  g_autofree char *text = uidl_record_format(r, NULL);
  g_assert_cmpstr(text, ==, "poplar-uidls 1\n1700000000.M1P2.host old-1\n"
                            "1700000001.M1P2.host old-2 future words\n");
  uidl_record_free(r);

  parse_fails("poplar-uidls 2\n");
  parse_fails("something else\nb u\n");
  parse_fails("poplar-uidls 1\nonly-one-word\n");
  parse_fails("poplar-uidls 1\nbase uidl\nbase other\n");
  parse_fails("poplar-uidls 1\nb1 same\nb2 same\n");
  g_autofree char *long_uidl = g_strnfill(71, 'x');
  g_autofree char *bad = g_strdup_printf("poplar-uidls 1\nb %s\n", long_uidl);
  parse_fails(bad);
}

static void test_merge_rule(void)
{
  UidlRecord *r = parse_ok("poplar-uidls 1\nb1 u1\nb2 u2\n");
  const char *prev = NULL;
  g_assert_cmpint(uidl_record_merge(r, "b1", "u1", false, &prev), ==,
                  RECORD_UNCHANGED);
  g_assert_cmpint(uidl_record_merge(r, "b3", "u3", false, &prev), ==,
                  RECORD_ADDED);
  /* A different UIDL for a recorded message: kept, and said so. */
  g_assert_cmpint(uidl_record_merge(r, "b1", "other", false, &prev), ==,
                  RECORD_CONFLICT);
  g_assert_cmpstr(prev, ==, "u1");
  g_assert_cmpstr(uidl_record_lookup(r, "b1"), ==, "u1");
  /* A UIDL another message has: kept too. */
  g_assert_cmpint(uidl_record_merge(r, "b4", "u2", false, &prev), ==,
                  RECORD_CONFLICT);
  g_assert_cmpstr(prev, ==, "b2");
  g_assert_null(uidl_record_lookup(r, "b4"));
  /* --force replaces both kinds. */
  g_assert_cmpint(uidl_record_merge(r, "b1", "other", true, NULL), ==,
                  RECORD_REPLACED);
  g_assert_cmpint(uidl_record_merge(r, "b4", "u2", true, NULL), ==,
                  RECORD_REPLACED);
  g_assert_null(uidl_record_lookup(r, "b2"));
  g_autofree char *text = uidl_record_format(r, NULL);
  g_assert_cmpstr(text, ==, "poplar-uidls 1\nb1 other\nb3 u3\nb4 u2\n");
  uidl_record_free(r);
}

static int make_maildir(char **path)
{
  g_autoptr(GError) error = NULL;
  *path = g_dir_make_tmp("uidl-record-XXXXXX", &error);
  g_assert_no_error(error);
  int fd = open(*path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_assert_cmpint(fd, >=, 0);
  return fd;
}

static guint count_entries(const char *path)
{
  GDir *dir = g_dir_open(path, 0, NULL);
  guint n = 0;
  while (g_dir_read_name(dir))
    n++;
  g_dir_close(dir);
  return n;
}

static void test_save_and_load(void)
{
  g_autofree char *path = NULL;
  int fd = make_maildir(&path);
  g_autoptr(GError) error = NULL;

  UidlRecord *r = uidl_record_load(fd, path, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(uidl_record_size(r), ==, 0);
  uidl_record_merge(r, "1700000000.M1P1.h", "abc", false, NULL);
  g_assert_true(uidl_record_save(fd, path, r, &error));
  g_assert_no_error(error);
  uidl_record_free(r);

  g_autofree char *file = g_build_filename(path, UIDL_RECORD_FILE, NULL);
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(file, &text, NULL, NULL));
  g_assert_cmpstr(text, ==, "poplar-uidls 1\n1700000000.M1P1.h abc\n");
  struct stat st;
  g_assert_cmpint(stat(file, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 07777, ==, 0600);
  /* No temporary file is left behind. */
  g_assert_cmpuint(count_entries(path), ==, 1);

  r = uidl_record_load(fd, path, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(uidl_record_lookup(r, "1700000000.M1P1.h"), ==, "abc");
  uidl_record_free(r);

  /* A file we do not understand is refused, never overwritten. */
  g_assert_true(g_file_set_contents(file, "poplar-uidls 9\nx y\n", -1, NULL));
  r = uidl_record_load(fd, path, &error);
  g_assert_null(r);
  g_assert_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_FORMAT);
  g_clear_error(&error);

  /* Nor is a link in its place followed. */
  g_assert_cmpint(g_unlink(file), ==, 0);
  g_assert_cmpint(symlink("/etc/passwd", file), ==, 0);
  r = uidl_record_load(fd, path, &error);
  g_assert_null(r);
  g_assert_nonnull(error);
  g_clear_error(&error);

  g_unlink(file);
  g_rmdir(path);
  close(fd);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/uidl-record/parse", test_parse);
  g_test_add_func("/uidl-record/merge-rule", test_merge_rule);
  g_test_add_func("/uidl-record/save-and-load", test_save_and_load);
  return g_test_run();
}
