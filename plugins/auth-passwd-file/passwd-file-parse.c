/* SPDX-License-Identifier: MIT */
/*
 * The passwd-file format, as Dovecot reads it:
 *
 *   user:password:uid:gid:gecos:home:shell:extra fields
 *
 * Fields after the password may be empty or missing.  Extra fields are
 * blank-separated key=value pairs and may contain ':' (mail=maildir:...),
 * so everything after the seventh ':' is one field.  Lines whose first
 * non-blank character is '#', and blank lines, are ignored.
 *
 * Nothing here does I/O: text in, table (or the list of bad lines) out.
 */
#include "passwd-file.h"

#include <string.h>

enum {
  FIELD_USER,
  FIELD_PASSWORD,
  FIELD_UID,
  FIELD_GID,
  FIELD_GECOS,
  FIELD_HOME,
  FIELD_SHELL,
  FIELD_EXTRA,
  N_FIELDS
};

/* Enough to fix a broken file in one pass without flooding the log when a
 * binary file is given by mistake. */
#define PW_MAX_REPORTED_ERRORS 20

/* Dovecot writes fields meant for its userdb as userdb_<key>. */
#define USERDB_PREFIX "userdb_"

void pw_entry_free(PwEntry *e)
{
  if (!e)
    return;
  g_free(e->user);
  pw_password_clear(&e->password);
  g_free(e->uid);
  g_free(e->gid);
  g_free(e->home);
  g_free(e->mail);
  g_free(e->reason);
  g_strfreev(e->fields);
  g_free(e);
}

static bool has_blank_or_control(const char *s)
{
  for (const char *p = s; *p; p++) {
    if ((unsigned char)*p <= ' ' || *p == 0x7f)
      return true;
  }
  return false;
}

/* A uid or gid: a number, or a name the system resolves. */
static bool valid_id(const char *s)
{
  if (!s[0])
    return false;
  bool numeric = true;
  for (const char *p = s; *p; p++)
    numeric = numeric && g_ascii_isdigit(*p);
  if (numeric)
    return true;
  if (!g_ascii_isalpha(s[0]) && s[0] != '_')
    return false;
  for (const char *p = s; *p; p++) {
    if (!g_ascii_isalnum(*p) && *p != '_' && *p != '-' && *p != '.')
      return false;
  }
  return true;
}

static bool valid_field_key(const char *s)
{
  if (!s[0])
    return false;
  for (const char *p = s; *p; p++) {
    if (!g_ascii_isalnum(*p) && *p != '_' && *p != '-' && *p != '.')
      return false;
  }
  return true;
}

static bool set_id(char **slot, const char *what, const char *value,
                   char **error)
{
  if (!valid_id(value)) {
    g_autofree char *shown = g_strescape(value, NULL);
    *error = g_strdup_printf("%s '%s' is neither a number nor a name",
                             what, shown);
    return false;
  }
  g_free(*slot);
  *slot = g_strdup(value);
  return true;
}

static bool set_home(char **slot, const char *value, char **error)
{
  if (value[0] != '/') {
    g_autofree char *shown = g_strescape(value, NULL);
    *error = g_strdup_printf("home '%s' is not an absolute path", shown);
    return false;
  }
  g_free(*slot);
  *slot = g_strdup(value);
  return true;
}

