/* SPDX-License-Identifier: MIT */
/*
 * Held sessions: K clients log in and stay idle; the server's memory is
 * read from /proc before and while they are held; then every session is
 * served (STAT on each, all at once) and ends with QUIT.  Idle memory per
 * session is (held - before) / K.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { PHASE_LOGIN, PHASE_SERVE, PHASE_QUIT };

static void hold_slot(BenchConn *c)
{
  BenchWorker *w = c->worker;
  while (w->next_slot < w->n_slots) {
    BenchConn *n = &w->slots[w->next_slot++];
    if (bench_conn_start(n))
      return;
    w->failed++;
  }
  (void)c;
}

static void hold_greeting(BenchConn *c)
{
  char cmd[300];
  snprintf(cmd, sizeof cmd, "USER %s", c->user->name);
  c->step = 1;
  bench_conn_send(c, BENCH_REPLY_LINE, cmd);
}

static void hold_reply(BenchConn *c, bool ok, const char *status,
                       uint64_t body)
{
  (void)body;
  BenchWorker *w = c->worker;
  if (!ok) {
    char why[BENCH_STATUS_MAX + 32];
    snprintf(why, sizeof why, "step %u: %s", c->step, status);
    bench_conn_finish(c, false, why);
    return;
  }
  char cmd[600];
  switch (c->step) {
  case 1:
    snprintf(cmd, sizeof cmd, "PASS %s", c->user->password);
    c->step = 2;
    bench_conn_send(c, BENCH_REPLY_LINE, cmd);
    break;
  case 2: /* logged in: park, and let the next slot log in */
    c->step = 3;
    c->deadline = UINT64_MAX;
    bench_samples_add(&w->latency, bench_now_ns() - c->t_start);
    w->parked++;
    hold_slot(c);
    break;
  case 3: /* STAT answered while served */
    c->deadline = UINT64_MAX;
    w->answered++;
    break;
  default: /* QUIT answered */
    bench_conn_finish(c, true, NULL);
    break;
  }
}

static void hold_end(BenchConn *c, bool ok)
{
  BenchWorker *w = c->worker;
  if (ok) {
    w->closed++;
    return;
  }
  w->failed++;
  if (w->run->phase == PHASE_LOGIN)
    hold_slot(c);
}

static bool all_logged_in(BenchWorker *w)
{
  return w->parked + w->failed >= w->n_slots;
}

static bool all_answered(BenchWorker *w)
{
  return w->answered + w->failed >= w->n_slots;
}

static void serve_all(BenchWorker *w, const char *cmd, unsigned step)
{
  uint64_t deadline =
      bench_now_ns() + (uint64_t)(w->run->opt->timeout_s * 1e9);
  for (unsigned i = 0; i < w->n_slots; i++) {
    BenchConn *c = &w->slots[i];
    if (!bench_conn_busy(c))
      continue;
    c->step = step;
    c->deadline = deadline;
    bench_conn_send(c, BENCH_REPLY_LINE, cmd);
    bench_conn_drive(c);
  }
}

static void hold_body(BenchWorker *w)
{
  BenchRun *run = w->run;
  unsigned inflight = run->opt->concurrency / run->n_workers;
  if (inflight == 0)
    inflight = 1;
  for (unsigned i = 0; i < inflight && w->next_slot < w->n_slots; i++)
    hold_slot(&w->slots[0]);
  bench_worker_loop(w, all_logged_in);
  pthread_barrier_wait(&run->barrier); /* logged in: measure */
  pthread_barrier_wait(&run->barrier); /* serve */
  serve_all(w, "STAT", 3);
  bench_worker_loop(w, all_answered);
  pthread_barrier_wait(&run->barrier); /* served */
  pthread_barrier_wait(&run->barrier); /* quit */
  serve_all(w, "QUIT", 4);
  bench_worker_loop(w, bench_worker_all_idle);
}

static const BenchScenario hold_scenario = {
    .on_slot = hold_slot,
    .on_greeting = hold_greeting,
    .on_reply = hold_reply,
    .on_end = hold_end,
    .worker_body = hold_body,
};

