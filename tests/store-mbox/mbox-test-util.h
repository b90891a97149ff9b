/* SPDX-License-Identifier: MIT */
/* Helpers shared by the store-mbox unit tests. */
#ifndef MBOX_TEST_UTIL_H
#define MBOX_TEST_UTIL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* A fresh directory under the system's temporary directory. */
char *test_make_tmp_dir(void);
/* Removes @path and everything below it. */
void test_remove_tree(const char *path);
/* Writes @len octets (-1: strlen) to @path, replacing it in place. */
void test_write_file(const char *path, const char *data, gssize len);
/* Appends @data to @path. */
void test_append_file(const char *path, const char *data);
/* The content of @path (length in *@len when not NULL). */
char *test_read_file(const char *path, gsize *len);
bool test_exists(const char *path);
/* Sets the mtime of @path to @seconds_ago seconds in the past. */
void test_age_file(const char *path, int64_t seconds_ago);
/* A pid no process has. */
long long test_dead_pid(void);

/* Captures log lines written through libpoplar. */
void test_log_capture_start(void);
bool test_log_contains(const char *needle);
/* The newest captured line containing @needle (newly allocated), or
 * NULL. */
char *test_log_last_with(const char *needle);
void test_log_clear(void);

#endif
