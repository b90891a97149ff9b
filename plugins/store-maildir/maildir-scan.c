/* SPDX-License-Identifier: MIT */
/*
 * The directories of a Maildir: creating them, moving new mail from new/
 * to cur/, listing messages, and finding a message again after another
 * program renamed it.
 *
 * A session keeps one descriptor while it lasts, its Maildir's, so that a
 * Maildir renamed or replaced under a session stays the one the session
 * locked and lists; cur/ and new/ are opened from it for each operation
 * and closed again, so an idle session costs its socket and one
 * descriptor.  Nothing here reads a message file: listing a Maildir costs
 * one readdir of new/ and one of cur/.
 */
#include "maildir.h"

#include "store-path.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAILDIR_DIR_MODE 0700

static int open_dir_at(int at_fd, const char *name, int extra_flags)
{
  int fd;
  do
    fd = openat(at_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | extra_flags);
  while (fd < 0 && errno == EINTR);
  return fd;
}

/* The subdirectories are opened again for every operation: a symbolic link
 * put in place of one would lead the session's reads and removals out of
 * the Maildir it locked, so links are refused as message files are. */
int maildir_subdir_open(int root_fd, const char *name)
{
  return open_dir_at(root_fd, name, O_NOFOLLOW);
}

/* Checks that @name is a directory of the Maildir (creating it when
 * @create).  A status call is enough: the session opens cur/ and new/ again
 * whenever it reads them, and tmp/ belongs to delivery agents. */
