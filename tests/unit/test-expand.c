/* SPDX-License-Identifier: MIT */
/* %-variables in templates: poplar_expand() and poplar_expand_check()
 * (libpoplar/expand.c), through the public header only. */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include <poplar/expand.h>

#define ALL_VARIABLES                                                       \
  (POPLAR_EXPAND_USER | POPLAR_EXPAND_LOCAL_PART | POPLAR_EXPAND_DOMAIN |   \
   POPLAR_EXPAND_HOME)
#define NAME_VARIABLES                                                      \
  (POPLAR_EXPAND_USER | POPLAR_EXPAND_LOCAL_PART | POPLAR_EXPAND_DOMAIN)

typedef struct ExpandCase {
  const char *tmpl;
  const char *user;
  const char *home;
  unsigned flags;
  const char *want; /* NULL: refused */
  const char *why;  /* what the refusal must contain */
} ExpandCase;

static const ExpandCase expand_cases[] = {
    {"%u|%n|%d|%h", "bob@example.org", "/home/bob", ALL_VARIABLES,
     "bob@example.org|bob|example.org|/home/bob", NULL},
    {"%u|%n|%d|", "bob", NULL, NAME_VARIABLES, "bob|bob||", NULL},
    {"%d", "bob@a@b", NULL, NAME_VARIABLES, "a@b", NULL},
    {"%n", "bob@a@b", NULL, NAME_VARIABLES, "bob", NULL},
    {"100%%/%u", "bob", NULL, NAME_VARIABLES, "100%/bob", NULL},
    {"%%u", "bob", NULL, NAME_VARIABLES, "%u", NULL},
    {"%%%u", "bob", NULL, NAME_VARIABLES, "%bob", NULL},
    {"", "bob", NULL, 0, "", NULL},
    {"plain", NULL, NULL, 0, "plain", NULL},
    /* without a user variable, no user is needed */
    {"%h/Maildir", NULL, "/home/x", POPLAR_EXPAND_HOME, "/home/x/Maildir",
     NULL},
    /* without PATH_SAFE a value goes in as it is */
    {"/m/%u", "../etc", NULL, NAME_VARIABLES, "/m/../etc", NULL},
    {"(uid=%u)", "", NULL, NAME_VARIABLES, "(uid=)", NULL},
    /* unknown, disallowed and cut-off sequences name themselves */
    {"x%q", "bob", NULL, ALL_VARIABLES, NULL, "unknown %-sequence %q"},
    {"x%U", "bob", NULL, ALL_VARIABLES, NULL, "%U"},
    {"x%\x01", "bob", NULL, ALL_VARIABLES, NULL, "%\\x01"},
    {"x%\xc3\xa9", "bob", NULL, ALL_VARIABLES, NULL, "%\\xc3"},
    {"x%h", "bob", "/h", NAME_VARIABLES, NULL, "unknown %-sequence %h"},
    {"x%h", "bob", "/h", NAME_VARIABLES, NULL, "known here: %u %n %d %%)"},
    {"x%u", "bob", NULL, POPLAR_EXPAND_HOME, NULL, "known here: %h %%)"},
    {"x%", "bob", NULL, ALL_VARIABLES, NULL, "at the end"},
    {"%%%", "bob", NULL, ALL_VARIABLES, NULL, "at the end"},
    /* values that are missing */
    {"%h/Maildir", "bob", NULL, ALL_VARIABLES, NULL, "no home"},
    {"%h/Maildir", "bob", "", ALL_VARIABLES, NULL, "no home"},
    {"uid=%n", NULL, NULL, NAME_VARIABLES, NULL, "%n but there is no user"},
    /* PATH_SAFE: a user name part stays one directory entry */
    {"/m/%d/%n", "bob@example.org", NULL,
     NAME_VARIABLES | POPLAR_EXPAND_PATH_SAFE, "/m/example.org/bob", NULL},
    {"/m/%d%n", "bob", NULL, NAME_VARIABLES | POPLAR_EXPAND_PATH_SAFE,
     "/m/bob", NULL},
    {"/m/%u", "bob..", NULL, NAME_VARIABLES | POPLAR_EXPAND_PATH_SAFE,
     "/m/bob..", NULL},
    {"%h/%u", "bob", "/srv/../bob", ALL_VARIABLES | POPLAR_EXPAND_PATH_SAFE,
     "/srv/../bob/bob", NULL},
    {"/m/%u", "../etc", NULL, NAME_VARIABLES | POPLAR_EXPAND_PATH_SAFE, NULL,
     "%u would be empty"},
    {"/m/%u", "a/b", NULL, NAME_VARIABLES | POPLAR_EXPAND_PATH_SAFE, NULL,
     "path"},
    {"/m/%u", "", NULL, NAME_VARIABLES | POPLAR_EXPAND_PATH_SAFE, NULL,
     "path"},
    {"/m/%n", "@example.org", NULL, NAME_VARIABLES | POPLAR_EXPAND_PATH_SAFE,
     NULL, "%n"},
    {"/m/%d", "bob@", NULL, NAME_VARIABLES | POPLAR_EXPAND_PATH_SAFE, NULL,
     "%d"},
    {"/m/%d", "bob@.x", NULL, NAME_VARIABLES | POPLAR_EXPAND_PATH_SAFE, NULL,
     "%d"},
    {"/m/%d", "bob@a/b", NULL, NAME_VARIABLES | POPLAR_EXPAND_PATH_SAFE,
     NULL, "%d"},
    {"/m/%u", "bob@a/b", NULL, NAME_VARIABLES | POPLAR_EXPAND_PATH_SAFE,
     NULL, "%u"},
};

