/* SPDX-License-Identifier: MIT */
/*
 * Mailboxes and messages as stores and hooks see them
 * (libpoplar/mailbox.c), and the session functions hooks call
 * (libpoplar/session.c).  The store is an in-memory table built here.
 */
#include <glib.h>
#include <stdarg.h>
#include <string.h>

#include "poplar-private.h"

/* g_test_message() for text that may hold any octet: TAP wants one line of
 * valid UTF-8. */
static void note(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void note(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *raw = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_autofree char *esc = g_strescape(raw, NULL);
  g_test_message("%s", esc);
}

/* ---- captured log lines ------------------------------------------------- */

static GPtrArray *log_lines;

static void capture_log(PoplarLogLevel level, const char *session_id,
                        const char *plugin, const char *message)
{
  g_ptr_array_add(log_lines,
                  g_strdup_printf("%d|%s|%s|%s", (int)level,
                                  session_id ? session_id : "",
                                  plugin ? plugin : "", message));
}

static void log_reset(void)
{
  g_ptr_array_set_size(log_lines, 0);
}

/* Asserts that exactly @n lines were logged since the last reset, each an
 * error containing @what, and resets. */
static void assert_logged(guint n, const char *what)
{
  for (guint i = 0; i < log_lines->len; i++)
    note("log: %s", (const char *)log_lines->pdata[i]);
  g_assert_cmpuint(log_lines->len, ==, n);
  for (guint i = 0; i < n; i++) {
    const char *l = log_lines->pdata[i];
    g_assert_true(g_str_has_prefix(l, "0|")); /* POPLAR_LOG_ERROR */
    if (what)
      g_assert_nonnull(strstr(l, what));
  }
  log_reset();
}

/* ---- an in-memory store -------------------------------------------------- */

typedef struct MemStore MemStore;
typedef void (*MemFill)(MemStore *store, PoplarMailbox *mbox);

struct MemStore {
  MemFill fill;
  PoplarStoreResult open_result;
  void *test_data;
  unsigned opens, closes, message_opens, message_closes;
  PoplarMailbox *seen_mbox;
  char *seen_location;
};

typedef struct MemStream {
  const char *text;
  size_t pos;
} MemStream;

static PoplarStoreResult mem_open(void *data, PoplarMailbox *mbox,
                                  const char *location)
{
  MemStore *st = data;
  st->opens++;
  st->seen_mbox = mbox;
  g_free(st->seen_location);
  st->seen_location = g_strdup(location);
  if (st->fill)
    st->fill(st, mbox);
  if (st->open_result != POPLAR_STORE_OK)
    poplar_mailbox_set_error(mbox, "open failed: %d", (int)st->open_result);
  return st->open_result;
}

static PoplarStoreResult mem_message_open(void *data, PoplarMailbox *mbox,
                                          PoplarMessage *msg, void **stream)
{
  MemStore *st = data;
  const char *text = poplar_message_get_data(msg);
  if (!text) {
    poplar_mailbox_set_error(mbox, "no such file");
    return POPLAR_STORE_GONE;
  }
  st->message_opens++;
  MemStream *s = g_new0(MemStream, 1);
  s->text = text;
  *stream = s;
  return POPLAR_STORE_OK;
}

static int64_t mem_message_read(void *data, void *stream, char *buf,
                                size_t len)
{
  (void)data;
  MemStream *s = stream;
  size_t left = strlen(s->text) - s->pos;
  size_t n = MIN(left, MIN(len, 3)); /* short reads on purpose */
  memcpy(buf, s->text + s->pos, n);
  s->pos += n;
  return (int64_t)n;
}

static void mem_message_close(void *data, void *stream)
{
  MemStore *st = data;
  st->message_closes++;
  g_free(stream);
}

static PoplarStoreResult mem_expunge(void *data, PoplarMailbox *mbox)
{
  (void)data;
  (void)mbox;
  return POPLAR_STORE_OK;
}

static void mem_close(void *data, PoplarMailbox *mbox)
{
  MemStore *st = data;
  g_assert_true(mbox == st->seen_mbox);
  st->closes++;
}

typedef struct Fixture {
  PoplarRegistry *registry;
  PoplarPlugin *plugin;
  PoplarStoreEntry entry;
  MemStore store;
  PoplarSession session;
  GHashTable *fields;
  PoplarMailbox *mbox;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
  (void)data;
  log_reset();
  f->registry = poplarpriv_registry_new();
  f->plugin = poplarpriv_plugin_new(f->registry, "unit-store",
                                    "/plugins/unit-store.so");
  memset(&f->store, 0, sizeof f->store);
  f->entry.plugin = f->plugin;
  f->entry.scheme = (char *)"mem";
  f->entry.ops = (PoplarStoreOps){
      .open = mem_open,
      .message_open = mem_message_open,
      .message_read = mem_message_read,
      .message_close = mem_message_close,
      .expunge = mem_expunge,
      .close = mem_close,
  };
  f->entry.data = &f->store;
  memset(&f->session, 0, sizeof f->session);
  g_strlcpy(f->session.id, "sess-1", sizeof f->session.id);
  f->fields = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  g_hash_table_insert(f->fields, g_strdup("quota"), g_strdup("10M"));
  f->mbox = poplarpriv_mailbox_new(&f->session, &f->entry, "bob",
                                   "/var/mail/bob", f->fields);
  f->session.mailbox = f->mbox;
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
  (void)data;
  poplarpriv_mailbox_free(f->mbox);
  g_hash_table_unref(f->fields);
  poplarpriv_session_clear(&f->session);
  poplarpriv_registry_free(f->registry);
  g_free(f->store.seen_location);
}

static PoplarStoreResult open_with(Fixture *f, MemFill fill, void *test_data)
{
  f->store.fill = fill;
  f->store.test_data = test_data;
  return poplarpriv_mailbox_open(f->mbox);
}

/* ---- UIDLs --------------------------------------------------------------- */

typedef struct UidlCase {
  const char *uidl;
  bool ok;
} UidlCase;

static void fill_uidls(MemStore *st, PoplarMailbox *mbox)
{
  const GArray *cases = st->test_data;
  for (guint i = 0; i < cases->len; i++) {
    const UidlCase *c = &g_array_index(cases, UidlCase, i);
    log_reset();
    PoplarMessage *m = poplar_mailbox_add_message(mbox, c->uidl, 100 + i,
                                                  GUINT_TO_POINTER(i + 1));
    note("uidl '%s'", c->uidl ? c->uidl : "(null)");
    if (c->ok) {
      g_assert_nonnull(m);
      g_assert_cmpstr(poplar_message_uidl(m), ==, c->uidl);
      g_assert_cmpuint(poplar_message_size(m), ==, 100 + i);
      g_assert_true(poplar_message_get_data(m) == GUINT_TO_POINTER(i + 1));
      g_assert_cmpuint(poplar_message_number(m), ==, 0); /* not yet */
      assert_logged(0, NULL);
    } else {
      g_assert_null(m);
      assert_logged(1, "UIDL");
    }
  }
}

static void test_uidl(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *len70 = g_strnfill(70, 'u');
  g_autofree char *len71 = g_strnfill(71, 'u');
  g_autofree char *len1000 = g_strnfill(1000, 'u');
  char all_printable[0x7e - 0x21 + 2]; /* 0x21..0x7e and NUL */
  for (int c = 0x21; c <= 0x7e; c++)
    all_printable[c - 0x21] = (char)c;
  all_printable[sizeof all_printable - 1] = '\0';
  const UidlCase cases[] = {
      {"1", true},
      {len70, true},
      {len71, false},
      {len1000, false},
      {"", false},
      {NULL, false},
      {"with space", false},
      {" lead", false},
      {"trail ", false},
      {"tab\there", false},
      {"del\x7f", false},
      {"nl\n", false},
      {"cr\r", false},
      {"esc\x1b", false},
      {"\x80high", false},
      {"utf8-\xc3\xa9", false},
      {"!", true},
      {"~", true},
      {"dup", true},
      {"dup", false},
      {"DUP", true}, /* case matters */
      {"1", false},
  };
  GArray *arr = g_array_new(FALSE, FALSE, sizeof(UidlCase));
  g_array_append_vals(arr, cases, G_N_ELEMENTS(cases));
  /* every allowed character: 93 of them, too many for one UIDL, so in
   * halves */
  char first[48], second[48];
  g_strlcpy(first, all_printable, sizeof first);
  g_strlcpy(second, all_printable + 47, sizeof second);
  UidlCase more[] = {{all_printable, false}, {first, true}, {second, true}};
  g_array_append_vals(arr, more, G_N_ELEMENTS(more));

  g_assert_cmpint(open_with(f, fill_uidls, arr), ==, POPLAR_STORE_OK);
  guint accepted = 0;
  for (guint i = 0; i < arr->len; i++)
    accepted += g_array_index(arr, UidlCase, i).ok;
  g_assert_cmpuint(poplar_mailbox_message_count(f->mbox), ==, accepted);
  g_assert_null(poplar_mailbox_message(f->mbox, accepted));
  g_assert_null(poplar_mailbox_message(f->mbox, (size_t)-1));
  g_array_unref(arr);
}

/* The UIDL is copied: the store may reuse its buffer. */
static void fill_reused_buffer(MemStore *st, PoplarMailbox *mbox)
{
  (void)st;
  char buf[16];
  for (int i = 0; i < 3; i++) {
    g_snprintf(buf, sizeof buf, "uid-%d", i);
    g_assert_nonnull(poplar_mailbox_add_message(mbox, buf, 1, NULL));
  }
  memset(buf, 'X', sizeof buf);
}

static void test_uidl_copied(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_cmpint(open_with(f, fill_reused_buffer, NULL), ==,
                  POPLAR_STORE_OK);
  g_assert_cmpstr(poplar_message_uidl(poplar_mailbox_message(f->mbox, 2)), ==,
                  "uid-2");
  g_assert_cmpstr(poplar_message_uidl(poplar_mailbox_message(f->mbox, 0)), ==,
                  "uid-0");
}

/* Duplicates among many UIDLs that share long prefixes and differ in one
 * octet at any position, or only in length: every second copy refused,
 * every first one kept. */
static GPtrArray *near_uidls(void)
{
  GPtrArray *uidls = g_ptr_array_new_with_free_func(g_free);
  for (unsigned i = 0; i < 12000; i++)
    g_ptr_array_add(uidls, g_strdup_printf("%u.M%uP4242.mail.example.org",
                                           1700000000u + i, i * 7u));
  for (size_t len = 1; len <= POPLAR_UIDL_MAX; len++) {
    g_ptr_array_add(uidls, g_strnfill(len, 'a'));
    for (size_t pos = 0; pos < len; pos += 3) {
      char *u = g_strnfill(len, 'a');
      u[pos] = 'b';
      g_ptr_array_add(uidls, u);
    }
  }
  return uidls;
}

static void fill_near_duplicates(MemStore *st, PoplarMailbox *mbox)
{
  GPtrArray *uidls = st->test_data;
  for (guint i = 0; i < uidls->len; i++) {
    g_assert_nonnull(poplar_mailbox_add_message(mbox, uidls->pdata[i], 1,
                                                NULL));
    /* an earlier one again, from a buffer of the store's own */
    g_autofree char *again = g_strdup(uidls->pdata[i / 2]);
    g_assert_null(poplar_mailbox_add_message(mbox, again, 1, NULL));
  }
}

static void test_uidl_near_duplicates(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autoptr(GPtrArray) uidls = near_uidls();
  g_assert_cmpint(open_with(f, fill_near_duplicates, uidls), ==,
                  POPLAR_STORE_OK);
  g_assert_cmpuint(log_lines->len, ==, uidls->len);
  g_assert_nonnull(strstr(log_lines->pdata[0], "duplicate UIDL"));
  log_reset();
  g_assert_cmpuint(poplar_mailbox_message_count(f->mbox), ==, uidls->len);
  for (guint i = 0; i < uidls->len; i++)
    g_assert_cmpstr(poplar_message_uidl(poplar_mailbox_message(f->mbox, i)),
                    ==, uidls->pdata[i]);
}

/* Only open may add messages. */
static void test_add_outside_open(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_null(poplar_mailbox_add_message(f->mbox, "early", 1, NULL));
  assert_logged(1, "outside");
  g_assert_cmpint(open_with(f, NULL, NULL), ==, POPLAR_STORE_OK);
  g_assert_null(poplar_mailbox_add_message(f->mbox, "late", 1, NULL));
  assert_logged(1, "outside");
  g_assert_cmpuint(poplar_mailbox_message_count(f->mbox), ==, 0);
  poplarpriv_mailbox_number(f->mbox);
  g_assert_cmpuint(f->mbox->n_visible, ==, 0);
}

/* ---- many messages -------------------------------------------------------- */

enum { MANY = 3 * POPLAR_MAILBOX_BLOCK + 17 };

static void fill_many(MemStore *st, PoplarMailbox *mbox)
{
  PoplarMessage **seen = st->test_data;
  for (unsigned i = 0; i < MANY; i++) {
    char uidl[32];
    g_snprintf(uidl, sizeof uidl, "m%u", i);
    seen[i] = poplar_mailbox_add_message(mbox, uidl, i * 10u,
                                         GUINT_TO_POINTER(i + 1));
    g_assert_nonnull(seen[i]);
    /* a message handed out earlier is still where it was */
    if (i > 0)
      g_assert_true(poplar_mailbox_message(mbox, i / 2) == seen[i / 2]);
    g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, i + 1);
  }
}

