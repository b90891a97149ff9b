/* SPDX-License-Identifier: MIT */
/*
 * The store-mbox parser (plugins/store-mbox/mbox-scan.c, mbox-from.c),
 * its reader (mbox-reader.c) and UIDL assignment (mbox-uidl.c) on any
 * file content: mail content is the attacker's.  Checks that messages
 * tile the file in order (only empty lines before the first From_ line
 * belong to none), that the size each gets (what LIST says) is
 * exactly what reading it sends once line ends are made CRLF, whatever the
 * read sizes, and that every message gets a valid, unique UIDL.
 *
 * Input: byte 0 bit 0 = mboxrd (else mboxo), bit 1 = the smallest scan
 * buffer (so lines cross block boundaries), bits 2-7 seed the read sizes;
 * the rest is the mbox file.
 */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz-check.h"
#include "mbox.h"
#include "uidl-format.h"

/* True when @len octets are nothing but complete empty lines ("\n" or
 * "\r\n"): what the parser leaves out before the first From_ line. */
static bool only_empty_lines(const uint8_t *p, size_t len)
{
  size_t i = 0;
  while (i < len) {
    if (p[i] == '\n')
      i++;
    else if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n')
      i += 2;
    else
      return false;
  }
  return true;
}

/* Reads a message in chunks of varying size; returns its size as sent. */
static uint64_t read_size(int fd, MboxFormat format, const MboxMsg *m,
                          uint32_t seed)
{
  MboxReader r;
  mbox_reader_init(&r, fd, format, m->data, m->end, seed & 1 ? 4096 : 0);
  PoplarCrlfSize size;
  poplar_crlf_size_init(&size);
  char buf[3000];
  for (;;) {
    seed = seed * 1103515245u + 12345u;
    size_t want = (seed >> 16) % sizeof buf + 1;
    int err = 0;
    int64_t n = mbox_reader_read(&r, buf, want, &err);
    CHECK(n >= 0 && (size_t)n <= want);
    if (n == 0)
      break;
    poplar_crlf_size_feed(&size, buf, (size_t)n);
  }
  mbox_reader_clear(&r);
  return poplar_crlf_size_finish(&size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  MboxFormat format = data[0] & 1 ? MBOX_FORMAT_MBOXRD : MBOX_FORMAT_MBOXO;
  const uint8_t *file = data + 1;
  size_t len = size - 1;
  int fd = memfd_create("fuzz-mbox", MFD_CLOEXEC);
  CHECK(fd >= 0);
  CHECK(write(fd, file, len) == (ssize_t)len);

  MboxScanOptions options;
  memset(&options, 0, sizeof options);
  options.format = format;
  options.buf_size = data[0] & 2 ? 2 * MBOX_LINE_PEEK : 0;
  GArray *msgs = g_array_new(FALSE, TRUE, sizeof(MboxMsg));
  GStringChunk *strings = g_string_chunk_new(256);
  GError *error = NULL;
  bool ok = mbox_scan(fd, &options, 0, len, msgs, strings, &error);
  /* A file read from the start parses; only I/O errors fail. */
  CHECK(ok);
  MboxMsg *m = (MboxMsg *)(void *)msgs->data;
  size_t n = msgs->len;
  /* Messages tile the file; only empty lines before the first From_
   * line belong to none. */
  CHECK(n >= 1 || only_empty_lines(file, len));
  for (size_t i = 0; i < n; i++) {
    CHECK(m[i].from <= m[i].data && m[i].data <= m[i].end &&
          m[i].end <= m[i].next && m[i].next <= len);
    if (i == 0)
      CHECK(only_empty_lines(file, m[i].from));
    else
      CHECK(m[i].from == m[i - 1].next && m[i].from > m[i - 1].from);
    CHECK((m[i].flags & MBOX_MSG_HEADLESS) == 0 || i == 0);
    if (m[i].x_uidl)
      CHECK(fuzz_valid_uidl(m[i].x_uidl));
    /* LIST's size is what RETR sends. */
    uint64_t sent = read_size(fd, format, &m[i], data[0] >> 2);
    if (sent != m[i].size) {
      g_printerr("message %zu: listed %llu octets, reading sends %llu\n", i,
                 (unsigned long long)m[i].size, (unsigned long long)sent);
      abort();
    }
  }
  if (n > 0)
    CHECK(m[n - 1].next == len);

  /* Dovecot's template, on every other input: UIDs from X-UID headers
   * must still give valid, unique UIDLs, and only growing ones count. */
  char *problem = NULL;
  UidlFormat *uidl_format =
      data[0] & 8 ? uidl_format_parse("%08Xu%08Xv",
                                      UIDL_VAR_UID | UIDL_VAR_UIDVALIDITY,
                                      &problem)
                  : NULL;
  CHECK(!problem);
  mbox_uidl_assign(m, n, NULL, data[0] & 4, uidl_format, strings);
  uidl_format_free(uidl_format);
  GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
  uint32_t last_uid = 0;
  for (size_t i = 0; i < n; i++) {
    CHECK(fuzz_valid_uidl(m[i].uidl));
    CHECK(g_hash_table_add(seen, (gpointer)m[i].uidl));
    CHECK((m[i].flags & MBOX_MSG_PSEUDO) == 0 || i == 0);
    if (uidl_format && m[i].x_uid) {
      CHECK(m[i].x_uid > last_uid);
      last_uid = m[i].x_uid;
    }
  }
  g_hash_table_unref(seen);
  g_array_unref(msgs);
  g_string_chunk_free(strings);
  close(fd);
  return 0;
}
