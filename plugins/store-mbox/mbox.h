/* SPDX-License-Identifier: MIT */
/*
 * store-mbox internals, shared by the files of the plugin (and by its
 * tests, which compile these files directly).  Nothing here is exported:
 * the plugin is built with hidden visibility and only the descriptor
 * getter leaves the .so.
 *
 * Files, one job each:
 *   mbox-error.c         errors as store results
 *   mbox-from.c          From_ lines and '>From ' quoting
 *   mbox-scan.c          parsing an mbox into messages (offsets, sizes,
 *                        content hashes, X-UIDL)
 *   mbox-reader.c        streaming a message with quoting undone
 *   mbox-open.c          opening the directory and the mbox without
 *                        following links a user planted; who owns it
 *   mbox-lock.c          dotlock, fcntl and flock locks, as MTAs take them
 *   mbox-session-lock.c  the POP3 session lock ([IN-USE])
 *   mbox-index.c         the index file: offsets, sizes and UIDLs
 *   mbox-uidl.c          giving messages stable UIDLs
 *   mbox-imap-headers.c  X-IMAPbase, X-IMAP and X-UID, as Dovecot reads
 *                        them
 *   mbox-sync.c          index against file: unchanged, appended, edited
 *   mbox-message.c       RETR and TOP: checking and reading a message
 *   mbox-expunge.c       the crash-safe rewrite at UPDATE
 *   mbox-fault.c         fault injection, in test builds only
 *   mbox-store.c         configuration, open/close, registration
 */
#ifndef POPLAR_MBOX_H
#define POPLAR_MBOX_H

#include <glib.h>
#include <poplar/plugin.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Errors inside the plugin carry the PoplarStoreResult to answer as their
 * code. */
#define MBOX_ERROR (mbox_error_quark())
GQuark mbox_error_quark(void);

/* Sets *@error with the code poplar_store_result_from_errno() gives and
 * ": <strerror>" after the formatted text. */
