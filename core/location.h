/* SPDX-License-Identifier: MIT */
/* Mail locations: the [server] mail template and a password database's
 * mail field, with %u (user), %n (local part), %d (domain), %h (home) and
 * %% expanded by poplar_expand() (poplar/expand.h). */
#ifndef POPLAR_LOCATION_H
#define POPLAR_LOCATION_H

#include <stdbool.h>

/* Returns the expansion (g_free), or NULL with *@why set (g_free) when the
 * template uses %h without a home, an unknown %-sequence, or a user name
 * that would escape its directory ('/', a leading '.', empty). */
char *poplard_location_expand(const char *tmpl, const char *user,
                              const char *home, char **why);

/* Checks a template's %-sequences without expanding it; on false, *@why
 * (g_free) says what is wrong. */
bool poplard_location_check(const char *tmpl, char **why);

#endif