static void test_expand(void)
{
  for (size_t i = 0; i < G_N_ELEMENTS(expand_cases); i++) {
    const ExpandCase *c = &expand_cases[i];
    g_test_message("'%s' user '%s' home '%s'", c->tmpl,
                   c->user ? c->user : "(none)", c->home ? c->home : "(none)");
    char why[POPLAR_EXPAND_ERROR_SIZE];
    memset(why, 'x', sizeof why);
    char *got = poplar_expand(c->tmpl, c->user, c->home, c->flags, NULL, NULL,
                              why, sizeof why);
    if (c->want) {
      g_assert_cmpstr(got, ==, c->want);
      g_assert_cmpstr(why, ==, "");
    } else {
      g_assert_null(got);
      g_test_message("  refused: %s", why);
      g_assert_nonnull(strstr(why, c->why));
    }
    free(got);

    /* The check agrees on the sequences (values are not its business). */
    unsigned used = 0;
    bool syntax_ok = poplar_expand_check(c->tmpl, c->flags, &used, NULL, 0);
    if (c->want)
      g_assert_true(syntax_ok);
    else if (!syntax_ok)
      g_assert_cmpuint(used, ==, 0);
  }
}

static void test_check(void)
{
  static const struct {
    const char *tmpl;
    unsigned flags;
    bool ok;
    unsigned used;
  } cases[] = {
      {"maildir:%h/Maildir", ALL_VARIABLES, true, POPLAR_EXPAND_HOME},
      {"mbox:/var/mail/%u", ALL_VARIABLES, true, POPLAR_EXPAND_USER},
      {"/m/%d/%n/%d", ALL_VARIABLES, true,
       POPLAR_EXPAND_DOMAIN | POPLAR_EXPAND_LOCAL_PART},
      {"100%%u", ALL_VARIABLES, true, 0},
      {"", 0, true, 0},
      {"%u", POPLAR_EXPAND_PATH_SAFE, false, 0},
      {"%h", NAME_VARIABLES | POPLAR_EXPAND_PATH_SAFE, false, 0},
      {"%x", ALL_VARIABLES, false, 0},
      {"maildir:%", ALL_VARIABLES, false, 0},
      {"%u%", ALL_VARIABLES, false, 0},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_test_message("check '%s'", cases[i].tmpl);
    char why[POPLAR_EXPAND_ERROR_SIZE];
    unsigned used = 99;
    g_assert_cmpint(poplar_expand_check(cases[i].tmpl, cases[i].flags, &used,
                                        why, sizeof why),
                    ==, cases[i].ok);
    g_assert_cmpuint(used, ==, cases[i].used);
    if (cases[i].ok)
      g_assert_cmpstr(why, ==, "");
    else
      g_assert_nonnull(strstr(why, "unknown %-sequence"));
  }
  char why[POPLAR_EXPAND_ERROR_SIZE];
  g_assert_false(poplar_expand_check(NULL, ALL_VARIABLES, NULL, why,
                                     sizeof why));
  g_assert_cmpstr(why, !=, "");
}

/* What an escape function saw, and how it answers. */
typedef struct EscapeLog {
  GString *calls; /* "u=value;" per call */
  const char *refuse; /* a value to refuse */
  bool explain;       /* write a reason when refusing */
} EscapeLog;

static char *escape_brackets(PoplarExpandFlags var, const char *value,
                             void *data, char *error, size_t error_size)
{
  EscapeLog *log = data;
  char letter = var == POPLAR_EXPAND_USER         ? 'u'
                : var == POPLAR_EXPAND_LOCAL_PART ? 'n'
                : var == POPLAR_EXPAND_DOMAIN     ? 'd'
                : var == POPLAR_EXPAND_HOME       ? 'h'
                                                  : '?';
  g_string_append_printf(log->calls, "%c=%s;", letter, value);
  if (log->refuse && strcmp(value, log->refuse) == 0) {
    if (log->explain)
      g_snprintf(error, error_size, "'%s' is not welcome", value);
    return NULL;
  }
  size_t len = strlen(value);
  char *out = malloc(len + 3);
  g_assert_nonnull(out);
  out[0] = '[';
  memcpy(out + 1, value, len);
  out[len + 1] = ']';
  out[len + 2] = '\0';
  return out;
}

