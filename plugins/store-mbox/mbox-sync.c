/* SPDX-License-Identifier: MIT */
/*
 * The index against the file, at open (under the MTA locks):
 *
 *  - unchanged (same device, inode, size, mtime and ctime, and the index
 *    covers the whole file): the index is the listing; nothing is parsed.
 *    ctime cannot be set back by any program, so an MUA that rewrites the
 *    mbox in place and restores its mtime is still noticed.
 *  - appended (same inode, larger, and every known message still starts
 *    with the same From_ line at the same offset, the last one still
 *    followed by its separator and a From_ line): only the last known
 *    message and what follows it are parsed.
 *  - anything else (another inode, shorter, edited in place): the whole
 *    file is parsed, and each message gets the UIDL the index had for the
 *    same content.
 */
#include "mbox.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static void keep_lock_fresh(void *data)
{
  mbox_lock_keep_fresh(data);
}

void mbox_scan_options_init(MboxScanOptions *options, const MboxMailbox *mb,
                            MboxLock *lock)
{
  memset(options, 0, sizeof *options);
  options->format = mb->store->format;
  if (lock) {
    options->progress = keep_lock_fresh;
    options->progress_data = lock;
  }
}

static bool index_unchanged(const MboxIndex *idx, const struct stat *st)
{
  return idx->size == (uint64_t)st->st_size &&
         idx->mtime_ns == mbox_stat_mtime_ns(st) &&
         idx->ctime_ns == mbox_stat_ctime_ns(st);
}

/* Copies @idx's messages [0, n) into @msgs, their UIDLs into @strings. */
static void take_from_index(const MboxIndex *idx, size_t n, GArray *msgs,
                            GStringChunk *strings)
{
  for (size_t i = 0; i < n; i++) {
    MboxMsg m = g_array_index(idx->msgs, MboxMsg, i);
    m.uidl = g_string_chunk_insert(strings, m.uidl);
    m.x_uidl = NULL;
    g_array_append_val(msgs, m);
  }
}

bool mbox_sync(MboxMailbox *mb, MboxLock *lock, GError **error)
{
  const MboxStore *store = mb->store;
  uint64_t size = (uint64_t)mb->st.st_size;
  g_autofree char *problem = NULL;
  MboxIndex *idx =
      mbox_index_load_at(mb->index_dir_fd, mb->index_name, &problem);
  if (problem)
    mbox_log(mb, POPLAR_LOG_WARNING, "%s ignored and rebuilt: %s",
             mb->index_path, problem);
  if (idx && idx->format != store->format) {
    mbox_log(mb, POPLAR_LOG_INFO, "%s was written for %s, the store reads "
             "%s: parsing the mbox again", mb->index_path,
             mbox_format_name(idx->format), mbox_format_name(store->format));
  }
  if (idx && idx->version < MBOX_INDEX_VERSION)
    mbox_log(mb, POPLAR_LOG_INFO, "%s was written by an earlier version: "
             "parsing the mbox again (UIDLs are kept)", mb->index_path);
  bool same_file = idx && idx->version == MBOX_INDEX_VERSION &&
                   idx->format == store->format &&
                   idx->dev == (uint64_t)mb->st.st_dev &&
                   idx->ino == (uint64_t)mb->st.st_ino;
  size_t n_idx = idx ? idx->msgs->len : 0;
  const MboxMsg *idx_msgs =
      idx ? (const MboxMsg *)(void *)idx->msgs->data : NULL;

  GArray *msgs = g_array_new(FALSE, FALSE, sizeof(MboxMsg));
  MboxScanOptions options;
  mbox_scan_options_init(&options, mb, lock);
  bool ok = false;
  mb->n_reused = 0;

  if (same_file && index_unchanged(idx, &mb->st) && idx->scanned == size) {
    take_from_index(idx, n_idx, msgs, mb->strings);
    mb->n_reused = n_idx;
    mb->sync_kind = MBOX_SYNC_CACHED;
    ok = true;
  } else if (same_file && idx->scanned < size &&
             (size > idx->size || index_unchanged(idx, &mb->st)) &&
             mbox_layout_intact(mb->fd, idx_msgs, n_idx, size)) {
    /* Mail appended: parse from the last known message on (it may have
     * been truncated and go on now). */
    size_t keep = n_idx > 0 ? n_idx - 1 : 0;
    uint64_t start = n_idx > 0 ? idx_msgs[n_idx - 1].from : 0;
    take_from_index(idx, keep, msgs, mb->strings);
    g_autoptr(GError) scan_error = NULL;
    ok = mbox_scan(mb->fd, &options, start, size, msgs, mb->strings,
                   &scan_error);
    if (ok) {
      mb->n_reused = keep;
      mb->sync_kind = MBOX_SYNC_APPENDED;
    } else if (scan_error->code == POPLAR_STORE_GONE) {
      g_array_set_size(msgs, 0);
    } else {
      g_propagate_error(error, g_steal_pointer(&scan_error));
      goto out;
    }
  }
  if (!ok) {
    ok = mbox_scan(mb->fd, &options, 0, size, msgs, mb->strings, error);
    if (!ok)
      goto out;
    mb->sync_kind = idx ? MBOX_SYNC_RESCANNED : MBOX_SYNC_NEW;
  }

  MboxUidlMap *map = idx ? mbox_uidl_map_new(idx_msgs, n_idx) : NULL;
  /* uidl-format only where the index knows nothing of the mbox: see
   * mbox-uidl.c. */
  mbox_uidl_assign((MboxMsg *)(void *)msgs->data, msgs->len, map,
                   store->use_x_uidl,
                   mb->sync_kind == MBOX_SYNC_NEW ? store->uidl_format : NULL,
                   mb->strings);
  mbox_uidl_map_free(map);
  mb->scanned = size;
  mb->n_msgs = msgs->len;
  mb->msgs = (MboxMsg *)(void *)g_array_free(msgs, FALSE);
  msgs = NULL;

out:
  if (msgs)
    g_array_free(msgs, TRUE);
  mbox_index_free(idx);
  return ok;
}

