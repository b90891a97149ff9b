/* SPDX-License-Identifier: MIT */
/*
 * crypt(3) schemes: CRYPT takes any method this system's libxcrypt knows;
 * a named method (SHA512-CRYPT...) also needs its prefix.  A hash is
 * checked for its shape first, so that one damaged by a copy and paste is
 * told apart from a wrong password.
 */
#include "password-private.h"

#include <crypt.h>
#include <errno.h>
#include <string.h>

/* Digest lengths of the methods libxcrypt writes as $id$...$digest. */
static const struct {
  const char *id;
  size_t digest_len;
} digest_lengths[] = {
    {"$1$", 22}, {"$5$", 43}, {"$6$", 86}, {"$y$", 43}, {"$gy$", 43},
    {"$7$", 43},
};

/* bcrypt: $2b$NN$ + 22 characters of salt + 31 of digest. */
#define BCRYPT_HASH_LEN 60
/* Traditional DES crypt: 2 characters of salt + 11 of digest. */
#define DES_HASH_LEN 13
/* BSDi extended DES: _ + 4 count + 4 salt + 11 digest. */
#define BSDI_HASH_LEN 20

static bool is_crypt64(char c)
{
  return g_ascii_isalnum(c) || c == '.' || c == '/';
}

static bool all_crypt64(const char *s, size_t len)
{
  for (size_t i = 0; i < len; i++) {
    if (!is_crypt64(s[i]))
      return false;
  }
  return true;
}

static bool is_bcrypt(const char *hash)
{
  return hash[0] == '$' && hash[1] == '2' && hash[2] && hash[3] == '$';
}

static bool modular_hash_check(const char *hash, char **error)
{
  if (is_bcrypt(hash)) {
    size_t len = strlen(hash);
    if (len != BCRYPT_HASH_LEN || !g_ascii_isdigit(hash[4]) ||
        !g_ascii_isdigit(hash[5]) || hash[6] != '$' ||
        !all_crypt64(hash + 7, len - 7)) {
      *error = g_strdup_printf("a bcrypt hash has %d characters "
                               "($2b$NN$ then 53 of salt and digest); "
                               "this one is damaged or truncated",
                               BCRYPT_HASH_LEN);
      return false;
    }
    return true;
  }
  unsigned dollars = 0;
  for (const char *p = hash; *p; p++)
    dollars += *p == '$';
  const char *digest = strrchr(hash, '$') + 1;
  if (dollars < 3 || !digest[0]) {
    *error = g_strdup("the hash is incomplete: a crypt(3) hash reads "
                      "$method$salt$digest");
    return false;
  }
  for (size_t i = 0; i < G_N_ELEMENTS(digest_lengths); i++) {
    const char *id = digest_lengths[i].id;
    if (strncmp(hash, id, strlen(id)) == 0 &&
        strlen(digest) != digest_lengths[i].digest_len) {
      *error = g_strdup_printf("the %s hash has a digest of %zu characters "
                               "instead of %zu: it is damaged or truncated",
                               id, strlen(digest),
                               digest_lengths[i].digest_len);
      return false;
    }
  }
  return true;
}

/* Checks that @hash is a complete crypt(3) hash of a method this libcrypt
 * supports.  The messages name the method, never the hash's characters. */
static bool crypt_hash_check(const char *hash, char **error)
{
  for (const char *p = hash; *p; p++) {
    if ((unsigned char)*p <= ' ' || *p == 0x7f) {
      *error = g_strdup("the hash contains a blank or a control character");
      return false;
    }
  }
  if (hash[0] == '$') {
    if (!modular_hash_check(hash, error))
      return false;
  } else {
    size_t len = strlen(hash);
    bool des = len == DES_HASH_LEN && all_crypt64(hash, len);
    bool bsdi = len == BSDI_HASH_LEN && hash[0] == '_' &&
                all_crypt64(hash + 1, len - 1);
    if (!des && !bsdi) {
      *error = g_strdup("the value is not a crypt(3) hash (such as $6$..., "
                        "$2b$..., $y$...): write a plaintext password as "
                        "{PLAIN}...");
      return false;
    }
  }
  int salt = crypt_checksalt(hash);
  if (salt != CRYPT_SALT_OK && salt != CRYPT_SALT_METHOD_LEGACY) {
    *error = g_strdup("crypt(3) on this system does not support the hash's "
                      "method");
    return false;
  }
  return true;
}

static bool has_any_prefix(const char *hash, const char *const *prefixes)
{
  for (size_t i = 0; prefixes[i]; i++) {
    if (g_str_has_prefix(hash, prefixes[i]))
      return true;
  }
  return false;
}

PoplarPasswordResult pwscheme_crypt_verify(const PwschemeInfo *scheme,
                                           const char *value,
                                           PwschemeEncoding enc,
                                           const char *password, char **error)
{
  (void)enc;
  const char *const *prefixes = scheme->param;
  if (!crypt_hash_check(value, error))
    return POPLAR_PASSWORD_MALFORMED;
  if (prefixes && !has_any_prefix(value, prefixes)) {
    *error = g_strdup_printf("{%s} needs a hash starting with %s",
                             scheme->name, prefixes[0]);
    return POPLAR_PASSWORD_MALFORMED;
  }
  if (!password)
    return POPLAR_PASSWORD_MISMATCH;
  /* No hash of libxcrypt was made from a longer passphrase. */
  if (strlen(password) >= CRYPT_MAX_PASSPHRASE_SIZE)
    return POPLAR_PASSWORD_MISMATCH;

  /* 32 KiB: per call rather than per thread, because callers' threads
   * come and go, and its cost is small next to the hash's. */
  struct crypt_data *work = g_new0(struct crypt_data, 1);
  const char *out = crypt_rn(password, value, work, (int)sizeof *work);
  int saved_errno = errno;
  PoplarPasswordResult result;
  if (!out) {
    *error = g_strdup_printf("crypt(3) failed: %s", g_strerror(saved_errno));
    result = POPLAR_PASSWORD_FAILED;
  } else {
    result = pwscheme_str_equal(out, value, strlen(value))
                 ? POPLAR_PASSWORD_MATCH
                 : POPLAR_PASSWORD_MISMATCH;
  }
  explicit_bzero(work, sizeof *work);
  g_free(work);
  errno = saved_errno;
  return result;
}
