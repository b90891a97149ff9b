/* SPDX-License-Identifier: MIT */
/*
 * The verify cache on its own: digests, expiry on a clock the test moves,
 * the size bound and what is evicted, and use from several threads.
 */
#include "passwd-file.h"

#include <string.h>

#define TTL 10 /* µs of the test clock */

static gint64 fake_now;

/* Moved by the tests only while no other thread runs. */
static gint64 fake_clock(void)
{
  return fake_now;
}

static VerifyCache *cache_new(unsigned max_entries, gint64 ttl)
{
  char *error = NULL;
  VerifyCache *c = verify_cache_new(max_entries, ttl, &error);
  if (!c)
    g_error("verify_cache_new: %s", error);
  g_assert_null(error);
  fake_now = 1000;
  verify_cache_set_clock(c, fake_clock);
  return c;
}

static PwPassword stored(PwKind kind, const char *value)
{
  return (PwPassword){.kind = kind, .value = (char *)value};
}

static char hash_a_text[] = "$6$saltsalt$aaaa";
static const PwPassword hash_a_password = {PW_KIND_HASH, hash_a_text};

static const PwPassword *hash_a(void)
{
  return &hash_a_password;
}

static VerifyCacheDigest digest_of(VerifyCache *c, const PwPassword *pw,
                               const char *attempt)
{
  VerifyCacheDigest d;
  g_assert_true(verify_cache_digest(c, (unsigned char)pw->kind, pw->value,
                                    attempt, &d));
  return d;
}

/* Remembers @user as having logged in with @attempt against hash_a(). */
static void remember(VerifyCache *c, const char *user, const char *attempt)
{
  VerifyCacheDigest d = digest_of(c, hash_a(), attempt);
  verify_cache_remember(c, user, &d);
}

static bool matches(VerifyCache *c, const char *user, const char *attempt)
{
  VerifyCacheDigest d = digest_of(c, hash_a(), attempt);
  return verify_cache_match(c, user, &d);
}

static void test_hit(void)
{
  VerifyCache *c = cache_new(10, TTL);
  g_assert_false(matches(c, "alice", "pw"));
  remember(c, "alice", "pw");
  g_assert_true(matches(c, "alice", "pw"));
  g_assert_true(matches(c, "alice", "pw"));
  g_assert_cmpuint(verify_cache_size(c), ==, 1);
  /* an entry is the user's own */
  g_assert_false(matches(c, "bob", "pw"));
  verify_cache_free(c);
}

static void test_wrong_password(void)
{
  VerifyCache *c = cache_new(10, TTL);
  remember(c, "alice", "pw");
  g_assert_false(matches(c, "alice", "pW"));
  g_assert_false(matches(c, "alice", "pw "));
  g_assert_false(matches(c, "alice", "p"));
  g_assert_false(matches(c, "alice", ""));
  /* a miss does not disturb the entry */
  g_assert_true(matches(c, "alice", "pw"));
  verify_cache_free(c);
}

static void test_stored_password_changed(void)
{
  VerifyCache *c = cache_new(10, TTL);
  remember(c, "alice", "pw");
  PwPassword other_hash = stored(PW_KIND_HASH, "$6$saltsalt$bbbb");
  VerifyCacheDigest d = digest_of(c, &other_hash, "pw");
  g_assert_false(verify_cache_match(c, "alice", &d));
  /* the same text as {PLAIN} is another password */
  PwPassword as_plain = stored(PW_KIND_PLAIN, hash_a()->value);
  d = digest_of(c, &as_plain, "pw");
  g_assert_false(verify_cache_match(c, "alice", &d));
  /* where the stored value ends and the attempt begins is part of it */
  PwPassword shorter = stored(PW_KIND_HASH, "$6$saltsalt$aaa");
  d = digest_of(c, &shorter, "apw");
  g_assert_false(verify_cache_match(c, "alice", &d));
  g_assert_true(matches(c, "alice", "pw"));
  verify_cache_free(c);
}

