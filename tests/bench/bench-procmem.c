/* SPDX-License-Identifier: MIT */
/* Server memory from /proc: the proportional set size (PSS) of every
 * process of the server, so shared libraries and pages shared between a
 * master and its children are counted once in total. */
#include "bench.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct PidSet {
  pid_t *v;
  size_t len, cap;
} PidSet;

static void pid_add(PidSet *s, pid_t pid)
{
  for (size_t i = 0; i < s->len; i++)
    if (s->v[i] == pid)
      return;
  if (s->len == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 64;
    pid_t *nv = realloc(s->v, s->cap * sizeof *nv);
    if (!nv)
      abort();
    s->v = nv;
  }
  s->v[s->len++] = pid;
}

/* Adds the children of every thread of s->v[i], for i from @from on, until
 * no new process turns up. */
static void add_descendants(PidSet *s, size_t from)
{
  for (size_t i = from; i < s->len; i++) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)s->v[i]);
    DIR *d = opendir(path);
    if (!d)
      continue;
    struct dirent *e;
    while ((e = readdir(d))) {
      if (!isdigit((unsigned char)e->d_name[0]))
        continue;
      char cpath[320];
      snprintf(cpath, sizeof cpath, "/proc/%d/task/%s/children", (int)s->v[i],
               e->d_name);
      FILE *f = fopen(cpath, "r");
      if (!f)
        continue;
      int child;
      while (fscanf(f, "%d", &child) == 1)
        pid_add(s, child);
      fclose(f);
    }
    closedir(d);
  }
}

static void add_by_name(PidSet *s, const char *name)
{
  DIR *d = opendir("/proc");
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!isdigit((unsigned char)e->d_name[0]))
      continue;
    char path[300], comm[64] = "";
    snprintf(path, sizeof path, "/proc/%s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f)
      continue;
    if (fgets(comm, sizeof comm, f))
      comm[strcspn(comm, "\n")] = '\0';
    fclose(f);
    if (strcmp(comm, name) == 0)
      pid_add(s, (pid_t)atoi(e->d_name));
  }
  closedir(d);
}

static bool read_pss(pid_t pid, uint64_t *kib)
{
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return false;
  char line[256];
  bool found = false;
  while (fgets(line, sizeof line, f)) {
    unsigned long long v;
    if (sscanf(line, "Pss: %llu kB", &v) == 1) {
      *kib = v;
      found = true;
      break;
    }
  }
  fclose(f);
  return found;
}

bool bench_server_pss_kib(const BenchOptions *opt, uint64_t *kib,
                          unsigned *nprocs, char **error)
{
  PidSet set = {0};
  for (size_t i = 0; i < opt->n_server_pids; i++)
    pid_add(&set, opt->server_pids[i]);
  for (size_t i = 0; i < opt->n_server_comms; i++)
    add_by_name(&set, opt->server_comms[i]);
  add_descendants(&set, 0);
  uint64_t total = 0;
  unsigned n = 0;
  for (size_t i = 0; i < set.len; i++) {
    uint64_t v = 0;
    if (read_pss(set.v[i], &v)) {
      total += v;
      n++;
    }
  }
  free(set.v);
  if (n == 0) {
    *error = bench_strdup_printf(
        "no server process found to measure (give --server-pid or "
        "--server-name; reading smaps_rollup of another user's process "
        "needs root)");
    return false;
  }
  *kib = total;
  *nprocs = n;
  return true;
}
