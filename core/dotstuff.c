/* SPDX-License-Identifier: MIT */
#include "dotstuff.h"

#include <string.h>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

void poplard_dotstuff_init(PoplarDotStuff *st, long top_lines)
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

/* TOP: line by line, since every line end counts. */
static size_t encode_lines(PoplarDotStuff *st, const char *in, size_t in_len,
                           char *out)
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

/* Copies input to output up to the next LF or the end.  Returns true when
 * it stopped at a LF (*pp points at it, not copied).
 *
 * With SSE2 it moves 16 octets at a time and stores whole vectors, some
 * octets past the LF included: those are scratch, overwritten next.  That
 * stays inside the caller's room because the output is never more than
 * 2 * (octets consumed) + 1 long and the room is at least twice the input,
 * so 16 octets left to read leave at least 31 octets of room. */
static bool copy_to_lf(const char **pp, char **op, const char *end)
{
  const char *p = *pp;
  char *o = *op;
#if defined(__SSE2__)
  const __m128i lf16 = _mm_set1_epi8('\n');
  while (end - p >= 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    _mm_storeu_si128((__m128i *)(void *)o, v);
    unsigned mask = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, lf16));
    if (mask) {
      unsigned k = (unsigned)__builtin_ctz(mask);
      *pp = p + k;
      *op = o + k;
      return true;
    }
    p += 16;
    o += 16;
  }
#endif
  const char *lf = memchr(p, '\n', (size_t)(end - p));
  size_t run = lf ? (size_t)(lf - p) : (size_t)(end - p);
  memcpy(o, p, run);
  *pp = p + run;
  *op = o + run;
  return lf != NULL;
}

#if defined(__SSE2__) && defined(__SIZEOF_INT128__)
/* The bulk of encode_all(): whole lines, with the LFs of 128 octets found
 * at once and each line copied in fixed 64-octet moves, so that a line
 * costs few instructions and no unpredictable branch beyond one per 128
 * input octets (the first LF of the window is taken with conditional
 * moves, not branches): 1.5x the rate of 64-octet windows, where that one
 * mispredicted branch per window was most of the cost.  Stops when fewer
 * than 192 octets are left from the window's start; *pp is then at the
 * start of a line (its leading dot already doubled) or inside one.
 *
 * The fixed moves read at most 191 octets past a window's start, which
 * stays in the input, and write scratch past the output: at most 64
 * octets beyond the line copied, inside the room because the room is at
 * least twice the input left.
 *
 * Defined once per instruction set by DEFINE_ENCODE_BULK, with @mask64
 * (bit i set when w[i] is a LF, for i < 64) and @copy64. */
#define DEFINE_ENCODE_BULK(name, attributes, mask64, copy64)                 \
  attributes static void name(const char **pp, char **op, const char *in,   \
                              const char *end, int last)                    \
  {                                                                         \
    const char *p = *pp;                                                    \
    char *o = *op;                                                          \
    const char *w = p;                                                      \
    if (end - w < 192)                                                      \
      return;                                                               \
    uint64_t lo = mask64(w), hi = mask64(w + 64);                           \
    for (;;) {                                                              \
      while ((lo | hi) == 0) {                                              \
        w += 128;                                                           \
        if (end - w < 192) {                                                \
          *pp = p;                                                          \
          *op = o;                                                          \
          return;                                                           \
        }                                                                   \
        lo = mask64(w);                                                     \
        hi = mask64(w + 64);                                                \
      }                                                                     \
      unsigned k = lo ? (unsigned)__builtin_ctzll(lo)                       \
                      : 64 + (unsigned)__builtin_ctzll(hi);                 \
      unsigned __int128 m = ((unsigned __int128)hi << 64) | lo;             \
      m &= m - 1;                                                           \
      lo = (uint64_t)m;                                                     \
      hi = (uint64_t)(m >> 64);                                             \
      const char *lf = w + k;                                               \
      size_t len = (size_t)(lf - p);                                        \
      copy64(o, p);                                                         \
      if (len > 64) {                                                       \
        copy64(o + 64, p + 64);                                             \
        if (len > 128)                                                      \
          memcpy(o + 128, p + 128, len - 128);                              \
      }                                                                     \
      o += len;                                                             \
      int before = lf > in ? (unsigned char)lf[-1] : last;                  \
      *o = '\r';                                                            \
      o += before != '\r';                                                  \
      *o++ = '\n';                                                          \
      p = lf + 1;                                                           \
      *o = '.';                                                             \
      o += *p == '.';                                                       \
    }                                                                       \
  }