/* The key is made per cache: the digest tells nothing without it. */
static void test_key_per_cache(void)
{
  VerifyCache *one = cache_new(10, TTL);
  VerifyCache *two = cache_new(10, TTL);
  VerifyCacheDigest a = digest_of(one, hash_a(), "pw");
  VerifyCacheDigest a_again = digest_of(one, hash_a(), "pw");
  VerifyCacheDigest b = digest_of(two, hash_a(), "pw");
  g_assert_cmpmem(a.bytes, sizeof a.bytes, a_again.bytes,
                  sizeof a_again.bytes);
  g_assert_true(memcmp(a.bytes, b.bytes, sizeof a.bytes) != 0);
  verify_cache_remember(one, "alice", &a);
  g_assert_false(verify_cache_match(one, "alice", &b));
  verify_cache_free(one);
  verify_cache_free(two);
}

static void test_expiry(void)
{
  VerifyCache *c = cache_new(10, TTL);
  remember(c, "alice", "pw");
  fake_now += TTL - 1;
  g_assert_true(matches(c, "alice", "pw"));
  fake_now += 1;
  g_assert_false(matches(c, "alice", "pw"));
  /* the expired entry is gone, not only ignored */
  g_assert_cmpuint(verify_cache_size(c), ==, 0);
  /* a hit does not extend the entry's life; a new verification does */
  remember(c, "alice", "pw");
  fake_now += TTL / 2;
  g_assert_true(matches(c, "alice", "pw"));
  fake_now += TTL / 2;
  g_assert_false(matches(c, "alice", "pw"));
  remember(c, "alice", "pw");
  fake_now += TTL / 2;
  remember(c, "alice", "pw");
  fake_now += TTL / 2;
  g_assert_true(matches(c, "alice", "pw"));
  verify_cache_free(c);
}

static void test_forget(void)
{
  VerifyCache *c = cache_new(10, TTL);
  remember(c, "alice", "pw");
  remember(c, "bob", "pw");
  verify_cache_forget(c, "alice");
  verify_cache_forget(c, "nobody");
  g_assert_false(matches(c, "alice", "pw"));
  g_assert_true(matches(c, "bob", "pw"));
  g_assert_cmpuint(verify_cache_size(c), ==, 1);
  verify_cache_free(c);
}

/* A full cache makes room by dropping its oldest entry. */
static void test_size_bound(void)
{
  VerifyCache *c = cache_new(3, 1000);
  remember(c, "u1", "pw");
  fake_now++;
  remember(c, "u2", "pw");
  fake_now++;
  remember(c, "u3", "pw");
  fake_now++;
  g_assert_cmpuint(verify_cache_size(c), ==, 3);
  remember(c, "u4", "pw");
  g_assert_cmpuint(verify_cache_size(c), ==, 3);
  g_assert_false(matches(c, "u1", "pw"));
  g_assert_true(matches(c, "u2", "pw"));
  g_assert_true(matches(c, "u4", "pw"));

  /* remembering again makes an entry the newest */
  fake_now++;
  remember(c, "u2", "pw");
  fake_now++;
  remember(c, "u5", "pw");
  g_assert_cmpuint(verify_cache_size(c), ==, 3);
  g_assert_false(matches(c, "u3", "pw"));
  g_assert_true(matches(c, "u2", "pw"));
  g_assert_true(matches(c, "u4", "pw"));
  g_assert_true(matches(c, "u5", "pw"));

  /* replacing a user's entry does not count twice */
  remember(c, "u5", "other");
  g_assert_cmpuint(verify_cache_size(c), ==, 3);
  g_assert_true(matches(c, "u5", "other"));
  g_assert_false(matches(c, "u5", "pw"));
  verify_cache_free(c);
}

/* Expired entries go first, all of them, before a live one is evicted. */
static void test_expired_evicted_first(void)
{
  VerifyCache *c = cache_new(3, TTL);
  remember(c, "u1", "pw");
  fake_now += 1;
  remember(c, "u2", "pw");
  fake_now += 5;
  remember(c, "u3", "pw");
  fake_now += TTL - 4; /* u1 and u2 expired, u3 not */
  remember(c, "u4", "pw");
  g_assert_cmpuint(verify_cache_size(c), ==, 2);
  g_assert_true(matches(c, "u3", "pw"));
  g_assert_true(matches(c, "u4", "pw"));
  verify_cache_free(c);
}

static void test_size_one(void)
{
  VerifyCache *c = cache_new(1, TTL);
  remember(c, "u1", "pw");
  remember(c, "u2", "pw");
  g_assert_cmpuint(verify_cache_size(c), ==, 1);
  g_assert_false(matches(c, "u1", "pw"));
  g_assert_true(matches(c, "u2", "pw"));
  verify_cache_free(c);
}

