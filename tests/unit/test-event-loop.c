/* SPDX-License-Identifier: MIT */
/* The event loop (core/event-loop.c): timers, cross-thread invocation,
 * deferred calls and fd watches. */
#include <glib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "event-loop.h"

/* Fails the test instead of hanging it when a loop never quits. */
typedef struct Watchdog {
  PoplarTimer timer;
  PoplarLoop *loop;
  bool fired;
} Watchdog;

static void watchdog_fire(void *ctx)
{
  Watchdog *w = ctx;
  w->fired = true;
  poplard_loop_quit(w->loop);
}

static void watchdog_arm(Watchdog *w, PoplarLoop *loop, int seconds)
{
  w->loop = loop;
  w->fired = false;
  poplard_timer_init(&w->timer, watchdog_fire, w);
  poplard_loop_timer_arm(loop, &w->timer,
                        g_get_monotonic_time() + seconds * G_USEC_PER_SEC);
}

/* ---- timers ------------------------------------------------------------ */

typedef struct TimerTest {
  PoplarLoop *loop;
  PoplarTimer *timers;
  size_t n;
  GArray *fired;    /* size_t index, in firing order */
  int64_t *fired_at; /* loop time when each fired, by index */
  unsigned *count;   /* times each fired */
  size_t remaining; /* armed timers not yet fired */
} TimerTest;

typedef struct TimerCtx {
  TimerTest *t;
  size_t index;
} TimerCtx;

static void timer_fire(void *ctx)
{
  TimerCtx *c = ctx;
  TimerTest *t = c->t;
  g_assert_false(poplard_timer_armed(&t->timers[c->index]));
  g_array_append_val(t->fired, c->index);
  t->fired_at[c->index] = poplard_loop_now(t->loop);
  t->count[c->index]++;
  if (--t->remaining == 0)
    poplard_loop_quit(t->loop);
}

/* Many random timers, some cancelled, some re-armed (earlier or later,
 * several times): each armed one fires once, not before its deadline, in
 * deadline order; cancelled ones never fire. */
static void test_timer_order(void)
{
  enum { N = 2000 };
  TimerTest t = {0};
  t.loop = poplard_loop_new();
  g_assert_nonnull(t.loop);
  t.n = N;
  t.timers = g_new0(PoplarTimer, N);
  t.fired = g_array_new(FALSE, FALSE, sizeof(size_t));
  t.fired_at = g_new0(int64_t, N);
  t.count = g_new0(unsigned, N);
  TimerCtx *ctx = g_new0(TimerCtx, N);
  bool *cancelled = g_new0(bool, N);

  int64_t now = g_get_monotonic_time();
  for (size_t i = 0; i < N; i++) {
    ctx[i] = (TimerCtx){&t, i};
    poplard_timer_init(&t.timers[i], timer_fire, &ctx[i]);
    g_assert_false(poplard_timer_armed(&t.timers[i]));
    /* deadlines from 20 ms in the past to 150 ms ahead, with ties */
    int64_t d = now + g_test_rand_int_range(-20, 150) * 1000;
    poplard_loop_timer_arm(t.loop, &t.timers[i], d);
    g_assert_true(poplard_timer_armed(&t.timers[i]));
  }
  for (size_t i = 0; i < N; i++) {
    switch (g_test_rand_int_range(0, 6)) {
    case 0:
      poplard_loop_timer_cancel(t.loop, &t.timers[i]);
      g_assert_false(poplard_timer_armed(&t.timers[i]));
      /* cancelling twice is harmless */
      poplard_loop_timer_cancel(t.loop, &t.timers[i]);
      cancelled[i] = true;
      break;
    case 1:
    case 2: /* re-armed once or twice: only the last deadline counts */
      for (int k = g_test_rand_int_range(1, 3); k > 0; k--)
        poplard_loop_timer_arm(t.loop, &t.timers[i],
                              now + g_test_rand_int_range(-20, 200) * 1000);
      break;
    default:
      break;
    }
  }
  /* cancel and re-arm: it is armed again */
  poplard_loop_timer_cancel(t.loop, &t.timers[0]);
  poplard_loop_timer_arm(t.loop, &t.timers[0], now + 5000);
  cancelled[0] = false;
  for (size_t i = 0; i < N; i++)
    if (!cancelled[i])
      t.remaining++;
  g_assert_cmpuint(t.remaining, >, 0);
  size_t armed = t.remaining;

  Watchdog wd;
  watchdog_arm(&wd, t.loop, 20);
  poplard_loop_run(t.loop);
  g_assert_false(wd.fired);
  poplard_loop_timer_cancel(t.loop, &wd.timer);

  g_assert_cmpuint(t.remaining, ==, 0);
  g_assert_cmpuint(t.fired->len, ==, armed);
  int64_t prev = G_MININT64;
  for (guint k = 0; k < t.fired->len; k++) {
    size_t i = g_array_index(t.fired, size_t, k);
    const PoplarTimer *tm = &t.timers[i];
    g_assert_false(cancelled[i]);
    g_assert_cmpuint(t.count[i], ==, 1);
    g_assert_cmpint(tm->deadline, >=, prev); /* in deadline order */
    g_assert_cmpint(t.fired_at[i], >=, tm->deadline); /* never early */
    prev = tm->deadline;
  }
  for (size_t i = 0; i < N; i++)
    g_assert_cmpuint(t.count[i], ==, cancelled[i] ? 0 : 1);

  poplard_loop_free(t.loop);
  g_array_unref(t.fired);
  g_free(t.timers);
  g_free(t.fired_at);
  g_free(t.count);
  g_free(ctx);
  g_free(cancelled);
}

