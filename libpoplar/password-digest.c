/* SPDX-License-Identifier: MIT */
/*
 * The password itself (PLAIN and its aliases) and plain digests of it:
 * unsalted (PLAIN-MD5, LDAP-MD5, SHA, SHA256, SHA512) and salted, where
 * the stored octets are H(password || salt) followed by the salt (SMD5,
 * SSHA, SSHA256, SSHA512, as slappasswd and Dovecot write them).
 */
#include "password-private.h"

#include <nettle/nettle-meta.h>
#include <nettle/sha2.h>
#include <string.h>

char *pwscheme_plain_decode(const char *value, PwschemeEncoding enc,
                            char **error)
{
  size_t len = 0;
  unsigned char *raw = pwscheme_decode(value, enc, &len);
  if (!raw) {
    *error = g_strdup_printf("the value is not valid %s",
                             enc == PWSCHEME_ENC_HEX ? "hex" : "base64");
    return NULL;
  }
  if (memchr(raw, '\0', len)) {
    *error = g_strdup("the decoded password contains a NUL octet");
    pwscheme_wipe_free(raw, len);
    return NULL;
  }
  char *secret = g_malloc(len + 1);
  memcpy(secret, raw, len);
  secret[len] = '\0';
  pwscheme_wipe_free(raw, len);
  return secret;
}

PoplarPasswordResult pwscheme_plain_verify(const PwschemeInfo *scheme,
                                           const char *value,
                                           PwschemeEncoding enc,
                                           const char *password, char **error)
{
  (void)scheme;
  char *secret = pwscheme_plain_decode(value, enc, error);
  if (!secret)
    return POPLAR_PASSWORD_MALFORMED;
  PoplarPasswordResult result = POPLAR_PASSWORD_MISMATCH;
  size_t len = strlen(secret);
  if (password && pwscheme_str_equal(password, secret, len))
    result = POPLAR_PASSWORD_MATCH;
  pwscheme_wipe_free(secret, len);
  return result;
}

PoplarPasswordResult pwscheme_digest_verify(const PwschemeInfo *scheme,
                                            const char *value,
                                            PwschemeEncoding enc,
                                            const char *password, char **error)
{
  const struct nettle_hash *hash = scheme->param;
  size_t len = 0;
  unsigned char *raw = pwscheme_decode_digest(
      value, enc, enc == scheme->default_enc,
      scheme->salted ? 0 : hash->digest_size, &len);
  if (!raw) {
    *error = g_strdup_printf("{%s} needs the %s of a %u-octet digest%s",
                             scheme->name,
                             enc == PWSCHEME_ENC_HEX ? "hex" : "base64",
                             hash->digest_size,
                             scheme->salted ? " followed by a salt" : "");
    return POPLAR_PASSWORD_MALFORMED;
  }
  if (scheme->salted && len <= hash->digest_size) {
    *error = g_strdup_printf("{%s} is too short: a %u-octet digest and at "
                             "least one octet of salt are needed",
                             scheme->name, hash->digest_size);
    pwscheme_wipe_free(raw, len);
    return POPLAR_PASSWORD_MALFORMED;
  }
  if (!password) {
    pwscheme_wipe_free(raw, len);
    return POPLAR_PASSWORD_MISMATCH;
  }

  void *ctx = g_malloc(hash->context_size);
  /* SHA-512's is the largest digest of the table. */
  unsigned char digest[SHA512_DIGEST_SIZE];
  g_assert(hash->digest_size <= sizeof digest);
  hash->init(ctx);
  hash->update(ctx, strlen(password), (const uint8_t *)password);
  if (scheme->salted)
    hash->update(ctx, len - hash->digest_size, raw + hash->digest_size);
  hash->digest(ctx, hash->digest_size, digest);
  bool equal = pwscheme_mem_equal(digest, raw, hash->digest_size);
  explicit_bzero(digest, sizeof digest);
  pwscheme_wipe_free(ctx, hash->context_size);
  pwscheme_wipe_free(raw, len);
  return equal ? POPLAR_PASSWORD_MATCH : POPLAR_PASSWORD_MISMATCH;
}

PoplarPasswordResult pwscheme_md5_verify(const PwschemeInfo *scheme,
                                         const char *value,
                                         PwschemeEncoding enc,
                                         const char *password, char **error)
{
  static const char *const md5_crypt[] = {"$1$", NULL};
  if (g_str_has_prefix(value, "$1$")) {
    const PwschemeInfo as_crypt = {.name = scheme->name, .param = md5_crypt};
    return pwscheme_crypt_verify(&as_crypt, value, PWSCHEME_ENC_NONE,
                                 password, error);
  }
  PwschemeInfo as_digest = *scheme;
  as_digest.param = &nettle_md5;
  return pwscheme_digest_verify(&as_digest, value, enc, password, error);
}
