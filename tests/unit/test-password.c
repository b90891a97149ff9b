/* SPDX-License-Identifier: MIT */
/*
 * libpoplar's password schemes (poplar/password.h), checked against hashes
 * made at run time by real tools, never by our own code: Dovecot's
 * `doveadm pw` (Debian package dovecot-core), OpenLDAP's `slappasswd`
 * (slapd), `mkpasswd` (whois) and Python's hashlib.  A tool that is not
 * installed skips its cases; `make check` installs them all.
 */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "poplar/plugin.h"

/* Non-ASCII and a blank, as passwords are. */
#define PASSWORD "pässwörd 1"

/* Runs @argv and returns its first line of output, or NULL (and marks the
 * test skipped) when the tool is missing. */
static char *tool_output(const char *const *argv)
{
  g_autofree char *path = g_find_program_in_path(argv[0]);
  if (!path) {
    g_autofree char *msg = g_strdup_printf("%s is not installed", argv[0]);
    g_test_skip(msg);
    return NULL;
  }
  char *out = NULL;
  char *err = NULL;
  int status = 0;
  GError *error = NULL;
  if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL,
                    NULL, &out, &err, &status, &error))
    g_error("%s: %s", argv[0], error->message);
  if (!g_spawn_check_wait_status(status, NULL) || !out[0])
    g_error("%s failed: %s", argv[0], err);
  g_free(err);
  char *nl = strchr(out, '\n');
  if (nl)
    *nl = '\0';
  return out;
}

static char *doveadm_pw(const char *scheme, const char *password)
{
  const char *argv[] = {"doveadm", "pw", "-s", scheme, "-p", password, NULL};
  return tool_output(argv);
}

static void assert_verify(const char *stored, const char *password,
                          const char *default_scheme,
                          PoplarPasswordResult want)
{
  char *error = NULL;
  PoplarPasswordResult got =
      poplar_password_verify(stored, password, default_scheme, &error);
  if (got != want)
    g_error("%s with a password of %zu octets: got %d, want %d (%s)",
            stored, strlen(password), got, want, error ? error : "");
  if (want == POPLAR_PASSWORD_MATCH || want == POPLAR_PASSWORD_MISMATCH) {
    g_assert_null(error);
  } else {
    g_assert_nonnull(error);
    /* An error names the scheme, never the stored value. */
    const char *value = strchr(stored, '}');
    value = value ? value + 1 : stored;
    if (strlen(value) >= 8)
      g_assert_null(strstr(error, value));
  }
  free(error);
}

/* How many octets of a password a crypt(3) method reads: bcrypt 72,
 * traditional DES 8; SIZE_MAX for the others. */
static size_t significant_octets(const char *stored)
{
  const char *value = strchr(stored, '}');
  value = value ? value + 1 : stored;
  if (g_str_has_prefix(value, "$2"))
    return 72;
  if (strlen(value) == 13 && !strchr(value, '$'))
    return 8;
  return SIZE_MAX;
}

/* @stored (made from @password) matches it and nothing else. */
static void assert_hash_of(const char *stored, const char *password)
{
  char *error = NULL;
  if (!poplar_password_check_format(stored, NULL, &error))
    g_error("%s: %s", stored, error);
  g_assert_null(error);
  assert_verify(stored, password, NULL, POPLAR_PASSWORD_MATCH);
  size_t len = strlen(password);
  size_t significant = significant_octets(stored);
  g_autofree char *longer = g_strconcat(password, "x", NULL);
  assert_verify(stored, longer, NULL,
                len < significant ? POPLAR_PASSWORD_MISMATCH
                                  : POPLAR_PASSWORD_MATCH);
  if (len) {
    assert_verify(stored, "", NULL, POPLAR_PASSWORD_MISMATCH);
    g_autofree char *shorter = g_strndup(password, len - 1);
    assert_verify(stored, shorter, NULL,
                  len <= significant ? POPLAR_PASSWORD_MISMATCH
                                     : POPLAR_PASSWORD_MATCH);
  }
  g_autofree char *huge = g_strnfill(100000, 'a');
  assert_verify(stored, huge, NULL, POPLAR_PASSWORD_MISMATCH);
}

