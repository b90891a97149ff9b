/* SPDX-License-Identifier: MIT */
/*
 * A small store for the kit's own tests: scheme "kitdir:", a directory of
 * files, one message per file in name order, read-only (expunge refuses
 * and keeps everything, so it needs no lock).  Built once as it is
 * (kit-store-good, which must pass the kit) and once per defect, each
 * switched on by one macro, each a mistake real stores have made:
 *
 *   BROKEN_LF_SIZE       lists the file's size, not its size as sent
 *                        (every bare LF is sent as CRLF)
 *   BROKEN_UIDL_REOPEN   a UIDL that changes at every open
 *   BROKEN_UIDL_SPACE    a UIDL with a space in it
 *   BROKEN_READ_PAST_END reads on into the next file, as an mbox store
 *                        that misses a message boundary
 *   BROKEN_DATA_RACE     keeps the message being read in one static
 *                        buffer shared by every session
 *   BROKEN_GONE_TEMPFAIL a message file removed after the listing
 *                        answers TEMPFAIL (the errno of the failed
 *                        open) instead of GONE
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <poplar/plugin.h>

typedef struct KitFile {
  char *path;
  char *next_path; /* the file after it, or NULL */
} KitFile;

typedef struct KitStream {
  char *text; /* the whole message (NULL under BROKEN_DATA_RACE) */
  size_t len;
  size_t pos;
} KitStream;

#ifdef BROKEN_DATA_RACE
static char shared_text[1 << 16];
static size_t shared_len;
#endif

static char *read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      char *bigger = realloc(buf, cap *= 2);
      if (!bigger) {
        free(buf);
        buf = NULL;
      }
      buf = bigger;
    }
  }
  fclose(f);
  *len = n;
  return buf;
}

static int compare_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_files(PoplarMailbox *mbox)
{
  for (size_t i = 0; i < poplar_mailbox_message_count(mbox); i++) {
    KitFile *f = poplar_message_get_data(poplar_mailbox_message(mbox, i));
    free(f->path);
    free(f->next_path);
    free(f);
  }
}

static PoplarStoreResult kit_open(void *data, PoplarMailbox *mbox,
                                  const char *location)
{
  (void)data;
  DIR *dir = opendir(location);
  if (!dir) {
    poplar_mailbox_set_error(mbox, "cannot open %s", location);
    return POPLAR_STORE_TEMPFAIL;
  }
  char *names[256];
  size_t n = 0;
  struct dirent *d;
  while ((d = readdir(dir)) && n < 256)
    if (d->d_name[0] != '.')
      names[n++] = strdup(d->d_name);
  closedir(dir);
  qsort(names, n, sizeof *names, compare_names);
#ifdef BROKEN_UIDL_REOPEN
  static unsigned opens;
  opens++;
#endif
  for (size_t i = 0; i < n; i++) {
    KitFile *f = calloc(1, sizeof *f);
    size_t plen = strlen(location) + strlen(names[i]) + 2;
    f->path = malloc(plen);
    snprintf(f->path, plen, "%s/%s", location, names[i]);
    if (i + 1 < n) {
      plen = strlen(location) + strlen(names[i + 1]) + 2;
      f->next_path = malloc(plen);
      snprintf(f->next_path, plen, "%s/%s", location, names[i + 1]);
    }
    size_t len = 0;
    char *text = read_file(f->path, &len);
    PoplarCrlfSize size;
    poplar_crlf_size_init(&size);
    poplar_crlf_size_feed(&size, text, len);
    free(text);
    uint64_t listed = poplar_crlf_size_finish(&size);
#ifdef BROKEN_LF_SIZE
    listed = len;
#endif
    char uidl[128];
#if defined(BROKEN_UIDL_REOPEN)
    snprintf(uidl, sizeof uidl, "%.60s-%u", names[i], opens);
#elif defined(BROKEN_UIDL_SPACE)
    snprintf(uidl, sizeof uidl, "msg %.60s", names[i]);
#else
    snprintf(uidl, sizeof uidl, "%.60s", names[i]);
#endif
    if (!poplar_mailbox_add_message(mbox, uidl, listed, f)) {
      free(f->path);
      free(f->next_path);
      free(f);
    }
  }
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  return POPLAR_STORE_OK;
}

static PoplarStoreResult kit_message_open(void *data, PoplarMailbox *mbox,
                                          PoplarMessage *msg, void **stream)
{
  (void)data;
  KitFile *f = poplar_message_get_data(msg);
  KitStream *s = calloc(1, sizeof *s);
  s->text = read_file(f->path, &s->len);
  if (!s->text) {
    free(s);
    poplar_mailbox_set_error(mbox, "cannot read %s", f->path);
#ifdef BROKEN_GONE_TEMPFAIL
    return POPLAR_STORE_TEMPFAIL;
#else
    return POPLAR_STORE_GONE;
#endif
  }
#ifdef BROKEN_READ_PAST_END
  size_t more = 0;
  char *next = f->next_path ? read_file(f->next_path, &more) : NULL;
  if (next) {
    s->text = realloc(s->text, s->len + more);
    memcpy(s->text + s->len, next, more);
    s->len += more;
    free(next);
  }
#endif
#ifdef BROKEN_DATA_RACE
  /* "Saves an allocation": every session reads through one buffer. */
  shared_len = s->len < sizeof shared_text ? s->len : sizeof shared_text;
  memcpy(shared_text, s->text, shared_len);
  free(s->text);
  s->text = NULL;
#endif
  *stream = s;
  return POPLAR_STORE_OK;
}

static int64_t kit_read(void *data, void *stream, char *buf, size_t len)
{
  (void)data;
  KitStream *s = stream;
#ifdef BROKEN_DATA_RACE
  const char *text = shared_text;
#else
  const char *text = s->text;
#endif
  size_t n = s->len - s->pos < len ? s->len - s->pos : len;
  memcpy(buf, text + s->pos, n);
  s->pos += n;
  return (int64_t)n;
}

static void kit_message_close(void *data, void *stream)
{
  (void)data;
  KitStream *s = stream;
  free(s->text);
  free(s);
}

static PoplarStoreResult kit_expunge(void *data, PoplarMailbox *mbox)
{
  (void)data;
  poplar_mailbox_set_error(mbox, "read-only");
  return POPLAR_STORE_PERMFAIL;
}

static void kit_close(void *data, PoplarMailbox *mbox)
{
  (void)data;
  free_files(mbox);
}

static bool kit_init(PoplarPlugin *plugin, PoplarConfig *config)
{
  (void)config;
  PoplarStoreOps ops = {
      .open = kit_open,
      .message_open = kit_message_open,
      .message_read = kit_read,
      .message_close = kit_message_close,
      .expunge = kit_expunge,
      .close = kit_close,
  };
  return poplar_register_store(plugin, "kitdir", &ops, sizeof ops, NULL);
}

/* One more macro level, so that @ident is expanded before
 * POPLAR_PLUGIN_DEFINE pastes and quotes it. */
#define KIT_DEFINE(ident)                                                  \
  POPLAR_PLUGIN_DEFINE(ident, "1.0", "test store for the kit", NULL, kit_init, NULL)
KIT_DEFINE(KIT_STORE_IDENT)
