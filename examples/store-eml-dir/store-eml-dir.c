/* SPDX-License-Identifier: MIT */
/*
 * store-eml-dir - serve a read-only directory of .eml files over POP3.
 *
 * A complete Poplar mail store, written to be copied.  It registers the
 * location scheme "emldir", so a mail location such as
 *
 *   mail = emldir:/srv/archive/%u
 *
 * makes each user's mailbox the *.eml files of one directory, one message
 * per file, in file name order.  Useful to publish an archive or a set of
 * fixed messages (a welcome mail, test fixtures) to POP3 clients.
 *
 * Read-only means:
 *  - no lock: nothing in the directory is changed by this store, so any
 *    number of sessions may read the same directory at once.  A store that
 *    deletes (Maildir, mbox) must lock the mailbox in open, answer
 *    POPLAR_STORE_IN_USE when it is taken, and unlock in close.
 *  - DELE is refused with -ERR [SYS/PERM] by a message_delete hook that
 *    this plugin registers next to the store, so the client learns at once
 *    that the message stays.  Should another plugin's hook answer
 *    POPLAR_ACCEPT before ours and let a DELE through, expunge keeps the
 *    files and fails with POPLAR_STORE_PERMFAIL: nothing is ever deleted,
 *    and the client is not told it was.
 *
 * UIDLs come from the file name without its suffix when that is 1 to 70
 * characters in 0x21..0x7E (RFC 1939, section 7) and does not start with
 * '~'.  Any other name gets "~" and a 64-bit FNV-1a hash of the name in hex:
 * stable across sessions and restarts, and the '~' keeps a hashed UIDL from
 * ever equalling a name used as is.  A name is a message's identity: do not
 * reuse the name of a removed file for a different message, or clients
 * that remember UIDLs will think they already have it.
 *
 * Files whose names start with '.' are skipped, so a writer can create
 * ".new.eml" and rename() it into place; a half-written file is never
 * served.
 *
 * Configuration (section [store-eml-dir], optional):
 *   suffix = .eml      which files are messages
 *
 * Plain C11 + POSIX; build with the Makefile next to this file.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <poplar/plugin.h>

#define UIDL_MAX 70 /* RFC 1939, section 7 */
#define HASHED_UIDL_MARK '~'

/* The plugin's state, shared by all sessions; read-only after init. */
struct eml_store {
  PoplarPlugin *plugin;
  char *suffix;
};

/* One file of an open mailbox. */
struct eml_file {
  char *name;
  off_t stored_size; /* as listed; a change means the file was replaced */
  uint64_t size;     /* as sent: CRLF line ends */
};

/* An open mailbox, owned by the session that opened it. */
struct eml_mailbox {
  int dir_fd; /* the directory, opened once so renames of it cannot
               * redirect later reads */
  struct eml_file *files;
  size_t n_files;
};

/* A message being read by RETR or TOP. */
struct eml_stream {
  int fd;
  PoplarMailbox *mbox;
  const char *name;
};

/* Put in the session's slot of this plugin while one of our mailboxes is
 * open, so that the DELE hook knows the mailbox is ours. */
static const char read_only_mark = 'r';

/* ---- small helpers ---------------------------------------------------- */

/* strerror() may use a static buffer; several sessions log at once. */
static const char *error_text(int err, char *buf, size_t len)
{
  if (strerror_r(err, buf, len) != 0)
    snprintf(buf, len, "error %d", err);
  return buf;
}

/* Errors worth retrying answer TEMPFAIL; the rest PERMFAIL. */
static PoplarStoreResult result_for_errno(int err)
{
  switch (err) {
  case EINTR:
  case EAGAIN:
  case EIO:
  case EMFILE:
  case ENFILE:
  case ENOMEM:
  case ESTALE:
    return POPLAR_STORE_TEMPFAIL;
  default:
    return POPLAR_STORE_PERMFAIL;
  }
}

static bool has_suffix(const char *name, const char *suffix)
{
  size_t n = strlen(name), s = strlen(suffix);
  return n > s && strcasecmp(name + n - s, suffix) == 0;
}

/* Builds the UIDL of @name (see the top of the file) into @uidl, which has
 * room for UIDL_MAX + 1 octets. */
