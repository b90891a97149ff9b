/* SPDX-License-Identifier: MIT */
/*
 * test-store-slow: a mail store for the integration tests whose open call
 * blocks for a configured time, to prove that one slow plugin call does not
 * delay other sessions.  Location scheme "slow:"; every mailbox holds the
 * same single message, served from memory.
 *
 * [test-store-slow]
 *   delay = 3s    how long open blocks
 */
#include <poplar/plugin.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOW_UIDL "slow-1"
static const char slow_message[] = "Subject: slow\r\n\r\nslow body\r\n";

typedef struct SlowStore {
  uint64_t delay_ms;
} SlowStore;

/* What open allocates for a mailbox, freed by close. */
typedef struct SlowMailbox {
  PoplarMessage *message;
} SlowMailbox;

typedef struct SlowStream {
  size_t offset;
} SlowStream;

/* Sleeps the whole delay even when a signal interrupts it. */
static void sleep_ms(uint64_t ms)
{
  struct timespec left = {.tv_sec = (time_t)(ms / 1000),
                          .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&left, &left) != 0 && errno == EINTR)
    ;
}

static PoplarStoreResult slow_open(void *data, PoplarMailbox *mbox,
                                   const char *location)
{
  (void)location;
  SlowStore *store = data;
  sleep_ms(store->delay_ms);
  SlowMailbox *box = calloc(1, sizeof *box);
  if (!box) {
    poplar_mailbox_set_error(mbox, "out of memory");
    return POPLAR_STORE_TEMPFAIL;
  }
  PoplarCrlfSize size;
  poplar_crlf_size_init(&size);
  poplar_crlf_size_feed(&size, slow_message, strlen(slow_message));
  box->message = poplar_mailbox_add_message(
      mbox, SLOW_UIDL, poplar_crlf_size_finish(&size), NULL);
  if (!box->message) {
    free(box);
    poplar_mailbox_set_error(mbox, "cannot list the message");
    return POPLAR_STORE_TEMPFAIL;
  }
  poplar_mailbox_set_data(mbox, box);
  return POPLAR_STORE_OK;
}

static PoplarStoreResult slow_message_open(void *data, PoplarMailbox *mbox,
                                           PoplarMessage *msg, void **stream)
{
  (void)data;
  (void)msg;
  SlowStream *st = calloc(1, sizeof *st);
  if (!st) {
    poplar_mailbox_set_error(mbox, "out of memory");
    return POPLAR_STORE_TEMPFAIL;
  }
  *stream = st;
  return POPLAR_STORE_OK;
}

static int64_t slow_message_read(void *data, void *stream, char *buf,
                                 size_t len)
{
  (void)data;
  SlowStream *st = stream;
  size_t total = strlen(slow_message);
  size_t n = total - st->offset;
  if (n > len)
    n = len;
  memcpy(buf, slow_message + st->offset, n);
  st->offset += n;
  return (int64_t)n;
}

static void slow_message_close(void *data, void *stream)
{
  (void)data;
  free(stream);
}

/* Deleting from a mailbox that lives in memory changes nothing. */
static PoplarStoreResult slow_expunge(void *data, PoplarMailbox *mbox)
{
  (void)data;
  (void)mbox;
  return POPLAR_STORE_OK;
}

static void slow_close(void *data, PoplarMailbox *mbox)
{
  (void)data;
  free(poplar_mailbox_get_data(mbox));
  poplar_mailbox_set_data(mbox, NULL);
}

static bool test_store_slow_init(PoplarPlugin *plugin, PoplarConfig *config)
{
  SlowStore *store = calloc(1, sizeof *store);
  if (!store) {
    poplar_log(plugin, POPLAR_LOG_ERROR, "out of memory");
    return false;
  }
  if (!poplar_config_get_duration(config, "delay", 3000, &store->delay_ms)) {
    free(store);
    return false;
  }
  static const PoplarStoreOps ops = {
      .open = slow_open,
      .message_open = slow_message_open,
      .message_read = slow_message_read,
      .message_close = slow_message_close,
      .expunge = slow_expunge,
      .close = slow_close,
      .destroy = free,
  };
  if (!poplar_register_store(plugin, "slow", &ops, sizeof ops, store)) {
    free(store);
    return false;
  }
  return true;
}

POPLAR_PLUGIN_DEFINE(test_store_slow, "0.1.0",
                     "A store whose open blocks for a while (tests only)",
                     NULL, test_store_slow_init, NULL)
