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

/* As root, takes on @user's uid and @group's gid (or the user's primary
 * group) as effective ids only, keeping root as the saved uid, so that
 * poplard_resume_root() can undo it.  No change for NULL @user.  For
 * running plugins' init with the workers' identity in a process that
 * then switches to another uid for good. */
bool poplard_assume_identity(const char *user, const char *group,
                             char **error);
bool poplard_resume_root(char **error);

/* Switches this process (root) to @uid and @gid for good, with the
 * supplementary groups of @uid's account when it has one in the system's
 * user database and none otherwise, plus @extra_gid unless it is 0 (the
 * mail spool's group, for dotlocks), sets no_new_privs, and checks that
 * root cannot be regained.  Refuses uid 0.  Returns false with *@error. */
bool poplard_become_uid(uint32_t uid, uint32_t gid, uint32_t extra_gid,
                        char **error);

/* This process's effective uid and gid, without a system call after the
 * first (the functions above forget them when they change them). */
void poplard_effective_ids(uint32_t *uid, uint32_t *gid);

#endif