/* A timer callback that re-arms itself (the idle timeout pattern) and one
 * that cancels another timer due in the same iteration. */
typedef struct Rearm {
  PoplarLoop *loop;
  PoplarTimer self, victim;
  unsigned runs, victim_runs;
} Rearm;

static void rearm_fire(void *ctx)
{
  Rearm *r = ctx;
  r->runs++;
  poplard_loop_timer_cancel(r->loop, &r->victim);
  if (r->runs < 5)
    poplard_loop_timer_arm(r->loop, &r->self,
                          poplard_loop_now(r->loop) + 2000);
  else
    poplard_loop_quit(r->loop);
}

static void victim_fire(void *ctx)
{
  Rearm *r = ctx;
  r->victim_runs++;
}

static void test_timer_rearm_in_callback(void)
{
  Rearm r = {0};
  r.loop = poplard_loop_new();
  poplard_timer_init(&r.self, rearm_fire, &r);
  poplard_timer_init(&r.victim, victim_fire, &r);
  int64_t past = g_get_monotonic_time() - 1000;
  poplard_loop_timer_arm(r.loop, &r.self, past);
  poplard_loop_timer_arm(r.loop, &r.victim, past + 1); /* due, but later */
  Watchdog wd;
  watchdog_arm(&wd, r.loop, 10);
  poplard_loop_run(r.loop);
  g_assert_false(wd.fired);
  g_assert_cmpuint(r.runs, ==, 5);
  g_assert_cmpuint(r.victim_runs, ==, 0);
  poplard_loop_free(r.loop);
}

/* ---- cross-thread invocation -------------------------------------------- */

typedef struct InvokeTest {
  PoplarLoop *loop;
  GThread *loop_thread;
  gint count;
  gint expected;
  bool wrong_thread;
} InvokeTest;

static void invoked(void *data)
{
  InvokeTest *t = data;
  if (g_thread_self() != t->loop_thread)
    t->wrong_thread = true;
  if (g_atomic_int_add(&t->count, 1) + 1 == t->expected)
    poplard_loop_quit(t->loop);
}

static gpointer invoker_thread(gpointer data)
{
  InvokeTest *t = data;
  for (int i = 0; i < 1000; i++) {
    if (i % 100 == 0)
      g_usleep(1000); /* let the loop go to sleep in epoll_wait now and then */
    poplard_loop_invoke(t->loop, invoked, t);
  }
  return NULL;
}

static gpointer late_invoker(gpointer data)
{
  InvokeTest *t = data;
  g_usleep(100 * 1000); /* the loop is asleep by now */
  poplard_loop_invoke(t->loop, invoked, t);
  return NULL;
}

static void test_invoke_wakes_loop(void)
{
  InvokeTest t = {0};
  t.loop = poplard_loop_new();
  t.loop_thread = g_thread_self();
  t.expected = 1;
  GThread *th = g_thread_new("late-invoker", late_invoker, &t);
  Watchdog wd;
  watchdog_arm(&wd, t.loop, 10);
  int64_t start = g_get_monotonic_time();
  poplard_loop_run(t.loop);
  int64_t took = g_get_monotonic_time() - start;
  g_thread_join(th);
  g_assert_false(wd.fired);
  g_assert_cmpint(t.count, ==, 1);
  g_assert_false(t.wrong_thread);
  /* woken promptly, not by the watchdog or a poll timeout */
  g_assert_cmpint(took, <, 5 * G_USEC_PER_SEC);
  poplard_loop_free(t.loop);
}

static void test_invoke_many_threads(void)
{
  enum { THREADS = 8 };
  InvokeTest t = {0};
  t.loop = poplard_loop_new();
  t.loop_thread = g_thread_self();
  t.expected = THREADS * 1000;
  GThread *th[THREADS];
  for (int i = 0; i < THREADS; i++)
    th[i] = g_thread_new("invoker", invoker_thread, &t);
  Watchdog wd;
  watchdog_arm(&wd, t.loop, 30);
  poplard_loop_run(t.loop);
  for (int i = 0; i < THREADS; i++)
    g_thread_join(th[i]);
  g_assert_false(wd.fired);
  g_assert_cmpint(g_atomic_int_get(&t.count), ==, t.expected);
  g_assert_false(t.wrong_thread);
  poplard_loop_free(t.loop);
}

/* Quit from another thread wakes the loop too. */
static gpointer quitter(gpointer data)
{
  g_usleep(50 * 1000);
  poplard_loop_quit(data);
  return NULL;
}

