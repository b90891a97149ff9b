/* SPDX-License-Identifier: MIT */
#include "location.h"

#include <glib.h>
#include <string.h>

/* A user name becomes a path component: it must not climb out of the
 * directory it is put in. */
static bool safe_component(const char *s)
{
  return s && s[0] && s[0] != '.' && !strchr(s, '/');
}

static char *expand(const char *tmpl, const char *user, const char *home,
                    bool check_only, const char **why)
{
  GString *out = g_string_new(NULL);
  const char *at = user ? strchr(user, '@') : NULL;
  for (const char *p = tmpl; *p; p++) {
    if (*p != '%') {
      g_string_append_c(out, *p);
      continue;
    }
    p++;
    switch (*p) {
    case '%':
      g_string_append_c(out, '%');
      break;
    case 'u':
      if (!check_only) {
        if (!safe_component(user))
          goto unsafe;
        g_string_append(out, user);
      }
      break;
    case 'n':
      if (!check_only) {
        g_autofree char *local = at ? g_strndup(user, (gsize)(at - user))
                                    : g_strdup(user);
        if (!safe_component(local))
          goto unsafe;
        g_string_append(out, local);
      }
      break;
    case 'd':
      if (!check_only) {
        const char *domain = at ? at + 1 : "";
        if (at && !safe_component(domain))
          goto unsafe;
        g_string_append(out, domain);
      }
      break;
    case 'h':
      if (!check_only) {
        if (!home || !home[0]) {
          *why = "the location uses %h but the user has no home directory";
          g_string_free(out, TRUE);
          return NULL;
        }
        g_string_append(out, home);
      }
      break;
    default:
      *why = "unknown %-sequence (known: %u %n %d %h %%)";
      g_string_free(out, TRUE);
      return NULL;
    }
  }
  return g_string_free(out, FALSE);

unsafe:
  *why = "the user name cannot be used in a path ('/' or leading '.')";
  g_string_free(out, TRUE);
  return NULL;
}

char *poplard_location_expand(const char *tmpl, const char *user,
                             const char *home, const char **why)
{
  return expand(tmpl, user, home, false, why);
}

bool poplard_location_check(const char *tmpl, const char **why)
{
  char *r = expand(tmpl, NULL, NULL, true, why);
  g_free(r);
  return r != NULL;
}
