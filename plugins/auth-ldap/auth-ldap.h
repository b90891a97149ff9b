/* SPDX-License-Identifier: MIT */
/*
 * auth-ldap internals, shared by the plugin's files and its tests.
 *
 *   ldap-escape.c    RFC 4515 filter and RFC 4514 DN escaping, for the
 *                    %u/%n/%d templates (poplar_expand()) (no I/O)
 *   ldap-settings.c  the [auth-ldap] section: reading and checking it
 *   ldap-pool.c      connections: options, TLS, the service bind, and the
 *                    pools that lend one to a login at a time
 *   ldap-login.c     one login: find the user, bind as the user, read the
 *                    attributes, retry once after the server went away
 *   ldap-password.c  password-attribute mode: the entry's stored password
 *                    checked with libpoplar's schemes instead of a bind
 *   ldap-plugin.c    the passdb callback and registration
 */
#ifndef POPLAR_AUTH_LDAP_H
#define POPLAR_AUTH_LDAP_H

#include <glib.h>
#include <ldap.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <poplar/plugin.h>

G_BEGIN_DECLS

/* No directory has longer login names; longer ones are refused before any
 * LDAP request is made. */
#define AUTH_LDAP_USER_MAX 256
/* Client-supplied names are cut to this in log lines. */
#define AUTH_LDAP_LOG_USER_MAX 64

/* ---- escaping and templates (ldap-escape.c) ---------------------------- */

/* Escapes @value for use inside a search filter (RFC 4515 section 3):
 * '*', '(', ')', '\' and every octet outside printable ASCII become \XX.
 * Free with g_free. */
char *auth_ldap_escape_filter(const char *value);
/* Escapes @value for use as an attribute value in a DN (RFC 4514 section
 * 2.4).  Free with g_free. */
char *auth_ldap_escape_dn(const char *value);

/* What a DN template or a filter may use: the user name (%u), its local
 * part (%n) and its domain (%d), expanded with poplar_expand(). */
#define AUTH_LDAP_TEMPLATE_VARIABLES                                        \
  (POPLAR_EXPAND_USER | POPLAR_EXPAND_LOCAL_PART | POPLAR_EXPAND_DOMAIN)

/* The two escapes above as poplar_expand() escape functions (@data is
 * not used; they never refuse a value). */
char *auth_ldap_escape_dn_value(PoplarExpandFlags var, const char *value,
                                void *data, char *error, size_t error_size);
char *auth_ldap_escape_filter_value(PoplarExpandFlags var, const char *value,
                                    void *data, char *error,
                                    size_t error_size);

/* A user name from a client, fit for a log line.  Free with g_free. */
char *auth_ldap_loggable(const char *text);

/* ---- settings (ldap-settings.c) ---------------------------------------- */

typedef enum AuthLdapTls {
  AUTH_LDAP_TLS_NO,
  AUTH_LDAP_TLS_STARTTLS,
  AUTH_LDAP_TLS_LDAPS,
} AuthLdapTls;

typedef struct AuthLdapField {
  char *name;      /* the request field ("quota") */
  char *attribute; /* the LDAP attribute it comes from ("mailQuota") */
} AuthLdapField;

typedef struct AuthLdapSettings {
  char *uris;             /* space-separated, for ldap_initialize() */
  AuthLdapTls tls;
  char *ca_file;          /* NULL: libldap's default trust store */

  char *dn_template;      /* bind-as-user DN, or NULL when searching */
  char *base;             /* search base, or NULL with a DN template */
  char *filter;
  int scope;              /* LDAP_SCOPE_* */
  char *bind_dn;          /* for searches; NULL: anonymous */
  char *bind_password;    /* wiped when freed */

  char *user_attribute;   /* canonical user name, or NULL */
  char *home_attribute;
  char *mail_attribute;
  char *mail_template;    /* "%$" is the mail attribute's value */
  char *uid_attribute;
  char *gid_attribute;
  GPtrArray *fields;      /* AuthLdapField* */
  /* When set, the password is checked against this attribute of the
   * entry (read by bind-dn) with libpoplar's schemes, not by a bind. */
  char *password_attribute;
  char *password_scheme;  /* for values without {SCHEME}; never NULL */

  uint64_t network_timeout_ms;
  uint64_t timeout_ms;
  unsigned max_connections; /* per pool */
} AuthLdapSettings;

/* Reads and checks the section.  Every problem is reported with
 * poplar_config_error() (all of them in one run); returns NULL when there
 * was any. */
AuthLdapSettings *auth_ldap_settings_read(PoplarConfig *config);
void auth_ldap_settings_free(AuthLdapSettings *s);
/* The attributes a lookup asks for, NULL-terminated (free the array with
 * g_free, not its strings); {"1.1", NULL} when none is configured. */
char **auth_ldap_settings_attributes(const AuthLdapSettings *s);

/* ---- connections (ldap-pool.c) ----------------------------------------- */

typedef struct AuthLdapConn {
  LDAP *ld;
  unsigned generation; /* the pool's generation when it was made */
  bool reused;         /* lent before: it may have gone stale since */
} AuthLdapConn;