static void uidl_for_name(const char *name, size_t stem_len,
                          char uidl[UIDL_MAX + 1])
{
  bool usable = stem_len >= 1 && stem_len <= UIDL_MAX &&
                name[0] != HASHED_UIDL_MARK;

  for (size_t i = 0; usable && i < stem_len; i++)
    usable = name[i] >= 0x21 && name[i] <= 0x7e;
  if (usable) {
    memcpy(uidl, name, stem_len);
    uidl[stem_len] = '\0';
    return;
  }

  /* FNV-1a: tiny, unseeded (so stable across restarts), and spreads
   * similar names well.  Collisions are possible in theory; the core
   * refuses a duplicate UIDL and open then skips that file. */
  uint64_t hash = 0xcbf29ce484222325u;
  for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
    hash ^= *p;
    hash *= 0x100000001b3u;
  }
  snprintf(uidl, UIDL_MAX + 1, "%c%016llx", HASHED_UIDL_MARK,
           (unsigned long long)hash);
}

/* Computes the size a message has on the wire, reading the whole file.
 * A real store would cache it (store-maildir keeps it in the file name);
 * here every open reads every file once. */
static bool crlf_size_of(int fd, uint64_t *size, int *err)
{
  PoplarCrlfSize counter;
  char buf[65536];

  poplar_crlf_size_init(&counter);
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      *err = errno;
      return false;
    }
    if (n == 0)
      break;
    poplar_crlf_size_feed(&counter, buf, (size_t)n);
  }
  *size = poplar_crlf_size_finish(&counter);
  return true;
}

static int compare_files(const void *a, const void *b)
{
  return strcmp(((const struct eml_file *)a)->name,
                ((const struct eml_file *)b)->name);
}

static void mailbox_free(struct eml_mailbox *mb)
{
  if (mb == NULL)
    return;
  for (size_t i = 0; i < mb->n_files; i++)
    free(mb->files[i].name);
  free(mb->files);
  if (mb->dir_fd >= 0)
    close(mb->dir_fd);
  free(mb);
}

/* ---- open: list the directory ----------------------------------------- */

/* Collects the names of the message files of @mb->dir_fd, sorted. */
static PoplarStoreResult list_files(const struct eml_store *store,
                                    PoplarMailbox *mbox,
                                    struct eml_mailbox *mb)
{
  char ebuf[128];
  size_t capacity = 0;
  int dup_fd = dup(mb->dir_fd); /* closedir() closes what it is given */
  DIR *dir = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;

  if (dir == NULL) {
    int err = errno;
    if (dup_fd >= 0)
      close(dup_fd);
    poplar_mailbox_set_error(mbox, "cannot read directory %s: %s",
                             poplar_mailbox_location(mbox),
                             error_text(err, ebuf, sizeof ebuf));
    return result_for_errno(err);
  }

  for (;;) {
    errno = 0;
    struct dirent *entry = readdir(dir);
    if (entry == NULL)
      break;
    const char *name = entry->d_name;
    struct stat st;
    if (name[0] == '.' || !has_suffix(name, store->suffix))
      continue;
    if (fstatat(mb->dir_fd, name, &st, 0) != 0 || !S_ISREG(st.st_mode))
      continue; /* vanished meanwhile, or a directory called x.eml */
    if (mb->n_files == capacity) {
      size_t more = capacity ? capacity * 2 : 64;
      struct eml_file *grown = realloc(mb->files, more * sizeof *grown);
      if (grown == NULL) {
        closedir(dir);
        poplar_mailbox_set_error(mbox, "out of memory listing %s",
                                 poplar_mailbox_location(mbox));
        return POPLAR_STORE_TEMPFAIL;
      }
      mb->files = grown;
      capacity = more;
    }
    struct eml_file *file = &mb->files[mb->n_files];
    file->name = strdup(name);
    if (file->name == NULL) {
      closedir(dir);
      poplar_mailbox_set_error(mbox, "out of memory listing %s",
                               poplar_mailbox_location(mbox));
      return POPLAR_STORE_TEMPFAIL;
    }
    file->stored_size = st.st_size;
    file->size = 0;
    mb->n_files++;
  }
  int err = errno;
  closedir(dir);
  if (err != 0) {
    poplar_mailbox_set_error(mbox, "cannot read directory %s: %s",
                             poplar_mailbox_location(mbox),
                             error_text(err, ebuf, sizeof ebuf));
    return result_for_errno(err);
  }

