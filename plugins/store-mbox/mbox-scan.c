/* SPDX-License-Identifier: MIT */
/*
 * Parsing an mbox: where each message starts and ends, its size as POP3
 * sends it, a fingerprint of its content, its X-UIDL header, and the IMAP
 * headers Dovecot and c-client keep (X-UID; X-IMAPbase or X-IMAP in the
 * first message, which X-IMAP marks as their folder-data message).
 *
 * The file is read in large blocks and looked at line by line, but only
 * the first octets of a line decide anything (MBOX_LINE_PEEK of them at
 * most); the rest is fed to the size counter and the hash in long runs.
 * Memory is one block whatever the size of the file or of its lines.
 *
 * What belongs to a message: everything between its From_ line and the
 * next one, less one empty line at the end (the separator every MTA
 * writes after a message).  A message that does not end with a line end
 * keeps what it has; the core adds the final CRLF when it sends it.
 *
 * The fingerprint is SHA-256 (first 128 bits) of the From_ line and of the
 * message as stored, leaving out the header fields MUAs and IMAP servers
 * rewrite in place (Status:, X-Status:, X-UID:, Content-Length:...).  It
 * names the message when the index is lost or the mbox was rewritten by
 * another program, so that its UIDL survives both.
 */
#include "mbox.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_BUF_SIZE (1024 * 1024)

/* Header fields other programs change without changing the message.
 * X-UIDL is here too: qpopper adds it to messages it has seen. */
static const char *const volatile_fields[] = {
    "status",         "x-status",          "x-keywords",
    "x-uid",          "x-imap",            "x-imapbase",
    "content-length", "lines",             "x-uidl",
    "x-mozilla-status", "x-mozilla-status2", "x-mozilla-keys",
};

enum { FEED_SIZE = 1, FEED_HASH = 2, FEED_BOTH = 3 };

/* What the rest of the current line is fed to. */
typedef enum RunKind {
  RUN_CONTENT,   /* size and hash */
  RUN_SIZE_ONLY, /* a field left out of the hash */
} RunKind;

typedef struct Scan {
  int fd;
  const MboxScanOptions *options;
  uint64_t start;
  uint64_t stop;
  GArray *msgs;
  GStringChunk *strings;
  GError **error;
  bool failed;

  char *buf;
  size_t cap;
  size_t pos;   /* next octet to look at */
  size_t len;   /* octets in buf */
  uint64_t base; /* file offset of buf[0] */
  bool eof;     /* nothing after buf[len] up to stop */
  bool first_line;

  /* the message being parsed */
  bool have_msg;
  MboxMsg cur;
  bool nonblank;     /* a headless message has a non-empty line */
  bool in_headers;
  bool skipping;     /* in a field left out of the hash */
  PoplarCrlfSize crlf;
  gnutls_hash_hd_t hash;
  bool hash_open;
  bool first_of_file; /* the file's first message (from offset 0) */
  bool base_seen;     /* its X-IMAPbase/X-IMAP came before this line */
  bool found_any;     /* a message was appended to msgs */

  /* the current line */
  bool line_start;
  RunKind kind;
  size_t run;            /* first octet of buf not yet fed */
  uint64_t last_start;   /* offset of the last complete line */
  bool last_blank;
  /* A complete empty line not fed yet: it is the separator if the
   * message ends right after it. */
  char held[2];
  size_t held_len;
} Scan;

static void fail_errno(Scan *s, int err, const char *what)
{
  if (!s->failed)
    mbox_set_errno_error(s->error, err, "%s", what);
  s->failed = true;
}

static void feed_raw(Scan *s, const char *p, size_t n, unsigned what)
{
  if (n == 0)
    return;
  if (what & FEED_SIZE)
    poplar_crlf_size_feed(&s->crlf, p, n);
  if ((what & FEED_HASH) && gnutls_hash(s->hash, p, n) < 0 && !s->failed) {
    g_set_error(s->error, MBOX_ERROR, POPLAR_STORE_TEMPFAIL,
                "SHA-256 failed");
    s->failed = true;
  }
}

static void feed_held(Scan *s)
{
  if (s->held_len) {
    size_t n = s->held_len;
    s->held_len = 0;
    feed_raw(s, s->held, n, FEED_BOTH);
  }
}

static void feed(Scan *s, const char *p, size_t n, unsigned what)
{
  if (n == 0)
    return;
  feed_held(s);
  feed_raw(s, p, n, what);
}

/* Feeds buf[run, pos).  At a line start, a trailing empty line is held
 * back instead: whether it belongs to the message depends on what comes
 * next. */
