/* SPDX-License-Identifier: MIT */
/**
 * poplar/store.h - mail stores, mailboxes and messages.
 *
 * A store serves mailboxes of one location scheme ("maildir:", "mbox:").
 * At login the core expands the user's mail location, picks the store by
 * its scheme and calls open, which locks the mailbox and lists its messages
 * with poplar_mailbox_add_message().  RETR and TOP read a message through
 * message_open/message_read/message_close; the core converts line ends to
 * CRLF and dot-stuffs on the way, so a store hands over the message exactly
 * as it is stored (LF or CRLF line ends).  A store that keeps some messages
 * exactly as they are sent may also offer them as a file range
 * (message_open_fd, since 1.1), which the core then sends with sendfile().
 * Deletions are applied only at UPDATE, through expunge, which reports what
 * it removed (poplar_message_set_expunged(), since 1.1); close is always
 * called last, after a QUIT or a dropped connection, and must release the
 * lock.
 *
 * Errors: every operation that can fail explains itself with
 * poplar_mailbox_set_error() on the mailbox it works on.  The core logs
 * that text with the session id (never to the client) after the operation
 * returns, and clears it.  message_read has no mailbox argument: a store
 * keeps the mailbox it was given at message_open in its read handle and
 * sets the error there (both stores of this tree do); since 1.1 the core
 * logs it for RETR, TOP and hook readers (poplar_message_reader_read())
 * alike.
 *
 * Sizes: the size given to poplar_mailbox_add_message() must be the
 * message's size as the core sends it: every bare LF counted as CRLF, and a
 * final CRLF counted when the message does not end with a line end.  Use
 * poplar_crlf_size_feed() to compute it the same way the core sends it.
 *
 * All callbacks run on a core plugin thread and may block.
 *
 * Lifetimes: a PoplarMailbox, its PoplarMessages and the strings their
 * accessors return are owned by the core and stay valid from open until
 * close returns (after a failed open, until open returns); message handles
 * do not move while open adds more.  Hooks see the session's mailbox until
 * the session ends.  What the store attaches (mailbox data, message data,
 * read streams) stays the store's: the core never frees it.
 */
#ifndef POPLAR_STORE_H
#define POPLAR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <poplar/session.h>
#include <poplar/version.h>

POPLAR_BEGIN_DECLS

/** One message of an open mailbox.  Opaque.  Since: 1.0 */
typedef struct PoplarMessage PoplarMessage;

/** What a store operation answers.  Append-only.  Since: 1.0 */
typedef enum PoplarStoreResult {
  POPLAR_STORE_OK = 0,
  /** Another session holds the mailbox: -ERR [IN-USE]. */
  POPLAR_STORE_IN_USE = 1,
  /** A transient failure (I/O error, disk full): -ERR [SYS/TEMP]. */
  POPLAR_STORE_TEMPFAIL = 2,
  /** A failure retrying will not fix (bad location, wrong format):
   * -ERR [SYS/PERM]. */
  POPLAR_STORE_PERMFAIL = 3,
  /** The message no longer exists (removed by another program): RETR gets
   * a clear -ERR and the session goes on. */
  POPLAR_STORE_GONE = 4,
} PoplarStoreResult;

/**
 * PoplarStoreOps:
 * Registered with poplar_register_store() together with its sizeof.  All
 * members are required except destroy.
 * Since: 1.0
 */
