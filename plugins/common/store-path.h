/* SPDX-License-Identifier: MIT */
/*
 * Opening a mail location without following links a mail user planted.
 * Compiled into each store plugin that opens files by path (store-mbox,
 * store-maildir); not part of the plugin ABI.
 *
 * The rule: a directory is *trusted* when only root or this process's own
 * user can change it: owned by root or by the effective uid, and not
 * writable by its group or by others.  While every directory walked so
 * far is trusted, the next component is resolved as usual, symbolic links
 * included (the administrator's /var/spool/mail -> ../mail, a home
 * directory moved to another disk).  From the first directory that is not
 * trusted (a user's home, a group-writable spool such as /var/mail, /tmp)
 * every further component, the last one included, is opened without
 * following any symbolic link: openat2() with RESOLVE_NO_SYMLINKS and
 * RESOLVE_BENEATH where the kernel has it, otherwise one openat() with
 * O_NOFOLLOW per component.  "." and ".." are refused anywhere.
 */
#ifndef POPLAR_STORE_PATH_H
#define POPLAR_STORE_PATH_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

/* True when @st (a directory) is trusted in the sense above. */
bool store_path_dir_trusted(const struct stat *st);

/* Opens the directory @path (absolute) under the rule above, the last
 * component with @flags (O_PATH or O_RDONLY; O_DIRECTORY, O_CLOEXEC and,
 * where it is not trusted, no-follow are added).  Returns the descriptor,
 * or -1 with errno set: ELOOP for a symbolic link met where none is
 * followed, EINVAL for a relative path or a "." or ".." component.
 * *@trusted (when not NULL) tells whether the opened directory itself is
 * trusted, i.e. whether entries in it could be links a user planted. */
int store_path_open_dir(const char *path, int flags, bool *trusted);

/* Opens @rest (relative, without "." or ".." components) below @dir_fd
 * with @flags, following no symbolic link in any component: one
 * openat2() where the kernel has it, one openat() with O_NOFOLLOW per
 * component otherwise.  Returns the descriptor, or -1 with errno set
 * (ELOOP for a link). */
int store_path_open_beneath(int dir_fd, const char *rest, int flags);

/* For tests: when @off, never use openat2() (the per-component fallback
 * for kernels older than 5.6 or seccomp filters that refuse it). */
void store_path_set_openat2(bool on);

#endif /* POPLAR_STORE_PATH_H */