static const char *const doveadm_schemes[] = {
    "CRYPT",     "DES-CRYPT", "MD5-CRYPT", "SHA256-CRYPT", "SHA512-CRYPT",
    "BLF-CRYPT", "PLAIN",     "CLEARTEXT", "CLEAR",        "PLAIN-MD5",
    "LDAP-MD5",  "MD5",       "SHA",       "SHA1",         "SHA256",
    "SHA512",    "SMD5",      "SSHA",      "SSHA256",      "SSHA512",
    "ARGON2I",   "ARGON2ID",  "PBKDF2",    "CRAM-MD5",     "HMAC-MD5",
    "SHA256.HEX", "SHA.B64",  "SSHA.HEX",  "SSHA512.HEX",  "PLAIN.B64",
    "PLAIN-MD5.B64", "CRAM-MD5.B64",
};

/* Schemes worth a password longer than an HMAC block (CRAM-MD5 hashes
 * such a key first) and than libxcrypt's limit: doveadm takes 0.2 s to
 * start, so not every scheme gets one. */
static const char *const long_password_schemes[] = {
    "SHA512-CRYPT", "CRAM-MD5", "HMAC-MD5", "PBKDF2", "SSHA512", "PLAIN",
};

/* Every scheme Dovecot writes, with its hash of a password. */
static void test_doveadm_schemes(void)
{
  for (size_t i = 0; i < G_N_ELEMENTS(doveadm_schemes); i++) {
    const char *scheme = doveadm_schemes[i];
    g_assert_true(poplar_password_scheme_supported(scheme));
    g_autofree char *stored = doveadm_pw(scheme, PASSWORD);
    if (!stored)
      return;
    g_test_message("%s", stored);
    assert_hash_of(stored, PASSWORD);
  }
}

static void test_doveadm_long_password(void)
{
  g_autofree char *long_password = g_strnfill(300, 'L');
  for (size_t i = 0; i < G_N_ELEMENTS(long_password_schemes); i++) {
    g_autofree char *stored =
        doveadm_pw(long_password_schemes[i], long_password);
    if (!stored)
      return;
    assert_hash_of(stored, long_password);
  }
}

/* Scheme names are case-insensitive, suffixes too. */
static void test_case_insensitive(void)
{
  g_autofree char *stored = doveadm_pw("SSHA512", PASSWORD);
  if (!stored)
    return;
  char *lower = g_ascii_strdown(stored, strlen("{SSHA512}"));
  g_autofree char *mixed = g_strconcat(lower, stored + strlen("{SSHA512}"),
                                       NULL);
  g_free(lower);
  assert_verify(mixed, PASSWORD, NULL, POPLAR_PASSWORD_MATCH);
  g_assert_true(poplar_password_scheme_supported("sha256.hex"));
  g_assert_true(poplar_password_scheme_supported("Argon2id"));
}

static void test_slappasswd(void)
{
  const char *schemes[] = {"{SSHA}", "{SMD5}", "{SHA}", "{MD5}"};
  for (size_t i = 0; i < G_N_ELEMENTS(schemes); i++) {
    const char *argv[] = {"slappasswd", "-h", schemes[i], "-s", PASSWORD,
                          NULL};
    g_autofree char *stored = tool_output(argv);
    if (!stored)
      return;
    g_test_message("%s", stored);
    /* slapd's {MD5} is base64; Dovecot's MD5 reads it by its length. */
    assert_hash_of(stored, PASSWORD);
  }
}