typedef struct PoplarStoreOps {
  /** Locks and lists the mailbox at @location (scheme prefix removed,
   * %-expansions done; the same string as poplar_mailbox_location(), valid
   * as long as the mailbox).  On failure, explain with
   * poplar_mailbox_set_error(); close is not called after a failed
   * open, so free what open allocated before returning. */
  PoplarStoreResult (*open)(void *data, PoplarMailbox *mbox,
                            const char *location);
  /** Opens @msg for reading; stores a read handle in *@stream, which the
   * store owns.  After OK the core always calls message_close on it
   * (also when the client disconnects mid-transfer); after a failure it
   * does not. */
  PoplarStoreResult (*message_open)(void *data, PoplarMailbox *mbox,
                                    PoplarMessage *msg, void **stream);
  /** Reads up to @len octets into @buf (the core's, valid during this
   * call only).  Returns the count, 0 at the end, or -1 on an error
   * (explain with poplar_mailbox_set_error() on the mailbox the handle was
   * opened for; keep it in the handle). */
  int64_t (*message_read)(void *data, void *stream, char *buf, size_t len);
  /** Closes a read handle and frees what message_open allocated. */
  void (*message_close)(void *data, void *stream);
  /** Removes every message for which poplar_message_is_deleted() is true.
   * Called at UPDATE only.  A message already gone is not an error.
   * Since 1.1 a store reports each message it removed (or found already
   * gone) with poplar_message_set_expunged(), so that a failure part way
   * is logged and told to the update_after hooks as it is; a store that
   * reports none is taken to have removed every marked message when it
   * returns POPLAR_STORE_OK and none otherwise (what 1.0 stores mean). */
  PoplarStoreResult (*expunge)(void *data, PoplarMailbox *mbox);
  /** Releases the mailbox and its lock, and frees what open allocated:
   * the mailbox data (poplar_mailbox_set_data()) and every message's data
   * (poplar_mailbox_add_message()).  Neither @mbox nor its messages may be
   * used after close returns. */
  void (*close)(void *data, PoplarMailbox *mbox);
  /** Frees @data at shutdown, after the last session; called once, and
   * only for a registration that succeeded.  May be NULL. */
  void (*destroy)(void *data);
  /**
   * Since: 1.1.  May be NULL (a store built against 1.0 has it NULL).
   *
   * Opens @msg for RETR like message_open (a read handle in *@stream,
   * closed with message_close), and may also offer the message as a range
   * of a file the core sends with sendfile(): a descriptor open for
   * reading in *@fd, and the range in *@offset and *@length.  Offer it only
   * when those octets are exactly what the core would send before the
   * terminating ".": only CRLF line ends, no line starting with '.', the
   * last line ended by CRLF, and @length equal to the size given to
   * poplar_mailbox_add_message().
   *
   * "Not for this message": return POPLAR_STORE_OK and leave *@fd at -1
   * (the core sets it so before the call); the core then reads *@stream
   * with message_read as it would after message_open.  Any other result
   * means what it means for message_open, and *@stream is not used.
   *
   * Ownership: *@fd stays the store's.  The core never closes it and only
   * passes it to sendfile() with an explicit offset (the descriptor's own
   * file offset is neither used nor moved); it must stay open until
   * message_close(*@stream), which is where the store closes it.  The core
   * may call sendfile() on it from any of its plugin threads, one at a
   * time.
   *
   * The core calls message_open_fd instead of message_open only for RETR
   * on a plain TCP connection (not TLS) of a message to which no hook
   * added headers; in every other case it calls message_open.  If the file
   * turns out shorter than *@length while it is sent, the core closes the
   * connection (a size already announced cannot be corrected) and logs it.
   */
  PoplarStoreResult (*message_open_fd)(void *data, PoplarMailbox *mbox,
                                       PoplarMessage *msg, void **stream,
                                       int *fd, uint64_t *offset,
                                       uint64_t *length);
  /**
   * Since: 1.1.  May be NULL.
   *
   * Where the core keeps the mailbox's policy state for EXPIRE and
   * LOGIN-DELAY (when each message was first retrieved, when the user
   * last logged in): an absolute file path in storage that every server
   * sharing the mailbox sees, written only while this mailbox is open
   * (under the store's lock).  Called after a successful open; the
   * string is the store's and must stay valid until close.  Returning
   * NULL opts out: the policies are then announced but not enforced for
   * this mailbox, and the core logs so.
   *
   * When this member is NULL the core uses "poplar-retrieved" inside the
   * location when the location is a directory (Maildir-like stores), and
   * ".NAME.poplar-retrieved" beside it when it is a file.
   */
  const char *(*policy_state_path)(void *data, PoplarMailbox *mbox);
} PoplarStoreOps;

