/* SPDX-License-Identifier: MIT */
/* Splitting a POP3 command line into keyword and arguments (RFC 1939 3). */
#ifndef POPLAR_POP3_PARSE_H
#define POPLAR_POP3_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "poplar-limits.h"

typedef enum PoplarParseResult {
  POPLAR_PARSE_OK = 0,
  POPLAR_PARSE_EMPTY,       /* blank line */
  POPLAR_PARSE_BAD_KEYWORD, /* not 3-4 letters */
  POPLAR_PARSE_BAD_CHAR,    /* NUL or other control character */
  POPLAR_PARSE_TOO_MANY_ARGS,
} PoplarParseResult;

typedef struct PoplarCommandLine {
  char keyword[POPLAR_KEYWORD_MAX + 1]; /* upper-cased */
  /* Everything after the keyword and one space, unsplit: PASS takes its
   * whole rest as the password, since passwords may contain spaces (RFC
   * 1939 section 7, PASS discussion).  Points into the caller's line. */
  const char *rest;
  size_t rest_len;
  unsigned argc;
  /* Arguments split at single spaces; point into @args_buf. */
  const char *argv[POPLAR_ARGS_MAX];
  char args_buf[POPLAR_COMMAND_LINE_MAX + 1];
} PoplarCommandLine;

/* Parses @line (without its CRLF, @len octets).  Arguments beyond
 * POPLAR_ARGS_MAX are reported as TOO_MANY_ARGS only when @split is true;
 * with @split false only the keyword and rest are filled. */
PoplarParseResult poplard_pop3_parse(const char *line, size_t len, bool split,
                                    PoplarCommandLine *out);

/* Parses a decimal number argument, 0..UINT_MAX, no sign (0 is valid for
 * TOP's line count; message numbers are checked by the caller). */
bool poplard_pop3_parse_number(const char *arg, unsigned *out);

const char *poplard_parse_result_text(PoplarParseResult r);

#endif /* POPLAR_POP3_PARSE_H */
