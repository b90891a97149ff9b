/* SPDX-License-Identifier: MIT */
/*
 * Mailboxes and messages as stores and hooks see them.  Messages live in
 * fixed blocks so that the pointers handed to plugins stay valid while a
 * store keeps adding, and UIDL strings share one string chunk: a 100,000
 * message mailbox costs a few megabytes.
 */
#include "poplar-private.h"

#include <stdarg.h>
#include <string.h>

PoplarMailbox *poplarpriv_mailbox_new(PoplarSession *s,
                                      const PoplarStoreEntry *store,
                                      const char *user, const char *location,
                                      GHashTable *fields)
{
  PoplarMailbox *mbox = g_new0(PoplarMailbox, 1);
  mbox->session = s;
  mbox->store = store;
  mbox->user = g_strdup(user);
  mbox->location = g_strdup(location);
  mbox->fields = fields ? g_hash_table_ref(fields) : NULL;
  mbox->strings = g_string_chunk_new(4096);
  return mbox;
}

PoplarStoreResult poplarpriv_mailbox_open(PoplarMailbox *mbox)
{
  mbox->opening = true;
  mbox->uidls = poplarpriv_uidl_set_new();
  PoplarStoreResult r = poplarpriv_store_open(mbox);
  mbox->opening = false;
  g_clear_pointer(&mbox->uidls, poplarpriv_uidl_set_free);
  mbox->open = (r == POPLAR_STORE_OK);
  return r;
}

void poplarpriv_mailbox_number(PoplarMailbox *mbox)
{
  g_free(mbox->visible);
  mbox->visible = g_new(PoplarMessage *, mbox->n_messages ? mbox->n_messages
                                                          : 1);
  mbox->n_visible = 0;
  for (size_t i = 0; i < mbox->n_messages; i++) {
    PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    if (msg->hidden) {
      msg->number = 0;
      continue;
    }
    mbox->visible[mbox->n_visible++] = msg;
    msg->number = (unsigned)mbox->n_visible;
  }
}

void poplarpriv_mailbox_clear_error(PoplarMailbox *mbox)
{
  g_clear_pointer(&mbox->error, g_free);
}

void poplarpriv_mailbox_free(PoplarMailbox *mbox)
{
  if (!mbox)
    return;
  if (mbox->open)
    poplarpriv_store_close(mbox);
  for (size_t i = 0; i < mbox->n_messages; i++)
    g_free(poplar_mailbox_message(mbox, i)->prefix);
  size_t n_blocks =
      (mbox->n_messages + POPLAR_MAILBOX_BLOCK - 1) / POPLAR_MAILBOX_BLOCK;
  for (size_t b = 0; b < n_blocks; b++)
    g_free(mbox->blocks[b]);
  g_free(mbox->blocks);
  g_free(mbox->visible);
  g_string_chunk_free(mbox->strings);
  if (mbox->fields)
    g_hash_table_unref(mbox->fields);
  g_free(mbox->error);
  g_free(mbox->user);
  g_free(mbox->location);
  g_free(mbox->trash_folder);
  g_free(mbox);
}

PoplarSession *poplar_mailbox_session(const PoplarMailbox *mbox)
{
  return mbox->session;
}

const char *poplar_mailbox_user(const PoplarMailbox *mbox)
{
  return mbox->user;
}

const char *poplar_mailbox_location(const PoplarMailbox *mbox)
{
  return mbox->location;
}

PoplarDeleteMode poplar_mailbox_delete_mode(const PoplarMailbox *mbox,
                                            const char **folder)
{
  if (folder)
    *folder = mbox->delete_mode == POPLAR_DELETE_TRASH ? mbox->trash_folder
                                                       : NULL;
  return mbox->delete_mode;
}

void poplarpriv_mailbox_set_delete_mode(PoplarMailbox *mbox,
                                        PoplarDeleteMode mode,
                                        const char *folder)
{
  mbox->delete_mode = mode;
  g_free(mbox->trash_folder);
  mbox->trash_folder = g_strdup(folder);
}

const char *poplar_mailbox_field(const PoplarMailbox *mbox, const char *key)
{
  return mbox->fields && key ? g_hash_table_lookup(mbox->fields, key) : NULL;
}

void poplar_mailbox_set_data(PoplarMailbox *mbox, void *data)
{
  mbox->data = data;
}

void *poplar_mailbox_get_data(const PoplarMailbox *mbox) { return mbox->data; }

void poplar_mailbox_set_error(PoplarMailbox *mbox, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_free(mbox->error);
  mbox->error = msg;
}

/* RFC 1939 section 7.  Returns the length, 0 for an invalid UIDL. */
static size_t valid_uidl_length(const char *uidl)
{
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)uidl; *p; p++, n++) {
    if (*p < 0x21 || *p > 0x7e || n >= POPLAR_UIDL_MAX)
      return 0;
  }
  return n;
}