/**
 * poplar_register_store:
 * @scheme: the location scheme without the colon, e.g. "maildir"; copied
 * @ops: copied during the call
 * @data: handed to every callback; borrowed: the core never frees it,
 * ops->destroy does
 *
 * Call from init.  A scheme can be registered once.  When it fails,
 * destroy is not called: the plugin frees @data itself.
 * Returns: false when the scheme is taken or an argument is bad (logged).
 * Since: 1.0
 */
POPLAR_API bool poplar_register_store(PoplarPlugin *plugin, const char *scheme,
                                      const PoplarStoreOps *ops,
                                      size_t ops_size, void *data);

/** poplar_mailbox_session: Returns: the session that opened the mailbox,
 * valid until that session ends.  Since: 1.0 */
POPLAR_API PoplarSession *poplar_mailbox_session(const PoplarMailbox *mbox);

/** poplar_mailbox_user: Returns: the authenticated user; owned by the
 * mailbox, valid until close returns.  Since: 1.0 */
POPLAR_API const char *poplar_mailbox_user(const PoplarMailbox *mbox);

/** poplar_mailbox_location: Returns: the expanded location, without the
 * scheme; owned by the mailbox, valid until close returns.  Since: 1.0 */
POPLAR_API const char *poplar_mailbox_location(const PoplarMailbox *mbox);

/** poplar_mailbox_field: Returns: a field the password database attached
 * to the login (see poplar_auth_request_set_field()), or NULL; owned by
 * the mailbox, valid until close returns.  Since: 1.0 */
POPLAR_API const char *poplar_mailbox_field(const PoplarMailbox *mbox,
                                            const char *key);

/**
 * PoplarDeleteMode:
 * What removing a message means, from [server] delete.  Append-only.
 * Since: 1.1
 */
typedef enum PoplarDeleteMode {
  /** The message is deleted for good (the default). */
  POPLAR_DELETE_UNLINK = 0,
  /** The message moves to another folder of the user's (a Maildir++
   * folder such as ".Trash"), where other mail programs still see it. */
  POPLAR_DELETE_TRASH = 1,
  /** The message stays where it is, marked so that POP3 never lists it
   * again (the store's own mark; store-maildir uses the T flag). */
  POPLAR_DELETE_HIDE = 2,
} PoplarDeleteMode;

/**
 * poplar_mailbox_delete_mode:
 * @folder: (out) (optional): the folder of POPLAR_DELETE_TRASH, owned by
 * the mailbox and valid until close returns; NULL for the other modes
 *
 * How the store's expunge is to remove messages ([server] delete), and
 * which messages its open should leave out (those it hid with
 * POPLAR_DELETE_HIDE).  A store that cannot honour a mode fails its
 * expunge with POPLAR_STORE_PERMFAIL and says why
 * (poplar_mailbox_set_error()) rather than deleting for good.
 * Returns: the mode; POPLAR_DELETE_UNLINK when none was configured.
 * Since: 1.1
 */
POPLAR_API PoplarDeleteMode
poplar_mailbox_delete_mode(const PoplarMailbox *mbox, const char **folder);

/** poplar_mailbox_set_data: Stores the store's own state for this mailbox.
 * Borrowed: the core keeps the pointer and never frees it; the store frees
 * it in close (or, when open fails after setting it, before open returns).
 * Since: 1.0 */
POPLAR_API void poplar_mailbox_set_data(PoplarMailbox *mbox, void *data);

/** poplar_mailbox_get_data: Returns: what the store set (its own
 * pointer), or NULL.  Since: 1.0 */
POPLAR_API void *poplar_mailbox_get_data(const PoplarMailbox *mbox);

/**
 * poplar_mailbox_set_error:
 * Explains the failure of the current store operation.  The text goes to
 * the log (with the session id), never to the client, which gets a
 * generic -ERR with the right response code.  The text is formatted and
 * copied during the call.
 * Since: 1.0
 */
POPLAR_API void poplar_mailbox_set_error(PoplarMailbox *mbox,
                                         const char *fmt, ...)
    POPLAR_PRINTF(2, 3);

