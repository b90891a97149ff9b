/* SPDX-License-Identifier: MIT */
/*
 * The open-file limit (RLIMIT_NOFILE).  Every session holds descriptors
 * (its socket, and its mailbox while it is open), so the limit, not
 * memory, bounds how many sessions one process can serve.
 */
#ifndef POPLAR_FD_LIMIT_H
#define POPLAR_FD_LIMIT_H

#include <stdbool.h>
#include <sys/resource.h>

#include "server-config.h"

/* Descriptors an idle session usually holds: its socket and its open
 * mailbox (store-maildir keeps one for it). */
#define POPLAR_FDS_PER_SESSION 2
/* Descriptors a process needs besides its sessions': listeners, epoll and
 * wake-up descriptors, logs, plugin files, and the short-lived ones of
 * logins and reads in progress. */
#define POPLAR_FDS_SPARE 64

/* Raises this process's soft limit to its hard limit, for the master and
 * the workers it forks (each with its own descriptor table), and logs the
 * figure.  Warns when @cfg's max-connections sessions would not fit in
 * one worker.  Returns false, having logged why, when the limit cannot be
 * read or raised; the server then runs with the limit it has. */
bool poplard_fd_limit_raise(const PoplarServerConfig *cfg);

/* The current soft limit, or 0 when it cannot be read or is unlimited. */
rlim_t poplard_fd_limit_current(void);

#endif /* POPLAR_FD_LIMIT_H */
