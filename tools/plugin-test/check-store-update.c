/* SPDX-License-Identifier: MIT */
/*
 * The store contract, part two: what changes a mailbox or guards it.
 * UPDATE removes exactly the marked messages and leaves the others' UIDLs
 * alone, and may be repeated; a second session is refused with [IN-USE]
 * while one holds the mailbox, and a holder that crashed does not keep it
 * locked; failures answer the right result codes.  A store that refuses
 * every deletion (read-only, as examples/store-eml-dir) needs no lock.
 */
#include "store-kit.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Which messages to mark: the first, and the last when there are three or
 * more, so that a survivor sits between them. */
static bool marked_index(guint i, guint count)
{
  return i == 0 || (count >= 3 && i == count - 1);
}

static bool survivors_match(KitStoreRun *run, GPtrArray *after, char **why)
{
  GPtrArray *ref = run->reference;
  guint j = 0;
  for (guint i = 0; i < ref->len; i++) {
    if (marked_index(i, ref->len))
      continue;
    const KitSeen *want = g_ptr_array_index(ref, i);
    if (j >= after->len) {
      *why = g_strdup_printf("%s was not marked but is gone", want->uidl);
      return false;
    }
    const KitSeen *got = g_ptr_array_index(after, j++);
    if (strcmp(want->uidl, got->uidl) != 0) {
      *why = g_strdup_printf("after the expunge, message %u is %s where %s "
                             "was expected (UIDLs must not change when "
                             "others are removed)", j, got->uidl, want->uidl);
      return false;
    }
    if (!g_bytes_equal(want->content, got->content) ||
        want->size != got->size) {
      *why = g_strdup_printf("%s reads differently after the expunge",
                             want->uidl);
      return false;
    }
  }
  if (j != after->len) {
    const KitSeen *extra = g_ptr_array_index(after, j);
    *why = g_strdup_printf("%s is still there although it was marked",
                           extra->uidl);
    return false;
  }
  return true;
}

void kit_check_store_update(KitStoreRun *run)
{
  KitReport *report = run->report;
  g_autofree char *why = NULL;
  g_autofree char *location = kit_store_fresh_copy(run, &why);
  if (!location) {
    kit_fail(report, "store.expunge", "%s", why);
    return;
  }
  KitBox *box = kit_box_open(run->store, location);
  if (box->result != POPLAR_STORE_OK) {
    kit_fail(report, "store.expunge", "open of a copy answered %d (%s)",
             box->result, box->log);
    kit_box_close(box);
    return;
  }
  guint count = (guint)poplar_mailbox_message_count(box->mbox);
  for (guint i = 0; i < count; i++)
    poplar_message_set_deleted(poplar_mailbox_message(box->mbox, i),
                               marked_index(i, count));
  unsigned removed = 0;
  uint64_t octets = 0;
  PoplarStoreResult r = poplarpriv_store_expunge(box->mbox, &removed,
                                                 &octets);
  g_autofree char *log = kit_log_take(box->session->id, POPLAR_LOG_WARNING);
  PoplarStoreResult again = POPLAR_STORE_OK;
  if (r == POPLAR_STORE_OK) {
    /* The same marks once more, as a retried UPDATE would: the messages
     * are gone already, which is not an error. */
    for (guint i = 0; i < count; i++)
      poplar_message_set_deleted(poplar_mailbox_message(box->mbox, i),
                                 marked_index(i, count));
    unsigned removed2 = 0;
    again = poplarpriv_store_expunge(box->mbox, &removed2, &octets);
  }
  g_autofree char *log2 = kit_log_take(box->session->id, POPLAR_LOG_WARNING);
  kit_box_close(box);

  box = kit_box_open(run->store, location);
  GPtrArray *after = box->result == POPLAR_STORE_OK
                         ? kit_box_snapshot(box, &why)
                         : NULL;
  kit_box_close(box);
  if (!after) {
    kit_fail(report, "store.expunge", "the open after the expunge "
             "failed (%s)", why ? why : "");
    return;
  }
  if (r == POPLAR_STORE_PERMFAIL && after->len == run->reference->len) {
    /* Read-only: nothing removed and the client told so. */
    run->read_only = true;
    kit_pass(report, "store.expunge", "read-only store: refuses with "
             "[SYS/PERM] and keeps every message");
    kit_skip(report, "store.expunge-repeat", "read-only store");
  } else if (r != POPLAR_STORE_OK) {
    kit_fail(report, "store.expunge", "answered %d (%s)", r, log);
  } else if (!survivors_match(run, after, &why)) {
    kit_fail(report, "store.expunge", "%s", why);
  } else {
    kit_pass(report, "store.expunge", "%u of %u removed, the others "
             "unchanged", removed, count);
    kit_check(report, again == POPLAR_STORE_OK, "store.expunge-repeat",
              "expunging messages already gone answered %d (%s)", again,
              log2);
  }
  g_ptr_array_unref(after);
}

