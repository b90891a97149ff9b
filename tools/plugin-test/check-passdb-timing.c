/* SPDX-License-Identifier: MIT */
/*
 * An unknown user must cost no less than a wrong password, or the time of
 * the answer tells an attacker which user names exist.  Measured, so it
 * has to hold on a loaded machine: the two kinds of attempt alternate
 * (any load hits both alike), the medians are compared (a few descheduled
 * attempts do not move them), and only a clear gap fails: the unknown
 * user's median under a quarter of the wrong password's AND more than
 * GAP_FLOOR_US below it, in a first measurement and again in a second one
 * twice as long (a burst of load during one measurement does not fail the
 * plugin).  A plugin that hashes only for existing users (tens of
 * milliseconds for bcrypt or ARGON2 against microseconds) fails by orders
 * of magnitude; noise between two answers of equal cost does not.  The
 * figures are reported either way.
 */
#include "passdb-kit.h"

#include <stdlib.h>
#include <time.h>

#define GAP_FLOOR_US 1000.0

static double now_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int compare_doubles(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *values, unsigned n)
{
  qsort(values, n, sizeof *values, compare_doubles);
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

static double timed_attempt(const KitPassdbRun *run, const char *user)
{
  double start = now_us();
  KitAnswer a = kit_passdb_try(run->db, user, run->wrong_password);
  double elapsed = now_us() - start;
  kit_answer_clear(&a);
  return elapsed;
}

typedef struct Medians {
  double wrong;
  double unknown;
  unsigned rounds;
} Medians;

static Medians measure(const KitPassdbRun *run, unsigned rounds)
{
  double *wrong = g_new(double, rounds);
  double *unknown = g_new(double, rounds);
  for (unsigned i = 0; i < rounds; i++) {
    if (i % 2) {
      wrong[i] = timed_attempt(run, run->user);
      unknown[i] = timed_attempt(run, run->unknown_user);
    } else {
      unknown[i] = timed_attempt(run, run->unknown_user);
      wrong[i] = timed_attempt(run, run->user);
    }
  }
  Medians m = {median(wrong, rounds), median(unknown, rounds), rounds};
  g_free(wrong);
  g_free(unknown);
  return m;
}

static bool leaks(const Medians *m)
{
  return m->unknown * 4 < m->wrong && m->wrong - m->unknown > GAP_FLOOR_US;
}

void kit_check_passdb_timing(const KitPassdbRun *run)
{
  unsigned rounds = (unsigned)run->opts->timing_rounds;
  /* Warm-up: caches, connections, lazily loaded files. */
  timed_attempt(run, run->user);
  timed_attempt(run, run->unknown_user);
  Medians m = measure(run, rounds);
  if (leaks(&m))
    m = measure(run, 2 * rounds);
  if (leaks(&m))
    kit_fail(run->report, "passdb.unknown-user-timing",
             "an unknown user answers in %.0f us, a wrong password in "
             "%.0f us (medians of %u, measured twice): user names can be "
             "told by time", m.unknown, m.wrong, m.rounds);
  else
    kit_pass(run->report, "passdb.unknown-user-timing",
             "median unknown user %.0f us, wrong password %.0f us, %u "
             "each", m.unknown, m.wrong, m.rounds);
}
