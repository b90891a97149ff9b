/* SPDX-License-Identifier: MIT */
/* Helpers shared by the store-maildir tests. */
#ifndef MAILDIR_TEST_UTIL_H
#define MAILDIR_TEST_UTIL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* A fresh directory under the system's temporary directory. */
char *test_make_tmp_dir(void);
/* Removes @path and everything below it. */
void test_remove_tree(const char *path);
/* Writes @len octets of @data to @dir/@name (len -1: strlen). */
void test_write_file(const char *dir, const char *name, const char *data,
                     gssize len);
/* Creates @path/new, cur and tmp. */
void test_make_maildir(const char *path);
/* The sorted names in @dir, ignoring names that start with '.'. */
GPtrArray *test_list_dir(const char *dir);
bool test_file_exists(const char *dir, const char *name);
/* Sets the mtime of @path to @seconds_ago seconds in the past. */
void test_age_file(const char *path, int64_t seconds_ago);
/* Seconds since @path was modified. */
int64_t test_file_age(const char *path);
/* A pid that no process has (a child that has exited and been reaped). */
long long test_dead_pid(void);

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

/* Log lines written through libpoplar while the capture is on, as
 * "level plugin: message". */
void test_log_capture_start(void);
/* True when a captured line contains @needle. */
bool test_log_contains(const char *needle);
/* The newest captured line containing @needle (newly allocated), or
 * NULL. */
char *test_log_last_with(const char *needle);
void test_log_clear(void);

#endif
