/* SPDX-License-Identifier: MIT */
/**
 * poplar/auth.h - password databases, SASL mechanisms and the
 * authentication request they work on.
 *
 * A password database (passdb) checks a user name and password, or supplies
 * the plaintext secret for challenge-response mechanisms (APOP).  The core
 * tries the registered databases in the order their plugins are loaded; a
 * database that answers NO_SUCH_USER passes the request to the next one.
 *
 * The core implements USER/PASS, APOP and the SASL mechanisms PLAIN and
 * LOGIN on top of any passdb.  A plugin that implements other SASL
 * mechanisms (CRAM-MD5, SCRAM-*) registers them with
 * poplar_register_sasl_mechanism().
 *
 * All callbacks here run on a core plugin thread and may block.
 */
#ifndef POPLAR_AUTH_H
#define POPLAR_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include <poplar/session.h>
#include <poplar/version.h>

POPLAR_BEGIN_DECLS

/**
 * PoplarAuthRequest:
 * One authentication attempt.  Opaque.  Owned by the core and valid for
 * that attempt only: from the first callback that receives it (auth_before
 * hook, passdb, SASL start) until the auth_after hooks return.  Do not
 * keep it, or a string it returned, beyond the callback; copy what you
 * need later.  Strings its accessors return stay valid for the whole
 * attempt, even after a set function replaces the value.
 * Since: 1.0
 */
typedef struct PoplarAuthRequest PoplarAuthRequest;

/** What a password database answers.  Append-only.  Since: 1.0 */
typedef enum PoplarPassdbResult {
  /** The password is right (or the secret was supplied). */
  POPLAR_PASSDB_OK = 0,
  /** The user exists and the password is wrong, or the account may not log
   * in (set a reason with poplar_auth_request_set_reason()). */
  POPLAR_PASSDB_DENIED = 1,
  /** This database does not know the user: the next one is tried. */
  POPLAR_PASSDB_NO_SUCH_USER = 2,
  /** The database cannot answer now (server down, timeout): the client
   * gets -ERR [SYS/TEMP] and may retry later. */
  POPLAR_PASSDB_TEMPFAIL = 3,
} PoplarPassdbResult;

/**
 * PoplarPassdbOps:
 * Registered with poplar_register_passdb() together with its sizeof; a
 * callback left NULL means the database does not offer that operation (the
 * core treats it as NO_SUCH_USER).
 * Since: 1.0
 */
typedef struct PoplarPassdbOps {
  /** Checks @password (never NULL) for poplar_auth_request_user(@req).
   * On OK the database may set the canonical user name, home and mail
   * location.  @password is the core's, valid during this call only; the
   * core wipes it after the attempt: never keep a pointer to it or a copy
   * of it. */
  PoplarPassdbResult (*verify_plain)(void *data, PoplarAuthRequest *req,
                                     const char *password);
  /** Supplies the plaintext secret with poplar_auth_request_set_secret(),
   * for APOP.  Leave NULL when the database stores only hashes.  A
   * database that knows the user but has no plaintext secret for it
   * returns POPLAR_PASSDB_DENIED, so that no later database answers for
   * that user. */
  PoplarPassdbResult (*lookup_secret)(void *data, PoplarAuthRequest *req);
  /** Frees @data at shutdown, after the last session; called once, and
   * only for a registration that succeeded.  May be NULL (the plugin then
   * frees @data itself, e.g. in fini). */
  void (*destroy)(void *data);
  /** Looks the user up without a password, for a master user's login
   * (the master's own password was checked by a master database): on OK
   * the database sets the canonical name, home, mail location and fields
   * as verify_plain would; DENIED when the account may not log in;
   * NO_SUCH_USER when it is not here.  NULL: master users cannot log in
   * as this database's users.
   * Since: 1.1 */
  PoplarPassdbResult (*lookup_user)(void *data, PoplarAuthRequest *req);
} PoplarPassdbOps;

/**
 * poplar_register_passdb:
 * @name: a short name for logs, e.g. "passwd-file"; copied (NULL: the
 * plugin's name)
 * @ops: copied during the call: the table may live on the stack
 * @ops_size: sizeof(*ops) as the plugin was compiled
 * @data: handed to every callback; borrowed: the core never frees it,
 * ops->destroy does
 *
 * Call from the plugin's init.  When it fails, destroy is not called: the
 * plugin frees @data itself.
 * Returns: false when called outside init or with a bad argument (logged).
 * Since: 1.0
 */
