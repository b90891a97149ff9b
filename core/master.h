/* SPDX-License-Identifier: MIT */
/* The master process: supervises workers, stops, reloads. */
#ifndef POPLAR_MASTER_H
#define POPLAR_MASTER_H

#include "server.h"

typedef struct PoplarMasterOptions {
  const char *config_path;
  const char *plugin_dir; /* --plugin-dir, or NULL */
  char **argv;            /* to execute again on reload */
} PoplarMasterOptions;

/* Blocks the signals the master handles (they are read from a signalfd),
 * before anything a signal could interrupt half-way, such as binding: a
 * SIGHUP that arrives early is then a reload, not the end. */
void poplard_master_block_signals(void);

/* Runs until SIGTERM/SIGINT with @server set up and bound.  Returns the
 * exit status. */
int poplard_master_run(PoplarServer *server, const PoplarMasterOptions *opts);

#endif