static void sleep_s(double s)
{
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

int bench_scenario_hold(const BenchOptions *opt)
{
  BenchRun run = {.opt = opt, .scenario = &hold_scenario};
  char *err = NULL;
  uint64_t before = 0, held = 0;
  unsigned procs_before = 0, procs_held = 0;
  bool measure = opt->n_server_pids > 0 || opt->n_server_comms > 0;
  if (measure && !bench_server_pss_kib(opt, &before, &procs_before, &err)) {
    fprintf(stderr, "poplar-bench: %s\n", err);
    free(err);
    return 2;
  }
  if (opt->tls && !bench_tls_init(&run.tls, opt, &err)) {
    fprintf(stderr, "poplar-bench: %s\n", err);
    free(err);
    return 2;
  }
  unsigned nw = opt->threads < opt->count ? opt->threads : opt->count;
  if (nw == 0)
    nw = 1;
  pthread_barrier_init(&run.barrier, NULL, nw + 1);
  uint64_t t0 = bench_now_ns();
  if (!bench_run_start(&run, opt->count, &err) || run.n_started != nw) {
    /* The barrier would never fill: give up the whole run. */
    fprintf(stderr, "poplar-bench: %s\n", err ? err : "worker setup failed");
    free(err);
    _exit(2);
  }
  pthread_barrier_wait(&run.barrier);
  uint64_t t_logged_in = bench_now_ns();
  unsigned parked = 0;
  for (unsigned i = 0; i < run.n_workers; i++)
    parked += run.workers[i].parked;
  sleep_s(opt->hold_s);
  bool measured = false;
  if (measure) {
    measured = bench_server_pss_kib(opt, &held, &procs_held, &err);
    if (!measured) {
      fprintf(stderr, "poplar-bench: %s\n", err);
      free(err);
    }
  }
  run.phase = PHASE_SERVE;
  uint64_t t_serve = bench_now_ns();
  pthread_barrier_wait(&run.barrier);
  pthread_barrier_wait(&run.barrier);
  uint64_t t_served = bench_now_ns();
  unsigned answered = 0;
  for (unsigned i = 0; i < run.n_workers; i++)
    answered += run.workers[i].answered;
  run.phase = PHASE_QUIT;
  pthread_barrier_wait(&run.barrier);
  bench_run_join(&run);
  uint64_t t_done = bench_now_ns();

  BenchSamples all = {0};
  uint64_t errors = 0;
  unsigned closed = 0;
  const char *first_error = NULL;
  for (unsigned i = 0; i < run.n_workers; i++) {
    BenchWorker *w = &run.workers[i];
    bench_samples_merge(&all, &w->latency);
    errors += w->errors;
    closed += w->closed;
    if (!first_error && w->first_error[0])
      first_error = w->first_error;
  }
  bench_samples_sort(&all);

  BenchJson j;
  bench_json_begin(&j, opt);
  bench_json_int(&j, "sessions", opt->count);
  bench_json_int(&j, "held", parked);
  bench_json_int(&j, "served", answered);
  bench_json_int(&j, "closed", closed);
  bench_json_num(&j, "login_all_s", (double)(t_logged_in - t0) / 1e9, "s");
  bench_json_num(&j, "login_p50_ms",
                 (double)bench_samples_quantile(&all, 0.5) / 1e6, "ms");
  bench_json_num(&j, "login_p99_ms",
                 (double)bench_samples_quantile(&all, 0.99) / 1e6, "ms");
  bench_json_num(&j, "serve_all_s", (double)(t_served - t_serve) / 1e9, "s");
  bench_json_num(&j, "quit_all_s", (double)(t_done - t_served) / 1e9, "s");
  if (measured) {
    bench_json_int(&j, "server_processes_before", procs_before);
    bench_json_int(&j, "server_processes_held", procs_held);
    bench_json_int(&j, "server_pss_before_kib", before);
    bench_json_int(&j, "server_pss_held_kib", held);
    double per = parked ? ((double)held - (double)before) / parked : 0;
    bench_json_num(&j, "kib_per_session", per, "KiB");
  }
  bench_json_int(&j, "errors", errors);
  if (first_error)
    bench_json_str(&j, "first_error", first_error);
  bool ok = bench_json_end(&j, opt);
  bench_samples_free(&all);
  pthread_barrier_destroy(&run.barrier);
  bench_run_free(&run);
  return ok && parked == opt->count && answered == parked ? 0 : 1;
}
