/* SPDX-License-Identifier: MIT */
/*
 * store-mbox: POP3 mailboxes in mbox files, location scheme "mbox:"
 * (mail = mbox:/var/mail/%u, or mbox:/var/mail/%u:INDEX=%h/.poplar to
 * keep the index and the session lock under the user's home).
 *
 * Opening a mailbox: take the POP3 session lock ([IN-USE]), open the
 * mbox, take the MTA locks (dotlock and fcntl by default), bring the
 * listing up to date with the index (mbox-sync.c), release the MTA locks,
 * hand the messages to the core and save the index.  A missing mbox is an
 * empty mailbox (/var/mail/USER appears with the first delivery).
 *
 * Thread safety: the store's data is read-only after init; everything
 * else belongs to one mailbox, which the core never uses from two threads
 * at once.
 */
#include "mbox.h"
#include "uidl-format.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_LOCK_TIMEOUT_MS (30 * 1000)
#define MAX_LOCK_TIMEOUT_MS (10 * 60 * 1000)
/* liblockfile's age for a dotlock with no live owner. */
#define DEFAULT_DOTLOCK_STALE_MS (5 * 60 * 1000)
#define MAX_DOTLOCK_STALE_MS (24ull * 60 * 60 * 1000)
#define INDEX_OPTION ":INDEX="

void mbox_log(MboxMailbox *mb, PoplarLogLevel level, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *text = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  poplar_session_log(poplar_mailbox_session(mb->mbox), mb->store->plugin,
                     level, "%s", text);
}

static void mailbox_free(MboxMailbox *mb)
{
  if (!mb)
    return;
  if (mb->read_refs > 0) {
    mb->read_refs = 1;
    mbox_lock_release(&mb->read_lock, NULL);
    mb->read_refs = 0;
  }
  if (mb->fd >= 0)
    close(mb->fd);
  mbox_session_lock_release(&mb->session);
  if (mb->dir_fd >= 0)
    close(mb->dir_fd);
  if (mb->index_dir_fd >= 0)
    close(mb->index_dir_fd);
  g_free(mb->index_name);
  g_free(mb->session_lock_name);
  g_free(mb->msgs);
  if (mb->strings)
    g_string_chunk_free(mb->strings);
  g_free(mb->path);
  g_free(mb->dir);
  g_free(mb->name);
  g_free(mb->index_path);
  g_free(mb->policy_state_path);
  g_free(mb->session_lock_path);
  g_free(mb);
}

/* What the index-dir setting may use: the parts of the user name, each
 * of which must stay one directory entry. */
#define INDEX_DIR_FLAGS                                                     \
  (POPLAR_EXPAND_USER | POPLAR_EXPAND_LOCAL_PART | POPLAR_EXPAND_DOMAIN |   \
   POPLAR_EXPAND_PATH_SAFE)

static char *expand_index_dir(const char *tmpl, const char *user,
                              GError **error)
{
  char why[POPLAR_EXPAND_ERROR_SIZE];
  char *dir = poplar_expand(tmpl, user, NULL, INDEX_DIR_FLAGS, NULL, NULL,
                            why, sizeof why);
  if (!dir)
    g_set_error(error, MBOX_ERROR, POPLAR_STORE_PERMFAIL, "index-dir: %s",
                why);
  return dir;
}

/* Splits "PATH[:INDEX=DIR]" and works out every file name of @mb. */
static bool set_paths(MboxMailbox *mb, const char *location, GError **error)
{
  g_autofree char *path = NULL, *index_dir = NULL;
  const char *opt = strstr(location, INDEX_OPTION);
  if (opt) {
    path = g_strndup(location, (gsize)(opt - location));
    index_dir = g_strdup(opt + strlen(INDEX_OPTION));
    if (index_dir[0] != '/') {
      g_set_error(error, MBOX_ERROR, POPLAR_STORE_PERMFAIL,
                  "INDEX= in mail location mbox:%s is not an absolute path",
                  location);
      return false;
    }
  } else {
    path = g_strdup(location);
  }
  if (path[0] != '/' || g_str_has_suffix(path, "/")) {
    g_set_error(error, MBOX_ERROR, POPLAR_STORE_PERMFAIL,
                "mail location mbox:%s is not the absolute path of a file",
                location);
    return false;
  }
  mb->path = g_steal_pointer(&path);
  mb->dir = g_path_get_dirname(mb->path);
  mb->name = g_path_get_basename(mb->path);
  if (!index_dir && mb->store->index_dir) {
    index_dir = expand_index_dir(mb->store->index_dir,
                                 poplar_mailbox_user(mb->mbox), error);
    if (!index_dir)
      return false;
  }
  if (!mbox_open_dirs(mb, index_dir, error))
    return false;
  mb->index_name = g_strdup_printf(".%s" MBOX_INDEX_SUFFIX, mb->name);
  mb->session_lock_name = g_strdup_printf(".%s" MBOX_LOCK_SUFFIX, mb->name);
  const char *shown_dir = index_dir ? index_dir : mb->dir;
  mb->index_path = g_build_filename(shown_dir, mb->index_name, NULL);
  mb->session_lock_path =
      g_build_filename(shown_dir, mb->session_lock_name, NULL);
  g_autofree char *policy_name =
      g_strdup_printf(".%s" MBOX_POLICY_SUFFIX, mb->name);
  mb->policy_state_path = g_build_filename(shown_dir, policy_name, NULL);
  return true;
}

