/* SPDX-License-Identifier: MIT */
#include "fs-kind.h"

#include <stddef.h>
#include <sys/vfs.h>

/* Magic numbers of statfs(2)'s f_type, from linux/magic.h and the file
 * systems' own sources (not all of them are in that header). */
static const struct {
  unsigned long magic;
  const char *name;
} network_kinds[] = {
    {0x6969UL, "nfs"},          {0x65735546UL, "fuse"},
    {0xFF534D42UL, "cifs"},     {0xFE534D42UL, "smb2"},
    {0x517BUL, "smb"},          {0x00C36400UL, "ceph"},
    {0x5346414FUL, "afs"},      {0x6B414653UL, "afs"},
    {0x01161970UL, "gfs2"},     {0x7461636FUL, "ocfs2"},
    {0x01021997UL, "9p"},       {0x0BD00BD0UL, "lustre"},
    {0x47504653UL, "gpfs"},     {0x013111A8UL, "ibrix"},
    {0x73757245UL, "coda"},
};

const char *fs_kind_network_name(unsigned long f_type)
{
  /* f_type is a signed word on some ABIs: compare the low 32 bits. */
  unsigned long magic = (unsigned long)(unsigned int)f_type;
  for (size_t i = 0; i < sizeof network_kinds / sizeof network_kinds[0];
       i++)
    if (network_kinds[i].magic == magic)
      return network_kinds[i].name;
  return NULL;
}

bool fs_kind_is_network(int fd, const char **name)
{
  struct statfs sfs;
  if (fstatfs(fd, &sfs) != 0) {
    if (name)
      *name = "unknown";
    return true;
  }
  const char *network = fs_kind_network_name((unsigned long)sfs.f_type);
  if (network) {
    if (name)
      *name = network;
    return true;
  }
  if (name)
    *name = "local";
  return false;
}