void mbox_set_errno_error(GError **error, int err_no, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

/* True when @err_no means the disk or the quota is full. */
bool mbox_errno_is_full(int err_no);

typedef enum MboxFormat {
  /* Writers quote "From " as ">From "; readers drop the '>' of lines that
   * start with exactly ">From ". */
  MBOX_FORMAT_MBOXO = 0,
  /* Writers quote every /^>*From / line with one more '>'; readers drop
   * one '>' of every /^>+From / line. */
  MBOX_FORMAT_MBOXRD = 1,
} MboxFormat;

const char *mbox_format_name(MboxFormat format);

/* ---- From_ lines and quoting (mbox-from.c) ----------------------------- */

/* How much of a line is looked at to decide what it is.  A From_ line
 * longer than this is not one; a quoted line is recognised only when its
 * '>'s and "From " fit in it.  The parser and the reader apply the same
 * window, so LIST sizes always match what RETR sends. */
#define MBOX_LINE_PEEK 1024

/* True when @line (@len octets, its line end included or not) is a From_
 * line: "From ", an envelope sender (possibly empty or quoted), and an
 * asctime() date with an optional time zone before or after the year, as
 * Postfix, Exim, procmail, mutt and qmail write them. */
bool mbox_from_line_valid(const char *line, size_t len);

/* True when the line starting at @line (of which @len octets are at hand,
 * at most MBOX_LINE_PEEK looked at) is a quoted From_ line in @format:
 * its first '>' is not part of the message. */
bool mbox_line_is_quoted(const char *line, size_t len, MboxFormat format);

/* FNV-1a, 64 bits: identifies a From_ line at a known offset. */
uint64_t mbox_fnv1a(const void *data, size_t len);

/* ---- messages and parsing (mbox-scan.c) -------------------------------- */

#define MBOX_HASH_LEN 16
#define MBOX_HASH_HEX_LEN (2 * MBOX_HASH_LEN)

enum {
  /* The mbox does not start with a From_ line: this message is what comes
   * before the first one. */
  MBOX_MSG_HEADLESS = 1u << 0,
  /* The last message of the file, and the file does not end with the empty
   * line every MTA writes after a message: an interrupted delivery. */
  MBOX_MSG_TRUNCATED = 1u << 1,
  /* The first message of the file holds an X-IMAP header: the folder
   * data c-client and Dovecot keep in a message of its own ("DON'T
   * DELETE THIS MESSAGE -- FOLDER INTERNAL DATA").  It is never listed,
   * and kept at UPDATE. */
  MBOX_MSG_PSEUDO = 1u << 2,
};

/* One message of an mbox.  Offsets are in the file:
 *   from  the From_ line (== data for a headless message)
 *   data  the first octet of the message
 *   end   just after its last octet (before the separating empty line)
 *   next  the next From_ line, or the end of what was parsed */
typedef struct MboxMsg {
  uint64_t from;
  uint64_t data;
  uint64_t end;
  uint64_t next;
  uint64_t size;      /* as sent: CRLF line ends, quoting undone */
  uint64_t from_hash; /* mbox_fnv1a() of the octets [from, data) */
  uint8_t hash[MBOX_HASH_LEN]; /* content fingerprint, see mbox-scan.c */
  const char *x_uidl; /* a valid X-UIDL: header's value, or NULL */
  const char *uidl;   /* the UIDL served, once assigned */
  uint32_t flags;     /* MBOX_MSG_* */
  /* Found by parsing, not kept in the index: the X-UID header's value (0:
   * none, or one Dovecot would not take), and for the file's first
   * message the values of its X-IMAPbase or X-IMAP header (0: none). */
  uint32_t x_uid;
  uint32_t uidvalidity;
  uint32_t uid_last;
  bool gone;          /* not found again after another program edited
                         the mbox during the session */
} MboxMsg;

/* Called now and then during long operations (to keep a dotlock fresh). */
typedef void (*MboxProgressFunc)(void *data);

typedef struct MboxScanOptions {
  MboxFormat format;
  size_t buf_size;    /* 0: the default (1 MiB); at least 2*LINE_PEEK */
  MboxProgressFunc progress;
  void *progress_data;
} MboxScanOptions;

/* Parses @fd from @start to @stop and appends the messages found to @msgs
 * (an array of MboxMsg); X-UIDL values go to @strings.  @start is 0 or
 * the offset of a From_ line; when the line at @start > 0 is not a From_
 * line, fails with code POPLAR_STORE_GONE (the layout changed).  The last
 * message ends at @stop. */
bool mbox_scan(int fd, const MboxScanOptions *options, uint64_t start,
               uint64_t stop, GArray *msgs, GStringChunk *strings,
               GError **error);

/* Hex of @msg's hash (MBOX_HASH_HEX_LEN characters and a NUL). */
void mbox_hash_hex(const uint8_t *hash, char *out);
bool mbox_hash_parse(const char *hex, uint8_t *hash);

/* True when [from, data) of @msg in @fd is still the From_ line the
 * message was parsed with. */
bool mbox_msg_from_intact(int fd, const MboxMsg *msg);

/* True when @msg's separator is still where it was parsed and what
 * follows it (@size being the file's size now) is the end of the file or
 * a From_ line. */
bool mbox_msg_end_intact(int fd, const MboxMsg *msg, uint64_t size);

/* True when every message of @msgs still starts where it was parsed, with
 * the same From_ line, and the last one still ends where it did (the file
 * being @size octets now, mail appended after it allowed). */
bool mbox_layout_intact(int fd, const MboxMsg *msgs, size_t n,
                        uint64_t size);

/* ---- IMAP headers in the mbox (mbox-imap-headers.c) ------------------- */

/* The value of X-IMAPbase or X-IMAP (@len octets, after the colon; its
 * line end may be included): "<uidvalidity> <last-uid> [keywords]", as
 * Dovecot accepts it (UIDVALIDITY not 0). */
bool mbox_imap_base_parse(const char *value, size_t len,
                          uint32_t *uidvalidity, uint32_t *uid_last);
/* The value of X-UID: digits (not 0), then only white space. */
bool mbox_imap_uid_parse(const char *value, size_t len, uint32_t *uid);
/* Keeps in x_uid, through @msgs (a whole file, parsed from its start),
 * only the UIDs Dovecot would take when it syncs the file: growing, none
 * beyond the next UID the first message's X-IMAPbase allows (the one
 * after a message without a UID is taken by that message).  Sets
 * *@uidvalidity to the file's, 0 (and every x_uid to 0) when its first
 * message has no X-IMAPbase or X-IMAP. */
void mbox_imap_uids_resolve(MboxMsg *msgs, size_t n, uint32_t *uidvalidity);

/* ---- reading a message (mbox-reader.c) --------------------------------- */

typedef struct MboxReader {
  int fd;
  MboxFormat format;
  uint64_t pos; /* file offset of buf[len] */
  uint64_t end; /* the message's end */
  char *buf;
  size_t cap;
  size_t start; /* first unread octet of buf */
  size_t len;   /* octets in buf */
  bool line_start;
} MboxReader;

/* Reads [@data, @end) of @fd.  @buf_size 0 means the default (64 KiB). */
void mbox_reader_init(MboxReader *r, int fd, MboxFormat format,
                      uint64_t data, uint64_t end, size_t buf_size);
/* Up to @len octets of the message with quoting undone; 0 at the end, -1
 * on a read error (errno in *@err_no). */
int64_t mbox_reader_read(MboxReader *r, char *out, size_t len, int *err_no);
void mbox_reader_clear(MboxReader *r);

/* ---- locks (mbox-lock.c) ----------------------------------------------- */

enum {
  MBOX_LOCK_DOTLOCK = 1u << 0,
  MBOX_LOCK_FCNTL = 1u << 1,
  MBOX_LOCK_FLOCK = 1u << 2,
};

typedef struct MboxLockSettings {
  unsigned methods;          /* MBOX_LOCK_* */
  uint64_t timeout_ms;       /* how long to wait for each lock */
  uint64_t dotlock_stale_ms; /* a dotlock this old with no live owner is
                                removed */
} MboxLockSettings;

/* Locks held on one mbox.  Zero it (or MBOX_LOCK_INIT) before use. */
typedef struct MboxLock {
  unsigned held;      /* MBOX_LOCK_* */
  int fd;             /* the kernel locks are on it */
  int dir_fd;         /* the mbox's directory (borrowed): the dotlock's */
  bool ofd;           /* fcntl lock taken as an open file description
                         lock (F_OFD_SETLK) */
  char *dotlock;      /* name of our dotlock in dir_fd, when held */
  dev_t dot_dev;
  ino_t dot_ino;
  int64_t dot_ctime_ns;
  int64_t dot_touched; /* monotonic time of the last refresh */
} MboxLock;

#define MBOX_LOCK_INIT {0, -1, -1, false, NULL, 0, 0, 0, 0}

/* Takes the locks of @methods on the mbox at @path (open as @fd; its
 * directory open as @dir_fd, where the dotlock "<name>.lock" is made and
 * which must stay open until the release), in the order MTAs take them:
 * dotlock, then flock, then fcntl.  @exclusive takes write locks (the fd
 * must be open for writing), else shared ones (a dotlock is always
 * exclusive).  Waits up to settings->timeout_ms for
 * each.  Returns OK, IN_USE (another program holds a lock for longer than
 * the timeout) or a failure, with *@error set unless OK; *@note (when not
 * NULL) reports a stale dotlock removed on the way. */
PoplarStoreResult mbox_lock_acquire(MboxLock *lock,
                                    const MboxLockSettings *settings,
                                    int dir_fd, const char *path, int fd,
                                    unsigned methods, bool exclusive,
                                    char **note, GError **error);
/* Touches the dotlock when it was last touched more than 30 s ago, so
 * that a long rewrite is not taken for a stale lock. */
void mbox_lock_keep_fresh(MboxLock *lock);
/* Releases what is held.  Returns false (with *@warning) when the
 * dotlock had been removed or replaced by another program meanwhile. */
bool mbox_lock_release(MboxLock *lock, char **warning);

/* The dotlock's path for the mbox at @path: "<path>.lock". */
char *mbox_dotlock_path(const char *path);

/* ---- the POP3 session lock (mbox-session-lock.c) ----------------------- */

typedef struct MboxSessionLock {
  int fd;
} MboxSessionLock;

/* Locks the session lock file @name of @dir_fd (created when missing,
 * never removed; @path names it in messages) for this session; @who (pid,
 * session) is written into it for the administrator.  IN_USE when another
 * session holds it; PERMFAIL when it is a link, not a regular file, or
 * owned by neither this process's user nor @owner. */
PoplarStoreResult mbox_session_lock_acquire(MboxSessionLock *lock,
                                            int dir_fd, const char *name,
                                            const char *path, uid_t owner,
                                            const char *who,
                                            GError **error);
void mbox_session_lock_release(MboxSessionLock *lock);

/* ---- the index (mbox-index.c) ------------------------------------------ */

#define MBOX_INDEX_SUFFIX ".poplar-index"
#define MBOX_LOCK_SUFFIX ".poplar-lock"
/* The core's EXPIRE and LOGIN-DELAY state (PoplarStoreOps). */
#define MBOX_POLICY_SUFFIX ".poplar-retrieved"
#define MBOX_REWRITE_SUFFIX ".poplar-new"

/* Version 2 marks the folder-data message (MBOX_MSG_PSEUDO); a version
 * 1 index still gives its UIDLs, but not the offsets. */
#define MBOX_INDEX_VERSION 2

/* What an index says about the mbox it was written for. */
typedef struct MboxIndex {
  unsigned version;
  MboxFormat format;
  uint64_t dev;
  uint64_t ino;
  uint64_t size;     /* the file's size when the index was written */
  int64_t mtime_ns;
  int64_t ctime_ns;
  uint64_t scanned;  /* the messages cover [0, scanned) */
  GArray *msgs;      /* MboxMsg, UIDLs set */
  GStringChunk *strings;
} MboxIndex;

int64_t mbox_stat_mtime_ns(const struct stat *st);
int64_t mbox_stat_ctime_ns(const struct stat *st);

/* Loads @path.  Returns NULL when it is missing (*@problem NULL) or not a
 * valid index (*@problem says why; the caller frees it). */
MboxIndex *mbox_index_load(const char *path, char **problem);
void mbox_index_free(MboxIndex *index);
/* Writes the index of @msgs for the file @st atomically (temporary file,
 * fsync, rename). */
bool mbox_index_save(const char *path, MboxFormat format,
                     const struct stat *st, uint64_t scanned,
                     const MboxMsg *msgs, size_t n, GError **error);
/* The same, for the file @name of the directory @dir_fd (@path names it
 * in errors); no link is followed. */
MboxIndex *mbox_index_load_at(int dir_fd, const char *name, char **problem);
bool mbox_index_save_at(int dir_fd, const char *name, const char *path,
                        MboxFormat format, const struct stat *st,
                        uint64_t scanned, const MboxMsg *msgs, size_t n,
                        GError **error);

/* ---- UIDLs (mbox-uidl.c) ----------------------------------------------- */

typedef struct MboxUidlMap MboxUidlMap;

/* Remembers the UIDL of every message of @msgs by content hash, in order,
 * for messages parsed again (the index's view of the mbox). */
MboxUidlMap *mbox_uidl_map_new(const MboxMsg *msgs, size_t n);
void mbox_uidl_map_free(MboxUidlMap *map);

typedef struct UidlFormat UidlFormat;

/* Gives each message of @msgs whose uidl is NULL a UIDL: the one @map
 * (may be NULL) remembers for its content, else its X-UIDL header (with
 * @use_x_uidl), else @format's expansion with its X-UID and the file's
 * UIDVALIDITY (when @format is not NULL: then @msgs must be the whole
 * file, parsed from its start, and their x_uid are checked as
 * mbox_imap_uids_resolve() says), else the hex of its content hash; ".2",
 * ".3"... make it unique.  UIDLs already set are kept.  Strings go to
 * @strings. */
void mbox_uidl_assign(MboxMsg *msgs, size_t n, MboxUidlMap *map,
                      bool use_x_uidl, const UidlFormat *format,
                      GStringChunk *strings);

/* ---- fault injection (mbox-fault.c, test builds only) ------------------ */

/* The steps of a rewrite at UPDATE, for the crash tests. */
typedef enum MboxFaultStep {
  MBOX_FAULT_LOCKED = 1,        /* locks taken, nothing written */
  MBOX_FAULT_TEMP_CREATED = 2,  /* empty temporary file created */
  MBOX_FAULT_COPY_PARTIAL = 3,  /* part of the kept mail copied */
  MBOX_FAULT_COPIED = 4,        /* everything copied, nothing synced */
  MBOX_FAULT_SYNCED = 5,        /* temporary file synced */
  MBOX_FAULT_RENAMED = 6,       /* renamed over the mbox */
  MBOX_FAULT_DIR_SYNCED = 7,    /* directory synced */
  MBOX_FAULT_INDEXED = 8,       /* new index written, locks still held */
  MBOX_FAULT_N_STEPS = 8,
} MboxFaultStep;

#ifdef POPLAR_MBOX_FAULT_INJECTION
/* Kills the process with SIGKILL when POPLAR_MBOX_FAULT_STEP is @step. */
void mbox_fault_point(MboxFaultStep step);
/* True (with *@err_no set) when POPLAR_MBOX_FAULT_ERRNO_STEP is @step:
 * the write at that step is to fail with POPLAR_MBOX_FAULT_ERRNO
 * (default ENOSPC). */
bool mbox_fault_fail(MboxFaultStep step, int *err_no);
#else
#define mbox_fault_point(step) ((void)0)
#define mbox_fault_fail(step, err_no) ((void)(err_no), false)
#endif

/* ---- the store ---------------------------------------------------------- */

typedef struct MboxStore {
  PoplarPlugin *plugin;
  MboxFormat format;
  MboxLockSettings lock;
  char *index_dir; /* template with %u %n %d, or NULL: beside the mbox */
  bool use_x_uidl;
  UidlFormat *uidl_format; /* NULL: the default UIDLs */
} MboxStore;

typedef enum MboxSyncKind {
  MBOX_SYNC_EMPTY,     /* no mbox file */
  MBOX_SYNC_CACHED,    /* unchanged: the index as it is */
  MBOX_SYNC_APPENDED,  /* new mail parsed after the known messages */
  MBOX_SYNC_RESCANNED, /* changed otherwise: parsed again, UIDLs kept */
  MBOX_SYNC_NEW,       /* no usable index: parsed */
} MboxSyncKind;

/* The store's state for one open mailbox (poplar_mailbox_get_data()). */
typedef struct MboxMailbox {
  MboxStore *store;
  PoplarMailbox *mbox;
  char *path;        /* the mbox file, as configured (for messages) */
  char *dir;         /* its directory (for messages) */
  char *name;        /* its name in dir */
  int dir_fd;        /* dir, opened as mbox-open.c says (O_PATH) */
  uid_t owner;       /* the user the mbox must belong to */
  int index_dir_fd;  /* where the index and the session lock are */
  char *index_name;  /* their names in index_dir_fd */
  char *session_lock_name;
  char *index_path;  /* and their paths, for messages */
  char *session_lock_path;
  char *policy_state_path; /* the core's policy state, beside the index */
  MboxSessionLock session;
  int fd;            /* the mbox as opened, -1 when it did not exist */
  struct stat st;    /* of fd when the messages were parsed */
  uint64_t scanned;  /* the messages cover [0, scanned) */
  MboxMsg *msgs;
  size_t n_msgs;
  GStringChunk *strings;
  MboxSyncKind sync_kind;
  size_t n_reused;   /* messages taken from the index without parsing */
  MboxLock read_lock; /* held while a message is being read */
  unsigned read_refs;
} MboxMailbox;

/* ---- opening safely (mbox-open.c) -------------------------------------- */

/* Opens @mb->dir (mb->dir_fd) without following links a user may have
 * planted, works out who must own the mbox (mb->owner), and opens the
 * directory of the index and session lock (mb->index_dir_fd): @index_dir,
 * created when missing, or the mbox's own when NULL. */
bool mbox_open_dirs(MboxMailbox *mb, const char *index_dir, GError **error);

/* Opens the mbox with @flags (O_RDONLY or O_RDWR), never through a link:
 * OK with *@fd and *@st, GONE when there is none, PERMFAIL unless it is a
 * regular file with one link owned by mb->owner. */
PoplarStoreResult mbox_open_file(MboxMailbox *mb, int flags, int *fd,
                                 struct stat *st, GError **error);

/* True when the mbox's name still leads to the file @st describes. */
bool mbox_name_matches(const MboxMailbox *mb, const struct stat *st);

/* Brings @mb's messages up to date with the file @mb->fd (locked by the
 * caller), using the index when it still describes the file. */
bool mbox_sync(MboxMailbox *mb, MboxLock *lock, GError **error);

/* Parses the whole file again and finds each message of @mb by content
 * (after another program edited the mbox during the session): offsets are
 * updated, messages not found are marked gone.  The caller holds a lock. */
bool mbox_relocate(MboxMailbox *mb, MboxLock *lock, GError **error);

/* The scan options of @mb's store, keeping @lock fresh while parsing. */
void mbox_scan_options_init(MboxScanOptions *options, const MboxMailbox *mb,
                            MboxLock *lock);

PoplarStoreResult mbox_message_open(void *data, PoplarMailbox *mbox,
                                     PoplarMessage *msg, void **stream);
int64_t mbox_message_read(void *data, void *stream, char *buf, size_t len);
void mbox_message_close(void *data, void *stream);
PoplarStoreResult mbox_expunge(void *data, PoplarMailbox *mbox);

/* Logs through the core with the session's id. */
void mbox_log(MboxMailbox *mb, PoplarLogLevel level, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

#endif /* POPLAR_MBOX_H */
