/* SPDX-License-Identifier: MIT */
/*
 * Mailbox scenarios, one session at a time on one connection:
 *  list: login, STAT, UIDL, LIST, QUIT, repeated; the first session finds
 *        the server's caches as the caller left them (cold), the others
 *        warm.
 *  retr: login, STAT, then RETR of every message with a few commands in
 *        flight (PIPELINING); octets per second of the bodies.
 */
#include "bench.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef struct MailboxState {
  unsigned sessions_done;
  BenchSamples session_ns, login_ns, listing_ns;
  uint64_t uidl_bytes, list_bytes;
  unsigned messages;
  uint64_t octets;
  /* retr */
  uint64_t retr_begin, retr_end, retr_bytes;
  unsigned retrieved;
} MailboxState;

static MailboxState state;

static void send_login(BenchConn *c)
{
  char cmd[300];
  snprintf(cmd, sizeof cmd, "USER %s", c->user->name);
  c->step = 1;
  bench_conn_send(c, BENCH_REPLY_LINE, cmd);
}

static bool parse_stat(const char *status)
{
  unsigned long n = 0;
  unsigned long long size = 0;
  if (sscanf(status, "+OK %lu %llu", &n, &size) != 2)
    return false;
  state.messages = (unsigned)n;
  state.octets = size;
  return true;
}

static bool login_step(BenchConn *c, bool ok, const char *status)
{
  if (!ok) {
    char why[BENCH_STATUS_MAX + 32];
    snprintf(why, sizeof why, "step %u: %s", c->step, status);
    bench_conn_finish(c, false, why);
    return false;
  }
  if (c->step == 1) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "PASS %s", c->user->password);
    c->t_mark = bench_now_ns();
    c->step = 2;
    bench_conn_send(c, BENCH_REPLY_LINE, cmd);
    return false;
  }
  if (c->step == 2) {
    bench_samples_add(&state.login_ns, bench_now_ns() - c->t_mark);
    c->step = 3;
    bench_conn_send(c, BENCH_REPLY_LINE, "STAT");
    return false;
  }
  if (c->step == 3 && !parse_stat(status)) {
    bench_conn_finish(c, false, "STAT reply is not +OK n size");
    return false;
  }
  return true;
}

/* ---- list ------------------------------------------------------------------ */

static void list_slot(BenchConn *c)
{
  if (!c->worker->run->stop && state.sessions_done < c->worker->run->opt->repeat)
    bench_conn_start(c);
}

static void list_reply(BenchConn *c, bool ok, const char *status,
                       uint64_t body)
{
  if (c->step <= 3 && !login_step(c, ok, status))
    return;
  switch (c->step++) {
  case 3:
    c->t_mark = bench_now_ns();
    bench_conn_send(c, BENCH_REPLY_MULTI, "UIDL");
    break;
  case 4:
    state.uidl_bytes = body;
    bench_conn_send(c, BENCH_REPLY_MULTI, "LIST");
    break;
  case 5:
    state.list_bytes = body;
    bench_samples_add(&state.listing_ns, bench_now_ns() - c->t_mark);
    bench_conn_send(c, BENCH_REPLY_LINE, "QUIT");
    break;
  default:
    bench_conn_finish(c, true, NULL);
    break;
  }
}

static void list_end(BenchConn *c, bool ok)
{
  if (!ok) {
    c->worker->run->stop = 1;
    return;
  }
  bench_samples_add(&state.session_ns, bench_now_ns() - c->t_start);
  state.sessions_done++;
  list_slot(c);
}

static const BenchScenario list_scenario = {
    .on_slot = list_slot,
    .on_greeting = send_login,
    .on_reply = list_reply,
    .on_end = list_end,
};

static double median_rest_ms(const BenchSamples *s)
{
  if (s->len < 2)
    return 0;
  BenchSamples rest = {0};
  for (size_t i = 1; i < s->len; i++)
    bench_samples_add(&rest, s->v[i]);
  bench_samples_sort(&rest);
  double v = (double)bench_samples_quantile(&rest, 0.5) / 1e6;
  bench_samples_free(&rest);
  return v;
}

static int run_one_slot(const BenchOptions *opt, const BenchScenario *s,
                        BenchRun *run)
{
  BenchOptions one = *opt;
  one.threads = 1;
  run->opt = &one;
  run->scenario = s;
  char *err = NULL;
  if (opt->tls && !bench_tls_init(&run->tls, opt, &err)) {
    fprintf(stderr, "poplar-bench: %s\n", err);
    free(err);
    return 2;
  }
  if (!bench_run_workers(run, 1, &err)) {
    fprintf(stderr, "poplar-bench: %s\n", err);
    free(err);
    return 2;
  }
  run->opt = opt;
  return 0;
}

static void put_errors(BenchJson *j, BenchRun *run)
{
  BenchWorker *w = &run->workers[0];
  bench_json_int(j, "errors", w->errors);
  if (w->first_error[0])
    bench_json_str(j, "first_error", w->first_error);
}

