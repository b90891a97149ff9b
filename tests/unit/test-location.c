/* SPDX-License-Identifier: MIT */
/* Mail location templates (core/location.c). */
#include <glib.h>
#include <string.h>

#include "location.h"

typedef struct ExpandCase {
  const char *tmpl;
  const char *user;
  const char *home;
  const char *want; /* NULL: refused */
  const char *why;  /* a word the refusal must contain */
} ExpandCase;

static const ExpandCase expand_cases[] = {
    {"maildir:%h/Maildir", "bob", "/home/bob", "maildir:/home/bob/Maildir",
     NULL},
    {"maildir:/var/mail/%u", "bob", NULL, "maildir:/var/mail/bob", NULL},
    {"maildir:/var/mail/%d/%n", "bob@example.org", NULL,
     "maildir:/var/mail/example.org/bob", NULL},
    {"%u|%n|%d", "bob@example.org", NULL, "bob@example.org|bob|example.org",
     NULL},
    {"%u|%n|%d|", "bob", NULL, "bob|bob||", NULL},
    {"mbox:/var/mail/%n", "a.b@c", NULL, "mbox:/var/mail/a.b", NULL},
    {"100%%/%u", "bob", NULL, "100%/bob", NULL},
    {"%%u", "bob", NULL, "%u", NULL},
    {"%%%u", "bob", NULL, "%bob", NULL},
    {"", "bob", NULL, "", NULL},
    {"plain", "bob", NULL, "plain", NULL},
    {"%h", "bob", "/", "/", NULL},
    {"%u%u", "x", NULL, "xx", NULL},
    {"%d", "bob@a@b", NULL, "a@b", NULL}, /* split at the first '@' */
    {"%u", "b\xc3\xb6" "b", NULL, "b\xc3\xb6" "b", NULL},
    {"%u", "bob..", NULL, "bob..", NULL}, /* dots inside are fine */
    /* %h without a home */
    {"maildir:%h/Maildir", "bob", NULL, NULL, "home"},
    {"maildir:%h/Maildir", "bob", "", NULL, "home"},
    /* unknown sequences */
    {"maildir:%x", "bob", "/h", NULL, "unknown"},
    {"maildir:%U", "bob", "/h", NULL, "unknown"},
    {"maildir:%", "bob", "/h", NULL, "unknown"},
    {"%", "bob", "/h", NULL, "unknown"},
    {"%%%", "bob", "/h", NULL, "unknown"},
    /* user names that would leave their directory */
    {"/var/mail/%u", "../etc", NULL, NULL, "path"},
    {"/var/mail/%u", "..", NULL, NULL, "path"},
    {"/var/mail/%u", ".", NULL, NULL, "path"},
    {"/var/mail/%u", ".hidden", NULL, NULL, "path"},
    {"/var/mail/%u", "a/b", NULL, NULL, "path"},
    {"/var/mail/%u", "/etc/passwd", NULL, NULL, "path"},
    {"/var/mail/%u", "bob/", NULL, NULL, "path"},
    {"/var/mail/%u", "", NULL, NULL, "path"},
    {"/var/mail/%n", "../x@example.org", NULL, NULL, "path"},
    {"/var/mail/%n", "@example.org", NULL, NULL, "path"},
    {"/var/mail/%n", "a/b@example.org", NULL, NULL, "path"},
    {"/var/mail/%d/%n", "bob@../etc", NULL, NULL, "path"},
    {"/var/mail/%d/%n", "bob@..", NULL, NULL, "path"},
    {"/var/mail/%d/%n", "bob@a/b", NULL, NULL, "path"},
    {"/var/mail/%d/%n", "bob@", NULL, NULL, "path"},
    {"/var/mail/%d", "bob@.example.org", NULL, NULL, "path"},
    /* %u is checked whole: a '/' after the '@' is refused too */
    {"/var/mail/%u", "bob@a/b", NULL, NULL, "path"},
};

static void test_expand(void)
{
  for (size_t i = 0; i < G_N_ELEMENTS(expand_cases); i++) {
    const ExpandCase *c = &expand_cases[i];
    g_test_message("'%s' user '%s' home '%s'", c->tmpl, c->user,
                   c->home ? c->home : "(none)");
    g_autofree char *why = NULL;
    g_autofree char *got = poplard_location_expand(c->tmpl, c->user, c->home,
                                                   &why);
    if (c->want) {
      g_assert_cmpstr(got, ==, c->want);
    } else {
      g_assert_null(got);
      g_assert_nonnull(why);
      g_test_message("  refused: %s", why);
      g_assert_nonnull(strstr(why, c->why));
    }
  }
}

/* A user name with '/' is refused even when the template places it after
 * %h: only the home comes from the trusted password database. */
static void test_home_is_trusted(void)
{
  g_autofree char *why = NULL;
  g_autofree char *got = poplard_location_expand("%h/Maildir", "bob",
                                                 "/srv/mail/../bob", &why);
  g_assert_cmpstr(got, ==, "/srv/mail/../bob/Maildir");
}

static void test_check(void)
{
  static const struct {
    const char *tmpl;
    bool ok;
  } cases[] = {
      {"maildir:%h/Maildir", true}, {"mbox:/var/mail/%u", true},
      {"maildir:/m/%d/%n", true},   {"100%%", true},
      {"", true},                   {"%x", false},
      {"maildir:%", false},         {"%%%", false},
      {"%H", false},                {"%u%", false},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *why = NULL;
    g_test_message("check '%s'", cases[i].tmpl);
    g_assert_cmpint(poplard_location_check(cases[i].tmpl, &why), ==,
                    cases[i].ok);
    if (!cases[i].ok)
      g_assert_nonnull(strstr(why, "unknown %-sequence"));
  }
}

/* Random templates and users: never a crash; a result never contains a
 * '/' that came from the user name. */
static void test_random(void)
{
  static const char tmpl_alpha[] = "%undh/a";
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
    g_autofree char *why = NULL;
    g_autofree char *got = poplard_location_expand(tmpl, user, "/h", &why);
    if (!got) {
      g_assert_nonnull(why);
      continue;
    }
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
  }
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/location/expand", test_expand);
  g_test_add_func("/location/home-is-trusted", test_home_is_trusted);
  g_test_add_func("/location/check", test_check);
  g_test_add_func("/location/random", test_random);
  return g_test_run();
}
