/* SPDX-License-Identifier: MIT */
/*
 * The store-mbox index reader (plugins/store-mbox/mbox-index.c): the file
 * next to an mbox that keeps its UIDLs.  A damaged or forged index must be
 * refused with a reason, and one that is accepted must describe messages
 * the store can trust: in order, not overlapping, inside the scanned part
 * of the file, each with a valid and unique UIDL.
 */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "fuzz-check.h"
#include "mbox.h"

/* The store opens its index by name with O_NOFOLLOW, so the input goes to
 * a real file (a /proc/self/fd link would be refused as a symlink). */
static const char *index_path(void)
{
  static char *path;
  if (!path) {
    char *dir = g_dir_make_tmp("fuzz-mbox-index-XXXXXX", NULL);
    CHECK(dir != NULL);
    path = g_build_filename(dir, "index", NULL);
    g_free(dir);
  }
  return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *path = index_path();
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  CHECK(fd >= 0);
  CHECK(write(fd, data, size) == (ssize_t)size);
  close(fd);
  char *problem = NULL;
  MboxIndex *index = mbox_index_load(path, &problem);
  if (!index) {
    /* Only a missing file has no reason; this one exists. */
    CHECK(problem && problem[0]);
    CHECK(!g_str_has_prefix(problem, "cannot open"));
    g_free(problem);
    return 0;
  }
  CHECK(problem == NULL);
  CHECK(index->scanned <= index->size);
  GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
  const MboxMsg *m = (const MboxMsg *)(const void *)index->msgs->data;
  for (guint i = 0; i < index->msgs->len; i++) {
    CHECK(m[i].from <= m[i].data && m[i].data <= m[i].end);
    CHECK(m[i].end <= index->scanned);
    if (i > 0)
      CHECK(m[i].from >= m[i - 1].end && m[i].from > m[i - 1].from);
    CHECK(fuzz_valid_uidl(m[i].uidl));
    CHECK(g_hash_table_add(seen, (gpointer)m[i].uidl));
  }
  g_hash_table_unref(seen);
  mbox_index_free(index);
  return 0;
}
