/* SPDX-License-Identifier: MIT */
/*
 * The POP3 command line parser (core/pop3-parse.c): keyword and rest,
 * argument splitting and decimal numbers, on any octets.  Checks what the
 * dispatcher relies on: an accepted keyword is 3-4 upper-case letters, the
 * rest and the arguments lie inside the line, no argument is empty or
 * holds a space, and a number is exactly what its digits say.
 */
#include <glib.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-check.h"
#include "pop3-parse.h"

/* The reference reading of a number: digits only, no sign, fits. */
static void check_number(const char *arg)
{
  unsigned v = 12345;
  bool ok = poplard_pop3_parse_number(arg, &v);
  bool digits = arg[0] != '\0';
  for (const char *p = arg; *p; p++)
    digits &= *p >= '0' && *p <= '9';
  if (!digits) {
    CHECK(!ok);
    return;
  }
  /* Leading zeros make any length possible: compare by value. */
  const char *p = arg;
  while (*p == '0' && p[1])
    p++;
  bool fits = strlen(p) < 10 ||
              (strlen(p) == 10 && strtoull(p, NULL, 10) <= UINT_MAX);
  CHECK(ok == fits);
  if (ok)
    CHECK((unsigned long long)v == strtoull(p, NULL, 10));
}

static void check_line(const char *line, size_t len)
{
  PoplarCommandLine cmd;
  PoplarParseResult r = poplard_pop3_parse(line, len, false, &cmd);
  if (r == POPLAR_PARSE_OK) {
    size_t k = strlen(cmd.keyword);
    CHECK(k >= 3 && k <= POPLAR_KEYWORD_MAX);
    for (size_t i = 0; i < k; i++) {
      /* A letter, then letters or digits (RFC 6856's UTF8). */
      CHECK((cmd.keyword[i] >= 'A' && cmd.keyword[i] <= 'Z') ||
            (i > 0 && cmd.keyword[i] >= '0' && cmd.keyword[i] <= '9'));
      CHECK(g_ascii_toupper(line[i]) == cmd.keyword[i]);
    }
    CHECK(k == len || line[k] == ' ');
    CHECK(cmd.rest >= line && cmd.rest + cmd.rest_len == line + len);
    for (size_t i = 0; i < len; i++)
      CHECK((unsigned char)line[i] >= 0x20 && line[i] != 0x7f);
  } else {
    CHECK(r == POPLAR_PARSE_EMPTY || r == POPLAR_PARSE_BAD_KEYWORD ||
          r == POPLAR_PARSE_BAD_CHAR);
    CHECK(len > 0 || r == POPLAR_PARSE_EMPTY);
  }
  CHECK(strlen(poplard_parse_result_text(r)) > 0);

  PoplarCommandLine split;
  PoplarParseResult rs = poplard_pop3_parse(line, len, true, &split);
  /* Splitting only adds TOO_MANY_ARGS to what the keyword parse said. */
  CHECK(rs == r || (r == POPLAR_PARSE_OK && rs == POPLAR_PARSE_TOO_MANY_ARGS));
  if (rs != POPLAR_PARSE_OK)
    return;
  CHECK(split.argc <= POPLAR_ARGS_MAX);
  size_t total = 0;
  for (unsigned i = 0; i < split.argc; i++) {
    const char *a = split.argv[i];
    CHECK(a >= split.args_buf &&
          a < split.args_buf + sizeof split.args_buf);
    CHECK(a[0] != '\0' && !strchr(a, ' '));
    total += strlen(a);
    /* Every argument is a run of the rest, in order. */
    CHECK(g_strstr_len(split.rest, (gssize)split.rest_len, a) != NULL);
    check_number(a);
  }
  CHECK(total <= split.rest_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  /* As the client hands it over: a line without its CRLF, of any length
   * (the caller limits it, the parser must still be safe). */
  char *line = g_malloc(size + 1);
  memcpy(line, data, size);
  line[size] = '\0';
  check_line(line, size);
  /* And as a number argument on its own. */
  if (!memchr(data, '\0', size))
    check_number(line);
  g_free(line);
  return 0;
}
