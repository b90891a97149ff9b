/* SPDX-License-Identifier: MIT */
/*
 * The passwd entry of a user PAM has authenticated, for its home directory
 * and ids.  getpwnam_r() and not getpwnam(): logins run on several threads
 * at once.
 */
#include "auth-pam.h"

#include <errno.h>
#include <pwd.h>
#include <unistd.h>

/* sysconf() may not know; directories behind NSS modules can have long
 * entries, so the buffer doubles up to this. */
#define PASSWD_BUF_START 1024
#define PASSWD_BUF_MAX (1024 * 1024)

PamLookup auth_pam_passwd_lookup(const char *user, PamPasswdEntry *out)
{
  out->home = NULL;
  out->uid = 0;
  out->gid = 0;
  long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
  size_t size = hint > 0 ? (size_t)hint : PASSWD_BUF_START;
  for (;;) {
    char *buf = g_malloc(size);
    struct passwd pw;
    struct passwd *found = NULL;
    int rc = getpwnam_r(user, &pw, buf, size, &found);
    if (rc == ERANGE && size < PASSWD_BUF_MAX) {
      g_free(buf);
      size *= 2;
      continue;
    }
    /* POSIX says "not found" is rc 0 and no entry; NSS modules (and
     * getpwnam_r(3) itself) also report it as one of these. */
    bool not_found = rc == 0 || rc == ENOENT || rc == ESRCH ||
                     rc == EBADF || rc == EPERM;
    if (!found && !not_found) {
      g_free(buf);
      errno = rc;
      return PAM_LOOKUP_FAILED;
    }
    if (!found) {
      g_free(buf);
      return PAM_LOOKUP_NOT_FOUND;
    }
    out->home = g_strdup(pw.pw_dir ? pw.pw_dir : "");
    out->uid = (unsigned long)pw.pw_uid;
    out->gid = (unsigned long)pw.pw_gid;
    g_free(buf);
    return PAM_LOOKUP_OK;
  }
}

void auth_pam_passwd_entry_clear(PamPasswdEntry *e)
{
  g_clear_pointer(&e->home, g_free);
}
