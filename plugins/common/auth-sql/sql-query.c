/* SPDX-License-Identifier: MIT */
/*
 * A query's :name parameters become the driver's placeholders, and the
 * values are bound to them when the query runs: a user name never enters
 * the SQL text, so no name can change what the query does.  The scan
 * knows just enough SQL to leave alone what is not a parameter: quoted
 * strings and identifiers, comments, PostgreSQL's dollar quoting and its
 * ::type casts.
 */
#include "auth-sql.h"

#include <string.h>

static const char *const param_names[SQL_PARAM_COUNT] = {
    [SQL_PARAM_USER] = "user",
    [SQL_PARAM_LOCAL] = "local",
    [SQL_PARAM_DOMAIN] = "domain",
    [SQL_PARAM_REMOTE_IP] = "remote_ip",
    [SQL_PARAM_SERVICE] = "service",
};

const char *sql_param_name(SqlParam p)
{
  return p < SQL_PARAM_COUNT ? param_names[p] : "?";
}

static bool is_name_start(char c)
{
  return g_ascii_isalpha(c) || c == '_';
}

static bool is_name_char(char c)
{
  return g_ascii_isalnum(c) || c == '_';
}

/* The end of a quoted run starting at @p (on its opening @quote); a
 * doubled quote stands for itself.  Backslash escapes are skipped too, so
 * that MariaDB's 'it\'s' does not end early; in standard SQL a backslash
 * before a closing quote cannot occur unescaped, so this is safe for
 * every driver.  NULL when it is not closed. */
static const char *skip_quoted(const char *p, char quote)
{
  for (p++; *p; p++) {
    if (*p == '\\' && quote == '\'' && p[1])
      p++;
    else if (*p == quote) {
      if (p[1] != quote)
        return p + 1;
      p++;
    }
  }
  return NULL;
}

/* PostgreSQL's $tag$ ... $tag$ at @p: the end of it, or NULL when @p
 * does not open one (a lone '$', or $1); *@unclosed when it is not
 * closed. */
static const char *skip_dollar_quoted(const char *p, bool *unclosed)
{
  const char *q = p + 1;
  if (g_ascii_isdigit(*q))
    return NULL;
  while (is_name_char(*q))
    q++;
  if (*q != '$')
    return NULL;
  size_t tag_len = (size_t)(q - p) + 1;
  for (const char *s = q + 1; *s; s++) {
    if (strncmp(s, p, tag_len) == 0)
      return s + tag_len;
  }
  *unclosed = true;
  return NULL;
}

static int param_of(const char *name, size_t len)
{
  for (int i = 0; i < SQL_PARAM_COUNT; i++) {
    if (strlen(param_names[i]) == len && strncmp(param_names[i], name, len) == 0)
      return i;
  }
  return -1;
}

static void add_placeholder(GString *text, GArray *params,
                            SqlPlaceholderStyle style, SqlParam p)
{
  if (style == SQL_PLACEHOLDER_QUESTION) {
    g_array_append_val(params, p);
    g_string_append_c(text, '?');
    return;
  }
  /* Numbered styles: one number per distinct name. */
  guint n = 0;
  while (n < params->len && g_array_index(params, SqlParam, n) != p)
    n++;
  if (n == params->len)
    g_array_append_val(params, p);
  g_string_append_printf(text, "%s%u",
                         style == SQL_PLACEHOLDER_DOLLAR ? "$" : "?", n + 1);
}

bool sql_query_parse(const char *source, SqlPlaceholderStyle style,
                     SqlQuery *out, char **error)
{
  memset(out, 0, sizeof *out);
  *error = NULL;
  GString *text = g_string_new(NULL);
  GArray *params = g_array_new(FALSE, FALSE, sizeof(SqlParam));
  const char *p = source;
  while (*p) {
    const char *next = NULL;
    if (*p == '\'' || *p == '"' || *p == '`') {
      next = skip_quoted(p, *p);
      if (!next) {
        *error = g_strdup_printf("the quote %c at offset %ld is not closed",
                                 *p, (long)(p - source));
        break;
      }
    } else if (p[0] == '-' && p[1] == '-') {
      next = p + strcspn(p, "\n");
    } else if (p[0] == '/' && p[1] == '*') {
      const char *close = strstr(p + 2, "*/");
      if (!close) {
        *error = g_strdup_printf("the comment at offset %ld is not closed",
                                 (long)(p - source));
        break;
      }
      next = close + 2;
    } else if (*p == '$' && !g_ascii_isdigit(p[1])) {
      bool unclosed = false;
      next = skip_dollar_quoted(p, &unclosed);
      if (unclosed) {
        *error = g_strdup_printf("the dollar quote at offset %ld is not "
                                 "closed", (long)(p - source));
        break;
      }
      if (!next)
        next = p + 1;
    } else if (p[0] == ':' && p[1] == ':') {
      next = p + 2; /* a PostgreSQL cast, not a parameter */
    } else if (p[0] == ':' && is_name_start(p[1])) {
      const char *name = p + 1;
      size_t len = 1;
      while (is_name_char(name[len]))
        len++;
      int param = param_of(name, len);
      if (param < 0) {
        *error = g_strdup_printf(
            "unknown parameter :%.*s (known: :user, :local, :domain, "
            ":remote_ip, :service)", (int)len, name);
        break;
      }
      add_placeholder(text, params, style, (SqlParam)param);
      p = name + len;
      continue;
    } else if ((style != SQL_PLACEHOLDER_DOLLAR && *p == '?') ||
               (style == SQL_PLACEHOLDER_DOLLAR && *p == '$' &&
                g_ascii_isdigit(p[1]))) {
      /* A placeholder of the driver's own would take a value we never
       * bind. */
      *error = g_strdup_printf("'%c' at offset %ld: write parameters as "
                               ":user, :domain...", *p, (long)(p - source));
      break;
    } else {
      next = p + 1;
    }
    g_string_append_len(text, p, next - p);
    p = next;
  }
  if (*error) {
    g_string_free(text, TRUE);
    g_array_free(params, TRUE);
    return false;
  }
  out->n_params = params->len;
  out->params = (SqlParam *)g_array_free(params, FALSE);
  out->text = g_string_free(text, FALSE);
  return true;
}

void sql_query_clear(SqlQuery *q)
{
  g_free(q->text);
  g_free(q->params);
  memset(q, 0, sizeof *q);
}
