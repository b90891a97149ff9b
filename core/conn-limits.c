/* SPDX-License-Identifier: MIT */
#include "conn-limits.h"

#include <glib.h>

struct PoplarConnLimits {
  GMutex lock;
  unsigned max_total;
  unsigned max_per_address;
  unsigned total;
  GHashTable *by_address; /* char* -> count (GUINT_TO_POINTER) */
};

PoplarConnLimits *poplard_conn_limits_new(unsigned max_total,
                                         unsigned max_per_address)
{
  PoplarConnLimits *l = g_new0(PoplarConnLimits, 1);
  g_mutex_init(&l->lock);
  l->max_total = max_total;
  l->max_per_address = max_per_address;
  l->by_address = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  return l;
}

void poplard_conn_limits_free(PoplarConnLimits *l)
{
  if (!l)
    return;
  g_hash_table_unref(l->by_address);
  g_mutex_clear(&l->lock);
  g_free(l);
}

bool poplard_conn_limits_enter(PoplarConnLimits *l, const char *address,
                              bool *per_address)
{
  bool ok = false;
  g_mutex_lock(&l->lock);
  unsigned n = GPOINTER_TO_UINT(g_hash_table_lookup(l->by_address, address));
  *per_address = n >= l->max_per_address;
  if (l->total < l->max_total && !*per_address) {
    l->total++;
    g_hash_table_insert(l->by_address, g_strdup(address),
                        GUINT_TO_POINTER(n + 1));
    ok = true;
  }
  g_mutex_unlock(&l->lock);
  return ok;
}

void poplard_conn_limits_leave(PoplarConnLimits *l, const char *address)
{
  g_mutex_lock(&l->lock);
  unsigned n = GPOINTER_TO_UINT(g_hash_table_lookup(l->by_address, address));
  if (n == 0) {
    /* Never entered: nothing to give back. */
    g_mutex_unlock(&l->lock);
    return;
  }
  if (n == 1)
    g_hash_table_remove(l->by_address, address);
  else
    g_hash_table_insert(l->by_address, g_strdup(address),
                        GUINT_TO_POINTER(n - 1));
  l->total--;
  g_mutex_unlock(&l->lock);
}
