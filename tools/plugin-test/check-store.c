/* SPDX-License-Identifier: MIT */
/*
 * The store contract, part one: what one session sees.  Listing (UIDL
 * syntax and uniqueness), sizes against the octets RETR sends, reads at
 * every chunk size the core and hooks use, a read abandoned part way
 * (TOP, a client gone), the file range of message_open_fd, and the same
 * listing on a second open.  Then the other parts, and all on copies of the
 * mailbox the user named: the kit never changes that one.
 */
#include "store-kit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 1 reads at every offset; the others are common buffer sizes of hooks
 * and RETR's own (POPLAR_RETR_CHUNK is what kit_box_snapshot uses). */
static const size_t chunk_sizes[] = {1, 2, 3, 7, 100, 1000, 4096, 8192};

static bool valid_uidl(const char *uidl)
{
  size_t n = strlen(uidl);
  if (n < 1 || n > POPLAR_UIDL_MAX)
    return false;
  for (const unsigned char *p = (const unsigned char *)uidl; *p; p++)
    if (*p < 0x21 || *p > 0x7e)
      return false;
  return true;
}

static void check_listing(KitStoreRun *run, KitBox *box)
{
  KitReport *report = run->report;
  /* The core refuses a bad or repeated UIDL in poplar_mailbox_add_message()
   * and logs it: a client would never see that message. */
  bool refused = box->log && strstr(box->log, "UIDL") != NULL;
  g_autoptr(GHashTable) uidls = g_hash_table_new(g_str_hash, g_str_equal);
  const char *bad = NULL, *twice = NULL;
  for (size_t i = 0; i < poplar_mailbox_message_count(box->mbox); i++) {
    const char *uidl = poplar_mailbox_message(box->mbox, i)->uidl;
    if (!valid_uidl(uidl))
      bad = uidl;
    if (!g_hash_table_add(uidls, (gpointer)uidl))
      twice = uidl;
  }
  if (refused) {
    /* The first refusal says why; the rest repeat it. */
    g_autofree char *first = g_strdup(box->log);
    char *sep = strstr(first, "; ");
    if (sep)
      *sep = '\0';
    kit_fail(report, "store.uidl-syntax",
             "the core refused messages the store listed: %s", first);
  }
  else if (bad || twice)
    kit_fail(report, "store.uidl-syntax", "UIDL '%s' is %s",
             bad ? bad : twice, bad ? "invalid" : "listed twice");
  else
    kit_pass(report, "store.uidl-syntax",
             "%zu UIDLs, 1-70 octets of 0x21-0x7E, unique",
             poplar_mailbox_message_count(box->mbox));
}

/* The stored octets can never outnumber the octets sent (a bare LF grows
 * to CRLF, nothing shrinks), so a read longer than the listed size went
 * past the message's end (into the next message of an mbox, say); a read
 * that merely converts differently is a wrong size. */
static void check_sizes(KitStoreRun *run, GPtrArray *seen)
{
  const char *past = NULL, *wrong = NULL;
  for (guint i = 0; i < seen->len; i++) {
    const KitSeen *s = g_ptr_array_index(seen, i);
    uint64_t stored = g_bytes_get_size(s->content);
    uint64_t sent = kit_crlf_size(s->content);
    if (stored > s->size && !past) {
      past = s->uidl;
      kit_fail(run->report, "store.read-past-end",
               "message %u (%s) is listed as %" G_GUINT64_FORMAT
               " octets but message_read returned %" G_GUINT64_FORMAT,
               i + 1, s->uidl, s->size, stored);
    } else if (stored <= s->size && sent != s->size && !wrong) {
      wrong = s->uidl;
      kit_fail(run->report, "store.size-equals-retr",
               "message %u (%s) is listed as %" G_GUINT64_FORMAT
               " octets but RETR sends %" G_GUINT64_FORMAT
               " (%" G_GUINT64_FORMAT " stored; every bare LF counts as "
               "CRLF)", i + 1, s->uidl, s->size, sent, stored);
    }
  }
  if (!past)
    kit_pass(run->report, "store.read-past-end", NULL);
  if (!wrong && !past)
    kit_pass(run->report, "store.size-equals-retr", "%u messages",
             seen->len);
}

