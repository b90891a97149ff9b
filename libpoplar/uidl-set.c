/* SPDX-License-Identifier: MIT */
#include "uidl-set.h"

#include <glib.h>
#include <string.h>

typedef struct {
  uint64_t hash;
  const char *key; /* NULL: empty */
} Entry;

struct PoplarUidlSet {
  Entry *entries;
  size_t mask;  /* capacity - 1; the capacity is a power of two */
  size_t count;
};

#define INITIAL_CAPACITY 64

PoplarUidlSet *poplarpriv_uidl_set_new(void)
{
  PoplarUidlSet *set = g_new0(PoplarUidlSet, 1);
  set->entries = g_new0(Entry, INITIAL_CAPACITY);
  set->mask = INITIAL_CAPACITY - 1;
  return set;
}

void poplarpriv_uidl_set_free(PoplarUidlSet *set)
{
  if (!set)
    return;
  g_free(set->entries);
  g_free(set);
}

/* Multiplications spread each word's bits upwards, the shifts bring the
 * high bits back down, so the low bits that pick a slot depend on every
 * octet.  Not meant to resist chosen collisions: a store's UIDLs are its
 * own names, and a collision costs a comparison, never a wrong answer. */
static uint64_t mix(uint64_t h)
{
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

static uint64_t hash_of(const char *s, size_t len)
{
  uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)len << 56);
  while (len >= 8) {
    uint64_t w;
    memcpy(&w, s, 8);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    s += 8;
    len -= 8;
  }
  uint64_t tail = 0;
  memcpy(&tail, s, len);
  return mix(h ^ tail);
}

static size_t probe(const PoplarUidlSet *set, uint64_t hash, const char *key,
                    bool *found)
{
  size_t i = (size_t)hash & set->mask;
  for (;;) {
    const Entry *e = &set->entries[i];
    if (!e->key) {
      *found = false;
      return i;
    }
    if (e->hash == hash && strcmp(e->key, key) == 0) {
      *found = true;
      return i;
    }
    i = (i + 1) & set->mask;
  }
}

/* At most half full, so a probe ends soon. */
static void grow(PoplarUidlSet *set)
{
  size_t old_capacity = set->mask + 1;
  Entry *old = set->entries;
  set->entries = g_new0(Entry, old_capacity * 2);
  set->mask = old_capacity * 2 - 1;
  for (size_t i = 0; i < old_capacity; i++) {
    if (!old[i].key)
      continue;
    size_t j = (size_t)old[i].hash & set->mask;
    while (set->entries[j].key)
      j = (j + 1) & set->mask;
    set->entries[j] = old[i];
  }
  g_free(old);
}

bool poplarpriv_uidl_set_find(PoplarUidlSet *set, const char *uidl,
                              size_t len, PoplarUidlSlot *slot)
{
  if ((set->count + 1) * 2 > set->mask + 1)
    grow(set);
  slot->hash = hash_of(uidl, len);
  bool found;
  slot->index = probe(set, slot->hash, uidl, &found);
  return found;
}

void poplarpriv_uidl_set_add(PoplarUidlSet *set, const PoplarUidlSlot *slot,
                             const char *copy)
{
  set->entries[slot->index] = (Entry){slot->hash, copy};
  set->count++;
}
