/* SPDX-License-Identifier: MIT */
/**
 * poplar/hook.h - milter-style hooks on every step of a session.
 *
 * A hook plugin registers a table of callbacks, one per hook point; a NULL
 * member skips that point.  Hooks run in the order their plugins are
 * loaded, on a core plugin thread (they may block).  Each answers a
 * verdict:
 *
 *  - POPLAR_CONTINUE: carry on with the next hook, then the command;
 *  - POPLAR_ACCEPT: skip the remaining hooks of this point, carry on;
 *  - POPLAR_REJECT: refuse the step with -ERR and the text (and response
 *    code) set by poplar_hook_reply(); the session goes on;
 *  - POPLAR_TEMPFAIL: refuse with -ERR [SYS/TEMP];
 *  - POPLAR_DISCONNECT: send the reply (if any) and close the connection.
 *
 * What a refusal means at each point: connect - the greeting becomes -ERR
 * and the connection closes; tls - the connection closes; auth_before -
 * the login fails without asking a database; auth_after - a successful
 * login is turned into a failure; mailbox_open - the login fails and the
 * mailbox is released; message_retrieve - RETR/TOP get -ERR; message_delete
 * - DELE gets -ERR and the message stays; update_before - QUIT gets -ERR,
 * nothing is deleted, the connection closes.  The verdicts of the
 * notification-only points (update_after, disconnect, message_sent, rset)
 * are ignored.
 *
 * Pointers a hook receives are the core's: the session is valid until it
 * ends (see poplar/session.h), the mailbox and its messages until the
 * session ends (or, when a mailbox_open hook refuses, until that hook
 * point is over), an authentication request until the auth_after hooks
 * return.  Keep nothing from them beyond the session; copy what you need.
 */
#ifndef POPLAR_HOOK_H
#define POPLAR_HOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <poplar/auth.h>
#include <poplar/session.h>
#include <poplar/store.h>
#include <poplar/version.h>

POPLAR_BEGIN_DECLS

/** A hook's answer.  Append-only.  Since: 1.0 */
typedef enum PoplarVerdict {
  POPLAR_CONTINUE = 0,
  POPLAR_ACCEPT = 1,
  POPLAR_REJECT = 2,
  POPLAR_TEMPFAIL = 3,
  POPLAR_DISCONNECT = 4,
} PoplarVerdict;

/** Why a session ended.  Append-only.  Since: 1.0 */
typedef enum PoplarDisconnectReason {
  /** The client sent QUIT. */
  POPLAR_DISCONNECT_QUIT = 0,
  /** The client was idle past the configured timeout. */
  POPLAR_DISCONNECT_TIMEOUT = 1,
  /** The client closed the connection (or it broke) without QUIT. */
  POPLAR_DISCONNECT_CLIENT_CLOSED = 2,
  /** The server ended it: protocol violation, hook verdict, I/O error. */
  POPLAR_DISCONNECT_ERROR = 3,
  /** The server is shutting down. */
  POPLAR_DISCONNECT_SHUTDOWN = 4,
} PoplarDisconnectReason;

/** The result an auth_after hook is told.  Append-only.  Since: 1.0 */
typedef enum PoplarAuthOutcome {
  POPLAR_AUTH_SUCCEEDED = 0,
  POPLAR_AUTH_FAILED = 1,
  POPLAR_AUTH_TEMPFAILED = 2,
} PoplarAuthOutcome;

/**
 * PoplarHookOps:
 * Registered with poplar_register_hook() together with its sizeof.  New
 * hook points are appended in later minors.
 * Since: 1.0
 */
typedef struct PoplarHookOps {
  /** A client connected, before the greeting. */
  PoplarVerdict (*connect)(void *data, PoplarSession *s);
  /** The TLS handshake completed (implicit TLS or STLS). */
  PoplarVerdict (*tls)(void *data, PoplarSession *s);
  /** A login attempt, before any password database is asked.  The user
   * name and mechanism are known; the password is never shown to hooks. */
  PoplarVerdict (*auth_before)(void *data, PoplarSession *s,
                               PoplarAuthRequest *req);
  /** A login attempt's outcome.  A refusal turns a success into a
   * failure. */
  PoplarVerdict (*auth_after)(void *data, PoplarSession *s,
                              PoplarAuthRequest *req,
                              PoplarAuthOutcome outcome);
  /** The mailbox is open and listed, before the client sees it.  The hook
   * may hide messages and add headers. */
  PoplarVerdict (*mailbox_open)(void *data, PoplarSession *s,
                                PoplarMailbox *mbox);
  /** RETR or TOP of @msg, before it is sent.  @top_lines is -1 for RETR. */
  PoplarVerdict (*message_retrieve)(void *data, PoplarSession *s,
                                    PoplarMessage *msg, long top_lines);
  /** DELE of @msg, before it is marked. */
  PoplarVerdict (*message_delete)(void *data, PoplarSession *s,
                                  PoplarMessage *msg);
  /** QUIT in TRANSACTION, before the store expunges. */
  PoplarVerdict (*update_before)(void *data, PoplarSession *s,
                                 PoplarMailbox *mbox);
  /** After the expunge; @committed is false when the store failed.
   * Since 1.1, poplar_message_is_expunged() tells which messages were
   * removed, also when the store failed part way.  The verdict is
   * ignored. */
  PoplarVerdict (*update_after)(void *data, PoplarSession *s,
                                PoplarMailbox *mbox, bool committed);
  /** The session is over.  The verdict is ignored. */
  PoplarVerdict (*disconnect)(void *data, PoplarSession *s,
                              PoplarDisconnectReason reason);
  /** A RETR or TOP transfer ended: @octets were queued to the client
   * (dot-stuffing included); @complete is false when the connection or the
   * store failed part way.  The verdict is ignored. */
  PoplarVerdict (*message_sent)(void *data, PoplarSession *s,
                                PoplarMessage *msg, long top_lines,
                                uint64_t octets, bool complete);
  /** RSET unmarked every message.  The verdict is ignored. */
  PoplarVerdict (*rset)(void *data, PoplarSession *s, PoplarMailbox *mbox);
  /** Frees @data at shutdown, after the last session; called once, and
   * only for a registration that succeeded.  May be NULL (tables that
   * share one @data give it to one destroy only). */
  void (*destroy)(void *data);
} PoplarHookOps;

/**
 * poplar_register_hook:
 * @ops: copied during the call: the table may live on the stack
 * @data: handed to every callback; borrowed: the core never frees it,
 * ops->destroy does (not called when the registration fails)
 *
 * Call from init.  A plugin may register several hook tables.
 * Returns: false on a bad argument (logged).
 * Since: 1.0
 */
POPLAR_API bool poplar_register_hook(PoplarPlugin *plugin,
                                     const PoplarHookOps *ops, size_t ops_size,
                                     void *data);

/**
 * poplar_hook_reply:
 * @resp_code: an RFC 2449/3206 response code without brackets ("AUTH",
 * "SYS/PERM", "LOGIN-DELAY"), or NULL
 *
 * Sets the text of the -ERR the client gets when the calling hook answers
 * POPLAR_REJECT or POPLAR_DISCONNECT.  CR, LF and other control characters
 * in the text are replaced by spaces.  The code and the formatted text are
 * copied during the call.
 * Since: 1.0
 */
POPLAR_API void poplar_hook_reply(PoplarSession *s, const char *resp_code,
                                  const char *fmt, ...) POPLAR_PRINTF(3, 4);

POPLAR_END_DECLS

#endif /* POPLAR_HOOK_H */
