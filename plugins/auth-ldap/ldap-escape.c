/* SPDX-License-Identifier: MIT */
/*
 * A user name typed by a client ends up inside a search filter or a DN.
 * Unescaped, "*" would match every entry and ")(uid=*" would rewrite the
 * filter (LDAP injection); a "," would move the DN into another subtree.
 * Everything a client sends goes through one of the escapes below; the
 * %u/%n/%d templates get them as poplar_expand() escape functions.
 */
#include "auth-ldap.h"

#include <string.h>

static void append_hex(GString *out, unsigned char c)
{
  g_string_append_printf(out, "\\%02x", c);
}

char *auth_ldap_escape_filter(const char *value)
{
  GString *out = g_string_sized_new(strlen(value) + 8);
  for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
    /* RFC 4515 requires \XX for NUL * ( ) \; the rest of what is not
     * printable ASCII is escaped too, which the RFC allows, so that no
     * byte of a client's name reaches the filter parser raw. */
    if (*p == '*' || *p == '(' || *p == ')' || *p == '\\' || *p < 0x20 ||
        *p >= 0x7f)
      append_hex(out, *p);
    else
      g_string_append_c(out, (char)*p);
  }
  return g_string_free(out, FALSE);
}

char *auth_ldap_escape_dn(const char *value)
{
  size_t len = strlen(value);
  GString *out = g_string_sized_new(len + 8);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)value[i];
    bool special = strchr(",+\"\\<>;=", c) != NULL;
    bool edge = (i == 0 && (c == ' ' || c == '#')) ||
                (i == len - 1 && c == ' ');
    if (c < 0x20 || c == 0x7f)
      append_hex(out, c);
    else if (special || edge)
      g_string_append_c(g_string_append_c(out, '\\'), (char)c);
    else
      g_string_append_c(out, (char)c);
  }
  return g_string_free(out, FALSE);
}

char *auth_ldap_escape_dn_value(PoplarExpandFlags var, const char *value,
                                void *data, char *error, size_t error_size)
{
  (void)var, (void)data, (void)error, (void)error_size;
  /* g_malloc() is malloc() (GLib >= 2.46), which poplar_expand() frees. */
  return auth_ldap_escape_dn(value);
}

char *auth_ldap_escape_filter_value(PoplarExpandFlags var, const char *value,
                                    void *data, char *error,
                                    size_t error_size)
{
  (void)var, (void)data, (void)error, (void)error_size;
  return auth_ldap_escape_filter(value);
}

char *auth_ldap_loggable(const char *text)
{
  g_autofree char *cut = g_strndup(text, AUTH_LDAP_LOG_USER_MAX);
  char *escaped = g_strescape(cut, NULL);
  if (strlen(text) > AUTH_LDAP_LOG_USER_MAX) {
    char *longer = g_strconcat(escaped, "...", NULL);
    g_free(escaped);
    escaped = longer;
  }
  return escaped;
}
