/* SPDX-License-Identifier: MIT */
/*
 * What every fuzz target shares: the libFuzzer entry point, and CHECK(),
 * which aborts on a broken invariant so that libFuzzer (or fuzz-driver.c
 * replaying the corpus) reports the input.
 */
#ifndef POPLAR_FUZZ_CHECK_H
#define POPLAR_FUZZ_CHECK_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      g_printerr("invariant failed: %s (%s:%d)\n", #cond, __FILE__,        \
                 __LINE__);                                                \
      abort();                                                             \
    }                                                                      \
  } while (0)

/* RFC 1939 section 7, read independently of the stores' own check: 1 to
 * 70 octets in 0x21-0x7E. */
static inline bool fuzz_valid_uidl(const char *s)
{
  size_t n = s ? strlen(s) : 0;
  if (n < 1 || n > 70)
    return false;
  for (size_t i = 0; i < n; i++) {
    if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
      return false;
  }
  return true;
}

#endif
