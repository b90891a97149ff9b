/* SPDX-License-Identifier: MIT */
/*
 * Password schemes: the table of Dovecot's names, "{SCHEME.ENC}value"
 * parsing, and the public functions of poplar/password.h.  Each scheme's
 * work is in its own password-*.c file.
 */
#include "password-private.h"

#include <argon2.h>
#include <nettle/nettle-meta.h>
#include <stdlib.h>
#include <string.h>

/* Scheme names in error messages are cut to this. */
#define SCHEME_NAME_SHOWN_MAX 40

static const char *const md5_crypt[] = {"$1$", NULL};
static const char *const sha256_crypt[] = {"$5$", NULL};
static const char *const sha512_crypt[] = {"$6$", NULL};
static const char *const blf_crypt[] = {"$2b$", "$2y$", "$2a$", NULL};
static const char *const yescrypt[] = {"$y$", NULL};
static const argon2_type argon2i = Argon2_i;
static const argon2_type argon2id = Argon2_id;

#define CRYPT_SCHEME(n, prefixes)                                          \
  {.name = n, .verify = pwscheme_crypt_verify, .param = prefixes}
#define DIGEST_SCHEME(n, enc, hash, salt)                                  \
  {.name = n, .verify = pwscheme_digest_verify, .default_enc = enc,       \
   .param = &hash, .salted = salt}
#define PLAIN_SCHEME(n)                                                    \
  {.name = n, .verify = pwscheme_plain_verify, .plaintext = true}

static const PwschemeInfo schemes[] = {
    CRYPT_SCHEME("CRYPT", NULL),
    CRYPT_SCHEME("DES-CRYPT", NULL),
    CRYPT_SCHEME("MD5-CRYPT", md5_crypt),
    CRYPT_SCHEME("SHA256-CRYPT", sha256_crypt),
    CRYPT_SCHEME("SHA512-CRYPT", sha512_crypt),
    CRYPT_SCHEME("BLF-CRYPT", blf_crypt),
    CRYPT_SCHEME("BCRYPT", blf_crypt),
    CRYPT_SCHEME("YESCRYPT", yescrypt),
    PLAIN_SCHEME("PLAIN"),
    PLAIN_SCHEME("CLEARTEXT"),
    PLAIN_SCHEME("CLEAR"),
    {.name = "MD5", .verify = pwscheme_md5_verify,
     .default_enc = PWSCHEME_ENC_HEX},
    DIGEST_SCHEME("PLAIN-MD5", PWSCHEME_ENC_HEX, nettle_md5, false),
    DIGEST_SCHEME("LDAP-MD5", PWSCHEME_ENC_BASE64, nettle_md5, false),
    DIGEST_SCHEME("SMD5", PWSCHEME_ENC_BASE64, nettle_md5, true),
    DIGEST_SCHEME("SHA", PWSCHEME_ENC_BASE64, nettle_sha1, false),
    DIGEST_SCHEME("SHA1", PWSCHEME_ENC_BASE64, nettle_sha1, false),
    DIGEST_SCHEME("SSHA", PWSCHEME_ENC_BASE64, nettle_sha1, true),
    DIGEST_SCHEME("SHA256", PWSCHEME_ENC_BASE64, nettle_sha256, false),
    DIGEST_SCHEME("SSHA256", PWSCHEME_ENC_BASE64, nettle_sha256, true),
    DIGEST_SCHEME("SHA512", PWSCHEME_ENC_BASE64, nettle_sha512, false),
    DIGEST_SCHEME("SSHA512", PWSCHEME_ENC_BASE64, nettle_sha512, true),
    {.name = "ARGON2I", .verify = pwscheme_argon2_verify, .param = &argon2i},
    {.name = "ARGON2ID", .verify = pwscheme_argon2_verify,
     .param = &argon2id},
    {.name = "PBKDF2", .verify = pwscheme_pbkdf2_verify},
    {.name = "CRAM-MD5", .verify = pwscheme_cram_md5_verify,
     .default_enc = PWSCHEME_ENC_HEX},
    {.name = "HMAC-MD5", .verify = pwscheme_cram_md5_verify,
     .default_enc = PWSCHEME_ENC_HEX},
};

static const struct {
  const char *suffix;
  PwschemeEncoding enc;
} encodings[] = {
    {"HEX", PWSCHEME_ENC_HEX},
    {"B64", PWSCHEME_ENC_BASE64},
    {"BASE64", PWSCHEME_ENC_BASE64},
};

static const PwschemeInfo *scheme_by_name(const char *name, size_t len)
{
  for (size_t i = 0; i < G_N_ELEMENTS(schemes); i++) {
    if (strlen(schemes[i].name) == len &&
        g_ascii_strncasecmp(schemes[i].name, name, len) == 0)
      return &schemes[i];
  }
  return NULL;
}

/* Finds the scheme @name (@len octets, without braces, perhaps with an
 * encoding suffix) and the encoding its value is in. */
