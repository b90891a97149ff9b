/* SPDX-License-Identifier: MIT */
/*
 * Password schemes inside libpoplar: what each scheme file provides to the
 * dispatcher (password.c) and the helpers they share.  Never installed.
 *
 *   password.c          "{SCHEME.ENC}" parsing, the scheme table, the
 *                       public functions
 *   password-util.c     hex and base64 decoding, constant-time comparison
 *   password-crypt.c    crypt(3) schemes (libxcrypt)
 *   password-digest.c   PLAIN, unsalted and salted MD5/SHA digests
 *   password-argon2.c   ARGON2I, ARGON2ID (libargon2)
 *   password-pbkdf2.c   PBKDF2 (Dovecot's format)
 *   password-cram-md5.c CRAM-MD5 (Dovecot's stored HMAC-MD5 context)
 */
#ifndef POPLAR_PASSWORD_PRIVATE_H
#define POPLAR_PASSWORD_PRIVATE_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

#include "poplar/password.h"

G_BEGIN_DECLS

typedef enum PwschemeEncoding {
  PWSCHEME_ENC_NONE,   /* the value is read as it is */
  PWSCHEME_ENC_HEX,
  PWSCHEME_ENC_BASE64,
} PwschemeEncoding;

typedef struct PwschemeInfo PwschemeInfo;

/* Checks @password against @value (the stored value without its
 * "{SCHEME}").  With @password NULL only the form of @value is checked,
 * and MISMATCH means it is well formed.  @enc is the encoding the value is
 * in: the scheme's default or the one its suffix named.  Sets *@error (a
 * g_malloc'd sentence without the value) for MALFORMED and FAILED. */
typedef PoplarPasswordResult (*PwschemeVerifyFunc)(const PwschemeInfo *scheme,
                                                   const char *value,
                                                   PwschemeEncoding enc,
                                                   const char *password,
                                                   char **error);

struct PwschemeInfo {
  const char *name;
  PwschemeVerifyFunc verify;
  /* The encoding of a value without a suffix; PWSCHEME_ENC_NONE for
   * schemes that take no suffix at all. */
  PwschemeEncoding default_enc;
  /* Scheme-specific: the digest (a struct nettle_hash), or the crypt(3)
   * prefixes a named crypt method accepts. */
  const void *param;
  /* The digest is followed by a salt of at least one octet. */
  bool salted;
  /* The value is the secret itself. */
  bool plaintext;
};

/* ---- the schemes, one entry point per file ---------------------------- */

PoplarPasswordResult pwscheme_crypt_verify(const PwschemeInfo *scheme,
                                           const char *value,
                                           PwschemeEncoding enc,
                                           const char *password,
                                           char **error);
PoplarPasswordResult pwscheme_plain_verify(const PwschemeInfo *scheme,
                                           const char *value,
                                           PwschemeEncoding enc,
                                           const char *password,
                                           char **error);
PoplarPasswordResult pwscheme_digest_verify(const PwschemeInfo *scheme,
                                            const char *value,
                                            PwschemeEncoding enc,
                                            const char *password,
                                            char **error);
/* MD5: MD5-CRYPT for a "$1$" value, PLAIN-MD5 otherwise (Dovecot's). */
PoplarPasswordResult pwscheme_md5_verify(const PwschemeInfo *scheme,
                                         const char *value,
                                         PwschemeEncoding enc,
                                         const char *password, char **error);
PoplarPasswordResult pwscheme_argon2_verify(const PwschemeInfo *scheme,
                                            const char *value,
                                            PwschemeEncoding enc,
                                            const char *password,
                                            char **error);
PoplarPasswordResult pwscheme_pbkdf2_verify(const PwschemeInfo *scheme,
                                            const char *value,
                                            PwschemeEncoding enc,
                                            const char *password,
                                            char **error);
PoplarPasswordResult pwscheme_cram_md5_verify(const PwschemeInfo *scheme,
                                              const char *value,
                                              PwschemeEncoding enc,
                                              const char *password,
                                              char **error);

/* The plaintext a PLAIN-family @value holds, decoded from @enc; NULL with
 * *@error set when it does not decode (or decodes to a NUL).  Wipe before
 * freeing with g_free. */
char *pwscheme_plain_decode(const char *value, PwschemeEncoding enc,
                            char **error);

/* ---- helpers (password-util.c) ---------------------------------------- */

/* Decodes @text (hex digits, either case; or base64, padded or not) into
 * a new buffer of *@len octets; NULL when @text is not in that encoding. */
unsigned char *pwscheme_decode(const char *text, PwschemeEncoding enc,
                               size_t *len);
/* Decodes a stored digest value of @want octets (0: any length) as
 * Dovecot does: in @enc, and, with @may_guess (no suffix named the
 * encoding), in the other encoding when @enc fails or gives the wrong
 * length. */
unsigned char *pwscheme_decode_digest(const char *text, PwschemeEncoding enc,
                                      bool may_guess, size_t want,
                                      size_t *len);
/* True when the @len octets at @a and @b are equal; the time depends on
 * @len only. */
bool pwscheme_mem_equal(const void *a, const void *b, size_t len);
/* True when @attempt equals @secret; the time depends on @attempt's length
 * only, never on where they differ nor on @secret's length. */
bool pwscheme_str_equal(const char *attempt, const char *secret,
                        size_t secret_len);
/* Wipes @len octets at @p and frees it (g_free). */
void pwscheme_wipe_free(void *p, size_t len);

G_END_DECLS

#endif /* POPLAR_PASSWORD_PRIVATE_H */
