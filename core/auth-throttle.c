/* SPDX-License-Identifier: MIT */
#include "auth-throttle.h"

#include <glib.h>

typedef struct Failures {
  unsigned count;
  int64_t last_us;
} Failures;

struct PoplarThrottle {
  GMutex lock;
  uint64_t base_ms, max_ms, window_ms;
  unsigned max_entries;
  GHashTable *entries; /* "a:<address>" / "u:<user>" -> Failures */
};

PoplarThrottle *poplard_throttle_new(uint64_t base_ms, uint64_t max_ms,
                                    uint64_t window_ms, unsigned max_entries)
{
  PoplarThrottle *t = g_new0(PoplarThrottle, 1);
  g_mutex_init(&t->lock);
  t->base_ms = base_ms;
  t->max_ms = MAX(max_ms, base_ms);
  t->window_ms = window_ms;
  t->max_entries = max_entries;
  t->entries = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  return t;
}

void poplard_throttle_free(PoplarThrottle *t)
{
  if (!t)
    return;
  g_hash_table_unref(t->entries);
  g_mutex_clear(&t->lock);
  g_free(t);
}

static gboolean expired(gpointer key, gpointer value, gpointer data)
{
  const Failures *f = value;
  const int64_t *limit = data;
  (void)key;
  return f->last_us < *limit;
}

/* Keeps the table bounded: forget old failures first, everything if an
 * attacker with many addresses still fills it (the cost: their delays
 * start over, never that real users get locked out). */
static void make_room(PoplarThrottle *t, int64_t now_us)
{
  if (g_hash_table_size(t->entries) < t->max_entries)
    return;
  int64_t limit = now_us - (int64_t)t->window_ms * 1000;
  g_hash_table_foreach_remove(t->entries, expired, &limit);
  if (g_hash_table_size(t->entries) >= t->max_entries)
    g_hash_table_remove_all(t->entries);
}

static unsigned bump(PoplarThrottle *t, char *key, int64_t now_us)
{
  Failures *f = g_hash_table_lookup(t->entries, key);
  if (!f) {
    make_room(t, now_us);
    f = g_new0(Failures, 1);
    g_hash_table_insert(t->entries, key, f);
  } else {
    g_free(key);
    if (now_us - f->last_us > (int64_t)t->window_ms * 1000)
      f->count = 0;
  }
  f->count++;
  f->last_us = now_us;
  return f->count;
}

/* "u:" and the user name folded to lower case.  The name is whatever the
 * client sent: g_utf8_strdown() reads past the end of invalid UTF-8 (a
 * lead byte before the terminator makes it skip over it), so such a name
 * is only folded as ASCII. */
static char *user_key(const char *user)
{
  g_autofree char *lower = g_utf8_validate(user, -1, NULL)
                               ? g_utf8_strdown(user, -1)
                               : g_ascii_strdown(user, -1);
  return g_strconcat("u:", lower, NULL);
}

/* d(n) = base * 2^(n-1), at most max; 0 for no failure. */
static uint64_t delay_for(const PoplarThrottle *t, unsigned n)
{
  if (n == 0)
    return 0;
  uint64_t delay = t->base_ms;
  for (unsigned i = 1; i < n && delay < t->max_ms; i++)
    delay *= 2;
  return MIN(delay, t->max_ms);
}

uint64_t poplard_throttle_penalty(PoplarThrottle *t, const char *address,
                                 int64_t now_us)
{
  g_autofree char *key = g_strconcat("a:", address, NULL);
  unsigned n = 0;
  g_mutex_lock(&t->lock);
  const Failures *f = g_hash_table_lookup(t->entries, key);
  if (f && now_us - f->last_us <= (int64_t)t->window_ms * 1000)
    n = f->count;
  g_mutex_unlock(&t->lock);
  return delay_for(t, n);
}

uint64_t poplard_throttle_failure(PoplarThrottle *t, const char *address,
                                 const char *user, int64_t now_us)
{
  g_mutex_lock(&t->lock);
  unsigned n = bump(t, g_strconcat("a:", address, NULL), now_us);
  if (user && user[0]) {
    unsigned for_user = bump(t, user_key(user), now_us);
    n = MAX(n, for_user); /* MAX evaluates its arguments twice */
  }
  g_mutex_unlock(&t->lock);
  return delay_for(t, n);
}

void poplard_throttle_success(PoplarThrottle *t, const char *address,
                             const char *user)
{
  g_autofree char *akey = g_strconcat("a:", address, NULL);
  g_autofree char *ukey = user ? user_key(user) : NULL;
  g_mutex_lock(&t->lock);
  g_hash_table_remove(t->entries, akey);
  if (ukey)
    g_hash_table_remove(t->entries, ukey);
  g_mutex_unlock(&t->lock);
}

void poplard_throttle_foreach(PoplarThrottle *t, int64_t now_us,
                              PoplarThrottleVisit visit, void *data)
{
  g_mutex_lock(&t->lock);
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init(&it, t->entries);
  while (g_hash_table_iter_next(&it, &key, &value)) {
    const Failures *f = value;
    const char *k = key;
    if (now_us - f->last_us > (int64_t)t->window_ms * 1000)
      continue;
    visit(k[0] == 'a' ? "address" : "user", k + 2, f->count,
          delay_for(t, f->count), data);
  }
  g_mutex_unlock(&t->lock);
}

unsigned poplard_throttle_forget(PoplarThrottle *t, const char *name)
{
  g_autofree char *akey = g_strconcat("a:", name, NULL);
  g_autofree char *ukey = user_key(name);
  g_mutex_lock(&t->lock);
  unsigned n = g_hash_table_remove(t->entries, akey) ? 1 : 0;
  n += g_hash_table_remove(t->entries, ukey) ? 1 : 0;
  g_mutex_unlock(&t->lock);
  return n;
}