static void check_chunked_reads(KitStoreRun *run, KitBox *box,
                                GPtrArray *seen)
{
  for (guint i = 0; i < seen->len; i++) {
    const KitSeen *s = g_ptr_array_index(seen, i);
    for (size_t c = 0; c < G_N_ELEMENTS(chunk_sizes); c++) {
      g_autofree char *why = NULL;
      g_autoptr(GBytes) got = kit_read_message(box, i, chunk_sizes[c], &why);
      if (!got) {
        kit_fail(run->report, "store.read-chunks", "%s", why);
        return;
      }
      if (!g_bytes_equal(got, s->content)) {
        kit_fail(run->report, "store.read-chunks",
                 "message %u (%s) read in chunks of %zu differs from a "
                 "whole read (%zu octets against %zu)", i + 1, s->uidl,
                 chunk_sizes[c], g_bytes_get_size(got),
                 g_bytes_get_size(s->content));
        return;
      }
    }
  }
  kit_pass(run->report, "store.read-chunks",
           "every message, chunks of 1 to 8192 octets");
}

/* TOP and a client that leaves mid-RETR: the core closes a stream it has
 * not read to the end, and the next open must start again at octet 0. */
static void check_partial_read(KitStoreRun *run, KitBox *box,
                               GPtrArray *seen)
{
  for (guint i = 0; i < seen->len; i++) {
    const KitSeen *s = g_ptr_array_index(seen, i);
    PoplarMessage *msg = poplar_mailbox_message(box->mbox, i);
    void *stream = NULL;
    if (poplarpriv_store_message_open(box->mbox, msg, &stream) !=
        POPLAR_STORE_OK) {
      kit_fail(run->report, "store.top-partial-read",
               "message_open of %s failed on a second read", s->uidl);
      return;
    }
    char buf[16];
    int64_t n = poplarpriv_store_message_read(box->mbox, msg, stream, buf,
                                              sizeof buf);
    poplarpriv_store_message_close(box->mbox, stream);
    gsize len;
    const char *whole = g_bytes_get_data(s->content, &len);
    if (n < 0 || (size_t)n > len || memcmp(buf, whole, (size_t)n) != 0) {
      kit_fail(run->report, "store.top-partial-read",
               "the first %zu octets of %s differ from a whole read",
               sizeof buf, s->uidl);
      return;
    }
    g_autofree char *why = NULL;
    g_autoptr(GBytes) again = kit_read_message(box, i, 4096, &why);
    if (!again || !g_bytes_equal(again, s->content)) {
      kit_fail(run->report, "store.top-partial-read",
               "after a read closed part way, %s reads differently%s%s",
               s->uidl, why ? ": " : "", why ? why : "");
      return;
    }
  }
  kit_pass(run->report, "store.top-partial-read", NULL);
}

static void check_file_range(KitStoreRun *run, KitBox *box, GPtrArray *seen)
{
  if (!run->store->ops.message_open_fd) {
    kit_skip(run->report, "store.open-fd", "the store has no "
             "message_open_fd (optional)");
    return;
  }
  unsigned offered = 0;
  for (guint i = 0; i < seen->len; i++) {
    const KitSeen *s = g_ptr_array_index(seen, i);
    PoplarMessage *msg = poplar_mailbox_message(box->mbox, i);
    void *stream = NULL;
    PoplarFileRange range = {.fd = -1};
    if (poplarpriv_store_message_open_fd(box->mbox, msg, &stream, &range) !=
        POPLAR_STORE_OK) {
      kit_fail(run->report, "store.open-fd", "message_open_fd of %s failed",
               s->uidl);
      return;
    }
    g_autofree char *log = kit_log_take(box->session->id, POPLAR_LOG_WARNING);
    bool bad_offer = *log != '\0';
    char *why = NULL;
    if (range.fd >= 0) {
      offered++;
      gsize len;
      const char *whole = g_bytes_get_data(s->content, &len);
      g_autofree char *file = g_malloc(range.length + 1);
      ssize_t got = pread(range.fd, file, range.length, (off_t)range.offset);
      if (got != (ssize_t)range.length || range.length != len ||
          memcmp(file, whole, len) != 0)
        why = g_strdup_printf("the file range offered for %s is not the "
                              "message as read", s->uidl);
    }
    poplarpriv_store_message_close(box->mbox, stream);
    if (bad_offer || why) {
      kit_fail(run->report, "store.open-fd", "%s",
               why ? why : log);
      g_free(why);
      return;
    }
  }
  kit_pass(run->report, "store.open-fd", "%u of %u messages offered as a "
           "file range", offered, seen->len);
}

