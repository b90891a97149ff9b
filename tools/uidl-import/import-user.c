/* SPDX-License-Identifier: MIT */
/*
 * One user, from login to summary: read the old server, read the Maildir,
 * match, merge into poplar-uidls.  The old server is only read, so a
 * failure anywhere leaves both mail stores as they were, and running the
 * import again is always safe: entries already there are kept.
 */
#include "uidl-import.h"

#include "maildir.h"

#include <poplar/expand.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* store-maildir's default lock-timeout: a lock older than this without a
 * refresh belongs to a dead session. */
#define LOCK_STALE_MS (10 * 60 * 1000)

void import_result_clear(ImportResult *r)
{
  g_free(r->error);
  g_free(r->maildir);
  if (r->details)
    g_ptr_array_unref(r->details);
  memset(r, 0, sizeof *r);
}

static void fail(ImportResult *r, GError *error)
{
  r->failed = true;
  r->error = g_strdup(error->message);
}

static char *expand(const char *tmpl, const char *user, const char *home,
                    GError **error)
{
  char why[POPLAR_EXPAND_ERROR_SIZE] = "";
  unsigned flags = POPLAR_EXPAND_USER | POPLAR_EXPAND_LOCAL_PART |
                   POPLAR_EXPAND_DOMAIN | POPLAR_EXPAND_PATH_SAFE |
                   (home ? POPLAR_EXPAND_HOME : 0u);
  char *raw = poplar_expand(tmpl, user, home, flags, NULL, NULL, why,
                            sizeof why);
  if (!raw) {
    g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_USAGE,
                "cannot expand %s: %s%s", tmpl, why,
                !home && strstr(tmpl, "%h") ? " (--home gives %h)" : "");
    return NULL;
  }
  char *out = g_strdup(raw);
  free(raw);
  return out;
}

char *import_maildir_path(const ImportOptions *o, const UserEntry *e,
                          GError **error)
{
  g_autofree char *location = NULL;
  if (e->maildir) {
    location = g_strdup(e->maildir);
  } else {
    g_autofree char *home = o->home ? expand(o->home, e->user, NULL, error)
                                    : NULL;
    if (o->home && !home)
      return NULL;
    location = expand(o->mail_location, e->user, home, error);
    if (!location)
      return NULL;
  }
  const char *path = location;
  if (g_str_has_prefix(location, "mbox:")) {
    g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_USAGE,
                "%s: mbox mailboxes are not supported yet (only Maildir)",
                location);
    return NULL;
  }
  if (g_str_has_prefix(location, "maildir:"))
    path += strlen("maildir:");
  if (path[0] != '/') {
    g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_USAGE,
                "%s: not an absolute Maildir path (maildir:/path)", location);
    return NULL;
  }
  return g_strdup(path);
}

static GArray *read_old(const ImportOptions *o, const UserEntry *e,
                        GError **error)
{
  Pop3Client *client = pop3_client_connect(&o->server, error);
  if (!client)
    return NULL;
  bool ok = o->master_user
                ? pop3_client_auth_plain(client, e->user, o->master_user,
                                         o->master_password, error)
                : pop3_client_login(client, e->user, e->password, error);
  GArray *msgs = ok ? old_mailbox_read(client, error) : NULL;
  if (msgs)
    pop3_client_quit(client);
  pop3_client_free(client);
  return msgs;
}

/* Waits up to @wait_s for a POP3 session to let go of the Maildir. */
static MaildirLock *lock_maildir(int root_fd, unsigned wait_s,
                                 GError **error)
{
  for (unsigned waited = 0;; waited++) {
    MaildirLock *lock = NULL;
    g_autofree char *note = NULL;
    g_autoptr(GError) lock_error = NULL;
    PoplarStoreResult rc = maildir_lock_acquire(root_fd, LOCK_STALE_MS, &lock,
                                                &note, &lock_error);
    if (rc == POPLAR_STORE_OK)
      return lock;
    if (rc != POPLAR_STORE_IN_USE || waited >= wait_s) {
      g_set_error(error, UIDL_IMPORT_ERROR,
                  rc == POPLAR_STORE_IN_USE ? UIDL_IMPORT_ERROR_IN_USE
                                            : UIDL_IMPORT_ERROR_FAILED,
                  "%s%s", lock_error->message,
                  rc == POPLAR_STORE_IN_USE ? " (a POP3 session has the "
                                              "mailbox; run again later)"
                                            : "");
      return NULL;
    }
    g_usleep(G_USEC_PER_SEC);
  }
}

