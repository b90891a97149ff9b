/* SPDX-License-Identifier: MIT */
/*
 * store-maildir: POP3 mailboxes in Maildir format, location scheme
 * "maildir:" (mail = maildir:%h/Maildir).
 *
 * Opening a mailbox: open (or create) the directories, take the mailbox
 * lock, move new/ to cur/, list both, sort into POP3 order, find every
 * size (file name, cache, or counting), hand the messages to the core and
 * refresh the size cache.  Everything the open allocates belongs to one
 * MaildirMailbox, freed in close (or at once when the open fails).  When
 * the listing index (maildir-index.c) holds the listing of the last open
 * and the Maildir's stamps say nothing moved since, that listing is used
 * instead of all but taking the lock.
 *
 * Descriptors: an open mailbox keeps only its Maildir's while the session
 * idles (the lock is refreshed and removed by name), so that a process
 * holds about two per idle session, its socket included, and its
 * descriptor limit rather than this store bounds how many it serves.
 *
 * Thread safety: sessions run concurrently on the core's threads.  The
 * store's own data is read-only after init except the lock keeper and the
 * listing index, which have their own mutexes; everything else is per
 * mailbox, and the core never calls one mailbox from two threads at once.
 */
#include "maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_LOCK_TIMEOUT_MS (10 * 60 * 1000)
/* Refreshes run every lock-timeout / 4; shorter makes no sense on NFS. */
#define MIN_LOCK_TIMEOUT_MS (2 * 1000)
#define MAX_LOCK_TIMEOUT_MS (7ull * 24 * 60 * 60 * 1000)
/* Read size when counting a message's size. */
#define SIZE_BUF_LEN (64 * 1024)

void maildir_log(MaildirMailbox *mb, PoplarLogLevel level, const char *fmt,
                 ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *text = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  poplar_session_log(poplar_mailbox_session(mb->mbox), mb->store->plugin,
                     level, "%s", text);
}

static void mailbox_free(MaildirMailbox *mb)
{
  if (!mb)
    return;
  if (mb->lock) {
    g_autoptr(GError) error = NULL;
    maildir_lock_keeper_remove(mb->store->keeper, mb->lock);
    if (!maildir_lock_release(mb->lock, &error))
      maildir_log(mb, POPLAR_LOG_WARNING, "%s: lock not removed: %s",
                  mb->path, error->message);
  }
  if (mb->root_fd >= 0)
    close(mb->root_fd);
  for (size_t i = 0; i < mb->n_msgs; i++)
    g_free(mb->msgs[i].file);
  g_free(mb->msgs);
  maildir_uidl_record_free(mb->record);
  if (mb->by_base)
    g_hash_table_unref(mb->by_base);
  if (mb->strings)
    g_string_chunk_free(mb->strings);
  g_free(mb->path);
  g_free(mb);
}

static const char *dir_of(const MaildirMsg *m)
{
  return m->in_new ? "new" : "cur";
}

/* delete = hide: what a POP3 session deleted before stays in cur/ with a
 * flag and is never listed again. */
static void drop_hidden(MaildirMailbox *mb)
{
  size_t kept = 0;
  for (size_t i = 0; i < mb->n_msgs; i++) {
    if (maildir_name_hidden(mb->msgs[i].file)) {
      g_free(mb->msgs[i].file);
      continue;
    }
    mb->msgs[kept++] = mb->msgs[i];
  }
  mb->n_msgs = kept;
}

/* What counting a message's size came to. */
typedef enum SizeOutcome {
  SIZE_COUNTED,
  SIZE_VANISHED,   /* renamed or removed since the listing */
  SIZE_UNREADABLE, /* the message's own fault: not listed */
  SIZE_NO_FDS,     /* the process's: the whole open fails, to be retried */
} SizeOutcome;

