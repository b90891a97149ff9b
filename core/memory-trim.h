/* SPDX-License-Identifier: MIT */
/*
 * Giving the heap back after a burst.  glibc keeps the memory freed by
 * each thread in that thread's arena and returns to the kernel only what
 * lies at the top of the main one, so a worker that once held two thousand
 * sessions kept their memory for ever.  A timer on the first loop returns
 * free pages of every arena (malloc_trim) once sessions have come and gone
 * and enough of the heap is free to be worth it.
 */
#ifndef POPLAR_MEMORY_TRIM_H
#define POPLAR_MEMORY_TRIM_H

#include "event-loop.h"

typedef struct PoplarMemoryTrim PoplarMemoryTrim;

/* Starts checking every few seconds on @loop (before its thread runs, or
 * from it).  @sessions_started points at a counter that moves with every
 * new session (read atomically). */
PoplarMemoryTrim *poplard_memory_trim_start(PoplarLoop *loop,
                                            const unsigned *sessions_started);
/* After @loop has stopped running. */
void poplard_memory_trim_free(PoplarMemoryTrim *trim);

#endif /* POPLAR_MEMORY_TRIM_H */
