/* SPDX-License-Identifier: MIT */
#include "event-loop.h"

#include <errno.h>
#include <glib.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 128

typedef struct Invocation {
  PoplarInvokeFunc func;
  void *data;
} Invocation;

struct PoplarLoop {
  int epfd;
  int wakefd;
  PoplarWatch wake_watch;
  GMutex lock; /* guards pending and wake_pending */
  GArray *pending; /* Invocation, filled by other threads */
  GArray *running; /* swapped with pending by the loop */
  GArray *deferred; /* Invocation, run after the current batch of events */
  bool wake_pending; /* invocations are queued and the loop owes a run */
  /* Set while the loop is in (or about to enter) epoll_wait(): only then
   * does an invocation need the eventfd to wake it.  Otherwise the loop
   * finds wake_pending set before it next waits: one write and one read
   * fewer per hand-over whenever the loop is busy anyway. */
  atomic_int polling;
  volatile int quit;
  PoplarTimer **heap;
  size_t heap_len, heap_cap;
  int64_t now;
};

int64_t poplard_loop_now(const PoplarLoop *loop) { return loop->now; }

/* ---- timers: a binary min-heap on deadline ---------------------------- */

static void heap_set(PoplarLoop *loop, size_t i, PoplarTimer *t)
{
  loop->heap[i] = t;
  t->heap_index = i;
}

static void heap_sift_up(PoplarLoop *loop, size_t i)
{
  PoplarTimer *t = loop->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (loop->heap[parent]->deadline <= t->deadline)
      break;
    heap_set(loop, i, loop->heap[parent]);
    i = parent;
  }
  heap_set(loop, i, t);
}

static void heap_sift_down(PoplarLoop *loop, size_t i)
{
  PoplarTimer *t = loop->heap[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= loop->heap_len)
      break;
    if (child + 1 < loop->heap_len &&
        loop->heap[child + 1]->deadline < loop->heap[child]->deadline)
      child++;
    if (loop->heap[child]->deadline >= t->deadline)
      break;
    heap_set(loop, i, loop->heap[child]);
    i = child;
  }
  heap_set(loop, i, t);
}

void poplard_timer_init(PoplarTimer *t, PoplarTimerFunc func, void *ctx)
{
  t->deadline = 0;
  t->heap_index = SIZE_MAX;
  t->func = func;
  t->ctx = ctx;
}

void poplard_loop_timer_cancel(PoplarLoop *loop, PoplarTimer *t)
{
  if (t->heap_index == SIZE_MAX)
    return;
  size_t i = t->heap_index;
  t->heap_index = SIZE_MAX;
  PoplarTimer *last = loop->heap[--loop->heap_len];
  if (i == loop->heap_len)
    return;
  heap_set(loop, i, last);
  heap_sift_down(loop, i);
  heap_sift_up(loop, last->heap_index);
}

void poplard_loop_timer_arm(PoplarLoop *loop, PoplarTimer *t, int64_t deadline)
{
  poplard_loop_timer_cancel(loop, t);
  if (loop->heap_len == loop->heap_cap) {
    loop->heap_cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
    loop->heap = g_renew(PoplarTimer *, loop->heap, loop->heap_cap);
  }
  t->deadline = deadline;
  loop->heap[loop->heap_len] = t;
  t->heap_index = loop->heap_len++;
  heap_sift_up(loop, t->heap_index);
}

static int next_timeout_ms(PoplarLoop *loop)
{
  if (loop->heap_len == 0)
    return -1;
  int64_t wait = loop->heap[0]->deadline - g_get_monotonic_time();
  if (wait <= 0)
    return 0;
  return (int)MIN((wait + 999) / 1000, 60 * 1000);
}

static void run_timers(PoplarLoop *loop)
{
  while (loop->heap_len > 0 && loop->heap[0]->deadline <= loop->now) {
    PoplarTimer *t = loop->heap[0];
    poplard_loop_timer_cancel(loop, t);
    t->func(t->ctx);
  }
}

/* ---- cross-thread invocation ------------------------------------------ */

void poplard_loop_invoke(PoplarLoop *loop, PoplarInvokeFunc func, void *data)
{
  Invocation inv = {func, data};
  bool wake;
  g_mutex_lock(&loop->lock);
  g_array_append_val(loop->pending, inv);
  wake = !loop->wake_pending;
  loop->wake_pending = true;
  g_mutex_unlock(&loop->lock);
  /* The loop sets polling before it looks at wake_pending under the lock:
   * either it sees ours, or we see it polling. */
  if (wake && atomic_load(&loop->polling)) {
    uint64_t one = 1;
    while (write(loop->wakefd, &one, sizeof one) < 0 && errno == EINTR)
      ;
  }
}

static void run_invocations(PoplarLoop *loop)
{
  g_mutex_lock(&loop->lock);
  GArray *batch = loop->pending;
  loop->pending = loop->running;
  loop->running = batch;
  loop->wake_pending = false;
  g_mutex_unlock(&loop->lock);
  for (guint i = 0; i < batch->len; i++) {
    Invocation *inv = &g_array_index(batch, Invocation, i);
    inv->func(inv->data);
  }
  g_array_set_size(batch, 0);
}

