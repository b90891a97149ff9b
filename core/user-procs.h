/* SPDX-License-Identifier: MIT */
/*
 * The master's table of user processes, one per uid/gid with sessions
 * (user-proc.h).  The master reads each hand-off a worker sends only far
 * enough to learn its uid and gid, starts that user's process when there
 * is none, and forwards the datagram with its descriptors untouched.  So
 * the one process that can switch uid never parses a client's words, and
 * no worker can switch uid at all.
 */
#ifndef POPLAR_USER_PROCS_H
#define POPLAR_USER_PROCS_H

#include <poll.h>
#include <stdbool.h>
#include <sys/types.h>

#include "server.h"

typedef struct PoplarUserProcs PoplarUserProcs;

PoplarUserProcs *poplard_user_procs_new(PoplarServer *server);
/* Signals nothing; closes the channels.  The processes end on their own
 * (their channel closes; the master's death signals them). */
void poplard_user_procs_free(PoplarUserProcs *u);

/* Descriptors a forked user process must not keep (the master's signal
 * descriptor, its ends of the workers' channels).  Not taken. */
void poplard_user_procs_close_in_child(PoplarUserProcs *u, int fd);
void poplard_user_procs_forget_fd(PoplarUserProcs *u, int fd);
/* In any child of the master: closes those descriptors and the
 * processes' channels. */
void poplard_user_procs_close_inherited(PoplarUserProcs *u);

/* Handles what a worker sent on @from (readable): each hand-off goes to
 * the process of its uid, started when needed.  Returns false at end of
 * file (the worker is gone). */
bool poplard_user_procs_route(PoplarUserProcs *u, int from);

/* Fills @fds with the processes' channels to poll, up to @max; returns
 * how many. */
size_t poplard_user_procs_poll_fds(const PoplarUserProcs *u,
                                   struct pollfd *fds, size_t max);
/* A polled channel is readable: the process is idle, or gone. */
void poplard_user_procs_on_channel(PoplarUserProcs *u, int fd);

/* A child ended: true when it was a user process (then logged). */
bool poplard_user_procs_reaped(PoplarUserProcs *u, pid_t pid, int status);

/* Sends @sig to every user process; true when any is still running. */
bool poplard_user_procs_signal(PoplarUserProcs *u, int sig);
bool poplard_user_procs_any(const PoplarUserProcs *u);
/* Fills @fds with the processes' control channels (retiring ones
 * included: they still serve sessions), up to @max; returns how many. */
size_t poplard_user_procs_control_fds(const PoplarUserProcs *u, int *fds,
                                      size_t max);
/* How many processes there are, retiring ones included. */
size_t poplard_user_procs_count(const PoplarUserProcs *u);
/* Appends "PID," for each process to @out (a reload passes them on as
 * draining children). */
void poplard_user_procs_list_pids(const PoplarUserProcs *u, GString *out);

#endif
