/* SPDX-License-Identifier: MIT */
/*
 * The two systemd interfaces poplard uses, spoken directly so that it
 * needs no libsystemd: readiness notification (sd_notify) and socket
 * activation (LISTEN_FDS).  Both are no-ops outside systemd.
 */
#ifndef POPLAR_SYSTEMD_H
#define POPLAR_SYSTEMD_H

#include <stdbool.h>

/* Sends @state ("READY=1", "STATUS=...") to $NOTIFY_SOCKET, if set. */
void poplard_sd_notify(const char *state);
void poplard_sd_notifyf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

typedef struct PoplarInheritedFd {
  int fd;
  char name[64]; /* LISTEN_FDNAMES entry, "" when unnamed */
} PoplarInheritedFd;

/* Takes the sockets passed in LISTEN_FDS for this process, marks them
 * close-on-exec and clears the variables.  Returns how many (0 when
 * none); fills at most @max entries. */
unsigned poplard_sd_listen_fds(PoplarInheritedFd *out, unsigned max);

#endif
