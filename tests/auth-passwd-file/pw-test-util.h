/* SPDX-License-Identifier: MIT */
/* Helpers shared by the auth-passwd-file tests. */
#ifndef PW_TEST_UTIL_H
#define PW_TEST_UTIL_H

#include <glib.h>

/* A fresh crypt(3) hash of @password with method @prefix ("$6$", "$2b$",
 * "$y$"...) at cost @count (0: the method's default).  Aborts the test
 * when libcrypt cannot make one. */
char *pwt_hash(const char *prefix, unsigned long count, const char *password);

#endif /* PW_TEST_UTIL_H */