/* *@err_no: the errno behind SIZE_NO_FDS. */
static SizeOutcome count_size(MaildirMailbox *mb, const MaildirDirs *dirs,
                              MaildirMsg *m, char **buf, int *err_no)
{
  int err = 0;
  if (!*buf)
    *buf = g_malloc(SIZE_BUF_LEN);
  mb->size_reads++;
  int fd = m->in_new ? dirs->new_fd : dirs->cur_fd;
  if (maildir_size_compute(fd, m->file, mb->owner, *buf, SIZE_BUF_LEN,
                           &m->size, &m->as_stored, &err))
    return SIZE_COUNTED;
  if (err == ENOENT)
    return SIZE_VANISHED;
  *err_no = err;
  if (err == EMFILE || err == ENFILE)
    return SIZE_NO_FDS;
  maildir_log(mb, POPLAR_LOG_WARNING,
              "%s/%s/%s not listed: cannot read it to count its size: %s",
              mb->path, dir_of(m), m->file, g_strerror(err));
  return SIZE_UNREADABLE;
}

static void set_no_fds_error(GError **error, int err_no)
{
  maildir_set_errno_error(error, err_no,
                          "cannot count the size of a new message");
}

/* @m's unique part is another listed message's too: it gets a UIDL of
 * its own (maildir_uidl_for_duplicate()) rather than being hidden until
 * the other is deleted and then served under the UIDL a client already
 * knows. */
