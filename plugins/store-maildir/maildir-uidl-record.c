/* SPDX-License-Identifier: MIT */
/*
 * poplar-uidls: the UIDLs this server has shown that it could not make
 * again from the file names alone, so that a UIDL a client has seen never
 * changes, whatever happens later to uidl-format, dovecot-uidlist or
 * courierimapuiddb.  The UIDL migration tool writes the same file.
 *
 * Format:
 *   poplar-uidls 1
 *   <unique part of the file name> <uidl>
 * one message a line, separated by one space; the unique part is what
 * maildir_name_base() gives (no blank, no '/'), the UIDL 1 to 70 octets of
 * 0x21..0x7E.  An entry wins over everything else.
 *
 * Written only by the session holding the mailbox lock, through
 * poplar-uidls.tmp, fsync and rename, before the login is answered.
 */
#include "maildir.h"

#include <string.h>

#define RECORD_HEADER "poplar-uidls 1"

struct MaildirUidlRecord {
  GHashTable *uidls; /* base -> uidl, both owned */
  bool changed;
  unsigned bad_lines;
};

void maildir_uidl_record_free(MaildirUidlRecord *rec)
{
  if (!rec)
    return;
  g_hash_table_unref(rec->uidls);
  g_free(rec);
}

static MaildirUidlRecord *record_new(void)
{
  MaildirUidlRecord *rec = g_new0(MaildirUidlRecord, 1);
  rec->uidls = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  return rec;
}

static bool valid_base(const char *s)
{
  if (!*s)
    return false;
  for (const char *p = s; *p; p++) {
    if ((unsigned char)*p <= 0x20 || *p == '/' || *p == 0x7f)
      return false;
  }
  return true;
}

bool maildir_uidl_record_parse(char *text, size_t len,
                               MaildirUidlRecord **out, char **problem)
{
  *out = NULL;
  *problem = NULL;
  if (strlen(text) != len) {
    *problem = g_strdup("it holds binary data");
    return false;
  }
  char *nl = strchr(text, '\n');
  if (!nl || (size_t)(nl - text) != strlen(RECORD_HEADER) ||
      memcmp(text, RECORD_HEADER, strlen(RECORD_HEADER)) != 0) {
    *problem = g_strdup("its first line is not \"" RECORD_HEADER "\"");
    return false;
  }
  MaildirUidlRecord *rec = record_new();
  for (char *line = nl + 1; *line;) {
    nl = strchr(line, '\n');
    char *next = nl ? nl + 1 : line + strlen(line);
    if (nl)
      *nl = '\0';
    char *space = strchr(line, ' ');
    if (space) {
      *space = '\0';
      if (valid_base(line) && maildir_uidl_valid(space + 1))
        g_hash_table_replace(rec->uidls, g_strdup(line),
                             g_strdup(space + 1));
      else
        rec->bad_lines++;
    } else if (*line) {
      rec->bad_lines++;
    }
    line = next;
  }
  *out = rec;
  return true;
}

bool maildir_uidl_record_load(int root_fd, MaildirUidlRecord **out,
                              unsigned *bad_lines, GError **error)
{
  g_autofree char *text = NULL;
  size_t len = 0;
  *out = NULL;
  *bad_lines = 0;
  if (!maildir_file_read(root_fd, MAILDIR_UIDL_RECORD_FILE, &text, &len,
                         error))
    return false;
  if (!text) {
    *out = record_new();
    return true;
  }
  g_autofree char *problem = NULL;
  if (!maildir_uidl_record_parse(text, len, out, &problem)) {
    /* Never replaced: it may hold what clients were shown. */
    g_set_error(error, MAILDIR_ERROR, POPLAR_STORE_TEMPFAIL,
                "%s cannot be read (%s); fix or remove it",
                MAILDIR_UIDL_RECORD_FILE, problem);
    return false;
  }
  *bad_lines = (*out)->bad_lines;
  return true;
}

const char *maildir_uidl_record_lookup(const MaildirUidlRecord *rec,
                                       const char *base)
{
  return g_hash_table_lookup(rec->uidls, base);
}

void maildir_uidl_record_set(MaildirUidlRecord *rec, const char *base,
                             const char *uidl)
{
  const char *old = g_hash_table_lookup(rec->uidls, base);
  if (old && strcmp(old, uidl) == 0)
    return;
  g_hash_table_replace(rec->uidls, g_strdup(base), g_strdup(uidl));
  rec->changed = true;
}

void maildir_uidl_record_keep_only(MaildirUidlRecord *rec, GHashTable *bases)
{
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init(&it, rec->uidls);
  while (g_hash_table_iter_next(&it, &key, NULL)) {
    if (!g_hash_table_contains(bases, key)) {
      g_hash_table_iter_remove(&it);
      rec->changed = true;
    }
  }
}

bool maildir_uidl_record_changed(const MaildirUidlRecord *rec)
{
  return rec->changed;
}

bool maildir_uidl_record_save(int root_fd, MaildirUidlRecord *rec,
                              GError **error)
{
  GString *s = g_string_new(RECORD_HEADER "\n");
  g_autoptr(GList) keys = g_hash_table_get_keys(rec->uidls);
  keys = g_list_sort(keys, (GCompareFunc)strcmp);
  for (GList *l = keys; l; l = l->next)
    g_string_append_printf(s, "%s %s\n", (const char *)l->data,
                           (const char *)g_hash_table_lookup(rec->uidls,
                                                             l->data));
  bool ok = maildir_file_replace(root_fd, MAILDIR_UIDL_RECORD_FILE,
                                 MAILDIR_UIDL_RECORD_TMP, s->str, s->len,
                                 error);
  g_string_free(s, TRUE);
  if (ok)
    rec->changed = false;
  return ok;
}
