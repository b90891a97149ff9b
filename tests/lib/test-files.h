/* SPDX-License-Identifier: MIT */
/* Scratch directories and files for tests. */
#ifndef POPLAR_TEST_FILES_H
#define POPLAR_TEST_FILES_H

#include <stdint.h>

/* A fresh directory under the system's temporary directory, named after
 * @prefix ("poplar-maildir"); free with g_free() after
 * test_remove_tree(). */
char *test_make_tmp_dir(const char *prefix);
/* Removes @path and everything below it, making directories writable
 * first (a test may have taken the permission away). */
void test_remove_tree(const char *path);
/* Sets the access and modification times of @path (not following a
 * link) to @seconds_ago seconds in the past. */
void test_age_file(const char *path, int64_t seconds_ago);
/* A pid that no process has: a child that has exited and been reaped
 * (not reused this fast on a system that assigns pids in sequence). */
long long test_dead_pid(void);

#endif
