/* SPDX-License-Identifier: MIT */
/*
 * Stored passwords: which schemes are understood, what a well-formed hash
 * looks like, and how an attempt is checked without the time taken telling
 * anything about the stored value or about whether the user exists.
 */
#include "passwd-file.h"

#include <crypt.h>
#include <errno.h>
#include <string.h>

typedef struct PwScheme {
  const char *name;
  PwKind kind;
  /* For a named crypt method, the hash prefixes it may carry; empty for
   * {CRYPT}, which takes any method crypt(3) knows. */
  const char *prefixes[4];
} PwScheme;

/* Dovecot's names first, so that its passwd-files read unchanged. */
static const PwScheme schemes[] = {
    {"PLAIN", PW_KIND_PLAIN, {NULL}},
    {"CLEARTEXT", PW_KIND_PLAIN, {NULL}},
    {"CLEAR", PW_KIND_PLAIN, {NULL}},
    {"CRYPT", PW_KIND_CRYPT, {NULL}},
    {"SHA512-CRYPT", PW_KIND_CRYPT, {"$6$", NULL}},
    {"SHA256-CRYPT", PW_KIND_CRYPT, {"$5$", NULL}},
    {"BLF-CRYPT", PW_KIND_CRYPT, {"$2b$", "$2y$", "$2a$", NULL}},
    {"BCRYPT", PW_KIND_CRYPT, {"$2b$", "$2y$", "$2a$", NULL}},
    {"YESCRYPT", PW_KIND_CRYPT, {"$y$", NULL}},
    {"MD5-CRYPT", PW_KIND_CRYPT, {"$1$", NULL}},
};

/* Digest lengths of the methods libxcrypt writes as $id$...$digest, so that
 * a hash truncated by a copy and paste is caught when the file is read
 * rather than when its user cannot log in. */
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

static gint crypt_call_count;

unsigned pw_crypt_calls(void)
{
  return (unsigned)g_atomic_int_get(&crypt_call_count);
}

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

/* Checks that @hash is a complete crypt(3) hash of a method this libcrypt
 * supports.  The messages name the method, never the hash's characters. */
