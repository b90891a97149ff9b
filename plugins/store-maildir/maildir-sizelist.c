/* SPDX-License-Identifier: MIT */
/*
 * Courier's POP3 UIDs: courierpop3dsizelist, which courier-pop (Courier
 * 4.x and later, Debian's courier-pop 1.0) keeps in each Maildir and
 * makes its UIDLs "UID<uid>-<uidvalidity>" from.  These are not Courier's
 * IMAP UIDs (courierimapuiddb): the two servers number messages apart.
 *
 *   /<version> <next uid> <uidvalidity>
 *   <file name> <size> <uid>:<uidvalidity>[:<utf8>]
 *
 * Version 3 has the utf8 field, version 2 not; Courier reads both.  Each
 * entry keeps the UIDVALIDITY it was given (a list rebuilt later has a
 * new one in its header only).  Courier matches an entry to a message by
 * the name up to its first ':', and skips lines that do not parse; so
 * does this.  The size is the message's size as POP3 sends it, which
 * Courier takes from here rather than count again.
 *
 * New messages are added the way Courier adds them: the next UIDs, with
 * the header's UIDVALIDITY, and the whole file rewritten through a
 * temporary file and a rename.
 */
#include "maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SIZELIST_VERSION 3
#define SIZELIST_TMP_FILE MAILDIR_COURIER_POP3_FILE ".poplar-tmp"
#define READ_CHUNK 65536

static bool parse_ulong32(const char *s, const char **end, uint32_t *out)
{
  if (!g_ascii_isdigit(*s))
    return false;
  char *e = NULL;
  errno = 0;
  guint64 v = g_ascii_strtoull(s, &e, 10);
  if (errno != 0 || v > UINT32_MAX)
    return false;
  *out = (uint32_t)v;
  *end = e;
  return true;
}

static bool parse_header(MaildirUidlist *list, const char *line,
                         char **problem)
{
  const char *p = line + 1;
  uint32_t version = 0;
  if (line[0] != '/' || !parse_ulong32(p, &p, &version) ||
      (version != SIZELIST_VERSION && version != SIZELIST_VERSION - 1)) {
    *problem = g_strdup("its first line is not \"/3 <next uid> "
                        "<uidvalidity>\"");
    return false;
  }
  list->version = (int)version;
  if (*p++ != ' ' || !parse_ulong32(p, &p, &list->next_uid) || *p++ != ' ' ||
      !parse_ulong32(p, &p, &list->uidvalidity) || *p ||
      list->uidvalidity == 0) {
    *problem = g_strdup("its header has no next UID or UIDVALIDITY");
    return false;
  }
  return true;
}

/* "<name> <size> <uid>:<uidv>[:<utf8>]"; NULL for what Courier skips. */
static MaildirUidRec *parse_entry(char *line)
{
  char *last = strrchr(line, ' ');
  if (!last)
    return NULL;
  *last = '\0';
  char *size = strrchr(line, ' ');
  *last = ' ';
  if (!size || size == line || size + 1 == last)
    return NULL;
  for (const char *d = size + 1; d < last; d++)
    if (!g_ascii_isdigit(*d))
      return NULL;
  const char *p = last + 1;
  uint32_t uid, uidvalidity;
  if (!parse_ulong32(p, &p, &uid) || *p++ != ':' ||
      !parse_ulong32(p, &p, &uidvalidity) || (*p && *p != ':') || uid == 0)
    return NULL;
  MaildirUidRec *rec = g_new0(MaildirUidRec, 1);
  rec->uid = uid;
  rec->uidvalidity = uidvalidity;
  *size = '\0';
  rec->name = maildir_uidlist_key(line);
  *size = ' ';
  return rec;
}

bool maildir_sizelist_parse(char *text, size_t len, MaildirUidlist **out,
                            char **problem)
{
  *out = NULL;
  *problem = NULL;
  if (strlen(text) != len) {
    *problem = g_strdup("it holds binary data");
    return false;
  }
  char *nl = strchr(text, '\n');
  if (!nl) {
    *problem = g_strdup("it has no complete first line");
    return false;
  }
  *nl = '\0';
  MaildirUidlist *list = maildir_uidlist_new(MAILDIR_UID_COURIER_POP3);
  if (!parse_header(list, text, problem)) {
    maildir_uidlist_free(list);
    return false;
  }
  char *body = nl + 1;
  char *line = body;
  uint32_t top = 0;
  while (line < text + len) {
    nl = strchr(line, '\n');
    if (!nl)
      break; /* being written, or cut short: not trusted */
    *nl = '\0';
    MaildirUidRec *rec = parse_entry(line);
    *nl = '\n';
    if (rec) {
      if (rec->uid > top)
        top = rec->uid;
      MaildirUidRec *old = g_hash_table_lookup(list->by_name, rec->name);
      if (old)
        g_ptr_array_remove_fast(list->recs, old);
      g_ptr_array_add(list->recs, rec);
      g_hash_table_insert(list->by_name, rec->name, rec);
    }
    line = nl + 1;
  }
  list->complete_len = (size_t)(line - text);
  list->entries = g_strndup(body, (size_t)(line - body));
  /* Courier trusts the header; a next UID at or below one in use would
   * give two messages one UIDL, so it is never taken from there. */
  if (list->next_uid <= top)
    list->next_uid = top + 1;
  *out = list;
  return true;
}

