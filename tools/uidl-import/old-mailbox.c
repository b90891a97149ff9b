/* SPDX-License-Identifier: MIT */
/*
 * What the old server says about a mailbox: each message's UIDL, its size
 * from LIST and the key of its header from TOP n 0.  Nothing is deleted
 * and nothing is retrieved whole.
 */
#include "uidl-import.h"

#include <string.h>

void old_message_clear(OldMessage *msg)
{
  g_clear_pointer(&msg->uidl, g_free);
}

/* Parses "<number> <word>" lines into @out (number -> word), refusing
 * what no RFC 1939 server sends. */
static bool parse_listing(const GString *body, const char *what,
                          GHashTable *out, GError **error)
{
  g_auto(GStrv) lines = g_strsplit(body->str, "\n", -1);
  for (char **l = lines; *l; l++) {
    if (!**l)
      continue;
    g_auto(GStrv) words = g_strsplit_set(*l, " \t", 3);
    guint64 number;
    if (!words[0] || !words[1] || !words[1][0] ||
        !g_ascii_string_to_unsigned(words[0], 10, 1, G_MAXUINT, &number,
                                    NULL)) {
      g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_PROTOCOL,
                  "%s: line not understood: %.200s", what, *l);
      return false;
    }
    g_hash_table_insert(out, GUINT_TO_POINTER((guint)number),
                        g_strdup(words[1]));
  }
  return true;
}

static gint by_number(gconstpointer a, gconstpointer b)
{
  guint x = GPOINTER_TO_UINT(*(const gpointer *)a);
  guint y = GPOINTER_TO_UINT(*(const gpointer *)b);
  return x < y ? -1 : x > y;
}

GArray *old_mailbox_read(Pop3Client *client, GError **error)
{
  g_autoptr(GString) uidl_body = NULL, list_body = NULL;
  if (!pop3_client_multiline(client, "UIDL", &uidl_body, error) ||
      !pop3_client_multiline(client, "LIST", &list_body, error))
    return NULL;
  g_autoptr(GHashTable) uidls =
      g_hash_table_new_full(NULL, NULL, NULL, g_free);
  g_autoptr(GHashTable) sizes =
      g_hash_table_new_full(NULL, NULL, NULL, g_free);
  if (!parse_listing(uidl_body, "UIDL", uidls, error) ||
      !parse_listing(list_body, "LIST", sizes, error))
    return NULL;

  g_autoptr(GPtrArray) numbers = g_ptr_array_new();
  GHashTableIter it;
  gpointer number_key;
  g_hash_table_iter_init(&it, sizes);
  while (g_hash_table_iter_next(&it, &number_key, NULL))
    g_ptr_array_add(numbers, number_key);
  g_ptr_array_sort(numbers, by_number);
  GArray *msgs = g_array_new(FALSE, TRUE, sizeof(OldMessage));
  g_array_set_clear_func(msgs, (GDestroyNotify)old_message_clear);
  for (guint i = 0; i < numbers->len; i++) {
    guint number = GPOINTER_TO_UINT(g_ptr_array_index(numbers, i));
    const char *uidl = g_hash_table_lookup(uidls, GUINT_TO_POINTER(number));
    guint64 size;
    if (!uidl) {
      g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_PROTOCOL,
                  "message %u is in LIST but has no UIDL", number);
      g_array_unref(msgs);
      return NULL;
    }
    if (!g_ascii_string_to_unsigned(g_hash_table_lookup(
                                        sizes, GUINT_TO_POINTER(number)),
                                    10, 0, G_MAXUINT64, &size, NULL)) {
      g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_PROTOCOL,
                  "LIST gives message %u no size", number);
      g_array_unref(msgs);
      return NULL;
    }
    g_autofree char *top = g_strdup_printf("TOP %u 0", number);
    g_autoptr(GString) header = NULL;
    if (!pop3_client_multiline(client, top, &header, error)) {
      g_array_unref(msgs);
      return NULL;
    }
    OldMessage m = {.number = number, .uidl = g_strdup(uidl), .size = size};
    header_key_of(header->str, header->len, m.key);
    g_array_append_val(msgs, m);
  }
  return msgs;
}
