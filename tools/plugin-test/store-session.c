/* SPDX-License-Identifier: MIT */
/*
 * Sessions on a mailbox and reads of its messages, through the same
 * libpoplar call sites the core uses for a login, RETR and UPDATE
 * (poplarpriv_mailbox_open(), poplarpriv_store_message_read(), ...), so a
 * store sees exactly the calls poplard makes.
 */
#include "store-kit.h"

#include <errno.h>
#include <string.h>

#include "poplar-limits.h"

/* Octets after the read request that a store must never write. */
#define GUARD_LEN 64
#define GUARD_BYTE 0xa5

KitBox *kit_box_open(const PoplarStoreEntry *store, const char *location)
{
  KitBox *box = g_new0(KitBox, 1);
  box->session = kit_session_new("kit-user");
  box->mbox = poplarpriv_mailbox_new(box->session, store, "kit-user",
                                     location, NULL);
  box->session->mailbox = box->mbox;
  box->result = poplarpriv_mailbox_open(box->mbox);
  if (box->result == POPLAR_STORE_OK)
    poplarpriv_mailbox_number(box->mbox);
  box->log = kit_log_take(box->session->id, POPLAR_LOG_WARNING);
  return box;
}

void kit_box_close(KitBox *box)
{
  if (!box)
    return;
  poplarpriv_mailbox_free(box->mbox);
  box->session->mailbox = NULL;
  g_free(kit_log_take(box->session->id, POPLAR_LOG_DEBUG));
  kit_session_free(box->session);
  g_free(box->log);
  g_free(box);
}

void kit_seen_free(gpointer p)
{
  KitSeen *seen = p;
  g_free(seen->uidl);
  if (seen->content)
    g_bytes_unref(seen->content);
  g_free(seen);
}

static bool guard_intact(const unsigned char *guard)
{
  for (size_t i = 0; i < GUARD_LEN; i++)
    if (guard[i] != GUARD_BYTE)
      return false;
  return true;
}

GBytes *kit_read_message(KitBox *box, size_t index, size_t chunk,
                         char **why)
{
  PoplarMessage *msg = poplar_mailbox_message(box->mbox, index);
  void *stream = NULL;
  PoplarStoreResult r =
      poplarpriv_store_message_open(box->mbox, msg, &stream);
  if (r != POPLAR_STORE_OK) {
    g_autofree char *log = kit_log_take(box->session->id, POPLAR_LOG_WARNING);
    *why = g_strdup_printf("message_open of %s answered %d (%s)", msg->uidl,
                           r, log);
    return NULL;
  }
  unsigned char *buf = g_malloc(chunk + GUARD_LEN);
  GByteArray *out = g_byte_array_new();
  /* Generous: a store that never says "end" must not hang the kit. */
  uint64_t limit = msg->size + 2 * (uint64_t)chunk + 1024 * 1024;
  for (;;) {
    memset(buf + chunk, GUARD_BYTE, GUARD_LEN);
    int64_t n = poplarpriv_store_message_read(box->mbox, msg, stream,
                                              (char *)buf, chunk);
    if (!guard_intact(buf + chunk)) {
      *why = g_strdup_printf("message_read of %s wrote past the %zu octets "
                             "it was asked for", msg->uidl, chunk);
      break;
    }
    if (n < 0) {
      g_autofree char *log =
          kit_log_take(box->session->id, POPLAR_LOG_WARNING);
      *why = g_strdup_printf("message_read of %s failed at offset %u with "
                             "reads of %zu (%s)", msg->uidl, out->len, chunk,
                             log);
      break;
    }
    if (n == 0) {
      /* At the end it stays at the end (the core may ask again). */
      n = poplarpriv_store_message_read(box->mbox, msg, stream, (char *)buf,
                                        chunk);
      if (n != 0)
        *why = g_strdup_printf("message_read of %s returned %" G_GINT64_FORMAT
                               " after it had returned 0 (end)", msg->uidl, n);
      break;
    }
    g_byte_array_append(out, buf, (guint)n);
    if (out->len > limit) {
      *why = g_strdup_printf("message_read of %s does not end: more than %"
                             G_GUINT64_FORMAT " octets for a message listed "
                             "as %" G_GUINT64_FORMAT, msg->uidl, limit,
                             msg->size);
      break;
    }
  }
  poplarpriv_store_message_close(box->mbox, stream);
  g_free(buf);
  if (*why) {
    g_byte_array_unref(out);
    return NULL;
  }
  return g_byte_array_free_to_bytes(out);
}

