/* SPDX-License-Identifier: MIT */
/*
 * The index file: what the last session learnt about the mbox, so that
 * the next one neither parses an unchanged mbox again nor gives a message
 * another UIDL.  Plain text, one message a line (README.md documents it):
 *
 *   poplar-mbox-index 2
 *   format mboxo
 *   file <dev> <ino> <size> <mtime-ns> <ctime-ns>
 *   scanned <offset>
 *   messages <count>
 *   <from> <data> <end> <size> <from-hash> <content-hash> <flags> <uidl>
 *   ...
 *   end
 *
 * It is only a cache plus the UIDLs: a missing, unreadable or damaged
 * index is rebuilt by parsing the mbox, and UIDLs are then recovered from
 * content hashes.  It is replaced atomically (temporary file, fsync,
 * rename), so a crash leaves the old or the new one.
 */
#include "mbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define INDEX_MAGIC "poplar-mbox-index"
/* An index bigger than this is not one of ours (100 bytes a message for
 * ten million messages). */
#define INDEX_MAX_SIZE ((gsize)1 << 30)

int64_t mbox_stat_mtime_ns(const struct stat *st)
{
  return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

int64_t mbox_stat_ctime_ns(const struct stat *st)
{
  return (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

void mbox_index_free(MboxIndex *index)
{
  if (!index)
    return;
  if (index->msgs)
    g_array_unref(index->msgs);
  if (index->strings)
    g_string_chunk_free(index->strings);
  g_free(index);
}

typedef struct Parser {
  char *p;
  char *end;
  unsigned line;
  char **problem;
} Parser;

/* The next line, NUL-terminated in place, or NULL at the end. */
static char *next_line(Parser *ps)
{
  if (ps->p >= ps->end)
    return NULL;
  char *line = ps->p;
  char *nl = memchr(ps->p, '\n', (size_t)(ps->end - ps->p));
  if (!nl) {
    ps->p = ps->end;
    return NULL; /* a last line without its end: truncated */
  }
  *nl = '\0';
  ps->p = nl + 1;
  ps->line++;
  return line;
}

static bool bad(Parser *ps, const char *what)
{
  if (!*ps->problem)
    *ps->problem = g_strdup_printf("line %u: %s", ps->line + 1, what);
  return false;
}

static bool parse_u64(char **s, uint64_t *out)
{
  char *p = *s;
  if (*p < '0' || *p > '9')
    return false;
  errno = 0;
  char *end = NULL;
  unsigned long long v = strtoull(p, &end, 10);
  if (errno != 0 || (*end != ' ' && *end != '\0'))
    return false;
  *out = v;
  *s = *end == ' ' ? end + 1 : end;
  return true;
}

static bool parse_i64(char **s, int64_t *out)
{
  char *p = *s;
  errno = 0;
  char *end = NULL;
  long long v = strtoll(p, &end, 10);
  if (end == p || errno != 0 || (*end != ' ' && *end != '\0'))
    return false;
  *out = v;
  *s = *end == ' ' ? end + 1 : end;
  return true;
}

static bool parse_word(char **s, const char **out)
{
  char *p = *s;
  if (!*p || *p == ' ')
    return false;
  char *sp = strchr(p, ' ');
  if (sp) {
    *sp = '\0';
    *s = sp + 1;
  } else {
    *s = p + strlen(p);
  }
  *out = p;
  return true;
}

static bool keyword(char **line, const char *word)
{
  size_t n = strlen(word);
  if (strncmp(*line, word, n) != 0 || (*line)[n] != ' ')
    return false;
  *line += n + 1;
  return true;
}

static bool valid_uidl(const char *s)
{
  size_t n = strlen(s);
  if (n < 1 || n > 70)
    return false;
  for (size_t i = 0; i < n; i++) {
    if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
      return false;
  }
  return true;
}

static bool parse_message(Parser *ps, char *line, MboxIndex *index,
                          GHashTable *uidls)
{
  MboxMsg m;
  memset(&m, 0, sizeof m);
  const char *from_hash, *hash, *uidl;
  uint64_t flags;
  if (!parse_u64(&line, &m.from) || !parse_u64(&line, &m.data) ||
      !parse_u64(&line, &m.end) || !parse_u64(&line, &m.size) ||
      !parse_word(&line, &from_hash) || !parse_word(&line, &hash) ||
      !parse_u64(&line, &flags) || !parse_word(&line, &uidl) || *line)
    return bad(ps, "malformed message line");
  char *end = NULL;
  if (strlen(from_hash) != 16)
    return bad(ps, "malformed From_ line hash");
  m.from_hash = g_ascii_strtoull(from_hash, &end, 16);
  if (*end)
    return bad(ps, "malformed From_ line hash");
  if (!mbox_hash_parse(hash, m.hash))
    return bad(ps, "malformed content hash");
  if (flags > (MBOX_MSG_HEADLESS | MBOX_MSG_TRUNCATED | MBOX_MSG_PSEUDO))
    return bad(ps, "unknown flags");
  m.flags = (uint32_t)flags;
  if (!valid_uidl(uidl) || g_hash_table_contains(uidls, uidl))
    return bad(ps, "invalid or duplicate UIDL");
  if (m.data < m.from || m.end < m.data)
    return bad(ps, "offsets out of order");
  if (index->msgs->len > 0) {
    MboxMsg *prev =
        &g_array_index(index->msgs, MboxMsg, index->msgs->len - 1);
    if (m.from < prev->end || m.from <= prev->from)
      return bad(ps, "messages overlap");
    prev->next = m.from;
  } else if ((m.flags & MBOX_MSG_HEADLESS) && m.from != 0) {
    return bad(ps, "headless message not at the start");
  }
  m.uidl = g_string_chunk_insert(index->strings, uidl);
  g_hash_table_add(uidls, (gpointer)m.uidl);
  g_array_append_val(index->msgs, m);
  return true;
}

static bool parse_index(Parser *ps, MboxIndex *index)
{
  char *line = next_line(ps);
  uint64_t version = 0;
  if (!line || !keyword(&line, INDEX_MAGIC) || !parse_u64(&line, &version) ||
      *line || version < 1 || version > MBOX_INDEX_VERSION)
    return bad(ps, "not a poplar mbox index (version 1 or 2)");
  index->version = (unsigned)version;
  line = next_line(ps);
  if (!line || !keyword(&line, "format"))
    return bad(ps, "no format line");
  if (strcmp(line, "mboxo") == 0)
    index->format = MBOX_FORMAT_MBOXO;
  else if (strcmp(line, "mboxrd") == 0)
    index->format = MBOX_FORMAT_MBOXRD;
  else
    return bad(ps, "unknown format");
  line = next_line(ps);
  if (!line || !keyword(&line, "file") || !parse_u64(&line, &index->dev) ||
      !parse_u64(&line, &index->ino) || !parse_u64(&line, &index->size) ||
      !parse_i64(&line, &index->mtime_ns) ||
      !parse_i64(&line, &index->ctime_ns) || *line)
    return bad(ps, "malformed file line");
  line = next_line(ps);
  if (!line || !keyword(&line, "scanned") ||
      !parse_u64(&line, &index->scanned) || *line ||
      index->scanned > index->size)
    return bad(ps, "malformed scanned line");
  uint64_t count;
  line = next_line(ps);
  if (!line || !keyword(&line, "messages") || !parse_u64(&line, &count) ||
      *line)
    return bad(ps, "malformed messages line");
  g_autoptr(GHashTable) uidls = g_hash_table_new(g_str_hash, g_str_equal);
  for (uint64_t i = 0; i < count; i++) {
    line = next_line(ps);
    if (!line)
      return bad(ps, "fewer messages than announced");
    if (!parse_message(ps, line, index, uidls))
      return false;
  }
  if (count > 0) {
    MboxMsg *last = &g_array_index(index->msgs, MboxMsg, count - 1);
    if (last->end > index->scanned)
      return bad(ps, "a message ends past the scanned part");
    last->next = index->scanned;
  }
  line = next_line(ps);
  if (!line || strcmp(line, "end") != 0 || ps->p != ps->end)
    return bad(ps, "no end line (truncated?)");
  return true;
}

MboxIndex *mbox_index_load_at(int dir_fd, const char *name, char **problem)
{
  *problem = NULL;
  /* O_NONBLOCK: a FIFO planted as the index must not hang the session. */
  int fd = openat(dir_fd, name,
                  O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    if (errno != ENOENT)
      *problem = g_strdup_printf("cannot open it: %s", g_strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      (uint64_t)st.st_size > INDEX_MAX_SIZE) {
    *problem = g_strdup("not a regular file of a sensible size");
    close(fd);
    return NULL;
  }
  size_t size = (size_t)st.st_size;
  char *text = g_malloc(size + 1);
  size_t got = 0;
  while (got < size) {
    ssize_t n = read(fd, text + got, size - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  close(fd);
  if (got != size) {
    *problem = g_strdup("cannot read it");
    g_free(text);
    return NULL;
  }
  text[size] = '\0';
  MboxIndex *index = g_new0(MboxIndex, 1);
  index->msgs = g_array_new(FALSE, FALSE, sizeof(MboxMsg));
  index->strings = g_string_chunk_new(64 * 1024);
  Parser ps = {text, text + size, 0, problem};
  bool ok = parse_index(&ps, index);
  g_free(text);
  if (!ok) {
    mbox_index_free(index);
    return NULL;
  }
  return index;
}

static bool write_all(int fd, const char *p, size_t len, int *err_no)
{
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      *err_no = errno;
      return false;
    }
    p += n;
    len -= (size_t)n;
  }
  return true;
}

bool mbox_index_save_at(int dir_fd, const char *name, const char *path,
                        MboxFormat format, const struct stat *st,
                        uint64_t scanned, const MboxMsg *msgs, size_t n,
                        GError **error)
{
  g_autofree char *tmp = g_strconcat(name, ".tmp", NULL);
  (void)unlinkat(dir_fd, tmp, 0);
  int fd = openat(dir_fd, tmp,
                  O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    mbox_set_errno_error(error, errno, "cannot create %s.tmp", path);
    return false;
  }
  GString *out = g_string_sized_new(256 * 1024);
  g_string_append_printf(out,
                         INDEX_MAGIC " %d\nformat %s\nfile %" G_GUINT64_FORMAT
                         " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
                         " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT
                         "\nscanned %" G_GUINT64_FORMAT
                         "\nmessages %" G_GSIZE_FORMAT "\n",
                         MBOX_INDEX_VERSION, mbox_format_name(format),
                         (uint64_t)st->st_dev,
                         (uint64_t)st->st_ino, (uint64_t)st->st_size,
                         mbox_stat_mtime_ns(st), mbox_stat_ctime_ns(st),
                         scanned, n);
  bool ok = true;
  int err = 0;
  for (size_t i = 0; i < n && ok; i++) {
    const MboxMsg *m = &msgs[i];
    char hex[MBOX_HASH_HEX_LEN + 1];
    mbox_hash_hex(m->hash, hex);
    g_string_append_printf(out,
                           "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
                           " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
                           " %016" G_GINT64_MODIFIER "x %s %u %s\n",
                           m->from, m->data, m->end, m->size, m->from_hash,
                           hex, (unsigned)m->flags, m->uidl);
    if (out->len >= 192 * 1024) {
      ok = write_all(fd, out->str, out->len, &err);
      g_string_truncate(out, 0);
    }
  }
  g_string_append(out, "end\n");
  if (ok)
    ok = write_all(fd, out->str, out->len, &err);
  g_string_free(out, TRUE);
  if (ok && fsync(fd) != 0) {
    ok = false;
    err = errno;
  }
  if (close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (ok && renameat(dir_fd, tmp, dir_fd, name) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    (void)unlinkat(dir_fd, tmp, 0);
    mbox_set_errno_error(error, err, "cannot write %s", path);
  }
  return ok;
}

/* The directory of @path, for the path-based forms (tests, tools). */
static int open_parent(const char *path, char **name)
{
  g_autofree char *dir = g_path_get_dirname(path);
  *name = g_path_get_basename(path);
  return open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

MboxIndex *mbox_index_load(const char *path, char **problem)
{
  g_autofree char *name = NULL;
  int dir_fd = open_parent(path, &name);
  if (dir_fd < 0) {
    *problem = errno == ENOENT ? NULL
                               : g_strdup_printf("cannot open its directory: "
                                                 "%s", g_strerror(errno));
    return NULL;
  }
  MboxIndex *index = mbox_index_load_at(dir_fd, name, problem);
  close(dir_fd);
  return index;
}

bool mbox_index_save(const char *path, MboxFormat format,
                     const struct stat *st, uint64_t scanned,
                     const MboxMsg *msgs, size_t n, GError **error)
{
  g_autofree char *name = NULL;
  int dir_fd = open_parent(path, &name);
  if (dir_fd < 0) {
    mbox_set_errno_error(error, errno, "cannot open the directory of %s",
                         path);
    return false;
  }
  bool ok = mbox_index_save_at(dir_fd, name, path, format, st, scanned, msgs,
                               n, error);
  close(dir_fd);
  return ok;
}