static void test_escape(void)
{
  EscapeLog log = {.calls = g_string_new(NULL)};
  char why[POPLAR_EXPAND_ERROR_SIZE];
  char *got = poplar_expand("(&(uid=%u)(cn=%n)(o=%d)(h=%h)(p=100%%))",
                            "bob@example.org", "/home/bob", ALL_VARIABLES,
                            escape_brackets, &log, why, sizeof why);
  g_assert_cmpstr(got, ==,
                  "(&(uid=[bob@example.org])(cn=[bob])(o=[example.org])"
                  "(h=[/home/bob])(p=100%))");
  free(got);
  g_assert_cmpstr(log.calls->str, ==,
                  "u=bob@example.org;n=bob;d=example.org;h=/home/bob;");

  /* A refusal with a reason: the reason is the error. */
  g_string_truncate(log.calls, 0);
  log.refuse = "example.org";
  log.explain = true;
  g_assert_null(poplar_expand("%n/%d/%u", "bob@example.org", NULL,
                              NAME_VARIABLES, escape_brackets, &log, why,
                              sizeof why));
  g_assert_cmpstr(why, ==, "'example.org' is not welcome");
  g_assert_cmpstr(log.calls->str, ==, "n=bob;d=example.org;");

  /* Without one, a reason that names the variable. */
  log.explain = false;
  g_assert_null(poplar_expand("%n/%d", "bob@example.org", NULL,
                              NAME_VARIABLES, escape_brackets, &log, why,
                              sizeof why));
  g_assert_nonnull(strstr(why, "%d"));

  /* PATH_SAFE looks at the value before the escape does. */
  g_string_truncate(log.calls, 0);
  g_assert_null(poplar_expand("/m/%u", "../x", NULL,
                              NAME_VARIABLES | POPLAR_EXPAND_PATH_SAFE,
                              escape_brackets, &log, why, sizeof why));
  g_assert_cmpstr(log.calls->str, ==, "");
  g_string_free(log.calls, TRUE);
}

/* The caller's buffer is never overrun, and may be missing. */
static void test_error_buffer(void)
{
  char small[8];
  memset(small, 'x', sizeof small);
  g_assert_null(poplar_expand("%q", "bob", NULL, ALL_VARIABLES, NULL, NULL,
                              small, sizeof small));
  g_assert_cmpuint(strlen(small), ==, sizeof small - 1);
  g_assert_null(poplar_expand("%q", "bob", NULL, ALL_VARIABLES, NULL, NULL,
                              NULL, 0));
  g_assert_false(poplar_expand_check("%q", ALL_VARIABLES, NULL, NULL, 0));
  char one = 'x';
  g_assert_null(poplar_expand("%q", "bob", NULL, ALL_VARIABLES, NULL, NULL,
                              &one, 1));
  g_assert_cmpint(one, ==, '\0');
}

/* Random templates and users: never a crash; with PATH_SAFE a result
 * never has more '/' than the template and the home put there. */
static void test_random(void)
{
  static const char tmpl_alpha[] = "%undhq/a";
  static const char user_alpha[] = "ab@./";
  for (unsigned iter = 0; iter < 20000; iter++) {
    char tmpl[12], user[8];
    size_t tl = (size_t)g_test_rand_int_range(0, sizeof tmpl);
    size_t ul = (size_t)g_test_rand_int_range(0, sizeof user);
    for (size_t i = 0; i < tl; i++)
      tmpl[i] = tmpl_alpha[g_test_rand_int_range(0, sizeof tmpl_alpha - 1)];
    tmpl[tl] = '\0';
    for (size_t i = 0; i < ul; i++)
      user[i] = user_alpha[g_test_rand_int_range(0, sizeof user_alpha - 1)];
    user[ul] = '\0';
    char why[POPLAR_EXPAND_ERROR_SIZE];
    char *got = poplar_expand(tmpl, user, "/h",
                              ALL_VARIABLES | POPLAR_EXPAND_PATH_SAFE, NULL,
                              NULL, why, sizeof why);
    bool syntax_ok = poplar_expand_check(
        tmpl, ALL_VARIABLES | POPLAR_EXPAND_PATH_SAFE, NULL, NULL, 0);
    if (!got) {
      g_assert_cmpstr(why, !=, "");
      continue;
    }
    g_assert_true(syntax_ok);
    size_t slashes_tmpl = 0, slashes_got = 0;
    for (const char *p = tmpl; *p; p++) {
      if (*p == '/')
        slashes_tmpl++;
      else if (*p == '%' && *++p == 'h')
        slashes_tmpl++; /* the home "/h" */
    }
    for (const char *p = got; *p; p++)
      if (*p == '/')
        slashes_got++;
    g_assert_cmpuint(slashes_got, ==, slashes_tmpl);
    free(got);
  }
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/expand/expand", test_expand);
  g_test_add_func("/expand/check", test_check);
  g_test_add_func("/expand/escape", test_escape);
  g_test_add_func("/expand/error-buffer", test_error_buffer);
  g_test_add_func("/expand/random", test_random);
  return g_test_run();
}
