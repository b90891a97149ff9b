/* SPDX-License-Identifier: MIT */
/*
 * UIDL templates (uidl-format.h).  The rules for widths, offsets and
 * modifiers follow what Dovecot 2.3's var_expand() does with them, detail
 * for detail (zero padding never cuts, a plain width cuts, H and N use the
 * width as a modulus and the offset as a minimum length), because a UIDL
 * that differs from Dovecot's by one character is a different message to
 * every client.
 */
#include "uidl-format.h"

#include <glib.h>
#include <stdint.h>
#include <string.h>

/* RFC 1939 section 7. */
#define UIDL_MAX 70
/* Dovecot applies at most this many modifiers to one field. */
#define MAX_MODIFIERS 10

typedef struct Field {
  char *literal;     /* text to copy, or NULL for a variable */
  UidlFormatVar var;
  char modifiers[MAX_MODIFIERS + 1];
  int offset;
  int width;
  bool zero_padding;
} Field;

struct UidlFormat {
  char *text;
  GArray *fields; /* Field */
  unsigned vars;
};

static const struct {
  char key;
  const char *long_key;
  UidlFormatVar var;
} variables[] = {
    {'u', "uid", UIDL_VAR_UID},
    {'v', "uidvalidity", UIDL_VAR_UIDVALIDITY},
    {'f', "filename", UIDL_VAR_FILENAME},
    {'g', "guid", UIDL_VAR_GUID},
    {'m', "md5", UIDL_VAR_MD5},
};

static const char MODIFIER_KEYS[] = "LUEXRHNMDT";

bool uidl_format_valid_uidl(const char *s)
{
  size_t n = 0;
  for (; s[n]; n++) {
    if ((unsigned char)s[n] < 0x21 || (unsigned char)s[n] > 0x7e)
      return false;
  }
  return n >= 1 && n <= UIDL_MAX;
}

static void field_clear(gpointer p)
{
  g_free(((Field *)p)->literal);
}

void uidl_format_free(UidlFormat *format)
{
  if (!format)
    return;
  g_array_unref(format->fields);
  g_free(format->text);
  g_free(format);
}

unsigned uidl_format_vars(const UidlFormat *format)
{
  return format->vars;
}

const char *uidl_format_text(const UidlFormat *format)
{
  return format->text;
}

static void add_literal(UidlFormat *f, GString *pending)
{
  if (pending->len == 0)
    return;
  Field field = {.literal = g_strndup(pending->str, pending->len)};
  g_array_append_val(f->fields, field);
  g_string_truncate(pending, 0);
}

static int read_number(const char **p)
{
  int n = 0;
  while (**p >= '0' && **p <= '9') {
    if (n < 100000)
      n = n * 10 + (**p - '0');
    (*p)++;
  }
  return n;
}

/* Reads "[-][0]<digits>[.[0][-]<digits>]" as Dovecot does. */
static void read_width(const char **p, Field *field)
{
  int sign = 1;
  if (**p == '-') {
    sign = -1;
    (*p)++;
  }
  if (**p == '0') {
    field->zero_padding = true;
    (*p)++;
  }
  field->width = read_number(p);
  if (**p != '.') {
    /* A sign without an offset is ignored, as Dovecot ignores it. */
    return;
  }
  (*p)++;
  field->offset = sign * field->width;
  field->width = 0;
  field->zero_padding = false;
  sign = 1;
  if (**p == '0') {
    field->zero_padding = true;
    (*p)++;
  }
  if (**p == '-') {
    sign = -1;
    (*p)++;
  }
  field->width = sign * read_number(p);
}

static bool lookup_variable(const char *name, size_t len, UidlFormatVar *var)
{
  for (size_t i = 0; i < G_N_ELEMENTS(variables); i++) {
    bool match = len == 1 ? name[0] == variables[i].key
                          : strlen(variables[i].long_key) == len &&
                                memcmp(variables[i].long_key, name, len) == 0;
    if (match) {
      *var = variables[i].var;
      return true;
    }
  }
  return false;
}