static void test_mkpasswd(void)
{
  const char *methods[] = {"yescrypt", "sha-512", "sha-256", "bcrypt",
                           "md5crypt", "descrypt"};
  for (size_t i = 0; i < G_N_ELEMENTS(methods); i++) {
    const char *argv[] = {"mkpasswd", "-m", methods[i], PASSWORD, NULL};
    g_autofree char *bare = tool_output(argv);
    if (!bare)
      return;
    g_test_message("%s", bare);
    /* A bare crypt hash, as /etc/shadow and passwd-files hold them. */
    assert_verify(bare, PASSWORD, "CRYPT", POPLAR_PASSWORD_MATCH);
    assert_verify(bare, "wrong", "CRYPT", POPLAR_PASSWORD_MISMATCH);
    assert_verify(bare, PASSWORD, NULL, POPLAR_PASSWORD_MALFORMED);
    g_autofree char *braced = g_strconcat("{CRYPT}", bare, NULL);
    assert_hash_of(braced, PASSWORD);
  }
}

/* PBKDF2 and salted SHA-512 computed by Python's hashlib with chosen
 * salts, including a salt of one octet and one of 100. */
static void test_python_hashlib(void)
{
  const char *script =
      "import base64, hashlib, sys\n"
      "pw = sys.argv[1].encode()\n"
      "for salt in (b'\\x00', b's' * 100):\n"
      "    d = hashlib.sha512(pw + salt).digest()\n"
      "    print('{SSHA512}' + base64.b64encode(d + salt).decode())\n"
      "k = hashlib.pbkdf2_hmac('sha1', pw, b'NaCl.salt', 1234)\n"
      "print('{PBKDF2}$1$NaCl.salt$1234$' + k.hex())\n"
      "print('{SHA256.hex}' + hashlib.sha256(pw).hexdigest().upper())\n";
  const char *argv[] = {"python3", "-c", script, PASSWORD, NULL};
  g_autofree char *path = g_find_program_in_path("python3");
  if (!path) {
    g_test_skip("python3 is not installed");
    return;
  }
  char *out = NULL;
  int status = 0;
  g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH,
                             NULL, NULL, &out, NULL, &status, NULL));
  g_assert_true(g_spawn_check_wait_status(status, NULL));
  g_auto(GStrv) lines = g_strsplit(g_strstrip(out), "\n", -1);
  g_free(out);
  g_assert_cmpuint(g_strv_length(lines), ==, 4);
  for (size_t i = 0; lines[i]; i++)
    assert_hash_of(lines[i], PASSWORD);
}

static void test_default_scheme(void)
{
  assert_verify("secret", "secret", "PLAIN", POPLAR_PASSWORD_MATCH);
  assert_verify("secret", "secreT", "PLAIN", POPLAR_PASSWORD_MISMATCH);
  assert_verify("c2VjcmV0", "secret", "PLAIN.B64", POPLAR_PASSWORD_MATCH);
  assert_verify("secret", "secret", NULL, POPLAR_PASSWORD_MALFORMED);
  assert_verify("secret", "secret", "NOPE", POPLAR_PASSWORD_UNSUPPORTED_SCHEME);
  /* a prefix overrides the default */
  assert_verify("{PLAIN}secret", "secret", "SSHA", POPLAR_PASSWORD_MATCH);
  /* not a crypt(3) hash: an error rather than taken for one */
  assert_verify("secret", "secret", "CRYPT", POPLAR_PASSWORD_MALFORMED);
}

/* The comparison of plaintext walks the attempt: a repetition of the
 * secret, a prefix or an extension must not pass. */
static void test_plain_comparison(void)
{
  assert_verify("{PLAIN}ab", "abab", NULL, POPLAR_PASSWORD_MISMATCH);
  assert_verify("{PLAIN}abab", "ab", NULL, POPLAR_PASSWORD_MISMATCH);
  assert_verify("{PLAIN}abc", "xbc", NULL, POPLAR_PASSWORD_MISMATCH);
  assert_verify("{PLAIN}abc", "abc", NULL, POPLAR_PASSWORD_MATCH);
  assert_verify("{PLAIN}", "", NULL, POPLAR_PASSWORD_MATCH);
  assert_verify("{PLAIN}", "a", NULL, POPLAR_PASSWORD_MISMATCH);
  assert_verify("{PLAIN}a", "", NULL, POPLAR_PASSWORD_MISMATCH);
}

