/* SPDX-License-Identifier: MIT */
/*
 * What a Maildir file name tells: the unique part, the UIDL made from it,
 * the ,W= size, and the delivery time that sets the POP3 order.
 *
 * A name is "<unique>[,<key>=<value>...][:<info>]".  Other programs change
 * the info part when flags change (":2,S" -> ":2,RS") and some rewrite the
 * size fields (Dovecot's ",S=<octets>,W=<octets as sent>"), so the unique
 * part keeps neither: it is the text before the first ':' without any
 * ",S=<digits>" or ",W=<digits>" field.  That is what makes a UIDL survive
 * flag changes, size rewrites, restarts and moves from new/ to cur/.
 *
 * UIDL rule: the unique part itself when RFC 1939 allows it (1 to 70
 * characters in 0x21..0x7E) and it does not start with '~'; otherwise '~'
 * followed by the hex SHA-256 of the unique part.  A real unique part used
 * as is never starts with '~', so a hashed UIDL cannot equal one, and
 * distinct unique parts give distinct hashes.
 *
 * Order rule, oldest first: the leading decimal seconds of the name
 * ("1700000000.M123456P42.host"), then the microseconds after 'M' in the
 * second dot-separated part, then the unique part byte by byte, then the
 * whole file name.  A name without leading seconds counts as time 0, so it
 * sorts before every timestamped message, always at the same place.
 */
#include "maildir.h"

#include <string.h>

/* RFC 1939 section 7. */
#define UIDL_MAX 70

/* Length of the part before the info separator. */
static size_t unique_len(const char *file)
{
  const char *colon = strchr(file, ':');
  return colon ? (size_t)(colon - file) : strlen(file);
}

/* True when [p, end) is ",S=<digits>" or ",W=<digits>" (the field @p
 * starts, up to the next ',' or @end); *@field_end receives its end. */
static bool size_field(const char *p, const char *end, char *key,
                       const char **field_end)
{
  if (end - p < 4 || p[0] != ',' || (p[1] != 'S' && p[1] != 'W') ||
      p[2] != '=')
    return false;
  const char *q = p + 3;
  while (q < end && g_ascii_isdigit(*q))
    q++;
  if (q == p + 3 || (q < end && *q != ','))
    return false;
  *key = p[1];
  *field_end = q;
  return true;
}

char *maildir_name_base(const char *file)
{
  size_t len = unique_len(file);
  const char *end = file + len;
  GString *base = g_string_sized_new(len);
  /* The first field is the unique name proper and is never removed. */
  const char *p = memchr(file, ',', len);
  if (!p)
    p = end;
  g_string_append_len(base, file, p - file);
  while (p < end) {
    const char *next = memchr(p + 1, ',', (size_t)(end - p - 1));
    if (!next)
      next = end;
    char key;
    const char *field_end;
    if (!size_field(p, end, &key, &field_end))
      g_string_append_len(base, p, next - p);
    p = next;
  }
  return g_string_free(base, FALSE);
}

bool maildir_name_wsize(const char *file, uint64_t *wsize)
{
  const char *end = file + unique_len(file);
  for (const char *p = memchr(file, ',', (size_t)(end - file)); p && p < end;
       p = memchr(p + 1, ',', (size_t)(end - p - 1))) {
    char key;
    const char *field_end;
    if (!size_field(p, end, &key, &field_end) || key != 'W')
      continue;
    g_autofree char *digits = g_strndup(p + 3, (size_t)(field_end - p - 3));
    guint64 v;
    if (g_ascii_string_to_unsigned(digits, 10, 0, G_MAXUINT64, &v, NULL)) {
      *wsize = v;
      return true;
    }
    return false; /* too large to be a size: count it instead */
  }
  return false;
}

bool maildir_uidl_valid(const char *s)
{
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p < 0x21 || *p > 0x7e || ++n > UIDL_MAX)
      return false;
  }
  return n > 0;
}

char *maildir_uidl_for_base(const char *base)
{
  if (base[0] != MAILDIR_UIDL_HASH_PREFIX && maildir_uidl_valid(base))
    return g_strdup(base);
  g_autofree char *hex =
      g_compute_checksum_for_string(G_CHECKSUM_SHA256, base, -1);
  return g_strdup_printf("%c%s", MAILDIR_UIDL_HASH_PREFIX, hex);
}

char *maildir_uidl_for_duplicate(const char *base, uint64_t ino)
{
  GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
  g_checksum_update(sum, (const guchar *)base, (gssize)strlen(base) + 1);
  g_autofree char *marker = g_strdup_printf("duplicate %" G_GUINT64_FORMAT,
                                            ino);
  g_checksum_update(sum, (const guchar *)marker, -1);
  char *uidl = g_strdup_printf("%c%s", MAILDIR_UIDL_HASH_PREFIX,
                               g_checksum_get_string(sum));
  g_checksum_free(sum);
  return uidl;
}

void maildir_name_time(const char *base, uint64_t *seconds, uint32_t *usec)
{
  *seconds = 0;
  *usec = 0;
  const char *p = base;
  uint64_t s = 0;
  while (g_ascii_isdigit(*p)) {
    if (s > (G_MAXUINT64 - 9) / 10)
      return; /* not a time */
    s = s * 10 + (uint64_t)(*p - '0');
    p++;
  }
  if (p == base || *p != '.')
    return;
  *seconds = s;
  /* The delivery identifier: "M<usec>P<pid>..." in current names. */
  const char *id = p + 1;
  const char *id_end = strchr(id, '.');
  if (!id_end)
    id_end = id + strlen(id);
  for (const char *m = id; m < id_end; m++) {
    if (*m != 'M' || !g_ascii_isdigit(m[1]))
      continue;
    uint32_t u = 0;
    for (const char *d = m + 1; d < id_end && g_ascii_isdigit(*d); d++) {
      if (u > 99999999u)
        return; /* more than nine digits: not microseconds */
      u = u * 10 + (uint32_t)(*d - '0');
    }
    *usec = u;
    return;
  }
}

int maildir_msg_compare(const void *a, const void *b)
{
  const MaildirMsg *x = a;
  const MaildirMsg *y = b;
  if (x->seconds != y->seconds)
    return x->seconds < y->seconds ? -1 : 1;
  if (x->usec != y->usec)
    return x->usec < y->usec ? -1 : 1;
  int c = strcmp(x->base, y->base);
  if (c != 0)
    return c;
  return strcmp(x->file, y->file);
}
