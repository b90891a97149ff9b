/* SPDX-License-Identifier: MIT */
/*
 * Streaming one message out of the mbox with its '>From ' quoting undone.
 *
 * The message is read from the file at its offsets, a buffer at a time, so
 * a 1 GB mbox costs no more memory than a small one.  At each line start
 * the reader makes sure it has the same window the parser looked at
 * (MBOX_LINE_PEEK octets, or up to the line end or the message end), even
 * when the line straddles two reads, and decides with the same function
 * whether to drop a '>': so what is sent always has the size LIST gave.
 */
#include "mbox.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_BUF_SIZE (64 * 1024)

void mbox_reader_init(MboxReader *r, int fd, MboxFormat format,
                      uint64_t data, uint64_t end, size_t buf_size)
{
  memset(r, 0, sizeof *r);
  r->fd = fd;
  r->format = format;
  r->pos = data;
  r->end = end > data ? end : data;
  r->cap = buf_size ? buf_size : DEFAULT_BUF_SIZE;
  if (r->cap < 2 * MBOX_LINE_PEEK)
    r->cap = 2 * MBOX_LINE_PEEK;
  r->buf = g_malloc(r->cap);
  r->line_start = true;
}

void mbox_reader_clear(MboxReader *r)
{
  g_clear_pointer(&r->buf, g_free);
}

/* Keeps the unread octets and reads more of the message after them.
 * Returns false on a read error; a file shorter than the message is an
 * error too (EIO), since sending less than LIST said would corrupt the
 * transfer. */
static bool fill(MboxReader *r, int *err_no)
{
  size_t keep = r->len - r->start;
  memmove(r->buf, r->buf + r->start, keep);
  r->start = 0;
  r->len = keep;
  uint64_t left = r->end - r->pos;
  size_t want = r->cap - r->len;
  if (left < want)
    want = (size_t)left;
  if (want == 0)
    return true;
  ssize_t n;
  do
    n = pread(r->fd, r->buf + r->len, want, (off_t)r->pos);
  while (n < 0 && errno == EINTR);
  if (n <= 0) {
    *err_no = n == 0 ? EIO : errno;
    return false;
  }
  r->len += (size_t)n;
  r->pos += (uint64_t)n;
  return true;
}

int64_t mbox_reader_read(MboxReader *r, char *out, size_t len, int *err_no)
{
  size_t done = 0;
  while (done < len) {
    size_t avail = r->len - r->start;
    if (r->line_start) {
      uint64_t in_message = avail + (r->end - r->pos);
      size_t need = in_message < MBOX_LINE_PEEK ? (size_t)in_message
                                                 : MBOX_LINE_PEEK;
      if (avail < need && !memchr(r->buf + r->start, '\n', avail)) {
        if (!fill(r, err_no))
          return -1;
        continue;
      }
      if (avail == 0)
        break;
      const char *p = r->buf + r->start;
      size_t w = avail < MBOX_LINE_PEEK ? avail : MBOX_LINE_PEEK;
      const char *nl = memchr(p, '\n', w);
      if (nl)
        w = (size_t)(nl - p) + 1;
      if (p[0] == '>' && mbox_line_is_quoted(p, w, r->format))
        r->start++;
      r->line_start = false;
      continue;
    }
    if (avail == 0) {
      if (r->pos >= r->end)
        break;
      if (!fill(r, err_no))
        return -1;
      continue;
    }
    size_t n = len - done < avail ? len - done : avail;
    const char *p = r->buf + r->start;
    const char *nl = memchr(p, '\n', n);
    if (nl) {
      n = (size_t)(nl - p) + 1;
      r->line_start = true;
    }
    memcpy(out + done, p, n);
    done += n;
    r->start += n;
  }
  return (int64_t)done;
}
