/* SPDX-License-Identifier: MIT */
/*
 * Reading the IMAP UIDs another server gave a Maildir's messages:
 * Dovecot's dovecot-uidlist and Courier's courierimapuiddb.
 *
 * dovecot-uidlist, version 3 (Dovecot 1.1 and later):
 *   3 V<uidvalidity> N<next uid> G<mailbox guid> [<key><value>...]
 *   <uid> [<key><value> ...] :<file name up to the ':' of its info part>
 * The record keys are upper-case letters: P the POP3 UIDL saved by
 * pop3_save_uidl or the pop3-migration plugin (empty: the file name),
 * O the POP3 order, G the message GUID, S and W sizes.  Version 1 (and
 * Courier's courierimapuiddb, which has the same layout):
 *   1 <uidvalidity> <next uid>
 *   <uid> <file name up to the ':'>
 * UIDs rise strictly from line to line; a file that breaks that, or any
 * other rule Dovecot checks, is refused as a whole rather than half
 * believed, because a wrong UID is a wrong UIDL.
 */
#include "maildir.h"

#include <string.h>

static void rec_free(gpointer p)
{
  MaildirUidRec *r = p;
  g_free(r->name);
  g_free(r->pop3_uidl);
  g_free(r->pop3_order);
  g_free(r->guid);
  g_free(r);
}

void maildir_uidlist_free(MaildirUidlist *list)
{
  if (!list)
    return;
  g_ptr_array_unref(list->recs);
  g_hash_table_unref(list->by_name);
  g_free(list->header_rest);
  g_free(list->entries);
  g_free(list);
}

MaildirUidlist *maildir_uidlist_new(MaildirUidSource source)
{
  MaildirUidlist *list = g_new0(MaildirUidlist, 1);
  list->source = source;
  list->recs = g_ptr_array_new_with_free_func(rec_free);
  list->by_name = g_hash_table_new(g_str_hash, g_str_equal);
  list->next_uid = 1;
  return list;
}

const char *maildir_uidlist_file_name(MaildirUidSource source)
{
  switch (source) {
  case MAILDIR_UID_COURIER:
    return MAILDIR_COURIER_UIDDB_FILE;
  case MAILDIR_UID_COURIER_POP3:
    return MAILDIR_COURIER_POP3_FILE;
  case MAILDIR_UID_DOVECOT:
    break;
  }
  return MAILDIR_DOVECOT_UIDLIST_FILE;
}

char *maildir_uidlist_key(const char *file)
{
  const char *colon = strchr(file, ':');
  return colon ? g_strndup(file, (size_t)(colon - file)) : g_strdup(file);
}

static bool parse_u32(const char *s, size_t len, uint32_t *out)
{
  if (len == 0 || len > 10)
    return false;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (!g_ascii_isdigit(s[i]))
      return false;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (v > UINT32_MAX)
    return false;
  *out = (uint32_t)v;
  return true;
}

/* "3 V1 N2 G..." after the "3 ". */
static bool parse_v3_header(MaildirUidlist *list, const char *line,
                            char **problem)
{
  GString *rest = g_string_new(NULL);
  for (const char *p = line; *p;) {
    const char *end = strchr(p, ' ');
    if (!end)
      end = p + strlen(p);
    char key = *p;
    const char *value = p + 1;
    size_t value_len = (size_t)(end - value);
    if (key == 'V' || key == 'N') {
      uint32_t v;
      if (!parse_u32(value, value_len, &v)) {
        *problem = g_strdup_printf("its header has a bad %c field", key);
        g_string_free(rest, TRUE);
        return false;
      }
      if (key == 'V')
        list->uidvalidity = v;
      else
        list->next_uid = v;
    } else if (end > p) {
      if (key == 'G')
        list->have_guid = true;
      if (rest->len)
        g_string_append_c(rest, ' ');
      g_string_append_len(rest, p, end - p);
    }
    p = end;
    while (*p == ' ')
      p++;
  }
  list->header_rest = g_string_free(rest, FALSE);
  return true;
}

static bool parse_header(MaildirUidlist *list, const char *line,
                         char **problem)
{
  if (!g_ascii_isdigit(line[0]) || line[1] != ' ') {
    *problem = g_strdup("its first line has no version number");
    return false;
  }
  list->version = line[0] - '0';
  const char *rest = line + 2;
  bool ok;
  if (list->version == 1) {
    g_auto(GStrv) parts = g_strsplit(rest, " ", -1);
    ok = g_strv_length(parts) >= 2 &&
         parse_u32(parts[0], strlen(parts[0]), &list->uidvalidity) &&
         parse_u32(parts[1], strlen(parts[1]), &list->next_uid);
    if (!ok)
      *problem = g_strdup("its version 1 header does not parse");
  } else if (list->version == 3 && list->source == MAILDIR_UID_DOVECOT) {
    list->uidvalidity = 0;
    list->next_uid = 0;
    ok = parse_v3_header(list, rest, problem);
  } else {
    *problem = g_strdup_printf("version %d is not one this server reads",
                               list->version);
    return false;
  }
  if (ok && (list->uidvalidity == 0 || list->next_uid == 0)) {
    *problem = g_strdup("its header has no UIDVALIDITY or next UID");
    ok = false;
  }
  return ok;
}