/* Hashes of the empty password (`printf '' | sha1sum`, `mkpasswd -m
 * sha-512 -S saltsaltsaltsalt ''`). */
static void test_empty_password(void)
{
  assert_hash_of("{SHA.HEX}da39a3ee5e6b4b0d3255bfef95601890afd80709", "");
  assert_hash_of("{SHA512-CRYPT}$6$saltsaltsaltsalt$ZoazQmGR9bC6QrJYR3tzN"
                 "WcqLcufy5crjHpWJDgzT7.T1AcGT7.bjOq387RVyRrJnBux4dyLiO1lh8"
                 "TYvVlJf/", "");
}

static void test_unsupported(void)
{
  const char *stored[] = {
      "{NOPE}abc",
      "{SCRAM-SHA-256}4096,pFghVjwi8s9Qnb6RKJs4Cw==,bI7u,oqLn",
      "{CRYPT.HEX}2432",     /* crypt values have no other encoding */
      "{ARGON2ID.B64}abc",
      "{SHA256.ROT13}abc",
      "{}abc",
  };
  for (size_t i = 0; i < G_N_ELEMENTS(stored); i++) {
    assert_verify(stored[i], "x", NULL, POPLAR_PASSWORD_UNSUPPORTED_SCHEME);
    g_assert_false(poplar_password_check_format(stored[i], NULL, NULL));
  }
  g_assert_false(poplar_password_scheme_supported("NOPE"));
  g_assert_false(poplar_password_scheme_supported("SCRAM-SHA-1"));
  g_assert_false(poplar_password_scheme_supported(""));
  g_assert_false(poplar_password_scheme_supported(NULL));
}

static void test_malformed(void)
{
  g_autofree char *no_salt = NULL;
  {
    /* 64 octets of SHA-512 digest and no salt after it */
    g_autofree char *zeros = g_malloc0(64);
    g_autofree char *b64 = g_base64_encode((const guchar *)zeros, 64);
    no_salt = g_strconcat("{SSHA512}", b64, NULL);
  }
  const char *stored[] = {
      "{PLAIN",
      "{SSHA}!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
      no_salt,
      "{SHA256}abcd",
      "{SHA256.HEX}zz3478267b5612791b40988906b3a7897eb6ab501e04b95ed32f99d0afdf669d",
      "{PLAIN-MD5}8e1843033a0f6ee52e2f618aa8ebbe",
      "{PLAIN.B64}@@@@",
      "{PLAIN.B64}AA==", /* decodes to a NUL */
      "{SHA512-CRYPT}$5$RxSoJCVAAT4JtlGZ$tz5Jkga8VB.MZoMTmdEyn5K56Q5jXdbkBd712ejuJt5",
      "{SHA512-CRYPT}$6$cykWzK2GmKbcSzNb$ds3FCtuavTpSzA2Hrw54",
      "{CRYPT}$2b$12$Opqry7i4S9qj9kpucvmhGu2dBftJ7o0sZKOHhhniuuoZSPwB",
      "{CRYPT}$6$salt",
      "{CRYPT}$6$ salt$x",
      "{ARGON2ID}$argon2i$v=19$m=32768,t=4,p=1$THSlmJpQ8wpMnMxdT4vNlw$PuZyB0Im87jcwKZSKrCrID+7tgITKkDqP55iigiv/EA",
      "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$em9GJTMjuYVPRXs5ur25wA",
      "{ARGON2ID}$argon2id$v=19$m=65536,t=0,p=1$em9GJTMjuYVPRXs5ur25wA$g74fjH/wXvNOIzvPlRIo5OHbZnMgvkxdA22lgDEQUUg",
      "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$TH$PuZyB0Im87jcwKZSKrCrID+7tgITKkDqP55iigiv/EA",
      "{PBKDF2}$1$s471nfpxs77SGlMq$5000$45940d08384cb529c2d027a7e65621a5f20a94",
      "{PBKDF2}$1$s471nfpxs77SGlMq$0$45940d08384cb529c2d027a7e65621a5f20a94ab",
      "{PBKDF2}$1$s471nfpxs77SGlMq$x$45940d08384cb529c2d027a7e65621a5f20a94ab",
      "{PBKDF2}$2$s471nfpxs77SGlMq$5000$45940d08384cb529c2d027a7e65621a5f20a94ab",
      "{PBKDF2}$1$$5000$45940d08384cb529c2d027a7e65621a5f20a94ab",
      "{CRAM-MD5}7dead29c194d4ac3cf5f337b23fa3b9b",
      "{CRAM-MD5}7dead29c194d4ac3cf5f337b23fa3b9b32c9f4b1d7d7b1fa2539d66ce368e99g",
  };
  for (size_t i = 0; i < G_N_ELEMENTS(stored); i++) {
    char *error = NULL;
    g_assert_false(poplar_password_check_format(stored[i], NULL, &error));
    g_assert_nonnull(error);
    g_test_message("%s -> %s", stored[i], error);
    free(error);
    assert_verify(stored[i], PASSWORD, NULL, POPLAR_PASSWORD_MALFORMED);
  }
}

