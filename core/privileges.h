/* SPDX-License-Identifier: MIT */
/* Dropping root for the configured user and group, for good. */
#ifndef POPLAR_PRIVILEGES_H
#define POPLAR_PRIVILEGES_H

#include <stdbool.h>
#include <stdint.h>

/* When running as root, switches to @user (and @group, or the user's
 * primary group) with its supplementary groups, and checks that root
 * cannot be regained.  Without root, only checks that @user is who we
 * already are.  NULL @user: no change, which as root is refused unless
 * @allow_root.  Returns false with *@error. */
bool poplard_drop_privileges(const char *user, const char *group,
                            bool allow_root, char **error);

/* Switches this process (root) to @uid and @gid for good, with the
 * supplementary groups of @uid's account when it has one in the system's
 * user database and none otherwise, sets no_new_privs, and checks that
 * root cannot be regained.  Refuses uid 0.  Returns false with *@error. */
bool poplard_become_uid(uint32_t uid, uint32_t gid, char **error);

#endif
