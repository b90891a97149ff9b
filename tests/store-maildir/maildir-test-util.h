/* SPDX-License-Identifier: MIT */
/* Helpers shared by the store-maildir tests. */
#ifndef MAILDIR_TEST_UTIL_H
#define MAILDIR_TEST_UTIL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "test-files.h"
#include "test-log.h"

/* test_make_tmp_dir(), test_remove_tree(), test_age_file(),
 * test_dead_pid() and the captured log are tests/lib's. */

/* Writes @len octets of @data to @dir/@name (len -1: strlen). */
void test_write_file(const char *dir, const char *name, const char *data,
                     gssize len);
/* Creates @path/new, cur and tmp. */
void test_make_maildir(const char *path);
/* The sorted names in @dir, ignoring names that start with '.'. */
GPtrArray *test_list_dir(const char *dir);
bool test_file_exists(const char *dir, const char *name);
/* Seconds since @path was modified. */
int64_t test_file_age(const char *path);

/* Descriptors this process has open. */
unsigned test_open_fds(void);

/* Descriptors taken so that only a few are left free. */
typedef struct TestFdHog TestFdHog;
/* Opens descriptors until only @keep_free can still be opened, lowering
 * the soft RLIMIT_NOFILE first so that this takes a few dozen, not the
 * whole limit. */
TestFdHog *test_fds_hog(unsigned keep_free);
/* Closes them and restores the limit. */
void test_fds_give_back(TestFdHog *hog);

#endif
