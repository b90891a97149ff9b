/* SPDX-License-Identifier: MIT */
/*
 * Stable UIDLs.  A message keeps the UIDL it was first given for as long
 * as it stays in the mbox: the index remembers it by offset, and by
 * content hash when the mbox was rewritten by another program.  A new
 * message gets its X-UIDL header (what qpopper wrote) or the hex of its
 * content hash, which does not depend on where it sits in the file or on
 * the other messages, so it survives even the loss of the index; only a
 * duplicate (same From_ line and content) needs a ".N" suffix, and that
 * suffix is kept in the index.
 *
 * With uidl-format, a message Dovecot gave a UID (X-UID, checked as
 * Dovecot checks it) gets the template's UIDL instead of the hash, so
 * that clients see Dovecot's UIDLs.  Only when the index knows nothing of
 * the mbox (the first session after a move from Dovecot, or after the
 * index was lost): later, a new message is one Dovecot never showed, and
 * an X-UID it brings along (copied from another mbox, or forged) must not
 * give it the UIDL of a message a client has already seen.
 */
#include "mbox.h"
#include "uidl-format.h"

#include <inttypes.h>
#include <string.h>

struct MboxUidlMap {
  GHashTable *by_hash; /* hash (16 octets, in keys) -> GQueue of UIDLs */
  GStringChunk *keys;
};

static guint hash_hash(gconstpointer key)
{
  guint h;
  memcpy(&h, key, sizeof h);
  return h;
}

static gboolean hash_equal(gconstpointer a, gconstpointer b)
{
  return memcmp(a, b, MBOX_HASH_LEN) == 0;
}

static void queue_free(gpointer q)
{
  g_queue_free_full(q, g_free);
}

MboxUidlMap *mbox_uidl_map_new(const MboxMsg *msgs, size_t n)
{
  MboxUidlMap *map = g_new0(MboxUidlMap, 1);
  map->by_hash = g_hash_table_new_full(hash_hash, hash_equal, NULL,
                                       queue_free);
  map->keys = g_string_chunk_new(4096);
  for (size_t i = 0; i < n; i++) {
    if (!msgs[i].uidl)
      continue;
    GQueue *q = g_hash_table_lookup(map->by_hash, msgs[i].hash);
    if (!q) {
      const char *key = g_string_chunk_insert_len(
          map->keys, (const char *)msgs[i].hash, MBOX_HASH_LEN);
      q = g_queue_new();
      g_hash_table_insert(map->by_hash, (gpointer)key, q);
    }
    g_queue_push_tail(q, g_strdup(msgs[i].uidl));
  }
  return map;
}

void mbox_uidl_map_free(MboxUidlMap *map)
{
  if (!map)
    return;
  g_hash_table_unref(map->by_hash);
  g_string_chunk_free(map->keys);
  g_free(map);
}

/* The next UIDL the map remembers for @hash that is not in use yet. */
static char *map_take(MboxUidlMap *map, const uint8_t *hash, GHashTable *used)
{
  if (!map)
    return NULL;
  GQueue *q = g_hash_table_lookup(map->by_hash, hash);
  while (q && !g_queue_is_empty(q)) {
    char *uidl = g_queue_pop_head(q);
    if (!g_hash_table_contains(used, uidl))
      return uidl;
    g_free(uidl);
  }
  return NULL;
}

/* @m's UIDL from @format, or NULL when it has no UID or the template
 * does not make a UIDL RFC 1939 allows (it is then given the hash). */
static char *from_template(const UidlFormat *format, const MboxMsg *m,
                           uint32_t uidvalidity)
{
  if (!format || m->x_uid == 0 || uidvalidity == 0)
    return NULL;
  char uid[16], validity[16];
  g_snprintf(uid, sizeof uid, "%" PRIu32, m->x_uid);
  g_snprintf(validity, sizeof validity, "%" PRIu32, uidvalidity);
  UidlFormatValues values = {.uid = uid, .uidvalidity = validity};
  char *uidl = uidl_format_expand(format, &values);
  if (!uidl_format_valid_uidl(uidl)) {
    g_free(uidl);
    return NULL;
  }
  return uidl;
}

void mbox_uidl_assign(MboxMsg *msgs, size_t n, MboxUidlMap *map,
                      bool use_x_uidl, const UidlFormat *format,
                      GStringChunk *strings)
{
  uint32_t uidvalidity = 0;
  if (format)
    mbox_imap_uids_resolve(msgs, n, &uidvalidity);
  g_autoptr(GHashTable) used = g_hash_table_new(g_str_hash, g_str_equal);
  for (size_t i = 0; i < n; i++) {
    if (msgs[i].uidl)
      g_hash_table_add(used, (gpointer)msgs[i].uidl);
  }
  for (size_t i = 0; i < n; i++) {
    MboxMsg *m = &msgs[i];
    if (m->uidl)
      continue;
    g_autofree char *known = map_take(map, m->hash, used);
    g_autofree char *templated = NULL;
    if (known) {
      m->uidl = g_string_chunk_insert(strings, known);
    } else if (use_x_uidl && m->x_uidl &&
               !g_hash_table_contains(used, m->x_uidl)) {
      m->uidl = g_string_chunk_insert(strings, m->x_uidl);
    } else if ((templated = from_template(format, m, uidvalidity)) &&
               !g_hash_table_contains(used, templated)) {
      m->uidl = g_string_chunk_insert(strings, templated);
    } else {
      char hex[MBOX_HASH_HEX_LEN + 1];
      mbox_hash_hex(m->hash, hex);
      if (!g_hash_table_contains(used, hex)) {
        m->uidl = g_string_chunk_insert(strings, hex);
      } else {
        for (unsigned k = 2;; k++) {
          g_autofree char *alt = g_strdup_printf("%s.%u", hex, k);
          if (!g_hash_table_contains(used, alt)) {
            m->uidl = g_string_chunk_insert(strings, alt);
            break;
          }
        }
      }
    }
    g_hash_table_add(used, (gpointer)m->uidl);
  }
}
