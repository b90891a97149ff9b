/* SPDX-License-Identifier: MIT */
/*
 * The messages of the Poplar Maildir, as store-maildir will list them:
 * the same unique part, the same default UIDL, the same size as sent and
 * the same order (its own functions, compiled in from
 * plugins/store-maildir/), plus the header key of each.  Nothing is
 * moved or renamed: new/ is read where it is.
 */
#include "uidl-import.h"

#include "maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void new_message_clear(NewMessage *msg)
{
  g_clear_pointer(&msg->file, g_free);
  g_clear_pointer(&msg->base, g_free);
  g_clear_pointer(&msg->poplar_uidl, g_free);
}

/* Reads one message file: its header key and both sizes.  *@vanished
 * tells a file removed or renamed meanwhile from a real failure. */
static bool read_message(int dir_fd, const char *sub, NewMessage *m,
                         uid_t owner, bool *vanished, GError **error)
{
  int fd;
  /* O_NONBLOCK: a FIFO planted in cur/ must not hang the run. */
  do
    fd = openat(dir_fd, m->file,
                O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
  while (fd < 0 && errno == EINTR);
  struct stat st;
  *vanished = fd < 0 && errno == ENOENT;
  if (fd < 0 || fstat(fd, &st) != 0) {
    g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_FAILED,
                "cannot read %s/%s: %s", sub, m->file, g_strerror(errno));
    if (fd >= 0)
      close(fd);
    return false;
  }
  if (!maildir_message_file_ok(&st, owner)) {
    g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_FAILED,
                "%s/%s is not a regular file of the Maildir's owner", sub,
                m->file);
    close(fd);
    return false;
  }
  HeaderKey *key = header_key_new();
  PoplarCrlfSize size;
  poplar_crlf_size_init(&size);
  char buf[65536];
  bool ok = true;
  m->raw_size = 0;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_FAILED,
                  "cannot read %s/%s: %s", sub, m->file, g_strerror(errno));
      ok = false;
      break;
    }
    if (n == 0)
      break;
    header_key_feed(key, buf, (size_t)n);
    poplar_crlf_size_feed(&size, buf, (size_t)n);
    m->raw_size += (uint64_t)n;
  }
  close(fd);
  header_key_finish(key, m->key);
  header_key_store_size(key, &m->store_headers_raw_size,
                        &m->store_headers_size);
  header_key_free(key);
  m->size = poplar_crlf_size_finish(&size);
  return ok;
}

GArray *maildir_reader_read(const char *path, GError **error)
{
  int root_fd = maildir_root_open(path, false, error);
  if (root_fd < 0)
    return NULL;
  struct stat root_st;
  MaildirDirs dirs = MAILDIR_DIRS_INIT;
  GArray *listed = g_array_new(FALSE, TRUE, sizeof(MaildirMsg));
  g_autoptr(GStringChunk) strings = g_string_chunk_new(4096);
  g_autoptr(GHashTable) base_count = g_hash_table_new(g_str_hash,
                                                      g_str_equal);
  GArray *out = NULL;
  if (fstat(root_fd, &root_st) != 0) {
    g_set_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_FAILED,
                "cannot stat %s: %s", path, g_strerror(errno));
    goto done;
  }
  if (!maildir_dirs_open(root_fd, path, &dirs, error) ||
      !maildir_list_dir(dirs.cur_fd, false, listed, strings, error) ||
      !maildir_list_dir(dirs.new_fd, true, listed, strings, error))
    goto done;
  qsort(listed->data, listed->len, sizeof(MaildirMsg), maildir_msg_compare);

  for (guint i = 0; i < listed->len; i++) {
    const char *base = g_array_index(listed, MaildirMsg, i).base;
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(base_count, base));
    g_hash_table_insert(base_count, (gpointer)base, GUINT_TO_POINTER(n + 1));
  }

  out = g_array_new(FALSE, TRUE, sizeof(NewMessage));
  g_array_set_clear_func(out, (GDestroyNotify)new_message_clear);
  for (guint i = 0; i < listed->len; i++) {
    const MaildirMsg *lm = &g_array_index(listed, MaildirMsg, i);
    NewMessage m = {
      .file = g_strdup(lm->file),
      .base = g_strdup(lm->base),
      .poplar_uidl = g_strdup(lm->uidl),
      .shared_base = GPOINTER_TO_UINT(g_hash_table_lookup(base_count,
                                                          lm->base)) > 1,
    };
    g_autoptr(GError) read_error = NULL;
    bool vanished;
    if (!read_message(lm->in_new ? dirs.new_fd : dirs.cur_fd,
                      lm->in_new ? "new" : "cur", &m, root_st.st_uid,
                      &vanished, &read_error)) {
      new_message_clear(&m);
      /* A running server or client can move or expunge a message at any
       * time: one gone meanwhile is simply not there. */
      if (vanished)
        continue;
      g_propagate_error(error, g_steal_pointer(&read_error));
      g_clear_pointer(&out, g_array_unref);
      goto done;
    }
    g_array_append_val(out, m);
  }
done:
  for (guint i = 0; i < listed->len; i++)
    g_free(g_array_index(listed, MaildirMsg, i).file);
  g_array_unref(listed);
  maildir_dirs_close(&dirs);
  close(root_fd);
  return out;
}