/**
 * poplar_store_result_from_errno:
 * @err: the errno of a failed system call
 *
 * What a store answers for a failed system call, so that every store
 * gives the client the same response code for the same failure:
 * POPLAR_STORE_PERMFAIL (-ERR [SYS/PERM]) for what only an administrator
 * can fix: EACCES, EPERM, ENOTDIR, EISDIR, ELOOP, ENAMETOOLONG, EROFS;
 * POPLAR_STORE_TEMPFAIL (-ERR [SYS/TEMP]) for everything else: I/O
 * errors, a full disk or quota, no memory or descriptors left, a stale NFS
 * handle, an unknown errno, and 0.
 *
 * ENOENT is TEMPFAIL too: a mailbox may be missing only until its first
 * delivery.  A store that finds a listed message's file gone answers
 * POPLAR_STORE_GONE itself, since only it knows the file was there.
 *
 * Returns: POPLAR_STORE_PERMFAIL or POPLAR_STORE_TEMPFAIL, never
 * POPLAR_STORE_OK.
 * Since: 1.1
 */
POPLAR_API PoplarStoreResult poplar_store_result_from_errno(int err);

/**
 * poplar_mailbox_add_message:
 * @uidl: 1 to 70 characters in 0x21..0x7E (RFC 1939), unique in the
 * mailbox and never reused for another message; copied, so one buffer may
 * serve every call
 * @size: the message's size as sent (see the top of this file)
 * @data: the store's handle for the message (e.g. its file name);
 * borrowed: the core keeps the pointer, which must stay valid until close,
 * and never frees it; the store frees it in close.  When the call returns
 * NULL the core keeps nothing: free it then if it was made for this
 * message.
 *
 * Adds a message, in POP3 order (the first added is message 1).  Call from
 * open only.
 * Returns: the message, owned by the mailbox and valid until close
 * returns; or NULL when @uidl is invalid or already in the mailbox
 * (logged; the store should skip that message or fail the open).
 * Since: 1.0
 */
POPLAR_API PoplarMessage *poplar_mailbox_add_message(PoplarMailbox *mbox,
                                                     const char *uidl,
                                                     uint64_t size,
                                                     void *data);

/** poplar_mailbox_message_count: Returns: the number of messages added,
 * hidden ones included.  Since: 1.0 */
POPLAR_API size_t poplar_mailbox_message_count(const PoplarMailbox *mbox);

/** poplar_mailbox_message: Returns: message @index (0-based, in the order
 * added), or NULL past the end; valid until close returns.  Since: 1.0 */
POPLAR_API PoplarMessage *poplar_mailbox_message(const PoplarMailbox *mbox,
                                                 size_t index);

/** poplar_message_uidl: Returns: the unique id, the core's copy; valid
 * until close returns.  Since: 1.0 */
POPLAR_API const char *poplar_message_uidl(const PoplarMessage *msg);

/** poplar_message_size: Returns: the size as sent, including headers that
 * hooks added.  Since: 1.0 */
POPLAR_API uint64_t poplar_message_size(const PoplarMessage *msg);

/** poplar_message_number: Returns: the POP3 message number the client sees,
 * or 0 for a hidden message or before numbering (during open).
 * Since: 1.0 */
POPLAR_API unsigned poplar_message_number(const PoplarMessage *msg);

/** poplar_message_get_data: Returns: the store's handle (its own
 * pointer).  Since: 1.0 */
POPLAR_API void *poplar_message_get_data(const PoplarMessage *msg);

/** poplar_message_is_deleted: Returns: true when marked with DELE (and not
 * RSET).  Since: 1.0 */
POPLAR_API bool poplar_message_is_deleted(const PoplarMessage *msg);

/**
 * poplar_message_set_hidden:
 * Hides a message from the client (not listed, not numbered, never
 * deleted).  Only from a mailbox-open hook.
 * Since: 1.0
 */
POPLAR_API void poplar_message_set_hidden(PoplarMessage *msg, bool hidden);

/**
 * poplar_message_set_deleted:
 * Marks @msg deleted (or unmarks it) as DELE does, from a mailbox-open hook
 * only: a policy such as a spam filter's "delete".  The message is removed
 * at the UPDATE of a session the client ends with QUIT, and kept when the
 * session ends any other way.  Usually combined with
 * poplar_message_set_hidden(), so that the client never sees it.
 * Since: 1.0
 */
POPLAR_API void poplar_message_set_deleted(PoplarMessage *msg, bool deleted);

