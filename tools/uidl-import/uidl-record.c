/* SPDX-License-Identifier: MIT */
/*
 * <Maildir>/poplar-uidls, the UIDLs store-maildir shows instead of its own:
 *
 *   poplar-uidls 1
 *   <unique part of a file name> <UIDL>
 *   ...
 *
 * The unique part is maildir_name_base()'s (the name before ':' without
 * ,S= and ,W=), so an entry follows its message through flag changes and
 * the move from new/ to cur/.  A line may carry more words after the UIDL
 * (a later version of the format may add some); they are kept as they
 * are.  The file is only ever replaced whole, by rename(), so a reader
 * never sees half of it.
 */
#include "uidl-import.h"

#include "maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* Far beyond any mailbox (80 octets a message); more is not our file. */
#define RECORD_MAX_SIZE (256 * 1024 * 1024)

typedef struct {
  char *base;  /* NULL once dropped */
  char *uidl;
  char *rest;  /* words after the UIDL, or NULL */
} RecordLine;

struct UidlRecord {
  GPtrArray *lines;       /* RecordLine*, in file order */
  GHashTable *by_base;    /* base -> RecordLine* */
  GHashTable *by_uidl;    /* uidl -> RecordLine* */
};

static void record_line_free(RecordLine *l)
{
  g_free(l->base);
  g_free(l->uidl);
  g_free(l->rest);
  g_free(l);
}

static UidlRecord *record_new(void)
{
  UidlRecord *r = g_new0(UidlRecord, 1);
  r->lines = g_ptr_array_new_with_free_func((GDestroyNotify)record_line_free);
  r->by_base = g_hash_table_new(g_str_hash, g_str_equal);
  r->by_uidl = g_hash_table_new(g_str_hash, g_str_equal);
  return r;
}

void uidl_record_free(UidlRecord *r)
{
  if (!r)
    return;
  g_hash_table_unref(r->by_base);
  g_hash_table_unref(r->by_uidl);
  g_ptr_array_unref(r->lines);
  g_free(r);
}

static bool base_valid(const char *s)
{
  if (!*s)
    return false;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p <= 0x20 || *p == 0x7f)
      return false;
  }
  return true;
}

static void add_line(UidlRecord *r, char *base, char *uidl, char *rest)
{
  RecordLine *l = g_new0(RecordLine, 1);
  l->base = base;
  l->uidl = uidl;
  l->rest = rest;
  g_ptr_array_add(r->lines, l);
  g_hash_table_insert(r->by_base, l->base, l);
  g_hash_table_insert(r->by_uidl, l->uidl, l);
}

static bool parse_into(UidlRecord *r, const char *text, size_t len,
                       GError **error)
{
  if (memchr(text, '\0', len)) {
    g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_FORMAT,
                "holds a NUL byte");
    return false;
  }
  g_autofree char *copy = g_strndup(text, len);
  g_auto(GStrv) lines = g_strsplit(copy, "\n", -1);
  if (strcmp(lines[0], UIDL_RECORD_MAGIC) != 0) {
    g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_FORMAT,
                "the first line is not \"" UIDL_RECORD_MAGIC "\"");
    return false;
  }
  for (guint i = 1; lines[i]; i++) {
    const char *line = lines[i];
    if (!*line && !lines[i + 1])
      break; /* the final line end */
    g_auto(GStrv) words = g_strsplit(line, " ", 3);
    if (!words[0] || !words[1] || !base_valid(words[0]) ||
        !maildir_uidl_valid(words[1])) {
      g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_FORMAT,
                  "line %u is not \"<unique part> <uidl>\"", i + 1);
      return false;
    }
    if (g_hash_table_contains(r->by_base, words[0]) ||
        g_hash_table_contains(r->by_uidl, words[1])) {
      g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_FORMAT,
                  "line %u repeats a unique part or a UIDL of an earlier "
                  "line", i + 1);
      return false;
    }
    add_line(r, g_strdup(words[0]), g_strdup(words[1]), g_strdup(words[2]));
  }
  return true;
}

UidlRecord *uidl_record_parse(const char *text, size_t len, GError **error)
{
  UidlRecord *r = record_new();
  if (len > 0 && !parse_into(r, text, len, error)) {
    uidl_record_free(r);
    return NULL;
  }
  return r;
}

const char *uidl_record_lookup(const UidlRecord *r, const char *base)
{
  RecordLine *l = g_hash_table_lookup(r->by_base, base);
  return l ? l->uidl : NULL;
}

const char *uidl_record_owner(const UidlRecord *r, const char *uidl)
{
  RecordLine *l = g_hash_table_lookup(r->by_uidl, uidl);
  return l ? l->base : NULL;
}

guint uidl_record_size(const UidlRecord *r)
{
  return g_hash_table_size(r->by_base);
}

static void drop_line(UidlRecord *r, RecordLine *l)
{
  g_hash_table_remove(r->by_base, l->base);
  g_hash_table_remove(r->by_uidl, l->uidl);
  g_clear_pointer(&l->base, g_free);
}