/* Opens the mbox and takes the MTA locks, making sure the locked file is
 * the one the name points to (an MUA may have renamed a new one over it
 * between our open and our lock).  Returns GONE when there is no mbox. */
static PoplarStoreResult open_locked(MboxMailbox *mb, MboxLock *lock,
                                     GError **error)
{
  for (int attempt = 0;; attempt++) {
    PoplarStoreResult r =
        mbox_open_file(mb, O_RDONLY, &mb->fd, &mb->st, error);
    if (r != POPLAR_STORE_OK)
      return r;
    g_autofree char *note = NULL;
    r = mbox_lock_acquire(lock, &mb->store->lock, mb->dir_fd, mb->path,
                          mb->fd, mb->store->lock.methods, false, &note,
                          error);
    if (note)
      mbox_log(mb, POPLAR_LOG_INFO, "%s", note);
    if (r != POPLAR_STORE_OK)
      return r;
    if (fstat(mb->fd, &mb->st) != 0) {
      mbox_set_errno_error(error, errno, "cannot stat %s", mb->path);
      return POPLAR_STORE_TEMPFAIL;
    }
    if (mbox_name_matches(mb, &mb->st))
      return POPLAR_STORE_OK;
    mbox_lock_release(lock, NULL);
    close(mb->fd);
    mb->fd = -1;
    if (attempt == 3) {
      g_set_error(error, MBOX_ERROR, POPLAR_STORE_TEMPFAIL,
                  "%s keeps being replaced by another program", mb->path);
      return POPLAR_STORE_TEMPFAIL;
    }
  }
}

static const char *sync_kind_name(MboxSyncKind kind)
{
  switch (kind) {
  case MBOX_SYNC_EMPTY:
    return "no mbox file";
  case MBOX_SYNC_CACHED:
    return "unchanged, from the index";
  case MBOX_SYNC_APPENDED:
    return "new mail parsed";
  case MBOX_SYNC_RESCANNED:
    return "changed by another program, parsed again";
  default:
    return "parsed (no index yet)";
  }
}

/* Hands the messages to the core and reports what deserves a look. */
static bool list_messages(MboxMailbox *mb, GError **error)
{
  uint64_t octets = 0;
  for (size_t i = 0; i < mb->n_msgs; i++) {
    MboxMsg *m = &mb->msgs[i];
    if (m->flags & MBOX_MSG_PSEUDO)
      continue; /* folder data, not mail */
    if (m->flags & MBOX_MSG_HEADLESS)
      mbox_log(mb, POPLAR_LOG_WARNING,
               "%s does not start with a From_ line: the %" PRIu64
               " octets before the first one are served as message %zu",
               mb->path, m->end, i + 1);
    if (m->flags & MBOX_MSG_TRUNCATED)
      mbox_log(mb, POPLAR_LOG_WARNING,
               "%s: the last message (offset %" PRIu64 ", UIDL %s) looks "
               "truncated: the file does not end with the empty line MTAs "
               "write after a message; it is served as it is",
               mb->path, m->from, m->uidl);
    if (!poplar_mailbox_add_message(mb->mbox, m->uidl, m->size, m)) {
      /* UIDLs are valid and unique by construction: never drop a message
       * silently, fail instead. */
      g_set_error(error, MBOX_ERROR, POPLAR_STORE_TEMPFAIL,
                  "%s: message at offset %" PRIu64 " refused (UIDL %s)",
                  mb->path, m->from, m->uidl);
      return false;
    }
    octets += m->size;
  }
  mbox_log(mb, POPLAR_LOG_DEBUG,
           "%s: %zu messages (%" PRIu64 " octets), %s, %zu reused from "
           "the index", mb->path, mb->n_msgs, octets,
           sync_kind_name(mb->sync_kind), mb->n_reused);
  return true;
}