/* One key[=value] of the extra fields. */
static bool parse_extra_field(PwEntry *e, const char *token, GPtrArray *rest,
                              GHashTable *seen, char **error)
{
  const char *eq = strchr(token, '=');
  g_autofree char *raw_key =
      eq ? g_strndup(token, (size_t)(eq - token)) : g_strdup(token);
  const char *value = eq ? eq + 1 : "";
  const char *key = raw_key;
  if (g_str_has_prefix(key, USERDB_PREFIX) && key[strlen(USERDB_PREFIX)])
    key += strlen(USERDB_PREFIX);

  if (!valid_field_key(key)) {
    g_autofree char *shown = g_strescape(raw_key, NULL);
    *error = g_strdup_printf("extra field '%s': a key is letters, digits, "
                             "'_', '-' or '.'", shown);
    return false;
  }
  if (g_hash_table_contains(seen, key)) {
    *error = g_strdup_printf("extra field '%s' is given twice", key);
    return false;
  }
  g_hash_table_add(seen, g_strdup(key));

  if (strcmp(key, "mail") == 0) {
    if (!value[0]) {
      *error = g_strdup("extra field mail= needs a location, e.g. "
                        "mail=maildir:%h/Maildir");
      return false;
    }
    e->mail = g_strdup(value);
  } else if (strcmp(key, "home") == 0) {
    return set_home(&e->home, value, error);
  } else if (strcmp(key, "uid") == 0) {
    return set_id(&e->uid, "uid", value, error);
  } else if (strcmp(key, "gid") == 0) {
    return set_id(&e->gid, "gid", value, error);
  } else if (strcmp(key, "nologin") == 0) {
    e->nologin = true;
  } else if (strcmp(key, "reason") == 0) {
    e->reason = g_strdup(value);
  } else if (strcmp(key, "nopassword") == 0) {
    /* Dovecot would accept any password here; refusing the file is the
     * only answer that neither opens the account nor surprises. */
    *error = g_strdup("extra field nopassword (accept any password) is not "
                      "supported: give the account a password");
    return false;
  } else {
    g_ptr_array_add(rest, g_strdup(key));
    g_ptr_array_add(rest, g_strdup(value));
  }
  return true;
}

static bool parse_extra_fields(PwEntry *e, const char *text, char **error)
{
  g_autoptr(GPtrArray) rest = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GHashTable) seen =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  g_auto(GStrv) tokens = g_strsplit_set(text, " \t", -1);
  for (char **t = tokens; *t; t++) {
    if (!(*t)[0])
      continue;
    if (!parse_extra_field(e, *t, rest, seen, error))
      return false;
  }
  if (e->reason && !e->nologin) {
    *error = g_strdup("extra field reason= only goes with nologin");
    return false;
  }
  if (rest->len) {
    g_ptr_array_add(rest, NULL);
    e->fields = (char **)g_ptr_array_free(g_steal_pointer(&rest), FALSE);
  }
  return true;
}

static bool parse_fields(PwEntry *e, char **fields, char **error)
{
  char *pw_error = NULL;
  if (!pw_password_parse(fields[FIELD_PASSWORD], &e->password, &pw_error)) {
    *error = g_strdup_printf("user '%s': %s", e->user, pw_error);
    g_free(pw_error);
    return false;
  }
  char *field_error = NULL;
  bool ok = true;
  unsigned n = g_strv_length(fields);
  for (unsigned i = FIELD_UID; ok && i < n; i++) {
    const char *v = fields[i];
    switch (i) {
    case FIELD_UID:
      ok = !v[0] || set_id(&e->uid, "uid", v, &field_error);
      break;
    case FIELD_GID:
      ok = !v[0] || set_id(&e->gid, "gid", v, &field_error);
      break;
    case FIELD_HOME:
      ok = !v[0] || set_home(&e->home, v, &field_error);
      break;
    case FIELD_EXTRA:
      ok = parse_extra_fields(e, v, &field_error);
      break;
    default: /* gecos and shell mean nothing to a mail server */
      break;
    }
  }
  if (!ok) {
    *error = g_strdup_printf("user '%s': %s", e->user, field_error);
    g_free(field_error);
  }
  return ok;
}

