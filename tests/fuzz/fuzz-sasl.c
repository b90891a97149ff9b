/* SPDX-License-Identifier: MIT */
/*
 * AUTH (RFC 5034) through the real session: the base64 decoding of initial
 * responses and continuation lines, "=" and "*", the built-in PLAIN and
 * LOGIN, and the plugin mechanism X-FUZZ of fuzz-world.c with its every
 * outcome.  The fuzzer chooses decoded messages; the harness encodes them,
 * so it explores what mechanisms see, not only what base64 rejects.
 *
 * Input: byte 0 = flags:
 *   bits 0-1  mechanism: PLAIN, LOGIN, X-FUZZ, or "x-fuzz" (case)
 *   bit 2     the first message goes on the AUTH line (initial response)
 *   bit 3     raw: messages are sent as they are, not base64-encoded
 *   bit 4     the client is not on a trusted network
 *   bit 5     end with "*" (cancel) instead of the usual commands
 * then the client's messages, separated by LF.  After them the client
 * sends STAT, LIST, RETR 1 and QUIT, which succeed when the login did.
 */
#include <string.h>

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

static void append_message(GString *s, const uint8_t *msg, size_t len,
                           bool raw)
{
  if (raw) {
    g_string_append_len(s, (const char *)msg, (gssize)len);
  } else if (len == 0) {
    /* An empty message is "=" on the AUTH line and an empty line after
     * it; the caller knows which. */
  } else {
    g_autofree char *b64 = g_base64_encode(msg, len);
    g_string_append(s, b64);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char *const mechs[] = {"PLAIN", "LOGIN", "X-FUZZ", "x-fuzz"};
  if (size < 1)
    return 0;
  fuzz_world_init();
  unsigned flags = data[0];
  bool ir = flags & 4, raw = flags & 8, trusted = !(flags & 16);
  const uint8_t *p = data + 1, *end = data + size;

  GString *client = g_string_new(NULL);
  g_string_append_printf(client, "AUTH %s", mechs[flags & 3]);
  bool first = true;
  while (p <= end) {
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    const uint8_t *stop = nl ? nl : end;
    size_t len = (size_t)(stop - p);
    if (first && ir) {
      g_string_append_c(client, ' ');
      if (len == 0 && !raw)
        g_string_append_c(client, '=');
      else
        append_message(client, p, len, raw);
    } else {
      if (first)
        g_string_append(client, "\r\n");
      append_message(client, p, len, raw);
    }
    g_string_append(client, "\r\n");
    first = false;
    if (!nl)
      break;
    p = nl + 1;
  }
  if (flags & 32)
    g_string_append(client, "*\r\n");
  g_string_append(client, "STAT\r\nLIST\r\nRETR 1\r\nQUIT\r\n");

  GByteArray *out = g_byte_array_new();
  fuzz_world_session((const uint8_t *)client->str, client->len, trusted, out);
  g_byte_array_unref(out);
  g_string_free(client, TRUE);
  return 0;
}
