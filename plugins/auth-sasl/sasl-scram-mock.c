/* SPDX-License-Identifier: MIT */
/*
 * The server-first message of a SCRAM exchange (RFC 5802 section 7) for a
 * user that does not exist.  It looks like libsasl2's for a real user: a
 * 32-octet salt that is the same for the same name for the life of the
 * process (a keyed hash of the name), libsasl2's default 4096 iterations,
 * and a server nonce of 32 characters.
 */
#include "auth-sasl.h"

#include <string.h>
#include <sys/random.h>

/* libsasl2's defaults, so that a mock message is alike in form. */
#define MOCK_SALT_LEN 32
#define MOCK_NONCE_OCTETS 24 /* 32 characters in base64 */
#define MOCK_ITERATIONS 4096

static bool random_bytes(unsigned char *buf, size_t len)
{
  size_t done = 0;
  while (done < len) {
    ssize_t n = getrandom(buf + done, len - done, 0);
    if (n < 0)
      return false;
    done += (size_t)n;
  }
  return true;
}

/* The key of the salt hash: random, made once per process. */
static const unsigned char *salt_key(void)
{
  static unsigned char key[32];
  static gsize ready = 0;
  if (g_once_init_enter(&ready)) {
    if (!random_bytes(key, sizeof key)) {
      /* Without the kernel's randomness the salts are merely stable;
       * they still reveal nothing about which users exist. */
      for (size_t i = 0; i < sizeof key; i++)
        key[i] = (unsigned char)g_random_int();
    }
    g_once_init_leave(&ready, 1);
  }
  return key;
}

/* RFC 5802 section 7: printable characters except ','. */
static bool nonce_valid(const char *s, size_t len)
{
  if (len == 0)
    return false;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < 0x21 || s[i] > 0x7e || s[i] == ',')
      return false;
  }
  return true;
}

/* Finds "<name>=" as the attribute at @p; returns its value's end. */
static const char *attribute(const char *p, const char *end, char name,
                             const char **value)
{
  if (end - p < 2 || p[0] != name || p[1] != '=')
    return NULL;
  *value = p + 2;
  const char *comma = memchr(*value, ',', (size_t)(end - *value));
  return comma ? comma : end;
}

/* RFC 5802 section 5.1: "=2C" and "=3D" stand for ',' and '='. */
static char *decode_saslname(const char *s, size_t len)
{
  GString *out = g_string_sized_new(len);
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '=' && i + 2 < len && s[i + 1] == '2' && s[i + 2] == 'C') {
      g_string_append_c(out, ',');
      i += 2;
    } else if (s[i] == '=' && i + 2 < len && s[i + 1] == '3' &&
               s[i + 2] == 'D') {
      g_string_append_c(out, '=');
      i += 2;
    } else {
      g_string_append_c(out, s[i]);
    }
  }
  return g_string_free(out, FALSE);
}

char *auth_sasl_scram_mock_first(const unsigned char *client_first,
                                 size_t len, size_t *out_len, char **user_out)
{
  const char *p = (const char *)client_first;
  const char *end = p + len;
  if (memchr(p, '\0', len))
    return NULL;
  /* gs2-header: cbind-flag "," [authzid] "," */
  const char *comma = memchr(p, ',', len);
  if (!comma)
    return NULL;
  comma = memchr(comma + 1, ',', (size_t)(end - comma - 1));
  if (!comma)
    return NULL;
  p = comma + 1;
  /* client-first-message-bare: [reserved-mext ","] username "," nonce */
  const char *value = NULL;
  const char *user_end = attribute(p, end, 'n', &value);
  if (!user_end || user_end == value || user_end == end)
    return NULL;
  const char *user = value;
  size_t user_len = (size_t)(user_end - value);
  const char *nonce_end = attribute(user_end + 1, end, 'r', &value);
  if (!nonce_end || !nonce_valid(value, (size_t)(nonce_end - value)))
    return NULL;
  const char *nonce = value;
  size_t nonce_len = (size_t)(nonce_end - value);

  unsigned char salt[MOCK_SALT_LEN];
  gsize salt_len = sizeof salt;
  GHmac *hmac = g_hmac_new(G_CHECKSUM_SHA256, salt_key(), 32);
  g_hmac_update(hmac, (const guchar *)user, (gssize)user_len);
  g_hmac_get_digest(hmac, salt, &salt_len);
  g_hmac_unref(hmac);

  unsigned char server_nonce[MOCK_NONCE_OCTETS];
  if (!random_bytes(server_nonce, sizeof server_nonce)) {
    for (size_t i = 0; i < sizeof server_nonce; i++)
      server_nonce[i] = (unsigned char)g_random_int();
  }
  g_autofree char *snonce = g_base64_encode(server_nonce, sizeof server_nonce);
  g_autofree char *salt64 = g_base64_encode(salt, salt_len);
  char *out = g_strdup_printf("r=%.*s%s,s=%s,i=%d", (int)nonce_len, nonce,
                              snonce, salt64, MOCK_ITERATIONS);
  *out_len = strlen(out);
  *user_out = decode_saslname(user, user_len);
  return out;
}