PwEntry *pw_entry_parse(const char *line, size_t len, unsigned lineno,
                        bool lowercase, char **error)
{
  *error = NULL;
  if (memchr(line, '\0', len)) {
    *error = g_strdup("the line contains a NUL byte");
    return NULL;
  }
  /* CRLF files and trailing blanks are common after editing elsewhere. */
  while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' ||
                     line[len - 1] == '\t'))
    len--;
  size_t lead = 0;
  while (lead < len && (line[lead] == ' ' || line[lead] == '\t'))
    lead++;
  if (lead == len || line[lead] == '#')
    return NULL;

  g_autofree char *copy = g_strndup(line, len);
  if (!strchr(copy, ':')) {
    *error = g_strdup("no ':' after the user name (a line reads "
                      "user:password:uid:gid:gecos:home:shell:extra)");
    return NULL;
  }
  g_auto(GStrv) fields = g_strsplit(copy, ":", N_FIELDS);
  explicit_bzero(copy, len);
  if (!fields[FIELD_USER][0]) {
    *error = g_strdup("the user name is empty");
    return NULL;
  }
  if (has_blank_or_control(fields[FIELD_USER])) {
    g_autofree char *shown = g_strescape(fields[FIELD_USER], NULL);
    *error = g_strdup_printf("user name '%s' contains a blank or a control "
                             "character", shown);
    return NULL;
  }

  PwEntry *e = g_new0(PwEntry, 1);
  e->user = lowercase ? g_ascii_strdown(fields[FIELD_USER], -1)
                      : g_strdup(fields[FIELD_USER]);
  e->line = lineno;
  bool ok = parse_fields(e, fields, error);
  /* The split copies hold the password too. */
  explicit_bzero(fields[FIELD_PASSWORD], strlen(fields[FIELD_PASSWORD]));
  if (!ok) {
    pw_entry_free(e);
    return NULL;
  }
  return e;
}

static void line_error_free(gpointer p)
{
  PwLineError *le = p;
  g_free(le->message);
  g_free(le);
}

static void add_line_error(GPtrArray *errors, unsigned line, char *message)
{
  PwLineError *le = g_new0(PwLineError, 1);
  le->line = line;
  le->message = message;
  g_ptr_array_add(errors, le);
}

static PwTable *table_new(bool lowercase)
{
  PwTable *t = g_new0(PwTable, 1);
  atomic_init(&t->ref, 1);
  t->entries = g_ptr_array_new_with_free_func((GDestroyNotify)pw_entry_free);
  t->by_user = g_hash_table_new(g_str_hash, g_str_equal);
  t->lowercase = lowercase;
  return t;
}

PwTable *pw_table_parse(const char *text, size_t len, bool lowercase,
                        GPtrArray **errors)
{
  *errors = g_ptr_array_new_with_free_func(line_error_free);
  PwTable *t = table_new(lowercase);
  unsigned lineno = 0;
  unsigned n_bad = 0;
  const char *p = text;
  const char *end = text + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *line_end = nl ? nl : end;
    lineno++;
    char *error = NULL;
    PwEntry *e = pw_entry_parse(p, (size_t)(line_end - p), lineno, lowercase,
                                &error);
    if (e) {
      const PwEntry *prev = g_hash_table_lookup(t->by_user, e->user);
      if (prev) {
        error = g_strdup_printf("user '%s' is already defined on line %u",
                                e->user, prev->line);
        pw_entry_free(e);
      } else {
        g_ptr_array_add(t->entries, e);
        g_hash_table_insert(t->by_user, e->user, e);
      }
    }
    if (error) {
      if (++n_bad <= PW_MAX_REPORTED_ERRORS)
        add_line_error(*errors, lineno, error);
      else
        g_free(error);
    }
    p = nl ? nl + 1 : end;
  }
  if (n_bad > PW_MAX_REPORTED_ERRORS)
    add_line_error(*errors, 0,
                   g_strdup_printf("%u more bad lines not shown",
                                   n_bad - PW_MAX_REPORTED_ERRORS));
  if (n_bad) {
    pw_table_unref(t);
    return NULL;
  }
  return t;
}

PwTable *pw_table_ref(PwTable *t)
{
  atomic_fetch_add_explicit(&t->ref, 1, memory_order_relaxed);
  return t;
}

void pw_table_unref(PwTable *t)
{
  if (!t ||
      atomic_fetch_sub_explicit(&t->ref, 1, memory_order_acq_rel) != 1)
    return;
  g_hash_table_unref(t->by_user);
  g_ptr_array_unref(t->entries);
  pw_password_clear(&t->dummy);
  g_free(t);
}

const PwEntry *pw_table_lookup(const PwTable *t, const char *user)
{
  if (!t->lowercase)
    return g_hash_table_lookup(t->by_user, user);
  g_autofree char *folded = g_ascii_strdown(user, -1);
  return g_hash_table_lookup(t->by_user, folded);
}

unsigned pw_table_size(const PwTable *t)
{
  return t->entries->len;
}
