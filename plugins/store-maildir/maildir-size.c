/* SPDX-License-Identifier: MIT */
/*
 * Message sizes as sent (CRLF line ends), and the cache that keeps them.
 *
 * STAT, LIST and the mailbox summary need every message's size as the core
 * sends it, which differs from the file size when the file has bare LF line
 * ends.  A size comes, in this order of preference, from:
 *  1. a ",W=<n>" field in the file name (Dovecot and others write it; it
 *     is exactly the size as sent), read without touching the file;
 *  2. the poplar-sizes file in the Maildir, keyed by UIDL;
 *  3. reading the message once, counting like the core's encoder
 *     (poplar_crlf_size_*), after which it goes into poplar-sizes.
 * So the second session on a Maildir reads no message file at all.
 *
 * Counting a message also finds out whether the core sends it exactly as
 * it is stored (poplar_crlf_size_sent_as_stored(): CRLF line ends, no line
 * starting with '.', a final CRLF); such a message is offered for
 * sendfile() (maildir_message_open_fd()), and the cache remembers that
 * too.  A size taken from ",W=" says nothing about it, so those messages
 * are never offered.
 *
 * Why a separate cache file and not ",W=" added to the names: renaming a
 * file in cur/ only to record its size races with every MUA or IMAP server
 * that has the old name open or listed (they then see the message vanish
 * and come back), and it would rename mail that other programs delivered
 * or moved themselves.  The only rename this store makes is the one every
 * Maildir reader makes (new/ to cur/ with ":2,").  The cache is only an
 * optimisation: deleting it costs one re-count, never mail.
 *
 * Format (text, one entry a line):
 *   poplar-sizes 2
 *   <uidl> <size as sent> <flags>
 *   ...
 *   ~end <number of entries>
 * <flags> is "-" or letters: 's' when the message is sent as it is stored;
 * letters this version does not know are ignored, so that a later one can
 * add its own.  Version 1 files (the same without <flags>, written before
 * sendfile support) are read too: their messages are not offered for
 * sendfile (remove the file to have them counted again), and the file is
 * rewritten in version 2.  A poplard that only knows version 1 rejects a
 * version 2 file and counts again: nothing worse than during an upgrade.
 * A Maildir message never changes once delivered (only its name does), so
 * an entry stays right for as long as the UIDL exists.  UIDLs are printable
 * ASCII without blanks, so the lines need no quoting.  The closing "~end"
 * line catches a truncated file; anything that does not parse exactly
 * makes the whole file ignored and rewritten, and a UIDL the file does not
 * list is always counted from the message itself.
 *
 * Only the session holding the mailbox lock writes the cache, through
 * poplar-sizes.tmp and rename(), so a reader sees the old file or the new
 * one.  The tmp file is not fsynced: after a crash the worst outcome is an
 * empty or cut file, which the checks above reject.
 */
#include "maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_HEADER "poplar-sizes 2"
#define CACHE_HEADER_V1 "poplar-sizes 1"
#define CACHE_FLAG_AS_STORED 's'
/* No UIDL is "~end": the only UIDLs starting with '~' are hashes. */
#define CACHE_TRAILER "~end"
/* Far above what 1,000,000 messages need; a larger file is not ours. */
#define CACHE_MAX_BYTES (128u * 1024 * 1024)

typedef struct CacheEntry {
  const char *uidl; /* points into the cache's text */
  uint64_t size;
  bool as_stored; /* flag 's' */
  bool used;
} CacheEntry;

struct MaildirSizeCache {
  char *text;
  CacheEntry *entries;
  size_t n_entries;
  GHashTable *index; /* uidl -> CacheEntry* */
  bool corrupt;
  bool old_format; /* version 1: to be rewritten */
};

static bool read_all(int fd, char **text, size_t *len, char **problem)
{
  struct stat st;
  if (fstat(fd, &st) != 0) {
    *problem = g_strdup_printf("cannot stat it: %s", g_strerror(errno));
    return false;
  }
  if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > CACHE_MAX_BYTES) {
    *problem = g_strdup("it is not a regular file of a sensible size");
    return false;
  }
  size_t cap = (size_t)st.st_size + 1;
  char *buf = g_malloc(cap + 1);
  size_t got = 0;
  for (;;) {
    ssize_t n = read(fd, buf + got, cap - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      *problem = g_strdup_printf("cannot read it: %s", g_strerror(errno));
      g_free(buf);
      return false;
    }
    if (n == 0)
      break;
    got += (size_t)n;
    if (got == cap) { /* grew while being read: not a finished file */
      *problem = g_strdup("it changed while being read");
      g_free(buf);
      return false;
    }
  }
  buf[got] = '\0';
  *text = buf;
  *len = got;
  return true;
}

