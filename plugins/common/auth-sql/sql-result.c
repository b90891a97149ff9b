/* SPDX-License-Identifier: MIT */
/*
 * A query's answer as text, and what its columns mean.  Columns map to
 * fields by name, as in Dovecot's SQL passdb: password, home, mail, uid,
 * gid, nologin (with reason), user (the canonical name), proxy, and any
 * other column becomes a field of its own name for hooks.
 */
#include "auth-sql.h"

#include <string.h>

SqlResult *sql_result_new(unsigned n_columns)
{
  SqlResult *r = g_new0(SqlResult, 1);
  r->n_columns = n_columns;
  r->names = g_new0(char *, n_columns + 1);
  r->rows = g_ptr_array_new();
  return r;
}

void sql_result_set_name(SqlResult *r, unsigned i, const char *name)
{
  g_assert(i < r->n_columns);
  g_free(r->names[i]);
  r->names[i] = g_ascii_strdown(name ? name : "", -1);
}

void sql_result_add_row(SqlResult *r, const char *const *values,
                        const unsigned long *lengths)
{
  char **row = g_new0(char *, r->n_columns);
  for (unsigned i = 0; i < r->n_columns; i++) {
    if (!values[i])
      continue;
    row[i] = lengths ? g_strndup(values[i], lengths[i])
                     : g_strdup(values[i]);
  }
  g_ptr_array_add(r->rows, row);
}

void sql_result_free(SqlResult *r)
{
  if (!r)
    return;
  for (guint i = 0; i < r->rows->len; i++) {
    char **row = g_ptr_array_index(r->rows, i);
    for (unsigned c = 0; c < r->n_columns; c++) {
      if (row[c]) {
        explicit_bzero(row[c], strlen(row[c]));
        g_free(row[c]);
      }
    }
    g_free(row);
  }
  g_ptr_array_unref(r->rows);
  g_strfreev(r->names);
  g_free(r);
}

unsigned sql_result_rows(const SqlResult *r)
{
  return r->rows->len;
}

static int column_of(const SqlResult *r, const char *name)
{
  for (unsigned i = 0; i < r->n_columns; i++) {
    if (strcmp(r->names[i], name) == 0)
      return (int)i;
  }
  return -1;
}

const char *sql_result_get(const SqlResult *r, unsigned row, const char *name)
{
  int c = column_of(r, name);
  if (c < 0 || row >= r->rows->len)
    return NULL;
  char **values = g_ptr_array_index(r->rows, row);
  return values[c];
}

bool sql_value_is_true(const char *value)
{
  static const char *const no[] = {"", "0", "f", "false", "n", "no", "off"};
  if (!value)
    return false;
  for (size_t i = 0; i < G_N_ELEMENTS(no); i++) {
    if (g_ascii_strcasecmp(value, no[i]) == 0)
      return false;
  }
  return true;
}

/* Columns that are not fields: the password check reads them. */
static bool is_check_column(const char *name)
{
  return strcmp(name, "password") == 0 || strcmp(name, "nologin") == 0 ||
         strcmp(name, "reason") == 0;
}

static bool has_control_char(const char *s)
{
  for (; *s; s++) {
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return true;
  }
  return false;
}

void sql_result_apply(const SqlResult *r, unsigned row,
                      PoplarAuthRequest *req, char **skipped)
{
  *skipped = NULL;
  GString *bad = NULL;
  char **values = g_ptr_array_index(r->rows, row);
  for (unsigned i = 0; i < r->n_columns; i++) {
    const char *value = values[i];
    const char *name = r->names[i];
    /* Dovecot's prefetch convention: userdb_home is home. */
    if (g_str_has_prefix(name, "userdb_") && name[7])
      name += 7;
    if (!value || is_check_column(name) || !name[0])
      continue;
    bool relative_home = strcmp(name, "home") == 0 && value[0] &&
                         value[0] != '/';
    if (has_control_char(value) || relative_home) {
      if (!bad)
        bad = g_string_new(NULL);
      g_string_append_printf(bad, "%s%s", bad->len ? ", " : "", name);
      continue;
    }
    if (strcmp(name, "user") == 0) {
      const char *asked = poplar_auth_request_user(req);
      if (value[0] && (!asked || strcmp(asked, value) != 0))
        poplar_auth_request_set_user(req, value);
    } else if (strcmp(name, "home") == 0) {
      if (value[0])
        poplar_auth_request_set_home(req, value);
    } else if (strcmp(name, "mail") == 0) {
      if (value[0])
        poplar_auth_request_set_mail(req, value);
    } else {
      poplar_auth_request_set_field(req, name, value);
    }
  }
  if (bad)
    *skipped = g_string_free(bad, FALSE);
}
