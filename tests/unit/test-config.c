/* SPDX-License-Identifier: MIT */
/*
 * poplar.conf: the reader and typed accessors of libpoplar
 * (config-parse.c, config.c) and the core's [server]/[plugins] reader
 * (core/server-config.c).  Every error must name the file and the line.
 */
#include <arpa/inet.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <string.h>

#include "poplar-private.h"
#include "server-config.h"

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

#define CONF "test.conf"

static PoplarConfigFile *parse_len(const char *text, size_t len)
{
  /* an exact-size copy: reading past the end is a sanitizer error */
  g_autofree char *copy = g_memdup2(text, len ? len : 1);
  return poplarpriv_config_parse(CONF, copy, len);
}

static PoplarConfigFile *parse(const char *text)
{
  return parse_len(text, strlen(text));
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(PoplarConfigFile, poplarpriv_config_free)

static void dump_errors(const PoplarConfigFile *f)
{
  for (guint i = 0; i < f->errors->len; i++)
    note("  error: %s", (const char *)f->errors->pdata[i]);
}

/* Returns the first error containing every one of the NULL-terminated
 * substrings, or NULL. */
static const char *find_error(const PoplarConfigFile *f, ...)
{
  for (guint i = 0; i < f->errors->len; i++) {
    const char *e = f->errors->pdata[i];
    va_list ap;
    va_start(ap, f);
    bool all = true;
    for (const char *s; (s = va_arg(ap, const char *));)
      if (!strstr(e, s))
        all = false;
    va_end(ap);
    if (all)
      return e;
  }
  return NULL;
}

static void assert_error(const PoplarConfigFile *f, const char *prefix,
                         const char *what)
{
  const char *e = find_error(f, prefix, what, NULL);
  if (!e) {
    dump_errors(f);
    g_error("no error with '%s' and '%s'", prefix, what);
  }
  /* the file and line come first, as compilers print them */
  g_assert_true(g_str_has_prefix(e, prefix));
}

/* ---- syntax ---------------------------------------------------------- */

typedef struct SyntaxCase {
  const char *text;
  size_t len; /* 0: strlen */
  const char *where; /* "test.conf:N:" */
  const char *what;
} SyntaxCase;

static const SyntaxCase syntax_cases[] = {
    {"[server\nlisten = x\n", 0, CONF ":1:", "closing ']'"},
    {"[server\nlisten = x\n", 0, CONF ":2:", "outside any [section]"},
    {"\n# comment\nlisten = x\n", 0, CONF ":3:", "key 'listen' outside"},
    {"[s]\njunk\n", 0, CONF ":2:", "expected 'key = value'"},
    {"[s]\n\n\n  junk here  \n", 0, CONF ":4:", "expected 'key = value'"},
    {"[s]\n= v\n", 0, CONF ":2:", "missing key"},
    {"[s]\n  = v\n", 0, CONF ":2:", "missing key"},
    {"[s]\nk = a\\qb\n", 0, CONF ":2:", "[s] k: unknown escape '\\q'"},
    {"[s]\nk = \\x41\n", 0, CONF ":2:", "unknown escape '\\x'"},
    {"[s]\nk = a\\\n", 0, CONF ":2:", "[s] k: value ends with a lone '\\'"},
    {"[s]\nk = 1\nk = 2\n", 0, CONF ":3:",
     "[s] k: key set again (first at line 2)"},
    {"[s]\nk=1\n[t]\nk=2\n[s]\nk=3\n", 0, CONF ":5:",
     "section [s] appears again (first at line 1)"},
    {"[s]\nk=1\n[t]\nk=2\n[s]\nk=3\n", 0, CONF ":6:",
     "[s] k: key set again (first at line 2)"},
    {"[s]\nk = \xff\xfe\n", 0, CONF ":2:", "not valid UTF-8"},
    {"[s]\nk = \xc3\n", 0, CONF ":2:", "not valid UTF-8"},
    {"[s\xc3\x28]\n", 0, CONF ":1:", "not valid UTF-8"},
    {"[]\n", 0, CONF ":1:", "empty section name"},
    {"[a/b]\n", 0, CONF ":1:", "invalid character '/' in section name"},
    {"[a]b\n", 0, CONF ":1:", "closing ']'"},
    {"[s]\nk y = 1\n", 0, CONF ":2:", "invalid character ' ' in key"},
    {"[s]\nk:y = 1\n", 0, CONF ":2:", "invalid character ':' in key"},
    /* CRLF line ends count lines the same */
    {"[s]\r\nk = 1\r\nk = 2\r\n", 0, CONF ":3:", "key set again"},
    /* no newline at the end of the file */
    {"[s]\nk = 1\nk = 2", 0, CONF ":3:", "key set again"},
};

static void test_syntax_errors(void)
{
  for (size_t i = 0; i < G_N_ELEMENTS(syntax_cases); i++) {
    const SyntaxCase *c = &syntax_cases[i];
    g_autofree char *esc = g_strescape(c->text, NULL);
    g_test_message("case '%s'", esc);
    g_autoptr(PoplarConfigFile) f =
        parse_len(c->text, c->len ? c->len : strlen(c->text));
    g_assert_cmpuint(f->errors->len, >, 0);
    assert_error(f, c->where, c->what);
  }
}

/* A NUL byte: the file is refused, and the message says where. */
static void test_nul_byte(void)
{
  static const char text[] = "[s]\nk = a\0b\n";
  g_autoptr(PoplarConfigFile) f = parse_len(text, sizeof text - 1);
  g_assert_cmpuint(f->errors->len, ==, 1);
  const char *e = f->errors->pdata[0];
  g_assert_true(g_str_has_prefix(e, CONF));
  g_assert_nonnull(strstr(e, "NUL"));
  if (!g_str_has_prefix(e, CONF ":2:"))
    g_error("the NUL byte is reported without its line: '%s'", e);
  /* nothing of a binary file is taken as configuration */
  g_assert_null(poplarpriv_config_section(f, "s"));
}

/* Errors do not stop the reader: every problem is reported in one run. */
static void test_all_errors_reported(void)
{
  g_autoptr(PoplarConfigFile) f =
      parse("orphan = 1\n[s]\nbad line\nk = \\q\nk2 = ok\nk2 = again\n[s\n");
  dump_errors(f);
  g_assert_cmpuint(f->errors->len, ==, 5);
  assert_error(f, CONF ":1:", "outside");
  assert_error(f, CONF ":3:", "expected");
  assert_error(f, CONF ":4:", "escape");
  assert_error(f, CONF ":6:", "set again");
  assert_error(f, CONF ":7:", "closing");
  PoplarConfig *s = poplarpriv_config_section(f, "s");
  g_assert_nonnull(s);
  g_assert_cmpstr(poplar_config_get_string(s, "k2", NULL), ==, "ok");
  /* a key with a bad value is not set */
  g_assert_false(poplar_config_has_key(s, "k"));
}

static void test_values(void)
{
  g_autoptr(PoplarConfigFile) f = parse(
      "# comment\n"
      "   # indented comment\n"
      "[ s ]\n" /* not trimmed inside brackets: section " s " */
      "[s]\n"
      "plain = value\n"
      "spaces =   lots of   space   \n"
      "escapes = \\sa\\tb\\nc\\rd\\\\e\\s\n"
      "hash = a # not a comment\n"
      "empty =\n"
      "  indented  =  x\n"
      "eq = a=b=c\n"
      "utf8 = gr\xc3\xbc\xc3\x9f\x65\n"
      "crlf = v\r\n"
      "[other.section_name-1]\n"
      "plain = other\n");
  dump_errors(f);
  g_assert_cmpuint(f->errors->len, ==, 0);
  PoplarConfig *s = poplarpriv_config_section(f, "s");
  g_assert_nonnull(s);
  g_assert_cmpstr(poplar_config_section_name(s), ==, "s");
  g_assert_cmpuint(s->line, ==, 4);
  g_assert_cmpstr(poplar_config_get_string(s, "plain", NULL), ==, "value");
  g_assert_cmpstr(poplar_config_get_string(s, "spaces", NULL), ==,
                  "lots of   space");
  g_assert_cmpstr(poplar_config_get_string(s, "escapes", NULL), ==,
                  " a\tb\nc\rd\\e ");
  g_assert_cmpstr(poplar_config_get_string(s, "hash", NULL), ==,
                  "a # not a comment");
  g_assert_cmpstr(poplar_config_get_string(s, "empty", "def"), ==, "");
  g_assert_cmpstr(poplar_config_get_string(s, "indented", NULL), ==, "x");
  g_assert_cmpstr(poplar_config_get_string(s, "eq", NULL), ==, "a=b=c");
  g_assert_cmpstr(poplar_config_get_string(s, "utf8", NULL), ==,
                  "gr\xc3\xbc\xc3\x9f\x65");
  g_assert_cmpstr(poplar_config_get_string(s, "crlf", NULL), ==, "v");
  g_assert_cmpstr(poplar_config_get_string(s, "absent", "def"), ==, "def");
  g_assert_null(poplar_config_get_string(s, "absent", NULL));
  /* keys are case-sensitive */
  g_assert_null(poplar_config_get_string(s, "PLAIN", NULL));
  g_assert_nonnull(poplarpriv_config_section(f, " s "));
  PoplarConfig *o = poplarpriv_config_section(f, "other.section_name-1");
  g_assert_nonnull(o);
  g_assert_cmpstr(poplar_config_get_string(o, "plain", NULL), ==, "other");
  g_assert_null(poplarpriv_config_section(f, "S"));
}

/* ---- typed accessors -------------------------------------------------- */

static PoplarConfig *one_key(PoplarConfigFile **f, const char *value)
{
  g_autofree char *text = g_strdup_printf("[s]\n\nk = %s\n", value);
  *f = parse(text);
  dump_errors(*f);
  g_assert_cmpuint((*f)->errors->len, ==, 0);
  return poplarpriv_config_section(*f, "s");
}

/* A failed accessor recorded exactly one error at the key's line. */
static void assert_value_error(PoplarConfigFile *f, const char *what)
{
  dump_errors(f);
  g_assert_cmpuint(f->errors->len, ==, 1);
  assert_error(f, CONF ":3: [s] k: ", what);
}

static void test_get_int(void)
{
  static const struct {
    const char *v;
    long long min, max;
    bool ok;
    long long want;
    const char *error;
  } cases[] = {
      {"42", 0, 100, true, 42, NULL},
      {"0", 0, 100, true, 0, NULL},
      {"100", 0, 100, true, 100, NULL},
      {"-5", -10, 10, true, -5, NULL},
      {"9223372036854775807", 0, G_MAXINT64, true, G_MAXINT64, NULL},
      {"-9223372036854775808", G_MININT64, 0, true, G_MININT64, NULL},
      {"101", 0, 100, false, 7, "101 is out of range (0 to 100)"},
      {"-1", 0, 100, false, 7, "out of range"},
      {"abc", 0, 100, false, 7, "'abc' is not an integer"},
      {"12abc", 0, 100, false, 7, "not an integer"},
      {"1.5", 0, 100, false, 7, "not an integer"},
      {"0x10", 0, 100, false, 7, "not an integer"},
      {"1 2", 0, 100, false, 7, "not an integer"},
      {"9223372036854775808", 0, G_MAXINT64, false, 7, "not an integer"},
      {"99999999999999999999999", 0, G_MAXINT64, false, 7, "not an integer"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    PoplarConfigFile *f = NULL;
    PoplarConfig *s = one_key(&f, cases[i].v);
    long long out = -999;
    g_test_message("int '%s'", cases[i].v);
    bool ok = poplar_config_get_int(s, "k", 7, cases[i].min, cases[i].max,
                                    &out);
    g_assert_cmpint(ok, ==, cases[i].ok);
    g_assert_cmpint(out, ==, cases[i].want);
    if (ok)
      g_assert_cmpuint(f->errors->len, ==, 0);
    else
      assert_value_error(f, cases[i].error);
    poplarpriv_config_free(f);
  }
  /* an empty value is not a number */
  PoplarConfigFile *f = parse("[s]\n\nk =\n");
  long long out = 0;
  g_assert_false(poplar_config_get_int(poplarpriv_config_section(f, "s"), "k",
                                       3, 0, 10, &out));
  g_assert_cmpint(out, ==, 3);
  assert_value_error(f, "is not an integer");
  poplarpriv_config_free(f);
  /* absent: the default, no error */
  f = parse("[s]\n");
  out = 0;
  g_assert_true(poplar_config_get_int(poplarpriv_config_section(f, "s"), "k",
                                      3, 0, 10, &out));
  g_assert_cmpint(out, ==, 3);
  g_assert_cmpuint(f->errors->len, ==, 0);
  poplarpriv_config_free(f);
}

static void test_get_bool(void)
{
  static const struct {
    const char *v;
    bool ok, want;
  } cases[] = {
      {"yes", true, true},   {"no", true, false},    {"true", true, true},
      {"false", true, false}, {"on", true, true},     {"off", true, false},
      {"1", true, true},     {"0", true, false},     {"YES", true, true},
      {"True", true, true},  {"OFF", true, false},   {"maybe", false, false},
      {"2", false, false},   {"y", false, false},    {"yes please", false, false},
      {"nope", false, false}, {"-1", false, false},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    PoplarConfigFile *f = NULL;
    PoplarConfig *s = one_key(&f, cases[i].v);
    g_test_message("bool '%s'", cases[i].v);
    /* the default is the opposite of the expected value, so a wrong
     * "default returned" shows */
    bool out = !cases[i].want;
    bool ok = poplar_config_get_bool(s, "k", !cases[i].want, &out);
    g_assert_cmpint(ok, ==, cases[i].ok);
    if (ok) {
      g_assert_cmpint(out, ==, cases[i].want);
      g_assert_cmpuint(f->errors->len, ==, 0);
    } else {
      g_assert_cmpint(out, ==, !cases[i].want); /* the default */
      assert_value_error(f, "is not a boolean");
    }
    poplarpriv_config_free(f);
  }
  PoplarConfigFile *f = parse("[s]\n");
  bool out = false;
  g_assert_true(poplar_config_get_bool(poplarpriv_config_section(f, "s"), "k",
                                       true, &out));
  g_assert_true(out);
  poplarpriv_config_free(f);
}

static void test_get_duration(void)
{
  static const struct {
    const char *v;
    bool ok;
    uint64_t ms;
  } cases[] = {
      {"500ms", true, 500},
      {"30s", true, 30000},
      {"10m", true, 600000},
      {"10min", true, 600000},
      {"2h", true, 7200000},
      {"1d", true, 86400000},
      {"45", true, 45000},
      {"0", true, 0},
      {"0ms", true, 0},
      {"007s", true, 7000},
      {"10 s", true, 10000},
      {"2H", true, 7200000},
      {"", false, 0},
      {"s", false, 0},
      {"ms", false, 0},
      {"-1s", false, 0},
      {"+1s", false, 0},
      {"1.5h", false, 0},
      {"10x", false, 0},
      {"1w", false, 0},
      {"10 seconds", false, 0},
      {"1s2", false, 0},
      {"1s 2m", false, 0},
      {"0x10s", false, 0},
      {"99999999999999999999", false, 0},     /* ERANGE */
      {"18446744073709551615", false, 0},     /* fits, but not * 1000 */
      {"213503982334d", true, 213503982334ull * 86400000},
      {"213503982335d", false, 0},            /* d overflows 64 bits */
      {"18446744073709551615ms", true, G_MAXUINT64},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    PoplarConfigFile *f = NULL;
    PoplarConfig *s = one_key(&f, cases[i].v);
    g_test_message("duration '%s'", cases[i].v);
    uint64_t out = 1;
    bool ok = poplar_config_get_duration(s, "k", 1234, &out);
    g_assert_cmpint(ok, ==, cases[i].ok);
    if (ok) {
      g_assert_cmpuint(out, ==, cases[i].ms);
      g_assert_cmpuint(f->errors->len, ==, 0);
    } else {
      assert_value_error(f, "is not a duration");
    }
    poplarpriv_config_free(f);
  }
  PoplarConfigFile *f = parse("[s]\n");
  uint64_t out = 0;
  g_assert_true(poplar_config_get_duration(poplarpriv_config_section(f, "s"),
                                           "k", 1234, &out));
  g_assert_cmpuint(out, ==, 1234);
  poplarpriv_config_free(f);
}

static void test_get_size(void)
{
  static const struct {
    const char *v;
    bool ok;
    uint64_t n;
  } cases[] = {
      {"0", true, 0},
      {"512", true, 512},
      {"512k", true, 512 * 1024},
      {"512K", true, 512 * 1024},
      {"1kb", true, 1024},
      {"10M", true, 10 * 1024 * 1024},
      {"10m", true, 10 * 1024 * 1024},
      {"1 MB", true, 1024 * 1024},
      {"1G", true, 1024ull * 1024 * 1024},
      {"4g", true, 4ull * 1024 * 1024 * 1024},
      {"18446744073709551615", true, G_MAXUINT64},
      {"17179869183G", true, 17179869183ull * 1024 * 1024 * 1024},
      {"17179869184G", false, 0}, /* 2^64 */
      {"18446744073709551616", false, 0},
      {"", false, 0},
      {"k", false, 0},
      {"-1", false, 0},
      {"1.5M", false, 0},
      {"1T", false, 0},
      {"1kib", false, 0},
      {"10 k b", false, 0},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    PoplarConfigFile *f = NULL;
    PoplarConfig *s = one_key(&f, cases[i].v);
    g_test_message("size '%s'", cases[i].v);
    uint64_t out = 1;
    bool ok = poplar_config_get_size(s, "k", 99, &out);
    g_assert_cmpint(ok, ==, cases[i].ok);
    if (ok) {
      g_assert_cmpuint(out, ==, cases[i].n);
      g_assert_cmpuint(f->errors->len, ==, 0);
    } else {
      assert_value_error(f, "is not a size");
    }
    poplarpriv_config_free(f);
  }
}

static void assert_list(PoplarConfig *s, const char *key,
                        const char *const *want)
{
  size_t n = 999;
  const char *const *got = poplar_config_get_list(s, key, &n);
  g_assert_nonnull(got);
  g_assert_cmpuint(n, ==, g_strv_length((char **)want));
  for (size_t i = 0; i < n; i++)
    g_assert_cmpstr(got[i], ==, want[i]);
  g_assert_null(got[n]);
  /* the same list again, without n_items */
  g_assert_true(poplar_config_get_list(s, key, NULL) == got);
}

static void test_get_list(void)
{
  g_autoptr(PoplarConfigFile) f = parse("[s]\n"
                                        "simple = a;b;c\n"
                                        "trailing = a; b ;c;\n"
                                        "blanks = ; a;;  ;b ; \n"
                                        "one = only\n"
                                        "semis = ;;;\n"
                                        "empty =\n"
                                        "escaped = a\\sb ; \\tc\n"
                                        "inner = x y; z\n");
  g_assert_cmpuint(f->errors->len, ==, 0);
  PoplarConfig *s = poplarpriv_config_section(f, "s");
  assert_list(s, "simple", (const char *const[]){"a", "b", "c", NULL});
  assert_list(s, "trailing", (const char *const[]){"a", "b", "c", NULL});
  assert_list(s, "blanks", (const char *const[]){"a", "b", NULL});
  assert_list(s, "one", (const char *const[]){"only", NULL});
  assert_list(s, "semis", (const char *const[]){NULL});
  assert_list(s, "empty", (const char *const[]){NULL});
  /* escapes are resolved first; blanks (tab included) trimmed after */
  assert_list(s, "escaped", (const char *const[]){"a b", "c", NULL});
  assert_list(s, "inner", (const char *const[]){"x y", "z", NULL});
  assert_list(s, "absent", (const char *const[]){NULL});
  g_assert_false(poplar_config_has_key(s, "absent"));
}

/* ---- unknown keys and errors from plugins ------------------------------ */

static void test_report_unused(void)
{
  g_autoptr(PoplarConfigFile) f = parse("[p]\n"
                                        "read = 1\n"
                                        "tested = 1\n"
                                        "typo-key = 1\n"
                                        "listed = a\n"
                                        "\n"
                                        "another = 2\n"
                                        "[q]\n"
                                        "untouched = 1\n");
  PoplarConfig *p = poplarpriv_config_section(f, "p");
  g_assert_nonnull(poplar_config_get_string(p, "read", NULL));
  g_assert_true(poplar_config_has_key(p, "tested"));
  poplar_config_get_list(p, "listed", NULL);
  /* asking for a key the section lacks marks nothing */
  g_assert_null(poplar_config_get_string(p, "absent", NULL));
  poplarpriv_config_report_unused(p);
  dump_errors(f);
  g_assert_cmpuint(f->errors->len, ==, 2);
  assert_error(f, CONF ":4: [p] typo-key: ", "unknown key");
  assert_error(f, CONF ":7: [p] another: ", "unknown key");
  g_assert_null(find_error(f, "read", NULL));
  g_assert_null(find_error(f, "untouched", NULL)); /* other section */
}

static void test_config_error(void)
{
  g_autoptr(PoplarConfigFile) f = parse("# head\n"
                                        "[p]\n"
                                        "path = /nonexistent\n");
  PoplarConfig *p = poplarpriv_config_section(f, "p");
  poplar_config_error(p, "path", "'%s' does not exist", "/nonexistent");
  poplar_config_error(p, NULL, "needs %d keys", 2);
  poplar_config_error(p, "unset-key", "is required");
  g_assert_cmpuint(f->errors->len, ==, 3);
  g_assert_cmpstr(f->errors->pdata[0], ==,
                  CONF ":3: [p] path: '/nonexistent' does not exist");
  g_assert_cmpstr(f->errors->pdata[1], ==, CONF ":2: [p]: needs 2 keys");
  g_assert_cmpstr(f->errors->pdata[2], ==,
                  CONF ":2: [p] unset-key: is required");

  /* a section the file lacks (created for a plugin): no line to give */
  PoplarConfig *x = poplarpriv_config_section_ensure(f, "x");
  g_assert_true(x->synthetic);
  g_assert_true(poplarpriv_config_section_ensure(f, "x") == x);
  g_assert_true(poplarpriv_config_section_ensure(f, "p") == p);
  poplar_config_error(x, "k", "missing");
  g_assert_cmpstr(f->errors->pdata[3], ==, CONF ": [x] k: missing");
  /* '%' in an argument is not a format */
  poplar_config_error(x, NULL, "%s", "100%s");
  g_assert_cmpstr(f->errors->pdata[4], ==, CONF ": [x]: 100%s");
}

static void test_config_warning(void)
{
  g_autoptr(PoplarConfigFile) f = parse("[p]\n"
                                        "\n"
                                        "cipher = rc4\n");
  PoplarConfig *p = poplarpriv_config_section(f, "p");
  poplar_config_warning(p, "cipher", "'%s' is weak", "rc4");
  poplar_config_warning(p, NULL, "deprecated section");
  /* warnings are not errors */
  g_assert_cmpuint(f->errors->len, ==, 0);
  g_assert_cmpuint(f->warnings->len, ==, 2);
  g_assert_cmpstr(f->warnings->pdata[0], ==,
                  CONF ":3: [p] cipher: 'rc4' is weak");
  g_assert_cmpstr(f->warnings->pdata[1], ==,
                  CONF ":1: [p]: deprecated section");
}

static void test_load_file(void)
{
  g_autofree char *dir = g_dir_make_tmp("poplar-config-XXXXXX", NULL);
  g_assert_nonnull(dir);
  g_autofree char *path = g_build_filename(dir, "poplar.conf", NULL);
  g_assert_true(g_file_set_contents(path, "[s]\nk = v\nbroken\n", -1, NULL));
  PoplarConfigFile *f = poplarpriv_config_load(path);
  g_assert_cmpstr(poplar_config_get_string(
                      poplarpriv_config_section(f, "s"), "k", NULL),
                  ==, "v");
  g_assert_cmpuint(f->errors->len, ==, 1);
  g_autofree char *where = g_strdup_printf("%s:3:", path);
  assert_error(f, where, "expected");
  poplarpriv_config_free(f);

  g_autofree char *missing = g_build_filename(dir, "missing.conf", NULL);
  f = poplarpriv_config_load(missing);
  g_assert_cmpuint(f->errors->len, ==, 1);
  assert_error(f, missing, "cannot read");
  g_assert_cmpuint(f->sections->len, ==, 0);
  poplarpriv_config_free(f);

  /* a directory */
  f = poplarpriv_config_load(dir);
  g_assert_cmpuint(f->errors->len, ==, 1);
  assert_error(f, dir, "cannot read");
  poplarpriv_config_free(f);

  g_assert_cmpint(g_unlink(path), ==, 0);
  g_assert_cmpint(g_rmdir(dir), ==, 0);
}

/* Random garbage: never a crash, every error names the file. */
static void test_random_garbage(void)
{
  static const char alphabet[] = "[]=#\\ \n\r\tabk;s\xff\xc3\x80";
  for (unsigned iter = 0; iter < 5000; iter++) {
    size_t len = (size_t)g_test_rand_int_range(0, 200);
    g_autofree char *text = g_malloc(len + 1);
    for (size_t i = 0; i < len; i++)
      text[i] = alphabet[g_test_rand_int_range(0, sizeof alphabet - 1)];
    g_autoptr(PoplarConfigFile) f = parse_len(text, len);
    for (guint i = 0; i < f->errors->len; i++)
      g_assert_true(g_str_has_prefix(f->errors->pdata[i], CONF ":"));
    for (guint i = 0; i < f->sections->len; i++) {
      PoplarConfig *s = f->sections->pdata[i];
      g_assert_true(g_utf8_validate(s->name, -1, NULL));
      for (guint k = 0; k < s->entries->len; k++) {
        PoplarConfigEntry *e = s->entries->pdata[k];
        g_assert_cmpuint(e->line, >, 0);
        uint64_t u;
        poplar_config_get_duration(s, e->key, 0, &u);
        poplar_config_get_size(s, e->key, 0, &u);
        poplar_config_get_list(s, e->key, NULL);
      }
    }
  }
}

/* ---- [server] and [plugins] (core/server-config.c) -------------------- */

typedef struct ServerCase {
  const char *text;
  const char *line;    /* "test.conf:N:" */
  const char *key;
  const char *what;
} ServerCase;

static const ServerCase server_cases[] = {
    {"[server]\nidle-timeout = 10x\n", CONF ":2:", "idle-timeout",
     "not a duration"},
    {"[server]\n\nidle-timeout = 0\n", CONF ":3:", "idle-timeout",
     "more than 0"},
    {"[server]\nauth-failure-delay = soon\n", CONF ":2:",
     "auth-failure-delay", "not a duration"},
    {"[server]\ntrusted-networks = 10.0.0.0/8; 300.1.1.1\n", CONF ":2:",
     "trusted-networks", "'300.1.1.1'"},
    {"[server]\ntrusted-networks = 10.0.0.0/33\n", CONF ":2:",
     "trusted-networks", "prefix"},
    {"[server]\ntrusted-networks = ::1/129\n", CONF ":2:", "trusted-networks",
     "prefix"},
    {"[server]\nmail = /var/mail/%u\n", CONF ":2:", "mail", "no scheme"},
    {"[server]\nmail = maildir:%h/%x\n", CONF ":2:", "mail", "%-sequence"},
    {"[server]\nmail = maildir:%h/%\n", CONF ":2:", "mail", "%-sequence"},
    {"[server]\nlisten-on = 127.0.0.1:110\n", CONF ":2:", "listen-on",
     "unknown key"},
    {"[server]\nlisten =\n", CONF ":2:", "listen", "no address"},
    {"[server]\nlisten = localhost\n", CONF ":2:", "listen", "host:port"},
    {"[server]\n\nlisten = 127.0.0.1:110; 127.0.0.1:pop3\n", CONF ":3:",
     "listen", "127.0.0.1:pop3"},
    {"[server]\nlisten = example.org:110\n", CONF ":2:", "listen",
     "numeric"},
    {"[server]\nlisten = ;\n", CONF ":2:", "listen", "no address"},
    {"[server]\nlog-level = loud\n", CONF ":2:", "log-level", "'loud'"},
    {"[server]\nexpire = soon\n", CONF ":2:", "expire", "not an integer"},
    {"[server]\nexpire = 99999\n", CONF ":2:", "expire", "out of range"},
    {"[server]\nmax-connections = 0\n", CONF ":2:", "max-connections",
     "out of range"},
    {"[server]\nmax-connections-per-ip = -1\n", CONF ":2:",
     "max-connections-per-ip", "out of range"},
    {"[server]\nthreads = many\n", CONF ":2:", "threads", "not an integer"},
    {"[server]\nplugin-threads = 0\n", CONF ":2:", "plugin-threads",
     "out of range"},
    {"[server]\nlogin-delay = -5\n", CONF ":2:", "login-delay",
     "out of range"},
    {"[plugins]\nlaod = auth-passwd-file\n", CONF ":2:", "laod",
     "unknown key"},
};

static void test_server_errors(void)
{
  for (size_t i = 0; i < G_N_ELEMENTS(server_cases); i++) {
    const ServerCase *c = &server_cases[i];
    g_autofree char *esc = g_strescape(c->text, NULL);
    g_test_message("case '%s'", esc);
    g_autoptr(PoplarConfigFile) f = parse(c->text);
    g_assert_cmpuint(f->errors->len, ==, 0);
    PoplarServerConfig cfg = {0};
    g_assert_false(poplard_server_config_read(&cfg, f, NULL));
    dump_errors(f);
    g_assert_cmpuint(f->errors->len, >=, 1);
    g_autofree char *key = g_strdup_printf(" %s: ", c->key);
    const char *e = find_error(f, c->line, key, c->what, NULL);
    if (!e)
      g_error("no error with '%s', '%s' and '%s'", c->line, key, c->what);
    g_assert_true(g_str_has_prefix(e, c->line));
    poplard_server_config_clear(&cfg);
  }
}

static void test_server_defaults(void)
{
  g_autoptr(PoplarConfigFile) f = parse("");
  PoplarServerConfig cfg = {0};
  g_assert_true(poplard_server_config_read(&cfg, f, NULL));
  dump_errors(f);
  g_assert_cmpuint(f->errors->len, ==, 0);
  g_assert_nonnull(cfg.listen);
  g_assert_nonnull(cfg.listen[0]);
  g_assert_null(cfg.mail); /* optional: passdbs may give every location */
  g_assert_cmpuint(cfg.idle_timeout_ms, ==, 10 * 60 * 1000);
  g_assert_cmpuint(cfg.max_connections, ==, 1024);
  g_assert_cmpuint(cfg.max_connections_per_ip, ==, 32);
  g_assert_cmpuint(cfg.threads, >=, 1);
  g_assert_cmpint(cfg.login_delay, ==, -1);
  g_assert_cmpint(cfg.expire, ==, POPLAR_EXPIRE_UNSET);
  g_assert_cmpint(cfg.log_level, ==, POPLAR_LOG_INFO);
  g_assert_nonnull(cfg.load);
  g_assert_null(cfg.load[0]);
  g_assert_nonnull(cfg.trusted);
  g_assert_nonnull(cfg.plugin_dir);
  poplard_server_config_clear(&cfg);
}

static void test_server_values(void)
{
  g_autoptr(PoplarConfigFile) f =
      parse("[server]\n"
            "listen = 127.0.0.1:1110; [::1]:1110;\n"
            "plugin-dir = /from/file\n"
            "mail = mbox:/var/mail/%u\n"
            "idle-timeout = 90s\n"
            "auth-failure-delay = 0\n"
            "max-connections = 10\n"
            "max-connections-per-ip = 2\n"
            "threads = 3\n"
            "plugin-threads = 4\n"
            "login-delay = 60\n"
            "expire = never\n"
            "log-level = DEBUG\n"
            "trusted-networks = 192.0.2.0/24\n"
            "[plugins]\n"
            "load = auth-passwd-file; store-maildir;\n");
  PoplarServerConfig cfg = {0};
  g_assert_true(poplard_server_config_read(&cfg, f, "/from/command/line"));
  dump_errors(f);
  g_assert_cmpuint(f->errors->len, ==, 0);
  g_assert_cmpuint(g_strv_length(cfg.listen), ==, 2);
  g_assert_cmpstr(cfg.listen[0], ==, "127.0.0.1:1110");
  g_assert_cmpstr(cfg.listen[1], ==, "[::1]:1110");
  g_assert_cmpstr(cfg.plugin_dir, ==, "/from/command/line");
  g_assert_cmpstr(cfg.mail, ==, "mbox:/var/mail/%u");
  g_assert_cmpuint(cfg.idle_timeout_ms, ==, 90000);
  g_assert_cmpuint(cfg.auth_failure_delay_ms, ==, 0);
  g_assert_cmpuint(cfg.max_connections, ==, 10);
  g_assert_cmpuint(cfg.max_connections_per_ip, ==, 2);
  g_assert_cmpuint(cfg.threads, ==, 3);
  g_assert_cmpuint(cfg.plugin_threads, ==, 4);
  g_assert_cmpint(cfg.login_delay, ==, 60);
  g_assert_cmpint(cfg.expire, ==, POPLAR_EXPIRE_NEVER);
  g_assert_cmpint(cfg.log_level, ==, POPLAR_LOG_DEBUG);
  g_assert_cmpuint(g_strv_length(cfg.load), ==, 2);
  g_assert_cmpstr(cfg.load[0], ==, "auth-passwd-file");
  g_assert_cmpstr(cfg.load[1], ==, "store-maildir");
  /* the listed network replaces the default loopback */
  struct sockaddr_in in = {.sin_family = AF_INET};
  in.sin_addr.s_addr = htonl(0xC0000205); /* 192.0.2.5 */
  g_assert_true(poplard_netlist_contains(cfg.trusted, (struct sockaddr *)&in));
  in.sin_addr.s_addr = htonl(0x7f000001);
  g_assert_false(poplard_netlist_contains(cfg.trusted,
                                         (struct sockaddr *)&in));
  poplard_server_config_clear(&cfg);

  /* expire in days */
  g_autoptr(PoplarConfigFile) g = parse("[server]\nexpire = 30\n");
  g_assert_true(poplard_server_config_read(&cfg, g, NULL));
  g_assert_cmpint(cfg.expire, ==, 30);
  poplard_server_config_clear(&cfg);
}

/* Errors that are already in the file (syntax) make the read fail too,
 * and a plugin section is left alone for its plugin. */
static void test_server_other_sections(void)
{
  g_autoptr(PoplarConfigFile) f = parse("[store-maildir]\nanything = 1\n");
  PoplarServerConfig cfg = {0};
  g_assert_true(poplard_server_config_read(&cfg, f, NULL));
  g_assert_cmpuint(f->errors->len, ==, 0);
  poplard_server_config_clear(&cfg);

  /* several problems: all reported in one run */
  g_autoptr(PoplarConfigFile) g = parse("[server]\n"
                                        "idle-timeout = never\n"
                                        "mail = nowhere\n"
                                        "colour = blue\n");
  g_assert_false(poplard_server_config_read(&cfg, g, NULL));
  dump_errors(g);
  g_assert_cmpuint(g->errors->len, ==, 3);
  g_assert_nonnull(find_error(g, CONF ":2:", "idle-timeout", NULL));
  g_assert_nonnull(find_error(g, CONF ":3:", "mail", NULL));
  g_assert_nonnull(find_error(g, CONF ":4:", "colour", "unknown key", NULL));
  poplard_server_config_clear(&cfg);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/config/syntax-errors", test_syntax_errors);
  g_test_add_func("/config/nul-byte", test_nul_byte);
  g_test_add_func("/config/all-errors-reported", test_all_errors_reported);
  g_test_add_func("/config/values", test_values);
  g_test_add_func("/config/int", test_get_int);
  g_test_add_func("/config/bool", test_get_bool);
  g_test_add_func("/config/duration", test_get_duration);
  g_test_add_func("/config/size", test_get_size);
  g_test_add_func("/config/list", test_get_list);
  g_test_add_func("/config/report-unused", test_report_unused);
  g_test_add_func("/config/error", test_config_error);
  g_test_add_func("/config/warning", test_config_warning);
  g_test_add_func("/config/load-file", test_load_file);
  g_test_add_func("/config/random-garbage", test_random_garbage);
  g_test_add_func("/server-config/errors", test_server_errors);
  g_test_add_func("/server-config/defaults", test_server_defaults);
  g_test_add_func("/server-config/values", test_server_values);
  g_test_add_func("/server-config/other-sections",
                  test_server_other_sections);
  return g_test_run();
}
