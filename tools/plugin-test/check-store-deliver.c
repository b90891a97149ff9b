/* SPDX-License-Identifier: MIT */
/*
 * The store contract with the author's delivery command (--deliver CMD):
 * the kit writes messages in the shapes that trip stores up (bare LF line
 * ends, lines starting with '.', no final line end, CRLF, a "From " line,
 * one larger than a RETR chunk) through CMD into a copy of the mailbox,
 * and checks that each arrives once, with new UIDLs and its text intact.
 * The copy with these messages is then the mailbox every later check
 * uses, so sizes and reads are checked on them too.
 */
#include "store-kit.h"

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const messages[] = {
    "Subject: kit bare LF\n\nline one\nline two\n",
    "Subject: kit dots\n\n.starts with a dot\n..two dots\n.\nend\n",
    "Subject: kit no final line end\n\nno line end at the end",
    "Subject: kit CRLF\r\n\r\nwindows line ends\r\nsecond\r\n",
    "Subject: kit from line\n\nFrom here on, a line mbox quotes\n",
};
#define BIG_LINES 4000

static char *big_message(void)
{
  GString *s = g_string_new("Subject: kit large\n\n");
  for (unsigned i = 0; i < BIG_LINES; i++)
    g_string_append_printf(s, "line %05u of a message larger than one "
                           "RETR chunk\n", i);
  return g_string_free(s, FALSE);
}

/* The text as a client compares it: CRLF line ends, a final line end, and
 * mbox's quoting of "From " lines undone. */
static char *normalise(const char *text, size_t len)
{
  GString *out = g_string_new(NULL);
  bool line_start = true;
  for (size_t i = 0; i < len; i++) {
    if (line_start) {
      size_t j = i;
      while (j < len && text[j] == '>')
        j++;
      if (j > i && len - j >= 5 && memcmp(text + j, "From ", 5) == 0)
        i = j;
    }
    char c = text[i];
    line_start = false;
    if (c == '\r' && i + 1 < len && text[i + 1] == '\n')
      continue;
    if (c == '\n') {
      g_string_append(out, "\r\n");
      line_start = true;
      continue;
    }
    g_string_append_c(out, c);
  }
  if (out->len && !g_str_has_suffix(out->str, "\r\n"))
    g_string_append(out, "\r\n");
  return g_string_free(out, FALSE);
}

/* The body: what follows the first empty line. */
static const char *body_of(const char *normalised)
{
  const char *p = strstr(normalised, "\r\n\r\n");
  return p ? p + 4 : "";
}

static bool deliver_one(KitStoreRun *run, const char *path, const char *text,
                        char **why)
{
  g_auto(GStrv) env = g_get_environ();
  env = g_environ_setenv(env, "POPLAR_KIT_MAILBOX", path, TRUE);
  const char *argv[] = {"/bin/sh", "-c", run->opts->deliver, NULL};
  GError *error = NULL;
  GPid pid;
  gint in_fd;
  if (!g_spawn_async_with_pipes(NULL, (char **)argv, env,
                                G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid,
                                &in_fd, NULL, NULL, &error)) {
    *why = g_strdup_printf("--deliver: %s", error->message);
    g_error_free(error);
    return false;
  }
  size_t len = strlen(text), off = 0;
  while (off < len) {
    ssize_t n = write(in_fd, text + off, len - off);
    if (n <= 0)
      break;
    off += (size_t)n;
  }
  close(in_fd);
  int status = 0;
  waitpid(pid, &status, 0);
  g_spawn_close_pid(pid);
  if (!g_spawn_check_wait_status(status, NULL) || off < len) {
    *why = g_strdup_printf("--deliver command failed (status %d)", status);
    return false;
  }
  return true;
}

void kit_check_store_deliver(KitStoreRun *run)
{
  KitReport *report = run->report;
  g_autofree char *why = NULL;
  g_autofree char *dir =
      g_strdup_printf("%s/delivered", run->workdir);
  g_autofree char *location = kit_location_copy(&run->source, dir, &why);
  if (!location) {
    kit_fail(report, "store.deliver", "%s", why);
    return;
  }
  g_autofree char *base = g_path_get_basename(run->source.path);
  g_autofree char *path = g_build_filename(dir, base, NULL);

  KitBox *box = kit_box_open(run->store, location);
  if (box->result != POPLAR_STORE_OK) {
    kit_fail(report, "store.deliver", "open before delivery answered %d "
             "(%s)", box->result, box->log);
    kit_box_close(box);
    return;
  }
  g_autoptr(GHashTable) before =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  for (size_t i = 0; i < poplar_mailbox_message_count(box->mbox); i++)
    g_hash_table_add(before,
                     g_strdup(poplar_mailbox_message(box->mbox, i)->uidl));
  kit_box_close(box);

  g_autofree char *big = big_message();
  GPtrArray *sent = g_ptr_array_new();
  for (size_t i = 0; i < G_N_ELEMENTS(messages); i++)
    g_ptr_array_add(sent, (gpointer)messages[i]);
  g_ptr_array_add(sent, big);
  for (guint i = 0; i < sent->len; i++)
    if (!deliver_one(run, path, g_ptr_array_index(sent, i), &why)) {
      kit_fail(report, "store.deliver", "%s", why);
      g_ptr_array_unref(sent);
      return;
    }

  box = kit_box_open(run->store, location);
  GPtrArray *seen = box->result == POPLAR_STORE_OK
                        ? kit_box_snapshot(box, &why)
                        : NULL;
  kit_box_close(box);
  if (!seen) {
    kit_fail(report, "store.deliver", "open after delivery failed (%s)",
             why ? why : "");
    g_ptr_array_unref(sent);
    return;
  }
  /* The new messages, in any order; each delivered one must be among
   * them once, its body intact. */
  GPtrArray *fresh = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; i < seen->len; i++) {
    const KitSeen *s = g_ptr_array_index(seen, i);
    if (g_hash_table_contains(before, s->uidl))
      continue;
    gsize len;
    const char *data = g_bytes_get_data(s->content, &len);
    g_ptr_array_add(fresh, normalise(data, len));
  }
  if (fresh->len != sent->len) {
    kit_fail(report, "store.deliver", "%u messages delivered, %u new "
             "messages listed", sent->len, fresh->len);
  } else {
    const char *missing = NULL;
    for (guint i = 0; i < sent->len && !missing; i++) {
      const char *text = g_ptr_array_index(sent, i);
      g_autofree char *want = normalise(text, strlen(text));
      g_autofree char *subject_line = g_strndup(want, strcspn(want, "\r"));
      bool found = false;
      for (guint j = 0; j < fresh->len && !found; j++) {
        const char *got = g_ptr_array_index(fresh, j);
        found = strcmp(body_of(got), body_of(want)) == 0 &&
                strstr(got, subject_line) != NULL;
      }
      if (!found)
        missing = text;
    }
    if (missing) {
      g_autofree char *subject = g_strndup(missing, strcspn(missing, "\r\n"));
      kit_fail(report, "store.deliver", "the message '%s' does not read "
               "back as delivered", subject);
    } else {
      kit_pass(report, "store.deliver", "%u messages delivered and read "
               "back", sent->len);
      /* Every later check works on copies of this mailbox. */
      g_free(run->source.path);
      run->source.path = g_steal_pointer(&path);
    }
  }
  g_ptr_array_unref(fresh);
  g_ptr_array_unref(seen);
  g_ptr_array_unref(sent);
}