PoplarMessage *poplar_mailbox_add_message(PoplarMailbox *mbox,
                                          const char *uidl, uint64_t size,
                                          void *data)
{
  if (!mbox->opening) {
    poplar_session_log(mbox->session, mbox->store->plugin, POPLAR_LOG_ERROR,
                       "message added outside the store's open: ignored");
    return NULL;
  }
  size_t uidl_len = uidl ? valid_uidl_length(uidl) : 0;
  if (uidl_len == 0) {
    poplar_session_log(mbox->session, mbox->store->plugin, POPLAR_LOG_ERROR,
                       "message with an invalid UIDL skipped (RFC 1939 needs "
                       "1-70 characters in 0x21-0x7E)");
    return NULL;
  }
  PoplarUidlSlot slot;
  if (poplarpriv_uidl_set_find(mbox->uidls, uidl, uidl_len, &slot)) {
    poplar_session_log(mbox->session, mbox->store->plugin, POPLAR_LOG_ERROR,
                       "message with a duplicate UIDL %s skipped", uidl);
    return NULL;
  }
  size_t index = mbox->n_messages;
  size_t block = index / POPLAR_MAILBOX_BLOCK;
  if (index % POPLAR_MAILBOX_BLOCK == 0) {
    mbox->blocks = g_renew(PoplarMessage *, mbox->blocks, block + 1);
    mbox->blocks[block] = g_new(PoplarMessage, POPLAR_MAILBOX_BLOCK);
  }
  PoplarMessage *msg = &mbox->blocks[block][index % POPLAR_MAILBOX_BLOCK];
  memset(msg, 0, sizeof *msg);
  msg->uidl = g_string_chunk_insert_len(mbox->strings, uidl,
                                        (gssize)uidl_len);
  msg->size = size;
  msg->data = data;
  poplarpriv_uidl_set_add(mbox->uidls, &slot, msg->uidl);
  mbox->n_messages++;
  return msg;
}

size_t poplar_mailbox_message_count(const PoplarMailbox *mbox)
{
  return mbox->n_messages;
}

PoplarMessage *poplar_mailbox_message(const PoplarMailbox *mbox, size_t index)
{
  if (index >= mbox->n_messages)
    return NULL;
  return &mbox->blocks[index / POPLAR_MAILBOX_BLOCK]
                      [index % POPLAR_MAILBOX_BLOCK];
}

const char *poplar_message_uidl(const PoplarMessage *msg) { return msg->uidl; }
uint64_t poplar_message_size(const PoplarMessage *msg) { return msg->size; }
unsigned poplar_message_number(const PoplarMessage *msg)
{
  return msg->number;
}
void *poplar_message_get_data(const PoplarMessage *msg) { return msg->data; }
bool poplar_message_is_deleted(const PoplarMessage *msg)
{
  return msg->deleted;
}
void poplar_message_set_hidden(PoplarMessage *msg, bool hidden)
{
  msg->hidden = hidden;
}
bool poplar_message_is_hidden(const PoplarMessage *msg) { return msg->hidden; }
void poplar_message_set_deleted(PoplarMessage *msg, bool deleted)
{
  msg->deleted = deleted;
}
void poplar_message_set_expunged(PoplarMessage *msg, bool expunged)
{
  msg->expunged = expunged;
}
bool poplar_message_is_expunged(const PoplarMessage *msg)
{
  return msg->expunged;
}

/* RFC 5322 3.6.8: a field name is printable ASCII except ':'. */
static bool valid_header_name(const char *name)
{
  if (!name || !name[0] || strlen(name) > 76)
    return false;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
    if (*p < 0x21 || *p > 0x7e || *p == ':')
      return false;
  }
  return true;
}

bool poplar_message_add_header(PoplarMessage *msg, const char *name,
                               const char *value)
{
  /* RFC 5322 2.1.1: a line is at most 998 octets without its CRLF. */
  if (!valid_header_name(name) || !value || strpbrk(value, "\r\n") ||
      strlen(name) + 2 + strlen(value) > 998) {
    poplarpriv_log(NULL, POPLAR_LOG_ERROR,
                   "header '%s' refused: invalid name, CR/LF in the value, "
                   "or longer than 998 octets", name ? name : "(null)");
    return false;
  }
  g_autofree char *line = g_strdup_printf("%s: %s\r\n", name, value);
  size_t len = strlen(line);
  char *prefix = g_malloc(msg->prefix_len + len + 1);
  memcpy(prefix, line, len);
  if (msg->prefix)
    memcpy(prefix + len, msg->prefix, msg->prefix_len);
  prefix[len + msg->prefix_len] = '\0';
  g_free(msg->prefix);
  msg->prefix = prefix;
  msg->prefix_len += (uint32_t)len;
  msg->size += len;
  return true;
}

PoplarMessageReader *poplar_message_reader_open(PoplarMailbox *mbox,
                                                PoplarMessage *msg)
{
  void *stream = NULL;
  if (poplarpriv_store_message_open(mbox, msg, &stream) != POPLAR_STORE_OK)
    return NULL;
  PoplarMessageReader *reader = g_new(PoplarMessageReader, 1);
  reader->mbox = mbox;
  reader->msg = msg;
  reader->stream = stream;
  return reader;
}

int64_t poplar_message_reader_read(PoplarMessageReader *reader, char *buf,
                                   size_t len)
{
  return poplarpriv_store_message_read(reader->mbox, reader->msg,
                                       reader->stream, buf, len);
}

void poplar_message_reader_close(PoplarMessageReader *reader)
{
  if (!reader)
    return;
  poplarpriv_store_message_close(reader->mbox, reader->stream);
  g_free(reader);
}