/* The size POP3 sends (each LF as CRLF, and a final CRLF Courier adds
 * when the file lacks one), and whether the header has 8-bit octets, as
 * Courier's calcsize() finds them. */
static bool measure(int root_fd, const char *file, uint64_t *size,
                    bool *utf8, GError **error)
{
  int fd = -1;
  for (int i = 0; i < 2 && fd < 0; i++) {
    g_autofree char *rel = g_strconcat(i == 0 ? "cur/" : "new/", file, NULL);
    do
      fd = openat(root_fd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
                                    O_NONBLOCK);
    while (fd < 0 && errno == EINTR);
    if (fd < 0 && errno != ENOENT) {
      maildir_set_errno_error(error, errno, "cannot open %s", rel);
      return false;
    }
  }
  if (fd < 0) {
    maildir_set_errno_error(error, ENOENT, "cannot open %s in cur/ or new/",
                            file);
    return false;
  }
  g_autofree char *buf = g_malloc(READ_CHUNK);
  uint64_t octets = 0, lines = 0;
  bool in_header = true;
  char prev = '\n';
  *utf8 = false;
  for (;;) {
    ssize_t n = read(fd, buf, READ_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      maildir_set_errno_error(error, err, "cannot read %s", file);
      return false;
    }
    if (n == 0)
      break;
    for (ssize_t i = 0; i < n; i++) {
      char c = buf[i];
      if (c == '\n') {
        lines++;
        if (prev == '\n')
          in_header = false;
      } else if (in_header && (unsigned char)c >= 0x80) {
        *utf8 = true;
      }
      prev = c;
    }
    octets += (uint64_t)n;
  }
  close(fd);
  *size = octets + lines + (octets > 0 && prev != '\n' ? 2 : 0);
  return true;
}

bool maildir_sizelist_assign(int root_fd, GPtrArray *keys, GPtrArray *files,
                             MaildirUidlist **out, GError **error)
{
  *out = NULL;
  MaildirUidlist *list = NULL;
  if (!maildir_uidlist_load(root_fd, MAILDIR_UID_COURIER_POP3, &list, error))
    return false;
  if (!list) {
    list = maildir_uidlist_new(MAILDIR_UID_COURIER_POP3);
    list->version = SIZELIST_VERSION;
    list->uidvalidity = (uint32_t)time(NULL); /* as Courier picks one */
    list->entries = g_strdup("");
  }
  GString *added = g_string_new(NULL);
  bool ok = true;
  for (guint i = 0; i < keys->len && ok; i++) {
    const char *key = g_ptr_array_index(keys, i);
    const char *file = g_ptr_array_index(files, i);
    if (maildir_uidlist_lookup(list, key))
      continue;
    uint64_t size = 0;
    bool utf8 = false;
    ok = measure(root_fd, file, &size, &utf8, error);
    if (!ok)
      break;
    MaildirUidRec *rec = g_new0(MaildirUidRec, 1);
    rec->uid = list->next_uid++;
    rec->uidvalidity = list->uidvalidity;
    rec->name = g_strdup(key);
    g_ptr_array_add(list->recs, rec);
    g_hash_table_insert(list->by_name, rec->name, rec);
    g_string_append_printf(added, "%s %" PRIu64 " %" PRIu32 ":%" PRIu32
                           ":%d\n", file, size, rec->uid, rec->uidvalidity,
                           utf8 ? 1 : 0);
  }
  if (ok && added->len > 0) {
    /* Courier rewrites version 2 lists as 3 too; their entries read the
     * same without the utf8 field. */
    g_autofree char *whole = g_strdup_printf(
        "/%d %" PRIu32 " %" PRIu32 "\n%s%s", SIZELIST_VERSION,
        list->next_uid, list->uidvalidity, list->entries, added->str);
    ok = maildir_file_replace(root_fd, MAILDIR_COURIER_POP3_FILE,
                              SIZELIST_TMP_FILE, whole, strlen(whole), error);
  }
  g_string_free(added, TRUE);
  if (!ok) {
    maildir_uidlist_free(list);
    return false;
  }
  *out = list;
  return true;
}
