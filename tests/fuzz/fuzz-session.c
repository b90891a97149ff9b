/* SPDX-License-Identifier: MIT */
/*
 * The whole POP3 session, driven by arbitrary client octets against the
 * in-memory world of fuzz-world.c: line framing, the command table, every
 * state, logins (USER/PASS, APOP, AUTH), the hooks' verdicts, streaming
 * LIST/UIDL/RETR/TOP with back-pressure, store faults and UPDATE.
 *
 * Input: byte 0 bit 0 set = the client is not on a trusted network (no
 * plaintext logins); the rest is exactly what the client sends.
 */
#include <stdio.h>

#include "fuzz-check.h"
#include "fuzz-world.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  fuzz_world_init();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  fuzz_world_init();
  GByteArray *out = g_byte_array_new();
  fuzz_world_session(data + 1, size - 1, !(data[0] & 1), out);
  /* To see what a corpus input does: FUZZ_SESSION_PRINT=1. */
  if (g_getenv("FUZZ_SESSION_PRINT"))
    fwrite(out->data, 1, out->len, stderr);
  g_byte_array_unref(out);
  return 0;
}