static void on_wake(void *ctx, uint32_t events)
{
  PoplarLoop *loop = ctx;
  uint64_t count;
  (void)events;
  while (read(loop->wakefd, &count, sizeof count) < 0 && errno == EINTR)
    ;
  run_invocations(loop);
}

/* True when invocations are owed; false with polling set. */
static bool invocations_owed(PoplarLoop *loop)
{
  atomic_store(&loop->polling, 1);
  g_mutex_lock(&loop->lock);
  bool owed = loop->wake_pending;
  g_mutex_unlock(&loop->lock);
  if (owed)
    atomic_store(&loop->polling, 0);
  return owed;
}

void poplard_loop_quit(PoplarLoop *loop)
{
  g_atomic_int_set(&loop->quit, 1);
  uint64_t one = 1;
  while (write(loop->wakefd, &one, sizeof one) < 0 && errno == EINTR)
    ;
}

/* ---- watches ---------------------------------------------------------- */

void poplard_watch_init(PoplarWatch *w, int fd, PoplarIoFunc func, void *ctx)
{
  w->fd = fd;
  w->events = 0;
  w->added = false;
  w->func = func;
  w->ctx = ctx;
}

bool poplard_loop_watch_set(PoplarLoop *loop, PoplarWatch *w, uint32_t events)
{
  if (w->added && w->events == events)
    return true;
  struct epoll_event ev = {.events = events, .data.ptr = w};
  int op = w->added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (epoll_ctl(loop->epfd, op, w->fd, &ev) < 0)
    return false;
  w->added = true;
  w->events = events;
  return true;
}

bool poplard_loop_watch_exclusive(PoplarLoop *loop, PoplarWatch *w)
{
  struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = w};
  if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0)
    return false;
  w->added = true;
  w->events = EPOLLIN;
  return true;
}

void poplard_loop_watch_remove(PoplarLoop *loop, PoplarWatch *w)
{
  if (!w->added)
    return;
  epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
  w->added = false;
  w->events = 0;
}

void poplard_loop_defer(PoplarLoop *loop, PoplarInvokeFunc func, void *data)
{
  Invocation inv = {func, data};
  g_array_append_val(loop->deferred, inv);
}

static void run_deferred(PoplarLoop *loop)
{
  /* A deferred function may defer more: run until none is left. */
  for (guint i = 0; i < loop->deferred->len; i++) {
    Invocation inv = g_array_index(loop->deferred, Invocation, i);
    inv.func(inv.data);
  }
  g_array_set_size(loop->deferred, 0);
}

/* ---- the loop --------------------------------------------------------- */

PoplarLoop *poplard_loop_new(void)
{
  PoplarLoop *loop = g_new0(PoplarLoop, 1);
  loop->epfd = epoll_create1(EPOLL_CLOEXEC);
  loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (loop->epfd < 0 || loop->wakefd < 0) {
    if (loop->epfd >= 0)
      close(loop->epfd);
    if (loop->wakefd >= 0)
      close(loop->wakefd);
    g_free(loop);
    return NULL;
  }
  g_mutex_init(&loop->lock);
  loop->pending = g_array_new(FALSE, FALSE, sizeof(Invocation));
  loop->running = g_array_new(FALSE, FALSE, sizeof(Invocation));
  loop->deferred = g_array_new(FALSE, FALSE, sizeof(Invocation));
  poplard_watch_init(&loop->wake_watch, loop->wakefd, on_wake, loop);
  if (!poplard_loop_watch_set(loop, &loop->wake_watch, EPOLLIN)) {
    poplard_loop_free(loop);
    return NULL;
  }
  loop->now = g_get_monotonic_time();
  return loop;
}

void poplard_loop_free(PoplarLoop *loop)
{
  if (!loop)
    return;
  close(loop->epfd);
  close(loop->wakefd);
  g_mutex_clear(&loop->lock);
  g_array_unref(loop->pending);
  g_array_unref(loop->running);
  g_array_unref(loop->deferred);
  g_free(loop->heap);
  g_free(loop);
}

void poplard_loop_run(PoplarLoop *loop)
{
  struct epoll_event events[LOOP_MAX_EVENTS];
  while (!g_atomic_int_get(&loop->quit)) {
    /* Owed invocations run after this batch of events; the wait then
     * only looks (so that a stream of invocations starves no socket). */
    bool owed = invocations_owed(loop);
    int n = epoll_wait(loop->epfd, events, LOOP_MAX_EVENTS,
                       owed ? 0 : next_timeout_ms(loop));
    atomic_store(&loop->polling, 0);
    loop->now = g_get_monotonic_time();
    if (n < 0 && errno != EINTR)
      break;
    for (int i = 0; i < n; i++) {
      PoplarWatch *w = events[i].data.ptr;
      w->func(w->ctx, events[i].events);
    }
    if (owed)
      run_invocations(loop);
    run_timers(loop);
    run_deferred(loop);
  }
}
