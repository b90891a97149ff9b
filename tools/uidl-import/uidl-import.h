/* SPDX-License-Identifier: MIT */
/*
 * poplar-uidl-import: carries the UIDLs an old POP3 server showed over to
 * the copy of the same mail in a Poplar Maildir, so that clients which
 * keep mail on the server download nothing twice after the move.
 *
 * For each user it logs in to the old server, reads UIDL, LIST and the
 * header of every message (TOP n 0), reads the user's Maildir, matches the
 * two by a hash of the normalised header and the size (the way Dovecot's
 * pop3-migration plugin does), and records "<unique part> <old UIDL>"
 * lines in <Maildir>/poplar-uidls, which store-maildir prefers to every
 * other UIDL rule.
 *
 * Files, one job each:
 *   pop3-client.c    a blocking POP3 client over TCP, STLS or implicit TLS
 *   old-mailbox.c    what the old server says: UIDL, LIST, TOP n 0
 *   credentials.c    the users file and the master password file
 *   header-key.c     the normalised header hash both sides are keyed by
 *   maildir-reader.c the messages of the Poplar Maildir, in POP3 order
 *   matcher.c        pairs old messages with Maildir messages
 *   uidl-record.c    reads, merges and writes poplar-uidls under the lock
 *   import-user.c    one user from login to summary
 *   driver.c         many users on a bounded thread pool, the summaries
 *   main.c           options
 */
#ifndef POPLAR_UIDL_IMPORT_H
#define POPLAR_UIDL_IMPORT_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define UIDL_IMPORT_ERROR (uidl_import_error_quark())
GQuark uidl_import_error_quark(void);

typedef enum {
  UIDL_IMPORT_ERROR_FAILED,   /* anything else */
  UIDL_IMPORT_ERROR_USAGE,    /* a bad option or input file */
  UIDL_IMPORT_ERROR_NETWORK,  /* connection, TLS, timeout */
  UIDL_IMPORT_ERROR_PROTOCOL, /* the server said -ERR or nonsense */
  UIDL_IMPORT_ERROR_IN_USE,   /* a POP3 session holds the Maildir */
  UIDL_IMPORT_ERROR_FORMAT,   /* poplar-uidls is not a file we understand */
} UidlImportErrorCode;

/* The header key: hex SHA-256 of the normalised header. */
#define HEADER_KEY_LEN 64

/* ---- header-key.c ------------------------------------------------------ */

/* Hashes a message header incrementally.  Feed it the message from its
 * first byte (CRLF or LF line ends, dot-unstuffed); it stops by itself at
 * the empty line that ends the header. */
typedef struct HeaderKey HeaderKey;

HeaderKey *header_key_new(void);
void header_key_free(HeaderKey *key);
/* Feeds @len bytes; returns false once the end of the header was seen (the
 * rest of the message does not matter). */
bool header_key_feed(HeaderKey *key, const char *data, size_t len);
/* Writes the key (HEADER_KEY_LEN hex digits and a NUL) to @out. */
void header_key_finish(HeaderKey *key, char out[HEADER_KEY_LEN + 1]);
/* The octets of the header lines a mail store adds or hides (Status,
 * X-UID, ...), as fed (@raw) and with CRLF line ends (@crlf): an old
 * server that hides them reports a size without them. */
void header_key_store_size(const HeaderKey *key, uint64_t *raw,
                           uint64_t *crlf);
/* The key of a whole header in one call. */
void header_key_of(const char *data, size_t len, char out[HEADER_KEY_LEN + 1]);

/* ---- pop3-client.c ----------------------------------------------------- */

typedef enum {
  POP3_TLS_NO,       /* plain TCP: for a trusted network or tests */
  POP3_TLS_STARTTLS, /* STLS (RFC 2595) before logging in */
  POP3_TLS_IMPLICIT, /* TLS from the first byte (RFC 8314), port 995 */
} Pop3TlsMode;

typedef struct {
  char *host;
  char *port;
  Pop3TlsMode tls;
  char *ca_file;     /* NULL: the system's trust store */
  bool insecure;     /* no certificate check at all (tests only) */
  unsigned timeout_s;
} Pop3ServerConfig;

typedef struct Pop3Client Pop3Client;

/* Connects, reads the greeting and, for STARTTLS, upgrades. */
Pop3Client *pop3_client_connect(const Pop3ServerConfig *server,
                                GError **error);
void pop3_client_free(Pop3Client *client);
/* USER/PASS. */
bool pop3_client_login(Pop3Client *client, const char *user,
                       const char *password, GError **error);