static bool add_duplicate(MaildirMailbox *mb, const MaildirDirs *dirs,
                          MaildirMsg *m)
{
  struct stat st;
  int dir_fd = m->in_new ? dirs->new_fd : dirs->cur_fd;
  if (fstatat(dir_fd, m->file, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    maildir_log(mb, POPLAR_LOG_WARNING, "%s/%s/%s not listed: %s", mb->path,
                dir_of(m), m->file, g_strerror(errno));
    return false;
  }
  g_autofree char *uidl = maildir_uidl_for_duplicate(m->base,
                                                     (uint64_t)st.st_ino);
  if (!poplar_mailbox_add_message(mb->mbox, uidl, m->size, m)) {
    maildir_log(mb, POPLAR_LOG_WARNING,
                "%s/%s/%s not listed: it is another name of a listed file",
                mb->path, dir_of(m), m->file);
    return false;
  }
  m->uidl = g_string_chunk_insert(mb->strings, uidl);
  m->duplicate = true;
  maildir_log(mb, POPLAR_LOG_INFO,
              "%s/%s/%s has the unique part of another message; listed "
              "with the UIDL %s", mb->path, dir_of(m), m->file, m->uidl);
  return true;
}

/* Finds every message's size; messages that vanished or cannot be read are
 * marked dropped.  *@cache_stale tells whether poplar-sizes needs
 * rewriting.  Fails only when the process is out of descriptors, rather
 * than list the mailbox without messages that are there. */
static bool find_sizes(MaildirMailbox *mb, MaildirDirs *dirs,
                       bool *cache_stale, unsigned *counted, GError **error)
{
  MaildirSizeCache *cache = NULL;
  if (mb->store->size_cache) {
    g_autofree char *problem = NULL;
    cache = maildir_size_cache_load(mb->root_fd, &problem);
    if (problem)
      maildir_log(mb, POPLAR_LOG_WARNING, "%s/%s ignored and rebuilt: %s",
                  mb->path, MAILDIR_SIZE_CACHE_FILE, problem);
  }
  g_autofree char *buf = NULL;
  g_autoptr(GPtrArray) missing = g_ptr_array_new();
  bool ok = true;
  int err_no = 0;
  *counted = 0;
  for (size_t i = 0; i < mb->n_msgs && ok; i++) {
    MaildirMsg *m = &mb->msgs[i];
    if (m->has_wsize ||
        (cache && maildir_size_cache_lookup(cache, m->uidl, &m->size,
                                            &m->as_stored)))
      continue;
    switch (count_size(mb, dirs, m, &buf, &err_no)) {
    case SIZE_COUNTED:
      (*counted)++;
      break;
    case SIZE_VANISHED:
      g_ptr_array_add(missing, m);
      break;
    case SIZE_UNREADABLE:
      m->dropped = true;
      break;
    case SIZE_NO_FDS:
      set_no_fds_error(error, err_no);
      ok = false;
      break;
    }
  }
  if (ok && missing->len > 0) {
    /* Renamed between the listing and now (flags changed)? */
    g_autoptr(GError) refind_error = NULL;
    if (!maildir_mailbox_refind(mb, dirs, &refind_error))
      maildir_log(mb, POPLAR_LOG_WARNING, "%s: %s", mb->path,
                  refind_error->message);
    for (guint i = 0; i < missing->len && ok; i++) {
      MaildirMsg *m = g_ptr_array_index(missing, i);
      SizeOutcome outcome =
          refind_error ? SIZE_UNREADABLE
                       : count_size(mb, dirs, m, &buf, &err_no);
      if (outcome == SIZE_COUNTED) {
        (*counted)++;
      } else if (outcome == SIZE_NO_FDS) {
        set_no_fds_error(error, err_no);
        ok = false;
      } else {
        m->dropped = true;
      }
    }
  }
  *cache_stale = cache && maildir_size_cache_stale(cache);
  maildir_size_cache_free(cache);
  return ok;
}

/* Whether this open may use and fill the listing index: UIDLs from
 * another server's UID list depend on more than the directories. */
static bool index_usable(const MaildirMailbox *mb)
{
  return mb->store->index && !mb->store->uidl_format;
}

/* When the listing starts, by the earlier of this machine's clock and the
 * filesystem's: the lock file we just wrote carries the file server's
 * time, which on NFS may be behind ours, and stamps are compared with the
 * clock that made them. */
static bool listing_start(MaildirMailbox *mb, struct timespec *before)
{
  struct stat lock_st;
  if (clock_gettime(CLOCK_REALTIME, before) != 0 ||
      fstatat(mb->root_fd, MAILDIR_LOCK_FILE, &lock_st,
              AT_SYMLINK_NOFOLLOW) != 0)
    return false;
  if (lock_st.st_mtim.tv_sec < before->tv_sec ||
      (lock_st.st_mtim.tv_sec == before->tv_sec &&
       lock_st.st_mtim.tv_nsec < before->tv_nsec))
    *before = lock_st.st_mtim;
  return true;
}

static bool list_in(MaildirMailbox *mb, MaildirDirs *dirs, GError **error)
{
  g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
  if (!maildir_move_new(dirs, &mb->moved_new, warnings, error))
    return false;
  for (guint i = 0; i < warnings->len; i++)
    maildir_log(mb, POPLAR_LOG_WARNING, "%s: %s", mb->path,
                (const char *)g_ptr_array_index(warnings, i));

  /* The clock first, then the stamps: see maildir-index.c. */
  struct timespec before;
  MaildirIndexKey key;
  MaildirIndexStamps stamps_before;
  bool may_keep = index_usable(mb) && listing_start(mb, &before) &&
                  maildir_index_stamps(mb->root_fd, &key, &stamps_before);

  GArray *msgs = g_array_new(FALSE, FALSE, sizeof(MaildirMsg));
  bool listed =
      maildir_list_dir(dirs->cur_fd, false, msgs, mb->strings, error) &&
      maildir_list_dir(dirs->new_fd, true, msgs, mb->strings, error);
  /* Owned by the mailbox from here on, listed or not. */
  mb->n_msgs = msgs->len;
  mb->msgs = (MaildirMsg *)(void *)g_array_free(msgs, FALSE);
  if (!listed)
    return false;
  if (poplar_mailbox_delete_mode(mb->mbox, NULL) == POPLAR_DELETE_HIDE)
    drop_hidden(mb);
  if (mb->n_msgs > 1)
    qsort(mb->msgs, mb->n_msgs, sizeof(MaildirMsg), maildir_msg_compare);
  if (!maildir_uidls_assign(mb, error))
    return false;

  bool cache_stale = false;
  unsigned counted = 0;
  if (!find_sizes(mb, dirs, &cache_stale, &counted, error))
    return false;

  size_t listed_count = 0, as_stored = 0;
  uint64_t octets = 0;
  for (size_t i = 0; i < mb->n_msgs; i++) {
    MaildirMsg *m = &mb->msgs[i];
    if (m->dropped)
      continue;
    if (!poplar_mailbox_add_message(mb->mbox, m->uidl, m->size, m) &&
        !add_duplicate(mb, dirs, m)) {
      m->dropped = true;
      continue;
    }
    listed_count++;
    as_stored += m->as_stored;
    octets += m->size;
  }
  /* Before the login is answered: what a client may see is on disk. */
  if (!maildir_uidls_record(mb, error))
    return false;

  if (mb->store->size_cache && (counted > 0 || cache_stale)) {
    g_autoptr(GError) cache_error = NULL;
    if (!maildir_size_cache_save(mb->root_fd, mb->msgs, mb->n_msgs,
                                 &cache_error))
      maildir_log(mb, POPLAR_LOG_WARNING,
                  "%s: sizes not cached (the next session counts them "
                  "again): %s", mb->path, cache_error->message);
  }
  maildir_log(mb, POPLAR_LOG_DEBUG,
              "%s: %zu messages (%" PRIu64 " octets, %zu sent as stored), "
              "%u moved from new/, %u sizes counted", mb->path,
              listed_count, octets, as_stored, mb->moved_new, counted);

  /* Kept only when nothing moved while listing and no later change can
   * share a stamp with the ones taken. */
  MaildirIndexKey key_after;
  MaildirIndexStamps stamps_after;
  if (may_keep && maildir_index_listable(mb->msgs, mb->n_msgs) &&
      maildir_index_stamps(mb->root_fd, &key_after, &stamps_after) &&
      key_after.dev == key.dev && key_after.ino == key.ino &&
      maildir_index_stamps_equal(&stamps_before, &stamps_after) &&
      maildir_index_stamps_settled(&stamps_after, &before))
    maildir_index_put(mb->store->index, &key, &stamps_after, mb->owner,
                      (int)poplar_mailbox_delete_mode(mb->mbox, NULL),
                      mb->msgs, mb->n_msgs);
  return true;
}

/* The listing the index kept, when the Maildir's stamps say it is still
 * the listing; false otherwise, with nothing changed. */
static bool list_from_index(MaildirMailbox *mb)
{
  MaildirIndexKey key;
  MaildirIndexStamps stamps;
  /* The status of cur/ and new/ taken under the lock at open serves once:
   * nothing was read between. */
  bool checked = mb->have_checked;
  mb->have_checked = false;
  if (!index_usable(mb) ||
      !maildir_index_stamps_with(mb->root_fd,
                                 checked ? &mb->checked_cur : NULL,
                                 checked ? &mb->checked_new : NULL, &key,
                                 &stamps) ||
      !maildir_index_get(mb->store->index, &key, &stamps, mb->owner,
                         (int)poplar_mailbox_delete_mode(mb->mbox, NULL),
                         mb->strings, &mb->msgs, &mb->n_msgs))
    return false;
  mb->from_index = true;
  uint64_t octets = 0;
  for (size_t i = 0; i < mb->n_msgs; i++) {
    MaildirMsg *m = &mb->msgs[i];
    /* The same UIDLs were accepted when the listing was kept. */
    if (!poplar_mailbox_add_message(mb->mbox, m->uidl, m->size, m)) {
      maildir_log(mb, POPLAR_LOG_WARNING, "%s/cur/%s not listed: its UIDL "
                  "%s is listed already", mb->path, m->file, m->uidl);
      m->dropped = true;
      continue;
    }
    octets += m->size;
  }
  maildir_log(mb, POPLAR_LOG_DEBUG, "%s: %zu messages (%" PRIu64 " octets) "
              "from the listing index", mb->path, mb->n_msgs, octets);
  return true;
}

/* cur/ and new/ are open only while the listing runs. */
static bool owner_of(MaildirMailbox *mb, GError **error)
{
  const char *field = poplar_mailbox_field(mb->mbox, "uid");
  if (field) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = g_ascii_strtoull(field, &end, 10);
    if (errno || end == field || *end || field[0] == '-' ||
        v != (unsigned long long)(uid_t)v || (uid_t)v == (uid_t)-1) {
      g_set_error(error, MAILDIR_ERROR, POPLAR_STORE_PERMFAIL,
                  "the password database gave the uid \"%s\", which is "
                  "not a number", field);
      return false;
    }
    mb->owner = (uid_t)v;
    return true;
  }
  struct stat st;
  if (fstat(mb->root_fd, &st) != 0) {
    maildir_set_errno_error(error, errno, "cannot stat the Maildir");
    return false;
  }
  mb->owner = st.st_uid;
  return true;
}

