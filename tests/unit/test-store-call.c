/* SPDX-License-Identifier: MIT */
/*
 * libpoplar's wrappers around store and password-database operations
 * (store-call.c, passdb-call.c): every failure is logged once with the
 * session id and the plugin's name, the store's error text is cleared
 * after each call, answers a plugin has no business giving are caught, and
 * what an expunge removed is settled, for ABI 1.0 stores (which report
 * nothing) and 1.1 stores alike.
 */
#include "poplar-private.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- captured log lines ---------------------------------------------- */

static GPtrArray *log_lines;

static void capture_log(PoplarLogLevel level, const char *session_id,
                        const char *plugin, const char *message)
{
  g_ptr_array_add(log_lines,
                  g_strdup_printf("%d|%s|%s|%s", (int)level,
                                  session_id ? session_id : "",
                                  plugin ? plugin : "", message));
}

/* Asserts that exactly one line was logged since the last check, at
 * @level, for session sess-1 and plugin @plugin, containing @what. */
static void assert_one_line(PoplarLogLevel level, const char *plugin,
                            const char *what)
{
  for (guint i = 0; i < log_lines->len; i++)
    g_test_message("log: %s", (const char *)log_lines->pdata[i]);
  g_assert_cmpuint(log_lines->len, ==, 1);
  g_autofree char *prefix =
      g_strdup_printf("%d|sess-1|%s|", (int)level, plugin);
  const char *line = log_lines->pdata[0];
  g_assert_true(g_str_has_prefix(line, prefix));
  g_assert_nonnull(strstr(line, what));
  g_ptr_array_set_size(log_lines, 0);
}

static void assert_nothing_logged(void)
{
  for (guint i = 0; i < log_lines->len; i++)
    g_test_message("log: %s", (const char *)log_lines->pdata[i]);
  g_assert_cmpuint(log_lines->len, ==, 0);
}

/* ---- a store whose answers each test chooses --------------------------- */

typedef enum ReadMode {
  READ_OK,
  READ_OK_WITH_STALE_ERROR, /* succeeds, but leaves an error text set */
  READ_FAIL,                /* -1, explained on the saved mailbox */
  READ_TOO_LONG,            /* claims more than it was asked for */
} ReadMode;

typedef struct TestStore {
  PoplarStoreResult open_result;
  PoplarStoreResult message_open_result;
  ReadMode read_mode;
  PoplarStoreResult expunge_result;
  /* Messages (by index) the expunge reports removed; NULL: reports none,
   * as a store built against ABI 1.0 does. */
  const bool *expunge_reports;
  /* message_open_fd: the descriptor offered (-1: declines) and the length
   * claimed. */
  int offer_fd;
  uint64_t offer_length;
  unsigned message_opens, message_open_fds, message_closes, expunges;
} TestStore;

typedef struct TestStream {
  PoplarMailbox *mbox; /* kept to explain read errors on */
  const char *text;
  size_t pos;
} TestStream;

static const char *const texts[] = {"one\r\n", "second message\r\n",
                                    "third\r\n"};

static PoplarStoreResult ts_open(void *data, PoplarMailbox *mbox,
                                 const char *location)
{
  TestStore *st = data;
  (void)location;
  if (st->open_result != POPLAR_STORE_OK) {
    poplar_mailbox_set_error(mbox, "cannot open %s: test says so", location);
    return st->open_result;
  }
  for (size_t i = 0; i < G_N_ELEMENTS(texts); i++) {
    char uidl[8];
    snprintf(uidl, sizeof uidl, "u%zu", i);
    g_assert_nonnull(poplar_mailbox_add_message(mbox, uidl, strlen(texts[i]),
                                                (void *)texts[i]));
  }
  return POPLAR_STORE_OK;
}

static PoplarStoreResult ts_message_open(void *data, PoplarMailbox *mbox,
                                         PoplarMessage *msg, void **stream)
{
  TestStore *st = data;
  st->message_opens++;
  if (st->message_open_result != POPLAR_STORE_OK) {
    poplar_mailbox_set_error(mbox, "message %s: test says so",
                             poplar_message_uidl(msg));
    return st->message_open_result;
  }
  TestStream *s = g_new0(TestStream, 1);
  s->mbox = mbox;
  s->text = poplar_message_get_data(msg);
  *stream = s;
  return POPLAR_STORE_OK;
}