static void test_quit_from_thread(void)
{
  PoplarLoop *loop = poplard_loop_new();
  GThread *th = g_thread_new("quitter", quitter, loop);
  Watchdog wd;
  watchdog_arm(&wd, loop, 10);
  poplard_loop_run(loop);
  g_thread_join(th);
  g_assert_false(wd.fired);
  poplard_loop_free(loop);
}

/* ---- deferred calls ------------------------------------------------------ */

typedef struct DeferTest {
  PoplarLoop *loop;
  GString *log;
  PoplarTimer timer;
} DeferTest;

static void defer_second(void *data)
{
  DeferTest *t = data;
  g_string_append(t->log, "D2 ");
  poplard_loop_quit(t->loop);
}

static void defer_first(void *data)
{
  DeferTest *t = data;
  g_string_append(t->log, "D1 ");
  /* deferring from a deferred call runs in the same pass */
  poplard_loop_defer(t->loop, defer_second, t);
}

static void invoke_a(void *data)
{
  DeferTest *t = data;
  g_string_append(t->log, "A ");
  poplard_loop_defer(t->loop, defer_first, t);
}

static void invoke_b(void *data)
{
  DeferTest *t = data;
  g_string_append(t->log, "B ");
}

static void defer_timer(void *data)
{
  DeferTest *t = data;
  g_string_append(t->log, "T ");
}

static void test_defer_after_batch(void)
{
  DeferTest t = {0};
  t.loop = poplard_loop_new();
  t.log = g_string_new(NULL);
  /* two invocations queued before the loop runs arrive in one batch */
  poplard_loop_invoke(t.loop, invoke_a, &t);
  poplard_loop_invoke(t.loop, invoke_b, &t);
  poplard_timer_init(&t.timer, defer_timer, &t);
  poplard_loop_timer_arm(t.loop, &t.timer, g_get_monotonic_time() - 1);
  Watchdog wd;
  watchdog_arm(&wd, t.loop, 10);
  poplard_loop_run(t.loop);
  g_assert_false(wd.fired);
  g_assert_cmpstr(t.log->str, ==, "A B T D1 D2 ");
  g_string_free(t.log, TRUE);
  poplard_loop_free(t.loop);
}

/* ---- fd watches ------------------------------------------------------------ */

typedef struct WatchTest {
  PoplarLoop *loop;
  PoplarWatch watch;
  int fds[2];
  unsigned reads;
  uint32_t last_events;
} WatchTest;

static void on_readable(void *ctx, uint32_t events)
{
  WatchTest *t = ctx;
  t->last_events = events;
  char buf[16];
  ssize_t n = read(t->fds[0], buf, sizeof buf);
  if (n > 0)
    t->reads++;
  if (t->reads == 2 || n == 0) {
    poplard_loop_watch_remove(t->loop, &t->watch);
    poplard_loop_quit(t->loop);
  }
}

static gpointer writer(gpointer data)
{
  WatchTest *t = data;
  g_usleep(20 * 1000);
  g_assert_cmpint(write(t->fds[1], "x", 1), ==, 1);
  g_usleep(20 * 1000);
  g_assert_cmpint(write(t->fds[1], "y", 1), ==, 1);
  return NULL;
}

static void test_watch(void)
{
  WatchTest t = {0};
  t.loop = poplard_loop_new();
  g_assert_cmpint(pipe(t.fds), ==, 0);
  poplard_watch_init(&t.watch, t.fds[0], on_readable, &t);
  g_assert_true(poplard_loop_watch_set(t.loop, &t.watch, EPOLLIN));
  g_assert_true(t.watch.added);
  /* setting the same events again is a no-op that succeeds */
  g_assert_true(poplard_loop_watch_set(t.loop, &t.watch, EPOLLIN));
  GThread *th = g_thread_new("writer", writer, &t);
  Watchdog wd;
  watchdog_arm(&wd, t.loop, 10);
  poplard_loop_run(t.loop);
  g_thread_join(th);
  g_assert_false(wd.fired);
  g_assert_cmpuint(t.reads, ==, 2);
  g_assert_true(t.last_events & EPOLLIN);
  g_assert_false(t.watch.added);
  /* removing twice is harmless */
  poplard_loop_watch_remove(t.loop, &t.watch);
  close(t.fds[0]);
  close(t.fds[1]);
  /* a bad fd cannot be watched */
  PoplarWatch bad;
  poplard_watch_init(&bad, -1, on_readable, &t);
  g_assert_false(poplard_loop_watch_set(t.loop, &bad, EPOLLIN));
  g_assert_false(bad.added);
  poplard_loop_free(t.loop);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/event-loop/timer-order", test_timer_order);
  g_test_add_func("/event-loop/timer-rearm-in-callback",
                  test_timer_rearm_in_callback);
  g_test_add_func("/event-loop/invoke-wakes-loop", test_invoke_wakes_loop);
  g_test_add_func("/event-loop/invoke-many-threads",
                  test_invoke_many_threads);
  g_test_add_func("/event-loop/quit-from-thread", test_quit_from_thread);
  g_test_add_func("/event-loop/defer-after-batch", test_defer_after_batch);
  g_test_add_func("/event-loop/watch", test_watch);
  return g_test_run();
}