UidlFormat *uidl_format_parse(const char *text, unsigned allowed,
                              char **error)
{
  *error = NULL;
  if (!text || !*text) {
    *error = g_strdup("the template is empty");
    return NULL;
  }
  UidlFormat *f = g_new0(UidlFormat, 1);
  f->text = g_strdup(text);
  f->fields = g_array_new(FALSE, TRUE, sizeof(Field));
  g_array_set_clear_func(f->fields, field_clear);
  g_autoptr(GString) pending = g_string_new(NULL);

  for (const char *p = text; *p;) {
    if (*p != '%') {
      g_string_append_c(pending, *p++);
      continue;
    }
    const char *start = p++;
    if (*p == '%') {
      g_string_append_c(pending, '%');
      p++;
      continue;
    }
    Field field = {0};
    read_width(&p, &field);
    size_t n_mod = 0;
    while (*p && strchr(MODIFIER_KEYS, *p) && n_mod < MAX_MODIFIERS)
      field.modifiers[n_mod++] = *p++;
    const char *name = p;
    size_t name_len = 1;
    if (*p == '\0') {
      *error = g_strdup_printf("\"%s\" ends in the middle of a %%-field",
                               text);
      goto fail;
    }
    if (*p == '{') {
      const char *close = strchr(p, '}');
      if (!close) {
        *error = g_strdup_printf("\"%s\": %%{ without a closing }", text);
        goto fail;
      }
      name = p + 1;
      name_len = (size_t)(close - name);
      p = close + 1;
      if (name_len <= 1) {
        *error = g_strdup_printf("\"%s\": %%{%.*s} is not a variable", text,
                                 (int)name_len, name);
        goto fail;
      }
    } else {
      p++;
    }
    if (!lookup_variable(name, name_len, &field.var)) {
      *error = g_strdup_printf(
          "\"%s\": unknown variable in \"%.*s\" (known: %%u %%v %%f %%g "
          "%%m, modifiers %s)", text, (int)(p - start), start,
          MODIFIER_KEYS);
      goto fail;
    }
    if (!(allowed & field.var)) {
      *error = g_strdup_printf("\"%s\": \"%.*s\" is not available in this "
                               "store", text, (int)(p - start), start);
      goto fail;
    }
    add_literal(f, pending);
    f->vars |= field.var;
    g_array_append_val(f->fields, field);
  }
  add_literal(f, pending);
  return f;

fail:
  uidl_format_free(f);
  return NULL;
}

/* ---- modifiers --------------------------------------------------------- */

/* Dovecot's str_hash(): the PJW hash. */
static unsigned pjw_hash(const char *s)
{
  unsigned h = 0, g;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    h = (h << 4) + *p;
    if ((g = h & 0xf0000000u) != 0) {
      h ^= g >> 24;
      h ^= g;
    }
  }
  return h;
}

static void md5_of(const char *s, guint8 digest[16])
{
  gsize len = 16;
  GChecksum *sum = g_checksum_new(G_CHECKSUM_MD5);
  g_checksum_update(sum, (const guchar *)s, strlen(s));
  g_checksum_get_digest(sum, digest, &len);
  g_checksum_free(sum);
}

/* H and N: the width is a modulus and the offset a minimum length, and
 * both are used up. */
static char *short_hash(uint64_t value, Field *ctx)
{
  if (ctx->width != 0) {
    value %= (uint64_t)(int64_t)ctx->width;
    ctx->width = 0;
  }
  GString *s = g_string_new(NULL);
  g_string_printf(s, "%x", (unsigned)value);
  while ((int)s->len < ctx->offset)
    g_string_prepend_c(s, '0');
  ctx->offset = 0;
  return g_string_free(s, FALSE);
}