RecordChange uidl_record_merge(UidlRecord *r, const char *base,
                               const char *uidl, bool force,
                               const char **previous)
{
  RecordLine *mine = g_hash_table_lookup(r->by_base, base);
  RecordLine *holder = g_hash_table_lookup(r->by_uidl, uidl);
  if (previous)
    *previous = NULL;
  if (mine && strcmp(mine->uidl, uidl) == 0)
    return RECORD_UNCHANGED;
  if (!force && (mine || holder)) {
    if (previous)
      *previous = mine ? mine->uidl : holder->base;
    return RECORD_CONFLICT;
  }
  bool replaced = mine || holder;
  if (holder)
    drop_line(r, holder);
  if (mine) {
    /* Same place in the file; only the UIDL changes. */
    g_hash_table_remove(r->by_uidl, mine->uidl);
    g_free(mine->uidl);
    mine->uidl = g_strdup(uidl);
    g_hash_table_insert(r->by_uidl, mine->uidl, mine);
  } else {
    add_line(r, g_strdup(base), g_strdup(uidl), NULL);
  }
  return replaced ? RECORD_REPLACED : RECORD_ADDED;
}

char *uidl_record_format(const UidlRecord *r, size_t *len)
{
  GString *out = g_string_new(UIDL_RECORD_MAGIC "\n");
  for (guint i = 0; i < r->lines->len; i++) {
    const RecordLine *l = g_ptr_array_index(r->lines, i);
    if (!l->base)
      continue;
    g_string_append_printf(out, "%s %s%s%s\n", l->base, l->uidl,
                           l->rest ? " " : "", l->rest ? l->rest : "");
  }
  if (len)
    *len = out->len;
  return g_string_free(out, FALSE);
}

UidlRecord *uidl_record_load(int root_fd, const char *path, GError **error)
{
  int fd = openat(root_fd, UIDL_RECORD_FILE,
                  O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
  if (fd < 0 && errno == ENOENT)
    return record_new();
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_FAILED,
                "cannot read %s/" UIDL_RECORD_FILE ": %s", path,
                g_strerror(errno));
    if (fd >= 0)
      close(fd);
    return NULL;
  }
  if (!S_ISREG(st.st_mode) || st.st_size > RECORD_MAX_SIZE) {
    g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_FORMAT,
                "%s/" UIDL_RECORD_FILE " is not a regular file of a "
                "sensible size; not changed", path);
    close(fd);
    return NULL;
  }
  GString *text = g_string_sized_new((gsize)st.st_size + 1);
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 || text->len + (size_t)MAX(n, 0) > RECORD_MAX_SIZE) {
      g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_FAILED,
                  "cannot read %s/" UIDL_RECORD_FILE ": %s", path,
                  n < 0 ? g_strerror(errno) : "too large");
      close(fd);
      g_string_free(text, TRUE);
      return NULL;
    }
    if (n == 0)
      break;
    g_string_append_len(text, buf, n);
  }
  close(fd);
  g_autoptr(GError) parse_error = NULL;
  UidlRecord *r = uidl_record_parse(text->str, text->len, &parse_error);
  g_string_free(text, TRUE);
  if (!r)
    g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_FORMAT,
                "%s/" UIDL_RECORD_FILE ": %s; not changed", path,
                parse_error->message);
  return r;
}

static bool write_all(int fd, const char *data, size_t len)
{
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return false;
    data += n;
    len -= (size_t)n;
  }
  return true;
}

bool uidl_record_save(int root_fd, const char *path, const UidlRecord *r,
                      GError **error)
{
  struct stat root_st;
  if (fstat(root_fd, &root_st) != 0) {
    g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_FAILED,
                "cannot stat %s: %s", path, g_strerror(errno));
    return false;
  }
  /* A name of our own: a server writing the file at the same moment
   * (it holds the same lock, so only after a lock was broken) uses
   * another. */
  g_autofree char *uuid = g_uuid_string_random();
  g_autofree char *tmp = g_strdup_printf(UIDL_RECORD_FILE ".%s.tmp", uuid);
  int fd = openat(root_fd, tmp,
                  O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_FAILED,
                "cannot create %s/%s: %s", path, tmp, g_strerror(errno));
    return false;
  }
  size_t len;
  g_autofree char *text = uidl_record_format(r, &len);
  const char *what = "write";
  bool ok = write_all(fd, text, len);
  /* Run as root, the file must still be the mail user's to read. */
  if (ok && geteuid() == 0 && root_st.st_uid != 0) {
    what = "set the owner of";
    ok = fchown(fd, root_st.st_uid, root_st.st_gid) == 0;
  }
  if (ok) {
    what = "fsync";
    ok = fsync(fd) == 0;
  }
  int err = errno;
  if (close(fd) != 0 && ok) {
    err = errno;
    what = "close";
    ok = false;
  }
  if (ok && renameat(root_fd, tmp, root_fd, UIDL_RECORD_FILE) != 0) {
    err = errno;
    what = "rename";
    ok = false;
  }
  if (!ok) {
    unlinkat(root_fd, tmp, 0);
    g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_FAILED,
                "cannot %s %s/%s: %s", what, path, tmp, g_strerror(err));
    return false;
  }
  /* The rename itself must reach the disk before we report success. */
  if (fsync(root_fd) != 0) {
    g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_FAILED,
                "cannot fsync %s: %s", path, g_strerror(errno));
    return false;
  }
  return true;
}