static bool same_listing(GPtrArray *a, GPtrArray *b, char **why)
{
  if (a->len != b->len) {
    *why = g_strdup_printf("%u messages, then %u", a->len, b->len);
    return false;
  }
  for (guint i = 0; i < a->len; i++) {
    const KitSeen *x = g_ptr_array_index(a, i), *y = g_ptr_array_index(b, i);
    if (strcmp(x->uidl, y->uidl) != 0 || x->size != y->size) {
      *why = g_strdup_printf("message %u was %s (%" G_GUINT64_FORMAT
                             " octets), then %s (%" G_GUINT64_FORMAT ")",
                             i + 1, x->uidl, x->size, y->uidl, y->size);
      return false;
    }
    if (!g_bytes_equal(x->content, y->content)) {
      *why = g_strdup_printf("message %u (%s) reads differently", i + 1,
                             x->uidl);
      return false;
    }
  }
  return true;
}

void kit_check_store_reads(KitStoreRun *run, const char *location)
{
  KitReport *report = run->report;
  KitBox *box = kit_box_open(run->store, location);
  if (box->result != POPLAR_STORE_OK) {
    kit_fail(report, "store.open", "open of %s answered %d (%s)", location,
             box->result, box->log);
    kit_box_close(box);
    return;
  }
  /* First: a store whose every UIDL the core refused lists nothing. */
  check_listing(run, box);
  size_t count = poplar_mailbox_message_count(box->mbox);
  if (count == 0) {
    kit_fail(report, "store.open", "%s has no messages: point --mailbox at "
             "a mailbox with some, or give --deliver", location);
    kit_box_close(box);
    return;
  }
  kit_pass(report, "store.open", "%zu messages", count);
  g_autofree char *why = NULL;
  GPtrArray *seen = kit_box_snapshot(box, &why);
  if (!seen) {
    kit_fail(report, "store.read", "%s", why);
    kit_box_close(box);
    return;
  }
  kit_pass(report, "store.read", NULL);
  check_sizes(run, seen);
  check_chunked_reads(run, box, seen);
  check_partial_read(run, box, seen);
  check_file_range(run, box, seen);
  kit_box_close(box);

  /* A second session on the same mailbox, after the first closed it. */
  box = kit_box_open(run->store, location);
  GPtrArray *again = box->result == POPLAR_STORE_OK
                         ? kit_box_snapshot(box, &why)
                         : NULL;
  if (!again)
    kit_fail(report, "store.uidl-stable-reopen", "the second open failed: "
             "%d %s", box->result, why ? why : box->log);
  else if (!same_listing(seen, again, &why))
    kit_fail(report, "store.uidl-stable-reopen", "%s", why);
  else
    kit_pass(report, "store.uidl-stable-reopen", NULL);
  if (again)
    g_ptr_array_unref(again);
  kit_box_close(box);
  run->reference = seen;
}

/* Runs every store the plugin registered against --mailbox of its
 * scheme. */
void kit_check_stores(KitPlugin *kp, const KitOptions *opts,
                      KitReport *report)
{
  GPtrArray *stores = kp->registry->stores;
  for (guint i = 0; i < stores->len; i++) {
    const PoplarStoreEntry *store = g_ptr_array_index(stores, i);
    KitStoreRun run = {.store = store, .opts = opts, .report = report};
    g_autofree char *why = NULL;
    if (!opts->mailbox) {
      kit_skip(report, "store.open", "the plugin registers the store '%s:'; "
               "give --mailbox %s:PATH to check it", store->scheme,
               store->scheme);
      continue;
    }
    if (!kit_location_parse(opts->mailbox, &run.source, &why)) {
      kit_fail(report, "store.open", "--mailbox: %s", why);
      continue;
    }
    if (strcmp(run.source.scheme, store->scheme) != 0) {
      kit_skip(report, "store.open", "--mailbox is for '%s:', not this "
               "plugin's '%s:'", run.source.scheme, store->scheme);
      kit_location_clear(&run.source);
      continue;
    }
    GError *error = NULL;
    run.workdir = g_dir_make_tmp("poplar-plugin-test-XXXXXX", &error);
    if (!run.workdir) {
      kit_fail(report, "store.open", "temporary directory: %s",
               error->message);
      g_error_free(error);
      kit_location_clear(&run.source);
      continue;
    }
    if (opts->deliver)
      kit_check_store_deliver(&run);
    g_autofree char *work = kit_store_fresh_copy(&run, &why);
    if (!work)
      kit_fail(report, "store.open", "%s", why);
    else
      kit_check_store_reads(&run, work);
    if (run.reference) {
      kit_check_store_update(&run);
      kit_check_store_lock(&run);
      kit_check_store_threads(&run);
    }
    kit_check_store_errors(&run);

    const char *rm[] = {"rm", "-rf", "--", run.workdir, NULL};
    g_spawn_sync(NULL, (char **)rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                 NULL, NULL, NULL, NULL);
    g_free(run.workdir);
    if (run.reference)
      g_ptr_array_unref(run.reference);
    kit_location_clear(&run.source);
  }
}