static PoplarStoreResult open_mailbox(MboxMailbox *mb, const char *location,
                                      GError **error)
{
  if (!set_paths(mb, location, error))
    return (PoplarStoreResult)(*error)->code;
  g_autofree char *who = g_strdup_printf(
      "pid %ld, session %s, user %s", (long)getpid(),
      poplar_session_id(poplar_mailbox_session(mb->mbox)),
      poplar_mailbox_user(mb->mbox));
  PoplarStoreResult r = mbox_session_lock_acquire(
      &mb->session, mb->index_dir_fd, mb->session_lock_name,
      mb->session_lock_path, mb->owner, who, error);
  if (r != POPLAR_STORE_OK)
    return r;

  MboxLock lock = MBOX_LOCK_INIT;
  r = open_locked(mb, &lock, error);
  if (r == POPLAR_STORE_GONE) {
    mb->sync_kind = MBOX_SYNC_EMPTY;
    return list_messages(mb, error) ? POPLAR_STORE_OK
                                    : POPLAR_STORE_TEMPFAIL;
  }
  if (r != POPLAR_STORE_OK) {
    if (lock.held)
      mbox_lock_release(&lock, NULL);
    return r;
  }
  /* A rewrite killed before its rename leaves its copy: we hold the
   * locks every rewrite holds, so none is running. */
  g_autofree char *leftover = g_strdup_printf(".%s" MBOX_REWRITE_SUFFIX,
                                              mb->name);
  if (unlinkat(mb->dir_fd, leftover, 0) == 0)
    mbox_log(mb, POPLAR_LOG_INFO, "removed %s/%s left by an interrupted "
             "rewrite", mb->dir, leftover);
  bool synced = mbox_sync(mb, &lock, error);
  g_autofree char *warning = NULL;
  if (!mbox_lock_release(&lock, &warning))
    mbox_log(mb, POPLAR_LOG_WARNING, "%s", warning);
  if (!synced)
    return (PoplarStoreResult)(*error)->code;
  if (!list_messages(mb, error))
    return POPLAR_STORE_TEMPFAIL;
  if (mb->sync_kind != MBOX_SYNC_CACHED) {
    g_autoptr(GError) save_error = NULL;
    if (!mbox_index_save_at(mb->index_dir_fd, mb->index_name,
                            mb->index_path, mb->store->format, &mb->st,
                            mb->scanned, mb->msgs, mb->n_msgs, &save_error))
      mbox_log(mb, POPLAR_LOG_WARNING,
               "%s (UIDLs stay stable; the next session parses the mbox "
               "again)", save_error->message);
  }
  return POPLAR_STORE_OK;
}

static PoplarStoreResult mbox_open(void *data, PoplarMailbox *mbox,
                                   const char *location)
{
  MboxMailbox *mb = g_new0(MboxMailbox, 1);
  MboxLock no_lock = MBOX_LOCK_INIT;
  mb->store = data;
  mb->mbox = mbox;
  mb->fd = -1;
  mb->dir_fd = -1;
  mb->index_dir_fd = -1;
  mb->session.fd = -1;
  mb->read_lock = no_lock;
  mb->strings = g_string_chunk_new(64 * 1024);
  g_autoptr(GError) error = NULL;
  PoplarStoreResult r = open_mailbox(mb, location, &error);
  if (r != POPLAR_STORE_OK) {
    poplar_mailbox_set_error(mbox, "%s", error->message);
    mailbox_free(mb);
    return r;
  }
  poplar_mailbox_set_data(mbox, mb);
  return POPLAR_STORE_OK;
}

static void mbox_close(void *data, PoplarMailbox *mbox)
{
  (void)data;
  mailbox_free(poplar_mailbox_get_data(mbox));
  poplar_mailbox_set_data(mbox, NULL);
}

/* Beside the index, where the session lock that covers it is. */
static const char *mbox_policy_state_path(void *data, PoplarMailbox *mbox)
{
  (void)data;
  MboxMailbox *mb = poplar_mailbox_get_data(mbox);
  return mb->policy_state_path;
}

static void mbox_destroy(void *data)
{
  MboxStore *store = data;
  uidl_format_free(store->uidl_format);
  g_free(store->index_dir);
  g_free(store);
}

static const PoplarStoreOps mbox_ops = {
    .open = mbox_open,
    .message_open = mbox_message_open,
    .message_read = mbox_message_read,
    .message_close = mbox_message_close,
    .expunge = mbox_expunge,
    .close = mbox_close,
    .destroy = mbox_destroy,
    .policy_state_path = mbox_policy_state_path,
};