static bool crypt_hash_check(const char *hash, char **error)
{
  size_t len = strlen(hash);
  for (const char *p = hash; *p; p++) {
    if ((unsigned char)*p <= ' ' || *p == 0x7f) {
      *error = g_strdup("the hash contains a blank or a control character");
      return false;
    }
  }
  if (hash[0] == '$') {
    if (is_bcrypt(hash)) {
      if (len != BCRYPT_HASH_LEN || !g_ascii_isdigit(hash[4]) ||
          !g_ascii_isdigit(hash[5]) || hash[6] != '$' ||
          !all_crypt64(hash + 7, len - 7)) {
        *error = g_strdup_printf("a bcrypt hash has %d characters "
                                 "($2b$NN$ then 53 of salt and digest); "
                                 "this one is damaged or truncated",
                                 BCRYPT_HASH_LEN);
        return false;
      }
    } else {
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
          *error = g_strdup_printf("the %s hash has a digest of %zu "
                                   "characters instead of %zu: it is "
                                   "damaged or truncated",
                                   id, strlen(digest),
                                   digest_lengths[i].digest_len);
          return false;
        }
      }
    }
  } else {
    bool des = len == DES_HASH_LEN && all_crypt64(hash, len);
    bool bsdi = len == BSDI_HASH_LEN && hash[0] == '_' &&
                all_crypt64(hash + 1, len - 1);
    if (!des && !bsdi) {
      *error = g_strdup("the password is neither a crypt(3) hash (such as "
                        "$6$..., $2b$..., $y$...) nor prefixed with a "
                        "scheme: write a plaintext password as {PLAIN}...");
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

static const PwScheme *scheme_lookup(const char *name, size_t len)
{
  for (size_t i = 0; i < G_N_ELEMENTS(schemes); i++) {
    if (strlen(schemes[i].name) == len &&
        g_ascii_strncasecmp(schemes[i].name, name, len) == 0)
      return &schemes[i];
  }
  return NULL;
}

static bool has_any_prefix(const char *hash, const char *const *prefixes)
{
  for (size_t i = 0; prefixes[i]; i++) {
    if (g_str_has_prefix(hash, prefixes[i]))
      return true;
  }
  return false;
}

bool pw_password_parse(const char *field, PwPassword *out, char **error)
{
  *error = NULL;
  out->kind = PW_KIND_NONE;
  out->value = NULL;
  if (field[0] == '\0')
    return true;

  const PwScheme *scheme = NULL;
  const char *value = field;
  if (field[0] == '{') {
    const char *close = strchr(field, '}');
    if (!close) {
      *error = g_strdup("the password starts with '{' but no '}' ends the "
                        "scheme name");
      return false;
    }
    size_t name_len = (size_t)(close - field - 1);
    scheme = scheme_lookup(field + 1, name_len);
    if (!scheme) {
      g_autofree char *name = g_strndup(field + 1, MIN(name_len, 40));
      g_autofree char *shown = g_strescape(name, NULL);
      *error = g_strdup_printf("unknown password scheme {%s} (known: PLAIN, "
                               "CLEARTEXT, CRYPT, SHA512-CRYPT, "
                               "SHA256-CRYPT, BLF-CRYPT, BCRYPT, YESCRYPT, "
                               "MD5-CRYPT)", shown);
      return false;
    }
    value = close + 1;
  }

  if (scheme && scheme->kind == PW_KIND_PLAIN) {
    if (value[0] == '\0') {
      *error = g_strdup_printf("{%s} with an empty password: leave the "
                               "whole field empty to disable the account",
                               scheme->name);
      return false;
    }
    out->kind = PW_KIND_PLAIN;
    out->value = g_strdup(value);
    return true;
  }

  if (!crypt_hash_check(value, error)) {
    if (scheme) {
      char *inner = *error;
      *error = g_strdup_printf("{%s}: %s", scheme->name, inner);
      g_free(inner);
    }
    return false;
  }
  if (scheme && scheme->prefixes[0] &&
      !has_any_prefix(value, scheme->prefixes)) {
    *error = g_strdup_printf("{%s} needs a hash starting with %s",
                             scheme->name, scheme->prefixes[0]);
    return false;
  }
  out->kind = PW_KIND_CRYPT;
  out->value = g_strdup(value);
  return true;
}

void pw_password_clear(PwPassword *pw)
{
  if (pw->value) {
    explicit_bzero(pw->value, strlen(pw->value));
    g_clear_pointer(&pw->value, g_free);
  }
  pw->kind = PW_KIND_NONE;
}

bool pw_equal_consttime(const char *a, const char *b)
{
  size_t a_len = strlen(a);
  size_t b_len = strlen(b);
  /* Walk the attempt's length, which its sender already knows; compare
   * against @b cyclically so that no branch depends on @b's contents. */
  volatile unsigned char diff = 0;
  for (size_t i = 0; i < a_len; i++) {
    unsigned char bc = b_len ? (unsigned char)b[i % b_len] : 0;
    diff |= (unsigned char)a[i] ^ bc;
  }
  return (diff | (unsigned char)(a_len != b_len)) == 0;
}

/* Hashes @attempt with the method, cost and salt of @hash and compares the
 * result with @hash in constant time. */
static PwCheck crypt_compare(const char *attempt, const char *hash)
{
  /* 32 KiB: per call rather than per thread, because the core's plugin
   * threads come and go, and its cost is small next to the hash's. */
  struct crypt_data *work = g_new0(struct crypt_data, 1);
  g_atomic_int_inc(&crypt_call_count);
  const char *out = crypt_rn(attempt, hash, work, (int)sizeof *work);
  int saved_errno = errno;
  PwCheck result;
  if (!out)
    result = PW_CHECK_FAILED;
  else
    result = pw_equal_consttime(out, hash) ? PW_CHECK_MATCH
                                           : PW_CHECK_MISMATCH;
  explicit_bzero(work, sizeof *work);
  g_free(work);
  errno = saved_errno;
  return result;
}

PwCheck pw_password_check(const PwPassword *pw, const char *attempt)
{
  switch (pw->kind) {
  case PW_KIND_PLAIN:
    return pw_equal_consttime(attempt, pw->value) ? PW_CHECK_MATCH
                                                  : PW_CHECK_MISMATCH;
  case PW_KIND_CRYPT:
    return crypt_compare(attempt, pw->value);
  case PW_KIND_NONE:
    break;
  }
  return PW_CHECK_MISMATCH;
}

void pw_hash_cost_class(const char *hash, char *buf, size_t size)
{
  size_t len = strlen(hash);
  size_t keep;
  if (is_bcrypt(hash)) {
    keep = MIN(len, 6); /* $2b$NN */
  } else if (hash[0] == '$') {
    /* Drop "$salt$digest": what remains is the method and its
     * parameters ("$6$rounds=N", "$y$j9T"). */
    const char *last = strrchr(hash, '$');
    const char *p = last;
    while (p > hash && *(p - 1) != '$')
      p--;
    keep = p > hash ? (size_t)(p - 1 - hash) : (size_t)(last - hash);
  } else if (hash[0] == '_') {
    keep = MIN(len, 5); /* _ and the round count */
  } else {
    keep = 0; /* traditional DES: one fixed cost */
  }
  if (keep == 0)
    g_strlcpy(buf, "des", size);
  else
    g_strlcpy(buf, hash, MIN(size, keep + 1));
}

static char *random_phrase(void)
{
  static const char alphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  char phrase[25];
  for (size_t i = 0; i < sizeof phrase - 1; i++)
    phrase[i] = alphabet[g_random_int_range(0, sizeof alphabet - 1)];
  phrase[sizeof phrase - 1] = '\0';
  return g_strdup(phrase);
}

/* The earliest entry of the file's most common cost class, or NULL when
 * the file holds no hash. */
static const PwEntry *typical_hashed_entry(const PwTable *t)
{
  g_autoptr(GHashTable) counts =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  unsigned top = 0;
  for (guint i = 0; i < t->entries->len; i++) {
    const PwEntry *e = g_ptr_array_index(t->entries, i);
    if (e->password.kind != PW_KIND_CRYPT)
      continue;
    char cls[64];
    pw_hash_cost_class(e->password.value, cls, sizeof cls);
    unsigned n = GPOINTER_TO_UINT(g_hash_table_lookup(counts, cls)) + 1;
    g_hash_table_insert(counts, g_strdup(cls), GUINT_TO_POINTER(n));
    top = MAX(top, n);
  }
  for (guint i = 0; i < t->entries->len; i++) {
    const PwEntry *e = g_ptr_array_index(t->entries, i);
    if (e->password.kind != PW_KIND_CRYPT)
      continue;
    char cls[64];
    pw_hash_cost_class(e->password.value, cls, sizeof cls);
    if (GPOINTER_TO_UINT(g_hash_table_lookup(counts, cls)) == top)
      return e;
  }
  return NULL;
}

bool pw_table_prepare_dummy(PwTable *t, char **error)
{
  *error = NULL;
  pw_password_clear(&t->dummy);
  g_autofree char *phrase = random_phrase();
  const PwEntry *typical = typical_hashed_entry(t);
  if (!typical) {
    /* A file of {PLAIN} passwords: checking one costs a comparison. */
    t->dummy.kind = PW_KIND_PLAIN;
    t->dummy.value = g_steal_pointer(&phrase);
    return true;
  }
  /* Hashing a random phrase with the typical entry's setting gives a hash
   * of the same method and cost that matches no real password. */
  struct crypt_data *work = g_new0(struct crypt_data, 1);
  const char *out = crypt_rn(phrase, typical->password.value, work,
                             (int)sizeof *work);
  if (out) {
    t->dummy.kind = PW_KIND_CRYPT;
    t->dummy.value = g_strdup(out);
  } else {
    *error = g_strdup_printf("crypt(3) cannot hash with the setting of the "
                             "user on line %u: %s",
                             typical->line, g_strerror(errno));
  }
  explicit_bzero(work, sizeof *work);
  g_free(work);
  explicit_bzero(phrase, strlen(phrase));
  return out != NULL;
}

void pw_table_burn_dummy(const PwTable *t, const char *attempt)
{
  /* volatile: the result is unused, yet the check must run in full. */
  volatile PwCheck result = pw_password_check(&t->dummy, attempt);
  (void)result;
}
