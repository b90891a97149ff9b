/* SPDX-License-Identifier: MIT */
/*
 * Lock settings that hold on a local disk but not on a network
 * filesystem, found by statfs() on the fixed part of the mail location.
 *
 * Linux's NFS client implements flock() with whole-file fcntl locks on
 * the server, and GlusterFS's FUSE client does the same (measured by
 * tests/ha-gluster): there flock and fcntl locks on one file conflict with
 * each other, so a program that takes both through two descriptors (as
 * MTAs configured for both may) waits for itself until its timeout.  Other
 * FUSE and network filesystems may keep flock locks on the machine that
 * took them, where they exclude nobody on another node.  Either way,
 * `[store-mbox] locking` with both flock and fcntl does not hold.
 * store-maildir takes no fcntl or flock locks and needs no warning.
 */
#include "mail-fs.h"

#include "fs-kind.h"

#include <glib.h>
#include <string.h>
#include <sys/statfs.h>

/* The deepest existing directory of the part of @path before its first
 * template variable, or NULL when that part is empty. */
static char *fixed_directory(const char *path)
{
  const char *var = strchr(path, '%');
  g_autofree char *fixed = g_strndup(path, var ? (size_t)(var - path)
                                               : strlen(path));
  char *dir = var ? g_strdup(fixed) : g_path_get_dirname(fixed);
  while (dir[0] == '/' && !g_file_test(dir, G_FILE_TEST_IS_DIR)) {
    char *up = g_path_get_dirname(dir);
    g_free(dir);
    dir = up;
  }
  if (dir[0] != '/') {
    g_free(dir);
    return NULL;
  }
  return dir;
}

static bool listed(PoplarConfig *section, const char *key, const char *item)
{
  size_t n = 0;
  const char *const *items = poplar_config_get_list(section, key, &n);
  for (size_t i = 0; i < n; i++)
    if (g_ascii_strcasecmp(items[i], item) == 0)
      return true;
  return false;
}

void poplard_mail_fs_check(PoplarConfigFile *file, const char *mail)
{
  PoplarConfig *mbox = poplarpriv_config_section(file, "store-mbox");
  if (!mail || !g_str_has_prefix(mail, "mbox:") || !mbox ||
      !listed(mbox, "locking", "flock") || !listed(mbox, "locking", "fcntl"))
    return;
  /* The path, without options such as :INDEX=. */
  g_autofree char *path = g_strdup(mail + strlen("mbox:"));
  char *options = strchr(path, ':');
  if (options)
    *options = '\0';
  g_autofree char *dir = fixed_directory(path);
  struct statfs st;
  if (!dir || statfs(dir, &st) != 0)
    return;
  const char *fs = fs_kind_network_name((unsigned long)st.f_type);
  if (fs)
    poplar_config_warning(
        mbox, "locking",
        "%s is on a network filesystem (%s), where flock and fcntl locks "
        "do not hold together: flock is made of fcntl locks there (NFS, "
        "GlusterFS) or holds on this machine only, so a program taking "
        "both waits for itself; use 'fcntl; dotlock'", dir, fs);
}
