/* SPDX-License-Identifier: MIT */
/* Where log lines go: stderr (foreground, systemd's journal) for now. */
#ifndef POPLAR_LOG_SINK_H
#define POPLAR_LOG_SINK_H

#include <sys/types.h>

void poplard_log_sink_install(void);

/* This process's pid, asked of the kernel once per process (a fork drops
 * the parent's value once the sink is installed). */
pid_t poplard_self_pid(void);

#endif
