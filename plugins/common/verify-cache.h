/* SPDX-License-Identifier: MIT */
/*
 * Passwords verified recently, shared by the password databases that keep
 * hashes (auth-passwd-file, auth-sql): after one successful check, an HMAC
 * of the attempt and the stored value, keyed with a secret that exists
 * only in this process, recognises the same password again for a limited
 * time without paying for the hash.  Compiled into each plugin that uses
 * it; not part of libpoplar.
 */
#ifndef POPLAR_VERIFY_CACHE_H
#define POPLAR_VERIFY_CACHE_H

#include <glib.h>
#include <stdbool.h>

G_BEGIN_DECLS

#define VERIFY_CACHE_DIGEST_SIZE 32 /* HMAC-SHA256 */

/* A keyed digest of an attempt together with the stored password it was
 * checked against. */
typedef struct VerifyCacheDigest {
  unsigned char bytes[VERIFY_CACHE_DIGEST_SIZE];
} VerifyCacheDigest;

/* Monotonic microseconds; replaceable so that tests need not sleep. */
typedef gint64 (*VerifyCacheClock)(void);

typedef struct VerifyCache VerifyCache;

/* A cache of at most @max_entries users, each remembered for @ttl_us after
 * its password was last verified in full.  The HMAC key is made here
 * from GnuTLS's key-grade random generator and lives only in this
 * process's memory.  Returns NULL with *@error (g_free) set when no key
 * can be made. */
VerifyCache *verify_cache_new(unsigned max_entries, gint64 ttl_us,
                              char **error);
/* Wipes every digest and the key, and frees the cache. */
void verify_cache_free(VerifyCache *c);
void verify_cache_set_clock(VerifyCache *c, VerifyCacheClock clock);
/* The digest of @attempt against the stored password @stored, of the
 * caller's kind @kind (so that a plaintext value that reads like a hash
 * is not that hash).  Anything in @stored that changes (the hash, its
 * scheme) changes the digest, so an entry made before a change of the
 * password never matches after it.  Returns false when GnuTLS fails: the
 * caller then checks the password in full. */
bool verify_cache_digest(const VerifyCache *c, unsigned char kind,
                         const char *stored, const char *attempt,
                         VerifyCacheDigest *out);
/* True when @user has an entry that has not expired and whose digest is
 * @digest (compared in constant time).  An expired entry is dropped. */
bool verify_cache_match(VerifyCache *c, const char *user,
                        const VerifyCacheDigest *digest);
/* Remembers @digest for @user from now on, replacing what was there.  When
 * the cache is full, the entry closest to expiry makes room. */
void verify_cache_remember(VerifyCache *c, const char *user,
                           const VerifyCacheDigest *digest);
/* Drops @user's entry, if any. */
void verify_cache_forget(VerifyCache *c, const char *user);
/* Number of entries, expired or not. */
unsigned verify_cache_size(VerifyCache *c);

G_END_DECLS

#endif /* POPLAR_VERIFY_CACHE_H */
