/* SPDX-License-Identifier: MIT */
/*
 * The reply that comes back on descriptor 4.  Its format is that of
 * Dovecot's checkpassword-reply, so that either reply program can be used
 * and a program written for Dovecot works unchanged:
 *
 *   user=alice<TAB>userdb_home=/home/alice<TAB>userdb_uid=1000<TAB>
 *
 * Everything here distrusts its input: the octets may come from a program
 * that writes to descriptor 4 itself, by mistake or on purpose.
 */
#include "auth-checkpassword.h"

#include <string.h>

#define CHECKPW_KEY_MAX 64
#define USERDB_PREFIX "userdb_"

static void field_free(gpointer p)
{
  CheckpwField *f = p;
  g_free(f->key);
  g_free(f->value);
  g_free(f);
}

static bool is_control(unsigned char c)
{
  return c < 0x20 || c == 0x7f;
}

static bool key_char(char c)
{
  return g_ascii_isalnum(c) || c == '_' || c == '-' || c == '.';
}

/* Undoes Dovecot's str_append_tabescaped(). */
static char *unescape(const char *s, size_t len, char **error)
{
  GString *out = g_string_sized_new(len);
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c != '\001') {
      g_string_append_c(out, c);
      continue;
    }
    char e = i + 1 < len ? s[++i] : '\0';
    switch (e) {
    case '1': c = '\001'; break;
    case 't': c = '\t'; break;
    case 'r': c = '\r'; break;
    case 'n': c = '\n'; break;
    default:
      *error = g_strdup_printf("bad escape \\001%s", e == '0' ? "0 (NUL)"
                               : "");
      g_string_free(out, TRUE);
      return NULL;
    }
    g_string_append_c(out, c);
  }
  return g_string_free(out, FALSE);
}

static bool parse_item(const char *item, size_t len, CheckpwReply *out,
                       char **error)
{
  const char *eq = memchr(item, '=', len);
  if (!eq) {
    g_autofree char *shown = checkpw_loggable(item, len, 40);
    *error = g_strdup_printf("item '%s' is not key=value", shown);
    return false;
  }
  size_t key_len = (size_t)(eq - item);
  if (key_len == 0 || key_len > CHECKPW_KEY_MAX) {
    *error = g_strdup_printf("a key is empty or longer than %d octets",
                             CHECKPW_KEY_MAX);
    return false;
  }
  for (size_t i = 0; i < key_len; i++) {
    if (!key_char(item[i])) {
      g_autofree char *shown = checkpw_loggable(item, key_len, 40);
      *error = g_strdup_printf("key '%s' has characters other than letters, "
                               "digits, '_', '-' and '.'", shown);
      return false;
    }
  }
  char *key = g_ascii_strdown(item, (gssize)key_len);
  if (g_str_has_prefix(key, USERDB_PREFIX) && key[strlen(USERDB_PREFIX)]) {
    char *shorter = g_strdup(key + strlen(USERDB_PREFIX));
    g_free(key);
    key = shorter;
  }
  char *why = NULL;
  char *value = unescape(eq + 1, len - key_len - 1, &why);
  if (!value) {
    *error = g_strdup_printf("field '%s': %s", key, why);
    g_free(why);
    g_free(key);
    return false;
  }
  for (const char *p = value; *p; p++) {
    if (is_control((unsigned char)*p)) {
      *error = g_strdup_printf("field '%s' has a control character", key);
      g_free(value);
      g_free(key);
      return false;
    }
  }
  CheckpwField *f = g_new(CheckpwField, 1);
  f->key = key;
  f->value = value;
  g_ptr_array_add(out->fields, f);
  return true;
}

bool checkpw_reply_parse(const char *data, size_t len, CheckpwReply *out,
                         char **error)
{
  out->fields = g_ptr_array_new_with_free_func(field_free);
  *error = NULL;
  if (len > CHECKPW_REPLY_MAX) {
    *error = g_strdup_printf("longer than %d octets", CHECKPW_REPLY_MAX);
    goto fail;
  }
  if (memchr(data, '\0', len)) {
    *error = g_strdup("contains a NUL octet");
    goto fail;
  }
  if (memchr(data, '\n', len)) {
    *error = g_strdup("contains a line feed");
    goto fail;
  }
  size_t start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && data[i] != '\t')
      continue;
    if (i > start && !parse_item(data + start, i - start, out, error))
      goto fail;
    start = i + 1;
  }
  return true;
fail:
  checkpw_reply_clear(out);
  return false;
}

void checkpw_reply_clear(CheckpwReply *r)
{
  if (r->fields)
    g_ptr_array_free(r->fields, TRUE);
  r->fields = NULL;
}

char *checkpw_loggable(const char *text, size_t len, size_t max)
{
  GString *out = g_string_sized_new(MIN(len, max) + 8);
  size_t i = 0;
  for (; i < len && out->len < max; i++) {
    unsigned char c = (unsigned char)text[i];
    if (c == '\\')
      g_string_append(out, "\\\\");
    else if (is_control(c))
      g_string_append_printf(out, "\\x%02x", c);
    else
      g_string_append_c(out, (char)c);
  }
  if (i < len)
    g_string_append(out, "...");
  return g_string_free(out, FALSE);
}
