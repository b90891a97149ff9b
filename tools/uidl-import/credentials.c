/* SPDX-License-Identifier: MIT */
/*
 * The users file, one user a line:
 *
 *   user:password
 *   user:password:/path/to/Maildir      (or maildir:/path/to/Maildir)
 *   user                                (with --master-user)
 *   user::/path/to/Maildir              (with --master-user)
 *
 * The user name ends at the first ':'.  A password may hold ':' too: the
 * last field is a Maildir only when it starts with '/' or "maildir:" or
 * "mbox:", so a password that itself ends in such a text needs an
 * explicit path field after it.  Blank lines and lines starting with '#'
 * are skipped.  The file holds passwords, so a file others may read is
 * reported (but used).
 */
#include "uidl-import.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void user_entry_free(UserEntry *e)
{
  g_free(e->user);
  if (e->password)
    memset(e->password, 0, strlen(e->password));
  g_free(e->password);
  g_free(e->maildir);
  g_free(e);
}

static bool looks_like_location(const char *s)
{
  return s[0] == '/' || g_str_has_prefix(s, "maildir:") ||
         g_str_has_prefix(s, "mbox:");
}

GPtrArray *credentials_parse(const char *text, const char *file_name,
                             bool master, GError **error)
{
  GPtrArray *users =
      g_ptr_array_new_with_free_func((GDestroyNotify)user_entry_free);
  g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    char *line = lines[i];
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] == '\r')
      line[--len] = '\0';
    if (!*line || line[0] == '#')
      continue;
    UserEntry *e = g_new0(UserEntry, 1);
    e->line = i + 1;
    char *colon = strchr(line, ':');
    e->user = g_strndup(line, colon ? (size_t)(colon - line) : len);
    char *rest = colon ? colon + 1 : NULL;
    if (rest) {
      /* The first ':' that a location follows separates the path field;
       * "maildir:/x" has a ':' of its own, which this never splits. */
      char *field = NULL;
      for (char *p = rest; p && (p = strchr(p, ':')); p++) {
        if (looks_like_location(p + 1)) {
          field = p;
          break;
        }
      }
      if (field) {
        e->maildir = g_strdup(field + 1);
        *field = '\0';
      } else if (master && looks_like_location(rest)) {
        e->maildir = g_strdup(rest);
        *rest = '\0';
      }
      e->password = g_strdup(rest);
    }
    const char *problem = NULL;
    if (!*e->user || strpbrk(e->user, " \t\r"))
      problem = "the user name is empty or holds white space";
    else if (!master && (!e->password || !*e->password))
      problem = "no password (\"user:password\"; or use --master-user)";
    else if (g_hash_table_contains(seen, e->user))
      problem = "the user is listed twice";
    if (problem) {
      g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_USAGE,
                  "%s:%u: %s", file_name, e->line, problem);
      user_entry_free(e);
      g_ptr_array_unref(users);
      return NULL;
    }
    if (master)
      g_clear_pointer(&e->password, g_free);
    g_hash_table_add(seen, e->user);
    g_ptr_array_add(users, e);
  }
  return users;
}

GPtrArray *credentials_load(const char *path, bool master, GError **error)
{
  g_autofree char *text = NULL;
  gsize len;
  if (!g_file_get_contents(path, &text, &len, error))
    return NULL;
  struct stat st;
  if (!master && stat(path, &st) == 0 && (st.st_mode & 0044))
    g_printerr("poplar-uidl-import: warning: %s holds passwords and others "
               "may read it (chmod 600)\n", path);
  GPtrArray *users = credentials_parse(text, path, master, error);
  memset(text, 0, len);
  return users;
}

char *credentials_load_password(const char *path, GError **error)
{
  g_autofree char *text = NULL;
  gsize len;
  if (!g_file_get_contents(path, &text, &len, error))
    return NULL;
  char *password = g_strndup(text, strcspn(text, "\r\n"));
  memset(text, 0, len);
  if (!*password) {
    g_free(password);
    g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_USAGE,
                "%s: the first line (the password) is empty", path);
    return NULL;
  }
  return password;
}
