/* SPDX-License-Identifier: MIT */
/*
 * Which UIDL each message of an open Maildir gets, and recording the ones
 * shown.  In order of precedence:
 *
 *  1. the message's entry in poplar-uidls (what a client was shown before,
 *     or what the UIDL migration tool wrote);
 *  2. with uidl-format set: the POP3 UIDL Dovecot saved in dovecot-uidlist
 *     (its P field; empty means the file name), then the template expanded
 *     with the message's UID and the UIDVALIDITY from dovecot-uidlist (or
 *     courierimapuiddb, or courierpop3dsizelist), its file name and GUID;
 *  3. the unique part of the file name (maildir-name.c), which is also
 *     what a template result that RFC 1939 does not allow falls back to.
 *
 * A message the UID list does not know yet gets the next UID there
 * (maildir-uidlist-write.c) before anything is shown.  Every UIDL of the
 * listing that rule 3 would not give again is then written to poplar-uidls
 * before the login is answered, so that a crash, a changed uidl-format or
 * a lost dovecot-uidlist never changes a UIDL a client may have seen; with
 * the default settings the file is never written.
 */
#include "maildir.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static bool template_needs_uid(const MaildirStore *store)
{
  return store->uidl_format &&
         (uidl_format_vars(store->uidl_format) &
          (UIDL_VAR_UID | UIDL_VAR_UIDVALIDITY)) != 0;
}

/* Keys (file names up to ':') of messages that need a UID and have none;
 * @files gets each one's file name. */
static GPtrArray *keys_without_uid(MaildirMailbox *mb,
                                   const MaildirUidlist *list,
                                   const MaildirUidlRecord *record,
                                   GPtrArray *files)
{
  GPtrArray *keys = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
  for (size_t i = 0; i < mb->n_msgs; i++) {
    const MaildirMsg *m = &mb->msgs[i];
    if (maildir_uidl_record_lookup(record, m->base))
      continue;
    char *key = maildir_uidlist_key(m->file);
    if (maildir_uidlist_lookup(list, key) ||
        !g_hash_table_add(seen, key)) {
      g_free(key);
      continue;
    }
    g_ptr_array_add(keys, key);
    g_ptr_array_add(files, m->file);
  }
  return keys;
}

static char *from_template(const MaildirStore *store,
                           const MaildirUidlist *list,
                           const MaildirUidRec *rec, const char *key)
{
  char uid[16] = "", uidvalidity[16] = "";
  UidlFormatValues values = {.filename = key, .guid = key};
  if (rec) {
    g_snprintf(uid, sizeof uid, "%" PRIu32, rec->uid);
    values.uid = uid;
    if (rec->guid && rec->guid[0])
      values.guid = rec->guid;
  }
  if (list) {
    g_snprintf(uidvalidity, sizeof uidvalidity, "%" PRIu32,
               rec && rec->uidvalidity ? rec->uidvalidity
                                       : list->uidvalidity);
    values.uidvalidity = uidvalidity;
  }
  return uidl_format_expand(store->uidl_format, &values);
}

static bool parse_order(const char *s, uint64_t *out)
{
  guint64 v;
  if (!s || !g_ascii_isdigit(s[0]) ||
      !g_ascii_string_to_unsigned(s, 10, 0, G_MAXUINT64, &v, NULL))
    return false;
  *out = v;
  return true;
}

/* Dovecot lists messages with a saved POP3 order first, by that order,
 * and the others after them; the others keep their order here. */