static bool list_messages(MaildirMailbox *mb, GError **error)
{
  if (list_from_index(mb))
    return true;
  MaildirDirs dirs = MAILDIR_DIRS_INIT;
  if (!maildir_dirs_open(mb->root_fd, mb->path, &dirs, error))
    return false;
  bool listed = list_in(mb, &dirs, error);
  maildir_dirs_close(&dirs);
  return listed;
}

/* "/home/u/Maildir///" -> "/home/u/Maildir" */
static char *clean_path(const char *location)
{
  size_t len = strlen(location);
  while (len > 1 && location[len - 1] == '/')
    len--;
  return g_strndup(location, len);
}

static PoplarStoreResult maildir_open(void *data, PoplarMailbox *mbox,
                                      const char *location)
{
  MaildirStore *store = data;
  if (location[0] != '/') {
    poplar_mailbox_set_error(mbox, "mail location maildir:%s is not an "
                             "absolute path", location);
    return POPLAR_STORE_PERMFAIL;
  }
  MaildirMailbox *mb = g_new0(MaildirMailbox, 1);
  mb->store = store;
  mb->mbox = mbox;
  mb->path = clean_path(location);
  mb->root_fd = -1;
  mb->strings = g_string_chunk_new(4096);

  g_autoptr(GError) error = NULL;
  g_autofree char *note = NULL;
  /* new/, cur/ and tmp/ are checked under the lock: the status calls
   * that check them are then also the listing index's stamps. */
  mb->root_fd = maildir_root_open_dir(mb->path, store->create, &error);
  if (mb->root_fd < 0 || !owner_of(mb, &error))
    goto fail;
  if (maildir_lock_acquire(mb->root_fd, store->lock_timeout_ms,
                           &mb->lock, &note, &error) != POPLAR_STORE_OK) {
    if (note)
      maildir_log(mb, POPLAR_LOG_INFO, "%s: %s", mb->path, note);
    goto fail;
  }
  if (note)
    maildir_log(mb, POPLAR_LOG_INFO, "%s: %s", mb->path, note);
  if (!maildir_root_check(mb->root_fd, mb->path, store->create,
                          &mb->checked_cur, &mb->checked_new,
                          &mb->have_checked, &error))
    goto fail;
  maildir_lock_keeper_add(store->keeper, mb->lock, mb->path);
  if (!list_messages(mb, &error))
    goto fail;
  poplar_mailbox_set_data(mbox, mb);
  return POPLAR_STORE_OK;

fail:
  poplar_mailbox_set_error(mbox, "%s: %s", mb->path, error->message);
  mailbox_free(mb);
  return (PoplarStoreResult)error->code;
}