static guint hash_hash(gconstpointer key)
{
  guint h;
  memcpy(&h, key, sizeof h);
  return h;
}

static gboolean hash_equal(gconstpointer a, gconstpointer b)
{
  return memcmp(a, b, MBOX_HASH_LEN) == 0;
}

bool mbox_relocate(MboxMailbox *mb, MboxLock *lock, GError **error)
{
  struct stat st;
  if (fstat(mb->fd, &st) != 0) {
    mbox_set_errno_error(error, errno, "cannot stat %s", mb->path);
    return false;
  }
  g_autoptr(GArray) found = g_array_new(FALSE, FALSE, sizeof(MboxMsg));
  g_autoptr(GStringChunk) strings = g_string_chunk_new(1024);
  MboxScanOptions options;
  mbox_scan_options_init(&options, mb, lock);
  if (!mbox_scan(mb->fd, &options, 0, (uint64_t)st.st_size, found, strings,
                 error))
    return false;
  /* hash -> indices of found messages with that content, in file order */
  g_autoptr(GHashTable) by_hash = g_hash_table_new_full(
      hash_hash, hash_equal, NULL, (GDestroyNotify)g_queue_free);
  for (guint i = 0; i < found->len; i++) {
    MboxMsg *f = &g_array_index(found, MboxMsg, i);
    GQueue *q = g_hash_table_lookup(by_hash, f->hash);
    if (!q) {
      q = g_queue_new();
      g_hash_table_insert(by_hash, f->hash, q);
    }
    g_queue_push_tail(q, GUINT_TO_POINTER(i));
  }
  size_t moved = 0, gone = 0, resized = 0;
  for (size_t i = 0; i < mb->n_msgs; i++) {
    MboxMsg *m = &mb->msgs[i];
    if (m->gone)
      continue;
    GQueue *q = g_hash_table_lookup(by_hash, m->hash);
    if (!q || g_queue_is_empty(q)) {
      m->gone = true;
      gone++;
      continue;
    }
    const MboxMsg *f =
        &g_array_index(found, MboxMsg, GPOINTER_TO_UINT(g_queue_pop_head(q)));
    if (f->from != m->from)
      moved++;
    /* The size LIST gave stays: the client was told it.  It differs only
     * when fields left out of the hash (Status:...) changed. */
    if (f->size != m->size)
      resized++;
    m->from = f->from;
    m->data = f->data;
    m->end = f->end;
    m->next = f->next;
    m->from_hash = f->from_hash;
    m->flags = f->flags;
  }
  mb->st = st;
  mb->scanned = (uint64_t)st.st_size;
  mbox_log(mb, POPLAR_LOG_WARNING,
           "%s was changed by another program during the session: "
           "%zu messages moved, %zu gone, %zu with other status fields",
           mb->path, moved, gone, resized);
  return true;
}