static PoplarStoreResult ts_message_open_fd(void *data, PoplarMailbox *mbox,
                                            PoplarMessage *msg, void **stream,
                                            int *fd, uint64_t *offset,
                                            uint64_t *length)
{
  TestStore *st = data;
  st->message_open_fds++;
  g_assert_cmpint(*fd, ==, -1); /* the core's default: declined */
  PoplarStoreResult r = ts_message_open(data, mbox, msg, stream);
  st->message_opens--;
  if (r == POPLAR_STORE_OK && st->offer_fd >= 0) {
    *fd = st->offer_fd;
    *offset = 7;
    *length = st->offer_length;
  }
  return r;
}

static int64_t ts_message_read(void *data, void *stream, char *buf,
                               size_t len)
{
  TestStore *st = data;
  TestStream *s = stream;
  switch (st->read_mode) {
  case READ_FAIL:
    poplar_mailbox_set_error(s->mbox, "disk on fire");
    return -1;
  case READ_TOO_LONG:
    return (int64_t)len + 1;
  case READ_OK_WITH_STALE_ERROR:
    poplar_mailbox_set_error(s->mbox, "stale text");
    break;
  case READ_OK:
    break;
  }
  size_t n = MIN(len, strlen(s->text) - s->pos);
  memcpy(buf, s->text + s->pos, n);
  s->pos += n;
  return (int64_t)n;
}

static void ts_message_close(void *data, void *stream)
{
  TestStore *st = data;
  st->message_closes++;
  g_free(stream);
}

static PoplarStoreResult ts_expunge(void *data, PoplarMailbox *mbox)
{
  TestStore *st = data;
  st->expunges++;
  if (st->expunge_reports) {
    for (size_t i = 0; i < poplar_mailbox_message_count(mbox); i++) {
      if (st->expunge_reports[i])
        poplar_message_set_expunged(poplar_mailbox_message(mbox, i), true);
    }
  }
  if (st->expunge_result != POPLAR_STORE_OK)
    poplar_mailbox_set_error(mbox, "cannot remove: test says so");
  return st->expunge_result;
}

static void ts_close(void *data, PoplarMailbox *mbox)
{
  (void)data;
  (void)mbox;
}

static const PoplarStoreOps ts_ops = {
    .open = ts_open,
    .message_open = ts_message_open,
    .message_read = ts_message_read,
    .message_close = ts_message_close,
    .expunge = ts_expunge,
    .close = ts_close,
    .message_open_fd = ts_message_open_fd,
};

typedef struct Fixture {
  PoplarRegistry *registry;
  PoplarPlugin *plugin;
  TestStore store;
  const PoplarStoreEntry *entry;
  PoplarSession session;
  PoplarMailbox *mbox;
} Fixture;

/* Registers the test store with @ops_size bytes of its table, as a plugin
 * built against that version of the header would. */
static void register_store(Fixture *f, size_t ops_size)
{
  f->plugin->registering = true;
  g_assert_true(poplar_register_store(f->plugin, "t", &ts_ops, ops_size,
                                      &f->store));
  f->plugin->registering = false;
  f->entry = poplarpriv_registry_store(f->registry, "t");
  g_assert_nonnull(f->entry);
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
  size_t ops_size = data ? GPOINTER_TO_SIZE(data) : sizeof ts_ops;
  g_ptr_array_set_size(log_lines, 0);
  memset(f, 0, sizeof *f);
  f->store.offer_fd = -1;
  f->registry = poplarpriv_registry_new();
  f->plugin = poplarpriv_plugin_new(f->registry, "test-store",
                                    "/plugins/test-store.so");
  register_store(f, ops_size);
  g_strlcpy(f->session.id, "sess-1", sizeof f->session.id);
  f->mbox = poplarpriv_mailbox_new(&f->session, f->entry, "bob", "/m", NULL);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
  (void)data;
  poplarpriv_mailbox_free(f->mbox);
  poplarpriv_session_clear(&f->session);
  poplarpriv_registry_free(f->registry);
}

static void open_ok(Fixture *f)
{
  g_assert_cmpint(poplarpriv_mailbox_open(f->mbox), ==, POPLAR_STORE_OK);
  poplarpriv_mailbox_number(f->mbox);
  assert_nothing_logged();
}

