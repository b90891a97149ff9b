/* SPDX-License-Identifier: MIT */
/*
 * store-maildir internals, shared by the files of the plugin (and by its
 * tests, which compile these files directly).  Nothing here is exported:
 * the plugin is built with hidden visibility and only the descriptor
 * getter leaves the .so.
 *
 * Files, one job each:
 *   maildir-error.c        errors as store results
 *   maildir-name.c         what a file name means: unique part, UIDL,
 *                          W= size, delivery time, POP3 order
 *   maildir-scan.c         the directories: create, move new/ to cur/,
 *                          list, find a renamed message again
 *   maildir-size.c         message sizes and the poplar-sizes cache
 *   maildir-lock.c         the poplar-lock mailbox lock
 *   maildir-lock-keeper.c  the thread that keeps held locks fresh
 *   maildir-message.c      reading messages and expunging them
 *   maildir-store.c        configuration, open/close, registration
 *   maildir-uidl.c         which UIDL a message gets; recording them
 *   maildir-uidl-record.c  poplar-uidls, the UIDLs shown
 *   maildir-uidlist.c      reading dovecot-uidlist and courierimapuiddb
 *   maildir-sizelist.c     courier-pop's courierpop3dsizelist
 *   maildir-uidlist-write.c  giving new messages UIDs there
 *   maildir-file.c         small files read whole, replaced atomically
 *   maildir-index.c        listings kept in the process between logins
 */
#ifndef POPLAR_MAILDIR_H
#define POPLAR_MAILDIR_H

#include <glib.h>
#include <poplar/plugin.h>
#include "uidl-format.h"
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/* Errors inside the plugin carry the PoplarStoreResult to answer as their
 * code, so that the layer that talks to the core only has to copy them. */
#define MAILDIR_ERROR (maildir_error_quark())
GQuark maildir_error_quark(void);

/* Sets *@error from @err_no, with the code
 * poplar_store_result_from_errno() gives and ": <strerror>" after the
 * formatted text. */