static void test_many(Fixture *f, gconstpointer data)
{
  (void)data;
  PoplarMessage **seen = g_new0(PoplarMessage *, MANY);
  g_assert_cmpint(open_with(f, fill_many, seen), ==, POPLAR_STORE_OK);
  g_assert_cmpuint(poplar_mailbox_message_count(f->mbox), ==, MANY);
  poplarpriv_mailbox_number(f->mbox);
  g_assert_cmpuint(f->mbox->n_visible, ==, MANY);
  for (unsigned i = 0; i < MANY; i++) {
    PoplarMessage *m = poplar_mailbox_message(f->mbox, i);
    g_assert_true(m == seen[i]);
    char uidl[32];
    g_snprintf(uidl, sizeof uidl, "m%u", i);
    g_assert_cmpstr(poplar_message_uidl(m), ==, uidl);
    g_assert_cmpuint(poplar_message_size(m), ==, i * 10u);
    g_assert_true(poplar_message_get_data(m) == GUINT_TO_POINTER(i + 1));
    g_assert_cmpuint(poplar_message_number(m), ==, i + 1);
    g_assert_true(f->mbox->visible[i] == m);
  }
  g_assert_null(poplar_mailbox_message(f->mbox, MANY));
  g_free(seen);
}

/* ---- numbering with hidden messages --------------------------------------- */

