/* SPDX-License-Identifier: MIT */
/*
 * Many systems start services with a soft open-file limit of 1024, which
 * would cap a worker at about 500 idle sessions whatever its memory; the
 * hard limit is what the administrator (LimitNOFILE=, limits.conf) or the
 * container allows, so the master raises the soft one to it before it
 * forks, and every worker inherits it.
 */
#include "fd-limit.h"

#include <errno.h>
#include <glib.h>

#include "poplar-private.h"

rlim_t poplard_fd_limit_current(void)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
    return 0;
  return rl.rlim_cur;
}

static void warn_if_too_small(const PoplarServerConfig *cfg, rlim_t limit)
{
  if (limit <= POPLAR_FDS_SPARE)
    return;
  unsigned long long fit =
      (unsigned long long)(limit - POPLAR_FDS_SPARE) / POPLAR_FDS_PER_SESSION;
  if (cfg->max_connections <= fit)
    return;
  poplarpriv_log(NULL, POPLAR_LOG_WARNING,
                 "max-connections = %u will not be reached: a process may "
                 "open %llu files and an idle session holds about %d (its "
                 "socket and its mailbox), so about %llu sessions fit in "
                 "each worker; raise the hard limit (LimitNOFILE=) or add "
                 "workers, each of which has a limit of its own",
                 cfg->max_connections, (unsigned long long)limit,
                 POPLAR_FDS_PER_SESSION, fit);
}

bool poplard_fd_limit_raise(const PoplarServerConfig *cfg)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    poplarpriv_log(NULL, POPLAR_LOG_WARNING,
                   "cannot read the open files limit: %s", g_strerror(errno));
    return false;
  }
  rlim_t before = rl.rlim_cur;
  if (rl.rlim_cur != rl.rlim_max) {
    struct rlimit raised = {.rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &raised) != 0) {
      poplarpriv_log(NULL, POPLAR_LOG_WARNING,
                     "cannot raise the open files limit from %llu to %llu: "
                     "%s", (unsigned long long)rl.rlim_cur,
                     (unsigned long long)rl.rlim_max, g_strerror(errno));
      warn_if_too_small(cfg, rl.rlim_cur);
      return false;
    }
    rl = raised;
  }
  if (rl.rlim_cur == before)
    poplarpriv_log(NULL, POPLAR_LOG_INFO,
                   "open files: up to %llu per process",
                   (unsigned long long)rl.rlim_cur);
  else
    poplarpriv_log(NULL, POPLAR_LOG_INFO,
                   "open files: up to %llu per process (raised from %llu)",
                   (unsigned long long)rl.rlim_cur,
                   (unsigned long long)before);
  if (rl.rlim_cur != RLIM_INFINITY)
    warn_if_too_small(cfg, rl.rlim_cur);
  return true;
}
