/* SPDX-License-Identifier: MIT */
/* The accounts the load generator logs in with. */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool add_user(BenchUsers *users, const char *name, const char *pw)
{
  BenchUser *nl = realloc(users->list, (users->count + 1) * sizeof *nl);
  if (!nl)
    return false;
  users->list = nl;
  users->list[users->count].name = strdup(name);
  users->list[users->count].password = strdup(pw);
  if (!users->list[users->count].name || !users->list[users->count].password)
    return false;
  users->count++;
  return true;
}

bool bench_users_load(BenchUsers *users, const char *path, char **error)
{
  FILE *f = fopen(path, "r");
  if (!f) {
    *error = bench_strdup_printf("%s: %s", path, strerror(errno));
    return false;
  }
  char *line = NULL;
  size_t cap = 0;
  unsigned lineno = 0;
  bool ok = true;
  while (ok && getline(&line, &cap, f) >= 0) {
    lineno++;
    line[strcspn(line, "\r\n")] = '\0';
    char *p = line + strspn(line, " \t");
    if (*p == '\0' || *p == '#')
      continue;
    size_t n = strcspn(p, ": \t");
    if (p[n] == '\0' || n == 0) {
      *error = bench_strdup_printf("%s:%u: expected user:password", path,
                                   lineno);
      ok = false;
      break;
    }
    p[n] = '\0';
    if (!add_user(users, p, p + n + 1)) {
      *error = bench_strdup_printf("out of memory");
      ok = false;
    }
  }
  free(line);
  fclose(f);
  if (ok && users->count == 0) {
    *error = bench_strdup_printf("%s: no users", path);
    ok = false;
  }
  return ok;
}

bool bench_users_make(BenchUsers *users, const char *prefix, size_t start,
                      size_t count, const char *password, char **error)
{
  if (count == 0) {
    *error = bench_strdup_printf("--user-count must be at least 1");
    return false;
  }
  for (size_t i = 0; i < count; i++) {
    char name[256];
    snprintf(name, sizeof name, "%s%zu", prefix, start + i);
    if (!add_user(users, name, password)) {
      *error = bench_strdup_printf("out of memory");
      return false;
    }
  }
  return true;
}

void bench_users_free(BenchUsers *users)
{
  for (size_t i = 0; i < users->count; i++) {
    free(users->list[i].name);
    free(users->list[i].password);
  }
  free(users->list);
  memset(users, 0, sizeof *users);
}
