/* SPDX-License-Identifier: MIT */
/*
 * The scan cache: one small text file per mailbox in cache-dir, named by
 * the SHA-256 of the user and the mailbox location, so that a message is
 * scanned once and not at every login.
 *
 *   poplar-spamd-cache 1
 *   user alice
 *   location /home/alice/Maildir
 *   <uidl> S|H <score> <required> <symbols or ->
 *
 * UIDLs never contain blanks (RFC 1939), nor do rule names.  The file is
 * rewritten whole, into a new file renamed over the old one, so a reader
 * never sees half a file and a crash leaves the old one.  Sessions of
 * different users use different files; two sessions of one mailbox cannot
 * run at once (the store locks it, [IN-USE]), and if they ever did, the
 * last rename wins and the other session's new results are scanned again
 * next time: a cache can lose entries, never hold wrong ones.  Entries of
 * messages no longer in the mailbox are dropped at the next save.
 */
#include "spamd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CACHE_MAGIC "poplar-spamd-cache 1"

struct SpamdCache {
  PoplarPlugin *plugin;
  PoplarSession *session;
  char *path;     /* NULL: never saved */
  char *user;
  char *location;
  GHashTable *entries; /* uidl -> SpamdCacheEntry */
  GHashTable *kept;    /* uidls seen in the mailbox now */
  bool changed;
};

static void entry_free(gpointer p)
{
  SpamdCacheEntry *e = p;
  g_free(e->symbols);
  g_free(e);
}

static void cache_log(SpamdCache *c, PoplarLogLevel level, const char *fmt,
                      ...) G_GNUC_PRINTF(3, 4);
static void cache_log(SpamdCache *c, PoplarLogLevel level, const char *fmt,
                      ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  poplar_session_log(c->session, c->plugin, level, "%s", msg);
}

static bool parse_entry(SpamdCache *c, const char *line)
{
  char **f = g_strsplit(line, " ", 5);
  bool ok = g_strv_length(f) == 5 && (strcmp(f[1], "S") == 0 ||
                                      strcmp(f[1], "H") == 0);
  if (ok) {
    char *end1 = NULL, *end2 = NULL;
    SpamdCacheEntry *e = g_new0(SpamdCacheEntry, 1);
    e->spam = f[1][0] == 'S';
    e->score = g_ascii_strtod(f[2], &end1);
    e->required = g_ascii_strtod(f[3], &end2);
    e->symbols = g_strdup(strcmp(f[4], "-") == 0 ? "" : f[4]);
    ok = *end1 == '\0' && *end2 == '\0' && end1 != f[2] && end2 != f[3];
    if (ok)
      g_hash_table_replace(c->entries, g_strdup(f[0]), e);
    else
      entry_free(e);
  }
  g_strfreev(f);
  return ok;
}

static void cache_read(SpamdCache *c)
{
  g_autofree char *text = NULL;
  g_autoptr(GError) err = NULL;
  if (!g_file_get_contents(c->path, &text, NULL, &err)) {
    if (!g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT))
      cache_log(c, POPLAR_LOG_WARNING, "cannot read scan cache %s: %s",
                c->path, err->message);
    return;
  }
  char **lines = g_strsplit(text, "\n", -1);
  g_autofree char *user_line = g_strconcat("user ", c->user, NULL);
  g_autofree char *loc_line = g_strconcat("location ", c->location, NULL);
  guint n = g_strv_length(lines);
  if (n < 3 || strcmp(lines[0], CACHE_MAGIC) != 0 ||
      strcmp(lines[1], user_line) != 0 || strcmp(lines[2], loc_line) != 0) {
    /* Another format, or (however unlikely) another mailbox with the
     * same hash: start afresh rather than trust it. */
    cache_log(c, POPLAR_LOG_WARNING,
              "scan cache %s is not this mailbox's: ignored and rewritten",
              c->path);
    c->changed = true;
    g_strfreev(lines);
    return;
  }
  for (guint i = 3; i < n; i++) {
    if (!lines[i][0])
      continue;
    if (!parse_entry(c, lines[i])) {
      cache_log(c, POPLAR_LOG_WARNING,
                "scan cache %s line %u is malformed: dropped", c->path,
                i + 1);
      c->changed = true;
    }
  }
  g_strfreev(lines);
}