static void flush_run(Scan *s)
{
  if (s->pos == s->run)
    return;
  const char *p = s->buf + s->run;
  size_t n = s->pos - s->run;
  uint64_t run_off = s->base + s->run;
  s->run = s->pos;
  if (!s->have_msg)
    return;
  if (s->kind == RUN_CONTENT && s->line_start && s->last_blank &&
      s->last_start >= run_off) {
    size_t keep = (size_t)(s->last_start - run_off);
    feed(s, p, keep, FEED_BOTH);
    feed_held(s);
    s->held_len = n - keep;
    memcpy(s->held, p + keep, s->held_len);
    return;
  }
  feed(s, p, n, s->kind == RUN_CONTENT ? FEED_BOTH : FEED_SIZE);
}

static bool open_hash(Scan *s)
{
  if (gnutls_hash_init(&s->hash, GNUTLS_DIG_SHA256) < 0) {
    g_set_error(s->error, MBOX_ERROR, POPLAR_STORE_TEMPFAIL,
                "SHA-256 is not available");
    s->failed = true;
    return false;
  }
  s->hash_open = true;
  return true;
}

static void close_hash(Scan *s, uint8_t *out)
{
  uint8_t digest[32];
  if (!s->hash_open)
    return;
  gnutls_hash_deinit(s->hash, digest);
  s->hash_open = false;
  if (out)
    memcpy(out, digest, MBOX_HASH_LEN);
}

static void start_message(Scan *s, uint64_t from, bool headless)
{
  memset(&s->cur, 0, sizeof s->cur);
  s->cur.from = from;
  s->cur.data = from;
  s->cur.flags = headless ? MBOX_MSG_HEADLESS : 0;
  s->have_msg = true;
  s->nonblank = false;
  s->in_headers = true;
  s->skipping = false;
  s->held_len = 0;
  s->kind = RUN_CONTENT;
  s->first_of_file = s->start == 0 && !s->found_any && !headless;
  s->base_seen = false;
  poplar_crlf_size_init(&s->crlf);
  open_hash(s);
}

/* Ends the message being parsed at @boundary (the next From_ line, or
 * @stop). */
static void end_message(Scan *s, uint64_t boundary, bool at_eof)
{
  if (!s->have_msg)
    return;
  flush_run(s);
  s->have_msg = false;
  MboxMsg *m = &s->cur;
  bool separated = s->held_len > 0;
  m->next = boundary;
  m->end = boundary - s->held_len;
  if (m->end < m->data)
    m->end = m->data;
  s->held_len = 0;
  m->size = poplar_crlf_size_finish(&s->crlf);
  close_hash(s, m->hash);
  if ((m->flags & MBOX_MSG_HEADLESS) && !s->nonblank)
    return; /* only empty lines before the first From_ line */
  if (at_eof && !separated)
    m->flags |= MBOX_MSG_TRUNCATED;
  g_array_append_val(s->msgs, *m);
  s->found_any = true;
}

static bool is_volatile_field(const char *name, size_t len)
{
  for (size_t i = 0; i < G_N_ELEMENTS(volatile_fields); i++) {
    if (strlen(volatile_fields[i]) == len &&
        g_ascii_strncasecmp(name, volatile_fields[i], len) == 0)
      return true;
  }
  return false;
}

/* RFC 1939 section 7. */
static bool valid_uidl(const char *p, size_t len)
{
  if (len < 1 || len > 70)
    return false;
  for (size_t i = 0; i < len; i++) {
    if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7e)
      return false;
  }
  return true;
}

/* "X-UIDL: value" (the whole line is in @p, @len octets with its end). */
static void take_x_uidl(Scan *s, const char *p, size_t len, size_t colon)
{
  if (s->cur.x_uidl)
    return;
  const char *v = p + colon + 1, *end = p + len;
  while (end > v && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' ||
                     end[-1] == '\t'))
    end--;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  if (valid_uidl(v, (size_t)(end - v)))
    s->cur.x_uidl = g_string_chunk_insert_len(s->strings, v, end - v);
}

/* X-UID, and X-IMAPbase or X-IMAP in the file's first message, read as
 * Dovecot reads them: an X-UID there counts only after the X-IMAPbase,
 * the first of each field wins.  @p holds @len octets of the line, the
 * whole of it when @whole (X-IMAPbase needs only its start, before the
 * keywords). */
static void take_imap_field(Scan *s, const char *p, size_t len, size_t colon,
                            size_t name_len, bool whole)
{
  /* The value, line end included (the parsers allow white space). */
  const char *v = p + colon + 1;
  size_t v_len = len - colon - 1;
  if (name_len == 5 && g_ascii_strncasecmp(p, "x-uid", 5) == 0) {
    if (whole && s->cur.x_uid == 0 && (!s->first_of_file || s->base_seen))
      mbox_imap_uid_parse(v, v_len, &s->cur.x_uid);
    return;
  }
  bool base = name_len == 10 && g_ascii_strncasecmp(p, "x-imapbase", 10) == 0;
  bool pseudo = name_len == 6 && g_ascii_strncasecmp(p, "x-imap", 6) == 0;
  if ((!base && !pseudo) || !s->first_of_file || s->base_seen)
    return;
  if (!mbox_imap_base_parse(v, v_len, &s->cur.uidvalidity,
                            &s->cur.uid_last))
    return;
  s->base_seen = true;
  if (pseudo)
    s->cur.flags |= MBOX_MSG_PSEUDO;
}