static char *apply_modifier(char key, const char *v, Field *ctx)
{
  switch (key) {
  case 'L':
    return g_ascii_strdown(v, -1);
  case 'U':
    return g_ascii_strup(v, -1);
  case 'E': {
    GString *s = g_string_new(NULL);
    for (const char *p = v; *p; p++) {
      if (*p == '"' || *p == '\\' || *p == '\'')
        g_string_append_c(s, '\\');
      g_string_append_c(s, *p);
    }
    return g_string_free(s, FALSE);
  }
  case 'X': {
    /* Dovecot's str_to_ullong(): digits only; anything else is 0. */
    guint64 n = 0;
    if (!g_ascii_isdigit(v[0]) ||
        !g_ascii_string_to_unsigned(v, 10, 0, G_MAXUINT64, &n, NULL))
      n = 0;
    return g_strdup_printf("%" G_GINT64_MODIFIER "x", n);
  }
  case 'R': {
    size_t len = strlen(v);
    char *r = g_malloc(len + 1);
    for (size_t i = 0; i < len; i++)
      r[i] = v[len - 1 - i];
    r[len] = '\0';
    return r;
  }
  case 'H':
    return short_hash(pjw_hash(v), ctx);
  case 'N': {
    guint8 d[16];
    md5_of(v, d);
    uint64_t value = 0;
    for (int i = 0; i < 8; i++)
      value = (value << 8) | d[i];
    return short_hash(value, ctx);
  }
  case 'M': {
    guint8 d[16];
    md5_of(v, d);
    char *hex = g_malloc(33);
    for (int i = 0; i < 16; i++)
      g_snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return hex;
  }
  case 'D': {
    GString *s = g_string_new(NULL);
    for (const char *p = v; *p; p++) {
      if (*p == '.')
        g_string_append(s, ",dc=");
      else
        g_string_append_c(s, *p);
    }
    return g_string_free(s, FALSE);
  }
  case 'T': {
    size_t len = strlen(v);
    while (len > 0 && g_ascii_isspace(v[len - 1]))
      len--;
    return g_strndup(v, len);
  }
  default:
    g_assert_not_reached();
  }
}

static const char *value_of(const UidlFormatValues *values, UidlFormatVar var)
{
  switch (var) {
  case UIDL_VAR_UID:
    return values->uid;
  case UIDL_VAR_UIDVALIDITY:
    return values->uidvalidity;
  case UIDL_VAR_FILENAME:
    return values->filename;
  case UIDL_VAR_GUID:
    return values->guid;
  case UIDL_VAR_MD5:
    return values->md5;
  }
  return NULL;
}

static void expand_field(GString *out, const Field *field,
                         const UidlFormatValues *values)
{
  Field ctx = *field;
  const char *raw = value_of(values, field->var);
  char *v = g_strdup(raw ? raw : "");
  for (const char *m = field->modifiers; *m; m++) {
    char *next = apply_modifier(*m, v, &ctx);
    g_free(v);
    v = next;
  }
  const char *s = v;
  size_t len = strlen(s);
  if (ctx.offset < 0) {
    size_t from_end = (size_t)-(int64_t)ctx.offset;
    if (len > from_end)
      s += len - from_end;
  } else {
    for (int i = 0; i < ctx.offset && *s; i++)
      s++;
  }
  len = strlen(s);
  if (ctx.width == 0) {
    g_string_append(out, s);
  } else if (!ctx.zero_padding) {
    int64_t width = ctx.width;
    if (width < 0)
      width = (int64_t)len + width;
    /* A negative result reaches Dovecot's str_append_max() as a huge
     * size_t: the whole value. */
    if (width < 0 || (size_t)width > len)
      width = (int64_t)len;
    g_string_append_len(out, s, (gssize)width);
  } else {
    for (int64_t pad = ctx.width - (int64_t)len; pad > 0; pad--)
      g_string_append_c(out, '0');
    g_string_append(out, s);
  }
  g_free(v);
}

char *uidl_format_expand(const UidlFormat *format,
                         const UidlFormatValues *values)
{
  GString *out = g_string_new(NULL);
  for (guint i = 0; i < format->fields->len; i++) {
    const Field *field = &g_array_index(format->fields, Field, i);
    if (field->literal)
      g_string_append(out, field->literal);
    else
      expand_field(out, field, values);
  }
  return g_string_free(out, FALSE);
}
