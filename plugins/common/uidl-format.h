/* SPDX-License-Identifier: MIT */
/*
 * UIDL templates in the syntax of Dovecot's pop3_uidl_format, so that an
 * administrator moving from Dovecot (or Courier) writes the setting they
 * already have and gets the UIDLs their clients already know.  Compiled
 * into each store plugin that offers uidl-format; not part of the plugin
 * ABI.
 *
 * A template is text with %-fields:
 *
 *   %[-][0][<width>][.[0][-]<width>]<modifiers><variable>
 *
 * Variables: %u (IMAP UID), %v (UIDVALIDITY), %f (file name), %g (GUID),
 * %m (MD5 of the header), or their long names %{uid}, %{uidvalidity},
 * %{filename}, %{guid}, %{md5}; %% is a '%'.  Modifiers, applied in the
 * order written, as Dovecot 2.3 applies them: L lower case, U upper case,
 * X decimal to lower-case hex, R reverse, M MD5 in hex, N and H Dovecot's
 * two short hashes, T trim trailing white space, E backslash before
 * ' " and \, D dots to ",dc=".  A width pads with zeros when it starts with
 * 0 ("%08Xu": eight hex digits) and otherwise cuts the value to that
 * length; "<offset>." skips characters first (a negative offset counts from
 * the end).  So "%08Xu%08Xv" gives exactly Dovecot's default UIDLs.
 */
#ifndef POPLAR_UIDL_FORMAT_H
#define POPLAR_UIDL_FORMAT_H

#include <stdbool.h>

/* The variables a template may use, as a bit mask. */
typedef enum UidlFormatVar {
  UIDL_VAR_UID = 1 << 0,
  UIDL_VAR_UIDVALIDITY = 1 << 1,
  UIDL_VAR_FILENAME = 1 << 2,
  UIDL_VAR_GUID = 1 << 3,
  UIDL_VAR_MD5 = 1 << 4,
} UidlFormatVar;

/* One message's values; NULL for a variable the template does not use. */
typedef struct UidlFormatValues {
  const char *uid;
  const char *uidvalidity;
  const char *filename;
  const char *guid;
  const char *md5;
} UidlFormatValues;

typedef struct UidlFormat UidlFormat;

/* Parses @text.  @allowed is the mask of variables the store can supply;
 * a variable outside it, an unknown variable or modifier, a '%' at the
 * end or an empty template fails with *@error (newly allocated, for the
 * configuration error) and NULL. */
UidlFormat *uidl_format_parse(const char *text, unsigned allowed,
                              char **error);
void uidl_format_free(UidlFormat *format);

/* The mask of variables @format uses. */
unsigned uidl_format_vars(const UidlFormat *format);

/* The template as written. */
const char *uidl_format_text(const UidlFormat *format);

/* Expands @format with @values (newly allocated).  A variable whose value
 * is NULL expands to nothing. */
char *uidl_format_expand(const UidlFormat *format,
                         const UidlFormatValues *values);

/* True when @s is 1..70 characters in 0x21..0x7E (RFC 1939 section 7). */
bool uidl_format_valid_uidl(const char *s);

#endif /* POPLAR_UIDL_FORMAT_H */
