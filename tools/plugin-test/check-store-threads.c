/* SPDX-License-Identifier: MIT */
/*
 * The store contract, part three: N sessions on N mailboxes at once, on
 * the threads of a plugin pool as poplard runs them.  Each session lists
 * and reads every message again and again in small chunks, yielding
 * between reads so that the sessions interleave inside the store's
 * callbacks, and must see exactly what one session alone saw.  State
 * shared between sessions without a lock (a static buffer, a "current
 * message") shows up as a wrong listing or wrong octets.  Whether threads
 * meet inside the store is up to the scheduler, so the check starts with
 * a pass that needs no luck: N sessions with a different message open in
 * each, read a chunk at a time in turn from one thread, as the core's
 * pool does when its threads take turns.  Under
 * ThreadSanitizer (poplar-plugin-test(1), --tsan) the same run also
 * reports races that happen not to change a result.
 */
#include "store-kit.h"

#include <string.h>

#define ROUNDS 20
#define CHUNK 512

typedef struct ThreadsRun {
  KitStoreRun *run;
  char **locations;
  char **failures; /* one per session, NULL when it saw the reference */
} ThreadsRun;

/* One read in chunks, yielding between them. */
static char *read_interleaved(KitBox *box, size_t index, GBytes *want)
{
  PoplarMessage *msg = poplar_mailbox_message(box->mbox, index);
  void *stream = NULL;
  if (poplarpriv_store_message_open(box->mbox, msg, &stream) !=
      POPLAR_STORE_OK)
    return g_strdup_printf("message_open of %s failed", msg->uidl);
  gsize want_len;
  const char *want_data = g_bytes_get_data(want, &want_len);
  char buf[CHUNK];
  size_t pos = 0;
  char *why = NULL;
  for (;;) {
    int64_t n =
        poplarpriv_store_message_read(box->mbox, msg, stream, buf, CHUNK);
    if (n < 0) {
      why = g_strdup_printf("message_read of %s failed", msg->uidl);
      break;
    }
    if (n == 0)
      break;
    if (pos + (size_t)n > want_len ||
        memcmp(buf, want_data + pos, (size_t)n) != 0) {
      why = g_strdup_printf("message %s read wrong octets at offset %zu",
                            msg->uidl, pos);
      break;
    }
    pos += (size_t)n;
    g_thread_yield();
  }
  poplarpriv_store_message_close(box->mbox, stream);
  if (!why && pos != want_len)
    why = g_strdup_printf("message %s ended after %zu of %zu octets",
                          msg->uidl, pos, want_len);
  return why;
}

/* Every session opens a different message, then all are read a chunk at
 * a time in turn.  Returns NULL, or what went wrong. */
static char *interleaved_pass(KitStoreRun *run, char **locations, unsigned n)
{
  GPtrArray *ref = run->reference;
  KitBox **boxes = g_new0(KitBox *, n);
  void **streams = g_new0(void *, n);
  size_t *pos = g_new0(size_t, n);
  bool *done = g_new0(bool, n);
  char *why = NULL;
  for (unsigned k = 0; k < n && !why; k++) {
    boxes[k] = kit_box_open(run->store, locations[k]);
    if (boxes[k]->result != POPLAR_STORE_OK ||
        poplar_mailbox_message_count(boxes[k]->mbox) != ref->len) {
      why = g_strdup_printf("session %u: open answered %d", k + 1,
                            boxes[k]->result);
      break;
    }
    PoplarMessage *msg = poplar_mailbox_message(boxes[k]->mbox, k % ref->len);
    if (poplarpriv_store_message_open(boxes[k]->mbox, msg, &streams[k]) !=
        POPLAR_STORE_OK)
      why = g_strdup_printf("session %u: message_open of %s failed", k + 1,
                            msg->uidl);
  }
  for (unsigned left = n; !why && left > 0;) {
    for (unsigned k = 0; k < n && !why; k++) {
      if (done[k])
        continue;
      PoplarMessage *msg =
          poplar_mailbox_message(boxes[k]->mbox, k % ref->len);
      const KitSeen *want = g_ptr_array_index(ref, k % ref->len);
      gsize want_len;
      const char *want_data = g_bytes_get_data(want->content, &want_len);
      char buf[CHUNK];
      int64_t got = poplarpriv_store_message_read(boxes[k]->mbox, msg,
                                                  streams[k], buf, CHUNK);
      if (got < 0)
        why = g_strdup_printf("session %u: message_read of %s failed",
                              k + 1, msg->uidl);
      else if (pos[k] + (size_t)got > want_len ||
               memcmp(buf, want_data + pos[k], (size_t)got) != 0)
        why = g_strdup_printf("with %u sessions reading at once, session "
                              "%u read other octets of %s at offset %zu: "
                              "sessions share state", n, k + 1, msg->uidl,
                              pos[k]);
      else if (got == 0) {
        if (pos[k] != want_len)
          why = g_strdup_printf("session %u: %s ended after %zu of %zu "
                                "octets", k + 1, msg->uidl, pos[k],
                                want_len);
        done[k] = true;
        left--;
      }
      pos[k] += got > 0 ? (size_t)got : 0;
    }
  }
  for (unsigned k = 0; k < n; k++) {
    if (streams[k])
      poplarpriv_store_message_close(boxes[k]->mbox, streams[k]);
    if (boxes[k])
      kit_box_close(boxes[k]);
  }
  g_free(boxes);
  g_free(streams);
  g_free(pos);
  g_free(done);
  return why;
}