void maildir_set_errno_error(GError **error, int err_no, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

/* ---- file names (maildir-name.c) -------------------------------------- */

/* A UIDL made from a hash starts with this character, and a unique part
 * that starts with it is always hashed, so a hashed UIDL never equals a
 * file's own unique part. */
#define MAILDIR_UIDL_HASH_PREFIX '~'

/* One message of an open Maildir. */
typedef struct MaildirMsg {
  char *file;      /* current name in its directory (owned, g_free) */
  const char *base; /* unique part: before ':' without ,S= and ,W= */
  const char *uidl; /* the base itself, or '~' and its SHA-256 in hex */
  uint64_t seconds; /* delivery time from the name, 0 when it has none */
  uint32_t usec;    /* the M<usec> part of the name, 0 when absent */
  uint64_t size;    /* as sent (CRLF) */
  bool has_wsize;   /* size came from ,W=<n> in the name */
  bool as_stored;   /* sent exactly as the file holds it (sendfile) */
  bool in_new;      /* lives in new/ (a move to cur/ failed) */
  bool dropped;     /* vanished or unreadable while opening: not listed */
  bool duplicate;   /* listed under maildir_uidl_for_duplicate() */
  bool has_order;   /* pop3_order came from dovecot-uidlist's O field */
  uint64_t pop3_order;
  size_t seq;       /* place in the file-name order, for stable sorts */
} MaildirMsg;

/* Returns the unique part of @file (newly allocated): the text before the
 * first ':' with every ",S=<digits>" and ",W=<digits>" field removed. */
char *maildir_name_base(const char *file);

/* Parses ",W=<digits>" before the first ':' of @file. */
bool maildir_name_wsize(const char *file, uint64_t *wsize);

/* Returns the UIDL for @base (newly allocated): @base itself when it is a
 * valid RFC 1939 unique-id that does not start with
 * MAILDIR_UIDL_HASH_PREFIX, otherwise the prefix and the hex SHA-256 of
 * @base (65 characters). */
char *maildir_uidl_for_base(const char *base);

/* The UIDL of a message whose unique part @base another file of the
 * Maildir has too (one written twice, a copy restored beside its
 * original): '~' and the hex SHA-256 of @base, a NUL and "duplicate
 * <inode>".  The inode survives the renames that change flags, so the
 * UIDL is the same in every session while the file exists, and it never
 * equals another message's. */
char *maildir_uidl_for_duplicate(const char *base, uint64_t ino);

/* True when @s is 1..70 characters in 0x21..0x7E (RFC 1939 section 7). */
bool maildir_uidl_valid(const char *s);

/* Reads the delivery time from @base: leading seconds before the first
 * '.', and the number after 'M' in the part after it. */
void maildir_name_time(const char *base, uint64_t *seconds, uint32_t *usec);

/* POP3 order, oldest first: seconds, then microseconds, then the unique
 * part, then the whole file name (so that duplicates sort the same way
 * every time).  A qsort comparator for MaildirMsg. */
int maildir_msg_compare(const void *a, const void *b);

/* ---- directories (maildir-scan.c) ------------------------------------- */

/* Opens the Maildir at @path (absolute), creating it and any missing new/,
 * cur/ or tmp/ with mode 0700 when @create; the parent must exist.  The
 * path is opened as store-path.h says: no link is followed from the first
 * directory a user can change (a home), the Maildir itself included.
 * Returns the Maildir's descriptor, the only one an open mailbox keeps
 * while its session idles, or -1 with *@error. */
int maildir_root_open(const char *path, bool create, GError **error);

/* maildir_root_open() in two steps, for a caller that locks the Maildir
 * in between: maildir_root_open_dir() opens (or creates) the Maildir
 * itself, maildir_root_check() then checks (or creates) new/, cur/ and
 * tmp/, and leaves the status of cur/ and new/ in @cur and @new_dir with
 * *@have true, unless it created one of them.  On failure the caller
 * closes @root_fd. */
int maildir_root_open_dir(const char *path, bool create, GError **error);
bool maildir_root_check(int root_fd, const char *path, bool create,
                        struct stat *cur, struct stat *new_dir, bool *have,
                        GError **error);

/* Opens the subdirectory @name ("cur", "new") of the Maildir @root_fd: a
 * real directory, never a symbolic link.  Returns -1 with errno set. */
int maildir_subdir_open(int root_fd, const char *name);

/* cur/ and new/, open for one operation (a listing, an expunge). */
typedef struct MaildirDirs {
  int cur_fd;
  int new_fd;
} MaildirDirs;

#define MAILDIR_DIRS_INIT {-1, -1}

/* Opens cur/ and new/ of the Maildir @root_fd; @path names it in errors.
 * On failure nothing is left open. */
bool maildir_dirs_open(int root_fd, const char *path, MaildirDirs *dirs,
                       GError **error);
void maildir_dirs_close(MaildirDirs *dirs);

/* The name a message of new/ gets in cur/: "<name>:2," unless the name
 * already carries an info part. */
char *maildir_cur_name(const char *new_name);

/* Moves every message of new/ to cur/.  A message another program moved
 * meanwhile is skipped; one that cannot be moved stays in new/ (and is
 * listed from there) with a warning in *@warnings.  Returns false only
 * when new/ cannot be read. */
bool maildir_move_new(MaildirDirs *dirs, unsigned *moved, GPtrArray *warnings,
                      GError **error);

/* Appends a MaildirMsg for each message file of the directory @dir_fd
 * (entries starting with '.' and directories are skipped).  Base and UIDL
 * strings go to @strings. */
bool maildir_list_dir(int dir_fd, bool in_new, GArray *msgs,
                      GStringChunk *strings, GError **error);

/* Looks for every message of @by_base (base -> MaildirMsg*) in cur/ and
 * new/ and updates its file name, for messages another program renamed
 * (flag changes).  Returns false when a directory cannot be read. */
bool maildir_refind(MaildirDirs *dirs, GHashTable *by_base, GError **error);

/* ---- sizes (maildir-size.c) ------------------------------------------- */

#define MAILDIR_SIZE_CACHE_FILE "poplar-sizes"
#define MAILDIR_SIZE_CACHE_TMP "poplar-sizes.tmp"

typedef struct MaildirSizeCache MaildirSizeCache;

/* Loads the cache of the Maildir @root_fd.  A missing cache is empty; a
 * corrupt one is empty too, and *@problem (when set) says what was wrong.
 * Never NULL. */
MaildirSizeCache *maildir_size_cache_load(int root_fd, char **problem);
void maildir_size_cache_free(MaildirSizeCache *cache);
/* Looks @uidl up, and counts it as still in use. */
bool maildir_size_cache_lookup(MaildirSizeCache *cache, const char *uidl,
                               uint64_t *size, bool *as_stored);
/* True when the file on disk should be rewritten: it was corrupt, or it
 * has entries no message used. */
bool maildir_size_cache_stale(const MaildirSizeCache *cache);
/* Writes the sizes (and as_stored) of the listed messages that have no
 * ,W= field atomically (tmp file and rename). */
bool maildir_size_cache_save(int root_fd, const MaildirMsg *msgs, size_t n,
                             GError **error);

/* Reads @file of @dir_fd and counts its size as sent; *@as_stored tells
 * whether it is sent exactly as stored.  @buf is scratch space.  On
 * failure *@err_no holds errno, so that the caller can tell a vanished
 * file (ENOENT) from a real problem.  A file that is not regular or not
 * owned by @owner fails with EPERM (a user could have linked somebody
 * else's file into their Maildir). */
bool maildir_size_compute(int dir_fd, const char *file, uid_t owner,
                          char *buf, size_t buf_len, uint64_t *size,
                          bool *as_stored, int *err_no);

/* True when @st is a file a message may be read from: regular, and
 * owned by @owner. */
bool maildir_message_file_ok(const struct stat *st, uid_t owner);

/* ---- the mailbox lock (maildir-lock.c) -------------------------------- */

#define MAILDIR_LOCK_FILE "poplar-lock"
#define MAILDIR_LOCK_BREAK_FILE "poplar-lock.break"

typedef struct MaildirLock MaildirLock;

/* Who holds (or would hold) a lock. */
typedef struct MaildirLockOwner {
  char host[256];   /* hostname */
  char boot[64];    /* kernel boot id, "-" when unknown */
  char pidns[64];   /* pid namespace, "-" when unknown */
  long long pid;
  long long time;   /* seconds since the epoch when taken */
  char token[40];
} MaildirLockOwner;

/* Fills @owner with this process's identity (time now, a fresh token). */
void maildir_lock_owner_self(MaildirLockOwner *owner);

/* getpid(), asked once per process. */
pid_t maildir_self_pid(void);
/* The lock file's content for @owner (one line, newly allocated). */
char *maildir_lock_owner_format(const MaildirLockOwner *owner);
/* Parses a lock file's content; false when it is not one. */
bool maildir_lock_owner_parse(const char *text, MaildirLockOwner *owner);

/* Takes the lock of the Maildir @root_fd, which must stay open until
 * maildir_lock_release(): the lock keeps no descriptor of its own, so that
 * an idle session holds none but its Maildir's.  A stale lock (its holder's
 * process is dead on this host, or it was not refreshed for @timeout_ms)
 * is removed first; *@note (when @note is not NULL) then says whose it was,
 * whatever the result, and the caller frees it.  Returns POPLAR_STORE_OK,
 * POPLAR_STORE_IN_USE or a failure, with *@error set unless OK. */
PoplarStoreResult maildir_lock_acquire(int root_fd, uint64_t timeout_ms,
                                       MaildirLock **lock, char **note,
                                       GError **error);
/* Marks the lock as alive (sets its mtime to now), by name: it needs no
 * free descriptor.  Returns false when the lock file is no longer ours
 * (removed or replaced by another session). */
bool maildir_lock_refresh(MaildirLock *lock, GError **error);
/* Removes the lock file if it is still ours and frees @lock.  Returns
 * false (with *@error) when it was not ours any more or could not be
 * removed.  Works when no descriptor is free too (the token cannot be read
 * then, and the file's inode and change time vouch for it instead), so a
 * session that ends while the process is out of descriptors does not
 * leave its mailbox locked. */
bool maildir_lock_release(MaildirLock *lock, GError **error);

/* ---- keeping locks fresh (maildir-lock-keeper.c) ----------------------- */

typedef struct MaildirLockKeeper MaildirLockKeeper;

/* Refreshes every added lock each @interval_ms on a thread of its own,
 * started with the first lock (so after any fork of the server). */
MaildirLockKeeper *maildir_lock_keeper_new(PoplarPlugin *plugin,
                                           uint64_t interval_ms);
/* Stops the thread (waiting for it) and frees the keeper; no lock may be
 * left in it. */
void maildir_lock_keeper_free(MaildirLockKeeper *keeper);
void maildir_lock_keeper_add(MaildirLockKeeper *keeper, MaildirLock *lock,
                             const char *path);
/* After this returns the thread no longer touches @lock. */
void maildir_lock_keeper_remove(MaildirLockKeeper *keeper, MaildirLock *lock);

/* ---- small files (maildir-file.c) -------------------------------------- */

/* Reads the file @name of the Maildir @root_fd whole (NUL-terminated,
 * without following a link).  A missing file gives true and *@text NULL. */
bool maildir_file_read(int root_fd, const char *name, char **text,
                       size_t *len, GError **error);
/* Writes @data to @tmp_name, fsyncs it, renames it to @name and fsyncs
 * the Maildir. */
bool maildir_file_replace(int root_fd, const char *name, const char *tmp_name,
                          const char *data, size_t len, GError **error);
bool maildir_write_all(int fd, const char *data, size_t len);

/* ---- other servers' UID lists (maildir-uidlist*.c) --------------------- */

#define MAILDIR_DOVECOT_UIDLIST_FILE "dovecot-uidlist"
#define MAILDIR_COURIER_UIDDB_FILE "courierimapuiddb"
#define MAILDIR_COURIER_POP3_FILE "courierpop3dsizelist"

typedef enum MaildirUidSource {
  MAILDIR_UID_DOVECOT,
  MAILDIR_UID_COURIER,      /* courierimapuiddb: Courier's IMAP UIDs */
  MAILDIR_UID_COURIER_POP3, /* courierpop3dsizelist: its POP3 UIDs */
} MaildirUidSource;

typedef struct MaildirUidRec {
  uint32_t uid;
  char *name;       /* file name up to its ':' */
  char *pop3_uidl;  /* Dovecot's P field ("" = the name), or NULL */
  char *pop3_order; /* Dovecot's O field, or NULL */
  char *guid;       /* Dovecot's G field, or NULL */
  uint32_t uidvalidity; /* its own (courierpop3dsizelist), 0: the list's */
} MaildirUidRec;

typedef struct MaildirUidlist {
  MaildirUidSource source;
  int version;            /* 1 or 3; courierpop3dsizelist: 2 or 3 */
  uint32_t uidvalidity;
  uint32_t next_uid;      /* above every record's UID */
  char *header_rest;      /* v3 header fields other than V and N */
  bool have_guid;
  size_t complete_len;    /* octets up to the end of the last full line */
  GPtrArray *recs;        /* MaildirUidRec*, owned */
  GHashTable *by_name;    /* name -> MaildirUidRec* */
  char *entries;          /* courierpop3dsizelist: its lines as read */
} MaildirUidlist;

MaildirUidlist *maildir_uidlist_new(MaildirUidSource source);
void maildir_uidlist_free(MaildirUidlist *list);
const char *maildir_uidlist_file_name(MaildirUidSource source);
/* The name a UID list knows @file by: up to its ':' (newly allocated). */
char *maildir_uidlist_key(const char *file);
/* Parses @text (modified in place; @len octets).  A last line without
 * its newline is ignored (being written); anything else that does not
 * parse fails the whole file with *@problem. */
bool maildir_uidlist_parse(MaildirUidSource source, char *text, size_t len,
                           MaildirUidlist **out, char **problem);
/* Reads the list of the Maildir @root_fd; a missing file gives true and
 * *@out NULL, an unreadable one POPLAR_STORE_TEMPFAIL. */
bool maildir_uidlist_load(int root_fd, MaildirUidSource source,
                          MaildirUidlist **out, GError **error);
const MaildirUidRec *maildir_uidlist_lookup(const MaildirUidlist *list,
                                            const char *key);
/* Gives each name of @keys (char*, up to ':') the list does not have the
 * next UID, in that order, in the file itself (see
 * maildir-uidlist-write.c), and returns the list as it is afterwards.
 * @files holds the file name (in cur/ or new/) of each key. */
bool maildir_uidlist_assign(int root_fd, MaildirUidSource source,
                            GPtrArray *keys, GPtrArray *files,
                            MaildirUidlist **out, GError **error);

/* courierpop3dsizelist (maildir-sizelist.c): parsed as
 * maildir_uidlist_parse() parses the others, and new messages added with
 * their sizes, which are read from @files. */
bool maildir_sizelist_parse(char *text, size_t len, MaildirUidlist **out,
                            char **problem);
bool maildir_sizelist_assign(int root_fd, GPtrArray *keys, GPtrArray *files,
                             MaildirUidlist **out, GError **error);

/* ---- UIDLs shown (maildir-uidl-record.c) ------------------------------- */

#define MAILDIR_UIDL_RECORD_FILE "poplar-uidls"
#define MAILDIR_UIDL_RECORD_TMP "poplar-uidls.tmp"

typedef struct MaildirUidlRecord MaildirUidlRecord;

/* Parses @text in place.  Lines that are not "<base> <uidl>" are
 * skipped and counted; a wrong first line fails. */
bool maildir_uidl_record_parse(char *text, size_t len,
                               MaildirUidlRecord **out, char **problem);
/* Loads the record of @root_fd (empty when there is none).  A file whose
 * first line is wrong fails with POPLAR_STORE_TEMPFAIL and is left as it
 * is. */
bool maildir_uidl_record_load(int root_fd, MaildirUidlRecord **out,
                              unsigned *bad_lines, GError **error);
void maildir_uidl_record_free(MaildirUidlRecord *rec);
const char *maildir_uidl_record_lookup(const MaildirUidlRecord *rec,
                                       const char *base);
void maildir_uidl_record_set(MaildirUidlRecord *rec, const char *base,
                             const char *uidl);
/* Drops the entries whose base is not in the set @bases. */
void maildir_uidl_record_keep_only(MaildirUidlRecord *rec, GHashTable *bases);
bool maildir_uidl_record_changed(const MaildirUidlRecord *rec);
bool maildir_uidl_record_save(int root_fd, MaildirUidlRecord *rec,
                              GError **error);

/* ---- the listing index (maildir-index.c) ------------------------------ */

/* A Maildir, whatever path names it: its cur/ directory, which belongs to
 * it alone (and whose stamp moves should it be renamed away). */
typedef struct MaildirIndexKey {
  uint64_t dev;
  uint64_t ino;
} MaildirIndexKey;

/* What a file or directory looked like; present false: it did not exist. */
typedef struct MaildirFileStamp {
  bool present;
  uint64_t ino;
  uint64_t size;
  struct timespec mtime;
  struct timespec ctime;
} MaildirFileStamp;

/* Everything a default listing depends on. */
typedef struct MaildirIndexStamps {
  MaildirFileStamp cur;
  MaildirFileStamp new_dir;
  MaildirFileStamp record; /* poplar-uidls */
} MaildirIndexStamps;

typedef struct MaildirIndex MaildirIndex;

MaildirIndex *maildir_index_new(void);
void maildir_index_free(MaildirIndex *index);
/* Stats the cur/ and new/ and poplar-uidls of the Maildir @root_fd.  False
 * when any of them is not what a Maildir has (the caller lists from
 * scratch then, and reports what is wrong). */
bool maildir_index_stamps(int root_fd, MaildirIndexKey *key,
                          MaildirIndexStamps *stamps);
/* The same, with the status of cur/ and new/ the caller already has
 * (NULL: asked here). */
bool maildir_index_stamps_with(int root_fd, const struct stat *cur,
                               const struct stat *new_dir,
                               MaildirIndexKey *key,
                               MaildirIndexStamps *stamps);
bool maildir_index_stamps_equal(const MaildirIndexStamps *a,
                                const MaildirIndexStamps *b);
/* True when every stamp is older than @before (the clock read before the
 * stamps were taken) by more than a filesystem's time granularity, so
 * that no later change can carry the same stamp. */
bool maildir_index_stamps_settled(const MaildirIndexStamps *stamps,
                                  const struct timespec *before);
/* True when a listing of @msgs depends on nothing but the stamps. */
bool maildir_index_listable(const MaildirMsg *msgs, size_t n);
/* Keeps a copy of @msgs for the Maildir @key as it was at @stamps, for
 * sessions of @owner with @delete_mode; the least recently used listings
 * go when the index is full. */
void maildir_index_put(MaildirIndex *index, const MaildirIndexKey *key,
                       const MaildirIndexStamps *stamps, uid_t owner,
                       int delete_mode, const MaildirMsg *msgs, size_t n);
/* When the listing kept for @key was made at @stamps (and for @owner and
 * @delete_mode): *@msgs gets a copy (file names newly allocated, bases and
 * UIDLs in @strings) and true is returned.  A listing whose stamps differ
 * is dropped. */
bool maildir_index_get(MaildirIndex *index, const MaildirIndexKey *key,
                       const MaildirIndexStamps *stamps, uid_t owner,
                       int delete_mode, GStringChunk *strings,
                       MaildirMsg **msgs, size_t *n);

/* ---- the store (maildir-store.c, maildir-message.c) -------------------- */

typedef struct MaildirStore {
  PoplarPlugin *plugin;
  bool create;
  bool size_cache;
  uint64_t lock_timeout_ms;
  MaildirLockKeeper *keeper;
  UidlFormat *uidl_format;      /* NULL: the file name's unique part */
  MaildirUidSource uid_source;
  MaildirIndex *index;          /* NULL: listing-index = no */
} MaildirStore;

/* The store's state for one open mailbox (poplar_mailbox_get_data()). */
typedef struct MaildirMailbox {
  MaildirStore *store;
  PoplarMailbox *mbox;
  char *path;
  int root_fd;            /* the Maildir; cur/ and new/ open per operation */
  uid_t owner;            /* every message file must belong to this user:
                             the passdb's uid, else the Maildir's owner */
  MaildirLock *lock;
  MaildirMsg *msgs;
  size_t n_msgs;
  GStringChunk *strings;  /* bases and UIDLs of msgs */
  GHashTable *by_base;    /* base -> MaildirMsg*, built on first refind */
  unsigned moved_new;     /* messages moved from new/ by this open */
  unsigned size_reads;    /* message files read to count sizes */
  unsigned fd_offers;     /* messages offered for sendfile() */
  MaildirUidlRecord *record; /* poplar-uidls, loaded at open (not when the
                                listing came from the index) */
  bool from_index;        /* the listing came from the listing index */
  /* cur/ and new/ as checked under the lock, for the index's stamps */
  struct stat checked_cur, checked_new;
  bool have_checked;
} MaildirMailbox;

/* Gives every message of @mb its UIDL (see maildir-uidl.c) and puts them
 * in POP3 order; messages are sorted by name already. */
bool maildir_uidls_assign(MaildirMailbox *mb, GError **error);
/* Writes to poplar-uidls what the listing shows that the file names alone
 * would not give again. */
bool maildir_uidls_record(MaildirMailbox *mb, GError **error);

PoplarStoreResult maildir_message_open(void *data, PoplarMailbox *mbox,
                                       PoplarMessage *msg, void **stream);
PoplarStoreResult maildir_message_open_fd(void *data, PoplarMailbox *mbox,
                                          PoplarMessage *msg, void **stream,
                                          int *fd, uint64_t *offset,
                                          uint64_t *length);
int64_t maildir_message_read(void *data, void *stream, char *buf, size_t len);
void maildir_message_close(void *data, void *stream);
PoplarStoreResult maildir_expunge(void *data, PoplarMailbox *mbox);

/* ---- [server] delete (maildir-delete.c) -------------------------------- */

/* True when @file carries the flag delete = hide adds: not listed then. */
bool maildir_name_hidden(const char *file);
/* Opens cur/ and new/ of the Maildir++ folder @folder of @mb, creating it
 * (tmp/, cur/, new/, maildirfolder) when missing. */
bool maildir_trash_open(MaildirMailbox *mb, const char *folder,
                        MaildirDirs *trash, GError **error);
/* Removes @m as @mode says (@trash: the folder's directories for
 * POPLAR_DELETE_TRASH).  Returns 0 or an errno; *@freed is the octets
 * freed on disk (unlink only), for the quota file. */
int maildir_delete_message(const MaildirDirs *dirs, const MaildirDirs *trash,
                           PoplarDeleteMode mode, MaildirMsg *m,
                           uint64_t *freed);
/* Tells a Maildir++ maildirsize file, when there is one, that @count
 * messages of @octets were removed. */
void maildir_quota_note_removed(MaildirMailbox *mb, uint64_t octets,
                                unsigned count);

/* Updates the names of messages another program renamed (see
 * maildir_refind()), looking in @dirs of the mailbox. */
bool maildir_mailbox_refind(MaildirMailbox *mb, MaildirDirs *dirs,
                            GError **error);

/* Logs through the core with the session's id. */
void maildir_log(MaildirMailbox *mb, PoplarLogLevel level, const char *fmt,
                 ...) G_GNUC_PRINTF(3, 4);

#endif /* POPLAR_MAILDIR_H */
