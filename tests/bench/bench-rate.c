/* SPDX-License-Identifier: MIT */
/*
 * Session rate: C clients, each running sessions back to back (connect,
 * [TLS], greeting, USER, PASS, STAT, QUIT) for a fixed time or a fixed
 * number of sessions.  The handshake variant stops after the greeting:
 * with a bare TLS server it measures the machine's handshake ceiling.
 */
#include "bench.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static bool may_start(BenchRun *run)
{
  if (run->stop)
    return false;
  if (run->opt->sessions) {
    uint64_t n = __atomic_fetch_add(&run->sessions_started, 1,
                                    __ATOMIC_RELAXED);
    return n < run->opt->sessions;
  }
  return bench_now_ns() < run->t_end;
}

static void rate_slot(BenchConn *c)
{
  if (may_start(c->worker->run))
    bench_conn_start(c);
}

static void rate_greeting(BenchConn *c)
{
  char cmd[300];
  snprintf(cmd, sizeof cmd, "USER %s", c->user->name);
  c->step = 1;
  bench_conn_send(c, BENCH_REPLY_LINE, cmd);
}

static void handshake_greeting(BenchConn *c)
{
  bench_conn_finish(c, true, NULL);
}

static void rate_reply(BenchConn *c, bool ok, const char *status,
                       uint64_t body)
{
  (void)body;
  if (!ok) {
    char why[BENCH_STATUS_MAX + 32];
    snprintf(why, sizeof why, "step %u: %s", c->step, status);
    bench_conn_finish(c, false, why);
    return;
  }
  char cmd[600];
  switch (c->step++) {
  case 1:
    snprintf(cmd, sizeof cmd, "PASS %s", c->user->password);
    bench_conn_send(c, BENCH_REPLY_LINE, cmd);
    break;
  case 2:
    bench_conn_send(c, BENCH_REPLY_LINE, "STAT");
    break;
  case 3:
    bench_conn_send(c, BENCH_REPLY_LINE, "QUIT");
    break;
  default:
    bench_conn_finish(c, true, NULL);
    break;
  }
}

static void rate_end(BenchConn *c, bool ok)
{
  BenchWorker *w = c->worker;
  BenchRun *run = w->run;
  if (ok) {
    uint64_t now = bench_now_ns();
    if (run->opt->sessions ||
        (now >= run->t_count_from && now <= run->t_end)) {
      w->completed++;
      bench_samples_add(&w->latency, now - c->t_start);
    }
  }
  rate_slot(c);
}

const BenchScenario bench_rate_scenario = {
    .on_slot = rate_slot,
    .on_greeting = rate_greeting,
    .on_reply = rate_reply,
    .on_end = rate_end,
};

const BenchScenario bench_handshake_scenario = {
    .on_slot = rate_slot,
    .on_greeting = handshake_greeting,
    .on_reply = rate_reply,
    .on_end = rate_end,
};

int bench_scenario_rate(const BenchOptions *opt)
{
  BenchRun run = {.opt = opt};
  run.scenario = opt->scenario == BENCH_HANDSHAKE ? &bench_handshake_scenario
                                                  : &bench_rate_scenario;
  char *err = NULL;
  if (opt->tls && !bench_tls_init(&run.tls, opt, &err)) {
    fprintf(stderr, "poplar-bench: %s\n", err);
    free(err);
    return 2;
  }
  run.t_begin = bench_now_ns();
  run.t_count_from = run.t_begin + (uint64_t)(opt->warmup_s * 1e9);
  run.t_end = run.t_count_from + (uint64_t)(opt->duration_s * 1e9);
  if (!bench_run_workers(&run, opt->concurrency, &err)) {
    fprintf(stderr, "poplar-bench: %s\n", err);
    free(err);
    bench_run_free(&run);
    return 2;
  }
  uint64_t t_done = bench_now_ns();

  BenchSamples all = {0};
  uint64_t completed = 0, errors = 0, resumed = 0, tls_sessions = 0;
  const char *first_error = NULL;
  for (unsigned i = 0; i < run.n_workers; i++) {
    BenchWorker *w = &run.workers[i];
    bench_samples_merge(&all, &w->latency);
    completed += w->completed;
    errors += w->errors;
    resumed += w->resumed;
    tls_sessions += w->tls_sessions;
    if (!first_error && w->first_error[0])
      first_error = w->first_error;
  }
  bench_samples_sort(&all);
  double seconds = opt->sessions ? (double)(t_done - run.t_begin) / 1e9
                                 : opt->duration_s;

  BenchJson j;
  bench_json_begin(&j, opt);
  bench_json_int(&j, "concurrency", opt->concurrency);
  bench_json_int(&j, "threads", run.n_workers);
  bench_json_num(&j, "seconds", seconds, "s");
  bench_json_int(&j, "sessions", completed);
  bench_json_num(&j, "sessions_per_s", (double)completed / seconds, "/s");
  bench_json_num(&j, "p50_ms", (double)bench_samples_quantile(&all, 0.5) / 1e6,
                 "ms");
  bench_json_num(&j, "p90_ms", (double)bench_samples_quantile(&all, 0.9) / 1e6,
                 "ms");
  bench_json_num(&j, "p99_ms",
                 (double)bench_samples_quantile(&all, 0.99) / 1e6, "ms");
  if (opt->tls) {
    bench_json_int(&j, "tls_handshakes", tls_sessions);
    bench_json_int(&j, "tls_resumed", resumed);
  }
  bench_json_int(&j, "errors", errors);
  if (first_error)
    bench_json_str(&j, "first_error", first_error);
  bool ok = bench_json_end(&j, opt);
  bench_samples_free(&all);
  bench_run_free(&run);
  return ok && completed > 0 ? 0 : 1;
}
