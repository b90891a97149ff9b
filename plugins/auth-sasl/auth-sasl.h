/* SPDX-License-Identifier: MIT */
/*
 * auth-sasl internals, shared by the plugin's files and its tests.
 *
 *   sasl-settings.c  the [auth-sasl] section
 *   sasl-library.c   libsasl2 itself: process-wide start and stop, the
 *                    options it asks for, its log, one connection context
 *                    per exchange, what its result codes mean here
 *   sasl-mech.c      the SASL mechanisms the core offers in AUTH
 *   sasl-scram-mock.c  a SCRAM exchange for users that do not exist
 *   sasl-passdb.c    USER/PASS (and the core's PLAIN/LOGIN) through
 *                    sasl_checkpass()
 *   sasl-plugin.c    init: which mechanisms, registration
 */
#ifndef POPLAR_AUTH_SASL_H
#define POPLAR_AUTH_SASL_H

#include <glib.h>
#include <sasl/sasl.h>
#include <stdbool.h>
#include <stddef.h>

#include <poplar/plugin.h>

G_BEGIN_DECLS

#define AUTH_SASL_DEFAULT_SERVICE "pop"
/* Where libsasl2 looks when sasldb_path is not set. */
#define AUTH_SASL_DEFAULT_SASLDB "/etc/sasldb2"
/* RFC 4422 3.1: a mechanism name is 1 to 20 of A-Z, 0-9, '-' and '_'. */
#define AUTH_SASL_MECH_NAME_MAX 20
/* libsasl2's name for /etc/sasl2/<app>.conf, read for the options this
 * plugin does not set itself. */
#define AUTH_SASL_APP_NAME "poplar"

typedef enum SaslPwcheck {
  SASL_PWCHECK_AUXPROP,   /* secrets from the sasldb file */
  SASL_PWCHECK_SASLAUTHD, /* passwords checked by the saslauthd daemon */
} SaslPwcheck;

typedef struct SaslSettings {
  PoplarPlugin *plugin;
  char *service;        /* the SASL service name, "pop" */
  char *realm;          /* user realm, or NULL for libsasl2's (the host) */
  char *hostname;       /* the server's name for the mechanisms */
  char **mechanisms;    /* as configured (upper case), or NULL for all */
  SaslPwcheck pwcheck;
  char *sasldb;         /* auxprop: the sasldb file */
  char *saslauthd_path; /* saslauthd: its socket, or NULL for the default */
  char *mail;           /* mail location template, or NULL */
  bool strip_realm;     /* "alice@<realm>" logs in as "alice" */
} SaslSettings;

/* ---- settings (sasl-settings.c) ---------------------------------------- */

/* Reads every key of @config (reporting each bad one) into @s.  Returns
 * false when any was wrong. */
bool auth_sasl_settings_read(PoplarConfig *config, SaslSettings *s);
void auth_sasl_settings_clear(SaslSettings *s);

/* ---- the library (sasl-library.c) -------------------------------------- */

/* Starts libsasl2's server side for the process with @s (which must stay
 * unchanged and alive until auth_sasl_library_stop()).  Main thread only.
 * Returns false with *@error. */
bool auth_sasl_library_start(const SaslSettings *s, char **error);
/* Stops it again; nothing when it was not started. */
void auth_sasl_library_stop(void);
/* Only for log lines: e.g. "2.1.28". */
const char *auth_sasl_library_version(void);

typedef struct SaslMechInfo {
  char *name;
  bool plaintext; /* the password crosses the wire (PLAIN, LOGIN) */
} SaslMechInfo;

/* Every mechanism libsasl2 offers with this plugin's security properties,
 * strongest first, as SaslMechInfo* (free with
 * auth_sasl_mech_info_free).  NULL with *@error when the library cannot
 * tell. */
GPtrArray *auth_sasl_library_mechanisms(const SaslSettings *s, char **error);
void auth_sasl_mech_info_free(void *info);

/* One libsasl2 connection context: one per exchange or password check,
 * never shared between threads.  Its log lines carry @session's id. */
typedef struct SaslConn {
  sasl_conn_t *conn;
  const SaslSettings *settings;
  PoplarSession *session; /* may be NULL */
  sasl_callback_t callbacks[2];
} SaslConn;

SaslConn *auth_sasl_conn_new(const SaslSettings *s, PoplarSession *session,
                             char **error);
void auth_sasl_conn_free(SaslConn *c);

/* libsasl2's text about the last failure on @c (never a password). */
const char *auth_sasl_conn_error(const SaslConn *c);

/* The authenticated account after success: SASL_USERNAME, with the
 * configured realm removed when strip-realm is on.  Free with g_free;
 * NULL when libsasl2 has none. */
char *auth_sasl_conn_account(const SaslConn *c);

/* What a libsasl2 result code means for an exchange, and for a password
 * check. */
PoplarSaslStatus auth_sasl_exchange_status(int code);
PoplarPassdbResult auth_sasl_passdb_result(int code);

/* Hands the account to @req (name, configured mail location). */
void auth_sasl_apply_account(const SaslSettings *s, PoplarAuthRequest *req,
                             const char *account);

/* A string from a client or the library, fit for one log line: control
 * characters escaped, cut short.  Free with g_free. */
char *auth_sasl_loggable(const char *text, size_t len);

/* ---- mechanisms (sasl-mech.c) -------------------------------------------- */

/* What each registered mechanism's callbacks get as data. */
typedef struct SaslMech {
  const SaslSettings *settings;
  char *name;
  bool scram; /* unknown users get a mock exchange */
} SaslMech;

SaslMech *auth_sasl_mech_new(const SaslSettings *s, const char *name);
extern const PoplarSaslMechOps auth_sasl_mech_ops;

/* ---- SCRAM for unknown users (sasl-scram-mock.c) --------------------------- */

/* libsasl2 fails a SCRAM exchange at the client's first message when the
 * user does not exist, which tells a client which names exist.  Instead
 * the plugin answers with a server-first message alike in form to a real
 * one (the same salt for the same name, every time) and fails the
 * exchange at the proof, as for a wrong password (RFC 5802 section 5.1
 * asks for this).  Returns the message (g_free) and in *@user the name
 * the client gave (g_free), or NULL when @client_first is malformed. */
char *auth_sasl_scram_mock_first(const unsigned char *client_first,
                                 size_t len, size_t *out_len, char **user);

/* ---- the password database (sasl-passdb.c) ------------------------------- */

extern const PoplarPassdbOps auth_sasl_passdb_ops;

G_END_DECLS

#endif /* POPLAR_AUTH_SASL_H */