static void fill_ten(MemStore *st, PoplarMailbox *mbox)
{
  (void)st;
  for (unsigned i = 0; i < 10; i++) {
    char uidl[8];
    g_snprintf(uidl, sizeof uidl, "n%u", i);
    g_assert_nonnull(poplar_mailbox_add_message(mbox, uidl, 1, NULL));
  }
}

static void test_numbering(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_cmpint(open_with(f, fill_ten, NULL), ==, POPLAR_STORE_OK);
  /* what a mailbox-open hook does */
  static const unsigned hidden[] = {0, 3, 4, 9};
  for (size_t i = 0; i < G_N_ELEMENTS(hidden); i++)
    poplar_message_set_hidden(poplar_mailbox_message(f->mbox, hidden[i]),
                              true);
  poplarpriv_mailbox_number(f->mbox);
  static const unsigned want[10] = {0, 1, 2, 0, 0, 3, 4, 5, 6, 0};
  for (unsigned i = 0; i < 10; i++) {
    PoplarMessage *m = poplar_mailbox_message(f->mbox, i);
    g_assert_cmpuint(poplar_message_number(m), ==, want[i]);
    g_assert_cmpint(poplar_message_is_hidden(m), ==, want[i] == 0);
    g_assert_false(poplar_message_is_deleted(m));
    if (want[i])
      g_assert_true(f->mbox->visible[want[i] - 1] == m);
  }
  g_assert_cmpuint(f->mbox->n_visible, ==, 6);

  /* numbering again after a change starts over */
  poplar_message_set_hidden(poplar_mailbox_message(f->mbox, 0), false);
  poplarpriv_mailbox_number(f->mbox);
  g_assert_cmpuint(f->mbox->n_visible, ==, 7);
  g_assert_cmpuint(poplar_message_number(poplar_mailbox_message(f->mbox, 0)),
                   ==, 1);
  g_assert_cmpuint(poplar_message_number(poplar_mailbox_message(f->mbox, 8)),
                   ==, 7);

  /* all hidden */
  for (unsigned i = 0; i < 10; i++)
    poplar_message_set_hidden(poplar_mailbox_message(f->mbox, i), true);
  poplarpriv_mailbox_number(f->mbox);
  g_assert_cmpuint(f->mbox->n_visible, ==, 0);
  for (unsigned i = 0; i < 10; i++)
    g_assert_cmpuint(
        poplar_message_number(poplar_mailbox_message(f->mbox, i)), ==, 0);
}

