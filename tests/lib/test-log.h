/* SPDX-License-Identifier: MIT */
/*
 * Log lines written through libpoplar, captured for a test to look at.
 * Each line reads "LEVEL SESSION PLUGIN: MESSAGE", with "-" for a missing
 * session id or plugin ("info s1 auth-pam: ...", "error - store-mbox:
 * ...").  Safe from several threads.  With POPLAR_TEST_VERBOSE set in the
 * environment each line is also printed as it is captured.
 */
#ifndef POPLAR_TEST_LOG_H
#define POPLAR_TEST_LOG_H

#include <stdbool.h>

#include "poplar-private.h"

/* Captures from now on, at @level and more severe. */
void test_log_capture_start(PoplarLogLevel level);
/* Stops capturing and forgets every captured line. */
void test_log_capture_stop(void);
/* Forgets the lines captured so far. */
void test_log_clear(void);
/* The number of captured lines that contain @a and, unless NULL, @b. */
unsigned test_log_count(const char *a, const char *b);
/* True when a captured line contains @needle. */
bool test_log_contains(const char *needle);
/* The newest captured line containing @needle (newly allocated), or
 * NULL. */
char *test_log_last_with(const char *needle);
/* Prints every captured line to stderr (for a failing test). */
void test_log_dump(void);
/* Fails the test, showing the log, unless a line contains @a and, unless
 * NULL, @b. */
void test_assert_logged(const char *a, const char *b);
/* Fails the test, showing the log, when a line contains @s (a password
 * that must never be written, say). */
void test_assert_never_logged(const char *s);

#endif
