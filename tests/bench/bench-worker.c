/* SPDX-License-Identifier: MIT */
/* Worker threads: each owns a share of the connection slots and runs an
 * epoll loop over them. */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define WORKER_READ_BUFFER (256 * 1024)
#define DEADLINE_CHECK_NS (100 * 1000 * 1000ull)

void bench_worker_note_error(BenchWorker *w, const char *why)
{
  w->errors++;
  if (!w->first_error[0])
    snprintf(w->first_error, sizeof w->first_error, "%s", why);
}

bool bench_worker_all_idle(BenchWorker *w)
{
  for (unsigned i = 0; i < w->n_slots; i++)
    if (bench_conn_busy(&w->slots[i]))
      return false;
  return true;
}

static void expire(BenchWorker *w, uint64_t now)
{
  for (unsigned i = 0; i < w->n_slots; i++) {
    BenchConn *c = &w->slots[i];
    if (bench_conn_busy(c) && now > c->deadline)
      bench_conn_finish(c, false, "timeout");
  }
}

void bench_worker_loop(BenchWorker *w, bool (*done)(BenchWorker *w))
{
  struct epoll_event events[256];
  uint64_t next_check = bench_now_ns() + DEADLINE_CHECK_NS;
  while (!w->run->stop && !done(w)) {
    int n = epoll_wait(w->epfd, events, 256, 20);
    if (n < 0 && errno != EINTR) {
      bench_worker_note_error(w, strerror(errno));
      w->run->stop = 1;
      break;
    }
    for (int i = 0; i < n; i++)
      bench_conn_drive(events[i].data.ptr);
    uint64_t now = bench_now_ns();
    if (now >= next_check) {
      expire(w, now);
      next_check = now + DEADLINE_CHECK_NS;
    }
  }
}

static void *worker_main(void *arg)
{
  BenchWorker *w = arg;
  const BenchScenario *s = w->run->scenario;
  if (s->worker_body) {
    s->worker_body(w);
  } else {
    for (unsigned i = 0; i < w->n_slots; i++)
      s->on_slot(&w->slots[i]);
    bench_worker_loop(w, bench_worker_all_idle);
  }
  /* A stopped run leaves sessions open: close them without counting. */
  for (unsigned i = 0; i < w->n_slots; i++) {
    BenchConn *c = &w->slots[i];
    if (c->tls)
      gnutls_deinit(c->tls);
    c->tls = NULL;
    if (c->fd >= 0)
      close(c->fd);
    c->fd = -1;
    c->state = BENCH_CONN_IDLE;
    gnutls_free(c->resume_data.data);
    c->resume_data.data = NULL;
  }
  return NULL;
}

bool bench_run_start(BenchRun *run, unsigned total_slots, char **error)
{
  unsigned nw = run->opt->threads;
  if (nw > total_slots)
    nw = total_slots;
  if (nw == 0)
    nw = 1;
  run->n_workers = nw;
  run->workers = calloc(nw, sizeof *run->workers);
  if (!run->workers) {
    *error = bench_strdup_printf("out of memory");
    return false;
  }
  unsigned given = 0;
  bool ok = true;
  for (unsigned i = 0; i < nw; i++)
    run->workers[i].epfd = -1;
  for (unsigned i = 0; i < nw && ok; i++) {
    BenchWorker *w = &run->workers[i];
    w->run = run;
    w->index = i;
    w->n_slots = total_slots / nw + (i < total_slots % nw ? 1 : 0);
    w->first_slot = given;
    given += w->n_slots;
    w->slots = calloc(w->n_slots ? w->n_slots : 1, sizeof *w->slots);
    w->rbuf_size = WORKER_READ_BUFFER;
    w->rbuf = malloc(w->rbuf_size);
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!w->slots || !w->rbuf || w->epfd < 0) {
      *error = bench_strdup_printf("worker setup: %s", strerror(errno));
      ok = false;
      break;
    }
    for (unsigned j = 0; j < w->n_slots; j++) {
      BenchConn *c = &w->slots[j];
      c->worker = w;
      c->slot = j;
      c->fd = -1;
      c->user = &run->opt->users.list[(w->first_slot + j) %
                                      run->opt->users.count];
    }
  }
  for (unsigned i = 0; i < nw && ok; i++) {
    int r = pthread_create(&run->workers[i].thread, NULL, worker_main,
                           &run->workers[i]);
    if (r != 0) {
      *error = bench_strdup_printf("pthread_create: %s", strerror(r));
      run->stop = 1;
      ok = false;
      break;
    }
    run->n_started++;
  }
  return ok;
}

void bench_run_join(BenchRun *run)
{
  for (unsigned i = 0; i < run->n_started; i++)
    pthread_join(run->workers[i].thread, NULL);
  run->n_started = 0;
}

bool bench_run_workers(BenchRun *run, unsigned total_slots, char **error)
{
  bool ok = bench_run_start(run, total_slots, error);
  bench_run_join(run);
  return ok;
}

void bench_run_free(BenchRun *run)
{
  for (unsigned i = 0; i < run->n_workers; i++) {
    BenchWorker *w = &run->workers[i];
    free(w->slots);
    free(w->rbuf);
    if (w->epfd >= 0)
      close(w->epfd);
    bench_samples_free(&w->latency);
  }
  free(run->workers);
  run->workers = NULL;
  run->n_workers = 0;
  bench_tls_free(&run->tls);
}