static bool read_locking(PoplarConfig *config, unsigned *methods)
{
  size_t n = 0;
  const char *const *items = poplar_config_get_list(config, "locking", &n);
  if (!poplar_config_has_key(config, "locking")) {
    *methods = MBOX_LOCK_FCNTL | MBOX_LOCK_DOTLOCK;
    return true;
  }
  *methods = 0;
  for (size_t i = 0; i < n; i++) {
    if (g_ascii_strcasecmp(items[i], "fcntl") == 0) {
      *methods |= MBOX_LOCK_FCNTL;
    } else if (g_ascii_strcasecmp(items[i], "dotlock") == 0) {
      *methods |= MBOX_LOCK_DOTLOCK;
    } else if (g_ascii_strcasecmp(items[i], "flock") == 0) {
      *methods |= MBOX_LOCK_FLOCK;
    } else {
      poplar_config_error(config, "locking",
                          "unknown method '%s' (known: fcntl, dotlock, "
                          "flock)", items[i]);
      return false;
    }
  }
  if (*methods == 0) {
    poplar_config_error(config, "locking", "needs at least one method");
    return false;
  }
  if (!(*methods & MBOX_LOCK_DOTLOCK))
    poplar_config_warning(config, "locking",
                          "without dotlock, an MTA that locks with fcntl "
                          "only after opening the mbox may append to it "
                          "while it is being replaced at UPDATE");
  return true;
}

static bool mbox_init(PoplarPlugin *plugin, PoplarConfig *config)
{
  /* Every key is read before giving up, so one run reports every
   * problem. */
  bool ok = true;
  MboxFormat format = MBOX_FORMAT_MBOXO;
  const char *format_name = poplar_config_get_string(config, "format",
                                                     "mboxo");
  if (g_ascii_strcasecmp(format_name, "mboxrd") == 0) {
    format = MBOX_FORMAT_MBOXRD;
  } else if (g_ascii_strcasecmp(format_name, "mboxo") != 0) {
    poplar_config_error(config, "format",
                        "unknown mbox format '%s' (known: mboxo, mboxrd)",
                        format_name);
    ok = false;
  }
  unsigned methods = 0;
  ok = read_locking(config, &methods) && ok;
  uint64_t timeout_ms = DEFAULT_LOCK_TIMEOUT_MS;
  if (!poplar_config_get_duration(config, "lock-timeout",
                                  DEFAULT_LOCK_TIMEOUT_MS, &timeout_ms)) {
    ok = false;
  } else if (timeout_ms > MAX_LOCK_TIMEOUT_MS) {
    poplar_config_error(config, "lock-timeout",
                        "must be at most 10m (a client waits for it)");
    ok = false;
  }
  uint64_t stale_ms = DEFAULT_DOTLOCK_STALE_MS;
  if (!poplar_config_get_duration(config, "dotlock-stale",
                                  DEFAULT_DOTLOCK_STALE_MS, &stale_ms)) {
    ok = false;
  } else if (stale_ms > MAX_DOTLOCK_STALE_MS) {
    poplar_config_error(config, "dotlock-stale", "must be at most 1d");
    ok = false;
  }
  const char *index_dir = poplar_config_get_string(config, "index-dir", NULL);
  char why[POPLAR_EXPAND_ERROR_SIZE];
  if (index_dir && index_dir[0] != '/') {
    poplar_config_error(config, "index-dir", "must be an absolute path");
    ok = false;
  } else if (index_dir &&
             !poplar_expand_check(index_dir, INDEX_DIR_FLAGS, NULL, why,
                                  sizeof why)) {
    poplar_config_error(config, "index-dir", "'%s': %s", index_dir, why);
    ok = false;
  }
  bool use_x_uidl = true;
  ok = poplar_config_get_bool(config, "x-uidl", true, &use_x_uidl) && ok;
  UidlFormat *uidl_format = NULL;
  const char *uidl_text = poplar_config_get_string(config, "uidl-format",
                                                   NULL);
  if (uidl_text) {
    g_autofree char *problem = NULL;
    /* An mbox has UIDs and a UIDVALIDITY (X-UID, X-IMAPbase), but no file
     * names or GUIDs, and Dovecot's %m there hashes headers as Poplar
     * does not. */
    uidl_format = uidl_format_parse(
        uidl_text, UIDL_VAR_UID | UIDL_VAR_UIDVALIDITY, &problem);
    if (!uidl_format) {
      poplar_config_error(config, "uidl-format", "%s (store-mbox has %%u "
                          "and %%v)", problem);
      ok = false;
    }
  }
  if (!ok) {
    uidl_format_free(uidl_format);
    return false;
  }

  MboxStore *store = g_new0(MboxStore, 1);
  store->plugin = plugin;
  store->format = format;
  store->lock.methods = methods;
  store->lock.timeout_ms = timeout_ms;
  store->lock.dotlock_stale_ms = stale_ms;
  store->index_dir = index_dir && index_dir[0] ? g_strdup(index_dir) : NULL;
  store->use_x_uidl = use_x_uidl;
  store->uidl_format = uidl_format;
  if (!poplar_register_store(plugin, "mbox", &mbox_ops, sizeof mbox_ops,
                             store)) {
    mbox_destroy(store);
    return false;
  }
  return true;
}

POPLAR_PLUGIN_DEFINE(store_mbox, "0.1.0", "mbox mailboxes (mbox:)", NULL,
                     mbox_init, NULL)
