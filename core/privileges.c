/* SPDX-License-Identifier: MIT */
#include "privileges.h"

#include <errno.h>
#include <glib.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <unistd.h>

/* The effective ids, asked once: they change only through the functions
 * below, which forget them.  A forked child inherits ids and cache alike. */
/* (gid << 32 | uid) + 1, or 0 while unknown (the one pair that wraps to
 * 0 is merely asked for every time). */
static _Atomic uint64_t known_ids;

static void forget_ids(void)
{
  known_ids = 0;
}

void poplard_effective_ids(uint32_t *uid, uint32_t *gid)
{
  uint64_t ids = known_ids;
  if (ids == 0) {
    ids = ((uint64_t)(uint32_t)getegid() << 32 | (uint32_t)geteuid()) + 1;
    known_ids = ids;
  }
  ids -= 1;
  *uid = (uint32_t)ids;
  *gid = (uint32_t)(ids >> 32);
}

bool poplard_drop_privileges(const char *user, const char *group,
                            bool allow_root, char **error)
{
  forget_ids();
  if (!user) {
    if (geteuid() == 0 && !allow_root) {
      *error = g_strdup(
          "refusing to serve sessions as root: set [server] user (and "
          "group) to an unprivileged account that can read the mail, or "
          "allow-root = yes");
      return false;
    }
    return true;
  }
  errno = 0;
  struct passwd *pw = getpwnam(user);
  if (!pw) {
    *error = g_strdup_printf("[server] user: no such user '%s'", user);
    return false;
  }
  gid_t gid = pw->pw_gid;
  if (group) {
    struct group *gr = getgrnam(group);
    if (!gr) {
      *error = g_strdup_printf("[server] group: no such group '%s'", group);
      return false;
    }
    gid = gr->gr_gid;
  }
  if (geteuid() != 0) {
    if (geteuid() == pw->pw_uid)
      return true;
    *error = g_strdup_printf("[server] user is '%s' but poplard is neither "
                             "root nor that user", user);
    return false;
  }
  if (initgroups(user, gid) != 0 || setgid(gid) != 0 ||
      setuid(pw->pw_uid) != 0) {
    *error = g_strdup_printf("cannot switch to user %s: %s", user,
                             g_strerror(errno));
    return false;
  }
  if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
    *error = g_strdup("root privileges could be regained after the switch");
    return false;
  }
  return true;
}

/* Adds @gid to the supplementary groups. */
static bool add_group(gid_t gid)
{
  int n = getgroups(0, NULL);
  if (n < 0)
    return false;
  g_autofree gid_t *groups = g_new(gid_t, n + 1);
  n = getgroups(n, groups);
  if (n < 0)
    return false;
  for (int i = 0; i < n; i++)
    if (groups[i] == gid)
      return true;
  groups[n++] = gid;
  return setgroups((size_t)n, groups) == 0;
}

bool poplard_become_uid(uint32_t uid, uint32_t gid, uint32_t extra_gid,
                        char **error)
{
  forget_ids();
  if (uid == 0 || gid == 0) {
    *error = g_strdup_printf("refusing to serve a session as uid %u gid %u: "
                             "root's ids", uid, gid);
    return false;
  }
  /* The account's own groups, as a login would have them; a virtual uid
   * with no account gets only its gid, never the master's groups. */
  struct passwd pwbuf, *pw = NULL;
  char buf[4096];
  bool groups_ok;
  if (getpwuid_r(uid, &pwbuf, buf, sizeof buf, &pw) == 0 && pw)
    groups_ok = initgroups(pw->pw_name, gid) == 0;
  else
    groups_ok = setgroups(1, &(gid_t){gid}) == 0;
  if (groups_ok && extra_gid != 0)
    groups_ok = add_group(extra_gid);
  if (!groups_ok || setresgid(gid, gid, gid) != 0 ||
      setresuid(uid, uid, uid) != 0) {
    *error = g_strdup_printf("cannot switch to uid %u gid %u: %s", uid, gid,
                             g_strerror(errno));
    return false;
  }
  if (setuid(0) == 0 || seteuid(0) == 0) {
    *error = g_strdup("root privileges could be regained after the switch");
    return false;
  }
  /* Nothing this process executes may gain privileges (setuid helpers of
   * a plugin included). */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    *error = g_strdup_printf("PR_SET_NO_NEW_PRIVS: %s", g_strerror(errno));
    return false;
  }
  return true;
}

bool poplard_assume_identity(const char *user, const char *group,
                             char **error)
{
  forget_ids();
  if (!user)
    return true;
  char buf[4096];
  struct passwd pw, *found = NULL;
  if (getpwnam_r(user, &pw, buf, sizeof buf, &found) != 0 || !found) {
    *error = g_strdup_printf("[server] user: no such user '%s'", user);
    return false;
  }
  gid_t gid = found->pw_gid;
  if (group) {
    char gbuf[4096];
    struct group gr, *gfound = NULL;
    if (getgrnam_r(group, &gr, gbuf, sizeof gbuf, &gfound) != 0 || !gfound) {
      *error = g_strdup_printf("[server] group: no such group '%s'", group);
      return false;
    }
    gid = gfound->gr_gid;
  }
  if (initgroups(user, gid) != 0 || setegid(gid) != 0 ||
      seteuid(found->pw_uid) != 0) {
    *error = g_strdup_printf("cannot act as user %s: %s", user,
                             g_strerror(errno));
    return false;
  }
  return true;
}

bool poplard_resume_root(char **error)
{
  forget_ids();
  if (seteuid(0) != 0 || setegid(0) != 0) {
    *error = g_strdup_printf("cannot resume root: %s", g_strerror(errno));
    return false;
  }
  return true;
}
