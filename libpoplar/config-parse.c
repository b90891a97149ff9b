/* SPDX-License-Identifier: MIT */
/*
 * poplar.conf reader.  The syntax is GKeyFile's (INI): [section] headers,
 * key = value lines, whole-line # comments, \s \n \t \r \\ escapes.  Our own
 * reader keeps the line of every key, so that every error names file and
 * line, which GKeyFile cannot do.
 */
#include "poplar-private.h"

#include <errno.h>
#include <string.h>

static void config_entry_free(gpointer p)
{
  PoplarConfigEntry *e = p;
  g_free(e->key);
  g_free(e->value);
  g_free(e);
}

static void config_section_free(gpointer p)
{
  PoplarConfig *c = p;
  g_free(c->name);
  g_ptr_array_unref(c->entries);
  g_hash_table_unref(c->by_key);
  g_hash_table_unref(c->lists);
  g_free(c);
}

static PoplarConfig *config_section_new(PoplarConfigFile *file,
                                        const char *name, unsigned line)
{
  PoplarConfig *c = g_new0(PoplarConfig, 1);
  c->file = file;
  c->name = g_strdup(name);
  c->line = line;
  c->entries = g_ptr_array_new_with_free_func(config_entry_free);
  c->by_key = g_hash_table_new(g_str_hash, g_str_equal);
  c->lists = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                   (GDestroyNotify)g_strfreev);
  g_ptr_array_add(file->sections, c);
  return c;
}

static void file_error(PoplarConfigFile *file, unsigned line, const char *fmt,
                       ...) G_GNUC_PRINTF(3, 4);

static void file_error(PoplarConfigFile *file, unsigned line, const char *fmt,
                       ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  if (line)
    g_ptr_array_add(file->errors,
                    g_strdup_printf("%s:%u: %s", file->path, line, msg));
  else
    g_ptr_array_add(file->errors, g_strdup_printf("%s: %s", file->path, msg));
}

/* A character for an error message: itself when printable ASCII, else its
 * code, so a message never carries control bytes or half a UTF-8 one. */
static const char *show_char(char ch, char buf[8])
{
  unsigned char u = (unsigned char)ch;
  if (u >= 0x20 && u < 0x7f)
    g_snprintf(buf, 8, "'%c'", ch);
  else
    g_snprintf(buf, 8, "0x%02x", u);
  return buf;
}

static bool valid_name_char(char ch, bool section)
{
  if (g_ascii_isalnum(ch) || ch == '-' || ch == '_' || ch == '.')
    return true;
  return section && ch == ' ';
}

/* Resolves GKeyFile escapes; returns NULL (with *bad set) on an unknown
 * one. */
static char *unescape_value(const char *v, size_t len, char *bad)
{
  GString *out = g_string_sized_new(len);
  for (size_t i = 0; i < len; i++) {
    if (v[i] != '\\') {
      g_string_append_c(out, v[i]);
      continue;
    }
    if (++i == len) {
      *bad = '\0';
      g_string_free(out, TRUE);
      return NULL;
    }
    switch (v[i]) {
    case 's': g_string_append_c(out, ' '); break;
    case 'n': g_string_append_c(out, '\n'); break;
    case 't': g_string_append_c(out, '\t'); break;
    case 'r': g_string_append_c(out, '\r'); break;
    case '\\': g_string_append_c(out, '\\'); break;
    default:
      *bad = v[i];
      g_string_free(out, TRUE);
      return NULL;
    }
  }
  return g_string_free(out, FALSE);
}

