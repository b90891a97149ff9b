/* SPDX-License-Identifier: MIT */
#include "pop3-parse.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

static bool is_alpha(char ch)
{
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

static char to_upper(char ch)
{
  return (ch >= 'a' && ch <= 'z') ? (char)(ch - 'a' + 'A') : ch;
}

PoplarParseResult poplard_pop3_parse(const char *line, size_t len, bool split,
                                    PoplarCommandLine *out)
{
  size_t i = 0;
  memset(out->keyword, 0, sizeof out->keyword);
  out->rest = line + len;
  out->rest_len = 0;
  out->argc = 0;
  if (len == 0)
    return POPLAR_PARSE_EMPTY;
  if (len > POPLAR_COMMAND_LINE_MAX)
    return POPLAR_PARSE_BAD_CHAR; /* callers check; never overflow args_buf */
  for (size_t k = 0; k < len; k++) {
    unsigned char ch = (unsigned char)line[k];
    if (ch < 0x20 || ch == 0x7f)
      return POPLAR_PARSE_BAD_CHAR;
  }
  while (i < len && line[i] != ' ') {
    /* A letter first; RFC 6856's UTF8 shows digits may follow. */
    if (i >= POPLAR_KEYWORD_MAX ||
        !(is_alpha(line[i]) || (i > 0 && line[i] >= '0' && line[i] <= '9')))
      return POPLAR_PARSE_BAD_KEYWORD;
    out->keyword[i] = to_upper(line[i]);
    i++;
  }
  if (i < 3)
    return POPLAR_PARSE_BAD_KEYWORD;
  if (i < len) {
    out->rest = line + i + 1;
    out->rest_len = len - i - 1;
  }
  if (!split)
    return POPLAR_PARSE_OK;

  /* RFC 1939: arguments are separated by a single space.  Be lenient with
   * runs of spaces and a trailing space, as popular clients send them. */
  memcpy(out->args_buf, out->rest, out->rest_len);
  out->args_buf[out->rest_len] = '\0';
  char *p = out->args_buf;
  while (*p) {
    while (*p == ' ')
      *p++ = '\0';
    if (!*p)
      break;
    if (out->argc == POPLAR_ARGS_MAX)
      return POPLAR_PARSE_TOO_MANY_ARGS;
    out->argv[out->argc++] = p;
    /* RFC 2449 section 4 lifts RFC 1939's 40-octet argument limit: only
     * the line length bounds an argument now (user names are addresses). */
    char *end = strchr(p, ' ');
    p += end ? (size_t)(end - p) : strlen(p);
  }
  return POPLAR_PARSE_OK;
}

bool poplard_pop3_parse_number(const char *arg, unsigned *out)
{
  uint64_t v = 0;
  if (!arg || !*arg)
    return false;
  for (const char *p = arg; *p; p++) {
    if (*p < '0' || *p > '9')
      return false;
    v = v * 10 + (uint64_t)(*p - '0');
    if (v > UINT_MAX)
      return false;
  }
  *out = (unsigned)v;
  return true;
}

const char *poplard_parse_result_text(PoplarParseResult r)
{
  switch (r) {
  case POPLAR_PARSE_OK: return "ok";
  case POPLAR_PARSE_EMPTY: return "Empty command";
  case POPLAR_PARSE_BAD_KEYWORD: return "Unknown command";
  case POPLAR_PARSE_BAD_CHAR: return "Control character in command";
  case POPLAR_PARSE_TOO_MANY_ARGS: return "Too many arguments";
  }
  return "Invalid command";
}
