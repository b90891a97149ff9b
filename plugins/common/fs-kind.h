/* SPDX-License-Identifier: MIT */
/*
 * Which kind of file system a descriptor is on, as far as the stores'
 * locking and durability rules care: local, or shared with other machines
 * over a network (NFS, SMB, FUSE-based cluster file systems such as
 * GlusterFS, Ceph, ...).  Compiled into each store plugin that needs it,
 * and into poplard for its configuration warnings; not part of the plugin
 * ABI.
 */
#ifndef POPLAR_FS_KIND_H
#define POPLAR_FS_KIND_H

#include <stdbool.h>

/* True when @fd is on a file system that other machines may share (or
 * when that cannot be told: fstatfs failing counts as shared, the safe
 * answer).  *@name (when not NULL) is set to a static name of the file
 * system type for messages, e.g. "nfs", "fuse"; "local" otherwise. */
bool fs_kind_is_network(int fd, const char **name);

/* The static name of the network file system whose statfs(2) f_type is
 * @f_type ("nfs", "fuse", ...), or NULL for any other. */
const char *fs_kind_network_name(unsigned long f_type);

#endif /* POPLAR_FS_KIND_H */