static int order_compare(const void *a, const void *b)
{
  const MaildirMsg *x = a, *y = b;
  if (x->has_order != y->has_order)
    return x->has_order ? -1 : 1;
  if (x->has_order && x->pop3_order != y->pop3_order)
    return x->pop3_order < y->pop3_order ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void give_uidl(MaildirMailbox *mb, MaildirMsg *m, const char *uidl,
                      const char *origin)
{
  if (!maildir_uidl_valid(uidl)) {
    /* RFC 1939 allows no other; the file name's rule always gives one. */
    maildir_log(mb, POPLAR_LOG_WARNING,
                "%s/%s/%s: the UIDL from %s is not one RFC 1939 allows "
                "(1 to 70 characters 0x21..0x7E); it gets %s instead",
                mb->path, m->in_new ? "new" : "cur", m->file, origin,
                m->uidl);
    return;
  }
  m->uidl = g_string_chunk_insert(mb->strings, uidl);
}

bool maildir_uidls_assign(MaildirMailbox *mb, GError **error)
{
  const MaildirStore *store = mb->store;
  unsigned bad_lines = 0;
  if (!maildir_uidl_record_load(mb->root_fd, &mb->record, &bad_lines, error))
    return false;
  if (bad_lines)
    maildir_log(mb, POPLAR_LOG_WARNING,
                "%s/%s: %u lines that are not \"<unique part> <uidl>\" "
                "ignored", mb->path, MAILDIR_UIDL_RECORD_FILE, bad_lines);

  MaildirUidlist *list = NULL;
  if (store->uidl_format &&
      !maildir_uidlist_load(mb->root_fd, store->uid_source, &list, error))
    return false;
  if (template_needs_uid(store)) {
    g_autoptr(GPtrArray) files = g_ptr_array_new();
    g_autoptr(GPtrArray) keys = keys_without_uid(mb, list, mb->record, files);
    if (keys->len > 0) {
      maildir_uidlist_free(list);
      list = NULL;
      if (!maildir_uidlist_assign(mb->root_fd, store->uid_source, keys,
                                  files, &list, error))
        return false;
      maildir_log(mb, POPLAR_LOG_INFO, "%s: %u new messages given UIDs in "
                  "%s", mb->path, keys->len,
                  maildir_uidlist_file_name(store->uid_source));
    }
  }

  bool any_order = false;
  for (size_t i = 0; i < mb->n_msgs; i++) {
    MaildirMsg *m = &mb->msgs[i];
    m->seq = i;
    const char *shown = maildir_uidl_record_lookup(mb->record, m->base);
    if (shown) {
      m->uidl = g_string_chunk_insert(mb->strings, shown);
      continue;
    }
    if (!store->uidl_format)
      continue;
    g_autofree char *key = maildir_uidlist_key(m->file);
    const MaildirUidRec *rec = maildir_uidlist_lookup(list, key);
    if (rec && parse_order(rec->pop3_order, &m->pop3_order)) {
      m->has_order = true;
      any_order = true;
    }
    if (rec && rec->pop3_uidl && store->uid_source == MAILDIR_UID_DOVECOT) {
      give_uidl(mb, m, rec->pop3_uidl[0] ? rec->pop3_uidl : key,
                "dovecot-uidlist's P field");
      continue;
    }
    if (template_needs_uid(store) && !rec) {
      /* The UID list lost it again between our writing and reading.
       * Listed under another UIDL now, it would change UIDL in the next
       * session: not listed until it has its UID. */
      maildir_log(mb, POPLAR_LOG_WARNING, "%s/%s/%s not listed: it has no "
                  "UID in %s", mb->path, m->in_new ? "new" : "cur", m->file,
                  maildir_uidlist_file_name(store->uid_source));
      m->dropped = true;
      continue;
    }
    g_autofree char *uidl = from_template(store, list, rec, key);
    give_uidl(mb, m, uidl, "uidl-format");
  }
  if (any_order)
    qsort(mb->msgs, mb->n_msgs, sizeof(MaildirMsg), order_compare);
  maildir_uidlist_free(list);
  return true;
}

bool maildir_uidls_record(MaildirMailbox *mb, GError **error)
{
  if (!mb->record)
    return true;
  g_autoptr(GHashTable) bases = g_hash_table_new(g_str_hash, g_str_equal);
  for (size_t i = 0; i < mb->n_msgs; i++)
    g_hash_table_add(bases, (gpointer)mb->msgs[i].base);
  for (size_t i = 0; i < mb->n_msgs; i++) {
    const MaildirMsg *m = &mb->msgs[i];
    if (m->dropped || m->duplicate)
      continue;
    g_autofree char *plain = maildir_uidl_for_base(m->base);
    if (strcmp(plain, m->uidl) != 0)
      maildir_uidl_record_set(mb->record, m->base, m->uidl);
  }
  /* Entries of messages no longer in the Maildir can never be shown
   * again. */
  maildir_uidl_record_keep_only(mb->record, bases);
  if (!maildir_uidl_record_changed(mb->record))
    return true;
  if (!maildir_uidl_record_save(mb->root_fd, mb->record, error)) {
    g_prefix_error(error, "the UIDLs to be shown cannot be recorded, so "
                   "they are not shown: ");
    if ((*error)->code != POPLAR_STORE_PERMFAIL)
      (*error)->code = POPLAR_STORE_TEMPFAIL;
    return false;
  }
  return true;
}