/* AUTH PLAIN (RFC 4616) as @authcid with @password, for @authzid. */
bool pop3_client_auth_plain(Pop3Client *client, const char *authzid,
                            const char *authcid, const char *password,
                            GError **error);
/* Sends @command and reads a single-line reply; *@reply (optional) gets
 * its text after "+OK ". */
bool pop3_client_command(Pop3Client *client, const char *command,
                         char **reply, GError **error);
/* Sends @command and reads a multi-line reply, dot-unstuffed, lines joined
 * with "\n" after each. */
bool pop3_client_multiline(Pop3Client *client, const char *command,
                           GString **body, GError **error);
/* QUIT, ignoring failures: nothing depends on it. */
void pop3_client_quit(Pop3Client *client);

/* Global GnuTLS set-up; call once before any thread connects. */
bool pop3_client_global_init(GError **error);

/* ---- old-mailbox.c ----------------------------------------------------- */

typedef struct {
  unsigned number; /* message number on the old server */
  char *uidl;
  uint64_t size;   /* as LIST gave it */
  char key[HEADER_KEY_LEN + 1];
} OldMessage;

/* Reads UIDL, LIST and TOP n 0 of every message from a logged-in
 * session.  Returns an array of OldMessage in message-number order. */
GArray *old_mailbox_read(Pop3Client *client, GError **error);
void old_message_clear(OldMessage *msg);

/* ---- maildir-reader.c -------------------------------------------------- */

typedef struct {
  char *file;        /* name in cur/ or new/ */
  char *base;        /* unique part: the key of poplar-uidls */
  char *poplar_uidl; /* the UIDL Poplar gives it without a record */
  uint64_t size;     /* as Poplar sends it (CRLF) */
  uint64_t raw_size; /* as stored (bare LF, typically) */
  uint64_t store_headers_size;     /* header_key_store_size(): CRLF */
  uint64_t store_headers_raw_size; /* ... and as stored */
  bool shared_base;  /* another file has the same unique part */
  char key[HEADER_KEY_LEN + 1];
} NewMessage;

/* Reads every message of the Maildir at @path (absolute; never created),
 * in Poplar's POP3 order.  Returns an array of NewMessage. */
GArray *maildir_reader_read(const char *path, GError **error);
void new_message_clear(NewMessage *msg);

/* ---- matcher.c --------------------------------------------------------- */

typedef enum {
  MATCH_PAIRED,
  MATCH_UNMATCHED,     /* no Maildir message has its header */
  MATCH_AMBIGUOUS,     /* its header (and size) are shared, counts differ */
  MATCH_BAD_UIDL,      /* the old server's UIDL is invalid or repeated */
  MATCH_SIZE_DIFFERS,  /* the header is there, but no size fits */
} MatchOutcome;

typedef struct {
  MatchOutcome outcome;
  guint new_index;   /* MATCH_PAIRED: index into the NewMessage array */
  bool size_differs; /* MATCH_PAIRED by header alone: no size fits */
  unsigned n_old;    /* MATCH_AMBIGUOUS: old messages of this header+size */
  unsigned n_new;    /* MATCH_AMBIGUOUS: Maildir messages that fit them */
} MatchResult;

/* Pairs each old message with a Maildir message by header key, using
 * sizes where a key is shared by different numbers of messages on the two
 * sides, or always with @require_size; see matcher.c for the rules.
 * Returns one MatchResult per old message (same index). */
GArray *match_messages(const GArray *old_msgs, const GArray *new_msgs,
                       bool require_size);

/* ---- uidl-record.c ----------------------------------------------------- */

#define UIDL_RECORD_FILE "poplar-uidls"
#define UIDL_RECORD_MAGIC "poplar-uidls 1"

/* The content of poplar-uidls. */
typedef struct UidlRecord UidlRecord;

/* Parses a record file's text; an empty @text (no file) is an empty
 * record.  A file whose first line is not UIDL_RECORD_MAGIC, or with a
 * line that is not "<unique part> <uidl>[ more]", is refused: it is never
 * rewritten by a program that does not understand it. */
UidlRecord *uidl_record_parse(const char *text, size_t len, GError **error);
void uidl_record_free(UidlRecord *record);
/* The entry of @base, or NULL. */
const char *uidl_record_lookup(const UidlRecord *record, const char *base);
/* The base whose entry has @uidl, or NULL. */
const char *uidl_record_owner(const UidlRecord *record, const char *uidl);
guint uidl_record_size(const UidlRecord *record);

