/* SPDX-License-Identifier: MIT */
/*
 * Runs a fuzz target over files, without libFuzzer: the build's regression
 * test when -Dfuzzing is off (any compiler).  Each argument is a file or a
 * directory of files (read in name order, not recursively).  Every input
 * that once crashed a target stays in its corpus, so `make check` proves it
 * stays fixed.
 */
#include <dirent.h>
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static unsigned run_file(const char *path)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  g_autoptr(GError) error = NULL;
  if (!g_file_get_contents(path, &data, &len, &error)) {
    fprintf(stderr, "%s\n", error->message);
    exit(2);
  }
  /* An exact-size copy, so that a read past the end is caught by
   * sanitizers as it would be under libFuzzer. */
  uint8_t *copy = g_memdup2(data, len ? len : 1);
  LLVMFuzzerTestOneInput(copy, len);
  g_free(copy);
  return 1;
}

static int compare_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static unsigned run_dir(const char *path)
{
  DIR *dir = opendir(path);
  if (!dir) {
    perror(path);
    exit(2);
  }
  GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
  for (struct dirent *e; (e = readdir(dir));) {
    if (e->d_name[0] != '.')
      g_ptr_array_add(names, g_build_filename(path, e->d_name, NULL));
  }
  closedir(dir);
  qsort(names->pdata, names->len, sizeof(char *), compare_names);
  unsigned n = 0;
  for (guint i = 0; i < names->len; i++) {
    struct stat st;
    const char *name = g_ptr_array_index(names, i);
    if (stat(name, &st) == 0 && S_ISREG(st.st_mode))
      n += run_file(name);
  }
  g_ptr_array_unref(names);
  return n;
}

int main(int argc, char **argv)
{
  if (LLVMFuzzerInitialize)
    LLVMFuzzerInitialize(&argc, &argv);
  unsigned n = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      perror(argv[i]);
      return 2;
    }
    n += S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]);
  }
  if (n == 0) {
    fprintf(stderr, "no input: give corpus files or directories\n");
    return 2;
  }
  printf("%s: %u inputs ran without a finding\n", argv[0], n);
  return 0;
}