static bool ensure_subdir(int root_fd, const char *path, const char *name,
                          bool create, struct stat *out, bool *have,
                          GError **error)
{
  struct stat st;
  int err = fstatat(root_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : errno;
  if (err == ENOENT && create) {
    if (mkdirat(root_fd, name, MAILDIR_DIR_MODE) == 0) {
      *have = false;
      return true;
    }
    err = errno != EEXIST ? errno
          : fstatat(root_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? 0
                                                                  : errno;
    if (err != 0 && err != ENOENT) {
      maildir_set_errno_error(error, err, "cannot create %s/%s", path, name);
      return false;
    }
  }
  if (err == ENOENT) {
    g_set_error(error, MAILDIR_ERROR, POPLAR_STORE_PERMFAIL,
                "%s is not a Maildir: it has no %s/ directory (and create = "
                "no)", path, name);
    return false;
  }
  /* A link in place of a subdirectory is refused as opening it with
   * O_NOFOLLOW would be. */
  if (err == 0 && !S_ISDIR(st.st_mode))
    err = S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR;
  if (err != 0) {
    maildir_set_errno_error(error, err, "cannot open %s/%s", path, name);
    return false;
  }
  if (out)
    *out = st;
  return true;
}

/* Creates the Maildir @path itself in its parent, opened as
 * store-path.h says, so that no planted link leads the mkdir elsewhere. */
static bool create_root(const char *path, GError **error)
{
  g_autofree char *parent = g_path_get_dirname(path);
  g_autofree char *name = g_path_get_basename(path);
  int parent_fd = store_path_open_dir(parent, O_PATH, NULL);
  int err = errno;
  if (parent_fd >= 0) {
    err = mkdirat(parent_fd, name, MAILDIR_DIR_MODE) == 0 ? EEXIST : errno;
    close(parent_fd);
  }
  if (err == EEXIST)
    return true;
  if (err == ENOENT)
    g_set_error(error, MAILDIR_ERROR, POPLAR_STORE_PERMFAIL,
                "cannot create Maildir %s: its parent directory does not "
                "exist", path);
  else
    maildir_set_errno_error(error, err, "cannot create Maildir %s%s", path,
                            err == ELOOP ? " (a symbolic link on the way, "
                                           "where none is followed)"
                                         : "");
  return false;
}

int maildir_root_open_dir(const char *path, bool create, GError **error)
{
  int root_fd = store_path_open_dir(path, O_RDONLY, NULL);
  if (root_fd < 0 && errno == ENOENT) {
    if (!create) {
      g_set_error(error, MAILDIR_ERROR, POPLAR_STORE_PERMFAIL,
                  "Maildir %s does not exist (and create = no)", path);
      return -1;
    }
    /* Only the Maildir itself is created, never its parents: a missing
     * home directory is a problem for the administrator, and creating it
     * could hide an unmounted file system. */
    if (!create_root(path, error))
      return -1;
    root_fd = store_path_open_dir(path, O_RDONLY, NULL);
  }
  if (root_fd < 0) {
    /* ELOOP: ~/Maildir (or a directory on the way) is a link a user could
     * have pointed at somebody else's mail. */
    maildir_set_errno_error(error, errno, "cannot open Maildir %s%s", path,
                            errno == ELOOP ? " (a symbolic link where none "
                                             "is followed)"
                                           : "");
    return -1;
  }
  return root_fd;
}

bool maildir_root_check(int root_fd, const char *path, bool create,
                        struct stat *cur, struct stat *new_dir, bool *have,
                        GError **error)
{
  *have = true;
  /* tmp/ belongs to delivery agents; it only has to exist. */
  return ensure_subdir(root_fd, path, "cur", create, cur, have, error) &&
         ensure_subdir(root_fd, path, "new", create, new_dir, have, error) &&
         ensure_subdir(root_fd, path, "tmp", create, NULL, have, error);
}

int maildir_root_open(const char *path, bool create, GError **error)
{
  int root_fd = maildir_root_open_dir(path, create, error);
  if (root_fd < 0)
    return -1;
  struct stat cur, new_dir;
  bool have;
  if (!maildir_root_check(root_fd, path, create, &cur, &new_dir, &have,
                          error)) {
    close(root_fd);
    return -1;
  }
  return root_fd;
}

bool maildir_dirs_open(int root_fd, const char *path, MaildirDirs *dirs,
                       GError **error)
{
  /* They existed at login; one gone since is a fault of the moment (a
   * restore in progress), not a reason to refuse the mailbox for good. */
  static const char *const names[] = {"cur", "new"};
  MaildirDirs d = MAILDIR_DIRS_INIT;
  int *fds[] = {&d.cur_fd, &d.new_fd};
  for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
    *fds[i] = maildir_subdir_open(root_fd, names[i]);
    if (*fds[i] < 0) {
      maildir_set_errno_error(error, errno, "cannot open %s/%s", path,
                              names[i]);
      maildir_dirs_close(&d);
      return false;
    }
  }
  *dirs = d;
  return true;
}

void maildir_dirs_close(MaildirDirs *dirs)
{
  int *fds[] = {&dirs->new_fd, &dirs->cur_fd};
  for (size_t i = 0; i < G_N_ELEMENTS(fds); i++) {
    if (*fds[i] >= 0)
      close(*fds[i]);
    *fds[i] = -1;
  }
}

/* getdents64's record; glibc declares the call but not the record. */
struct maildir_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

/* Big enough for a few hundred names a call; a listing of a large Maildir
 * costs one call per buffer, a small one two calls in all. */
#define DIRENT_BUFFER (32 * 1024)

/* The names of the message files of @dir_fd.  Names starting with '.' are
 * not messages (Maildir readers skip them), nor are directories or
 * symbolic links.  The whole directory is read before anything is renamed
 * or removed in it.  The entries are read with getdents64 on a descriptor
 * of our own: opendir() would add a status call and two fcntl calls to
 * every listing, and a session lists a Maildir two or three times. */
static bool read_names(int dir_fd, const char *dir_name, GPtrArray *names,
                       GError **error)
{
  /* A fresh open file description: rescans never share a read position. */
  int fd = open_dir_at(dir_fd, ".", 0);
  if (fd < 0) {
    maildir_set_errno_error(error, errno, "cannot read %s/", dir_name);
    return false;
  }
  g_autofree char *buf = g_malloc(DIRENT_BUFFER);
  int err = 0;
  for (;;) {
    ssize_t n = getdents64(fd, buf, DIRENT_BUFFER);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      err = n < 0 ? errno : 0;
      break;
    }
    for (ssize_t off = 0; off < n;) {
      const struct maildir_dirent64 *de =
          (const struct maildir_dirent64 *)(buf + off);
      off += de->d_reclen;
      if (de->d_name[0] == '.' || de->d_type == DT_DIR ||
          de->d_type == DT_LNK)
        continue;
      g_ptr_array_add(names, g_strdup(de->d_name));
    }
  }
  close(fd);
  if (err != 0) {
    maildir_set_errno_error(error, err, "cannot read %s/", dir_name);
    return false;
  }
  return true;
}

char *maildir_cur_name(const char *new_name)
{
  if (strchr(new_name, ':'))
    return g_strdup(new_name);
  return g_strconcat(new_name, ":2,", NULL);
}

