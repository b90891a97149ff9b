/* SPDX-License-Identifier: MIT */
/*
 * The header key: what an old server's "TOP n 0" and the copy of the same
 * message in the Maildir have in common, even when the copy went through
 * a conversion (mbox to Maildir, IMAP sync, a restore).  The same rules
 * as Dovecot's pop3-migration plugin (a hash of the header with the
 * version-4 normalisation of its message-header-hash.c), written afresh:
 *
 *  - only the header counts, up to the first empty line; CRs are dropped,
 *    and a line of nothing but CRs (CR CR LF) ends the header too, since
 *    servers disagree about it;
 *  - headers that mail stores add or rewrite on their own are left out:
 *    Content-Length, Return-Path, Status, X-IMAP, X-IMAPbase, X-Keywords,
 *    X-Message-Flag, X-Status, X-UID, X-UIDL, X-Yahoo-Newman-Property;
 *  - so are lines that are not "name: value" (no colon, or a name with
 *    spaces or 8-bit characters) and continuation lines holding only
 *    white space, which some servers drop;
 *  - spaces and tabs are dropped everywhere (some servers strip trailing
 *    white space), and every control or 8-bit character, and '?', becomes
 *    one '?', runs of them a single '?' (servers replace NULs or 8-bit
 *    text differently).
 * The result is hashed with SHA-256.
 */
#include "uidl-import.h"

#include <string.h>

/* Of a longer header line only this much counts (on both sides alike),
 * so that a hostile header cannot make the tool hold a message in memory. */
#define LINE_MAX_KEEP (64 * 1024)

static const char *const skipped_headers[] = {
  "Content-Length", "Return-Path",  "Status",     "X-IMAP",
  "X-IMAPbase",     "X-Keywords",   "X-Message-Flag", "X-Status",
  "X-UID",          "X-UIDL",       "X-Yahoo-Newman-Property",
};

struct HeaderKey {
  GChecksum *sum;
  GString *line;      /* the current line, without its LF and CRs */
  bool skipping;      /* the current header (and its continuations) is out */
  bool store_header;  /* ... because a mail store adds it */
  uint64_t line_raw;  /* octets of the current line as stored, LF included */
  uint64_t line_text; /* the same without CRs and LF */
  uint64_t store_raw; /* octets of the store's headers as stored */
  uint64_t store_crlf; /* ... and with CRLF line ends */
  bool prev_question; /* the last byte hashed stood for a '?' */
  bool done;          /* the end of the header was seen */
};

HeaderKey *header_key_new(void)
{
  HeaderKey *key = g_new0(HeaderKey, 1);
  key->sum = g_checksum_new(G_CHECKSUM_SHA256);
  key->line = g_string_sized_new(128);
  return key;
}

void header_key_free(HeaderKey *key)
{
  if (!key)
    return;
  g_checksum_free(key->sum);
  g_string_free(key->line, TRUE);
  g_free(key);
}

static bool header_skipped(const char *name, size_t len)
{
  for (size_t i = 0; i < G_N_ELEMENTS(skipped_headers); i++) {
    if (strlen(skipped_headers[i]) == len &&
        g_ascii_strncasecmp(skipped_headers[i], name, len) == 0)
      return true;
  }
  return false;
}

static bool name_valid(const char *name, size_t len)
{
  if (len == 0)
    return false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c <= 0x20 || c >= 0x7f)
      return false;
  }
  return true;
}

/* Hashes @len bytes of a kept line with the normalisation above. */
static void hash_normalised(HeaderKey *key, const char *data, size_t len)
{
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)data[i];
    bool question = false;
    if (c == ' ' || c == '\t') {
      g_checksum_update(key->sum, (const guchar *)data + start, i - start);
      start = i + 1;
    } else if (c < 0x20 || c >= 0x7f || c == '?') {
      if (start < i || !key->prev_question) {
        g_checksum_update(key->sum, (const guchar *)data + start, i - start);
        g_checksum_update(key->sum, (const guchar *)"?", 1);
      }
      start = i + 1;
      question = true;
    }
    key->prev_question = question;
  }
  g_checksum_update(key->sum, (const guchar *)data + start, len - start);
}

static bool whitespace_only(const char *s, size_t len)
{
  for (size_t i = 0; i < len; i++) {
    if (s[i] != ' ' && s[i] != '\t')
      return false;
  }
  return true;
}

static void count_store_line(HeaderKey *key)
{
  key->store_raw += key->line_raw;
  key->store_crlf += key->line_text + 2;
}

/* Decides about one complete line (CRs removed, so that a line of CRs
 * alone is empty and ends the header as well). */
static void end_line(HeaderKey *key)
{
  const char *s = key->line->str;
  size_t len = key->line->len;
  if (len == 0) {
    key->done = true;
    return;
  }
  if (s[0] == ' ' || s[0] == '\t') {
    if (key->store_header)
      count_store_line(key);
    if (!key->skipping && !whitespace_only(s, len)) {
      hash_normalised(key, s, len);
      hash_normalised(key, "\n", 1);
    }
    return;
  }
  const char *colon = memchr(s, ':', len);
  size_t name_len = colon ? (size_t)(colon - s) : 0;
  while (name_len > 0 && (s[name_len - 1] == ' ' || s[name_len - 1] == '\t'))
    name_len--;
  key->store_header = colon && name_valid(s, name_len) &&
                      header_skipped(s, name_len);
  key->skipping = !colon || !name_valid(s, name_len) || key->store_header;
  if (key->store_header)
    count_store_line(key);
  if (!key->skipping) {
    hash_normalised(key, s, len);
    hash_normalised(key, "\n", 1);
  }
}

bool header_key_feed(HeaderKey *key, const char *data, size_t len)
{
  for (size_t i = 0; i < len && !key->done; i++) {
    char c = data[i];
    key->line_raw++;
    if (c == '\r')
      continue;
    if (c == '\n') {
      end_line(key);
      g_string_truncate(key->line, 0);
      key->line_raw = key->line_text = 0;
      continue;
    }
    key->line_text++;
    /* Both sides drop the same excess of an absurdly long line. */
    if (key->line->len >= LINE_MAX_KEEP)
      continue;
    g_string_append_c(key->line, c);
  }
  return !key->done;
}

void header_key_finish(HeaderKey *key, char out[HEADER_KEY_LEN + 1])
{
  /* A header without the empty line after it (a message that is all
   * header): the last line counts as complete. */
  if (!key->done && key->line->len > 0)
    end_line(key);
  g_strlcpy(out, g_checksum_get_string(key->sum), HEADER_KEY_LEN + 1);
}

void header_key_store_size(const HeaderKey *key, uint64_t *raw,
                           uint64_t *crlf)
{
  *raw = key->store_raw;
  *crlf = key->store_crlf;
}

void header_key_of(const char *data, size_t len, char out[HEADER_KEY_LEN + 1])
{
  HeaderKey *key = header_key_new();
  header_key_feed(key, data, len);
  header_key_finish(key, out);
  header_key_free(key);
}