static void parse_line(PoplarConfigFile *file, PoplarConfig **current,
                       const char *line, size_t len, unsigned lineno)
{
  while (len > 0 && g_ascii_isspace(line[len - 1]))
    len--;
  size_t start = 0;
  while (start < len && g_ascii_isspace(line[start]))
    start++;
  line += start;
  len -= start;
  if (len == 0 || line[0] == '#')
    return;

  if (line[0] == '[') {
    if (line[len - 1] != ']') {
      file_error(file, lineno, "section header without closing ']'");
      *current = NULL;
      return;
    }
    g_autofree char *name = g_strndup(line + 1, len - 2);
    if (name[0] == '\0') {
      file_error(file, lineno, "empty section name");
      *current = NULL;
      return;
    }
    for (const char *p = name; *p; p++) {
      if (!valid_name_char(*p, true)) {
        char shown[8];
        file_error(file, lineno, "invalid character %s in section name",
                   show_char(*p, shown));
        *current = NULL;
        return;
      }
    }
    PoplarConfig *prev = poplarpriv_config_section(file, name);
    if (prev) {
      file_error(file, lineno, "section [%s] appears again (first at line %u)",
                 name, prev->line);
      *current = prev; /* keep reading its keys, to report them too */
      return;
    }
    *current = config_section_new(file, name, lineno);
    return;
  }

  const char *eq = memchr(line, '=', len);
  if (!eq) {
    file_error(file, lineno, "expected 'key = value', '[section]' or "
                             "'# comment'");
    return;
  }
  size_t klen = (size_t)(eq - line);
  while (klen > 0 && g_ascii_isspace(line[klen - 1]))
    klen--;
  if (klen == 0) {
    file_error(file, lineno, "missing key before '='");
    return;
  }
  g_autofree char *key = g_strndup(line, klen);
  for (const char *p = key; *p; p++) {
    if (!valid_name_char(*p, false)) {
      char shown[8];
      file_error(file, lineno, "invalid character %s in key",
                 show_char(*p, shown));
      return;
    }
  }
  if (!*current) {
    file_error(file, lineno, "key '%s' outside any [section]", key);
    return;
  }
  const char *v = eq + 1;
  size_t vlen = len - (size_t)(v - line);
  while (vlen > 0 && g_ascii_isspace(*v)) {
    v++;
    vlen--;
  }
  char bad = 0;
  char *value = unescape_value(v, vlen, &bad);
  if (!value) {
    if (bad)
      file_error(file, lineno, "[%s] %s: unknown escape '\\%c'",
                 (*current)->name, key, bad);
    else
      file_error(file, lineno, "[%s] %s: value ends with a lone '\\'",
                 (*current)->name, key);
    return;
  }
  PoplarConfigEntry *prev = g_hash_table_lookup((*current)->by_key, key);
  if (prev) {
    file_error(file, lineno, "[%s] %s: key set again (first at line %u)",
               (*current)->name, key, prev->line);
    g_free(value);
    return;
  }
  PoplarConfigEntry *e = g_new0(PoplarConfigEntry, 1);
  e->key = g_steal_pointer(&key);
  e->value = value;
  e->line = lineno;
  g_ptr_array_add((*current)->entries, e);
  g_hash_table_insert((*current)->by_key, e->key, e);
}

static PoplarConfigFile *config_file_new(const char *path)
{
  PoplarConfigFile *file = g_new0(PoplarConfigFile, 1);
  file->path = g_strdup(path);
  file->sections = g_ptr_array_new_with_free_func(config_section_free);
  file->errors = g_ptr_array_new_with_free_func(g_free);
  file->warnings = g_ptr_array_new_with_free_func(g_free);
  return file;
}

PoplarConfigFile *poplarpriv_config_parse(const char *path, const char *data,
                                          size_t len)
{
  PoplarConfigFile *file = config_file_new(path);
  PoplarConfig *current = NULL;
  unsigned lineno = 0;
  size_t pos = 0;
  const char *nul = memchr(data, '\0', len);
  if (nul) {
    unsigned line = 1;
    for (const char *p = data; p < nul; p++)
      line += *p == '\n';
    file_error(file, line, "contains a NUL byte: not a text file");
    return file;
  }
  while (pos < len) {
    const char *nl = memchr(data + pos, '\n', len - pos);
    size_t end = nl ? (size_t)(nl - data) : len;
    lineno++;
    if (!g_utf8_validate(data + pos, (gssize)(end - pos), NULL))
      file_error(file, lineno, "line is not valid UTF-8");
    else
      parse_line(file, &current, data + pos, end - pos, lineno);
    pos = end + 1;
  }
  return file;
}

PoplarConfigFile *poplarpriv_config_load(const char *path)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  g_autoptr(GError) error = NULL;
  if (!g_file_get_contents(path, &data, &len, &error)) {
    PoplarConfigFile *file = config_file_new(path);
    file_error(file, 0, "cannot read: %s", error->message);
    return file;
  }
  return poplarpriv_config_parse(path, data, len);
}

void poplarpriv_config_free(PoplarConfigFile *file)
{
  if (!file)
    return;
  g_ptr_array_unref(file->sections);
  g_ptr_array_unref(file->errors);
  g_ptr_array_unref(file->warnings);
  g_free(file->path);
  g_free(file);
}

PoplarConfig *poplarpriv_config_section(PoplarConfigFile *file,
                                        const char *name)
{
  for (guint i = 0; i < file->sections->len; i++) {
    PoplarConfig *c = g_ptr_array_index(file->sections, i);
    if (strcmp(c->name, name) == 0)
      return c;
  }
  return NULL;
}

PoplarConfig *poplarpriv_config_section_ensure(PoplarConfigFile *file,
                                               const char *name)
{
  PoplarConfig *c = poplarpriv_config_section(file, name);
  if (!c) {
    c = config_section_new(file, name, 0);
    c->synthetic = true;
  }
  return c;
}

void poplarpriv_config_report_unused(PoplarConfig *section)
{
  for (guint i = 0; i < section->entries->len; i++) {
    PoplarConfigEntry *e = g_ptr_array_index(section->entries, i);
    if (!e->used)
      file_error(section->file, e->line, "[%s] %s: unknown key", section->name,
                 e->key);
  }
}