POPLAR_API bool poplar_register_passdb(PoplarPlugin *plugin, const char *name,
                                       const PoplarPassdbOps *ops,
                                       size_t ops_size, void *data);

/** Outcome of one SASL step.  Append-only.  Since: 1.0 */
typedef enum PoplarSaslStatus {
  /** Send the output as a challenge and wait for the client's answer. */
  POPLAR_SASL_CONTINUE = 0,
  /** Authenticated: the mechanism has set the user name. */
  POPLAR_SASL_OK = 1,
  /** Wrong credentials. */
  POPLAR_SASL_DENIED = 2,
  /** The backend cannot answer now. */
  POPLAR_SASL_TEMPFAIL = 3,
  /** The client's message is not valid for this mechanism. */
  POPLAR_SASL_MALFORMED = 4,
} PoplarSaslStatus;

/** Flags for poplar_register_sasl_mechanism().  Since: 1.0 */
enum {
  /** The client's password crosses the wire (PLAIN, LOGIN): only offered
   * under TLS or on a trusted network. */
  POPLAR_SASL_PLAINTEXT = 1u << 0,
};

/**
 * PoplarSaslMechOps:
 * A SASL server mechanism.  Registered with its sizeof.
 * Since: 1.0
 */
typedef struct PoplarSaslMechOps {
  /** Begins an exchange; stores per-exchange state in *@state, which the
   * mechanism owns and frees in finish.  When start returns false, finish
   * is not called: free what start allocated before returning. */
  bool (*start)(void *data, PoplarAuthRequest *req, void **state);
  /** Consumes the client's (decoded) message @in and produces the next
   * challenge in *@out. The first call gets the initial response, or
   * @in == NULL when there was none.  On OK the mechanism sets the user
   * with poplar_auth_request_set_user().
   * @in is the core's, valid during this call only (the core wipes it
   * afterwards).  *@out stays the mechanism's: the core copies it as soon
   * as step returns, so it must outlive the call (in @state or static
   * memory, never a local array of step) and may be reused or freed at
   * the next step or in finish. */
  PoplarSaslStatus (*step)(void *data, void *state, PoplarAuthRequest *req,
                           const unsigned char *in, size_t in_len,
                           const unsigned char **out, size_t *out_len);
  /** Ends the exchange, whatever its outcome (success, failure, a client
   * that cancels or disconnects); frees @state.  Called once for every
   * start that returned true. */
  void (*finish)(void *data, void *state);
  /** Frees @data at shutdown; called once, and only for a registration
   * that succeeded.  May be NULL. */
  void (*destroy)(void *data);
} PoplarSaslMechOps;

/**
 * poplar_register_sasl_mechanism:
 * @name: the IANA mechanism name, upper case, e.g. "SCRAM-SHA-256";
 * copied
 * @flags: POPLAR_SASL_* flags
 * @ops: copied during the call
 * @data: borrowed, as for poplar_register_passdb()
 *
 * Call from init.  A mechanism registered by a plugin replaces the core's
 * own of the same name.
 * Returns: false on a bad argument (logged).
 * Since: 1.0
 */
POPLAR_API bool poplar_register_sasl_mechanism(PoplarPlugin *plugin,
                                               const char *name,
                                               unsigned flags,
                                               const PoplarSaslMechOps *ops,
                                               size_t ops_size, void *data);

/** poplar_auth_request_session: Returns: the session authenticating,
 * valid until the session ends.  Since: 1.0 */
POPLAR_API PoplarSession *
poplar_auth_request_session(const PoplarAuthRequest *req);

/**
 * poplar_auth_request_user:
 * Returns: the user name (as the client sent it, until a database or
 * mechanism canonicalises it), or NULL when not yet known (SASL before the
 * first step).  Owned by the request; valid until the attempt ends, even
 * after poplar_auth_request_set_user() replaces it.
 * Since: 1.0
 */
POPLAR_API const char *poplar_auth_request_user(const PoplarAuthRequest *req);

/**
 * poplar_auth_request_mechanism:
 * Returns: "USER" for USER/PASS, "APOP", or the SASL mechanism name;
 * owned by the request, valid until the attempt ends.
 * Since: 1.0
 */
POPLAR_API const char *
poplar_auth_request_mechanism(const PoplarAuthRequest *req);

