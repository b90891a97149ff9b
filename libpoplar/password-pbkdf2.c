/* SPDX-License-Identifier: MIT */
/*
 * PBKDF2 in Dovecot's format: "$1$SALT$ROUNDS$HEX", where HEX is the
 * 20-octet PBKDF2-HMAC-SHA1 key (RFC 8018) of the password, with the salt
 * taken as the characters written (not decoded).
 */
#include "password-private.h"

#include <nettle/pbkdf2.h>
#include <nettle/sha1.h>
#include <string.h>

#define PBKDF2_KEY_SIZE SHA1_DIGEST_SIZE
/* More would be a typo, and would cost a login minutes of CPU. */
#define PBKDF2_ROUNDS_MAX 100000000u

typedef struct Pbkdf2Value {
  const char *salt;
  size_t salt_len;
  unsigned rounds;
  unsigned char key[PBKDF2_KEY_SIZE];
} Pbkdf2Value;

static bool rounds_parse(const char *s, size_t len, unsigned *out)
{
  if (len == 0 || len > 9)
    return false;
  unsigned n = 0;
  for (size_t i = 0; i < len; i++) {
    if (!g_ascii_isdigit(s[i]))
      return false;
    n = n * 10 + (unsigned)(s[i] - '0');
  }
  *out = n;
  return n >= 1 && n <= PBKDF2_ROUNDS_MAX;
}

static bool pbkdf2_parse(const char *value, Pbkdf2Value *out, char **error)
{
  const char *form = "the value must read $1$SALT$ROUNDS$ and 40 hex "
                     "digits";
  if (!g_str_has_prefix(value, "$1$")) {
    *error = g_strdup(form);
    return false;
  }
  const char *salt = value + 3;
  const char *d1 = strchr(salt, '$');
  const char *d2 = d1 ? strchr(d1 + 1, '$') : NULL;
  if (!d1 || !d2 || strchr(d2 + 1, '$') || d1 == salt ||
      !rounds_parse(d1 + 1, (size_t)(d2 - d1 - 1), &out->rounds)) {
    *error = g_strdup(form);
    return false;
  }
  size_t len = 0;
  unsigned char *key = pwscheme_decode(d2 + 1, PWSCHEME_ENC_HEX, &len);
  if (!key || len != PBKDF2_KEY_SIZE) {
    if (key)
      pwscheme_wipe_free(key, len);
    *error = g_strdup(form);
    return false;
  }
  memcpy(out->key, key, PBKDF2_KEY_SIZE);
  pwscheme_wipe_free(key, len);
  out->salt = salt;
  out->salt_len = (size_t)(d1 - salt);
  return true;
}

PoplarPasswordResult pwscheme_pbkdf2_verify(const PwschemeInfo *scheme,
                                            const char *value,
                                            PwschemeEncoding enc,
                                            const char *password,
                                            char **error)
{
  (void)scheme;
  (void)enc;
  Pbkdf2Value v;
  if (!pbkdf2_parse(value, &v, error))
    return POPLAR_PASSWORD_MALFORMED;
  PoplarPasswordResult result = POPLAR_PASSWORD_MISMATCH;
  if (password) {
    unsigned char key[PBKDF2_KEY_SIZE];
    pbkdf2_hmac_sha1(strlen(password), (const uint8_t *)password, v.rounds,
                     v.salt_len, (const uint8_t *)v.salt, sizeof key, key);
    if (pwscheme_mem_equal(key, v.key, sizeof key))
      result = POPLAR_PASSWORD_MATCH;
    explicit_bzero(key, sizeof key);
  }
  explicit_bzero(&v, sizeof v);
  return result;
}