static bool parse_size(const char *s, uint64_t *out)
{
  guint64 v;
  if (!g_ascii_isdigit(s[0]) ||
      !g_ascii_string_to_unsigned(s, 10, 0, G_MAXUINT64, &v, NULL))
    return false;
  *out = v;
  return true;
}

/* Cuts " <flags>" off the end of @value_text; flags are "-" or lower-case
 * letters. */
static bool split_flags(char *value_text, const char **flags)
{
  char *space = strchr(value_text, ' ');
  if (!space || !space[1])
    return false;
  *space = '\0';
  const char *f = space + 1;
  if (strcmp(f, "-") != 0) {
    for (const char *p = f; *p; p++) {
      if (!g_ascii_islower(*p))
        return false;
    }
  }
  *flags = f;
  return true;
}

/* Parses @cache->text in place (NUL-terminating its lines). */
static bool parse(MaildirSizeCache *cache, size_t len, char **problem)
{
  char *text = cache->text;
  if (strlen(text) != len || len == 0 || text[len - 1] != '\n') {
    *problem = g_strdup("it is cut short or holds binary data");
    return false;
  }
  /* An upper bound for the number of entries. */
  size_t n_lines = 0;
  for (const char *p = text; (p = strchr(p, '\n')); p++)
    n_lines++;
  cache->entries = g_new0(CacheEntry, n_lines);
  unsigned line_no = 0;
  bool ended = false;
  const char *limit = text + len;
  for (char *line = text; line < limit;) {
    char *nl = strchr(line, '\n');
    *nl = '\0';
    line_no++;
    char *next = nl + 1;
    if (ended) {
      *problem = g_strdup_printf("line %u follows the last line", line_no);
      return false;
    }
    if (line_no == 1) {
      cache->old_format = strcmp(line, CACHE_HEADER_V1) == 0;
      if (strcmp(line, CACHE_HEADER) != 0 && !cache->old_format) {
        *problem = g_strdup("its first line is not \"" CACHE_HEADER "\"");
        return false;
      }
      line = next;
      continue;
    }
    char *space = strchr(line, ' ');
    if (!space) {
      *problem = g_strdup_printf("line %u has no size", line_no);
      return false;
    }
    *space = '\0';
    const char *flags = "-";
    if (!cache->old_format && strcmp(line, CACHE_TRAILER) != 0 &&
        !split_flags(space + 1, &flags)) {
      *problem = g_strdup_printf("line %u has no valid flags", line_no);
      return false;
    }
    uint64_t value;
    if (!parse_size(space + 1, &value)) {
      *problem = g_strdup_printf("line %u has a bad number", line_no);
      return false;
    }
    if (strcmp(line, CACHE_TRAILER) == 0) {
      if (value != cache->n_entries) {
        *problem = g_strdup_printf("its last line counts %" PRIu64
                                   " entries, not %zu", value,
                                   cache->n_entries);
        return false;
      }
      ended = true;
      line = next;
      continue;
    }
    if (!maildir_uidl_valid(line) ||
        g_hash_table_contains(cache->index, line)) {
      *problem = g_strdup_printf("line %u has a bad or repeated UIDL",
                                 line_no);
      return false;
    }
    CacheEntry *e = &cache->entries[cache->n_entries++];
    e->uidl = line;
    e->size = value;
    e->as_stored = strchr(flags, CACHE_FLAG_AS_STORED) != NULL;
    g_hash_table_insert(cache->index, (gpointer)e->uidl, e);
    line = next;
  }
  if (!ended) {
    *problem = g_strdup("it has no " CACHE_TRAILER " line");
    return false;
  }
  return true;
}

static void forget_entries(MaildirSizeCache *cache)
{
  g_hash_table_remove_all(cache->index);
  g_clear_pointer(&cache->entries, g_free);
  g_clear_pointer(&cache->text, g_free);
  cache->n_entries = 0;
}

