/* SPDX-License-Identifier: MIT */
/**
 * poplar/session.h - the client session as plugins see it, and logging.
 *
 * Threading: the core calls a plugin for one session at a time, so the
 * accessors below need no locking when called from a plugin callback for
 * that session.  Callbacks for different sessions run at the same time on
 * the core's plugin threads; anything a plugin shares between sessions must
 * be protected by the plugin.
 *
 * Lifetimes: a PoplarSession is valid from its connect hook until the
 * session ends; the disconnect hooks and the free functions of its data
 * slots are the last calls that see it.  The strings its accessors return
 * are owned by the session (never free them) and stay valid until then.
 * A PoplarPlugin is valid until its fini returns.
 */
#ifndef POPLAR_SESSION_H
#define POPLAR_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <poplar/version.h>

POPLAR_BEGIN_DECLS

/** A loaded plugin, handed to its preinit/init/fini.  Opaque.  Since: 1.0 */
typedef struct PoplarPlugin PoplarPlugin;
/** One client connection.  Opaque.  Since: 1.0 */
typedef struct PoplarSession PoplarSession;
/** The mailbox a session has opened.  Opaque.  Since: 1.0 */
typedef struct PoplarMailbox PoplarMailbox;

/** Log levels, most severe first.  Append-only.  Since: 1.0 */
typedef enum PoplarLogLevel {
  POPLAR_LOG_ERROR = 0,
  POPLAR_LOG_WARNING = 1,
  POPLAR_LOG_INFO = 2,
  POPLAR_LOG_DEBUG = 3,
} PoplarLogLevel;

/**
 * poplar_log:
 * Writes one line to the server log, prefixed with the plugin's name.
 * Safe from any thread.  The text is formatted during the call; nothing is
 * kept.
 * Since: 1.0
 */
POPLAR_API void poplar_log(PoplarPlugin *plugin, PoplarLogLevel level,
                           const char *fmt, ...) POPLAR_PRINTF(3, 4);

/**
 * poplar_session_log:
 * Writes one line to the server log, prefixed with the session id and the
 * plugin's name (@plugin may be NULL).  Never log passwords.
 * Since: 1.0
 */
POPLAR_API void poplar_session_log(PoplarSession *session,
                                   PoplarPlugin *plugin, PoplarLogLevel level,
                                   const char *fmt, ...) POPLAR_PRINTF(4, 5);

/**
 * poplar_plugin_name:
 * Returns: the plugin's name as configured, e.g. "store-maildir"; owned
 * by the core, valid until the plugin's fini returns.
 * Since: 1.0
 */
POPLAR_API const char *poplar_plugin_name(const PoplarPlugin *plugin);

/**
 * poplar_plugin_set_data:
 * Stores a pointer for the plugin itself (not per session), e.g. what
 * preinit opened for init to use.  Borrowed: the core keeps the pointer
 * and never frees it; the plugin frees it in fini.  (The master, where
 * preinit runs, never calls fini: what preinit allocates there lives as
 * long as the master.)
 * Since: 1.0
 */
POPLAR_API void poplar_plugin_set_data(PoplarPlugin *plugin, void *data);

/** poplar_plugin_get_data: Returns: what poplar_plugin_set_data() stored
 * (the plugin's own pointer), or NULL.  Since: 1.0 */
POPLAR_API void *poplar_plugin_get_data(const PoplarPlugin *plugin);

/**
 * poplar_session_id:
 * Returns: a short id, unique over the server's lifetime, that is on every
 * log line about this session; valid until the session ends.
 * Since: 1.0
 */
POPLAR_API const char *poplar_session_id(const PoplarSession *session);

/**
 * poplar_session_remote_address:
 * Returns: the client's address as text ("192.0.2.7", "2001:db8::7").
 * Behind a trusted proxy this is the address the proxy reported.  Valid
 * until the session ends.
 * Since: 1.0
 */
POPLAR_API const char *poplar_session_remote_address(const PoplarSession *s);