/**
 * poplar_message_set_expunged:
 * Tells the core that the store's expunge removed @msg (or found it
 * already gone).  From a store's expunge only, for messages marked
 * deleted; the core clears every such mark before it calls expunge.  See
 * PoplarStoreOps.expunge for stores that never call it.
 * Since: 1.1
 */
POPLAR_API void poplar_message_set_expunged(PoplarMessage *msg,
                                            bool expunged);

/**
 * poplar_message_is_expunged:
 * Returns: true when the UPDATE of this session removed @msg.  Meaningful
 * from the update_after hooks on (false before the expunge).
 * Since: 1.1
 */
POPLAR_API bool poplar_message_is_expunged(const PoplarMessage *msg);

/** poplar_message_is_hidden: Since: 1.0 */
POPLAR_API bool poplar_message_is_hidden(const PoplarMessage *msg);

/**
 * poplar_message_add_header:
 * Prepends "@name: @value" CRLF to the message as the client sees it, and
 * grows its size to match.  Only from a mailbox-open hook (so that LIST
 * sizes stay exact).  @name must be a valid header name and @value must not
 * contain CR or LF.  Both are copied.
 * Returns: false on an invalid name or value (logged).
 * Since: 1.0
 */
POPLAR_API bool poplar_message_add_header(PoplarMessage *msg, const char *name,
                                          const char *value);

/** A message opened for reading by a hook.  Opaque.  Since: 1.0 */
typedef struct PoplarMessageReader PoplarMessageReader;

/**
 * poplar_message_reader_open:
 * Opens @msg for reading as the store has it (no headers added by hooks,
 * no CRLF conversion), for hooks that inspect content (a spam filter).
 * Returns: the reader, or NULL on failure (logged).  The caller owns it:
 * close it with poplar_message_reader_close() (never free()) before the
 * callback that opened it returns, as the store may invalidate it
 * later.
 * Since: 1.0
 */
POPLAR_API PoplarMessageReader *
poplar_message_reader_open(PoplarMailbox *mbox, PoplarMessage *msg);

/** poplar_message_reader_read: Reads up to @len octets into @buf, the
 * caller's.  Returns: octets read, 0 at the end, -1 on error.
 * Since: 1.0 */
POPLAR_API int64_t poplar_message_reader_read(PoplarMessageReader *reader,
                                              char *buf, size_t len);

/** poplar_message_reader_close: Closes the store's stream and frees the
 * reader.  NULL is ignored.  Since: 1.0 */
POPLAR_API void poplar_message_reader_close(PoplarMessageReader *reader);

/**
 * PoplarCrlfSize:
 * State for counting a message's size as the core sends it, in the
 * caller's memory (the core keeps no pointer to it).  Initialise with
 * poplar_crlf_size_init().  Since: 1.0
 */
typedef struct PoplarCrlfSize {
  uint64_t octets;
  int last; /* last octet seen, or -1 before any */
  int reserved; /* libpoplar's own (since 1.1); leave it alone */
} PoplarCrlfSize;

/** poplar_crlf_size_init: Since: 1.0 */
POPLAR_API void poplar_crlf_size_init(PoplarCrlfSize *state);

/** poplar_crlf_size_feed: Counts @len more octets of the stored message;
 * @buf is read during the call only.  Since: 1.0 */
POPLAR_API void poplar_crlf_size_feed(PoplarCrlfSize *state, const void *buf,
                                      size_t len);

/** poplar_crlf_size_finish: Returns: the size as sent.  Since: 1.0 */
POPLAR_API uint64_t poplar_crlf_size_finish(const PoplarCrlfSize *state);

/**
 * poplar_crlf_size_sent_as_stored:
 * Tells whether the core sends the octets fed so far exactly as they are
 * stored (before the terminating "."): every LF preceded by CR, no line
 * starting with '.', and the last line ended (an empty message too).
 * Such a message may be offered through PoplarStoreOps.message_open_fd.
 * Since: 1.1
 */
POPLAR_API bool
poplar_crlf_size_sent_as_stored(const PoplarCrlfSize *state);

POPLAR_END_DECLS

#endif /* POPLAR_STORE_H */
