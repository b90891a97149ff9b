/* SPDX-License-Identifier: MIT */
/*
 * The listing index: what the last open of a Maildir listed (sorted, with
 * UIDLs and sizes), kept in the process so that the next login of the same
 * mailbox need not read its directories, sort and count again.
 *
 * When it may be used: a Maildir's listing depends on the names in cur/
 * and new/ and on poplar-uidls.  Every delivery, rename (flag change) and
 * removal changes the mtime and ctime of the directory it happens in, and
 * every rewrite of poplar-uidls replaces its inode; so while those stamps
 * are what they were when the listing was made, the listing is the same.
 * Two changes inside one tick of the filesystem's clock can leave a
 * directory with the same stamps, though: a listing is only kept when
 * every stamp was older than the listing by more than any filesystem's
 * granularity, and when no stamp moved while it was being made.  A change
 * after that gets a later stamp, which the next open sees.
 *
 * Messages whose file content could matter beyond their name (unreadable
 * or foreign files, duplicates, messages left in new/) and UIDLs taken from
 * another server's UID list are never kept: their listing depends on more
 * than the stamps say, so such a mailbox is listed from scratch every time.
 *
 * Thread safety: one mutex for the whole index; entries are copied in and
 * out under it, never shared with a mailbox.
 */
#include "maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>

/* Bounds: about 150 octets a message, so at most some 40 MB. */
#define INDEX_MAX_ENTRIES 256
#define INDEX_MAX_MESSAGES (256 * 1024)
/* Older than this and a stamp cannot be shared with a later change: 1 s
 * granularity (ext3, FAT's 2 s aside, some NFS servers) and the lag of the
 * kernel's coarse clock. */
#define INDEX_SETTLED_NS (2ll * 1000 * 1000 * 1000)

typedef struct IndexEntry {
  MaildirIndexKey key;
  MaildirIndexStamps stamps;
  uid_t owner;
  int delete_mode;
  MaildirMsg *msgs;       /* file names owned; base and uidl in strings */
  size_t n_msgs;
  GStringChunk *strings;
  GList *lru_link;        /* in MaildirIndex.lru, most recent first */
} IndexEntry;

struct MaildirIndex {
  GMutex lock;
  GHashTable *entries;    /* MaildirIndexKey* -> IndexEntry*, owned */
  GQueue lru;             /* IndexEntry* */
  size_t n_msgs;          /* of all entries */
};

static guint key_hash(gconstpointer p)
{
  const MaildirIndexKey *k = p;
  return (guint)(k->dev * 2654435761u) ^ (guint)k->ino ^
         (guint)(k->ino >> 32);
}

static gboolean key_equal(gconstpointer a, gconstpointer b)
{
  const MaildirIndexKey *x = a, *y = b;
  return x->dev == y->dev && x->ino == y->ino;
}

static void entry_free(IndexEntry *e)
{
  for (size_t i = 0; i < e->n_msgs; i++)
    g_free(e->msgs[i].file);
  g_free(e->msgs);
  if (e->strings)
    g_string_chunk_free(e->strings);
  g_free(e);
}

MaildirIndex *maildir_index_new(void)
{
  MaildirIndex *index = g_new0(MaildirIndex, 1);
  g_mutex_init(&index->lock);
  index->entries = g_hash_table_new_full(key_hash, key_equal, NULL,
                                         (GDestroyNotify)entry_free);
  g_queue_init(&index->lru);
  return index;
}

void maildir_index_free(MaildirIndex *index)
{
  if (!index)
    return;
  g_queue_clear(&index->lru);
  g_hash_table_destroy(index->entries);
  g_mutex_clear(&index->lock);
  g_free(index);
}

static void stamp_from(const struct stat *st, MaildirFileStamp *s)
{
  s->present = true;
  s->ino = (uint64_t)st->st_ino;
  s->size = (uint64_t)st->st_size;
  s->mtime = st->st_mtim;
  s->ctime = st->st_ctim;
}

/* A missing file is a stamp too (present false); any other failure is
 * not. */