static PoplarMessage *message(Fixture *f, size_t i)
{
  return poplar_mailbox_message(f->mbox, i);
}

/* ---- opening -------------------------------------------------------------- */

static void test_open_failure_logged(Fixture *f, gconstpointer data)
{
  (void)data;
  f->store.open_result = POPLAR_STORE_PERMFAIL;
  g_assert_cmpint(poplarpriv_mailbox_open(f->mbox), ==,
                  POPLAR_STORE_PERMFAIL);
  assert_one_line(POPLAR_LOG_ERROR, "test-store",
                  "cannot open mailbox t:/m of bob: cannot open /m: test "
                  "says so");
  g_assert_null(f->mbox->error);
}

static void test_invalid_result(Fixture *f, gconstpointer data)
{
  (void)data;
  f->store.open_result = (PoplarStoreResult)42;
  g_assert_cmpint(poplarpriv_mailbox_open(f->mbox), ==,
                  POPLAR_STORE_TEMPFAIL);
  g_assert_cmpuint(log_lines->len, ==, 2);
  g_assert_nonnull(strstr(log_lines->pdata[0], "invalid result 42"));
  g_assert_nonnull(strstr(log_lines->pdata[1], "cannot open mailbox"));
  g_assert_null(f->mbox->error);
}

static void test_message_open_failure(Fixture *f, gconstpointer data)
{
  (void)data;
  open_ok(f);
  f->store.message_open_result = POPLAR_STORE_GONE;
  void *stream = &stream;
  g_assert_cmpint(poplarpriv_store_message_open(f->mbox, message(f, 1),
                                                &stream),
                  ==, POPLAR_STORE_GONE);
  g_assert_null(stream);
  assert_one_line(POPLAR_LOG_WARNING, "test-store",
                  "cannot open message u1: message u1: test says so");
  g_assert_null(f->mbox->error);
  /* Hook readers go through the same wrapper. */
  f->store.message_open_result = POPLAR_STORE_TEMPFAIL;
  g_assert_null(poplar_message_reader_open(f->mbox, message(f, 0)));
  assert_one_line(POPLAR_LOG_ERROR, "test-store", "message u0: test says so");
}

/* ---- reading -------------------------------------------------------------- */

/* message_read has no mailbox argument: the store explains a failure on
 * the mailbox it kept from message_open, and that reaches the log, for a
 * hook's reader as for RETR. */
static void test_read_error_logged(Fixture *f, gconstpointer data)
{
  (void)data;
  open_ok(f);
  PoplarMessageReader *reader = poplar_message_reader_open(f->mbox,
                                                           message(f, 0));
  g_assert_nonnull(reader);
  f->store.read_mode = READ_FAIL;
  char buf[16];
  g_assert_cmpint(poplar_message_reader_read(reader, buf, sizeof buf), ==, -1);
  assert_one_line(POPLAR_LOG_ERROR, "test-store",
                  "reading message u0 failed: disk on fire");
  g_assert_null(f->mbox->error);
  poplar_message_reader_close(reader);
  g_assert_cmpuint(f->store.message_closes, ==, 1);
}

static void test_read_stale_error_cleared(Fixture *f, gconstpointer data)
{
  (void)data;
  open_ok(f);
  void *stream = NULL;
  g_assert_cmpint(poplarpriv_store_message_open(f->mbox, message(f, 0),
                                                &stream),
                  ==, POPLAR_STORE_OK);
  f->store.read_mode = READ_OK_WITH_STALE_ERROR;
  char buf[64];
  g_assert_cmpint(poplarpriv_store_message_read(f->mbox, message(f, 0),
                                                stream, buf, sizeof buf),
                  ==, (int64_t)strlen(texts[0]));
  g_assert_null(f->mbox->error);
  /* A later failure without a text of its own is not explained by the
   * old one. */
  f->store.read_mode = READ_TOO_LONG;
  g_assert_cmpint(poplarpriv_store_message_read(f->mbox, message(f, 0),
                                                stream, buf, sizeof buf),
                  ==, -1);
  g_assert_cmpuint(log_lines->len, ==, 1);
  g_assert_null(strstr(log_lines->pdata[0], "stale"));
  assert_one_line(POPLAR_LOG_ERROR, "test-store",
                  "returned 65 octets for a read of 64");
  poplarpriv_store_message_close(f->mbox, stream);
}

