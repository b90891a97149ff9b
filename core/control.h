/* SPDX-License-Identifier: MIT */
/*
 * The master's control socket (poplarctl): a UNIX stream socket, mode 0600
 * for root, or 0660 with a group that may use it too.  One request per
 * connection; the master answers what it knows itself (stats of its own,
 * reload, stop) and asks the workers for the rest (control-fanout.h).
 */
#ifndef POPLAR_CONTROL_H
#define POPLAR_CONTROL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct PoplarControl PoplarControl;

/* What the master tells the control socket and the metrics endpoint. */
typedef struct PoplarMasterView {
  /* Control channels: the running workers', then the user processes'. */
  const int *worker_fds;
  unsigned n_workers;
  unsigned n_user_procs;
  uint64_t worker_restarts;
} PoplarMasterView;

typedef enum PoplarControlAction {
  POPLAR_CONTROL_NONE,
  POPLAR_CONTROL_RELOAD,
  POPLAR_CONTROL_STOP,
} PoplarControlAction;

/* Binds @path (its directory is created if missing); with @group, that
 * group may connect too.  A live master already answering there is left
 * alone (false, *@error says so); a stale socket is replaced. */
PoplarControl *poplard_control_open(const char *path, const char *group,
                                    char **error);
int poplard_control_fd(const PoplarControl *ctl);
/* Closes and removes the socket. */
void poplard_control_free(PoplarControl *ctl);

/* Accepts one connection, answers its request (bounded in time) and
 * closes it.  Returns what the master must do next. */
PoplarControlAction poplard_control_serve_one(PoplarControl *ctl,
                                              const PoplarMasterView *view);

/* Every worker's counters summed, with the master's own (restarts, build
 * information).  False with *@error when a worker did not answer (the
 * others' counters are in @merged). */
bool poplard_control_collect_stats(const PoplarMasterView *view,
                                   GHashTable *merged, GString *error);

#endif
