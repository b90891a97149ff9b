/* SPDX-License-Identifier: MIT */
/**
 * poplar/password.h - checking a password against a stored hash.
 *
 * Every password database that keeps hashes (a passwd-file, an LDAP
 * userPassword attribute, an SQL column) needs the same thing: read a
 * stored value such as "{SSHA512}base64..." and tell whether a password
 * matches it.  These functions do that with Dovecot's scheme names and
 * formats, so that every database of a server accepts the same hashes and
 * a Dovecot user list reads unchanged.
 *
 * A stored value is "{SCHEME}value" (the name case-insensitive, optionally
 * with an encoding suffix, "{SHA256.HEX}", "{PLAIN.B64}"), or a bare value
 * read with the caller's default scheme.  Supported schemes:
 *
 *   CRYPT, DES-CRYPT, MD5-CRYPT, SHA256-CRYPT, SHA512-CRYPT, BLF-CRYPT,
 *   BCRYPT, YESCRYPT        crypt(3) hashes (libxcrypt): $1$, $5$, $6$,
 *                           $2b$/$2y$/$2a$, $y$...; CRYPT takes any method
 *                           this system's crypt(3) knows
 *   PLAIN, CLEARTEXT, CLEAR the password itself
 *   PLAIN-MD5, LDAP-MD5, MD5, SHA, SHA1, SHA256, SHA512
 *                           unsalted digests (PLAIN-MD5 hex, the others
 *                           base64; MD5 with a "$1$" value is MD5-CRYPT)
 *   SMD5, SSHA, SSHA256, SSHA512
 *                           salted digests, base64 of digest then salt
 *                           (RFC 2307 style, as slappasswd writes them)
 *   ARGON2I, ARGON2ID       "$argon2id$v=19$m=...,t=...,p=...$salt$hash"
 *                           (libargon2's encoded form)
 *   PBKDF2                  "$1$salt$rounds$hex": PBKDF2-HMAC-SHA1 with a
 *                           20-octet key, Dovecot's format
 *   CRAM-MD5, HMAC-MD5      64 hex digits: the HMAC-MD5 context Dovecot
 *                           stores for CRAM-MD5
 *
 * Digest and plaintext schemes take the suffixes ".HEX", ".B64" and
 * ".BASE64" to name the encoding of their value.
 *
 * Comparisons take a time that does not depend on where the password and
 * the stored value differ.  None of these functions logs, and no error
 * message ever contains a password or a stored value.  All are
 * thread-safe.
 *
 * Strings returned through @error_out, and by poplar_password_plaintext(),
 * are allocated with malloc(); the caller frees them with free().
 */
#ifndef POPLAR_PASSWORD_H
#define POPLAR_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#include <poplar/version.h>

POPLAR_BEGIN_DECLS

/** What poplar_password_verify() found.  Append-only.  Since: 1.1 */
typedef enum PoplarPasswordResult {
  /** The password matches the stored value. */
  POPLAR_PASSWORD_MATCH = 0,
  /** The stored value is well formed and the password does not match. */
  POPLAR_PASSWORD_MISMATCH = 1,
  /** The scheme is unknown, or not supported by this build. */
  POPLAR_PASSWORD_UNSUPPORTED_SCHEME = 2,
  /** The stored value does not have the form its scheme needs (damaged,
   * truncated, wrong encoding). */
  POPLAR_PASSWORD_MALFORMED = 3,
  /** The check could not run: out of memory, or the hash library failed.
   * Worth a temporary failure rather than a refusal. */
  POPLAR_PASSWORD_FAILED = 4,
} PoplarPasswordResult;

/**
 * poplar_password_verify:
 * @stored: the stored value, "{SCHEME}value" or a bare value
 * @password: the password to check (may be empty, never NULL)
 * @default_scheme: (nullable): the scheme of a @stored without a
 *   "{SCHEME}" prefix, e.g. "CRYPT" for a passwd-file; NULL makes such a
 *   value MALFORMED
 * @error_out: (out) (optional): for UNSUPPORTED_SCHEME, MALFORMED and
 *   FAILED, a sentence saying why (free with free()); set to NULL
 *   otherwise
 *
 * Checks @password against @stored.  The cost is the scheme's: a few
 * microseconds for a digest, what the stored parameters say for crypt,
 * ARGON2 and PBKDF2 (ARGON2 also takes the memory they say).
 *
 * Returns: what the check found.
 * Since: 1.1
 */
POPLAR_API PoplarPasswordResult poplar_password_verify(
    const char *stored, const char *password, const char *default_scheme,
    char **error_out);

/**
 * poplar_password_check_format:
 * @stored: the stored value
 * @default_scheme: (nullable): as for poplar_password_verify()
 * @error_out: (out) (optional): when false is returned, why (free with
 *   free()); set to NULL otherwise
 *
 * Checks without a password that @stored has a supported scheme and the
 * form it needs, so that a damaged hash is reported when a user list is
 * read rather than when its user fails to log in.
 *
 * Returns: true when @stored can be verified.
 * Since: 1.1
 */
POPLAR_API bool poplar_password_check_format(const char *stored,
                                             const char *default_scheme,
                                             char **error_out);

/**
 * poplar_password_scheme_supported:
 * @scheme: a scheme name without braces, e.g. "SSHA512" or "SHA256.HEX"
 *   (case-insensitive)
 *
 * Returns: true when poplar_password_verify() understands @scheme.
 * Since: 1.1
 */
POPLAR_API bool poplar_password_scheme_supported(const char *scheme);

/**
 * poplar_password_plaintext:
 * @stored: the stored value
 * @default_scheme: (nullable): as for poplar_password_verify()
 *
 * The secret itself, when @stored keeps it (PLAIN, CLEARTEXT, CLEAR, with
 * their encodings decoded), for mechanisms that need it: APOP, and
 * poplar_auth_request_set_secret().
 *
 * Returns: (transfer full) (nullable): the secret, to be wiped and freed
 * with free() by the caller; NULL when @stored is a hash or malformed.
 * Since: 1.1
 */
POPLAR_API char *poplar_password_plaintext(const char *stored,
                                           const char *default_scheme);

POPLAR_END_DECLS

#endif /* POPLAR_PASSWORD_H */
