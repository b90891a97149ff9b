/* SPDX-License-Identifier: MIT */
/*
 * What every password scheme needs: strict hex and base64 decoding (a
 * lenient decoder would turn a damaged hash into a different, valid-looking
 * one) and comparisons whose time says nothing about the stored value.
 */
#include "password-private.h"

#include <string.h>

static int hex_value(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static unsigned char *hex_decode(const char *text, size_t *len)
{
  size_t n = strlen(text);
  if (n == 0 || n % 2 != 0)
    return NULL;
  unsigned char *out = g_malloc(n / 2);
  for (size_t i = 0; i < n / 2; i++) {
    int hi = hex_value(text[2 * i]);
    int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      pwscheme_wipe_free(out, n / 2);
      return NULL;
    }
    out[i] = (unsigned char)(hi << 4 | lo);
  }
  *len = n / 2;
  return out;
}

static int base64_value(char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

/* RFC 4648 base64, with or without its '=' padding. */
static unsigned char *base64_decode(const char *text, size_t *len)
{
  size_t n = strlen(text);
  size_t pad = 0;
  while (pad < 2 && n > pad && text[n - 1 - pad] == '=')
    pad++;
  size_t data = n - pad;
  if (data == 0 || data % 4 == 1 || (pad && n % 4 != 0))
    return NULL;
  unsigned char *out = g_malloc(data * 3 / 4 + 1);
  size_t o = 0;
  unsigned acc = 0;
  unsigned bits = 0;
  for (size_t i = 0; i < data; i++) {
    int v = base64_value(text[i]);
    if (v < 0) {
      pwscheme_wipe_free(out, data * 3 / 4 + 1);
      return NULL;
    }
    acc = (acc << 6) | (unsigned)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  /* Bits left over must be zero, or two encodings would decode alike. */
  if (acc != 0) {
    pwscheme_wipe_free(out, data * 3 / 4 + 1);
    return NULL;
  }
  *len = o;
  return out;
}

unsigned char *pwscheme_decode(const char *text, PwschemeEncoding enc,
                               size_t *len)
{
  switch (enc) {
  case PWSCHEME_ENC_HEX:
    return hex_decode(text, len);
  case PWSCHEME_ENC_BASE64:
    return base64_decode(text, len);
  case PWSCHEME_ENC_NONE:
    break;
  }
  *len = strlen(text);
  return (unsigned char *)g_strdup(text);
}

unsigned char *pwscheme_decode_digest(const char *text, PwschemeEncoding enc,
                                      bool may_guess, size_t want,
                                      size_t *len)
{
  unsigned char *raw = pwscheme_decode(text, enc, len);
  if (raw && (want == 0 || *len == want))
    return raw;
  if (raw)
    pwscheme_wipe_free(raw, *len);
  if (!may_guess)
    return NULL;
  /* Some lengths of hex are also valid base64 and the other way round:
   * Dovecot tries the other encoding before giving up, and so do we. */
  PwschemeEncoding other =
      enc == PWSCHEME_ENC_HEX ? PWSCHEME_ENC_BASE64 : PWSCHEME_ENC_HEX;
  raw = pwscheme_decode(text, other, len);
  if (raw && (want == 0 || *len == want))
    return raw;
  if (raw)
    pwscheme_wipe_free(raw, *len);
  return NULL;
}

bool pwscheme_mem_equal(const void *a, const void *b, size_t len)
{
  const unsigned char *x = a;
  const unsigned char *y = b;
  volatile unsigned char diff = 0;
  for (size_t i = 0; i < len; i++)
    diff |= x[i] ^ y[i];
  return diff == 0;
}

bool pwscheme_str_equal(const char *attempt, const char *secret,
                        size_t secret_len)
{
  size_t attempt_len = strlen(attempt);
  /* Walk the attempt's length, which its sender already knows; compare
   * against @secret cyclically so that no branch depends on its
   * contents. */
  volatile unsigned char diff = 0;
  for (size_t i = 0; i < attempt_len; i++) {
    unsigned char s = secret_len ? (unsigned char)secret[i % secret_len] : 0;
    diff |= (unsigned char)attempt[i] ^ s;
  }
  return (diff | (unsigned char)(attempt_len != secret_len)) == 0;
}

void pwscheme_wipe_free(void *p, size_t len)
{
  if (!p)
    return;
  explicit_bzero(p, len);
  g_free(p);
}
