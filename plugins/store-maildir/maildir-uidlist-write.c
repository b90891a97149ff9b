/* SPDX-License-Identifier: MIT */
/*
 * Giving new messages their IMAP UIDs in the other server's own file, so
 * that the IMAP server sharing the Maildir (or coming back to it) and
 * Poplar agree on every UID, and so on every UIDL made from one.
 *
 * dovecot-uidlist is changed the way Dovecot changes it: under its dotlock
 * dovecot-uidlist.lock (created with O_EXCL, holding "<pid>:<host>",
 * stale after two minutes unrefreshed or when its process is gone on this
 * host), after reading the file again under the lock.  New records are
 * appended with UIDs from the next UID on, never rewriting or reordering
 * an existing line, exactly as Dovecot appends its own; Dovecot's reader
 * takes the next UID from the last record when it is above the header's.
 * A version 1 file (or none at all) is written anew into the lock file,
 * which is then renamed over dovecot-uidlist, as Dovecot recreates it.
 *
 * courierimapuiddb has no lock of its own: Courier rewrites it whole
 * through a temporary file and a rename, and so does this.
 */
#include "maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DOTLOCK_FILE MAILDIR_DOVECOT_UIDLIST_FILE ".lock"
/* Dovecot's MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT. */
#define DOTLOCK_STALE_SECONDS 120
/* How long to wait for a live holder; Dovecot holds it for milliseconds. */
#define DOTLOCK_WAIT_MS 10000
#define DOTLOCK_RETRY_MS 20
#define COURIER_TMP_FILE MAILDIR_COURIER_UIDDB_FILE ".poplar-tmp"
/* Courier's IMAP_EPOCH: its UIDVALIDITY counts from 2001-09-09. */
#define COURIER_EPOCH 1000000000

static char *host_name(void)
{
  char host[256] = "";
  if (gethostname(host, sizeof host - 1) != 0)
    g_strlcpy(host, "localhost", sizeof host);
  return g_strdup(host);
}

