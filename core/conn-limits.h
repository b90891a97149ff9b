/* SPDX-License-Identifier: MIT */
/* Global and per-client-address connection counts.  Thread-safe. */
#ifndef POPLAR_CONN_LIMITS_H
#define POPLAR_CONN_LIMITS_H

#include <stdbool.h>

typedef struct PoplarConnLimits PoplarConnLimits;

PoplarConnLimits *poplard_conn_limits_new(unsigned max_total,
                                         unsigned max_per_address);
void poplard_conn_limits_free(PoplarConnLimits *limits);
/* Counts a new connection from @address; false (and nothing counted) when
 * a limit is reached.  *@per_address tells which one. */
bool poplard_conn_limits_enter(PoplarConnLimits *limits, const char *address,
                              bool *per_address);
void poplard_conn_limits_leave(PoplarConnLimits *limits, const char *address);

#endif