SpamdCache *spamd_cache_load(PoplarPlugin *plugin, PoplarSession *s,
                             const char *dir, const char *user,
                             const char *location)
{
  SpamdCache *c = g_new0(SpamdCache, 1);
  c->plugin = plugin;
  c->session = s;
  c->user = g_strdup(user);
  c->location = g_strdup(location);
  c->entries = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                     entry_free);
  c->kept = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  if (dir) {
    GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(sum, (const guchar *)user, (gssize)strlen(user) + 1);
    g_checksum_update(sum, (const guchar *)location, -1);
    c->path = g_build_filename(dir, g_checksum_get_string(sum), NULL);
    g_checksum_free(sum);
    cache_read(c);
  }
  return c;
}

const SpamdCacheEntry *spamd_cache_lookup(SpamdCache *c, const char *uidl)
{
  return g_hash_table_lookup(c->entries, uidl);
}

void spamd_cache_store(SpamdCache *c, const char *uidl, const SpamdVerdict *v)
{
  SpamdCacheEntry *e = g_new0(SpamdCacheEntry, 1);
  e->spam = v->spam;
  e->score = v->score;
  e->required = v->required;
  /* Rule names are [A-Z0-9_]; anything else would break the line. */
  e->symbols = g_strdup(v->symbols ? v->symbols : "");
  g_strdelimit(e->symbols, " \t\r\n", '_');
  g_hash_table_replace(c->entries, g_strdup(uidl), e);
  c->changed = true;
}

void spamd_cache_keep(SpamdCache *c, const char *uidl)
{
  g_hash_table_add(c->kept, g_strdup(uidl));
}

bool spamd_cache_save(SpamdCache *c)
{
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init(&it, c->entries);
  while (g_hash_table_iter_next(&it, &key, NULL)) {
    if (!g_hash_table_contains(c->kept, key)) {
      g_hash_table_iter_remove(&it);
      c->changed = true;
    }
  }
  if (!c->path || !c->changed)
    return true;

  GString *out = g_string_new(CACHE_MAGIC "\n");
  g_string_append_printf(out, "user %s\nlocation %s\n", c->user, c->location);
  g_hash_table_iter_init(&it, c->entries);
  while (g_hash_table_iter_next(&it, &key, &value)) {
    const SpamdCacheEntry *e = value;
    char score[G_ASCII_DTOSTR_BUF_SIZE], required[G_ASCII_DTOSTR_BUF_SIZE];
    g_ascii_formatd(score, sizeof score, "%.1f", e->score);
    g_ascii_formatd(required, sizeof required, "%.1f", e->required);
    g_string_append_printf(out, "%s %c %s %s %s\n", (const char *)key,
                           e->spam ? 'S' : 'H', score, required,
                           e->symbols[0] ? e->symbols : "-");
  }
  g_autofree char *tmp = g_strconcat(c->path, ".XXXXXX", NULL);
  int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
  bool ok = fd >= 0;
  const char *step = "create";
  if (ok) {
    size_t done = 0;
    while (ok && done < out->len) {
      ssize_t n = write(fd, out->str + done, out->len - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        ok = false;
        step = "write";
      } else {
        done += (size_t)n;
      }
    }
    if (close(fd) != 0 && ok) {
      ok = false;
      step = "write";
    }
    if (ok && rename(tmp, c->path) != 0) {
      ok = false;
      step = "rename";
    }
    if (!ok) {
      int saved = errno;
      unlink(tmp);
      errno = saved;
    }
  }
  if (!ok)
    cache_log(c, POPLAR_LOG_ERROR,
              "cannot %s scan cache %s: %s; these messages will be scanned "
              "again",
              step, c->path, g_strerror(errno));
  else
    c->changed = false;
  g_string_free(out, TRUE);
  return ok;
}

void spamd_cache_free(SpamdCache *c)
{
  if (!c)
    return;
  g_hash_table_unref(c->entries);
  g_hash_table_unref(c->kept);
  g_free(c->path);
  g_free(c->user);
  g_free(c->location);
  g_free(c);
}
