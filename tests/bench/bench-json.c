/* SPDX-License-Identifier: MIT */
/* Results: one JSON object per line for programs, "key: value" for people. */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void put(BenchJson *j, const char *s, size_t n)
{
  if (j->len + n + 1 > j->cap) {
    size_t cap = j->cap ? j->cap : 512;
    while (j->len + n + 1 > cap)
      cap *= 2;
    char *nb = realloc(j->buf, cap);
    if (!nb)
      abort();
    j->buf = nb;
    j->cap = cap;
  }
  memcpy(j->buf + j->len, s, n);
  j->len += n;
  j->buf[j->len] = '\0';
}

static void puts_(BenchJson *j, const char *s)
{
  put(j, s, strlen(s));
}

static void put_string(BenchJson *j, const char *s)
{
  puts_(j, "\"");
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    char esc[8];
    if (*p == '"' || *p == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*p;
      put(j, esc, 2);
    } else if (*p < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", *p);
      puts_(j, esc);
    } else {
      put(j, (const char *)p, 1);
    }
  }
  puts_(j, "\"");
}

static void key(BenchJson *j, const char *k)
{
  if (!j->first)
    puts_(j, ", ");
  j->first = false;
  put_string(j, k);
  puts_(j, ": ");
}

void bench_json_begin(BenchJson *j, const BenchOptions *opt)
{
  memset(j, 0, sizeof *j);
  j->first = true;
  j->human = opt->quiet ? NULL : stdout;
  if (j->human)
    fprintf(j->human, "%s%s%s\n", opt->scenario_name, opt->label ? ": " : "",
            opt->label ? opt->label : "");
  puts_(j, "{");
  bench_json_str(j, "scenario", opt->scenario_name);
  if (opt->label)
    bench_json_str(j, "label", opt->label);
  char server[300];
  snprintf(server, sizeof server, "%s:%s", opt->host, opt->port);
  bench_json_str(j, "server", server);
  bench_json_str(j, "tls", opt->tls ? (opt->resume ? "resumed" : "full")
                                    : "no");
}

void bench_json_str(BenchJson *j, const char *k, const char *value)
{
  key(j, k);
  put_string(j, value ? value : "");
  if (j->human)
    fprintf(j->human, "  %-22s %s\n", k, value ? value : "");
}

void bench_json_num(BenchJson *j, const char *k, double value,
                    const char *unit)
{
  key(j, k);
  char num[64];
  if (!isfinite(value))
    snprintf(num, sizeof num, "null");
  else
    snprintf(num, sizeof num, "%.6g", value);
  puts_(j, num);
  if (j->human)
    fprintf(j->human, "  %-22s %.4g%s%s\n", k, value, unit ? " " : "",
            unit ? unit : "");
}

void bench_json_int(BenchJson *j, const char *k, uint64_t value)
{
  key(j, k);
  char num[32];
  snprintf(num, sizeof num, "%llu", (unsigned long long)value);
  puts_(j, num);
  if (j->human)
    fprintf(j->human, "  %-22s %s\n", k, num);
}

bool bench_json_end(BenchJson *j, const BenchOptions *opt)
{
  puts_(j, "}\n");
  bool ok = true;
  if (opt->json_path) {
    FILE *f = strcmp(opt->json_path, "-") == 0 ? stdout
                                                : fopen(opt->json_path, "a");
    if (!f) {
      fprintf(stderr, "poplar-bench: %s: %s\n", opt->json_path,
              strerror(errno));
      ok = false;
    } else {
      ok = fputs(j->buf, f) >= 0;
      if (f != stdout)
        ok &= fclose(f) == 0;
      else
        fflush(f);
    }
  }
  if (j->human)
    fflush(j->human);
  free(j->buf);
  memset(j, 0, sizeof *j);
  return ok;
}