typedef enum {
  RECORD_ADDED,     /* new entry */
  RECORD_UNCHANGED, /* the same entry was there already */
  RECORD_REPLACED,  /* another entry was there; replaced (force) */
  RECORD_CONFLICT,  /* another entry was there, or the UIDL is taken; kept */
} RecordChange;

/* Sets @base's UIDL to @uidl by the merge rule: an existing different
 * entry for @base is kept unless @force; a UIDL another base already has
 * is a conflict unless @force, which drops that other entry.  On
 * RECORD_CONFLICT *@previous (optional) gets the UIDL @base keeps, or
 * the base that holds @uidl (owned by the record; valid until it
 * changes); otherwise NULL. */
RecordChange uidl_record_merge(UidlRecord *record, const char *base,
                               const char *uidl, bool force,
                               const char **previous);
/* The file's text. */
char *uidl_record_format(const UidlRecord *record, size_t *len);

/* Reads <@path>/poplar-uidls (missing: empty record). */
UidlRecord *uidl_record_load(int root_fd, const char *path, GError **error);
/* Writes @record to <@path>/poplar-uidls atomically: a new temporary file
 * in the Maildir, fsync, rename, fsync of the directory.  Owned by the
 * Maildir's owner when run as root. */
bool uidl_record_save(int root_fd, const char *path, const UidlRecord *record,
                      GError **error);

/* ---- credentials.c ----------------------------------------------------- */

typedef struct {
  char *user;
  char *password; /* NULL with a master user */
  char *maildir;  /* "maildir:/path" or "/path" from the file, or NULL */
  unsigned line;
} UserEntry;

/* Parses the users file: "user:password" or "user:password:/maildir"
 * lines ("user" or "user::/maildir" with @master); '#' comments.  Returns
 * a GPtrArray of UserEntry, freed by g_ptr_array_unref. */
GPtrArray *credentials_parse(const char *text, const char *file_name,
                             bool master, GError **error);
GPtrArray *credentials_load(const char *path, bool master, GError **error);
/* The first line of @path, without its line end. */
char *credentials_load_password(const char *path, GError **error);

/* ---- import-user.c ----------------------------------------------------- */

typedef struct {
  Pop3ServerConfig server;
  char *master_user;     /* NULL: each user logs in with their password */
  char *master_password;
  char *mail_location;   /* "maildir:%h/Maildir" */
  char *home;            /* template of %h, e.g. "/home/%u"; may be NULL */
  bool dry_run;
  bool force;
  bool require_size;
  bool verbose;
  unsigned lock_wait_s;
} ImportOptions;

typedef struct {
  bool failed;
  char *error;          /* when failed */
  char *maildir;        /* the Maildir's path, once known */
  unsigned old_total;
  unsigned new_total;
  unsigned matched;     /* paired with a Maildir message */
  unsigned recorded;    /* entries written (added or replaced) */
  unsigned already;     /* the same entry was there */
  unsigned size_differs; /* matched by header although no size fits */
  unsigned unmatched;   /* with MATCH_SIZE_DIFFERS */
  unsigned ambiguous;
  unsigned bad_uidl;
  unsigned conflicts;
  unsigned only_new;    /* Maildir messages no old message matched */
  GPtrArray *details;   /* one line per unmatched/ambiguous/conflict */
} ImportResult;

/* Runs the whole import for @entry; never fails as a function: problems
 * go into @result. */
void import_user(const ImportOptions *options, const UserEntry *entry,
                 ImportResult *result);
void import_result_clear(ImportResult *result);
/* "user alice: 3 on the old server, ..." */
char *import_result_summary(const char *user, const ImportResult *result,
                            bool dry_run);
/* The Maildir path for @entry from the options (or the entry's own). */
char *import_maildir_path(const ImportOptions *options,
                          const UserEntry *entry, GError **error);

/* ---- driver.c ---------------------------------------------------------- */

typedef void (*DriverJob)(gpointer item, gpointer data);

/* Runs @job on every item of @items, at most @parallel at a time; returns
 * when all are done.  *@peak gets the most jobs that ran at once. */
void driver_run(GPtrArray *items, unsigned parallel, DriverJob job,
                gpointer data, unsigned *peak);

/* Imports every user of @users, printing each summary when it is done;
 * returns the number of users that failed. */
unsigned driver_import_all(const ImportOptions *options, GPtrArray *users,
                           unsigned parallel, unsigned *peak);

#endif /* POPLAR_UIDL_IMPORT_H */