  /* POP3 numbers must not change under a client between sessions more
   * than the mailbox itself does: file name order is stable. */
  if (mb->n_files > 0)
    qsort(mb->files, mb->n_files, sizeof *mb->files, compare_files);
  return POPLAR_STORE_OK;
}

static PoplarStoreResult eml_open(void *data, PoplarMailbox *mbox,
                                  const char *location)
{
  const struct eml_store *store = data;
  char ebuf[128];
  struct eml_mailbox *mb = calloc(1, sizeof *mb);

  if (mb == NULL) {
    poplar_mailbox_set_error(mbox, "out of memory");
    return POPLAR_STORE_TEMPFAIL;
  }
  mb->dir_fd = open(location, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (mb->dir_fd < 0) {
    int err = errno;
    poplar_mailbox_set_error(mbox, "cannot open directory %s: %s", location,
                             error_text(err, ebuf, sizeof ebuf));
    mailbox_free(mb);
    return result_for_errno(err);
  }

  PoplarStoreResult result = list_files(store, mbox, mb);
  if (result != POPLAR_STORE_OK) {
    mailbox_free(mb);
    return result;
  }

  size_t suffix_len = strlen(store->suffix);
  for (size_t i = 0; i < mb->n_files; i++) {
    struct eml_file *file = &mb->files[i];
    int fd = openat(mb->dir_fd, file->name, O_RDONLY | O_CLOEXEC);
    int err = 0;
    bool sized = fd >= 0 && crlf_size_of(fd, &file->size, &err);
    if (fd < 0)
      err = errno;
    if (fd >= 0)
      close(fd);
    if (!sized && err == ENOENT)
      continue; /* removed since the listing: simply not in this session */
    if (!sized) {
      poplar_mailbox_set_error(mbox, "cannot read %s/%s: %s", location,
                               file->name, error_text(err, ebuf, sizeof ebuf));
      mailbox_free(mb);
      return result_for_errno(err);
    }

    char uidl[UIDL_MAX + 1];
    uidl_for_name(file->name, strlen(file->name) - suffix_len, uidl);
    /* The message's data points into mb->files, which no longer moves. */
    if (poplar_mailbox_add_message(mbox, uidl, file->size, file) == NULL)
      poplar_session_log(poplar_mailbox_session(mbox), store->plugin,
                         POPLAR_LOG_WARNING,
                         "%s/%s skipped: its UIDL %s is already taken",
                         location, file->name, uidl);
  }

  poplar_mailbox_set_data(mbox, mb);
  poplar_session_set_data(poplar_mailbox_session(mbox), store->plugin,
                          (void *)&read_only_mark, NULL);
  return POPLAR_STORE_OK;
}

/* ---- reading messages ------------------------------------------------- */

static PoplarStoreResult eml_message_open(void *data, PoplarMailbox *mbox,
                                          PoplarMessage *msg, void **stream)
{
  (void)data;
  const struct eml_mailbox *mb = poplar_mailbox_get_data(mbox);
  const struct eml_file *file = poplar_message_get_data(msg);
  char ebuf[128];
  struct stat st;

  int fd = openat(mb->dir_fd, file->name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    poplar_mailbox_set_error(mbox, "cannot open %s: %s", file->name,
                             error_text(err, ebuf, sizeof ebuf));
    return err == ENOENT ? POPLAR_STORE_GONE : result_for_errno(err);
  }
  /* LIST promised a size; a file replaced since then would break that
   * promise mid-RETR, so it counts as gone. */
  if (fstat(fd, &st) != 0 || st.st_size != file->stored_size) {
    close(fd);
    poplar_mailbox_set_error(mbox, "%s changed since the mailbox was opened",
                             file->name);
    return POPLAR_STORE_GONE;
  }

  struct eml_stream *es = malloc(sizeof *es);
  if (es == NULL) {
    close(fd);
    poplar_mailbox_set_error(mbox, "out of memory");
    return POPLAR_STORE_TEMPFAIL;
  }
  es->fd = fd;
  es->mbox = mbox;
  es->name = file->name;
  *stream = es;
  return POPLAR_STORE_OK;
}

/* Hands over the file as stored; the core converts LF to CRLF and
 * dot-stuffs, and asks for more only as fast as the client reads. */
static int64_t eml_message_read(void *data, void *stream, char *buf,
                                size_t len)
{
  (void)data;
  struct eml_stream *es = stream;
  char ebuf[128];

  for (;;) {
    ssize_t n = read(es->fd, buf, len);
    if (n >= 0)
      return (int64_t)n;
    if (errno != EINTR) {
      poplar_mailbox_set_error(es->mbox, "cannot read %s: %s", es->name,
                               error_text(errno, ebuf, sizeof ebuf));
      return -1;
    }
  }
}

static void eml_message_close(void *data, void *stream)
{
  (void)data;
  struct eml_stream *es = stream;

  close(es->fd);
  free(es);
}

/* ---- update and close ------------------------------------------------- */

static PoplarStoreResult eml_expunge(void *data, PoplarMailbox *mbox)
{
  (void)data;
  size_t marked = 0;

  for (size_t i = 0; i < poplar_mailbox_message_count(mbox); i++)
    if (poplar_message_is_deleted(poplar_mailbox_message(mbox, i)))
      marked++;
  if (marked == 0)
    return POPLAR_STORE_OK;
  poplar_mailbox_set_error(mbox,
                           "%s is read-only: %zu message(s) marked for "
                           "deletion were kept",
                           poplar_mailbox_location(mbox), marked);
  return POPLAR_STORE_PERMFAIL;
}

static void eml_close(void *data, PoplarMailbox *mbox)
{
  (void)data;
  /* No lock to release: see the top of the file. */
  mailbox_free(poplar_mailbox_get_data(mbox));
  poplar_mailbox_set_data(mbox, NULL);
}

static void eml_destroy(void *data)
{
  struct eml_store *store = data;

  free(store->suffix);
  free(store);
}

/* ---- the DELE hook ---------------------------------------------------- */

static PoplarVerdict on_message_delete(void *data, PoplarSession *s,
                                       PoplarMessage *msg)
{
  const struct eml_store *store = data;
  (void)msg;

  if (poplar_session_get_data(s, store->plugin) != &read_only_mark)
    return POPLAR_CONTINUE; /* another store's mailbox: not our business */
  poplar_hook_reply(s, "SYS/PERM", "this mailbox is read-only");
  return POPLAR_REJECT;
}

/* ---- life cycle ------------------------------------------------------- */

static bool eml_init(PoplarPlugin *plugin, PoplarConfig *config)
{
  const char *suffix = poplar_config_get_string(config, "suffix", ".eml");

  if (suffix[0] == '\0' || strchr(suffix, '/') != NULL) {
    poplar_config_error(config, "suffix",
                        "'%s' is not a file name suffix like .eml", suffix);
    return false;
  }

  struct eml_store *store = calloc(1, sizeof *store);
  if (store == NULL || (store->suffix = strdup(suffix)) == NULL) {
    free(store);
    poplar_log(plugin, POPLAR_LOG_ERROR, "out of memory");
    return false;
  }
  store->plugin = plugin;

  static const PoplarStoreOps store_ops = {
      .open = eml_open,
      .message_open = eml_message_open,
      .message_read = eml_message_read,
      .message_close = eml_message_close,
      .expunge = eml_expunge,
      .close = eml_close,
      .destroy = eml_destroy, /* the store table owns @store */
  };
  if (!poplar_register_store(plugin, "emldir", &store_ops, sizeof store_ops,
                             store)) {
    eml_destroy(store);
    return false;
  }

  /* The hook shares @store but does not own it: no destroy here, so it is
   * freed exactly once. */
  static const PoplarHookOps hook_ops = {
      .message_delete = on_message_delete,
  };
  return poplar_register_hook(plugin, &hook_ops, sizeof hook_ops, store);
}

POPLAR_PLUGIN_DEFINE(store_eml_dir, "1.0.0",
                     "Read-only mailboxes from a directory of .eml files",
                     NULL, eml_init, NULL)
