/* SPDX-License-Identifier: MIT */
/* The threads that run plugin calls off the loops. */
#ifndef POPLAR_PLUGIN_POOL_H
#define POPLAR_PLUGIN_POOL_H

#include <stdbool.h>

typedef void (*PoplarPoolFunc)(void *item, void *user_data);
typedef struct PoplarPool PoplarPool;

/* A pool that runs @func(item, @user_data) for every pushed item on up
 * to @max_threads threads, started as they are needed. */
PoplarPool *poplard_pool_new(PoplarPoolFunc func, void *user_data,
                             unsigned max_threads);
/* Queues @item.  False only when no thread runs and none could be
 * started (errno set): the caller then runs the call itself. */
bool poplard_pool_push(PoplarPool *pool, void *item);
/* Runs what is queued, then stops and joins the threads and frees
 * @pool. */
void poplard_pool_free(PoplarPool *pool);

#endif
