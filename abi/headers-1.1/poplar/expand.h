/* SPDX-License-Identifier: MIT */
/**
 * poplar/expand.h - %-variables in templates.
 *
 * Mail locations ("maildir:/var/mail/%d/%n"), LDAP filters ("(uid=%u)"),
 * DNs and index directories are templates filled in for each user.  Every
 * plugin expands them the same way:
 *
 *   %u  the user name as the client gave it ("bob@example.org")
 *   %n  its part before the first '@' ("bob"; the whole name without '@')
 *   %d  its part after the first '@' ("example.org"; empty without '@')
 *   %h  the user's home directory, from the password database
 *   %%  one '%'
 *
 * Any other character after a '%', a '%' at the end, and a variable the
 * caller did not allow are errors that name the sequence.  What is put in
 * place of a variable can go through an escape function (LDAP filter or
 * DN escaping, see PoplarExpandEscapeFunc) and, for paths, through the
 * POPLAR_EXPAND_PATH_SAFE check.
 *
 * All functions here are thread-safe and may be called from any callback.
 */
#ifndef POPLAR_EXPAND_H
#define POPLAR_EXPAND_H

#include <stdbool.h>
#include <stddef.h>

#include <poplar/version.h>

POPLAR_BEGIN_DECLS

/**
 * PoplarExpandFlags:
 * The variables a template may use (one bit each), and how to expand
 * them.  Combine with |.  Values are never renumbered; new variables and
 * options are added at the end.
 * Since: 1.1
 */
typedef enum PoplarExpandFlags {
  /** %u may be used. */
  POPLAR_EXPAND_USER = 1u << 0,
  /** %n may be used. */
  POPLAR_EXPAND_LOCAL_PART = 1u << 1,
  /** %d may be used. */
  POPLAR_EXPAND_DOMAIN = 1u << 2,
  /** %h may be used. */
  POPLAR_EXPAND_HOME = 1u << 3,
  /** The result is a file name: refuse a %u, %n or %d value that is
   * empty, starts with '.' or contains '/', since a client chooses it and
   * must not make the path climb out of its directory (%d may be empty
   * when the user name has no '@').  %h comes from the password database
   * and is not checked. */
  POPLAR_EXPAND_PATH_SAFE = 1u << 16,
} PoplarExpandFlags;

/** Room for any error text of this header's functions, '\0' included;
 * a smaller buffer gets the text cut short.  Since: 1.1 */
#define POPLAR_EXPAND_ERROR_SIZE 256

/**
 * PoplarExpandEscapeFunc:
 * @var: the variable: POPLAR_EXPAND_USER, _LOCAL_PART, _DOMAIN or _HOME
 * @value: its value (never NULL; may be empty)
 * @data: the escape_data given to poplar_expand()
 * @error: where to write why @value is refused (may be NULL)
 * @error_size: the size of @error
 *
 * Turns a variable's value into what the template gets, e.g. LDAP filter
 * escaping (RFC 4515: '*' becomes \2a), or refuses it.  Called once for
 * every variable in the template, in order.
 *
 * Returns: the text to put in, allocated with malloc() (poplar_expand()
 * frees it with free()), or NULL to refuse the value, with the reason in
 * @error (when the function leaves @error empty, poplar_expand() writes a
 * generic one).
 * Since: 1.1
 */
typedef char *(*PoplarExpandEscapeFunc)(PoplarExpandFlags var,
                                        const char *value, void *data,
                                        char *error, size_t error_size);

/**
 * poplar_expand_check:
 * @tmpl: the template
 * @flags: the variables @tmpl may use (PoplarExpandFlags)
 * @used: (out) (optional): the variables @tmpl uses, as PoplarExpandFlags
 * bits; may be NULL
 * @error: (out caller-allocates) (optional): a buffer for the reason, may
 * be NULL
 * @error_size: the size of @error (POPLAR_EXPAND_ERROR_SIZE is enough)
 *
 * Checks a template from a configuration file without expanding it, so
 * that a mistake is reported when the server starts rather than at each
 * login.
 *
 * Returns: true when every %-sequence in @tmpl is known and allowed;
 * otherwise false, with e.g. "unknown %-sequence %x (known here: %u %n %d
 * %%)" in @error.
 * Since: 1.1
 */
POPLAR_API bool poplar_expand_check(const char *tmpl, unsigned flags,
                                    unsigned *used, char *error,
                                    size_t error_size);

/**
 * poplar_expand:
 * @tmpl: the template
 * @user: the user name (%u, %n, %d); may be NULL when @tmpl uses none of
 * them
 * @home: (optional): the home directory (%h), or NULL when the user has
 * none
 * @flags: the variables @tmpl may use, and POPLAR_EXPAND_PATH_SAFE for a
 * file name (PoplarExpandFlags)
 * @escape: (optional): called on each variable's value; NULL puts values
 * in as they are
 * @escape_data: passed to @escape
 * @error: (out caller-allocates) (optional): a buffer for the reason, may
 * be NULL
 * @error_size: the size of @error (POPLAR_EXPAND_ERROR_SIZE is enough)
 *
 * Expands @tmpl for one user.
 *
 * Returns: the expansion, allocated with malloc(): the caller frees it
 * with free().  NULL on an unknown or disallowed %-sequence, a %h with no
 * (or an empty) home, a variable with no user name, a value
 * POPLAR_EXPAND_PATH_SAFE or @escape refuses; the reason is then in
 * @error.
 * Since: 1.1
 */
POPLAR_API char *poplar_expand(const char *tmpl, const char *user,
                               const char *home, unsigned flags,
                               PoplarExpandEscapeFunc escape,
                               void *escape_data, char *error,
                               size_t error_size) POPLAR_WARN_UNUSED;

POPLAR_END_DECLS

#endif /* POPLAR_EXPAND_H */
