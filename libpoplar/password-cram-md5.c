/* SPDX-License-Identifier: MIT */
/*
 * CRAM-MD5 (and its other name, HMAC-MD5) as Dovecot stores it: not a
 * digest of the password but the HMAC-MD5 context keyed with it, the MD5
 * state after the outer pad block and after the inner one, each as four
 * little-endian 32-bit words (32 octets, 64 hex digits).  A CRAM-MD5
 * mechanism can finish the HMAC of a challenge from it; checking a
 * password means computing the same context and comparing.
 */
#include "password-private.h"

#include <nettle/md5.h>
#include <string.h>

#define CRAM_MD5_CONTEXT_SIZE 32

/* The MD5 state after one block: @key (at most a block) XOR @pad. */
static void padded_state(const unsigned char *key, size_t key_len,
                         unsigned char pad, unsigned char out[16])
{
  unsigned char block[MD5_BLOCK_SIZE];
  memset(block, pad, sizeof block);
  for (size_t i = 0; i < key_len; i++)
    block[i] = key[i] ^ pad;
  struct md5_ctx ctx;
  md5_init(&ctx);
  /* A whole block: nettle compresses it at once, and the state is what
   * is left after it. */
  md5_update(&ctx, sizeof block, block);
  for (size_t i = 0; i < 4; i++) {
    uint32_t w = ctx.state[i];
    out[4 * i] = (unsigned char)(w & 0xff);
    out[4 * i + 1] = (unsigned char)(w >> 8 & 0xff);
    out[4 * i + 2] = (unsigned char)(w >> 16 & 0xff);
    out[4 * i + 3] = (unsigned char)(w >> 24 & 0xff);
  }
  explicit_bzero(block, sizeof block);
  explicit_bzero(&ctx, sizeof ctx);
}

static void cram_md5_context(const char *password,
                             unsigned char out[CRAM_MD5_CONTEXT_SIZE])
{
  size_t len = strlen(password);
  const unsigned char *key = (const unsigned char *)password;
  unsigned char short_key[MD5_DIGEST_SIZE];
  /* RFC 2104: a key longer than a block is replaced by its digest. */
  if (len > MD5_BLOCK_SIZE) {
    struct md5_ctx ctx;
    md5_init(&ctx);
    md5_update(&ctx, len, key);
    md5_digest(&ctx, sizeof short_key, short_key);
    key = short_key;
    len = sizeof short_key;
  }
  padded_state(key, len, 0x5c, out);
  padded_state(key, len, 0x36, out + 16);
  explicit_bzero(short_key, sizeof short_key);
}

PoplarPasswordResult pwscheme_cram_md5_verify(const PwschemeInfo *scheme,
                                              const char *value,
                                              PwschemeEncoding enc,
                                              const char *password,
                                              char **error)
{
  size_t len = 0;
  unsigned char *stored = pwscheme_decode_digest(
      value, enc, enc == scheme->default_enc, CRAM_MD5_CONTEXT_SIZE, &len);
  if (!stored) {
    *error = g_strdup_printf("{%s} needs %d hex digits",
                             scheme->name, 2 * CRAM_MD5_CONTEXT_SIZE);
    return POPLAR_PASSWORD_MALFORMED;
  }
  PoplarPasswordResult result = POPLAR_PASSWORD_MISMATCH;
  if (password) {
    unsigned char mine[CRAM_MD5_CONTEXT_SIZE];
    cram_md5_context(password, mine);
    if (pwscheme_mem_equal(mine, stored, sizeof mine))
      result = POPLAR_PASSWORD_MATCH;
    explicit_bzero(mine, sizeof mine);
  }
  pwscheme_wipe_free(stored, len);
  return result;
}
