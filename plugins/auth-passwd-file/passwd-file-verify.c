/* SPDX-License-Identifier: MIT */
/*
 * Stored passwords: libpoplar's schemes (poplar/password.h) say what a
 * well-formed value is and whether an attempt matches; this file adds what
 * is the passwd-file's own: {PLAIN} entries for APOP, and the dummy check
 * that makes an unknown user cost what a typical user of the file costs.
 */
#include "passwd-file.h"

#include <crypt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A bare value (no {SCHEME}) is a crypt(3) hash, as in Dovecot's
 * passwd-files and /etc/shadow. */
#define PW_DEFAULT_SCHEME "CRYPT"

static gint hash_check_count;

unsigned pw_hash_checks(void)
{
  return (unsigned)g_atomic_int_get(&hash_check_count);
}

/* Copies a message of libpoplar (malloc'd) into GLib's allocator. */
static char *take_error(char *error)
{
  char *copy = g_strdup(error ? error : "unknown error");
  free(error);
  return copy;
}

bool pw_password_parse(const char *field, PwPassword *out, char **error)
{
  *error = NULL;
  out->kind = PW_KIND_NONE;
  out->value = NULL;
  if (field[0] == '\0')
    return true;

  char *why = NULL;
  if (!poplar_password_check_format(field, PW_DEFAULT_SCHEME, &why)) {
    *error = take_error(why);
    return false;
  }
  char *secret = poplar_password_plaintext(field, PW_DEFAULT_SCHEME);
  if (secret) {
    bool empty = secret[0] == '\0';
    explicit_bzero(secret, strlen(secret));
    free(secret);
    if (empty) {
      *error = g_strdup("a plaintext scheme with an empty password: leave "
                        "the whole field empty to disable the account");
      return false;
    }
    out->kind = PW_KIND_PLAIN;
  } else {
    out->kind = PW_KIND_HASH;
  }
  out->value = g_strdup(field);
  return true;
}

char *pw_password_secret(const PwPassword *pw)
{
  if (pw->kind != PW_KIND_PLAIN)
    return NULL;
  char *secret = poplar_password_plaintext(pw->value, PW_DEFAULT_SCHEME);
  char *copy = g_strdup(secret);
  if (secret) {
    explicit_bzero(secret, strlen(secret));
    free(secret);
  }
  return copy;
}

void pw_password_clear(PwPassword *pw)
{
  if (pw->value) {
    explicit_bzero(pw->value, strlen(pw->value));
    g_clear_pointer(&pw->value, g_free);
  }
  pw->kind = PW_KIND_NONE;
}

PwCheck pw_password_check(const PwPassword *pw, const char *attempt,
                          char **error)
{
  if (error)
    *error = NULL;
  if (pw->kind == PW_KIND_NONE)
    return PW_CHECK_MISMATCH;
  if (pw->kind == PW_KIND_HASH)
    g_atomic_int_inc(&hash_check_count);
  char *why = NULL;
  PoplarPasswordResult r =
      poplar_password_verify(pw->value, attempt, PW_DEFAULT_SCHEME, &why);
  switch (r) {
  case POPLAR_PASSWORD_MATCH:
    return PW_CHECK_MATCH;
  case POPLAR_PASSWORD_MISMATCH:
    return PW_CHECK_MISMATCH;
  default:
    /* The file's values were checked when it was read: only a failure to
     * run the check (out of memory) gets here. */
    if (error)
      *error = take_error(why);
    else
      free(why);
    return PW_CHECK_FAILED;
  }
}

/* The part of @value after a "{SCHEME}" prefix, and the scheme's name in
 * @scheme (empty for a bare crypt(3) hash). */
static const char *split_scheme(const char *value, char *scheme, size_t size)
{
  scheme[0] = '\0';
  if (value[0] != '{')
    return value;
  const char *close = strchr(value, '}');
  if (!close)
    return value;
  g_strlcpy(scheme, value + 1, MIN(size, (size_t)(close - value)));
  return close + 1;
}

/* Every crypt(3) scheme's name ends in CRYPT (CRYPT, SHA512-CRYPT,
 * BCRYPT, YESCRYPT...), and no other scheme's does. */