GPtrArray *kit_box_snapshot(KitBox *box, char **why)
{
  GPtrArray *seen = g_ptr_array_new_with_free_func(kit_seen_free);
  size_t n = poplar_mailbox_message_count(box->mbox);
  for (size_t i = 0; i < n; i++) {
    PoplarMessage *msg = poplar_mailbox_message(box->mbox, i);
    KitSeen *s = g_new0(KitSeen, 1);
    s->uidl = g_strdup(msg->uidl);
    s->size = msg->size;
    g_ptr_array_add(seen, s);
    s->content = kit_read_message(box, i, POPLAR_RETR_CHUNK, why);
    if (!s->content) {
      g_ptr_array_unref(seen);
      return NULL;
    }
  }
  return seen;
}

uint64_t kit_crlf_size(GBytes *content)
{
  PoplarCrlfSize state;
  poplar_crlf_size_init(&state);
  gsize len;
  const void *data = g_bytes_get_data(content, &len);
  poplar_crlf_size_feed(&state, data, len);
  return poplar_crlf_size_finish(&state);
}

/* ---- locations and copies ------------------------------------------------- */

bool kit_location_parse(const char *text, KitLocation *loc, char **why)
{
  memset(loc, 0, sizeof *loc);
  const char *colon = strchr(text, ':');
  if (!colon || colon == text || colon[1] != '/') {
    *why = g_strdup_printf("'%s' is not scheme:/absolute/path", text);
    return false;
  }
  loc->scheme = g_strndup(text, (gsize)(colon - text));
  const char *path = colon + 1;
  const char *end = strchr(path, ':');
  loc->path = end ? g_strndup(path, (gsize)(end - path)) : g_strdup(path);
  loc->rest = g_strdup(end ? end : "");
  return true;
}

void kit_location_clear(KitLocation *loc)
{
  g_free(loc->scheme);
  g_free(loc->path);
  g_free(loc->rest);
  memset(loc, 0, sizeof *loc);
}

char *kit_location_copy(const KitLocation *loc, const char *dir, char **why)
{
  if (g_mkdir_with_parents(dir, 0700) != 0) {
    *why = g_strdup_printf("cannot create %s: %s", dir, g_strerror(errno));
    return NULL;
  }
  g_autofree char *base = g_path_get_basename(loc->path);
  g_autofree char *target = g_build_filename(dir, base, NULL);
  /* cp -a keeps what a store may rely on: modes, times, empty
   * directories (Maildir's tmp/), file names. */
  const char *argv[] = {"cp", "-a", "--", loc->path, target, NULL};
  g_autofree char *err_text = NULL;
  gint status = 0;
  GError *error = NULL;
  if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL,
                    NULL, NULL, &err_text, &status, &error)) {
    *why = g_strdup_printf("cp: %s", error->message);
    g_error_free(error);
    return NULL;
  }
  if (!g_spawn_check_wait_status(status, NULL)) {
    *why = g_strdup_printf("cannot copy %s: %s", loc->path,
                           err_text ? g_strstrip(err_text) : "");
    return NULL;
  }
  return g_strconcat(target, loc->rest, NULL);
}

char *kit_store_fresh_copy(KitStoreRun *run, char **why)
{
  g_autofree char *dir =
      g_strdup_printf("%s/copy-%u", run->workdir, run->copies++);
  return kit_location_copy(&run->source, dir, why);
}
