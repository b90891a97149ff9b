/* SPDX-License-Identifier: MIT */
/*
 * One event loop per loop thread: epoll for sockets, a binary heap of
 * timers, and a queue through which other threads hand work to the loop
 * (finished plugin calls, shutdown).  Level-triggered: a session states
 * which events it wants, and the loop only calls epoll_ctl when that
 * changes.
 */
#ifndef POPLAR_EVENT_LOOP_H
#define POPLAR_EVENT_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct PoplarLoop PoplarLoop;

/* @events: EPOLLIN/EPOLLOUT/EPOLLHUP/EPOLLERR as reported by epoll. */
typedef void (*PoplarIoFunc)(void *ctx, uint32_t events);
typedef void (*PoplarTimerFunc)(void *ctx);
typedef void (*PoplarInvokeFunc)(void *data);

typedef struct PoplarWatch {
  int fd;
  uint32_t events; /* currently registered */
  bool added;
  PoplarIoFunc func;
  void *ctx;
} PoplarWatch;

typedef struct PoplarTimer {
  int64_t deadline; /* monotonic microseconds */
  size_t heap_index; /* SIZE_MAX when not armed */
  PoplarTimerFunc func;
  void *ctx;
} PoplarTimer;

PoplarLoop *poplard_loop_new(void);
void poplard_loop_free(PoplarLoop *loop);
/* Runs until poplard_loop_quit(); call from the loop's own thread. */
void poplard_loop_run(PoplarLoop *loop);
/* Thread-safe. */
void poplard_loop_quit(PoplarLoop *loop);

void poplard_watch_init(PoplarWatch *w, int fd, PoplarIoFunc func, void *ctx);
/* Sets the wanted events (0 to stop watching but stay registered). */
bool poplard_loop_watch_set(PoplarLoop *loop, PoplarWatch *w, uint32_t events);
void poplard_loop_watch_remove(PoplarLoop *loop, PoplarWatch *w);
/* Registers with EPOLLEXCLUSIVE, for a listening socket shared by loops. */
bool poplard_loop_watch_exclusive(PoplarLoop *loop, PoplarWatch *w);

void poplard_timer_init(PoplarTimer *t, PoplarTimerFunc func, void *ctx);
void poplard_loop_timer_arm(PoplarLoop *loop, PoplarTimer *t, int64_t deadline);
void poplard_loop_timer_cancel(PoplarLoop *loop, PoplarTimer *t);
static inline bool poplard_timer_armed(const PoplarTimer *t)
{
  return t->heap_index != SIZE_MAX;
}

/* Runs @func(@data) on the loop's thread soon.  Thread-safe. */
void poplard_loop_invoke(PoplarLoop *loop, PoplarInvokeFunc func, void *data);

/* Runs @func(@data) on this loop after the events of the current
 * iteration are handled: for freeing an object that a later event of the
 * same batch may still point to.  Loop thread only. */
void poplard_loop_defer(PoplarLoop *loop, PoplarInvokeFunc func, void *data);

/* The loop's cached monotonic clock (microseconds), refreshed each
 * iteration. */
int64_t poplard_loop_now(const PoplarLoop *loop);

#endif /* POPLAR_EVENT_LOOP_H */