/* True when the lock file's holder is certainly gone. */
static bool dotlock_stale(int root_fd)
{
  struct stat st;
  if (fstatat(root_fd, DOTLOCK_FILE, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return false; /* gone already: the next try takes it */
  if (time(NULL) - st.st_mtime > DOTLOCK_STALE_SECONDS)
    return true;
  g_autofree char *text = NULL;
  size_t len = 0;
  if (!maildir_file_read(root_fd, DOTLOCK_FILE, &text, &len, NULL) || !text)
    return false;
  char *colon = strchr(text, ':');
  if (!colon)
    return false;
  *colon = '\0';
  g_autofree char *host = host_name();
  char *end = NULL;
  long long pid = g_ascii_strtoll(text, &end, 10);
  if (end == text || *end || pid <= 0 || strcmp(g_strchomp(colon + 1), host))
    return false;
  return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

static int dotlock_take(int root_fd, GError **error)
{
  gint64 deadline = g_get_monotonic_time() + DOTLOCK_WAIT_MS * 1000;
  for (;;) {
    int fd = openat(root_fd, DOTLOCK_FILE,
                    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW |
                        O_NOCTTY, 0600);
    if (fd >= 0) {
      g_autofree char *host = host_name();
      g_autofree char *owner = g_strdup_printf("%lld:%s", (long long)maildir_self_pid(),
                                               host);
      if (!maildir_write_all(fd, owner, strlen(owner))) {
        maildir_set_errno_error(error, errno, "cannot write %s",
                                DOTLOCK_FILE);
        close(fd);
        unlinkat(root_fd, DOTLOCK_FILE, 0);
        return -1;
      }
      return fd;
    }
    if (errno == EINTR)
      continue;
    if (errno != EEXIST) {
      maildir_set_errno_error(error, errno, "cannot create %s", DOTLOCK_FILE);
      return -1;
    }
    if (dotlock_stale(root_fd)) {
      unlinkat(root_fd, DOTLOCK_FILE, 0);
      continue;
    }
    if (g_get_monotonic_time() > deadline) {
      g_set_error(error, MAILDIR_ERROR, POPLAR_STORE_TEMPFAIL,
                  "%s is held by another process", DOTLOCK_FILE);
      return -1;
    }
    g_usleep(DOTLOCK_RETRY_MS * 1000);
  }
}

static void add_record(MaildirUidlist *list, const char *key)
{
  MaildirUidRec *rec = g_new0(MaildirUidRec, 1);
  rec->uid = list->next_uid++;
  rec->name = g_strdup(key);
  g_ptr_array_add(list->recs, rec);
  g_hash_table_insert(list->by_name, rec->name, rec);
}

static gint rec_compare(gconstpointer a, gconstpointer b)
{
  const MaildirUidRec *x = *(MaildirUidRec *const *)a;
  const MaildirUidRec *y = *(MaildirUidRec *const *)b;
  return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static void append_record_line(GString *s, const MaildirUidlist *list,
                               const MaildirUidRec *rec)
{
  g_string_append_printf(s, "%" PRIu32, rec->uid);
  if (list->source == MAILDIR_UID_COURIER || list->version == 1) {
    g_string_append_printf(s, " %s\n", rec->name);
    return;
  }
  if (rec->guid)
    g_string_append_printf(s, " G%s", rec->guid);
  if (rec->pop3_uidl)
    g_string_append_printf(s, " P%s", rec->pop3_uidl);
  if (rec->pop3_order)
    g_string_append_printf(s, " O%s", rec->pop3_order);
  g_string_append_printf(s, " :%s\n", rec->name);
}

/* The whole file, in the newest version the source knows. */
static GString *format_whole(MaildirUidlist *list)
{
  GString *s = g_string_new(NULL);
  if (list->source == MAILDIR_UID_COURIER) {
    list->version = 1;
    g_string_append_printf(s, "1 %" PRIu32 " %" PRIu32 "\n",
                           list->uidvalidity, list->next_uid);
  } else {
    list->version = 3;
    if (!list->have_guid) {
      char guid[33];
      for (int i = 0; i < 4; i++)
        g_snprintf(guid + 8 * i, 9, "%08" PRIx32, g_random_int());
      g_free(list->header_rest);
      list->header_rest = g_strconcat("G", guid, NULL);
      list->have_guid = true;
    }
    g_string_append_printf(s, "3 V%" PRIu32 " N%" PRIu32 "%s%s\n",
                           list->uidvalidity, list->next_uid,
                           list->header_rest[0] ? " " : "",
                           list->header_rest);
  }
  g_ptr_array_sort(list->recs, rec_compare);
  for (guint i = 0; i < list->recs->len; i++)
    append_record_line(s, list, g_ptr_array_index(list->recs, i));
  return s;
}

/* The keys of @keys that @list does not have, in the order given. */
static GPtrArray *missing_keys(const MaildirUidlist *list, GPtrArray *keys)
{
  GPtrArray *missing = g_ptr_array_new();
  for (guint i = 0; i < keys->len; i++) {
    const char *key = g_ptr_array_index(keys, i);
    if (!maildir_uidlist_lookup(list, key))
      g_ptr_array_add(missing, (gpointer)key);
  }
  return missing;
}

static MaildirUidlist *fresh_list(MaildirUidSource source)
{
  MaildirUidlist *list = maildir_uidlist_new(source);
  time_t now = time(NULL);
  list->uidvalidity = (uint32_t)(source == MAILDIR_UID_COURIER
                                     ? now - COURIER_EPOCH
                                     : now);
  list->header_rest = g_strdup("");
  return list;
}

static bool assign_dovecot(int root_fd, GPtrArray *keys, MaildirUidlist **out,
                           GError **error)
{
  int lock_fd = dotlock_take(root_fd, error);
  if (lock_fd < 0)
    return false;
  MaildirUidlist *list = NULL;
  bool ok = maildir_uidlist_load(root_fd, MAILDIR_UID_DOVECOT, &list, error);
  g_autoptr(GPtrArray) missing = NULL;
  bool recreate = false;
  if (ok) {
    if (!list) {
      list = fresh_list(MAILDIR_UID_DOVECOT);
      recreate = true;
    }
    missing = missing_keys(list, keys);
    recreate = recreate || (missing->len > 0 && list->version != 3);
  }
  if (ok && missing->len > 0 && !recreate) {
    GString *lines = g_string_new(NULL);
    for (guint i = 0; i < missing->len; i++) {
      add_record(list, g_ptr_array_index(missing, i));
      append_record_line(lines, list,
                         g_ptr_array_index(list->recs, list->recs->len - 1));
    }
    int fd = openat(root_fd, MAILDIR_DOVECOT_UIDLIST_FILE,
                    O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    /* Appended only after the last complete line the reading saw, which
     * is the end of the file: the lock keeps writers out. */
    struct stat st;
    ok = fd >= 0 && fstat(fd, &st) == 0 &&
         (uint64_t)st.st_size == list->complete_len &&
         maildir_write_all(fd, lines->str, lines->len) && fsync(fd) == 0;
    if (!ok)
      maildir_set_errno_error(error, errno ? errno : EIO,
                              "cannot append to %s",
                              MAILDIR_DOVECOT_UIDLIST_FILE);
    if (fd >= 0)
      close(fd);
    g_string_free(lines, TRUE);
  } else if (ok && missing->len > 0) {
    for (guint i = 0; i < missing->len; i++)
      add_record(list, g_ptr_array_index(missing, i));
    GString *whole = format_whole(list);
    /* The lock file becomes the list: its owner line goes first. */
    ok = ftruncate(lock_fd, 0) == 0 && lseek(lock_fd, 0, SEEK_SET) == 0 &&
         maildir_write_all(lock_fd, whole->str, whole->len) &&
         fsync(lock_fd) == 0 &&
         renameat(root_fd, DOTLOCK_FILE, root_fd,
                  MAILDIR_DOVECOT_UIDLIST_FILE) == 0;
    if (!ok)
      maildir_set_errno_error(error, errno, "cannot write %s",
                              MAILDIR_DOVECOT_UIDLIST_FILE);
    else if (fsync(root_fd) != 0 && errno != EINVAL)
      ok = false;
    g_string_free(whole, TRUE);
    close(lock_fd);
    lock_fd = -1;
  }
  if (lock_fd >= 0) {
    close(lock_fd);
    unlinkat(root_fd, DOTLOCK_FILE, 0);
  }
  if (!ok) {
    maildir_uidlist_free(list);
    return false;
  }
  *out = list;
  return true;
}

static bool assign_courier(int root_fd, GPtrArray *keys, MaildirUidlist **out,
                           GError **error)
{
  MaildirUidlist *list = NULL;
  if (!maildir_uidlist_load(root_fd, MAILDIR_UID_COURIER, &list, error))
    return false;
  if (!list)
    list = fresh_list(MAILDIR_UID_COURIER);
  g_autoptr(GPtrArray) missing = missing_keys(list, keys);
  if (missing->len > 0) {
    for (guint i = 0; i < missing->len; i++)
      add_record(list, g_ptr_array_index(missing, i));
    GString *whole = format_whole(list);
    bool ok = maildir_file_replace(root_fd, MAILDIR_COURIER_UIDDB_FILE,
                                   COURIER_TMP_FILE, whole->str, whole->len,
                                   error);
    g_string_free(whole, TRUE);
    if (!ok) {
      maildir_uidlist_free(list);
      return false;
    }
  }
  *out = list;
  return true;
}

bool maildir_uidlist_assign(int root_fd, MaildirUidSource source,
                            GPtrArray *keys, GPtrArray *files,
                            MaildirUidlist **out, GError **error)
{
  *out = NULL;
  switch (source) {
  case MAILDIR_UID_COURIER:
    return assign_courier(root_fd, keys, out, error);
  case MAILDIR_UID_COURIER_POP3:
    return maildir_sizelist_assign(root_fd, keys, files, out, error);
  case MAILDIR_UID_DOVECOT:
    break;
  }
  return assign_dovecot(root_fd, keys, out, error);
}