/* Decides what the line at buf[pos] is.  @w octets of it are at hand (the
 * whole line when @complete). */
static void classify_line(Scan *s, size_t w, bool complete)
{
  const char *p = s->buf + s->pos;
  uint64_t off = s->base + s->pos;
  bool whole = complete || (s->eof && s->len - s->pos == w);
  bool blank = complete && (w == 1 || (w == 2 && p[0] == '\r'));

  if (whole && w >= 5 && p[0] == 'F' && mbox_from_line_valid(p, w)) {
    flush_run(s);
    end_message(s, off, false);
    start_message(s, off, false);
    feed_raw(s, p, w, FEED_HASH);
    s->cur.from_hash = mbox_fnv1a(p, w);
    s->pos += w;
    s->run = s->pos;
    s->cur.data = s->base + s->pos;
    s->first_line = false;
    s->line_start = complete;
    s->last_blank = false;
    s->last_start = off;
    return;
  }
  if (s->first_line && s->start > 0) {
    g_set_error(s->error, MBOX_ERROR, POPLAR_STORE_GONE,
                "no From_ line at offset %" G_GUINT64_FORMAT, off);
    s->failed = true;
    return;
  }
  s->first_line = false;
  if (!s->have_msg)
    start_message(s, off, true);
  if (!blank)
    s->nonblank = true;

  RunKind kind = RUN_CONTENT;
  if (s->in_headers) {
    if (blank) {
      s->in_headers = false;
      s->skipping = false;
    } else if (p[0] == ' ' || p[0] == '\t') {
      kind = s->skipping ? RUN_SIZE_ONLY : RUN_CONTENT;
    } else {
      const char *colon = memchr(p, ':', w);
      s->skipping = false;
      if (colon) {
        size_t name_len = (size_t)(colon - p);
        while (name_len > 0 && (p[name_len - 1] == ' ' ||
                                p[name_len - 1] == '\t'))
          name_len--;
        s->skipping = is_volatile_field(p, name_len);
        if (s->skipping && name_len == 6 &&
            g_ascii_strncasecmp(p, "x-uidl", 6) == 0 && whole)
          take_x_uidl(s, p, w, (size_t)(colon - p));
        else if (s->skipping)
          take_imap_field(s, p, w, (size_t)(colon - p), name_len, whole);
      }
      kind = s->skipping ? RUN_SIZE_ONLY : RUN_CONTENT;
    }
  }
  if (kind != s->kind) {
    flush_run(s);
    s->kind = kind;
  }
  if (p[0] == '>' && mbox_line_is_quoted(p, w, s->options->format)) {
    /* The quoting '>' is part of the stored message (hashed) but not of
     * the one sent (not counted). */
    flush_run(s);
    feed(s, p, 1, FEED_HASH);
    s->run = s->pos + 1;
  }
  s->pos += w;
  if (complete) {
    s->line_start = true;
    s->last_blank = blank;
    s->last_start = off;
  } else {
    s->line_start = false;
  }
}

/* Moves the unparsed octets to the front of buf and reads more. */
static void refill(Scan *s)
{
  flush_run(s);
  size_t keep = s->len - s->pos;
  memmove(s->buf, s->buf + s->pos, keep);
  s->base += s->pos;
  s->len = keep;
  s->pos = 0;
  s->run = 0;
  uint64_t file_left = s->stop - (s->base + s->len);
  size_t want = s->cap - s->len;
  if (file_left < want)
    want = (size_t)file_left;
  if (want == 0) {
    s->eof = true;
    return;
  }
  ssize_t n;
  do
    n = pread(s->fd, s->buf + s->len, want, (off_t)(s->base + s->len));
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    fail_errno(s, errno, "cannot read the mbox");
    return;
  }
  if (n == 0) {
    /* Shorter than when it was locked and measured: someone ignored the
     * lock.  Parse what there is. */
    s->stop = s->base + s->len;
    s->eof = true;
    return;
  }
  s->len += (size_t)n;
  if (s->base + s->len == s->stop)
    s->eof = true;
  if (s->options->progress)
    s->options->progress(s->options->progress_data);
}