/** poplar_session_remote_port: Returns: the client's port.  Since: 1.0 */
POPLAR_API unsigned poplar_session_remote_port(const PoplarSession *s);

/** poplar_session_local_address: Returns: the address the client reached;
 * valid until the session ends.  Since: 1.0 */
POPLAR_API const char *poplar_session_local_address(const PoplarSession *s);

/** poplar_session_local_port: Returns: the port the client reached.
 * Since: 1.0 */
POPLAR_API unsigned poplar_session_local_port(const PoplarSession *s);

/**
 * poplar_session_is_trusted:
 * Returns: true when the client is on a trusted network (loopback or one
 * listed in trusted-networks), where plaintext passwords are allowed
 * without TLS.
 * Since: 1.0
 */
POPLAR_API bool poplar_session_is_trusted(const PoplarSession *s);

/** poplar_session_is_tls: Returns: true once TLS protects the connection.
 * Since: 1.0 */
POPLAR_API bool poplar_session_is_tls(const PoplarSession *s);

/**
 * poplar_session_tls_version:
 * Returns: e.g. "TLS1.3", or NULL without TLS.  Like the cipher and SNI
 * below, set once when the handshake completes and valid until the session
 * ends.
 * Since: 1.0
 */
POPLAR_API const char *poplar_session_tls_version(const PoplarSession *s);

/** poplar_session_tls_cipher: Returns: the cipher suite name, or NULL.
 * Since: 1.0 */
POPLAR_API const char *poplar_session_tls_cipher(const PoplarSession *s);

/** poplar_session_tls_sni: Returns: the server name the client asked for,
 * or NULL.  Since: 1.0 */
POPLAR_API const char *poplar_session_tls_sni(const PoplarSession *s);

/**
 * poplar_session_user:
 * Returns: the authenticated user name, or NULL before authentication.
 * Set once, at login; valid until the session ends.
 * Since: 1.0
 */
POPLAR_API const char *poplar_session_user(const PoplarSession *s);

/**
 * poplar_session_mailbox:
 * Returns: the open mailbox, or NULL outside the TRANSACTION state.  It
 * stays open (and the pointer valid) until the session ends.
 * Since: 1.0
 */
POPLAR_API PoplarMailbox *poplar_session_mailbox(const PoplarSession *s);

/**
 * poplar_session_start_time:
 * Returns: when the connection was accepted, in microseconds since the Unix
 * epoch.
 * Since: 1.0
 */
POPLAR_API int64_t poplar_session_start_time(const PoplarSession *s);

/** poplar_session_bytes_in: Returns: octets received from the client so
 * far (after TLS decryption).  Since: 1.0 */
POPLAR_API uint64_t poplar_session_bytes_in(const PoplarSession *s);

/** poplar_session_bytes_out: Returns: octets sent to the client so far
 * (before TLS encryption).  Since: 1.0 */
POPLAR_API uint64_t poplar_session_bytes_out(const PoplarSession *s);

/**
 * poplar_session_get_data:
 * Returns: what @plugin stored in this session with
 * poplar_session_set_data() (the plugin's own pointer), or NULL.  Each
 * plugin has its own slot.
 * Since: 1.0
 */
POPLAR_API void *poplar_session_get_data(const PoplarSession *s,
                                         const PoplarPlugin *plugin);

/**
 * poplar_session_set_data:
 * @data: borrowed: the core keeps the pointer and never frees it itself
 * @free_func: (optional): called on @data when it is replaced by another
 * pointer or when the session ends (on a plugin thread, after the
 * disconnect hooks); exactly once per stored pointer.  Storing the same
 * pointer again does not free it.  Without a free function the plugin
 * keeps @data's ownership entirely.
 *
 * Stores @data in @plugin's slot of the session.
 * Since: 1.0
 */
POPLAR_API void poplar_session_set_data(PoplarSession *s,
                                        const PoplarPlugin *plugin, void *data,
                                        void (*free_func)(void *data));

POPLAR_END_DECLS

#endif /* POPLAR_SESSION_H */