/**
 * poplar_auth_request_master_user:
 * Returns: the master user logging in as poplar_auth_request_user(), for
 * a master login ("USER target*master", or SASL PLAIN with an
 * authorization identity), else NULL; owned by the request, valid until
 * the attempt ends.  Audit hooks record both identities.
 * Since: 1.1
 */
POPLAR_API const char *
poplar_auth_request_master_user(const PoplarAuthRequest *req);

/**
 * poplar_auth_request_set_user:
 * Replaces the user name (canonical form, realm added or dropped...).
 * @user is copied; NULL or "" is ignored.  The name it replaces stays
 * readable until the attempt ends, and @user may be that very string.
 * Since: 1.0
 */
POPLAR_API void poplar_auth_request_set_user(PoplarAuthRequest *req,
                                             const char *user);

/** poplar_auth_request_set_home: Sets the user's home directory, used for
 * %h in mail locations.  @home is copied (NULL unsets it); the value it
 * replaces stays readable until the attempt ends.  Since: 1.0 */
POPLAR_API void poplar_auth_request_set_home(PoplarAuthRequest *req,
                                             const char *home);

/** poplar_auth_request_home: Returns: the home set so far, or NULL;
 * owned by the request, valid until the attempt ends.  Since: 1.0 */
POPLAR_API const char *poplar_auth_request_home(const PoplarAuthRequest *req);

/**
 * poplar_auth_request_set_mail:
 * Sets this user's mail location ("maildir:%h/Maildir"), overriding the
 * server's default.  %u, %d and %h are expanded by the core.  @location
 * is copied (NULL unsets it); the value it replaces stays readable until
 * the attempt ends.
 * Since: 1.0
 */
POPLAR_API void poplar_auth_request_set_mail(PoplarAuthRequest *req,
                                             const char *location);

/** poplar_auth_request_mail: Returns: the location set so far, or NULL;
 * owned by the request, valid until the attempt ends.  Since: 1.0 */
POPLAR_API const char *poplar_auth_request_mail(const PoplarAuthRequest *req);

/**
 * poplar_auth_request_set_field:
 * Attaches a named value to the request ("uid", "gid", "quota", ...),
 * which later plugins (stores, hooks) can read.  @value NULL removes it.
 * @key and @value are copied; a value replaced or removed stays readable
 * until the attempt ends.  After a successful login the fields are read
 * through poplar_mailbox_field(), for as long as the mailbox is open.
 * Since: 1.0
 */
POPLAR_API void poplar_auth_request_set_field(PoplarAuthRequest *req,
                                              const char *key,
                                              const char *value);

/** poplar_auth_request_field: Returns: a field's value, or NULL; owned by
 * the request, valid until the attempt ends.  Since: 1.0 */
POPLAR_API const char *poplar_auth_request_field(const PoplarAuthRequest *req,
                                                 const char *key);

/**
 * poplar_auth_request_set_secret:
 * Supplies the plaintext secret (from lookup_secret).  @secret is copied;
 * the core wipes its copy as soon as the check is done.  The plugin wipes
 * its own buffer when it no longer needs it.
 * Since: 1.0
 */
POPLAR_API void poplar_auth_request_set_secret(PoplarAuthRequest *req,
                                               const char *secret);

/**
 * poplar_auth_request_set_reason:
 * @resp_code: an RFC 2449 response code without brackets ("AUTH",
 * "SYS/PERM"), or NULL; copied
 * @text: copied, control characters replaced by spaces
 *
 * Sets the text the client gets with -ERR when the attempt fails for a
 * reason the user should know ("account expired").  Without a reason every
 * failure reads alike, so that user names cannot be probed.
 * Since: 1.0
 */
POPLAR_API void poplar_auth_request_set_reason(PoplarAuthRequest *req,
                                               const char *resp_code,
                                               const char *text);

/**
 * poplar_auth_request_reason_code:
 * Returns: the response code set with poplar_auth_request_set_reason(),
 * or NULL; for hooks that report why a login failed.  Owned by the
 * request, valid until the attempt ends.
 * Since: 1.0
 */
POPLAR_API const char *
poplar_auth_request_reason_code(const PoplarAuthRequest *req);

/** poplar_auth_request_reason_text: Returns: the reason's text, or NULL;
 * owned by the request, valid until the attempt ends.  Since: 1.0 */
POPLAR_API const char *
poplar_auth_request_reason_text(const PoplarAuthRequest *req);

POPLAR_END_DECLS

#endif /* POPLAR_AUTH_H */
