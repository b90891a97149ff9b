/* SPDX-License-Identifier: MIT */
/*
 * A message's size as the core sends it: bare LF counts as CRLF, and a
 * message that does not end with a line end gets one.  Must agree with the
 * core's transfer encoder (core/dotstuff.c); tests check both on the same
 * inputs.
 */
#include "poplar-private.h"

#include <string.h>

void poplar_crlf_size_init(PoplarCrlfSize *state)
{
  state->octets = 0;
  state->last = -1;
  state->reserved = 0;
}

/* PoplarCrlfSize.reserved: set when the core would send the octets fed
 * so far differently from how they are stored. */
#define CRLF_SIZE_RESHAPED 1

void poplar_crlf_size_feed(PoplarCrlfSize *state, const void *buf, size_t len)
{
  const unsigned char *start = buf;
  const unsigned char *end = start + len;
  if (len == 0)
    return;
  /* octets == 0: nothing fed yet, whether initialised or zeroed. */
  bool line_start = state->octets == 0 || state->last == '\n';
  if (line_start && start[0] == '.')
    state->reserved |= CRLF_SIZE_RESHAPED; /* dot-stuffed when sent */
  state->octets += len;
  for (const unsigned char *p = start; p < end; p++) {
    p = memchr(p, '\n', (size_t)(end - p));
    if (!p)
      break;
    int before = p > start ? p[-1] : state->last;
    if (before != '\r') {
      state->octets++;
      state->reserved |= CRLF_SIZE_RESHAPED;
    }
    if (p + 1 < end && p[1] == '.')
      state->reserved |= CRLF_SIZE_RESHAPED;
  }
  state->last = end[-1];
}

uint64_t poplar_crlf_size_finish(const PoplarCrlfSize *state)
{
  /* octets == 0 also covers a state zeroed with {0} instead of init. */
  if (state->octets == 0 || state->last == -1 || state->last == '\n')
    return state->octets;
  return state->octets + 2;
}

bool poplar_crlf_size_sent_as_stored(const PoplarCrlfSize *state)
{
  if (state->reserved & CRLF_SIZE_RESHAPED)
    return false;
  return state->octets == 0 || state->last == '\n';
}