static void maildir_close(void *data, PoplarMailbox *mbox)
{
  (void)data;
  mailbox_free(poplar_mailbox_get_data(mbox));
  poplar_mailbox_set_data(mbox, NULL);
}

static void maildir_destroy(void *data)
{
  MaildirStore *store = data;
  maildir_lock_keeper_free(store->keeper);
  maildir_index_free(store->index);
  uidl_format_free(store->uidl_format);
  g_free(store);
}

static const PoplarStoreOps maildir_ops = {
    .open = maildir_open,
    .message_open = maildir_message_open,
    .message_read = maildir_message_read,
    .message_close = maildir_message_close,
    .expunge = maildir_expunge,
    .close = maildir_close,
    .destroy = maildir_destroy,
    .message_open_fd = maildir_message_open_fd,
};

/* uidl-format and uid-source; an unset uidl-format keeps the file
 * name's unique part, with no UID list read at all. */
static bool read_uidl_settings(PoplarConfig *config, UidlFormat **format,
                               MaildirUidSource *source)
{
  const char *text = poplar_config_get_string(config, "uidl-format", NULL);
  const char *source_name =
      poplar_config_get_string(config, "uid-source", "dovecot");
  bool ok = true;
  if (strcmp(source_name, "dovecot") == 0) {
    *source = MAILDIR_UID_DOVECOT;
  } else if (strcmp(source_name, "courier") == 0) {
    *source = MAILDIR_UID_COURIER;
  } else if (strcmp(source_name, "courier-pop3") == 0) {
    *source = MAILDIR_UID_COURIER_POP3;
  } else {
    poplar_config_error(config, "uid-source",
                        "must be dovecot (dovecot-uidlist), courier "
                        "(courierimapuiddb) or courier-pop3 "
                        "(courierpop3dsizelist), not \"%s\"", source_name);
    ok = false;
  }
  if (text) {
    g_autofree char *problem = NULL;
    /* %m is refused as Dovecot refuses it on Maildir: no UIDL a client
     * could know was ever made from it there. */
    *format = uidl_format_parse(text, UIDL_VAR_UID | UIDL_VAR_UIDVALIDITY |
                                          UIDL_VAR_FILENAME | UIDL_VAR_GUID,
                                &problem);
    if (!*format) {
      poplar_config_error(config, "uidl-format", "%s", problem);
      ok = false;
    }
  }
  return ok;
}