MaildirSizeCache *maildir_size_cache_load(int root_fd, char **problem)
{
  MaildirSizeCache *cache = g_new0(MaildirSizeCache, 1);
  cache->index = g_hash_table_new(g_str_hash, g_str_equal);
  char *why = NULL;
  int fd;
  do
    fd = openat(root_fd, MAILDIR_SIZE_CACHE_FILE,
                O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    if (errno != ENOENT) {
      why = g_strdup_printf("cannot open it: %s", g_strerror(errno));
      cache->corrupt = true;
    }
  } else {
    size_t len = 0;
    if (!read_all(fd, &cache->text, &len, &why) ||
        !parse(cache, len, &why)) {
      forget_entries(cache);
      cache->corrupt = true;
    }
    close(fd);
  }
  if (problem)
    *problem = why;
  else
    g_free(why);
  return cache;
}

void maildir_size_cache_free(MaildirSizeCache *cache)
{
  if (!cache)
    return;
  forget_entries(cache);
  g_hash_table_unref(cache->index);
  g_free(cache);
}

bool maildir_size_cache_lookup(MaildirSizeCache *cache, const char *uidl,
                               uint64_t *size, bool *as_stored)
{
  CacheEntry *e = g_hash_table_lookup(cache->index, uidl);
  if (!e)
    return false;
  e->used = true;
  *size = e->size;
  *as_stored = e->as_stored;
  return true;
}

bool maildir_size_cache_stale(const MaildirSizeCache *cache)
{
  if (cache->corrupt || cache->old_format)
    return true;
  for (size_t i = 0; i < cache->n_entries; i++) {
    if (!cache->entries[i].used)
      return true;
  }
  return false;
}

static bool write_all(int fd, const char *buf, size_t len)
{
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return false;
    buf += n;
    len -= (size_t)n;
  }
  return true;
}

bool maildir_size_cache_save(int root_fd, const MaildirMsg *msgs, size_t n,
                             GError **error)
{
  GString *s = g_string_new(CACHE_HEADER "\n");
  g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
  size_t count = 0;
  for (size_t i = 0; i < n; i++) {
    const MaildirMsg *m = &msgs[i];
    /* A repeated UIDL (two files with one unique part) is listed once,
     * like the mailbox lists it. */
    if (m->dropped || m->has_wsize || !g_hash_table_add(seen, (gpointer)m->uidl))
      continue;
    g_string_append_printf(s, "%s %" PRIu64 " %s\n", m->uidl, m->size,
                           m->as_stored ? "s" : "-");
    count++;
  }
  g_string_append_printf(s, CACHE_TRAILER " %zu\n", count);

  int fd;
  do
    fd = openat(root_fd, MAILDIR_SIZE_CACHE_TMP,
                O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW |
                    O_NOCTTY, 0600);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    maildir_set_errno_error(error, errno, "cannot create %s",
                            MAILDIR_SIZE_CACHE_TMP);
    g_string_free(s, TRUE);
    return false;
  }
  bool ok = write_all(fd, s->str, s->len);
  int err = errno;
  g_string_free(s, TRUE);
  if (close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (ok && renameat(root_fd, MAILDIR_SIZE_CACHE_TMP, root_fd,
                     MAILDIR_SIZE_CACHE_FILE) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    unlinkat(root_fd, MAILDIR_SIZE_CACHE_TMP, 0);
    maildir_set_errno_error(error, err, "cannot write %s",
                            MAILDIR_SIZE_CACHE_FILE);
  }
  return ok;
}

bool maildir_message_file_ok(const struct stat *st, uid_t owner)
{
  return S_ISREG(st->st_mode) && st->st_uid == owner;
}

bool maildir_size_compute(int dir_fd, const char *file, uid_t owner,
                          char *buf, size_t buf_len, uint64_t *size,
                          bool *as_stored, int *err_no)
{
  int fd;
  /* O_NONBLOCK: a FIFO planted in cur/ must not hang the session. */
  do
    fd = openat(dir_fd, file,
                O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    *err_no = errno;
    return false;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !maildir_message_file_ok(&st, owner)) {
    *err_no = fstat(fd, &st) != 0 ? errno : EPERM;
    close(fd);
    return false;
  }
  PoplarCrlfSize state;
  poplar_crlf_size_init(&state);
  for (;;) {
    ssize_t n = read(fd, buf, buf_len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      *err_no = errno;
      close(fd);
      return false;
    }
    if (n == 0)
      break;
    poplar_crlf_size_feed(&state, buf, (size_t)n);
  }
  close(fd);
  *size = poplar_crlf_size_finish(&state);
  *as_stored = poplar_crlf_size_sent_as_stored(&state);
  return true;
}
