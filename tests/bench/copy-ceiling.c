/* SPDX-License-Identifier: MIT */
/*
 * The transfer ceiling: the files of a mailbox sent over a loopback TCP
 * connection as plainly as a server could (read 64 KiB, write it), and
 * read on the other side in 256 KiB reads, as poplar-bench reads.  No
 * protocol, no line-end conversion: the most a POP3 server can reach.
 *
 *   copy-ceiling [--repeat N] [--json FILE] [--label TEXT] MAILDIR...
 * Prints MB/s (median of the repeats) and appends a JSON line to FILE.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SEND_CHUNK (64 * 1024)
#define RECV_CHUNK (256 * 1024)

typedef struct Files {
  char **paths;
  size_t len, cap;
  uint64_t bytes;
} Files;

typedef struct Receiver {
  int fd;
  uint64_t expect;
  uint64_t got;
  uint64_t t_end;
} Receiver;

static uint64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void add_file(Files *f, const char *path, off_t size)
{
  if (f->len == f->cap) {
    f->cap = f->cap ? f->cap * 2 : 1024;
    f->paths = realloc(f->paths, f->cap * sizeof *f->paths);
    if (!f->paths)
      abort();
  }
  f->paths[f->len] = strdup(path);
  if (!f->paths[f->len])
    abort();
  f->len++;
  f->bytes += (uint64_t)size;
}

/* The messages of a Maildir (cur/ and new/), or the files of a folder. */
static bool collect(Files *f, const char *dir, int depth)
{
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "copy-ceiling: %s: %s\n", dir, strerror(errno));
    return false;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(path, &st) != 0)
      continue;
    if (S_ISDIR(st.st_mode) && depth == 0 &&
        (strcmp(e->d_name, "cur") == 0 || strcmp(e->d_name, "new") == 0))
      collect(f, path, depth + 1);
    else if (S_ISREG(st.st_mode) && depth == 1)
      add_file(f, path, st.st_size);
  }
  closedir(d);
  return true;
}

static void *receive(void *arg)
{
  Receiver *r = arg;
  char *buf = malloc(RECV_CHUNK);
  if (!buf)
    abort();
  while (r->got < r->expect) {
    ssize_t n = read(r->fd, buf, RECV_CHUNK);
    if (n <= 0)
      break;
    r->got += (uint64_t)n;
  }
  r->t_end = now_ns();
  free(buf);
  return NULL;
}

static bool write_all(int fd, const char *p, size_t n)
{
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    p += w;
    n -= (size_t)w;
  }
  return true;
}

/* One copy of every file; returns MB/s, or a negative number on error. */
static double copy_once(const Files *files)
{
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      listen(lfd, 1) != 0 ||
      getsockname(lfd, (struct sockaddr *)&sa, &len) != 0) {
    perror("copy-ceiling: listen");
    return -1;
  }
  Receiver r = {.expect = files->bytes};
  r.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (connect(r.fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    perror("copy-ceiling: connect");
    return -1;
  }
  int out = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  close(lfd);
  if (out < 0) {
    perror("copy-ceiling: accept");
    return -1;
  }
  pthread_t t;
  if (pthread_create(&t, NULL, receive, &r) != 0)
    return -1;
  char *buf = malloc(SEND_CHUNK);
  if (!buf)
    abort();
  bool ok = true;
  uint64_t t0 = now_ns();
  for (size_t i = 0; i < files->len && ok; i++) {
    int fd = open(files->paths[i], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      fprintf(stderr, "copy-ceiling: %s: %s\n", files->paths[i],
              strerror(errno));
      ok = false;
      break;
    }
    ssize_t n;
    while ((n = read(fd, buf, SEND_CHUNK)) > 0)
      if (!write_all(out, buf, (size_t)n)) {
        ok = false;
        break;
      }
    close(fd);
  }
  shutdown(out, SHUT_WR);
  pthread_join(t, NULL);
  close(out);
  close(r.fd);
  free(buf);
  if (!ok || r.got != files->bytes)
    return -1;
  return (double)files->bytes / 1e6 / ((double)(r.t_end - t0) / 1e9);
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
  int repeat = 3;
  const char *json = NULL, *label = NULL;
  Files files = {0};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
      repeat = atoi(argv[++i]);
    else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
      json = argv[++i];
    else if (strcmp(argv[i], "--label") == 0 && i + 1 < argc)
      label = argv[++i];
    else if (argv[i][0] == '-') {
      fprintf(stderr, "usage: copy-ceiling [--repeat N] [--json FILE] "
                      "[--label TEXT] MAILDIR...\n");
      return 2;
    } else if (!collect(&files, argv[i], 0))
      return 1;
  }
  if (files.len == 0 || repeat < 1) {
    fprintf(stderr, "copy-ceiling: no message files found\n");
    return 2;
  }
  double *mbs = calloc((size_t)repeat, sizeof *mbs);
  for (int i = 0; i < repeat; i++) {
    mbs[i] = copy_once(&files);
    if (mbs[i] < 0) {
      fprintf(stderr, "copy-ceiling: copy failed\n");
      return 1;
    }
  }
  qsort(mbs, (size_t)repeat, sizeof *mbs, cmp_double);
  double median = mbs[repeat / 2];
  printf("copy-ceiling%s%s\n  files %zu\n  octets %llu\n  mb_per_s %.1f "
         "MB/s (median of %d)\n",
         label ? ": " : "", label ? label : "", files.len,
         (unsigned long long)files.bytes, median, repeat);
  if (json) {
    FILE *f = fopen(json, "a");
    if (!f) {
      perror(json);
      return 1;
    }
    fprintf(f,
            "{\"scenario\": \"copy-ceiling\", \"label\": \"%s\", \"files\": "
            "%zu, \"octets\": %llu, \"mb_per_s\": %.6g, \"repeat\": %d}\n",
            label ? label : "", files.len, (unsigned long long)files.bytes,
            median, repeat);
    fclose(f);
  }
  for (size_t i = 0; i < files.len; i++)
    free(files.paths[i]);
  free(files.paths);
  free(mbs);
  return 0;
}