static bool maildir_init(PoplarPlugin *plugin, PoplarConfig *config)
{
  bool create = true, size_cache = true, listing_index = true;
  uint64_t lock_timeout_ms = DEFAULT_LOCK_TIMEOUT_MS;
  /* Every key is read before giving up, so one run reports every problem. */
  bool ok = poplar_config_get_bool(config, "create", true, &create);
  ok = poplar_config_get_bool(config, "size-cache", true, &size_cache) && ok;
  ok = poplar_config_get_bool(config, "listing-index", true, &listing_index) &&
       ok;
  if (!poplar_config_get_duration(config, "lock-timeout",
                                  DEFAULT_LOCK_TIMEOUT_MS, &lock_timeout_ms)) {
    ok = false;
  } else if (lock_timeout_ms < MIN_LOCK_TIMEOUT_MS ||
             lock_timeout_ms > MAX_LOCK_TIMEOUT_MS) {
    poplar_config_error(config, "lock-timeout",
                        "must be between 2s and 7d (a lock is refreshed "
                        "every quarter of it)");
    ok = false;
  }
  UidlFormat *uidl_format = NULL;
  MaildirUidSource uid_source = MAILDIR_UID_DOVECOT;
  ok = read_uidl_settings(config, &uidl_format, &uid_source) && ok;
  if (!ok) {
    uidl_format_free(uidl_format);
    return false;
  }

  MaildirStore *store = g_new0(MaildirStore, 1);
  store->uidl_format = uidl_format;
  store->uid_source = uid_source;
  store->plugin = plugin;
  store->create = create;
  store->size_cache = size_cache;
  store->lock_timeout_ms = lock_timeout_ms;
  store->keeper = maildir_lock_keeper_new(plugin, lock_timeout_ms / 4);
  store->index = listing_index ? maildir_index_new() : NULL;
  if (!poplar_register_store(plugin, "maildir", &maildir_ops,
                             sizeof maildir_ops, store)) {
    maildir_destroy(store);
    return false;
  }
  return true;
}

POPLAR_PLUGIN_DEFINE(store_maildir, "0.1.0", "Maildir mailboxes (maildir:)",
                     NULL, maildir_init, NULL)