/* rename() that never replaces an existing file: two files of the same name
 * in new/ and cur/ are two messages, and replacing one would lose it. */
static int rename_noreplace(int from_fd, const char *from, int to_fd,
                            const char *to)
{
#ifdef RENAME_NOREPLACE
  if (renameat2(from_fd, from, to_fd, to, RENAME_NOREPLACE) == 0)
    return 0;
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
    return -1;
  /* The file system cannot do it atomically (older NFS): check first.  The
   * window only matters if two deliveries chose the same unique name, which
   * Maildir naming rules out. */
#endif
  struct stat st;
  if (fstatat(to_fd, to, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    errno = EEXIST;
    return -1;
  }
  if (errno != ENOENT)
    return -1;
  return renameat(from_fd, from, to_fd, to);
}

bool maildir_move_new(MaildirDirs *dirs, unsigned *moved, GPtrArray *warnings,
                      GError **error)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
  *moved = 0;
  if (!read_names(dirs->new_fd, "new", names, error))
    return false;
  for (guint i = 0; i < names->len; i++) {
    const char *name = g_ptr_array_index(names, i);
    g_autofree char *target = maildir_cur_name(name);
    if (rename_noreplace(dirs->new_fd, name, dirs->cur_fd, target) == 0) {
      (*moved)++;
      continue;
    }
    int err = errno;
    if (err == ENOENT)
      continue; /* another program moved or removed it meanwhile */
    g_ptr_array_add(warnings,
                    g_strdup_printf("cannot move new/%s to cur/%s (left in "
                                    "new/): %s", name, target,
                                    g_strerror(err)));
  }
  return true;
}

static void fill_msg(MaildirMsg *m, const char *name, bool in_new,
                     GStringChunk *strings)
{
  g_autofree char *base = maildir_name_base(name);
  g_autofree char *uidl = maildir_uidl_for_base(base);
  memset(m, 0, sizeof *m);
  m->file = g_strdup(name);
  m->base = g_string_chunk_insert(strings, base);
  m->uidl = strcmp(uidl, base) == 0 ? m->base
                                    : g_string_chunk_insert(strings, uidl);
  maildir_name_time(m->base, &m->seconds, &m->usec);
  m->has_wsize = maildir_name_wsize(name, &m->size);
  m->in_new = in_new;
}

bool maildir_list_dir(int dir_fd, bool in_new, GArray *msgs,
                      GStringChunk *strings, GError **error)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
  if (!read_names(dir_fd, in_new ? "new" : "cur", names, error))
    return false;
  for (guint i = 0; i < names->len; i++) {
    MaildirMsg m;
    fill_msg(&m, g_ptr_array_index(names, i), in_new, strings);
    g_array_append_val(msgs, m);
  }
  return true;
}

bool maildir_refind(MaildirDirs *dirs, GHashTable *by_base, GError **error)
{
  /* msg -> the first other name found for it; msgs whose current name
   * still exists keep it. */
  g_autoptr(GHashTable) found =
      g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
  g_autoptr(GHashTable) unchanged = g_hash_table_new(NULL, NULL);
  g_autoptr(GHashTable) found_in_new = g_hash_table_new(NULL, NULL);
  for (int pass = 0; pass < 2; pass++) {
    bool in_new = pass == 1;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    if (!read_names(in_new ? dirs->new_fd : dirs->cur_fd,
                    in_new ? "new" : "cur", names, error))
      return false;
    for (guint i = 0; i < names->len; i++) {
      const char *name = g_ptr_array_index(names, i);
      g_autofree char *base = maildir_name_base(name);
      MaildirMsg *m = g_hash_table_lookup(by_base, base);
      if (!m)
        continue;
      if (m->in_new == in_new && strcmp(m->file, name) == 0)
        g_hash_table_add(unchanged, m);
      else if (!g_hash_table_contains(found, m)) {
        g_hash_table_insert(found, m, g_strdup(name));
        if (in_new)
          g_hash_table_add(found_in_new, m);
      }
    }
  }
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init(&it, found);
  while (g_hash_table_iter_next(&it, &key, &value)) {
    MaildirMsg *m = key;
    if (g_hash_table_contains(unchanged, m))
      continue;
    g_free(m->file);
    m->file = g_strdup(value);
    m->in_new = g_hash_table_contains(found_in_new, m);
  }
  return true;
}
