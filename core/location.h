/* SPDX-License-Identifier: MIT */
/* Expanding %u (user), %n (local part), %d (domain), %h (home), %% in mail
 * locations. */
#ifndef POPLAR_LOCATION_H
#define POPLAR_LOCATION_H

#include <stdbool.h>

/* Returns the expansion, or NULL with *@why set when the template uses %h
 * without a home, an unknown %-sequence, or a user name that would escape
 * its directory ('/' or a leading '.'). */
char *poplard_location_expand(const char *tmpl, const char *user,
                             const char *home, const char **why);

/* Checks a template's %-sequences without expanding it. */
bool poplard_location_check(const char *tmpl, const char **why);

#endif