/* ---- the sendfile offer --------------------------------------------------- */

static void test_open_fd_offer(Fixture *f, gconstpointer data)
{
  (void)data;
  open_ok(f);
  PoplarMessage *msg = message(f, 1);
  void *stream = NULL;
  PoplarFileRange range;

  /* Declined: a stream to read, no descriptor. */
  g_assert_cmpint(poplarpriv_store_message_open_fd(f->mbox, msg, &stream,
                                                   &range),
                  ==, POPLAR_STORE_OK);
  g_assert_nonnull(stream);
  g_assert_cmpint(range.fd, ==, -1);
  poplarpriv_store_message_close(f->mbox, stream);

  /* Offered with the message's size: taken. */
  f->store.offer_fd = 0;
  f->store.offer_length = poplar_message_size(msg);
  g_assert_cmpint(poplarpriv_store_message_open_fd(f->mbox, msg, &stream,
                                                   &range),
                  ==, POPLAR_STORE_OK);
  g_assert_cmpint(range.fd, ==, 0);
  g_assert_cmpuint(range.offset, ==, 7);
  g_assert_cmpuint(range.length, ==, poplar_message_size(msg));
  poplarpriv_store_message_close(f->mbox, stream);
  assert_nothing_logged();

  /* Offered with another length: refused (LIST said otherwise), logged,
   * and the stream is read instead. */
  f->store.offer_length = poplar_message_size(msg) + 1;
  g_assert_cmpint(poplarpriv_store_message_open_fd(f->mbox, msg, &stream,
                                                   &range),
                  ==, POPLAR_STORE_OK);
  g_assert_cmpint(range.fd, ==, -1);
  assert_one_line(POPLAR_LOG_WARNING, "test-store", "read instead");
  char buf[64];
  g_assert_cmpint(poplarpriv_store_message_read(f->mbox, msg, stream, buf,
                                                sizeof buf),
                  ==, (int64_t)strlen(texts[1]));
  poplarpriv_store_message_close(f->mbox, stream);
  g_assert_cmpuint(f->store.message_open_fds, ==, 3);
  g_assert_cmpuint(f->store.message_opens, ==, 0);

  /* A failure is a message_open failure. */
  f->store.message_open_result = POPLAR_STORE_TEMPFAIL;
  g_assert_cmpint(poplarpriv_store_message_open_fd(f->mbox, msg, &stream,
                                                   &range),
                  ==, POPLAR_STORE_TEMPFAIL);
  g_assert_cmpint(range.fd, ==, -1);
  assert_one_line(POPLAR_LOG_ERROR, "test-store", "cannot open message u1");
}

/* A store built against 1.0 registers a shorter table: the new member is
 * NULL whatever lies beyond it, and message_open is called instead. */
static void test_open_fd_old_store(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_null(f->entry->ops.message_open_fd);
  open_ok(f);
  f->store.offer_fd = 0;
  f->store.offer_length = poplar_message_size(message(f, 0));
  void *stream = NULL;
  PoplarFileRange range;
  g_assert_cmpint(poplarpriv_store_message_open_fd(f->mbox, message(f, 0),
                                                   &stream, &range),
                  ==, POPLAR_STORE_OK);
  g_assert_cmpint(range.fd, ==, -1);
  g_assert_cmpuint(f->store.message_opens, ==, 1);
  g_assert_cmpuint(f->store.message_open_fds, ==, 0);
  poplarpriv_store_message_close(f->mbox, stream);
}

/* ---- expunge -------------------------------------------------------------- */

static void expunge(Fixture *f, PoplarStoreResult want, unsigned want_removed,
                    uint64_t want_octets)
{
  unsigned removed = 99;
  uint64_t octets = 99;
  g_assert_cmpint(poplarpriv_store_expunge(f->mbox, &removed, &octets), ==,
                  want);
  g_assert_cmpuint(removed, ==, want_removed);
  g_assert_cmpuint(octets, ==, want_octets);
  g_assert_null(f->mbox->error);
}

static void test_expunge_nothing_marked(Fixture *f, gconstpointer data)
{
  (void)data;
  open_ok(f);
  expunge(f, POPLAR_STORE_OK, 0, 0);
  g_assert_cmpuint(f->store.expunges, ==, 0);
  assert_nothing_logged();
}