/* A truncated copy of each kind of real hash is told apart from a wrong
 * password.  (Not ARGON2: its hash may have any length from 4 octets, so
 * a shortened one is still well formed, and does not match.) */
static void test_truncated(void)
{
  const char *schemes[] = {"SHA512-CRYPT", "BLF-CRYPT", "SHA256",
                           "PLAIN-MD5", "PBKDF2", "CRAM-MD5"};
  for (size_t i = 0; i < G_N_ELEMENTS(schemes); i++) {
    g_autofree char *stored = doveadm_pw(schemes[i], PASSWORD);
    if (!stored)
      return;
    stored[strlen(stored) - 3] = '\0';
    assert_verify(stored, PASSWORD, NULL, POPLAR_PASSWORD_MALFORMED);
  }
}

static void test_plaintext(void)
{
  char *s = poplar_password_plaintext("{PLAIN}tanstaaf", NULL);
  g_assert_cmpstr(s, ==, "tanstaaf");
  free(s);
  s = poplar_password_plaintext("{cleartext}tanstaaf", NULL);
  g_assert_cmpstr(s, ==, "tanstaaf");
  free(s);
  s = poplar_password_plaintext("dGFuc3RhYWY=", "PLAIN.B64");
  g_assert_cmpstr(s, ==, "tanstaaf");
  free(s);
  s = poplar_password_plaintext("{PLAIN.HEX}74616e", NULL);
  g_assert_cmpstr(s, ==, "tan");
  free(s);
  g_assert_null(poplar_password_plaintext(
      "{SHA}qZk+NkcGgWq6PiVxeFDCbJzQ2J0=", NULL));
  g_assert_null(poplar_password_plaintext("{NOPE}x", NULL));
  g_assert_null(poplar_password_plaintext("{PLAIN.B64}@@", NULL));
  g_assert_null(poplar_password_plaintext("tanstaaf", "CRYPT"));
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/password/doveadm", test_doveadm_schemes);
  g_test_add_func("/password/doveadm-long-password",
                  test_doveadm_long_password);
  g_test_add_func("/password/case-insensitive", test_case_insensitive);
  g_test_add_func("/password/slappasswd", test_slappasswd);
  g_test_add_func("/password/mkpasswd", test_mkpasswd);
  g_test_add_func("/password/python-hashlib", test_python_hashlib);
  g_test_add_func("/password/default-scheme", test_default_scheme);
  g_test_add_func("/password/plain-comparison", test_plain_comparison);
  g_test_add_func("/password/empty-password", test_empty_password);
  g_test_add_func("/password/unsupported", test_unsupported);
  g_test_add_func("/password/malformed", test_malformed);
  g_test_add_func("/password/truncated", test_truncated);
  g_test_add_func("/password/plaintext", test_plaintext);
  return g_test_run();
}
