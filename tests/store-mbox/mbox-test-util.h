/* SPDX-License-Identifier: MIT */
/* Helpers shared by the store-mbox unit tests. */
#ifndef MBOX_TEST_UTIL_H
#define MBOX_TEST_UTIL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "test-files.h"
#include "test-log.h"

/* test_make_tmp_dir(), test_remove_tree(), test_age_file(),
 * test_dead_pid() and the captured log are tests/lib's. */

/* Writes @len octets (-1: strlen) to @path, replacing it in place. */
void test_write_file(const char *path, const char *data, gssize len);
/* Appends @data to @path. */
void test_append_file(const char *path, const char *data);
/* The content of @path (length in *@len when not NULL). */
char *test_read_file(const char *path, gsize *len);
bool test_exists(const char *path);

#endif