int bench_scenario_list(const BenchOptions *opt)
{
  BenchRun run = {0};
  int rc = run_one_slot(opt, &list_scenario, &run);
  if (rc != 0) {
    bench_run_free(&run);
    return rc;
  }
  BenchJson j;
  bench_json_begin(&j, opt);
  bench_json_int(&j, "messages", state.messages);
  bench_json_int(&j, "octets", state.octets);
  bench_json_int(&j, "sessions", state.sessions_done);
  if (state.sessions_done > 0) {
    bench_json_num(&j, "first_session_ms",
                   (double)state.session_ns.v[0] / 1e6, "ms");
    bench_json_num(&j, "first_login_ms", (double)state.login_ns.v[0] / 1e6,
                   "ms");
    bench_json_num(&j, "first_uidl_list_ms",
                   (double)state.listing_ns.v[0] / 1e6, "ms");
  }
  if (state.sessions_done > 1) {
    bench_json_num(&j, "warm_session_ms", median_rest_ms(&state.session_ns),
                   "ms");
    bench_json_num(&j, "warm_login_ms", median_rest_ms(&state.login_ns), "ms");
    bench_json_num(&j, "warm_uidl_list_ms", median_rest_ms(&state.listing_ns),
                   "ms");
  }
  bench_json_int(&j, "uidl_octets", state.uidl_bytes);
  bench_json_int(&j, "list_octets", state.list_bytes);
  put_errors(&j, &run);
  bool ok = bench_json_end(&j, opt) && run.workers[0].errors == 0 &&
            state.sessions_done == opt->repeat;
  bench_run_free(&run);
  bench_samples_free(&state.session_ns);
  bench_samples_free(&state.login_ns);
  bench_samples_free(&state.listing_ns);
  return ok ? 0 : 1;
}

/* ---- retr ------------------------------------------------------------------ */

static void retr_slot(BenchConn *c)
{
  if (c->worker->started == 0)
    bench_conn_start(c);
}

static void retr_more(BenchConn *c)
{
  unsigned window = c->worker->run->opt->pipeline;
  while (c->next_msg <= c->msg_count && c->pending_count < window) {
    char cmd[32];
    snprintf(cmd, sizeof cmd, "RETR %u", c->next_msg++);
    bench_conn_send(c, BENCH_REPLY_MULTI, cmd);
  }
}

static void retr_reply(BenchConn *c, bool ok, const char *status,
                       uint64_t body)
{
  if (c->step <= 3 && !login_step(c, ok, status))
    return;
  if (c->step == 3) {
    c->step = 4;
    c->msg_count = state.messages;
    c->next_msg = 1;
    c->done_msgs = 0;
    state.retr_begin = bench_now_ns();
    if (c->msg_count == 0) {
      bench_conn_finish(c, false, "the mailbox is empty");
      return;
    }
    retr_more(c);
    return;
  }
  if (c->step == 4) {
    if (!ok) {
      char why[BENCH_STATUS_MAX + 32];
      snprintf(why, sizeof why, "RETR %u: %s", c->done_msgs + 1, status);
      bench_conn_finish(c, false, why);
      return;
    }
    state.retr_bytes += body;
    if (++c->done_msgs == c->msg_count) {
      state.retr_end = bench_now_ns();
      state.retrieved = c->done_msgs;
      c->step = 5;
      bench_conn_send(c, BENCH_REPLY_LINE, "QUIT");
      return;
    }
    retr_more(c);
    return;
  }
  bench_conn_finish(c, true, NULL);
}

static void retr_end(BenchConn *c, bool ok)
{
  (void)c;
  (void)ok;
}

static const BenchScenario retr_scenario = {
    .on_slot = retr_slot,
    .on_greeting = send_login,
    .on_reply = retr_reply,
    .on_end = retr_end,
};

int bench_scenario_retr(const BenchOptions *opt)
{
  BenchRun run = {0};
  int rc = run_one_slot(opt, &retr_scenario, &run);
  if (rc != 0) {
    bench_run_free(&run);
    return rc;
  }
  double seconds = state.retr_end > state.retr_begin
                       ? (double)(state.retr_end - state.retr_begin) / 1e9
                       : 0;
  BenchJson j;
  bench_json_begin(&j, opt);
  bench_json_int(&j, "messages", state.retrieved);
  bench_json_int(&j, "octets", state.octets);
  bench_json_int(&j, "received_octets", state.retr_bytes);
  bench_json_int(&j, "pipeline", opt->pipeline);
  bench_json_num(&j, "seconds", seconds, "s");
  bench_json_num(&j, "mb_per_s",
                 seconds > 0 ? (double)state.retr_bytes / 1e6 / seconds : 0,
                 "MB/s");
  put_errors(&j, &run);
  bool ok = bench_json_end(&j, opt) && run.workers[0].errors == 0 &&
            state.retrieved == state.messages && state.retrieved > 0;
  bench_run_free(&run);
  return ok ? 0 : 1;
}
