/* SPDX-License-Identifier: MIT */
/*
 * The RETR/TOP transfer encoding (core/dotstuff.c) and the size rule that
 * LIST reports (poplar_crlf_size_*() in libpoplar), fed the same message in
 * arbitrary chunks.  Checked against a plain reference written here:
 *  - the output never holds a bare LF and ends with CRLF "." CRLF;
 *  - no line of it starts with a single '.': every stored line starting
 *    with '.' gets a second one, and un-stuffing gives back exactly the
 *    message with line ends made CRLF (and a final one added);
 *  - chunking changes nothing, neither in the output nor in the size;
 *  - the size the stores count equals the octets RETR sends (without
 *    stuffing and terminator), whatever the chunking;
 *  - TOP n sends the header, the blank line and n body lines of that.
 *
 * Input: byte 0 selects RETR (>= 0x80) or TOP with (byte & 0x0f) lines,
 * byte 1 seeds the chunk sizes, the rest is the stored message.
 */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-check.h"
#include "dotstuff.h"
#include "poplar-private.h"

/* The message as POP3 sends it before stuffing: bare LF made CRLF, a final
 * CRLF added when the last line has no line end. */
static GByteArray *reference_crlf(const uint8_t *msg, size_t len)
{
  GByteArray *out = g_byte_array_sized_new((guint)(2 * len + 2));
  for (size_t i = 0; i < len; i++) {
    if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
      g_byte_array_append(out, (const guint8 *)"\r", 1);
    g_byte_array_append(out, &msg[i], 1);
  }
  if (len > 0 && msg[len - 1] != '\n')
    g_byte_array_append(out, (const guint8 *)"\r\n", 2);
  return out;
}

/* TOP @lines of a CRLF-form message: up to and including the first empty
 * line, then @lines more lines (everything when there is no empty line). */
static size_t reference_top_len(const GByteArray *crlf, long lines)
{
  const guint8 *p = crlf->data;
  size_t len = crlf->len, pos = 0;
  bool in_body = false;
  long left = lines;
  if (len == 0)
    return 0;
  while (pos < len) {
    /* crlf always ends with CRLF, so a line end is always found. */
    const guint8 *lf = memchr(p + pos, '\n', len - pos);
    size_t end = (size_t)(lf - p) + 1;
    bool empty = end - pos == 2;
    pos = end;
    if (!in_body) {
      if (empty) {
        in_body = true;
        if (left == 0)
          return pos;
      }
    } else if (--left == 0) {
      return pos;
    }
  }
  return len;
}

/* Stuffs @body (CRLF lines) and adds the terminator. */
static GByteArray *reference_stuff(const guint8 *body, size_t len)
{
  GByteArray *out = g_byte_array_sized_new((guint)(2 * len + 3));
  bool line_start = true;
  for (size_t i = 0; i < len; i++) {
    if (line_start && body[i] == '.')
      g_byte_array_append(out, (const guint8 *)".", 1);
    g_byte_array_append(out, &body[i], 1);
    line_start = body[i] == '\n';
  }
  g_byte_array_append(out, (const guint8 *)".\r\n", 3);
  return out;
}

typedef struct Chunker {
  uint32_t state;
} Chunker;

/* Chunk sizes from a small LCG: mostly tiny (to split CR from LF and dots
 * from line starts), sometimes large. */
static size_t next_chunk(Chunker *ch, size_t left)
{
  ch->state = ch->state * 1103515245u + 12345u;
  uint32_t r = ch->state >> 16;
  size_t n = (r & 3) == 0 ? (r >> 2) % 4096 + 1 : (r >> 2) % 4 + 1;
  return MIN(n, left);
}

static GByteArray *encode(const uint8_t *msg, size_t len, long top,
                          uint32_t seed, uint64_t *crlf_size, bool *done)
{
  PoplarDotStuff st;
  PoplarCrlfSize size;
  Chunker ch = {.state = seed};
  GByteArray *out = g_byte_array_new();
  poplard_dotstuff_init(&st, top);
  poplar_crlf_size_init(&size);
  for (size_t pos = 0; pos < len;) {
    size_t n = seed == 0 ? len : next_chunk(&ch, len - pos);
    size_t max = POPLAR_DOTSTUFF_MAX_OUT(n);
    char *buf = g_malloc(max);
    size_t w = poplard_dotstuff_encode(&st, (const char *)msg + pos, n, buf);
    CHECK(w <= max);
    g_byte_array_append(out, (const guint8 *)buf, (guint)w);
    g_free(buf);
    poplar_crlf_size_feed(&size, msg + pos, n);
    pos += n;
  }
  char fin[POPLAR_DOTSTUFF_FINISH_MAX];
  size_t w = poplard_dotstuff_finish(&st, fin);
  CHECK(w <= POPLAR_DOTSTUFF_FINISH_MAX);
  g_byte_array_append(out, (const guint8 *)fin, (guint)w);
  *crlf_size = poplar_crlf_size_finish(&size);
  *done = st.done;
  return out;
}

static void check_wire_form(const GByteArray *out)
{
  const guint8 *p = out->data;
  size_t len = out->len;
  CHECK(len >= 3 && memcmp(p + len - 3, ".\r\n", 3) == 0);
  CHECK(len == 3 || (len >= 5 && memcmp(p + len - 5, "\r\n.\r\n", 5) == 0));
  bool line_start = true;
  for (size_t i = 0; i < len; i++) {
    if (p[i] == '\n')
      CHECK(i > 0 && p[i - 1] == '\r');
    /* A line starting with '.' is either the terminator or stuffed. */
    if (line_start && p[i] == '.' && i != len - 3)
      CHECK(i + 1 < len && p[i + 1] == '.');
    line_start = p[i] == '\n';
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 2)
    return 0;
  long top = data[0] >= 0x80 ? -1 : (long)(data[0] & 0x0f);
  uint32_t seed = data[1];
  const uint8_t *msg = data + 2;
  size_t len = size - 2;

  uint64_t whole_size, chunked_size;
  bool whole_done, chunked_done;
  GByteArray *whole = encode(msg, len, top, 0, &whole_size, &whole_done);
  GByteArray *chunked = encode(msg, len, top, seed * 2654435761u + 1,
                               &chunked_size, &chunked_done);
  check_wire_form(whole);
  CHECK(whole->len == chunked->len &&
        memcmp(whole->data, chunked->data, whole->len) == 0);
  CHECK(whole_size == chunked_size);
  CHECK(whole_done == chunked_done);

  GByteArray *crlf = reference_crlf(msg, len);
  /* The size LIST reports is what RETR sends before stuffing. */
  CHECK(whole_size == crlf->len);
  size_t body_len = top < 0 ? crlf->len : reference_top_len(crlf, top);
  GByteArray *expected = reference_stuff(crlf->data, body_len);
  CHECK(expected->len == whole->len &&
        memcmp(expected->data, whole->data, whole->len) == 0);

  g_byte_array_unref(expected);
  g_byte_array_unref(crlf);
  g_byte_array_unref(whole);
  g_byte_array_unref(chunked);
  return 0;
}