/* ---- the session lock ------------------------------------------------------ */

/* A holder that dies without close: a child opens the mailbox, tells the
 * parent, and kills itself with SIGKILL as a crash would. */
static bool crash_while_holding(KitStoreRun *run, const char *location,
                                char **why)
{
  int pipefd[2];
  if (pipe(pipefd) != 0) {
    *why = g_strdup_printf("pipe: %s", g_strerror(errno));
    return false;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    *why = g_strdup_printf("fork: %s", g_strerror(errno));
    close(pipefd[0]);
    close(pipefd[1]);
    return false;
  }
  if (pid == 0) {
    close(pipefd[0]);
    alarm(10); /* a plugin lock held by a thread that fork() left behind */
    KitBox *box = kit_box_open(run->store, location);
    char answer = box->result == POPLAR_STORE_OK ? 'y' : 'n';
    if (write(pipefd[1], &answer, 1) != 1)
      _exit(1);
    raise(SIGKILL);
    _exit(1);
  }
  close(pipefd[1]);
  char answer = 0;
  ssize_t n = read(pipefd[0], &answer, 1);
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (n != 1 || answer != 'y') {
    *why = g_strdup("the holder process could not open the mailbox");
    return false;
  }
  return true;
}

void kit_check_store_lock(KitStoreRun *run)
{
  KitReport *report = run->report;
  if (run->read_only) {
    kit_skip(report, "store.lock-in-use", "read-only store: sessions may "
             "share the mailbox");
    kit_skip(report, "store.lock-crashed-holder", "read-only store");
    return;
  }
  g_autofree char *why = NULL;
  g_autofree char *location = kit_store_fresh_copy(run, &why);
  if (!location) {
    kit_fail(report, "store.lock-in-use", "%s", why);
    return;
  }
  KitBox *first = kit_box_open(run->store, location);
  PoplarStoreResult r1 = first->result;
  KitBox *second = kit_box_open(run->store, location);
  PoplarStoreResult r2 = second->result;
  g_autofree char *log2 = g_strdup(second->log);
  kit_box_close(second);
  kit_box_close(first);
  if (r1 != POPLAR_STORE_OK)
    kit_fail(report, "store.lock-in-use", "the first open failed");
  else
    kit_check(report, r2 == POPLAR_STORE_IN_USE, "store.lock-in-use",
              "a second open while a session holds the mailbox answered %d "
              "instead of POPLAR_STORE_IN_USE (%s)", r2, log2);

  /* ... and once closed, it opens again. */
  KitBox *third = kit_box_open(run->store, location);
  kit_check(report, third->result == POPLAR_STORE_OK, "store.lock-released",
            "after close, open answered %d (%s)", third->result, third->log);
  kit_box_close(third);

  /* fork() copies only the calling thread: a lock that another thread of
   * the plugin held at that moment stays taken in the child for good.
   * That is a hazard of the test, not a fault of the store, so a holder
   * that could not open gets one more try. */
  if (!crash_while_holding(run, location, &why)) {
    g_clear_pointer(&why, g_free);
    if (!crash_while_holding(run, location, &why)) {
      kit_fail(report, "store.lock-crashed-holder", "%s", why);
      return;
    }
  }
  /* Stores may need a moment to see the holder is gone; a lock that
   * outlives a crash for good never opens. */
  PoplarStoreResult r = POPLAR_STORE_IN_USE;
  g_autofree char *log = NULL;
  for (int attempt = 0; attempt < 50 && r == POPLAR_STORE_IN_USE;
       attempt++) {
    if (attempt)
      g_usleep(100 * 1000);
    KitBox *box = kit_box_open(run->store, location);
    r = box->result;
    g_free(log);
    log = g_strdup(box->log);
    kit_box_close(box);
  }
  kit_check(report, r == POPLAR_STORE_OK, "store.lock-crashed-holder",
            "after its holder was killed, open answered %d for 5 s (%s)", r,
            log);
}

