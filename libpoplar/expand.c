/* SPDX-License-Identifier: MIT */
/* %-variables in templates (poplar/expand.h). */
#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poplar/expand.h"

static const struct {
  char letter;
  PoplarExpandFlags bit;
} variables[] = {
    {'u', POPLAR_EXPAND_USER},
    {'n', POPLAR_EXPAND_LOCAL_PART},
    {'d', POPLAR_EXPAND_DOMAIN},
    {'h', POPLAR_EXPAND_HOME},
};

#define USER_VARIABLES                                                      \
  (POPLAR_EXPAND_USER | POPLAR_EXPAND_LOCAL_PART | POPLAR_EXPAND_DOMAIN)

static void set_error(char *error, size_t size, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static void set_error(char *error, size_t size, const char *fmt, ...)
{
  if (!error || size == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(error, size, fmt, ap);
  va_end(ap);
}

static bool error_is_empty(const char *error, size_t size)
{
  return !error || size == 0 || error[0] == '\0';
}

static char letter_of(unsigned bit)
{
  for (size_t i = 0; i < G_N_ELEMENTS(variables); i++)
    if (variables[i].bit == bit)
      return variables[i].letter;
  return '?';
}

/* "%u %n %d %%": what a template with these @flags may use, for messages. */
static void known_list(unsigned flags, char *buf, size_t size)
{
  size_t at = 0;
  for (size_t i = 0; i < G_N_ELEMENTS(variables); i++)
    if (flags & variables[i].bit)
      at += (size_t)snprintf(buf + at, size - at, "%%%c ",
                             variables[i].letter);
  snprintf(buf + at, size - at, "%%%%");
}

/* The variable @seq (what follows a '%', not another '%') names, when
 * @flags allow it; else 0 with the reason in @error.  A variable the
 * caller does not allow is as unknown to this template as a misspelt one. */
static unsigned variable_at(const char *seq, unsigned flags, char *error,
                            size_t size)
{
  char known[32];
  known_list(flags, known, sizeof known);
  if (*seq == '\0') {
    set_error(error, size,
              "unknown %%-sequence: a '%%' at the end (write %%%% for a "
              "percent sign; known here: %s)", known);
    return 0;
  }
  for (size_t i = 0; i < G_N_ELEMENTS(variables); i++)
    if (variables[i].letter == *seq && (flags & variables[i].bit))
      return variables[i].bit;
  unsigned char c = (unsigned char)*seq;
  if (c > 0x20 && c < 0x7f)
    set_error(error, size, "unknown %%-sequence %%%c (known here: %s)", c,
              known);
  else
    set_error(error, size, "unknown %%-sequence %%\\x%02x (known here: %s)",
              c, known);
  return 0;
}

bool poplar_expand_check(const char *tmpl, unsigned flags, unsigned *used,
                         char *error, size_t error_size)
{
  set_error(error, error_size, "%s", "");
  if (used)
    *used = 0;
  if (!tmpl) {
    set_error(error, error_size, "no template");
    return false;
  }
  unsigned seen = 0;
  for (const char *p = tmpl; *p; p++) {
    if (*p != '%')
      continue;
    if (*++p == '%')
      continue;
    unsigned var = variable_at(p, flags, error, error_size);
    if (!var)
      return false;
    seen |= var;
  }
  if (used)
    *used = seen;
  return true;
}

/* The value of @var for @user and @home (g_free), or NULL with the reason
 * in @error. */
static char *value_of(unsigned var, const char *user, const char *home,
                      char *error, size_t size)
{
  if (var == POPLAR_EXPAND_HOME) {
    if (!home || !home[0]) {
      set_error(error, size, "the template uses %%h but the user has no "
                             "home directory");
      return NULL;
    }
    return g_strdup(home);
  }
  if (!user) {
    set_error(error, size, "the template uses %%%c but there is no user name",
              letter_of(var));
    return NULL;
  }
  const char *at = strchr(user, '@');
  switch (var) {
  case POPLAR_EXPAND_LOCAL_PART:
    return at ? g_strndup(user, (gsize)(at - user)) : g_strdup(user);
  case POPLAR_EXPAND_DOMAIN:
    return g_strdup(at ? at + 1 : "");
  default:
    return g_strdup(user);
  }
}

/* A client chooses its user name: as a path component it must name one
 * entry of the directory it is put in.  Only a domain may be empty, and
 * only when the name has none ("bob", not "bob@"). */
static bool path_safe(unsigned var, const char *value, const char *user,
                      char *error, size_t size)
{
  if (!(var & USER_VARIABLES))
    return true;
  bool empty_ok = var == POPLAR_EXPAND_DOMAIN && !strchr(user, '@');
  if ((value[0] || empty_ok) && value[0] != '.' && !strchr(value, '/'))
    return true;
  set_error(error, size,
            "the user name cannot be used in a path: %%%c would be empty, "
            "start with '.' or contain '/'", letter_of(var));
  return false;
}

/* Appends what @var stands for to @out, or returns false with the reason
 * in @error. */
static bool append_variable(GString *out, unsigned var, const char *user,
                            const char *home, unsigned flags,
                            PoplarExpandEscapeFunc escape, void *escape_data,
                            char *error, size_t size)
{
  g_autofree char *value = value_of(var, user, home, error, size);
  if (!value)
    return false;
  if ((flags & POPLAR_EXPAND_PATH_SAFE) &&
      !path_safe(var, value, user, error, size))
    return false;
  if (!escape) {
    g_string_append(out, value);
    return true;
  }
  set_error(error, size, "%s", "");
  char *escaped = escape((PoplarExpandFlags)var, value, escape_data, error,
                         size);
  if (!escaped) {
    if (error_is_empty(error, size))
      set_error(error, size, "the value of %%%c was refused",
                letter_of(var));
    return false;
  }
  g_string_append(out, escaped);
  free(escaped); /* the escape function's, from malloc() */
  return true;
}

char *poplar_expand(const char *tmpl, const char *user, const char *home,
                    unsigned flags, PoplarExpandEscapeFunc escape,
                    void *escape_data, char *error, size_t error_size)
{
  set_error(error, error_size, "%s", "");
  if (!tmpl) {
    set_error(error, error_size, "no template");
    return NULL;
  }
  GString *out = g_string_sized_new(strlen(tmpl) + 64);
  for (const char *p = tmpl; *p; p++) {
    if (*p != '%') {
      g_string_append_c(out, *p);
      continue;
    }
    if (*++p == '%') {
      g_string_append_c(out, '%');
      continue;
    }
    unsigned var = variable_at(p, flags, error, error_size);
    if (!var || !append_variable(out, var, user, home, flags, escape,
                                 escape_data, error, error_size)) {
      g_string_free(out, TRUE);
      return NULL;
    }
  }
  /* Since GLib 2.46 g_malloc() is the system malloc(), so the caller's
   * free() is the right deallocator. */
  return g_string_free(out, FALSE);
}