/* ---- headers added by hooks ------------------------------------------------ */

static void fill_one(MemStore *st, PoplarMailbox *mbox)
{
  (void)st;
  g_assert_nonnull(
      poplar_mailbox_add_message(mbox, "one", 100, (void *)"body\n"));
}

static void assert_prefix(const PoplarMessage *m, const char *want,
                          uint64_t base_size)
{
  size_t len = want ? strlen(want) : 0;
  g_assert_cmpuint(m->prefix_len, ==, len);
  if (want)
    g_assert_cmpmem(m->prefix, m->prefix_len, want, len);
  else
    g_assert_null(m->prefix);
  g_assert_cmpuint(poplar_message_size(m), ==, base_size + len);
}

static void test_add_header(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_cmpint(open_with(f, fill_one, NULL), ==, POPLAR_STORE_OK);
  PoplarMessage *m = poplar_mailbox_message(f->mbox, 0);
  assert_prefix(m, NULL, 100);

  g_assert_true(poplar_message_add_header(m, "X-Spam", "yes"));
  assert_prefix(m, "X-Spam: yes\r\n", 100);
  /* a later header goes first */
  g_assert_true(poplar_message_add_header(m, "X-B", "two words\there"));
  assert_prefix(m, "X-B: two words\there\r\nX-Spam: yes\r\n", 100);
  g_assert_true(poplar_message_add_header(m, "X-Empty", ""));
  const char *all = "X-Empty: \r\nX-B: two words\there\r\nX-Spam: yes\r\n";
  assert_prefix(m, all, 100);
  assert_logged(0, NULL);

  g_autofree char *name76 = g_strnfill(76, 'N');
  g_autofree char *name77 = g_strnfill(77, 'N');
  static const struct {
    const char *name, *value;
  } bad[] = {
      {"X-Bad", "a\r\nInjected: yes"},
      {"X-Bad", "a\nb"},
      {"X-Bad", "a\rb"},
      {"X-Bad", "\r\n"},
      {"X-Bad", NULL},
      {NULL, "v"},
      {"", "v"},
      {"X Bad", "v"},
      {"X-Bad:", "v"},
      {"X:Bad", "v"},
      {"X-B\x7f" "ad", "v"},
      {"X-B\tad", "v"},
      {"X-B\xc3\xa4" "d", "v"},
      {"X-Bad\r\nInjected", "v"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    note("header '%s' '%s'", bad[i].name ? bad[i].name : "(null)",
                   bad[i].value ? bad[i].value : "(null)");
    g_assert_false(poplar_message_add_header(m, bad[i].name, bad[i].value));
    assert_logged(1, "refused");
    /* nothing changed */
    assert_prefix(m, all, 100);
  }
  g_assert_false(poplar_message_add_header(m, name77, "v"));
  assert_logged(1, "refused");
  assert_prefix(m, all, 100);
  g_assert_true(poplar_message_add_header(m, name76, "v"));
  g_autofree char *with76 = g_strdup_printf("%s: v\r\n%s", name76, all);
  assert_prefix(m, with76, 100);

  /* the message as the client gets it still ends in the store's text */
  g_assert_nonnull(m->prefix);
  g_assert_true(g_str_has_suffix(m->prefix, "\r\n"));
}

/* RFC 5322 2.1.1: a header line is at most 998 octets before its CRLF.
 * Longer ones are refused, so no hook can hand the core a prefix larger
 * than what it is built to send. */
static void test_add_header_bounded(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_cmpint(open_with(f, fill_one, NULL), ==, POPLAR_STORE_OK);
  PoplarMessage *m = poplar_mailbox_message(f->mbox, 0);
  /* "X-Fit: " + value = 998 octets exactly */
  g_autofree char *fits = g_strnfill(998 - strlen("X-Fit: "), 'v');
  g_assert_true(poplar_message_add_header(m, "X-Fit", fits));
  uint64_t size = poplar_message_size(m);
  assert_logged(0, NULL);

  g_autofree char *huge = g_strnfill(200000, 'v');
  g_assert_false(poplar_message_add_header(m, "X-Huge", huge));
  assert_logged(1, "refused");
  g_assert_cmpuint(poplar_message_size(m), ==, size);
}

/* ---- open, close, readers, accessors --------------------------------------- */

static void test_open_failure(Fixture *f, gconstpointer data)
{
  (void)data;
  f->store.open_result = POPLAR_STORE_IN_USE;
  g_assert_cmpint(open_with(f, NULL, NULL), ==, POPLAR_STORE_IN_USE);
  g_assert_false(f->mbox->open);
  /* The store's reason is logged with the session and the plugin, and
   * cleared. */
  g_assert_null(f->mbox->error);
  g_assert_cmpuint(log_lines->len, ==, 1);
  g_assert_nonnull(strstr(log_lines->pdata[0], "open failed: 1"));
  g_assert_nonnull(strstr(log_lines->pdata[0], "sess-1"));
  g_assert_nonnull(strstr(log_lines->pdata[0], "unit-store"));
  log_reset();
  g_assert_null(poplar_session_mailbox(&f->session));
  poplarpriv_mailbox_free(f->mbox);
  f->mbox = NULL;
  /* close is not called after a failed open */
  g_assert_cmpuint(f->store.opens, ==, 1);
  g_assert_cmpuint(f->store.closes, ==, 0);
}

static void test_open_close(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_cmpint(open_with(f, fill_one, NULL), ==, POPLAR_STORE_OK);
  g_assert_true(f->mbox->open);
  g_assert_cmpstr(f->store.seen_location, ==, "/var/mail/bob");
  g_assert_true(poplar_session_mailbox(&f->session) == f->mbox);
  g_assert_true(poplar_mailbox_session(f->mbox) == &f->session);
  g_assert_cmpstr(poplar_mailbox_user(f->mbox), ==, "bob");
  g_assert_cmpstr(poplar_mailbox_location(f->mbox), ==, "/var/mail/bob");
  g_assert_cmpstr(poplar_mailbox_field(f->mbox, "quota"), ==, "10M");
  g_assert_null(poplar_mailbox_field(f->mbox, "uid"));
  g_assert_null(poplar_mailbox_field(f->mbox, NULL));
  int state;
  poplar_mailbox_set_data(f->mbox, &state);
  g_assert_true(poplar_mailbox_get_data(f->mbox) == &state);
  poplar_mailbox_set_error(f->mbox, "first %d", 1);
  poplar_mailbox_set_error(f->mbox, "second %s", "error");
  g_assert_cmpstr(f->mbox->error, ==, "second error");

  poplarpriv_mailbox_free(f->mbox);
  f->mbox = NULL;
  g_assert_cmpuint(f->store.closes, ==, 1);
}

static void test_no_fields(Fixture *f, gconstpointer data)
{
  (void)data;
  PoplarMailbox *m = poplarpriv_mailbox_new(&f->session, &f->entry, "al",
                                            "/x", NULL);
  g_assert_null(poplar_mailbox_field(m, "quota"));
  poplarpriv_mailbox_free(m);
  poplarpriv_mailbox_free(NULL);
}

static void fill_two_texts(MemStore *st, PoplarMailbox *mbox)
{
  (void)st;
  g_assert_nonnull(poplar_mailbox_add_message(
      mbox, "t1", 10, (void *)"Subject: hi\n\nhello world\n"));
  g_assert_nonnull(poplar_mailbox_add_message(mbox, "gone", 10, NULL));
}

static void test_reader(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_cmpint(open_with(f, fill_two_texts, NULL), ==, POPLAR_STORE_OK);
  PoplarMessage *m = poplar_mailbox_message(f->mbox, 0);
  g_assert_true(poplar_message_add_header(m, "X-Added", "1"));
  PoplarMessageReader *r = poplar_message_reader_open(f->mbox, m);
  g_assert_nonnull(r);
  GString *all = g_string_new(NULL);
  char buf[64];
  int64_t n;
  while ((n = poplar_message_reader_read(r, buf, sizeof buf)) > 0)
    g_string_append_len(all, buf, (gssize)n);
  g_assert_cmpint(n, ==, 0);
  poplar_message_reader_close(r);
  /* as the store has it: no added headers, no CRLF */
  g_assert_cmpstr(all->str, ==, "Subject: hi\n\nhello world\n");
  g_string_free(all, TRUE);
  g_assert_cmpuint(f->store.message_opens, ==, 1);
  g_assert_cmpuint(f->store.message_closes, ==, 1);
  poplar_message_reader_close(NULL);

  /* a message that cannot be opened: NULL, logged, error cleared */
  log_reset();
  g_assert_null(
      poplar_message_reader_open(f->mbox, poplar_mailbox_message(f->mbox, 1)));
  g_assert_cmpuint(log_lines->len, ==, 1);
  g_assert_nonnull(strstr(log_lines->pdata[0], "no such file"));
  g_assert_nonnull(strstr(log_lines->pdata[0], "sess-1"));
  g_assert_nonnull(strstr(log_lines->pdata[0], "unit-store"));
  log_reset();
  g_assert_null(f->mbox->error);
}

/* ---- poplar_hook_reply (libpoplar/session.c) ------------------------------ */

typedef struct ReplyCase {
  const char *code;
  const char *want_code; /* NULL: dropped */
} ReplyCase;

static void test_hook_reply_codes(void)
{
  g_autofree char *code40 = g_strnfill(40, 'A');
  g_autofree char *code41 = g_strnfill(41, 'A');
  const ReplyCase cases[] = {
      {"SYS/TEMP", "SYS/TEMP"},
      {"SYS/PERM", "SYS/PERM"},
      {"AUTH", "AUTH"},
      {"auth", "AUTH"},
      {"in-use", "IN-USE"},
      {"LOGIN-DELAY", "LOGIN-DELAY"},
      {"X-SITE/RULE-7", "X-SITE/RULE-7"},
      {code40, code40},
      {code41, NULL},
      {NULL, NULL},
      {"", NULL},
      {"SYS TEMP", NULL},
      {"[AUTH]", NULL},
      {"AUTH] +OK", NULL},
      {"AUTH\r\n+OK", NULL},
      {"AUTH\x01", NULL},
      {"\xc3\x84UTH", NULL},
      {"A.B", NULL},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    PoplarSession s = {0};
    note("code '%s'", cases[i].code ? cases[i].code : "(null)");
    poplar_hook_reply(&s, cases[i].code, "text");
    g_assert_cmpstr(s.reply_code, ==, cases[i].want_code);
    g_assert_cmpstr(s.reply_text, ==, "text");
    poplarpriv_session_clear(&s);
    g_assert_null(s.reply_code);
    g_assert_null(s.reply_text);
  }
}

/* RFC 2449 section 8: resp-code = "[" resp-level *("/" resp-level) "]",
 * resp-level = 1*rchar: no empty level. */
static void test_hook_reply_empty_levels(void)
{
  static const char *const codes[] = {"/", "SYS/", "/TEMP", "SYS//TEMP"};
  GString *accepted = g_string_new(NULL);
  for (size_t i = 0; i < G_N_ELEMENTS(codes); i++) {
    PoplarSession s = {0};
    poplar_hook_reply(&s, codes[i], "text");
    if (s.reply_code)
      g_string_append_printf(accepted, " '%s'", codes[i]);
    poplarpriv_session_clear(&s);
  }
  g_assert_cmpstr(accepted->str, ==, "");
  g_string_free(accepted, TRUE);
}

static void test_hook_reply_text(void)
{
  static const struct {
    const char *in, *want;
  } cases[] = {
      {"plain text", "plain text"},
      {"line1\r\nline2", "line1  line2"},
      {"a\nb\rc", "a b c"},
      {"tab\there", "tab here"},
      {"bell\x07 del\x7f esc\x1b[0m", "bell  del  esc [0m"},
      {"\r\n.\r\n+OK forged", "  .  +OK forged"},
      {"utf-8 \xc3\xa9t\xc3\xa9", "utf-8 \xc3\xa9t\xc3\xa9"},
      {"", ""},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    PoplarSession s = {0};
    poplar_hook_reply(&s, NULL, "%s", cases[i].in);
    g_assert_cmpstr(s.reply_text, ==, cases[i].want);
    g_assert_null(s.reply_code);
    poplarpriv_session_clear(&s);
  }

  /* formatting, and the length kept within one response line */
  PoplarSession s = {0};
  poplar_hook_reply(&s, "AUTH", "user %s, %d tries", "bob", 3);
  g_assert_cmpstr(s.reply_text, ==, "user bob, 3 tries");
  g_autofree char *longtext = g_strnfill(5000, 'x');
  poplar_hook_reply(&s, "SYS/PERM", "%s", longtext); /* replaces */
  g_assert_cmpstr(s.reply_code, ==, "SYS/PERM");
  g_assert_nonnull(s.reply_text);
  /* "-ERR [code] " + text + CRLF within RFC 2449's 512 octets */
  g_assert_cmpuint(strlen(s.reply_text) + strlen("-ERR [SYS/PERM] \r\n") +
                       40, <=, 512);
  g_assert_cmpuint(strlen(s.reply_text), >, 100);
  /* a bad code after a good one: the old one does not linger */
  poplar_hook_reply(&s, "BAD CODE", "x");
  g_assert_null(s.reply_code);
  poplarpriv_session_clear_reply(&s);
  g_assert_null(s.reply_text);
  poplarpriv_session_clear(&s);
}

/* ---- per-plugin session data ---------------------------------------------- */

static unsigned freed_count;
static void count_free(void *data)
{
  freed_count++;
  g_free(data);
}

static void test_session_slots(void)
{
  PoplarRegistry *reg = poplarpriv_registry_new();
  PoplarPlugin *p0 = poplarpriv_plugin_new(reg, "p0", "/p0.so");
  PoplarPlugin *p1 = poplarpriv_plugin_new(reg, "p1", "/p1.so");
  PoplarPlugin *p2 = poplarpriv_plugin_new(reg, "p2", "/p2.so");
  PoplarSession s = {0};
  freed_count = 0;
  g_assert_null(poplar_session_get_data(&s, p0));
  g_assert_null(poplar_session_get_data(&s, NULL));
  /* a later plugin first: the slot array grows */
  char *d2 = g_strdup("two");
  poplar_session_set_data(&s, p2, d2, count_free);
  g_assert_true(poplar_session_get_data(&s, p2) == d2);
  g_assert_null(poplar_session_get_data(&s, p0));
  g_assert_null(poplar_session_get_data(&s, p1));
  char *d0 = g_strdup("zero");
  poplar_session_set_data(&s, p0, d0, count_free);
  g_assert_true(poplar_session_get_data(&s, p0) == d0);
  g_assert_true(poplar_session_get_data(&s, p2) == d2);
  /* replacing frees the old value, setting the same one does not */
  poplar_session_set_data(&s, p0, d0, count_free);
  g_assert_cmpuint(freed_count, ==, 0);
  char *d0b = g_strdup("zero again");
  poplar_session_set_data(&s, p0, d0b, count_free);
  g_assert_cmpuint(freed_count, ==, 1);
  /* data without a free function */
  static int stat_data;
  poplar_session_set_data(&s, p1, &stat_data, NULL);
  g_assert_true(poplar_session_get_data(&s, p1) == &stat_data);
  /* the end of the session frees what is left */
  poplarpriv_session_set_user(&s, "bob");
  g_assert_cmpstr(poplar_session_user(&s), ==, "bob");
  poplarpriv_session_clear(&s);
  g_assert_cmpuint(freed_count, ==, 3);
  g_assert_null(poplar_session_get_data(&s, p0));
  g_assert_null(poplar_session_user(&s));
  poplarpriv_registry_free(reg);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  log_lines = g_ptr_array_new_with_free_func(g_free);
  poplarpriv_set_log_handler(capture_log);
  poplarpriv_set_log_level(POPLAR_LOG_DEBUG);

#define ADD(path, fn) \
  g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("/mailbox/uidl", test_uidl);
  ADD("/mailbox/uidl-copied", test_uidl_copied);
  ADD("/mailbox/uidl-near-duplicates", test_uidl_near_duplicates);
  ADD("/mailbox/add-outside-open", test_add_outside_open);
  ADD("/mailbox/many", test_many);
  ADD("/mailbox/numbering", test_numbering);
  ADD("/mailbox/add-header", test_add_header);
  ADD("/mailbox/add-header-bounded", test_add_header_bounded);
  ADD("/mailbox/open-failure", test_open_failure);
  ADD("/mailbox/open-close", test_open_close);
  ADD("/mailbox/no-fields", test_no_fields);
  ADD("/mailbox/reader", test_reader);
#undef ADD
  g_test_add_func("/session/hook-reply-codes", test_hook_reply_codes);
  g_test_add_func("/session/hook-reply-empty-levels",
                  test_hook_reply_empty_levels);
  g_test_add_func("/session/hook-reply-text", test_hook_reply_text);
  g_test_add_func("/session/slots", test_session_slots);
  int r = g_test_run();
  poplarpriv_set_log_handler(NULL);
  g_ptr_array_unref(log_lines);
  return r;
}