/* ---- result codes ---------------------------------------------------------- */

/* Removes every regular file under @path (or @path itself when it is
 * one), as another program deleting the mail under an open session. */
static void remove_files(const char *path)
{
  if (!g_file_test(path, G_FILE_TEST_IS_DIR)) {
    unlink(path);
    return;
  }
  GDir *dir = g_dir_open(path, 0, NULL);
  if (!dir)
    return;
  const char *name;
  while ((name = g_dir_read_name(dir))) {
    g_autofree char *child = g_build_filename(path, name, NULL);
    remove_files(child);
  }
  g_dir_close(dir);
}

/* A message that another program removed after the listing: the store
 * answers POPLAR_STORE_GONE, or still reads it whole (from a descriptor it
 * kept open); a TEMPFAIL or PERMFAIL would end the client's RETR with a
 * misleading [SYS/...] code. */
static void check_message_gone(KitStoreRun *run)
{
  KitReport *report = run->report;
  g_autofree char *why = NULL;
  g_autofree char *location = kit_store_fresh_copy(run, &why);
  if (!location) {
    kit_fail(report, "store.error-message-gone", "%s", why);
    return;
  }
  KitBox *box = kit_box_open(run->store, location);
  if (box->result != POPLAR_STORE_OK) {
    kit_fail(report, "store.error-message-gone", "open answered %d (%s)",
             box->result, box->log);
    kit_box_close(box);
    return;
  }
  g_autofree char *path = g_strndup(location, strcspn(location, ":"));
  remove_files(path);
  PoplarMessage *msg = poplar_mailbox_message(box->mbox, 0);
  void *stream = NULL;
  PoplarStoreResult r =
      poplarpriv_store_message_open(box->mbox, msg, &stream);
  if (r == POPLAR_STORE_OK) {
    poplarpriv_store_message_close(box->mbox, stream);
    GBytes *content = kit_read_message(box, 0, 4096, &why);
    const KitSeen *want = g_ptr_array_index(run->reference, 0);
    bool same = content && g_bytes_equal(content, want->content);
    if (content)
      g_bytes_unref(content);
    kit_check(report, same, "store.error-message-gone",
              "a message whose file was removed opened, but reads "
              "differently%s%s", why ? ": " : "", why ? why : "");
  } else {
    g_autofree char *log = kit_log_take(box->session->id, POPLAR_LOG_WARNING);
    kit_check(report, r == POPLAR_STORE_GONE, "store.error-message-gone",
              "message_open of a message whose file was removed answered %d "
              "instead of POPLAR_STORE_GONE (%s)", r, log);
  }
  kit_box_close(box);
}

void kit_check_store_errors(KitStoreRun *run)
{
  KitReport *report = run->report;
  if (run->reference)
    check_message_gone(run);
  g_autofree char *missing =
      g_strdup_printf("%s/no-such-mailbox/inbox%s", run->workdir,
                      run->source.rest);
  KitBox *box = kit_box_open(run->store, missing);
  PoplarStoreResult r = box->result;
  size_t count = r == POPLAR_STORE_OK
                     ? poplar_mailbox_message_count(box->mbox)
                     : 0;
  g_autofree char *log = g_strdup(box->log);
  kit_box_close(box);
  /* ENOENT is TEMPFAIL (store.h); a store may also take a missing
   * mailbox for an empty one. */
  if (r == POPLAR_STORE_OK)
    kit_check(report, count == 0, "store.error-missing-mailbox",
              "a mailbox that does not exist lists %zu messages", count);
  else if (r == POPLAR_STORE_TEMPFAIL || r == POPLAR_STORE_PERMFAIL)
    kit_check(report, *log != '\0', "store.error-missing-mailbox",
              "open failed (%d) without explaining why with "
              "poplar_mailbox_set_error()", r);
  else
    kit_fail(report, "store.error-missing-mailbox",
             "a mailbox that does not exist answered %d (neither OK, "
             "TEMPFAIL nor PERMFAIL)", r);
}
