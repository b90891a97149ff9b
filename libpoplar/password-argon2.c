/* SPDX-License-Identifier: MIT */
/*
 * ARGON2I and ARGON2ID: the value is libargon2's encoded form,
 * "$argon2id$v=19$m=65536,t=3,p=1$salt$hash" (salt and hash in base64
 * without padding), which is what Dovecot and the argon2 tool write.
 * libargon2 compares the hashes in constant time.
 */
#include "password-private.h"

#include <argon2.h>
#include <stdio.h>
#include <string.h>

/* The smallest salt and hash libargon2 accepts. */
#define ARGON2_SALT_MIN 8
#define ARGON2_HASH_MIN 4

static bool base64_field(const char *start, size_t len, size_t min)
{
  g_autofree char *field = g_strndup(start, len);
  size_t decoded = 0;
  unsigned char *raw =
      pwscheme_decode(field, PWSCHEME_ENC_BASE64, &decoded);
  if (!raw)
    return false;
  pwscheme_wipe_free(raw, decoded);
  return decoded >= min;
}

/* Checks the form of @value for @type without hashing anything. */
static bool argon2_form_check(const char *value, argon2_type type,
                              char **error)
{
  g_autofree char *prefix =
      g_strdup_printf("$%s$", argon2_type2string(type, 0));
  const char *p = value;
  if (!g_str_has_prefix(p, prefix)) {
    *error = g_strdup_printf("the hash must start with %s", prefix);
    return false;
  }
  p += strlen(prefix);
  unsigned version = 0x10;
  int used = 0;
  if (sscanf(p, "v=%u$%n", &version, &used) == 1 && used > 0)
    p += used;
  unsigned m = 0, t = 0, par = 0;
  used = 0;
  if (sscanf(p, "m=%u,t=%u,p=%u$%n", &m, &t, &par, &used) != 3 ||
      used == 0 || (version != 0x10 && version != 0x13) || t < 1 ||
      par < 1 || m < 8 * par) {
    *error = g_strdup("the parameters must read v=19$m=MEMORY,t=TIME,"
                      "p=LANES$ with sensible values");
    return false;
  }
  p += used;
  const char *dollar = strchr(p, '$');
  if (!dollar || !base64_field(p, (size_t)(dollar - p), ARGON2_SALT_MIN) ||
      !base64_field(dollar + 1, strlen(dollar + 1), ARGON2_HASH_MIN)) {
    *error = g_strdup("the salt and hash must be base64, of at least 8 "
                      "and 4 octets");
    return false;
  }
  return true;
}

PoplarPasswordResult pwscheme_argon2_verify(const PwschemeInfo *scheme,
                                            const char *value,
                                            PwschemeEncoding enc,
                                            const char *password,
                                            char **error)
{
  (void)enc;
  argon2_type type = *(const argon2_type *)scheme->param;
  if (!argon2_form_check(value, type, error))
    return POPLAR_PASSWORD_MALFORMED;
  if (!password)
    return POPLAR_PASSWORD_MISMATCH;
  int rc = argon2_verify(value, password, strlen(password), type);
  switch (rc) {
  case ARGON2_OK:
    return POPLAR_PASSWORD_MATCH;
  case ARGON2_VERIFY_MISMATCH:
    return POPLAR_PASSWORD_MISMATCH;
  case ARGON2_MEMORY_ALLOCATION_ERROR:
  case ARGON2_THREAD_FAIL:
    *error = g_strdup_printf("argon2: %s", argon2_error_message(rc));
    return POPLAR_PASSWORD_FAILED;
  default:
    *error = g_strdup_printf("argon2: %s", argon2_error_message(rc));
    return POPLAR_PASSWORD_MALFORMED;
  }
}