static const PwschemeInfo *scheme_resolve(const char *name, size_t len,
                                          PwschemeEncoding *enc)
{
  const PwschemeInfo *s = scheme_by_name(name, len);
  if (s) {
    *enc = s->default_enc;
    return s;
  }
  const char *dot = memchr(name, '.', len);
  if (!dot)
    return NULL;
  size_t base_len = (size_t)(dot - name);
  size_t suffix_len = len - base_len - 1;
  s = scheme_by_name(name, base_len);
  /* Only values that are octets can be in another encoding. */
  if (!s || (s->default_enc == PWSCHEME_ENC_NONE && !s->plaintext))
    return NULL;
  for (size_t i = 0; i < G_N_ELEMENTS(encodings); i++) {
    if (strlen(encodings[i].suffix) == suffix_len &&
        g_ascii_strncasecmp(encodings[i].suffix, dot + 1, suffix_len) == 0) {
      *enc = encodings[i].enc;
      return s;
    }
  }
  return NULL;
}

static char *shown_name(const char *name, size_t len)
{
  g_autofree char *cut = g_strndup(name, MIN(len, SCHEME_NAME_SHOWN_MAX));
  return g_strescape(cut, NULL);
}

/* Splits @stored into its scheme and value.  Returns UNSUPPORTED_SCHEME or
 * MALFORMED with *@error set when it cannot, else MISMATCH. */
static PoplarPasswordResult split_stored(const char *stored,
                                         const char *default_scheme,
                                         const PwschemeInfo **scheme,
                                         PwschemeEncoding *enc,
                                         const char **value, char **error)
{
  const char *name;
  size_t name_len;
  if (stored[0] == '{') {
    const char *close = strchr(stored, '}');
    if (!close) {
      *error = g_strdup("the value starts with '{' but no '}' ends the "
                        "scheme name");
      return POPLAR_PASSWORD_MALFORMED;
    }
    name = stored + 1;
    name_len = (size_t)(close - name);
    *value = close + 1;
  } else if (default_scheme) {
    name = default_scheme;
    name_len = strlen(default_scheme);
    *value = stored;
  } else {
    *error = g_strdup("the value has no {SCHEME} prefix");
    return POPLAR_PASSWORD_MALFORMED;
  }
  *scheme = scheme_resolve(name, name_len, enc);
  if (!*scheme) {
    g_autofree char *shown = shown_name(name, name_len);
    *error = g_strdup_printf("unknown password scheme {%s}", shown);
    return POPLAR_PASSWORD_UNSUPPORTED_SCHEME;
  }
  return POPLAR_PASSWORD_MISMATCH;
}

/* The check behind every public function; @password NULL checks the form
 * only (MISMATCH: well formed).  *@error is g_malloc'd. */
static PoplarPasswordResult check(const char *stored, const char *password,
                                  const char *default_scheme, char **error)
{
  const PwschemeInfo *scheme = NULL;
  PwschemeEncoding enc = PWSCHEME_ENC_NONE;
  const char *value = NULL;
  PoplarPasswordResult r =
      split_stored(stored, default_scheme, &scheme, &enc, &value, error);
  if (r != POPLAR_PASSWORD_MISMATCH)
    return r;
  r = scheme->verify(scheme, value, enc, password, error);
  if (*error && (*error)[0] != '{') {
    char *inner = *error;
    *error = g_strdup_printf("{%s}: %s", scheme->name, inner);
    g_free(inner);
  }
  return r;
}

/* Hands a g_malloc'd message over as a malloc'd one, as the header
 * promises, whichever allocator GLib uses. */
static void give_error(char *error, char **error_out)
{
  if (error_out)
    *error_out = error ? strdup(error) : NULL;
  g_free(error);
}

PoplarPasswordResult poplar_password_verify(const char *stored,
                                            const char *password,
                                            const char *default_scheme,
                                            char **error_out)
{
  char *error = NULL;
  PoplarPasswordResult r;
  if (!stored || !password) {
    error = g_strdup("no stored value or no password given");
    r = POPLAR_PASSWORD_FAILED;
  } else {
    r = check(stored, password, default_scheme, &error);
  }
  give_error(error, error_out);
  return r;
}

bool poplar_password_check_format(const char *stored,
                                  const char *default_scheme,
                                  char **error_out)
{
  char *error = NULL;
  bool ok = false;
  if (!stored)
    error = g_strdup("no stored value given");
  else
    ok = check(stored, NULL, default_scheme, &error) ==
         POPLAR_PASSWORD_MISMATCH;
  give_error(error, error_out);
  return ok;
}

bool poplar_password_scheme_supported(const char *scheme)
{
  PwschemeEncoding enc;
  return scheme && scheme_resolve(scheme, strlen(scheme), &enc) != NULL;
}

char *poplar_password_plaintext(const char *stored,
                                const char *default_scheme)
{
  if (!stored)
    return NULL;
  const PwschemeInfo *scheme = NULL;
  PwschemeEncoding enc = PWSCHEME_ENC_NONE;
  const char *value = NULL;
  char *error = NULL;
  if (split_stored(stored, default_scheme, &scheme, &enc, &value, &error) !=
          POPLAR_PASSWORD_MISMATCH ||
      !scheme->plaintext) {
    g_free(error);
    return NULL;
  }
  char *secret = pwscheme_plain_decode(value, enc, &error);
  g_free(error);
  if (!secret)
    return NULL;
  char *out = strdup(secret);
  pwscheme_wipe_free(secret, strlen(secret));
  return out;
}