static bool stamp_of(int root_fd, const char *name, bool want_dir,
                     MaildirFileStamp *s)
{
  struct stat st;
  memset(s, 0, sizeof *s);
  if (fstatat(root_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT && !want_dir;
  if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
    return false;
  stamp_from(&st, s);
  return true;
}

/* A directory's stamp from a status the caller took, else asked here;
 * its status in *@seen. */
static bool dir_stamp(int root_fd, const char *name, const struct stat *st,
                      MaildirFileStamp *s, struct stat *seen)
{
  memset(s, 0, sizeof *s);
  if (st)
    *seen = *st;
  else if (fstatat(root_fd, name, seen, AT_SYMLINK_NOFOLLOW) != 0)
    return false;
  if (!S_ISDIR(seen->st_mode))
    return false;
  stamp_from(seen, s);
  return true;
}

bool maildir_index_stamps_with(int root_fd, const struct stat *cur,
                               const struct stat *new_dir,
                               MaildirIndexKey *key,
                               MaildirIndexStamps *stamps)
{
  struct stat cur_st, new_st;
  if (!dir_stamp(root_fd, "cur", cur, &stamps->cur, &cur_st))
    return false;
  key->dev = (uint64_t)cur_st.st_dev;
  key->ino = (uint64_t)cur_st.st_ino;
  return dir_stamp(root_fd, "new", new_dir, &stamps->new_dir, &new_st) &&
         stamp_of(root_fd, MAILDIR_UIDL_RECORD_FILE, false,
                  &stamps->record);
}

bool maildir_index_stamps(int root_fd, MaildirIndexKey *key,
                          MaildirIndexStamps *stamps)
{
  return maildir_index_stamps_with(root_fd, NULL, NULL, key, stamps);
}

static bool time_equal(const struct timespec *a, const struct timespec *b)
{
  return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static bool file_stamp_equal(const MaildirFileStamp *a,
                             const MaildirFileStamp *b)
{
  if (a->present != b->present)
    return false;
  return !a->present ||
         (a->ino == b->ino && a->size == b->size &&
          time_equal(&a->mtime, &b->mtime) &&
          time_equal(&a->ctime, &b->ctime));
}

bool maildir_index_stamps_equal(const MaildirIndexStamps *a,
                                const MaildirIndexStamps *b)
{
  return file_stamp_equal(&a->cur, &b->cur) &&
         file_stamp_equal(&a->new_dir, &b->new_dir) &&
         file_stamp_equal(&a->record, &b->record);
}

static int64_t ns_of(const struct timespec *t)
{
  return (int64_t)t->tv_sec * 1000000000ll + t->tv_nsec;
}

static bool file_settled(const MaildirFileStamp *s, int64_t before_ns)
{
  return !s->present ||
         (ns_of(&s->mtime) < before_ns - INDEX_SETTLED_NS &&
          ns_of(&s->ctime) < before_ns - INDEX_SETTLED_NS);
}

bool maildir_index_stamps_settled(const MaildirIndexStamps *stamps,
                                  const struct timespec *before)
{
  int64_t b = ns_of(before);
  return file_settled(&stamps->cur, b) && file_settled(&stamps->new_dir, b) &&
         file_settled(&stamps->record, b);
}

static void copy_msgs(const MaildirMsg *from, size_t n, GStringChunk *strings,
                      MaildirMsg *to)
{
  for (size_t i = 0; i < n; i++) {
    to[i] = from[i];
    to[i].file = g_strdup(from[i].file);
    to[i].base = g_string_chunk_insert(strings, from[i].base);
    to[i].uidl = from[i].uidl == from[i].base
                     ? to[i].base
                     : g_string_chunk_insert(strings, from[i].uidl);
  }
}

bool maildir_index_listable(const MaildirMsg *msgs, size_t n)
{
  if (n > INDEX_MAX_MESSAGES)
    return false;
  for (size_t i = 0; i < n; i++) {
    const MaildirMsg *m = &msgs[i];
    if (m->dropped || m->duplicate || m->in_new || m->has_order)
      return false;
  }
  return true;
}

static void evict_one(MaildirIndex *index)
{
  IndexEntry *oldest = g_queue_pop_tail(&index->lru);
  index->n_msgs -= oldest->n_msgs;
  g_hash_table_remove(index->entries, &oldest->key);
}

static void remove_locked(MaildirIndex *index, const MaildirIndexKey *key)
{
  IndexEntry *e = g_hash_table_lookup(index->entries, key);
  if (!e)
    return;
  g_queue_delete_link(&index->lru, e->lru_link);
  index->n_msgs -= e->n_msgs;
  g_hash_table_remove(index->entries, key);
}

void maildir_index_put(MaildirIndex *index, const MaildirIndexKey *key,
                       const MaildirIndexStamps *stamps, uid_t owner,
                       int delete_mode, const MaildirMsg *msgs, size_t n)
{
  /* Built outside the lock: copying 10,000 names should not hold up
   * other logins. */
  IndexEntry *e = g_new0(IndexEntry, 1);
  e->key = *key;
  e->stamps = *stamps;
  e->owner = owner;
  e->delete_mode = delete_mode;
  e->strings = g_string_chunk_new(4096);
  e->msgs = g_new(MaildirMsg, n ? n : 1);
  e->n_msgs = n;
  copy_msgs(msgs, n, e->strings, e->msgs);

  g_mutex_lock(&index->lock);
  remove_locked(index, key);
  while (index->lru.length > 0 &&
         (index->lru.length >= INDEX_MAX_ENTRIES ||
          index->n_msgs + n > INDEX_MAX_MESSAGES))
    evict_one(index);
  g_queue_push_head(&index->lru, e);
  e->lru_link = index->lru.head;
  index->n_msgs += n;
  g_hash_table_insert(index->entries, &e->key, e);
  g_mutex_unlock(&index->lock);
}

bool maildir_index_get(MaildirIndex *index, const MaildirIndexKey *key,
                       const MaildirIndexStamps *stamps, uid_t owner,
                       int delete_mode, GStringChunk *strings,
                       MaildirMsg **msgs, size_t *n)
{
  bool hit = false;
  g_mutex_lock(&index->lock);
  IndexEntry *e = g_hash_table_lookup(index->entries, key);
  if (e && e->owner == owner && e->delete_mode == delete_mode &&
      maildir_index_stamps_equal(&e->stamps, stamps)) {
    *n = e->n_msgs;
    *msgs = g_new(MaildirMsg, e->n_msgs ? e->n_msgs : 1);
    copy_msgs(e->msgs, e->n_msgs, strings, *msgs);
    g_queue_unlink(&index->lru, e->lru_link);
    g_queue_push_head_link(&index->lru, e->lru_link);
    hit = true;
  } else if (e) {
    /* Something moved: this listing will never be right again. */
    remove_locked(index, key);
  }
  g_mutex_unlock(&index->lock);
  return hit;
}