/* ---- threads ----------------------------------------------------------- */

enum { N_THREADS = 8, N_OWN = 50, N_SHARED = 20, ROUNDS = 300 };

typedef struct Worker {
  VerifyCache *cache;
  unsigned id;
  unsigned lost;          /* remembered, then not found */
  unsigned false_accepts; /* a wrong password that matched */
} Worker;

static gpointer worker_main(gpointer data)
{
  Worker *w = data;
  for (unsigned r = 0; r < ROUNDS; r++) {
    /* users of this thread alone: what it remembers, it finds */
    g_autofree char *own = g_strdup_printf("own%u-%u", w->id, r % N_OWN);
    g_autofree char *pw = g_strdup_printf("pw%u", r);
    remember(w->cache, own, pw);
    if (!matches(w->cache, own, pw))
      w->lost++;
    if (matches(w->cache, own, "wrong"))
      w->false_accepts++;
    /* users every thread works on at once */
    g_autofree char *shared = g_strdup_printf("shared%u", r % N_SHARED);
    switch ((r + w->id) % 3) {
    case 0:
      remember(w->cache, shared, "shared-pw");
      break;
    case 1:
      (void)matches(w->cache, shared, "shared-pw");
      break;
    default:
      verify_cache_forget(w->cache, shared);
      break;
    }
    if (matches(w->cache, shared, "not-the-shared-pw"))
      w->false_accepts++;
  }
  return NULL;
}

static void test_threads(void)
{
  /* room for every user: no entry is evicted behind a thread's back */
  VerifyCache *c = cache_new(N_THREADS * N_OWN + N_SHARED, G_MAXINT32);
  Worker workers[N_THREADS];
  GThread *threads[N_THREADS];
  for (unsigned i = 0; i < N_THREADS; i++) {
    workers[i] = (Worker){.cache = c, .id = i};
    threads[i] = g_thread_new("cache", worker_main, &workers[i]);
  }
  for (unsigned i = 0; i < N_THREADS; i++) {
    g_thread_join(threads[i]);
    g_assert_cmpuint(workers[i].lost, ==, 0);
    g_assert_cmpuint(workers[i].false_accepts, ==, 0);
  }
  g_assert_cmpuint(verify_cache_size(c), >=, N_THREADS * N_OWN);
  g_assert_cmpuint(verify_cache_size(c), <=, N_THREADS * N_OWN + N_SHARED);
  verify_cache_free(c);
}

/* Under eviction pressure the bound holds whatever the interleaving. */
static void test_threads_bounded(void)
{
  VerifyCache *c = cache_new(16, G_MAXINT32);
  Worker workers[N_THREADS];
  GThread *threads[N_THREADS];
  for (unsigned i = 0; i < N_THREADS; i++) {
    workers[i] = (Worker){.cache = c, .id = i};
    threads[i] = g_thread_new("cache", worker_main, &workers[i]);
  }
  unsigned lost = 0;
  for (unsigned i = 0; i < N_THREADS; i++) {
    g_thread_join(threads[i]);
    /* a thread's entry may be evicted by another's between its remember
     * and its match; a wrong password never matches */
    g_assert_cmpuint(workers[i].false_accepts, ==, 0);
    lost += workers[i].lost;
  }
  g_assert_cmpuint(verify_cache_size(c), >, 0);
  g_assert_cmpuint(verify_cache_size(c), <=, 16);
  g_test_message("%u entries evicted before their thread found them", lost);
  verify_cache_free(c);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/passwd-file/cache/hit", test_hit);
  g_test_add_func("/passwd-file/cache/wrong-password", test_wrong_password);
  g_test_add_func("/passwd-file/cache/stored-password-changed",
                  test_stored_password_changed);
  g_test_add_func("/passwd-file/cache/key-per-cache", test_key_per_cache);
  g_test_add_func("/passwd-file/cache/expiry", test_expiry);
  g_test_add_func("/passwd-file/cache/forget", test_forget);
  g_test_add_func("/passwd-file/cache/size-bound", test_size_bound);
  g_test_add_func("/passwd-file/cache/expired-evicted-first",
                  test_expired_evicted_first);
  g_test_add_func("/passwd-file/cache/size-one", test_size_one);
  g_test_add_func("/passwd-file/cache/threads", test_threads);
  g_test_add_func("/passwd-file/cache/threads-bounded", test_threads_bounded);
  return g_test_run();
}