static char *one_round(KitStoreRun *run, const char *location)
{
  KitBox *box = kit_box_open(run->store, location);
  char *why = NULL;
  if (box->result != POPLAR_STORE_OK) {
    why = g_strdup_printf("open answered %d (%s)", box->result, box->log);
  } else if (poplar_mailbox_message_count(box->mbox) !=
             run->reference->len) {
    why = g_strdup_printf("listed %zu messages instead of %u",
                          poplar_mailbox_message_count(box->mbox),
                          run->reference->len);
  } else {
    for (guint i = 0; i < run->reference->len && !why; i++) {
      const KitSeen *want = g_ptr_array_index(run->reference, i);
      const PoplarMessage *msg = poplar_mailbox_message(box->mbox, i);
      if (strcmp(msg->uidl, want->uidl) != 0 || msg->size != want->size)
        why = g_strdup_printf("message %u listed as %s/%" G_GUINT64_FORMAT
                              " instead of %s/%" G_GUINT64_FORMAT, i + 1,
                              msg->uidl, msg->size, want->uidl, want->size);
      else
        why = read_interleaved(box, i, want->content);
    }
  }
  kit_box_close(box);
  return why;
}

static void session_thread(unsigned index, void *data)
{
  ThreadsRun *tr = data;
  for (unsigned round = 0; round < ROUNDS && !tr->failures[index]; round++)
    tr->failures[index] = one_round(tr->run, tr->locations[index]);
}

void kit_check_store_threads(KitStoreRun *run)
{
  KitReport *report = run->report;
  unsigned n = (unsigned)run->opts->threads;
  ThreadsRun tr = {.run = run};
  tr.locations = g_new0(char *, n + 1);
  tr.failures = g_new0(char *, n);
  for (unsigned i = 0; i < n; i++) {
    char *why = NULL;
    tr.locations[i] = kit_store_fresh_copy(run, &why);
    if (!tr.locations[i]) {
      kit_fail(report, "store.threads", "%s", why);
      g_free(why);
      g_strfreev(tr.locations);
      g_free(tr.failures);
      return;
    }
  }
  g_autofree char *interleaved = interleaved_pass(run, tr.locations, n);
  GError *error = NULL;
  if (interleaved) {
    kit_fail(report, "store.threads", "%s", interleaved);
  } else if (!kit_run_parallel(n, session_thread, &tr, &error)) {
    kit_fail(report, "store.threads", "thread pool: %s", error->message);
    g_error_free(error);
  } else {
    unsigned failed = 0;
    const char *first = NULL;
    for (unsigned i = 0; i < n; i++)
      if (tr.failures[i]) {
        failed++;
        if (!first)
          first = tr.failures[i];
      }
    if (failed)
      kit_fail(report, "store.threads", "%u of %u concurrent sessions saw "
               "something else than one session alone; first: %s", failed,
               n, first);
    else
      kit_pass(report, "store.threads", "%u sessions on %u mailboxes at "
               "once, %d rounds each", n, n, ROUNDS);
  }
  for (unsigned i = 0; i < n; i++)
    g_free(tr.failures[i]);
  g_free(tr.failures);
  g_strfreev(tr.locations);
}