/* A 1.0 store says nothing about single messages: OK means every marked
 * one went, a failure that none did. */
static void test_expunge_old_store(Fixture *f, gconstpointer data)
{
  (void)data;
  open_ok(f);
  message(f, 0)->deleted = true;
  message(f, 2)->deleted = true;
  uint64_t marked_octets = strlen(texts[0]) + strlen(texts[2]);
  expunge(f, POPLAR_STORE_OK, 2, marked_octets);
  g_assert_true(poplar_message_is_expunged(message(f, 0)));
  g_assert_false(poplar_message_is_expunged(message(f, 1)));
  g_assert_true(poplar_message_is_expunged(message(f, 2)));
  assert_nothing_logged();

  f->store.expunge_result = POPLAR_STORE_TEMPFAIL;
  expunge(f, POPLAR_STORE_TEMPFAIL, 0, 0);
  for (size_t i = 0; i < 3; i++)
    g_assert_false(poplar_message_is_expunged(message(f, i)));
  assert_one_line(POPLAR_LOG_ERROR, "test-store",
                  "expunge of 2 messages failed, 0 removed: cannot remove: "
                  "test says so");
}

static void test_expunge_partial(Fixture *f, gconstpointer data)
{
  (void)data;
  static const bool only_first[] = {true, false, false};
  open_ok(f);
  message(f, 0)->deleted = true;
  message(f, 1)->deleted = true;
  f->store.expunge_reports = only_first;
  f->store.expunge_result = POPLAR_STORE_TEMPFAIL;
  expunge(f, POPLAR_STORE_TEMPFAIL, 1, strlen(texts[0]));
  g_assert_true(poplar_message_is_expunged(message(f, 0)));
  g_assert_false(poplar_message_is_expunged(message(f, 1)));
  assert_one_line(POPLAR_LOG_ERROR, "test-store",
                  "expunge of 2 messages failed, 1 removed");

  /* An OK that reports fewer than were marked is believed, and noted. */
  f->store.expunge_result = POPLAR_STORE_OK;
  expunge(f, POPLAR_STORE_OK, 1, strlen(texts[0]));
  assert_one_line(POPLAR_LOG_WARNING, "test-store",
                  "expunge of 2 messages removed only 1");
}

/* A message the client did not mark is never counted as removed. */
static void test_expunge_unmarked_report(Fixture *f, gconstpointer data)
{
  (void)data;
  static const bool all[] = {true, true, true};
  open_ok(f);
  message(f, 1)->deleted = true;
  f->store.expunge_reports = all;
  expunge(f, POPLAR_STORE_OK, 1, strlen(texts[1]));
  g_assert_false(poplar_message_is_expunged(message(f, 0)));
  g_assert_true(poplar_message_is_expunged(message(f, 1)));
  g_assert_false(poplar_message_is_expunged(message(f, 2)));
  g_assert_cmpuint(log_lines->len, ==, 2);
  g_assert_nonnull(strstr(log_lines->pdata[0], "u0 removed, which was not marked"));
  g_assert_nonnull(strstr(log_lines->pdata[1], "u2 removed, which was not marked"));
  g_ptr_array_set_size(log_lines, 0);
}

/* ---- password databases --------------------------------------------------- */

static PoplarPassdbResult pd_answer;
static bool pd_set_secret;

static PoplarPassdbResult pd_verify(void *data, PoplarAuthRequest *req,
                                    const char *password)
{
  (void)data;
  (void)req;
  (void)password;
  return pd_answer;
}

static PoplarPassdbResult pd_lookup(void *data, PoplarAuthRequest *req)
{
  (void)data;
  if (pd_set_secret)
    poplar_auth_request_set_secret(req, "s3cret");
  return pd_answer;
}

