/* SPDX-License-Identifier: MIT */
/*
 * Pairs the old server's messages with the Maildir's, as Dovecot's
 * pop3-migration does: by header key first.  A key that both sides have
 * equally often pairs its messages in order (the old server's message
 * numbers and Poplar's order both follow delivery), whatever their sizes,
 * because sizes are the least reliable part: an mbox server counts the
 * Status and X-UID lines it writes into the file, a converter turns
 * Status into Maildir flags, line ends change.  Sizes decide when the
 * counts differ: the old messages of one key fall into classes by LIST
 * size, and a class pairs in order with the Maildir messages whose size
 * fits it if both have as many.  A Maildir message's size fits when it
 * equals the LIST size as Poplar sends it (CRLF) or as stored, each with
 * or without the header lines mail stores add (header_key_store_size()).
 * Whatever is left is ambiguous and not recorded: a wrong UIDL would make
 * a client skip a message it never had.  With require_size, sizes must
 * fit in every case.
 */
#include "uidl-import.h"

#include "maildir.h"

#include <string.h>

static bool size_fits(const OldMessage *o, const NewMessage *n)
{
  return o->size == n->size || o->size == n->raw_size ||
         o->size == n->size - n->store_headers_size ||
         o->size == n->raw_size - n->store_headers_raw_size;
}

static void pair(GArray *results, guint old_index, guint new_index,
                 bool size_fits_too)
{
  MatchResult *r = &g_array_index(results, MatchResult, old_index);
  r->outcome = MATCH_PAIRED;
  r->new_index = new_index;
  r->size_differs = !size_fits_too;
}

/* Pairs the old messages @olds (indexes, in order) with the Maildir
 * messages @news of the same header key. */
static void match_group(const GArray *old_msgs, const GArray *new_msgs,
                        GArray *olds, GArray *news, bool require_size,
                        GArray *results)
{
#define OLD_AT(i) (&g_array_index(old_msgs, OldMessage, \
                                  g_array_index(olds, guint, (i))))
#define NEW_AT(k) (&g_array_index(new_msgs, NewMessage, \
                                  g_array_index(news, guint, (k))))
  if (olds->len == news->len && !require_size) {
    for (guint i = 0; i < olds->len; i++)
      pair(results, g_array_index(olds, guint, i),
           g_array_index(news, guint, i), size_fits(OLD_AT(i), NEW_AT(i)));
    return;
  }
  g_autofree bool *taken = g_new0(bool, news->len ? news->len : 1);
  g_autofree bool *done = g_new0(bool, olds->len ? olds->len : 1);
  for (guint i = 0; i < olds->len; i++) {
    if (done[i])
      continue;
    const OldMessage *first = OLD_AT(i);
    g_autoptr(GArray) cls = g_array_new(FALSE, FALSE, sizeof(guint));
    for (guint j = i; j < olds->len; j++) {
      if (OLD_AT(j)->size == first->size) {
        g_array_append_val(cls, j);
        done[j] = true;
      }
    }
    g_autoptr(GArray) fits = g_array_new(FALSE, FALSE, sizeof(guint));
    for (guint k = 0; k < news->len; k++) {
      if (!taken[k] && size_fits(first, NEW_AT(k)))
        g_array_append_val(fits, k);
    }
    for (guint c = 0; c < cls->len; c++) {
      guint old_index = g_array_index(olds, guint,
                                      g_array_index(cls, guint, c));
      MatchResult *r = &g_array_index(results, MatchResult, old_index);
      if (fits->len == 0 && require_size) {
        r->outcome = MATCH_SIZE_DIFFERS;
      } else if (fits->len == 0) {
        /* Sizes cannot tell these copies apart (the conversion changed
         * them), and the counts differ. */
        r->outcome = MATCH_AMBIGUOUS;
        r->n_old = olds->len;
        r->n_new = news->len;
      } else if (fits->len != cls->len) {
        r->outcome = MATCH_AMBIGUOUS;
        r->n_old = cls->len;
        r->n_new = fits->len;
      } else {
        guint k = g_array_index(fits, guint, c);
        taken[k] = true;
        pair(results, old_index, g_array_index(news, guint, k), true);
      }
    }
  }
#undef OLD_AT
#undef NEW_AT
}

/* Indexes of the elements of @msgs (of @elem_size, key at @key_offset)
 * grouped by key: key -> GArray of guint, in order. */
static GHashTable *group_by_key(const GArray *msgs, size_t elem_size,
                                size_t key_offset, const bool *leave_out)
{
  GHashTable *groups = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                             (GDestroyNotify)g_array_unref);
  for (guint i = 0; i < msgs->len; i++) {
    if (leave_out && leave_out[i])
      continue;
    const char *key = msgs->data + (size_t)i * elem_size + key_offset;
    GArray *group = g_hash_table_lookup(groups, key);
    if (!group) {
      group = g_array_new(FALSE, FALSE, sizeof(guint));
      g_hash_table_insert(groups, (gpointer)key, group);
    }
    g_array_append_val(group, i);
  }
  return groups;
}

GArray *match_messages(const GArray *old_msgs, const GArray *new_msgs,
                       bool require_size)
{
  GArray *results = g_array_new(FALSE, TRUE, sizeof(MatchResult));
  g_array_set_size(results, old_msgs->len);

  /* A UIDL that is not RFC 1939's, or that two old messages share, cannot
   * identify anything: those messages are left out. */
  g_autoptr(GHashTable) uidl_count = g_hash_table_new(g_str_hash,
                                                      g_str_equal);
  for (guint i = 0; i < old_msgs->len; i++) {
    const char *u = g_array_index(old_msgs, OldMessage, i).uidl;
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(uidl_count, u));
    g_hash_table_insert(uidl_count, (gpointer)u, GUINT_TO_POINTER(n + 1));
  }
  g_autofree bool *bad = g_new0(bool, old_msgs->len ? old_msgs->len : 1);
  for (guint i = 0; i < old_msgs->len; i++) {
    const char *u = g_array_index(old_msgs, OldMessage, i).uidl;
    if (!maildir_uidl_valid(u) ||
        GPOINTER_TO_UINT(g_hash_table_lookup(uidl_count, u)) > 1) {
      bad[i] = true;
      g_array_index(results, MatchResult, i).outcome = MATCH_BAD_UIDL;
    }
  }
  /* Two Maildir files with one unique part cannot be told apart in
   * poplar-uidls: Poplar gives each a UIDL of its own. */
  g_autofree bool *shared = g_new0(bool, new_msgs->len ? new_msgs->len : 1);
  for (guint i = 0; i < new_msgs->len; i++)
    shared[i] = g_array_index(new_msgs, NewMessage, i).shared_base;

  g_autoptr(GHashTable) old_groups =
      group_by_key(old_msgs, sizeof(OldMessage),
                   G_STRUCT_OFFSET(OldMessage, key), bad);
  g_autoptr(GHashTable) new_groups =
      group_by_key(new_msgs, sizeof(NewMessage),
                   G_STRUCT_OFFSET(NewMessage, key), shared);
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init(&it, old_groups);
  while (g_hash_table_iter_next(&it, &key, &value)) {
    GArray *news = g_hash_table_lookup(new_groups, key);
    if (!news) {
      GArray *olds = value;
      for (guint i = 0; i < olds->len; i++)
        g_array_index(results, MatchResult,
                      g_array_index(olds, guint, i)).outcome = MATCH_UNMATCHED;
      continue;
    }
    match_group(old_msgs, new_msgs, value, news, require_size, results);
  }
  return results;
}