bool mbox_scan(int fd, const MboxScanOptions *options, uint64_t start,
               uint64_t stop, GArray *msgs, GStringChunk *strings,
               GError **error)
{
  Scan s;
  memset(&s, 0, sizeof s);
  s.fd = fd;
  s.options = options;
  s.start = start;
  s.stop = stop;
  s.msgs = msgs;
  s.strings = strings;
  s.error = error;
  s.cap = options->buf_size ? options->buf_size : DEFAULT_BUF_SIZE;
  if (s.cap < 2 * MBOX_LINE_PEEK)
    s.cap = 2 * MBOX_LINE_PEEK;
  s.buf = g_malloc(s.cap);
  s.base = start;
  s.eof = start >= stop;
  s.first_line = true;
  s.line_start = true;

  while (!s.failed) {
    size_t avail = s.len - s.pos;
    if (s.line_start) {
      size_t peek = avail < MBOX_LINE_PEEK ? avail : MBOX_LINE_PEEK;
      const char *nl = memchr(s.buf + s.pos, '\n', peek);
      if (!nl && avail < MBOX_LINE_PEEK && !s.eof) {
        refill(&s);
        continue;
      }
      if (avail == 0)
        break;
      size_t w = nl ? (size_t)(nl - (s.buf + s.pos)) + 1 : peek;
      classify_line(&s, w, nl != NULL);
      continue;
    }
    if (avail == 0) {
      if (s.eof)
        break;
      refill(&s);
      continue;
    }
    const char *nl = memchr(s.buf + s.pos, '\n', avail);
    if (!nl) {
      s.pos = s.len;
      continue;
    }
    s.pos = (size_t)(nl - s.buf) + 1;
    s.line_start = true;
    /* A line this long is never empty. */
    s.last_blank = false;
    s.last_start = s.base + s.pos; /* not an empty line: never held */
  }
  if (!s.failed) {
    s.pos = s.len;
    end_message(&s, s.stop, true);
  }
  close_hash(&s, NULL);
  g_free(s.buf);
  return !s.failed;
}

void mbox_hash_hex(const uint8_t *hash, char *out)
{
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < MBOX_HASH_LEN; i++) {
    out[2 * i] = hex[hash[i] >> 4];
    out[2 * i + 1] = hex[hash[i] & 15];
  }
  out[MBOX_HASH_HEX_LEN] = '\0';
}

static int hex_value(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

bool mbox_hash_parse(const char *hex, uint8_t *hash)
{
  for (size_t i = 0; i < MBOX_HASH_LEN; i++) {
    int hi = hex_value(hex[2 * i]);
    int lo = hi < 0 ? -1 : hex_value(hex[2 * i + 1]);
    if (lo < 0)
      return false;
    hash[i] = (uint8_t)(hi << 4 | lo);
  }
  return hex[MBOX_HASH_HEX_LEN] == '\0';
}

bool mbox_msg_from_intact(int fd, const MboxMsg *m)
{
  if (m->flags & MBOX_MSG_HEADLESS)
    return m->from == 0;
  size_t len = (size_t)(m->data - m->from);
  if (len == 0 || len > MBOX_LINE_PEEK)
    return false;
  char line[MBOX_LINE_PEEK];
  ssize_t n;
  do
    n = pread(fd, line, len, (off_t)m->from);
  while (n < 0 && errno == EINTR);
  return n == (ssize_t)len && mbox_fnv1a(line, len) == m->from_hash &&
         mbox_from_line_valid(line, len);
}

bool mbox_msg_end_intact(int fd, const MboxMsg *m, uint64_t size)
{
  if (m->next > size || m->next - m->end > 2)
    return false;
  size_t sep = (size_t)(m->next - m->end);
  char buf[MBOX_LINE_PEEK + 2];
  size_t want = sep + MBOX_LINE_PEEK;
  if (want > size - m->end)
    want = (size_t)(size - m->end);
  ssize_t n;
  do
    n = pread(fd, buf, want, (off_t)m->end);
  while (n < 0 && errno == EINTR);
  if (n != (ssize_t)want)
    return false;
  if (sep == 1 && buf[0] != '\n')
    return false;
  if (sep == 2 && (buf[0] != '\r' || buf[1] != '\n'))
    return false;
  if (m->next == size)
    return true;
  const char *line = buf + sep;
  size_t len = want - sep;
  const char *nl = memchr(line, '\n', len);
  if (nl)
    len = (size_t)(nl - line) + 1;
  else if (m->next + len != size)
    return false;
  return mbox_from_line_valid(line, len);
}

bool mbox_layout_intact(int fd, const MboxMsg *msgs, size_t n, uint64_t size)
{
  if (n == 0)
    return true;
  for (size_t i = 0; i < n; i++) {
    if (!mbox_msg_from_intact(fd, &msgs[i]))
      return false;
  }
  return mbox_msg_end_intact(fd, &msgs[n - 1], size);
}
