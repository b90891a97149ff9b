/* SPDX-License-Identifier: MIT */
/* Where log lines go: stderr (foreground, systemd's journal) for now. */
#ifndef POPLAR_LOG_SINK_H
#define POPLAR_LOG_SINK_H

void poplard_log_sink_install(void);

#endif