static bool is_crypt_scheme(const char *scheme)
{
  g_autofree char *upper = g_ascii_strup(scheme, -1);
  return upper[0] == '\0' || g_str_has_suffix(upper, "CRYPT");
}

/* The method and cost of a modular crypt(3) or ARGON2 hash: drop
 * "$salt$digest" ("$6$rounds=N", "$y$j9T", "$argon2id$v=19$m=...,p=1"). */
static size_t modular_cost_len(const char *hash)
{
  const char *last = strrchr(hash, '$');
  const char *p = last;
  while (p > hash && *(p - 1) != '$')
    p--;
  return p > hash ? (size_t)(p - 1 - hash) : (size_t)(last - hash);
}

static void crypt_cost_class(const char *hash, char *buf, size_t size)
{
  size_t len = strlen(hash);
  size_t keep;
  if (hash[0] == '$' && hash[1] == '2' && hash[2] && hash[3] == '$')
    keep = MIN(len, 6); /* $2b$NN */
  else if (hash[0] == '$')
    keep = modular_cost_len(hash);
  else if (hash[0] == '_')
    keep = MIN(len, 5); /* _ and the round count */
  else
    keep = 0; /* traditional DES: one fixed cost */
  if (keep == 0)
    g_strlcpy(buf, "des", size);
  else
    g_strlcpy(buf, hash, MIN(size, keep + 1));
}

void pw_hash_cost_class(const char *value, char *buf, size_t size)
{
  char scheme[32];
  const char *rest = split_scheme(value, scheme, sizeof scheme);
  if (is_crypt_scheme(scheme)) {
    crypt_cost_class(rest, buf, size);
    return;
  }
  /* Other schemes: the name, and the parameters that set the cost. */
  g_autofree char *upper = g_ascii_strup(scheme, -1);
  g_autofree char *params = NULL;
  if (g_str_has_prefix(upper, "ARGON2") && rest[0] == '$') {
    params = g_strndup(rest, modular_cost_len(rest));
  } else if (g_str_has_prefix(upper, "PBKDF2")) {
    /* $1$salt$rounds$key: the rounds */
    g_auto(GStrv) fields = g_strsplit(rest, "$", -1);
    params = g_strdup(g_strv_length(fields) == 5 ? fields[3] : "");
  }
  g_autofree char *cls =
      g_strdup_printf("{%s}%s", upper, params ? params : "");
  g_strlcpy(buf, cls, size);
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
    if (e->password.kind != PW_KIND_HASH)
      continue;
    char cls[64];
    pw_hash_cost_class(e->password.value, cls, sizeof cls);
    unsigned n = GPOINTER_TO_UINT(g_hash_table_lookup(counts, cls)) + 1;
    g_hash_table_insert(counts, g_strdup(cls), GUINT_TO_POINTER(n));
    top = MAX(top, n);
  }
  for (guint i = 0; i < t->entries->len; i++) {
    const PwEntry *e = g_ptr_array_index(t->entries, i);
    if (e->password.kind != PW_KIND_HASH)
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
    t->dummy.value = g_strconcat("{PLAIN}", phrase, NULL);
    explicit_bzero(phrase, strlen(phrase));
    return true;
  }
  char scheme[32];
  const char *hash =
      split_scheme(typical->password.value, scheme, sizeof scheme);
  if (!is_crypt_scheme(scheme)) {
    /* The typical entry itself: checking the random phrase against it
     * costs what its scheme and parameters cost, and never matches. */
    t->dummy.kind = PW_KIND_HASH;
    t->dummy.value = g_strdup(typical->password.value);
    explicit_bzero(phrase, strlen(phrase));
    return true;
  }
  /* Hashing a random phrase with the typical entry's setting gives a hash
   * of the same method and cost that matches no real password. */
  struct crypt_data *work = g_new0(struct crypt_data, 1);
  const char *out = crypt_rn(phrase, hash, work, (int)sizeof *work);
  if (out) {
    t->dummy.kind = PW_KIND_HASH;
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
  volatile PwCheck result = pw_password_check(&t->dummy, attempt, NULL);
  (void)result;
}
