/* SPDX-License-Identifier: MIT */
/* Clock, formatted strings and latency samples. */
#include "bench.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t bench_now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

char *bench_strdup_printf(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *out = NULL;
  int n = vasprintf(&out, fmt, ap);
  va_end(ap);
  if (n < 0)
    abort(); /* out of memory: nothing sensible is left to do */
  return out;
}

void bench_samples_add(BenchSamples *s, uint64_t v)
{
  if (s->len == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 4096;
    uint64_t *nv = realloc(s->v, cap * sizeof *nv);
    if (!nv)
      abort();
    s->v = nv;
    s->cap = cap;
  }
  s->v[s->len++] = v;
}

void bench_samples_merge(BenchSamples *into, const BenchSamples *from)
{
  for (size_t i = 0; i < from->len; i++)
    bench_samples_add(into, from->v[i]);
}

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

void bench_samples_sort(BenchSamples *s)
{
  if (s->len > 1)
    qsort(s->v, s->len, sizeof *s->v, cmp_u64);
}

uint64_t bench_samples_quantile(const BenchSamples *s, double q)
{
  if (s->len == 0)
    return 0;
  /* Nearest rank: the smallest sample with at least q of all at or below. */
  size_t rank = (size_t)(q * (double)s->len + 0.999999);
  if (rank < 1)
    rank = 1;
  if (rank > s->len)
    rank = s->len;
  return s->v[rank - 1];
}

void bench_samples_free(BenchSamples *s)
{
  free(s->v);
  memset(s, 0, sizeof *s);
}