static void detail(ImportResult *r, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void detail(ImportResult *r, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_ptr_array_add(r->details, g_strdup_vprintf(fmt, ap));
  va_end(ap);
}

/* Merges the pairs into @record; counts and reports. */
static bool merge_pairs(const ImportOptions *o, const GArray *olds,
                        const GArray *news, const GArray *matches,
                        UidlRecord *record, ImportResult *r)
{
  /* A UIDL Poplar already shows for another message that gets no entry
   * (its own unique part) must not be given to a second one. */
  g_autoptr(GHashTable) default_uidls = g_hash_table_new(g_str_hash,
                                                         g_str_equal);
  g_autofree bool *paired = g_new0(bool, news->len ? news->len : 1);
  for (guint i = 0; i < matches->len; i++) {
    const MatchResult *m = &g_array_index(matches, MatchResult, i);
    if (m->outcome == MATCH_PAIRED)
      paired[m->new_index] = true;
  }
  for (guint i = 0; i < news->len; i++) {
    const NewMessage *n = &g_array_index(news, NewMessage, i);
    if (!paired[i] && !uidl_record_lookup(record, n->base))
      g_hash_table_insert(default_uidls, n->poplar_uidl, n->base);
  }

  bool changed = false;
  for (guint i = 0; i < matches->len; i++) {
    const MatchResult *m = &g_array_index(matches, MatchResult, i);
    const OldMessage *old = &g_array_index(olds, OldMessage, i);
    switch (m->outcome) {
    case MATCH_UNMATCHED:
      r->unmatched++;
      detail(r, "unmatched: old message %u (UIDL %s, %" G_GUINT64_FORMAT
             " octets): no message in the Maildir has its header",
             old->number, old->uidl, old->size);
      continue;
    case MATCH_SIZE_DIFFERS:
      r->unmatched++;
      detail(r, "unmatched: old message %u (UIDL %s, %" G_GUINT64_FORMAT
             " octets): Maildir messages have its header, but none its "
             "size", old->number, old->uidl, old->size);
      continue;
    case MATCH_AMBIGUOUS:
      r->ambiguous++;
      detail(r, "ambiguous: old message %u (UIDL %s): %u old and %u "
             "Maildir messages have its header and size", old->number,
             old->uidl, m->n_old, m->n_new);
      continue;
    case MATCH_BAD_UIDL:
      r->bad_uidl++;
      detail(r, "bad UIDL: old message %u: the server's UIDL \"%.80s\" is "
             "not a valid one or not unique", old->number, old->uidl);
      continue;
    case MATCH_PAIRED:
      break;
    }
    r->matched++;
    const NewMessage *n = &g_array_index(news, NewMessage, m->new_index);
    if (m->size_differs) {
      r->size_differs++;
      detail(r, "note: old message %u (UIDL %s, %" G_GUINT64_FORMAT
             " octets) is Maildir message %s (%" G_GUINT64_FORMAT
             " octets) by its header; the sizes differ", old->number,
             old->uidl, old->size, n->base, n->size);
    }
    const char *clash = g_hash_table_lookup(default_uidls, old->uidl);
    if (clash && strcmp(clash, n->base) != 0) {
      r->conflicts++;
      detail(r, "conflict: old message %u: UIDL %s is already the UIDL of "
             "Maildir message %s; not recorded", old->number, old->uidl,
             clash);
      continue;
    }
    const char *previous = NULL;
    switch (uidl_record_merge(record, n->base, old->uidl, o->force,
                              &previous)) {
    case RECORD_UNCHANGED:
      r->already++;
      break;
    case RECORD_ADDED:
    case RECORD_REPLACED:
      r->recorded++;
      changed = true;
      break;
    case RECORD_CONFLICT:
      r->conflicts++;
      if (uidl_record_lookup(record, n->base))
        detail(r, "conflict: old message %u (UIDL %s) is Maildir message "
               "%s, which already has UIDL %s; kept (--force replaces it)",
               old->number, old->uidl, n->base, previous);
      else
        detail(r, "conflict: old message %u: UIDL %s is already recorded "
               "for Maildir message %s; kept (--force replaces it)",
               old->number, old->uidl, previous);
      break;
    }
  }
  for (guint i = 0; i < news->len; i++) {
    if (!paired[i])
      r->only_new++;
  }
  return changed;
}

void import_user(const ImportOptions *o, const UserEntry *e, ImportResult *r)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) olds = NULL, news = NULL, matches = NULL;
  UidlRecord *record = NULL;
  MaildirLock *lock = NULL;
  int root_fd = -1;
  memset(r, 0, sizeof *r);
  r->details = g_ptr_array_new_with_free_func(g_free);

  r->maildir = import_maildir_path(o, e, &error);
  if (!r->maildir)
    goto failed;
  olds = read_old(o, e, &error);
  if (!olds)
    goto failed;
  news = maildir_reader_read(r->maildir, &error);
  if (!news)
    goto failed;
  r->old_total = olds->len;
  r->new_total = news->len;
  matches = match_messages(olds, news, o->require_size);

  root_fd = maildir_root_open(r->maildir, false, &error);
  if (root_fd < 0)
    goto failed;
  /* A dry run writes nothing, the lock file included; the record is
   * replaced by rename(), so reading it unlocked sees a whole one. */
  if (!o->dry_run && !(lock = lock_maildir(root_fd, o->lock_wait_s, &error)))
    goto failed;
  record = uidl_record_load(root_fd, r->maildir, &error);
  if (!record)
    goto failed;
  bool changed = merge_pairs(o, olds, news, matches, record, r);
  if (changed && !o->dry_run &&
      !uidl_record_save(root_fd, r->maildir, record, &error))
    goto failed;
  goto out;
failed:
  fail(r, error);
out:
  if (lock) {
    g_autoptr(GError) release_error = NULL;
    if (!maildir_lock_release(lock, &release_error) && !r->failed) {
      r->failed = true;
      r->error = g_strdup(release_error->message);
    }
  }
  uidl_record_free(record);
  if (root_fd >= 0)
    close(root_fd);
}

char *import_result_summary(const char *user, const ImportResult *r,
                            bool dry_run)
{
  if (r->failed)
    return g_strdup_printf("user %s: FAILED: %s", user, r->error);
  return g_strdup_printf(
      "user %s: %u old, %u in Maildir, %u matched (%u %srecorded, %u "
      "already recorded, %u by header alone), %u unmatched, %u ambiguous, "
      "%u bad UIDL, %u conflicts, %u only in Maildir%s",
      user, r->old_total, r->new_total, r->matched, r->recorded,
      dry_run ? "to be " : "", r->already, r->size_differs, r->unmatched,
      r->ambiguous,
      r->bad_uidl, r->conflicts, r->only_new,
      dry_run ? " (dry run: nothing written)" : "");
}
