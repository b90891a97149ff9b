/* SPDX-License-Identifier: MIT */
/*
 * From_ lines and '>From ' quoting.
 *
 * A From_ line is recognised by its date, not only by "From " at the start
 * of a line: every MTA writes an asctime() date, and a body line that
 * slipped through unquoted ("From here on, ...") almost never carries one.
 * The forms seen on Debian:
 *   Postfix   From sender@example.org  Sat Jan  3 01:05:34 1998
 *   Exim      From sender@example.org Sat Jan 03 01:05:34 1998
 *   procmail  From sender@example.org  Sat Jan  3 01:05:34 1998
 *   bounces   From MAILER-DAEMON  Sat Jan  3 01:05:34 1998
 * and elsewhere a time zone before or after the year
 * ("... 01:05:34 +0000 1998", "... 1998 +0000"), "remote from host"
 * after the year (UUCP), a quoted local part with blanks in the sender,
 * or no sender at all.
 */
#include "mbox.h"

#include <string.h>

static bool is_blank(char c)
{
  return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
  return c >= '0' && c <= '9';
}

static char lower(char c)
{
  return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

typedef struct Token {
  const char *p;
  size_t len;
} Token;

#define MAX_TOKENS 32

static bool token_in(const Token *t, const char *const *names, size_t n)
{
  if (t->len != 3)
    return false;
  for (size_t i = 0; i < n; i++) {
    if (lower(t->p[0]) == names[i][0] && lower(t->p[1]) == names[i][1] &&
        lower(t->p[2]) == names[i][2])
      return true;
  }
  return false;
}

static bool is_weekday(const Token *t)
{
  static const char *const days[] = {"mon", "tue", "wed", "thu",
                                     "fri", "sat", "sun"};
  return token_in(t, days, G_N_ELEMENTS(days));
}

static bool is_month(const Token *t)
{
  static const char *const months[] = {"jan", "feb", "mar", "apr",
                                       "may", "jun", "jul", "aug",
                                       "sep", "oct", "nov", "dec"};
  return token_in(t, months, G_N_ELEMENTS(months));
}

static bool is_number(const Token *t, size_t min_len, size_t max_len,
                      unsigned max)
{
  if (t->len < min_len || t->len > max_len)
    return false;
  unsigned v = 0;
  for (size_t i = 0; i < t->len; i++) {
    if (!is_digit(t->p[i]))
      return false;
    v = v * 10 + (unsigned)(t->p[i] - '0');
  }
  return v <= max;
}

/* hh:mm or hh:mm:ss */
static bool is_time(const Token *t)
{
  Token part = {t->p, 0};
  size_t n_parts = 0;
  unsigned max[] = {23, 59, 60};
  for (size_t i = 0; i <= t->len; i++) {
    if (i < t->len && t->p[i] != ':') {
      part.len++;
      continue;
    }
    if (n_parts == 3 || !is_number(&part, n_parts ? 2 : 1, 2, max[n_parts]))
      return false;
    n_parts++;
    part.p = t->p + i + 1;
    part.len = 0;
  }
  return n_parts >= 2;
}

static bool is_year(const Token *t)
{
  return is_number(t, 4, 4, 9999) || is_number(t, 2, 2, 99);
}

/* +0000, -0500, or a name such as GMT, PST, MET-DST */
static bool is_zone(const Token *t)
{
  if (t->len == 5 && (t->p[0] == '+' || t->p[0] == '-')) {
    for (size_t i = 1; i < 5; i++) {
      if (!is_digit(t->p[i]))
        return false;
    }
    return true;
  }
  if (t->len < 1 || t->len > 8)
    return false;
  for (size_t i = 0; i < t->len; i++) {
    char c = lower(t->p[i]);
    if (!((c >= 'a' && c <= 'z') || c == '-'))
      return false;
  }
  return true;
}

/* weekday month day time [zone] year ..., at tokens @i.. (at least five
 * of them) */
static bool date_at(const Token *t, size_t n, size_t i)
{
  if (!is_weekday(&t[i]) || !is_month(&t[i + 1]) ||
      !is_number(&t[i + 2], 1, 2, 31) || !is_time(&t[i + 3]))
    return false;
  if (is_year(&t[i + 4]))
    return true;
  return i + 5 < n && is_zone(&t[i + 4]) && is_year(&t[i + 5]);
}

bool mbox_from_line_valid(const char *line, size_t len)
{
  if (len < 5 || memcmp(line, "From ", 5) != 0)
    return false;
  if (len > 0 && line[len - 1] == '\n')
    len--;
  if (len > 0 && line[len - 1] == '\r')
    len--;
  if (memchr(line, '\n', len))
    return false;
  Token t[MAX_TOKENS];
  size_t n = 0;
  const char *p = line + 5, *end = line + len;
  while (p < end && n < MAX_TOKENS) {
    while (p < end && is_blank(*p))
      p++;
    if (p == end)
      break;
    const char *start = p;
    while (p < end && !is_blank(*p))
      p++;
    t[n].p = start;
    t[n].len = (size_t)(p - start);
    n++;
  }
  for (size_t i = 0; i + 5 <= n; i++) {
    if (date_at(t, n, i))
      return true;
  }
  return false;
}

bool mbox_line_is_quoted(const char *line, size_t len, MboxFormat format)
{
  if (len > MBOX_LINE_PEEK)
    len = MBOX_LINE_PEEK;
  size_t i = 0;
  while (i < len && line[i] == '>')
    i++;
  if (i == 0 || (format == MBOX_FORMAT_MBOXO && i != 1))
    return false;
  return len - i >= 5 && memcmp(line + i, "From ", 5) == 0;
}

uint64_t mbox_fnv1a(const void *data, size_t len)
{
  const unsigned char *p = data;
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}