typedef struct AuthLdapPool {
  const AuthLdapSettings *settings;
  PoplarPlugin *plugin;
  const char *name;       /* "search" or "bind", for logs */
  bool bind_as_service;   /* bind with bind-dn when made */
  pthread_mutex_t lock;
  pthread_cond_t freed;   /* a connection came back or a slot opened */
  GPtrArray *idle;        /* AuthLdapConn* */
  unsigned total;         /* idle + lent out + being made */
  unsigned generation;    /* bumped when the server went away */
  unsigned made;          /* connections made so far (for tests) */
} AuthLdapPool;

/* What a failed LDAP call means. */
typedef enum AuthLdapFailure {
  AUTH_LDAP_FAIL_NONE,
  AUTH_LDAP_FAIL_DOWN,    /* the server is gone: retry on a new connection */
  AUTH_LDAP_FAIL_TEMP,    /* timeout, busy, TLS, anything else: TEMPFAIL */
} AuthLdapFailure;

/* The class of LDAP result code @rc as a failure of the connection or the
 * server (LDAP_SUCCESS and the answers about credentials are NONE). */
AuthLdapFailure auth_ldap_classify(int rc);

void auth_ldap_pool_init(AuthLdapPool *pool, const AuthLdapSettings *s,
                         PoplarPlugin *plugin, const char *name,
                         bool bind_as_service);
/* Closes every idle connection; none may be lent out. */
void auth_ldap_pool_clear(AuthLdapPool *pool);
/* Lends a connection: an idle one of the current generation, or a new one
 * (connected, TLS started, bound as the service when the pool does so),
 * waiting up to the timeout when max-connections are all lent out.
 * Returns NULL with *@failure and *@error (g_free) set. */
AuthLdapConn *auth_ldap_pool_take(AuthLdapPool *pool,
                                  AuthLdapFailure *failure, char **error);
/* Returns @conn to the pool, or closes it when @healthy is false (after a
 * timeout or a lost connection, its state is unknown). */
void auth_ldap_pool_give_back(AuthLdapPool *pool, AuthLdapConn *conn,
                              bool healthy);
/* Marks every connection made so far as stale: they are closed instead of
 * being lent again. */
void auth_ldap_pool_invalidate(AuthLdapPool *pool);

/* Sets up the TLS library once, on the calling thread, by making a TLS
 * context for a handle that is thrown away; logins then only make their
 * own contexts. */
void auth_ldap_tls_warm_up(const AuthLdapSettings *s);

/* "Invalid credentials (diagnostic text)" for result @rc on @ld (may be
 * NULL).  Free with g_free. */
char *auth_ldap_error_text(LDAP *ld, int rc);

/* A simple bind (RFC 4513 section 5.1) of @dn with @password.  Never
 * called with an empty password: that would be an unauthenticated bind,
 * which servers answer with success. */
int auth_ldap_simple_bind(LDAP *ld, const char *dn, const char *password);

/* ---- one login (ldap-login.c) ---------------------------------------------- */

typedef struct AuthLdap {
  PoplarPlugin *plugin;
  AuthLdapSettings *settings;
  char **attributes;      /* asked for in lookups */
  AuthLdapPool search;    /* bound as bind-dn (or anonymous): lookups */
  AuthLdapPool bind;      /* rebound as each user in turn */
  char *dummy_dn;         /* bound to when the user is unknown */
  /* password-attribute mode: the last stored password checked, which an
   * unknown user's password is checked against (and the result thrown
   * away), so that it costs what a known user's costs. */
  pthread_mutex_t dummy_lock;
  char *dummy_stored;
} AuthLdap;

AuthLdap *auth_ldap_new(PoplarPlugin *plugin, AuthLdapSettings *settings);
void auth_ldap_free(AuthLdap *a);

/* Checks @password for the request's user; sets the canonical name, home,
 * mail location and fields on success. */
PoplarPassdbResult auth_ldap_verify(AuthLdap *a, PoplarAuthRequest *req,
                                    const char *user, const char *password);
/* For a master login: finds the user's entry without binding as the user
 * and sets what auth_ldap_verify() would on a right password. */
PoplarPassdbResult auth_ldap_lookup(AuthLdap *a, PoplarAuthRequest *req,
                                    const char *user);

/* ---- password-attribute mode (ldap-password.c) ---------------------------- */

/* Checks @password against @stored, the entry's password attribute (NULL
 * when the entry has none), with libpoplar's schemes; logs why a login is
 * refused, with @shown as the user's name. */
PoplarPassdbResult auth_ldap_check_stored(AuthLdap *a, PoplarAuthRequest *req,
                                          const char *shown,
                                          const char *stored,
                                          const char *password);
/* For an unknown user: checks @password against the last stored password
 * seen, and throws the result away. */
void auth_ldap_burn_dummy(AuthLdap *a, const char *password);

G_END_DECLS

#endif /* POPLAR_AUTH_LDAP_H */
