/* SPDX-License-Identifier: MIT */
#include "dotstuff.h"

#include <string.h>

void poplar_dotstuff_init(PoplarDotStuff *st, long top_lines)
{
  st->last = -1;
  st->line_len = 0;
  st->in_body = false;
  st->body_lines_left = top_lines;
  st->done = false;
}

/* A line ended: track the header/body boundary and TOP's budget. */
static void end_of_line(PoplarDotStuff *st)
{
  if (st->body_lines_left < 0)
    return; /* RETR: nothing to count */
  if (!st->in_body) {
    if (st->line_len == 0) {
      st->in_body = true;
      if (st->body_lines_left == 0)
        st->done = true;
    }
  } else if (--st->body_lines_left == 0) {
    st->done = true;
  }
}

size_t poplar_dotstuff_encode(PoplarDotStuff *st, const char *in,
                              size_t in_len, char *out)
{
  const char *p = in;
  const char *end = in + in_len;
  char *o = out;

  while (p < end && !st->done) {
    bool line_start = st->last == -1 || st->last == '\n';
    if (line_start) {
      st->line_len = 0;
      if (*p == '.')
        *o++ = '.';
    }
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    const char *seg_end = lf ? lf : end;
    size_t seg = (size_t)(seg_end - p);
    if (seg) {
      memcpy(o, p, seg);
      o += seg;
      st->line_len += seg;
      st->last = (unsigned char)seg_end[-1];
      p = seg_end;
    }
    if (!lf)
      break;
    /* p is at the LF. */
    if (st->last == '\r') {
      st->line_len--; /* the CR belongs to the line end */
    } else {
      *o++ = '\r';
    }
    *o++ = '\n';
    st->last = '\n';
    p++;
    end_of_line(st);
  }
  return (size_t)(o - out);
}

size_t poplar_dotstuff_finish(PoplarDotStuff *st, char *out)
{
  char *o = out;
  if (st->last != -1 && st->last != '\n' && !st->done) {
    *o++ = '\r';
    *o++ = '\n';
  }
  memcpy(o, ".\r\n", 3);
  o += 3;
  return (size_t)(o - out);
}