static void test_passdb_answers(void)
{
  PoplarRegistry *registry = poplarpriv_registry_new();
  PoplarPlugin *plugin =
      poplarpriv_plugin_new(registry, "test-passdb", "/p/test-passdb.so");
  static const PoplarPassdbOps full = {.verify_plain = pd_verify,
                                       .lookup_secret = pd_lookup};
  static const PoplarPassdbOps none = {0};
  plugin->registering = true;
  g_assert_true(poplar_register_passdb(plugin, "full", &full, sizeof full,
                                       NULL));
  g_assert_true(poplar_register_passdb(plugin, "none", &none, sizeof none,
                                       NULL));
  plugin->registering = false;
  const PoplarPassdbEntry *db_full = g_ptr_array_index(registry->passdbs, 0);
  const PoplarPassdbEntry *db_none = g_ptr_array_index(registry->passdbs, 1);
  PoplarSession s = {0};
  g_strlcpy(s.id, "sess-1", sizeof s.id);
  PoplarAuthRequest *req = poplarpriv_auth_request_new(&s, "PLAIN", "bob");
  g_ptr_array_set_size(log_lines, 0);
  poplarpriv_set_log_level(POPLAR_LOG_INFO);

  /* Valid answers pass through untouched. */
  for (int a = POPLAR_PASSDB_OK; a <= POPLAR_PASSDB_TEMPFAIL; a++) {
    pd_answer = (PoplarPassdbResult)a;
    g_assert_cmpint(poplarpriv_passdb_verify_plain(db_full, req, "pw"), ==,
                    a);
  }
  assert_nothing_logged();
  /* A missing operation: the next database's turn. */
  g_assert_cmpint(poplarpriv_passdb_verify_plain(db_none, req, "pw"), ==,
                  POPLAR_PASSDB_NO_SUCH_USER);
  g_assert_cmpint(poplarpriv_passdb_lookup_secret(db_none, req), ==,
                  POPLAR_PASSDB_NO_SUCH_USER);
  /* Out of the enum: tempfail, logged. */
  pd_answer = (PoplarPassdbResult)7;
  g_assert_cmpint(poplarpriv_passdb_verify_plain(db_full, req, "pw"), ==,
                  POPLAR_PASSDB_TEMPFAIL);
  assert_one_line(POPLAR_LOG_ERROR, "test-passdb",
                  "passdb full verify_plain: returned invalid result 7");
  /* OK without a secret: nothing to check APOP against. */
  pd_answer = POPLAR_PASSDB_OK;
  pd_set_secret = false;
  g_assert_cmpint(poplarpriv_passdb_lookup_secret(db_full, req), ==,
                  POPLAR_PASSDB_TEMPFAIL);
  assert_one_line(POPLAR_LOG_ERROR, "test-passdb", "without a secret");
  pd_set_secret = true;
  g_assert_cmpint(poplarpriv_passdb_lookup_secret(db_full, req), ==,
                  POPLAR_PASSDB_OK);
  assert_nothing_logged();

  poplarpriv_set_log_level(POPLAR_LOG_DEBUG);
  poplarpriv_auth_request_free(req);
  poplarpriv_session_clear(&s);
  poplarpriv_registry_free(registry);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  log_lines = g_ptr_array_new_with_free_func(g_free);
  poplarpriv_set_log_handler(capture_log);
  poplarpriv_set_log_level(POPLAR_LOG_DEBUG);

  gconstpointer ops_1_0 =
      GSIZE_TO_POINTER(offsetof(PoplarStoreOps, message_open_fd));
#define ADD(path, data, fn) \
  g_test_add(path, Fixture, data, fixture_setup, fn, fixture_teardown)
  ADD("/store-call/open-failure-logged", NULL, test_open_failure_logged);
  ADD("/store-call/invalid-result", NULL, test_invalid_result);
  ADD("/store-call/message-open-failure", NULL, test_message_open_failure);
  ADD("/store-call/read-error-logged", NULL, test_read_error_logged);
  ADD("/store-call/read-stale-error-cleared", NULL,
      test_read_stale_error_cleared);
  ADD("/store-call/open-fd-offer", NULL, test_open_fd_offer);
  ADD("/store-call/open-fd-old-store", ops_1_0, test_open_fd_old_store);
  ADD("/store-call/expunge-nothing-marked", NULL,
      test_expunge_nothing_marked);
  ADD("/store-call/expunge-old-store", NULL, test_expunge_old_store);
  ADD("/store-call/expunge-partial", NULL, test_expunge_partial);
  ADD("/store-call/expunge-unmarked-report", NULL,
      test_expunge_unmarked_report);
#undef ADD
  g_test_add_func("/passdb-call/answers", test_passdb_answers);
  int r = g_test_run();
  poplarpriv_set_log_handler(NULL);
  g_ptr_array_unref(log_lines);
  return r;
}