static void take_extension(MaildirUidRec *rec, const char *field, size_t len)
{
  char **slot = NULL;
  switch (field[0]) {
  case 'P':
    slot = &rec->pop3_uidl;
    break;
  case 'O':
    slot = &rec->pop3_order;
    break;
  case 'G':
    slot = &rec->guid;
    break;
  default:
    return; /* sizes and keys of later versions */
  }
  g_free(*slot);
  *slot = g_strndup(field + 1, len - 1);
}

static bool parse_record(MaildirUidlist *list, const char *line,
                         uint32_t prev_uid, MaildirUidRec **out,
                         char **problem)
{
  const char *p = line;
  while (g_ascii_isdigit(*p))
    p++;
  uint32_t uid;
  if (!parse_u32(line, (size_t)(p - line), &uid) || uid == 0 || *p != ' ') {
    *problem = g_strdup("a line does not start with a UID");
    return false;
  }
  if (uid <= prev_uid) {
    *problem = g_strdup_printf("UID %u follows UID %u", uid, prev_uid);
    return false;
  }
  if (list->version == 1 && uid >= list->next_uid &&
      list->source == MAILDIR_UID_DOVECOT) {
    *problem = g_strdup_printf("UID %u is not below the next UID %u", uid,
                               list->next_uid);
    return false;
  }
  MaildirUidRec *rec = g_new0(MaildirUidRec, 1);
  rec->uid = uid;
  while (*p == ' ')
    p++;
  if (list->version == 3) {
    while (*p && *p != ':') {
      const char *end = strchr(p, ' ');
      if (!end)
        end = p + strlen(p);
      if (*p < 'A' || *p > 'Z') {
        *problem = g_strdup_printf("UID %u has a field that is not one", uid);
        rec_free(rec);
        return false;
      }
      take_extension(rec, p, (size_t)(end - p));
      p = end;
      while (*p == ' ')
        p++;
    }
    if (*p == ':')
      p++;
  }
  if (!*p || strchr(p, '/')) {
    *problem = g_strdup_printf("UID %u has no valid file name", uid);
    rec_free(rec);
    return false;
  }
  /* Courier keeps the name up to its last ':', Dovecot up to the first;
   * names hold at most one. */
  rec->name = maildir_uidlist_key(p);
  *out = rec;
  return true;
}

bool maildir_uidlist_parse(MaildirUidSource source, char *text, size_t len,
                           MaildirUidlist **out, char **problem)
{
  if (source == MAILDIR_UID_COURIER_POP3)
    return maildir_sizelist_parse(text, len, out, problem);
  *out = NULL;
  *problem = NULL;
  if (strlen(text) != len) {
    *problem = g_strdup("it holds binary data");
    return false;
  }
  MaildirUidlist *list = maildir_uidlist_new(source);
  uint32_t prev_uid = 0;
  unsigned line_no = 0;
  bool ok = true;
  char *line = text;
  while (ok && line < text + len) {
    char *nl = strchr(line, '\n');
    if (!nl) {
      /* A last line without its newline is being written right now (or
       * was cut short): not trusted. */
      break;
    }
    *nl = '\0';
    line_no++;
    if (line_no == 1) {
      ok = parse_header(list, line, problem);
    } else if (*line) {
      MaildirUidRec *rec = NULL;
      ok = parse_record(list, line, prev_uid, &rec, problem);
      if (ok) {
        prev_uid = rec->uid;
        MaildirUidRec *old = g_hash_table_lookup(list->by_name, rec->name);
        if (old) /* Dovecot too lets the later line win. */
          g_ptr_array_remove_fast(list->recs, old);
        g_ptr_array_add(list->recs, rec);
        g_hash_table_insert(list->by_name, rec->name, rec);
      }
    }
    line = nl + 1;
  }
  if (ok && line_no == 0) {
    *problem = g_strdup("it is empty");
    ok = false;
  }
  if (!ok) {
    char *p = g_strdup_printf("line %u: %s", line_no, *problem);
    g_free(*problem);
    *problem = p;
    maildir_uidlist_free(list);
    return false;
  }
  list->complete_len = (size_t)(line - text);
  if (list->next_uid <= prev_uid)
    list->next_uid = prev_uid + 1;
  *out = list;
  return true;
}

bool maildir_uidlist_load(int root_fd, MaildirUidSource source,
                          MaildirUidlist **out, GError **error)
{
  const char *name = maildir_uidlist_file_name(source);
  g_autofree char *text = NULL;
  size_t len = 0;
  *out = NULL;
  if (!maildir_file_read(root_fd, name, &text, &len, error))
    return false;
  if (!text)
    return true; /* none yet */
  g_autofree char *problem = NULL;
  if (!maildir_uidlist_parse(source, text, len, out, &problem)) {
    g_set_error(error, MAILDIR_ERROR, POPLAR_STORE_TEMPFAIL,
                "%s cannot be read: %s", name, problem);
    return false;
  }
  return true;
}

const MaildirUidRec *maildir_uidlist_lookup(const MaildirUidlist *list,
                                            const char *key)
{
  return list ? g_hash_table_lookup(list->by_name, key) : NULL;
}
