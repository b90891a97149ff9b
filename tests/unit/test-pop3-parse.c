/* SPDX-License-Identifier: MIT */
/* POP3 command line parsing (core/pop3-parse.c). */
#include <glib.h>
#include <stdarg.h>
#include <string.h>

#include "pop3-parse.h"

/* g_test_message() for text that may hold any octet: TAP wants one line of
 * valid UTF-8. */
static void note(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void note(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *raw = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_autofree char *esc = g_strescape(raw, NULL);
  g_test_message("%s", esc);
}

typedef struct ParseCase {
  const char *line;
  size_t len; /* 0: strlen(line) */
  bool split;
  PoplarParseResult result;
  const char *keyword;
  const char *rest;
  unsigned argc;
  const char *argv0;
  const char *argv1;
} ParseCase;

static const ParseCase parse_cases[] = {
    /* keywords: case-insensitive, 3 or 4 characters */
    {"USER bob", 0, true, POPLAR_PARSE_OK, "USER", "bob", 1, "bob", NULL},
    {"user bob", 0, true, POPLAR_PARSE_OK, "USER", "bob", 1, "bob", NULL},
    {"uSeR bob", 0, true, POPLAR_PARSE_OK, "USER", "bob", 1, "bob", NULL},
    {"top 1 10", 0, true, POPLAR_PARSE_OK, "TOP", "1 10", 2, "1", "10"},
    {"STAT", 0, true, POPLAR_PARSE_OK, "STAT", "", 0, NULL, NULL},
    {"capa", 0, false, POPLAR_PARSE_OK, "CAPA", "", 0, NULL, NULL},
    {"QUIT ", 0, true, POPLAR_PARSE_OK, "QUIT", "", 0, NULL, NULL},
    {"NOOP", 0, false, POPLAR_PARSE_OK, "NOOP", "", 0, NULL, NULL},
    /* bad keywords */
    {"", 0, true, POPLAR_PARSE_EMPTY, "", NULL, 0, NULL, NULL},
    {"US", 0, true, POPLAR_PARSE_BAD_KEYWORD, NULL, NULL, 0, NULL, NULL},
    {"A", 0, true, POPLAR_PARSE_BAD_KEYWORD, NULL, NULL, 0, NULL, NULL},
    {"US bob", 0, true, POPLAR_PARSE_BAD_KEYWORD, NULL, NULL, 0, NULL, NULL},
    {"USERS bob", 0, true, POPLAR_PARSE_BAD_KEYWORD, NULL, NULL, 0, NULL,
     NULL},
    {"USERbob", 0, true, POPLAR_PARSE_BAD_KEYWORD, NULL, NULL, 0, NULL, NULL},
    /* digits after the first letter (RFC 6856 UTF8); unknown ones are
     * the dispatcher's to refuse */
    {"utf8", 0, true, POPLAR_PARSE_OK, "UTF8", "", 0, NULL, NULL},
    {"US3R bob", 0, true, POPLAR_PARSE_OK, "US3R", "bob", 1, "bob", NULL},
    {"3USR bob", 0, true, POPLAR_PARSE_BAD_KEYWORD, NULL, NULL, 0, NULL,
     NULL},
    {"123", 0, true, POPLAR_PARSE_BAD_KEYWORD, NULL, NULL, 0, NULL, NULL},
    {"1234", 0, false, POPLAR_PARSE_BAD_KEYWORD, NULL, NULL, 0, NULL, NULL},
    {" USER bob", 0, true, POPLAR_PARSE_BAD_KEYWORD, NULL, NULL, 0, NULL,
     NULL},
    {" ", 0, true, POPLAR_PARSE_BAD_KEYWORD, NULL, NULL, 0, NULL, NULL},
    {"   ", 0, true, POPLAR_PARSE_BAD_KEYWORD, NULL, NULL, 0, NULL, NULL},
    {"US-R", 0, true, POPLAR_PARSE_BAD_KEYWORD, NULL, NULL, 0, NULL, NULL},
    {"\xc3\x9c" "SER", 0, true, POPLAR_PARSE_BAD_KEYWORD, NULL, NULL, 0, NULL,
     NULL},
    {"LIS\xff", 0, true, POPLAR_PARSE_BAD_KEYWORD, NULL, NULL, 0, NULL, NULL},
    /* control characters anywhere, NUL included */
    {"US\tER bob", 0, true, POPLAR_PARSE_BAD_CHAR, NULL, NULL, 0, NULL, NULL},
    {"USER\tbob", 0, true, POPLAR_PARSE_BAD_CHAR, NULL, NULL, 0, NULL, NULL},
    {"USER bob\x7f", 0, true, POPLAR_PARSE_BAD_CHAR, NULL, NULL, 0, NULL,
     NULL},
    {"PASS se\x1b[2Jcret", 0, false, POPLAR_PARSE_BAD_CHAR, NULL, NULL, 0,
     NULL, NULL},
    {"USER bob\0evil", 12, true, POPLAR_PARSE_BAD_CHAR, NULL, NULL, 0, NULL,
     NULL},
    {"\0USER", 5, false, POPLAR_PARSE_BAD_CHAR, NULL, NULL, 0, NULL, NULL},
    {"USER bob\r", 0, true, POPLAR_PARSE_BAD_CHAR, NULL, NULL, 0, NULL, NULL},
    {"USER b\nob", 0, true, POPLAR_PARSE_BAD_CHAR, NULL, NULL, 0, NULL, NULL},
    {"\x01", 0, true, POPLAR_PARSE_BAD_CHAR, NULL, NULL, 0, NULL, NULL},
    /* 8-bit octets are not control characters: allowed in arguments */
    {"USER b\xc3\xb6" "b", 0, true, POPLAR_PARSE_OK, "USER", "b\xc3\xb6" "b",
     1, "b\xc3\xb6" "b", NULL},
    /* argument splitting: runs of spaces and trailing spaces tolerated */
    {"TOP 1  10", 0, true, POPLAR_PARSE_OK, "TOP", "1  10", 2, "1", "10"},
    {"TOP  1 10", 0, true, POPLAR_PARSE_OK, "TOP", " 1 10", 2, "1", "10"},
    {"TOP 1 10 ", 0, true, POPLAR_PARSE_OK, "TOP", "1 10 ", 2, "1", "10"},
    {"TOP   1     10     ", 0, true, POPLAR_PARSE_OK, "TOP",
     "  1     10     ", 2, "1", "10"},
    {"LIST    ", 0, true, POPLAR_PARSE_OK, "LIST", "   ", 0, NULL, NULL},
    {"LIST 1", 0, true, POPLAR_PARSE_OK, "LIST", "1", 1, "1", NULL},
    /* too many arguments: only when splitting */
    {"TOP 1 10 5", 0, true, POPLAR_PARSE_TOO_MANY_ARGS, "TOP", NULL, 0, NULL,
     NULL},
    {"TOP 1 10 5 ", 0, true, POPLAR_PARSE_TOO_MANY_ARGS, "TOP", NULL, 0,
     NULL, NULL},
    {"TOP 1 10 5", 0, false, POPLAR_PARSE_OK, "TOP", "1 10 5", 0, NULL, NULL},
    {"USER a b c d e f", 0, true, POPLAR_PARSE_TOO_MANY_ARGS, "USER", NULL, 0,
     NULL, NULL},
    /* PASS: the whole rest of the line, spaces included */
    {"PASS my secret  pass ", 0, false, POPLAR_PARSE_OK, "PASS",
     "my secret  pass ", 0, NULL, NULL},
    {"PASS  leading", 0, false, POPLAR_PARSE_OK, "PASS", " leading", 0, NULL,
     NULL},
    {"pass x", 0, false, POPLAR_PARSE_OK, "PASS", "x", 0, NULL, NULL},
    {"PASS ", 0, false, POPLAR_PARSE_OK, "PASS", "", 0, NULL, NULL},
    {"APOP bob c4c9334bac560ecc979e58001b3e22fb", 0, true, POPLAR_PARSE_OK,
     "APOP", "bob c4c9334bac560ecc979e58001b3e22fb", 2, "bob",
     "c4c9334bac560ecc979e58001b3e22fb"},
};

static void test_parse_table(void)
{
  for (size_t i = 0; i < G_N_ELEMENTS(parse_cases); i++) {
    const ParseCase *c = &parse_cases[i];
    size_t len = c->len ? c->len : strlen(c->line);
    g_autofree char *line = g_memdup2(c->line, len); /* exact-size copy */
    g_autofree PoplarCommandLine *cmd = g_new(PoplarCommandLine, 1);
    memset(cmd, 0x5a, sizeof *cmd); /* garbage: parse must set everything */
    note("case %zu: '%s' split=%d", i, c->line, c->split);
    PoplarParseResult r = poplard_pop3_parse(line, len, c->split, cmd);
    g_assert_cmpint(r, ==, c->result);
    if (c->keyword)
      g_assert_cmpstr(cmd->keyword, ==, c->keyword);
    if (r != POPLAR_PARSE_OK)
      continue;
    if (c->rest) {
      g_assert_cmpuint(cmd->rest_len, ==, strlen(c->rest));
      g_assert_true(memcmp(cmd->rest, c->rest, cmd->rest_len) == 0);
      /* rest points into the caller's line */
      g_assert_true(cmd->rest >= line && cmd->rest <= line + len);
    }
    if (!c->split)
      continue;
    g_assert_cmpuint(cmd->argc, ==, c->argc);
    if (c->argc > 0)
      g_assert_cmpstr(cmd->argv[0], ==, c->argv0);
    if (c->argc > 1)
      g_assert_cmpstr(cmd->argv[1], ==, c->argv1);
  }
}

/* The longest line the core accepts (RFC 2449: 255 octets with CRLF). */
static void test_parse_longest_line(void)
{
  size_t len = POPLAR_COMMAND_LINE_MAX - 2;
  g_autofree char *line = g_malloc(len);
  memcpy(line, "USER ", 5);
  memset(line + 5, 'x', len - 5);
  PoplarCommandLine cmd;
  g_assert_cmpint(poplard_pop3_parse(line, len, true, &cmd), ==,
                  POPLAR_PARSE_OK);
  g_assert_cmpuint(cmd.argc, ==, 1);
  g_assert_cmpuint(strlen(cmd.argv[0]), ==, len - 5);
  g_assert_cmpuint(cmd.rest_len, ==, len - 5);

  /* two long arguments */
  line[100] = ' ';
  g_assert_cmpint(poplard_pop3_parse(line, len, true, &cmd), ==,
                  POPLAR_PARSE_OK);
  g_assert_cmpuint(cmd.argc, ==, 2);
  g_assert_cmpuint(strlen(cmd.argv[0]), ==, 95);
  g_assert_cmpuint(strlen(cmd.argv[1]), ==, len - 101);

  /* a line of single-letter arguments */
  for (size_t i = 5; i < len; i++)
    line[i] = (i % 2) ? ' ' : 'a';
  g_assert_cmpint(poplard_pop3_parse(line, len, true, &cmd), ==,
                  POPLAR_PARSE_TOO_MANY_ARGS);
}

/* A PoplarCommandLine reused for a second line keeps nothing of the first. */
static void test_parse_reuse(void)
{
  PoplarCommandLine cmd;
  g_assert_cmpint(poplard_pop3_parse("TOP 1 2", 7, true, &cmd), ==,
                  POPLAR_PARSE_OK);
  g_assert_cmpuint(cmd.argc, ==, 2);
  g_assert_cmpint(poplard_pop3_parse("STAT", 4, true, &cmd), ==,
                  POPLAR_PARSE_OK);
  g_assert_cmpstr(cmd.keyword, ==, "STAT");
  g_assert_cmpuint(cmd.argc, ==, 0);
  g_assert_cmpuint(cmd.rest_len, ==, 0);
  g_assert_cmpint(poplard_pop3_parse("", 0, true, &cmd), ==,
                  POPLAR_PARSE_EMPTY);
  g_assert_cmpstr(cmd.keyword, ==, "");
  g_assert_cmpuint(cmd.argc, ==, 0);
  g_assert_cmpuint(cmd.rest_len, ==, 0);
}

/* The line is only read, never written (it may hold a password). */
static void test_parse_const_input(void)
{
  const char line[] = "TOP  1   2 ";
  char copy[sizeof line];
  memcpy(copy, line, sizeof line);
  PoplarCommandLine cmd;
  g_assert_cmpint(poplard_pop3_parse(copy, strlen(copy), true, &cmd), ==,
                  POPLAR_PARSE_OK);
  g_assert_cmpmem(copy, sizeof copy, line, sizeof line);
}

/* Random hostile lines: never a crash, and the result always agrees with a
 * simple statement of the rules. */
static void test_parse_random(void)
{
  static const char alphabet[] = "aZtOpQ \x01\x7f\x80\xff" "0.";
  for (unsigned iter = 0; iter < 20000; iter++) {
    size_t len = (size_t)g_test_rand_int_range(0, POPLAR_COMMAND_LINE_MAX - 1);
    g_autofree char *line = g_malloc(len ? len : 1);
    for (size_t i = 0; i < len; i++) {
      /* the alphabet, plus NUL now and then */
      int k = g_test_rand_int_range(0, (int)sizeof alphabet);
      line[i] = alphabet[k];
    }
    PoplarCommandLine cmd;
    bool split = g_test_rand_bit();
    PoplarParseResult r = poplard_pop3_parse(line, len, split, &cmd);

    bool has_ctl = false;
    for (size_t i = 0; i < len; i++) {
      unsigned char ch = (unsigned char)line[i];
      if (ch < 0x20 || ch == 0x7f)
        has_ctl = true;
    }
    if (len == 0) {
      g_assert_cmpint(r, ==, POPLAR_PARSE_EMPTY);
      continue;
    }
    if (has_ctl) {
      g_assert_cmpint(r, ==, POPLAR_PARSE_BAD_CHAR);
      continue;
    }
    size_t kw = 0;
    while (kw < len && line[kw] != ' ')
      kw++;
    bool kw_ok = kw >= 3 && kw <= 4;
    for (size_t i = 0; kw_ok && i < kw; i++)
      kw_ok = g_ascii_isalpha(line[i]) || (i > 0 && g_ascii_isdigit(line[i]));
    if (!kw_ok) {
      g_assert_cmpint(r, ==, POPLAR_PARSE_BAD_KEYWORD);
      continue;
    }
    g_autofree char *want_kw = g_ascii_strup(line, (gssize)kw);
    g_assert_cmpstr(cmd.keyword, ==, want_kw);
    size_t rest_off = kw < len ? kw + 1 : len;
    g_assert_cmpuint(cmd.rest_len, ==, len - rest_off);
    g_assert_true(cmd.rest == line + rest_off);

    g_autofree char *rest = g_strndup(line + rest_off, len - rest_off);
    g_auto(GStrv) parts = g_strsplit(rest, " ", -1);
    GPtrArray *words = g_ptr_array_new();
    for (char **p = parts; *p; p++)
      if (**p)
        g_ptr_array_add(words, *p);
    if (!split) {
      g_assert_cmpint(r, ==, POPLAR_PARSE_OK);
    } else if (words->len > POPLAR_ARGS_MAX) {
      g_assert_cmpint(r, ==, POPLAR_PARSE_TOO_MANY_ARGS);
    } else {
      g_assert_cmpint(r, ==, POPLAR_PARSE_OK);
      g_assert_cmpuint(cmd.argc, ==, words->len);
      for (unsigned i = 0; i < cmd.argc; i++)
        g_assert_cmpstr(cmd.argv[i], ==, words->pdata[i]);
    }
    g_ptr_array_unref(words);
  }
}

typedef struct NumberCase {
  const char *text;
  bool ok;
  unsigned value;
} NumberCase;

static void test_parse_number(void)
{
  static const NumberCase cases[] = {
      /* 0 is a number: TOP n takes it ("headers only"); message commands
       * refuse it themselves */
      {"0", true, 0},
      {"1", true, 1},
      {"42", true, 42},
      {"007", true, 7},
      {"0000000000000000000000000000000000000001", true, 1},
      {"4294967295", true, 4294967295u},
      {"04294967295", true, 4294967295u},
      {"4294967296", false, 0},
      {"4294967300", false, 0},
      {"9999999999", false, 0},
      {"18446744073709551616", false, 0},
      {"99999999999999999999999999999999999999", false, 0},
      {"", false, 0},
      {"-1", false, 0},
      {"+1", false, 0},
      {"-0", false, 0},
      {" 1", false, 0},
      {"1 ", false, 0},
      {"1a", false, 0},
      {"a1", false, 0},
      {"0x10", false, 0},
      {"1e3", false, 0},
      {"1.0", false, 0},
      {"\xd9\xa1", false, 0}, /* ARABIC-INDIC DIGIT ONE */
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    unsigned v = 12345;
    g_test_message("number '%s'", cases[i].text);
    bool ok = poplard_pop3_parse_number(cases[i].text, &v);
    g_assert_cmpint(ok, ==, cases[i].ok);
    if (ok)
      g_assert_cmpuint(v, ==, cases[i].value);
  }
  unsigned v = 0;
  g_assert_false(poplard_pop3_parse_number(NULL, &v));
}

static void test_parse_result_text(void)
{
  static const PoplarParseResult all[] = {
      POPLAR_PARSE_OK, POPLAR_PARSE_EMPTY, POPLAR_PARSE_BAD_KEYWORD,
      POPLAR_PARSE_BAD_CHAR, POPLAR_PARSE_TOO_MANY_ARGS};
  for (size_t i = 0; i < G_N_ELEMENTS(all); i++) {
    const char *t = poplard_parse_result_text(all[i]);
    g_assert_nonnull(t);
    g_assert_cmpuint(strlen(t), >, 0);
    for (size_t j = 0; j < i; j++)
      g_assert_cmpstr(t, !=, poplard_parse_result_text(all[j]));
    /* goes into a response line: no CR or LF */
    g_assert_null(strpbrk(t, "\r\n"));
  }
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/pop3-parse/table", test_parse_table);
  g_test_add_func("/pop3-parse/longest-line", test_parse_longest_line);
  g_test_add_func("/pop3-parse/reuse", test_parse_reuse);
  g_test_add_func("/pop3-parse/const-input", test_parse_const_input);
  g_test_add_func("/pop3-parse/random", test_parse_random);
  g_test_add_func("/pop3-parse/number", test_parse_number);
  g_test_add_func("/pop3-parse/result-text", test_parse_result_text);
  return g_test_run();
}
