/* SPDX-License-Identifier: MIT */
/*
 * The transfer encoding of RETR and TOP (RFC 1939 section 3): line ends
 * become CRLF, a line starting with '.' gets another '.', and the message
 * ends with CRLF "." CRLF.  Works on chunks of any size with constant
 * state, so a message is streamed, never held whole in memory.  The size
 * it produces (without stuffing and terminator) is what
 * poplar_crlf_size_*() in libpoplar counts.
 */
#ifndef POPLAR_DOTSTUFF_H
#define POPLAR_DOTSTUFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct PoplarDotStuff {
  int last;              /* last input octet, -1 before any */
  uint64_t line_len;     /* octets on the current line, CR excluded */
  bool in_body;          /* past the blank line ending the header */
  long body_lines_left;  /* TOP: body lines still to send; -1 for RETR */
  bool done;             /* TOP: enough lines sent, ignore the rest */
} PoplarDotStuff;

/* @top_lines: -1 to send everything (RETR), else TOP's line count. */
void poplard_dotstuff_init(PoplarDotStuff *st, long top_lines);

/* Worst case output for @in_len input octets: no input octet becomes more
 * than two. */
#define POPLAR_DOTSTUFF_MAX_OUT(in_len) (2 * (in_len) + 2)

/* Encodes @in into @out (room for POPLAR_DOTSTUFF_MAX_OUT(@in_len)) and
 * returns the octets written.  Octets of @out past the returned length may
 * have been used as scratch space.  After TOP's limit, input is ignored
 * and st->done is set. */
size_t poplard_dotstuff_encode(PoplarDotStuff *st, const char *in,
                              size_t in_len, char *out);

/* Encodes as much of @in as surely fits into the @out_room octets at @out,
 * so that a fixed buffer can be filled to the brim: returns the octets
 * written and sets *@consumed to the input octets taken (all of them once
 * st->done is set).  Takes at least one octet when @out_room >= 2.  Octets
 * of @out past the returned length may have been used as scratch space. */
size_t poplard_dotstuff_encode_into(PoplarDotStuff *st, const char *in,
                                   size_t in_len, size_t *consumed, char *out,
                                   size_t out_room);

/* Whether RETR's encoder may use AVX2 where the processor has it (the
 * default); tests turn it off to check the SSE2 code on the same machine.
 * Not thread-safe: set it before encoding. */
void poplard_dotstuff_allow_avx2(bool allow);

/* Room poplard_dotstuff_finish() needs. */
#define POPLAR_DOTSTUFF_FINISH_MAX 5

/* Ends the message: CRLF when the last line is unterminated, then ".CRLF".
 * Returns the octets written. */
size_t poplard_dotstuff_finish(PoplarDotStuff *st, char *out);

#endif /* POPLAR_DOTSTUFF_H */
