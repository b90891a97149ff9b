/* SPDX-License-Identifier: MIT */
/*
 * Passwords verified recently.  A crypt(3) hash is built to be slow, and a
 * POP3 client logs in with the same password every few minutes: after one
 * successful check, an HMAC of the password (keyed with a secret that
 * exists only in this process) is enough to recognise it again, for a
 * limited time.
 *
 * The digest covers the stored password as well as the attempt, so a
 * changed password (a new line of a file, a new row) makes every earlier entry of its user useless
 * without anyone having to look for it.  Every operation is O(1): entries
 * are kept in a hash table by user and in a queue by age, and since every
 * entry lives for the same time, the oldest is also the first to expire.
 */
#include "verify-cache.h"

#include <gnutls/crypto.h>
#include <pthread.h>
#include <gnutls/gnutls.h>
#include <string.h>

#define VERIFY_CACHE_KEY_SIZE 32

typedef struct CacheEntry {
  GList link;     /* in VerifyCache.by_age; link.data is the entry itself */
  gint64 expires; /* the clock's µs from which it no longer matches */
  VerifyCacheDigest digest;
  char user[]; /* also the key in VerifyCache.by_user */
} CacheEntry;

struct VerifyCache {
  /* pthread rather than GMutex: ThreadSanitizer understands these.  Held
   * for table operations only; digests are computed outside it. */
  pthread_mutex_t lock;
  GHashTable *by_user; /* user -> CacheEntry* (owned through by_age) */
  GQueue by_age;       /* oldest first, which is also soonest to expire */
  unsigned max_entries;
  gint64 ttl_us;
  VerifyCacheClock clock;
  unsigned char key[VERIFY_CACHE_KEY_SIZE];
};

VerifyCache *verify_cache_new(unsigned max_entries, gint64 ttl_us, char **error)
{
  g_assert(max_entries > 0);
  g_assert(ttl_us > 0);
  *error = NULL;
  VerifyCache *c = g_new0(VerifyCache, 1);
  int rc = gnutls_rnd(GNUTLS_RND_KEY, c->key, sizeof c->key);
  if (rc < 0) {
    *error = g_strdup_printf("cannot make a key for the verify cache: %s",
                             gnutls_strerror(rc));
    explicit_bzero(c->key, sizeof c->key);
    g_free(c);
    return NULL;
  }
  pthread_mutex_init(&c->lock, NULL);
  c->by_user = g_hash_table_new(g_str_hash, g_str_equal);
  g_queue_init(&c->by_age);
  c->max_entries = max_entries;
  c->ttl_us = ttl_us;
  c->clock = g_get_monotonic_time;
  return c;
}

static void entry_free(CacheEntry *e)
{
  explicit_bzero(&e->digest, sizeof e->digest);
  g_free(e);
}

/* Called with the lock held. */
static void entry_drop(VerifyCache *c, CacheEntry *e)
{
  g_hash_table_remove(c->by_user, e->user);
  g_queue_unlink(&c->by_age, &e->link);
  entry_free(e);
}

void verify_cache_free(VerifyCache *c)
{
  if (!c)
    return;
  GList *link;
  while ((link = g_queue_pop_head_link(&c->by_age)))
    entry_free(link->data);
  g_hash_table_unref(c->by_user);
  pthread_mutex_destroy(&c->lock);
  explicit_bzero(c->key, sizeof c->key);
  g_free(c);
}

void verify_cache_set_clock(VerifyCache *c, VerifyCacheClock clock)
{
  pthread_mutex_lock(&c->lock);
  c->clock = clock;
  pthread_mutex_unlock(&c->lock);
}

bool verify_cache_digest(const VerifyCache *c, unsigned char kind,
                         const char *stored, const char *attempt,
                         VerifyCacheDigest *out)
{
  g_assert(stored);
  gnutls_hmac_hd_t mac;
  if (gnutls_hmac_init(&mac, GNUTLS_MAC_SHA256, c->key, sizeof c->key) < 0)
    return false;
  /* The stored value's NUL separates it from the attempt: neither can
   * contain one, so no two pairs give the same input. */
  bool ok = gnutls_hmac(mac, &kind, 1) >= 0 &&
            gnutls_hmac(mac, stored, strlen(stored) + 1) >= 0 &&
            gnutls_hmac(mac, attempt, strlen(attempt)) >= 0;
  gnutls_hmac_deinit(mac, ok ? out->bytes : NULL);
  return ok;
}

static bool digest_equal(const VerifyCacheDigest *a, const VerifyCacheDigest *b)
{
  volatile unsigned char diff = 0;
  for (size_t i = 0; i < sizeof a->bytes; i++)
    diff |= a->bytes[i] ^ b->bytes[i];
  return diff == 0;
}

bool verify_cache_match(VerifyCache *c, const char *user, const VerifyCacheDigest *digest)
{
  pthread_mutex_lock(&c->lock);
  bool match = false;
  CacheEntry *e = g_hash_table_lookup(c->by_user, user);
  if (e) {
    if (c->clock() >= e->expires)
      entry_drop(c, e);
    else
      match = digest_equal(&e->digest, digest);
  }
  pthread_mutex_unlock(&c->lock);
  return match;
}

/* Called with the lock held.  Each entry is dropped once, so this costs
 * O(1) per entry made. */
static void drop_expired(VerifyCache *c, gint64 now)
{
  GList *head;
  while ((head = g_queue_peek_head_link(&c->by_age))) {
    CacheEntry *e = head->data;
    if (now < e->expires)
      break;
    entry_drop(c, e);
  }
}

void verify_cache_remember(VerifyCache *c, const char *user,
                       const VerifyCacheDigest *digest)
{
  pthread_mutex_lock(&c->lock);
  /* Read under the lock, so that the queue stays in order of expiry. */
  gint64 now = c->clock();
  drop_expired(c, now);
  CacheEntry *e = g_hash_table_lookup(c->by_user, user);
  if (e) {
    g_queue_unlink(&c->by_age, &e->link);
  } else {
    if (g_hash_table_size(c->by_user) >= c->max_entries)
      entry_drop(c, g_queue_peek_head(&c->by_age));
    size_t len = strlen(user);
    e = g_malloc0(sizeof *e + len + 1);
    memcpy(e->user, user, len + 1);
    e->link.data = e;
    g_hash_table_insert(c->by_user, e->user, e);
  }
  e->digest = *digest;
  e->expires = now + c->ttl_us;
  g_queue_push_tail_link(&c->by_age, &e->link);
  pthread_mutex_unlock(&c->lock);
}

void verify_cache_forget(VerifyCache *c, const char *user)
{
  pthread_mutex_lock(&c->lock);
  CacheEntry *e = g_hash_table_lookup(c->by_user, user);
  if (e)
    entry_drop(c, e);
  pthread_mutex_unlock(&c->lock);
}

unsigned verify_cache_size(VerifyCache *c)
{
  pthread_mutex_lock(&c->lock);
  unsigned n = g_hash_table_size(c->by_user);
  pthread_mutex_unlock(&c->lock);
  return n;
}