static inline uint64_t lf_mask64_sse2(const char *w)
{
  const __m128i lf16 = _mm_set1_epi8('\n');
  uint64_t m = 0;
  for (int i = 0; i < 4; i++) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(w + 16 * i));
    m |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, lf16))
         << (16 * i);
  }
  return m;
}

static inline void copy64_sse2(char *o, const char *p)
{
  for (int i = 0; i < 4; i++)
    _mm_storeu_si128(
        (__m128i *)(void *)(o + 16 * i),
        _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i)));
}

DEFINE_ENCODE_BULK(encode_bulk_sse2, , lf_mask64_sse2, copy64_sse2)

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* AVX2, where the processor has it: half the vector operations, and 1.5x
 * the encoding rate of SSE2 on the benchmark's mail. */
#define HAVE_BULK_AVX2 1
#define AVX2 __attribute__((target("avx2")))

AVX2 static inline uint64_t lf_mask64_avx2(const char *w)
{
  const __m256i lf32 = _mm256_set1_epi8('\n');
  __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)w);
  __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(w + 32));
  uint64_t lo = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a, lf32));
  uint64_t hi = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(b, lf32));
  return lo | hi << 32;
}

AVX2 static inline void copy64_avx2(char *o, const char *p)
{
  _mm256_storeu_si256((__m256i *)(void *)o,
                      _mm256_loadu_si256((const __m256i *)(const void *)p));
  _mm256_storeu_si256(
      (__m256i *)(void *)(o + 32),
      _mm256_loadu_si256((const __m256i *)(const void *)(p + 32)));
}

DEFINE_ENCODE_BULK(encode_bulk_avx2, AVX2, lf_mask64_avx2, copy64_avx2)
#endif

static bool bulk_avx2_allowed = true;

void poplard_dotstuff_allow_avx2(bool allow)
{
  bulk_avx2_allowed = allow;
}

static void encode_bulk(const char **pp, char **op, const char *in,
                        const char *end, int last)
{
#if defined(HAVE_BULK_AVX2)
  if (bulk_avx2_allowed && __builtin_cpu_supports("avx2")) {
    encode_bulk_avx2(pp, op, in, end, last);
    return;
  }
#endif
  encode_bulk_sse2(pp, op, in, end, last);
}
#else
void poplard_dotstuff_allow_avx2(bool allow)
{
  (void)allow;
}
#endif

/* RETR: every line is sent and none is counted, so the work is copying
 * runs between line ends, adding CR before a bare LF and a '.' before a
 * line's leading '.'. */
static size_t encode_all(PoplarDotStuff *st, const char *in, size_t in_len,
                         char *out)
{
  const char *p = in;
  const char *end = in + in_len;
  char *o = out;
  if (in_len == 0)
    return 0;
  if ((st->last == -1 || st->last == '\n') && *p == '.')
    *o++ = '.';
#if defined(__SSE2__) && defined(__SIZEOF_INT128__)
  encode_bulk(&p, &o, in, end, st->last);
#endif
  while (copy_to_lf(&p, &o, end)) {
    int before = p > in ? (unsigned char)p[-1] : st->last;
    if (before != '\r')
      *o++ = '\r';
    *o++ = '\n';
    if (++p == end)
      break;
    if (*p == '.')
      *o++ = '.';
  }
  st->last = (unsigned char)end[-1];
  return (size_t)(o - out);
}

/* Both encoders write at most two octets per input octet. */
size_t poplard_dotstuff_encode(PoplarDotStuff *st, const char *in,
                              size_t in_len, char *out)
{
  if (st->body_lines_left < 0)
    return encode_all(st, in, in_len, out);
  return encode_lines(st, in, in_len, out);
}

size_t poplard_dotstuff_encode_into(PoplarDotStuff *st, const char *in,
                                   size_t in_len, size_t *consumed, char *out,
                                   size_t out_room)
{
  size_t taken = 0;
  size_t written = 0;
  /* Each pass takes as much input as fits even if all of it doubled; the
   * room left at least halves, so this ends after a few passes. */
  while (taken < in_len && !st->done) {
    size_t fit = (out_room - written) / 2;
    if (fit == 0)
      break;
    size_t n = in_len - taken < fit ? in_len - taken : fit;
    written += poplard_dotstuff_encode(st, in + taken, n, out + written);
    taken += n;
  }
  *consumed = st->done ? in_len : taken;
  return written;
}

size_t poplard_dotstuff_finish(PoplarDotStuff *st, char *out)
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
