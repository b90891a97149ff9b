/* SPDX-License-Identifier: MIT */
/*
 * store-maildir driven the way the core drives it: the plugin's init with a
 * parsed [store-maildir] section, then mailboxes opened, read, expunged
 * and closed through libpoplar's mailbox functions.
 */
#include "maildir-fixture.h"
#include "maildir-test-util.h"
#include "store-path.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void setup(Fixture *f, gconstpointer data)
{
  maildir_fixture_setup(f, "poplar-maildir", data);
}

static void teardown(Fixture *f, gconstpointer data)
{
  (void)data;
  maildir_fixture_teardown(f);
}

static PoplarMailbox *open_at(Fixture *f, PoplarSession *s,
                              const char *location, PoplarStoreResult *r)
{
  PoplarMailbox *mbox =
      poplarpriv_mailbox_new(s, f->store, "user", location, NULL);
  *r = poplarpriv_mailbox_open(mbox);
  /* libpoplar logs the store's reason and clears it. */
  g_assert_null(mbox->error);
  if (*r == POPLAR_STORE_OK) {
    poplarpriv_mailbox_number(mbox);
  } else {
    /* Several threads open at once in the lock tests. */
    static GMutex error_lock;
    char *said = test_log_last_with("cannot open mailbox");
    g_assert_nonnull(said);
    g_mutex_lock(&error_lock);
    g_free(f->open_error);
    f->open_error = said;
    g_mutex_unlock(&error_lock);
  }
  return mbox;
}

static PoplarMailbox *open_ok(Fixture *f)
{
  PoplarStoreResult r;
  PoplarMailbox *mbox = open_at(f, &f->session, f->maildir, &r);
  if (r != POPLAR_STORE_OK)
    g_error("open failed (%d): %s", r, f->open_error);
  return mbox;
}

/* Opens @location expecting @expected; returns the error text. */
static char *open_fails(Fixture *f, const char *location,
                        PoplarStoreResult expected)
{
  PoplarStoreResult r;
  PoplarMailbox *mbox = open_at(f, &f->session, location, &r);
  g_assert_cmpint(r, ==, expected);
  char *error = g_strdup(f->open_error);
  poplarpriv_mailbox_free(mbox);
  return error;
}

static unsigned size_reads(PoplarMailbox *mbox)
{
  MaildirMailbox *mb = poplar_mailbox_get_data(mbox);
  return mb->size_reads;
}

static GPtrArray *uidls_of(PoplarMailbox *mbox)
{
  GPtrArray *uidls = g_ptr_array_new_with_free_func(g_free);
  for (size_t i = 0; i < poplar_mailbox_message_count(mbox); i++)
    g_ptr_array_add(uidls, g_strdup(poplar_message_uidl(
                               poplar_mailbox_message(mbox, i))));
  return uidls;
}

static void assert_same_strings(GPtrArray *a, GPtrArray *b)
{
  g_assert_cmpuint(a->len, ==, b->len);
  for (guint i = 0; i < a->len; i++)
    g_assert_cmpstr(g_ptr_array_index(a, i), ==, g_ptr_array_index(b, i));
}

static char *read_message(PoplarMailbox *mbox, PoplarMessage *msg)
{
  PoplarMessageReader *reader = poplar_message_reader_open(mbox, msg);
  g_assert_nonnull(reader);
  GString *text = g_string_new(NULL);
  char buf[7]; /* small, so that reads take several calls */
  int64_t n;
  while ((n = poplar_message_reader_read(reader, buf, sizeof buf)) > 0)
    g_string_append_len(text, buf, (gssize)n);
  g_assert_cmpint(n, ==, 0);
  poplar_message_reader_close(reader);
  return g_string_free(text, FALSE);
}

static PoplarMessage *find_uidl(PoplarMailbox *mbox, const char *uidl)
{
  for (size_t i = 0; i < poplar_mailbox_message_count(mbox); i++) {
    PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    if (strcmp(poplar_message_uidl(msg), uidl) == 0)
      return msg;
  }
  return NULL;
}

static void rename_in(const char *dir, const char *from, const char *to)
{
  g_autofree char *a = g_build_filename(dir, from, NULL);
  g_autofree char *b = g_build_filename(dir, to, NULL);
  g_assert_cmpint(rename(a, b), ==, 0);
}

/* ---- creating and finding the Maildir --------------------------------- */

static void assert_dir_0700(const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename(dir, name, NULL);
  struct stat st;
  g_assert_cmpint(stat(path, &st), ==, 0);
  g_assert_true(S_ISDIR(st.st_mode));
  g_assert_cmpint(st.st_mode & 0777, ==, 0700);
}

static void test_create(Fixture *f, gconstpointer data)
{
  (void)data;
  PoplarMailbox *mbox = open_ok(f);
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 0);
  assert_dir_0700(f->maildir, "");
  assert_dir_0700(f->maildir, "new");
  assert_dir_0700(f->maildir, "cur");
  assert_dir_0700(f->maildir, "tmp");
  poplarpriv_mailbox_free(mbox);
  /* A trailing slash names the same Maildir. */
  g_autofree char *slash = g_strconcat(f->maildir, "//", NULL);
  PoplarStoreResult r;
  mbox = open_at(f, &f->session, slash, &r);
  g_assert_cmpint(r, ==, POPLAR_STORE_OK);
  poplarpriv_mailbox_free(mbox);
}

static void test_create_missing_subdirs(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_cmpint(g_mkdir_with_parents(f->cur, 0700), ==, 0);
  test_write_file(f->cur, "1700000000.M1P1.mx:2,S", "x\n", -1);
  PoplarMailbox *mbox = open_ok(f);
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 1);
  assert_dir_0700(f->maildir, "new");
  assert_dir_0700(f->maildir, "tmp");
  poplarpriv_mailbox_free(mbox);
}

static void test_create_no(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *e1 = open_fails(f, f->maildir, POPLAR_STORE_PERMFAIL);
  g_assert_nonnull(strstr(e1, "does not exist"));
  g_assert_nonnull(strstr(e1, f->maildir));
  g_assert_false(test_file_exists(f->tmp, "Maildir"));

  /* Not a Maildir: cur/ is missing, and nothing is created. */
  g_assert_cmpint(g_mkdir_with_parents(f->new_dir, 0700), ==, 0);
  g_autofree char *e2 = open_fails(f, f->maildir, POPLAR_STORE_PERMFAIL);
  g_assert_nonnull(strstr(e2, "not a Maildir"));
  g_assert_nonnull(strstr(e2, "cur/"));
  g_assert_false(test_file_exists(f->maildir, "cur"));
  /* The subdirectories are checked under the lock; it goes with the
   * refusal. */
  g_assert_false(test_file_exists(f->maildir, MAILDIR_LOCK_FILE));

  test_make_maildir(f->maildir);
  PoplarMailbox *mbox = open_ok(f);
  poplarpriv_mailbox_free(mbox);
}

static void test_bad_location(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *e1 = open_fails(f, "Maildir", POPLAR_STORE_PERMFAIL);
  g_assert_nonnull(strstr(e1, "absolute"));
  g_autofree char *e2 = open_fails(f, "", POPLAR_STORE_PERMFAIL);
  g_assert_nonnull(e2);

  /* The home directory itself is never created. */
  g_autofree char *orphan = g_build_filename(f->tmp, "nohome", "Maildir",
                                             NULL);
  g_autofree char *e3 = open_fails(f, orphan, POPLAR_STORE_PERMFAIL);
  g_assert_nonnull(strstr(e3, "parent"));
  g_assert_false(test_file_exists(f->tmp, "nohome"));

  test_write_file(f->tmp, "Maildir", "not a directory\n", -1);
  g_autofree char *e4 = open_fails(f, f->maildir, POPLAR_STORE_PERMFAIL);
  g_assert_nonnull(strstr(e4, f->maildir));
}

/* ---- listing --------------------------------------------------------- */

static void test_new_to_cur(Fixture *f, gconstpointer data)
{
  (void)data;
  test_make_maildir(f->maildir);
  test_write_file(f->new_dir, "1700000000.M1P1.mx", "one\n", -1);
  test_write_file(f->new_dir, "1700000001.M1P1.mx,S=4", "two\n", -1);
  test_write_file(f->new_dir, "1700000002.M1P1.mx:2,F", "three\n", -1);
  test_write_file(f->cur, "1699999999.M1P1.mx:2,S", "old\n", -1);

  PoplarMailbox *mbox = open_ok(f);
  g_autoptr(GPtrArray) in_new = test_list_dir(f->new_dir);
  g_assert_cmpuint(in_new->len, ==, 0);
  g_autoptr(GPtrArray) in_cur = test_list_dir(f->cur);
  g_assert_cmpuint(in_cur->len, ==, 4);
  g_assert_true(test_file_exists(f->cur, "1700000000.M1P1.mx:2,"));
  g_assert_true(test_file_exists(f->cur, "1700000001.M1P1.mx,S=4:2,"));
  g_assert_true(test_file_exists(f->cur, "1700000002.M1P1.mx:2,F"));
  g_assert_true(test_file_exists(f->cur, "1699999999.M1P1.mx:2,S"));

  g_autoptr(GPtrArray) uidls = uidls_of(mbox);
  g_assert_cmpuint(uidls->len, ==, 4);
  g_assert_cmpstr(g_ptr_array_index(uidls, 0), ==, "1699999999.M1P1.mx");
  g_assert_cmpstr(g_ptr_array_index(uidls, 1), ==, "1700000000.M1P1.mx");
  g_assert_cmpstr(g_ptr_array_index(uidls, 2), ==, "1700000001.M1P1.mx");
  g_assert_cmpstr(g_ptr_array_index(uidls, 3), ==, "1700000002.M1P1.mx");
  g_autofree char *text =
      read_message(mbox, poplar_mailbox_message(mbox, 1));
  g_assert_cmpstr(text, ==, "one\n");
  poplarpriv_mailbox_free(mbox);
}

static void test_new_collision(Fixture *f, gconstpointer data)
{
  (void)data;
  /* new/X and cur/X:2, both exist: moving would replace a message. */
  test_make_maildir(f->maildir);
  test_write_file(f->new_dir, "1700000000.M1P1.mx", "in new\n", -1);
  test_write_file(f->cur, "1700000000.M1P1.mx:2,", "in cur\n", -1);
  PoplarMailbox *mbox = open_ok(f);
  g_assert_true(test_file_exists(f->new_dir, "1700000000.M1P1.mx"));
  g_autofree char *path = g_build_filename(f->cur, "1700000000.M1P1.mx:2,",
                                           NULL);
  g_autofree char *kept = NULL;
  g_assert_true(g_file_get_contents(path, &kept, NULL, NULL));
  g_assert_cmpstr(kept, ==, "in cur\n");
  g_assert_true(test_log_contains("left in new/"));
  /* One unique part, two messages: the second gets a UIDL of its own. */
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 2);
  g_assert_true(test_log_contains("unique part of another message"));
  poplarpriv_mailbox_free(mbox);
}

/* Two files with one unique part ("...:2,S" and "...:2,T"): both are
 * listed, each under its own UIDL, the same in the next session, and
 * the second keeps its UIDL after the first is deleted, so a client that
 * keeps mail downloads it exactly once. */
static void test_duplicate_unique_part(Fixture *f, gconstpointer data)
{
  (void)data;
  test_make_maildir(f->maildir);
  test_write_file(f->cur, "1700000000.M1P1.mx:2,S", "first\n", -1);
  test_write_file(f->cur, "1700000000.M1P1.mx:2,T", "second\n", -1);
  PoplarMailbox *mbox = open_ok(f);
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 2);
  g_autoptr(GPtrArray) first = uidls_of(mbox);
  g_assert_cmpstr(g_ptr_array_index(first, 0), ==, "1700000000.M1P1.mx");
  const char *dup = g_ptr_array_index(first, 1);
  g_assert_cmpint(dup[0], ==, MAILDIR_UIDL_HASH_PREFIX);
  g_autofree char *text =
      read_message(mbox, poplar_mailbox_message(mbox, 1));
  g_assert_cmpstr(text, ==, "second\n");
  poplarpriv_mailbox_free(mbox);

  /* Next session, and a flag change (a rename) on the way: same UIDLs. */
  rename_in(f->cur, "1700000000.M1P1.mx:2,T", "1700000000.M1P1.mx:2,ST");
  mbox = open_ok(f);
  g_autoptr(GPtrArray) again = uidls_of(mbox);
  assert_same_strings(first, again);
  g_autofree char *text2 = read_message(mbox, find_uidl(mbox, dup));
  g_assert_cmpstr(text2, ==, "second\n");
  poplar_mailbox_message(mbox, 0)->deleted = true;
  g_assert_cmpint(f->store->ops.expunge(f->store->data, mbox), ==,
                  POPLAR_STORE_OK);
  poplarpriv_mailbox_free(mbox);
  g_assert_false(test_file_exists(f->cur, "1700000000.M1P1.mx:2,S"));
  g_assert_true(test_file_exists(f->cur, "1700000000.M1P1.mx:2,ST"));
  /* Alone now, it is listed still (under the plain unique part, see
   * README.md: it was downloaded under its own UIDL already). */
  mbox = open_ok(f);
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 1);
  g_autofree char *text3 =
      read_message(mbox, poplar_mailbox_message(mbox, 0));
  g_assert_cmpstr(text3, ==, "second\n");
  poplarpriv_mailbox_free(mbox);
}

static void test_new_name_too_long(Fixture *f, gconstpointer data)
{
  (void)data;
  /* 254 characters: with ":2," the name would pass NAME_MAX (255), so the
   * message cannot move to cur/; it is served from new/ all the same. */
  test_make_maildir(f->maildir);
  char name[255];
  memset(name, 'x', sizeof name - 1);
  memcpy(name, "1700000000.M1P1.", 16);
  name[254] = '\0';
  test_write_file(f->new_dir, name, "long\n", -1);
  for (int round = 0; round < 2; round++) {
    PoplarMailbox *mbox = open_ok(f);
    g_assert_true(test_file_exists(f->new_dir, name));
    g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 1);
    PoplarMessage *msg = poplar_mailbox_message(mbox, 0);
    g_autofree char *uidl = maildir_uidl_for_base(name);
    g_assert_cmpstr(poplar_message_uidl(msg), ==, uidl);
    g_assert_cmpuint(poplar_message_size(msg), ==, 6);
    g_autofree char *text = read_message(mbox, msg);
    g_assert_cmpstr(text, ==, "long\n");
    msg->deleted = true;
    if (round == 1)
      g_assert_cmpint(f->store->ops.expunge(f->store->data, mbox), ==,
                      POPLAR_STORE_OK);
    poplarpriv_mailbox_free(mbox);
  }
  g_assert_true(test_log_contains("left in new/"));
  g_assert_false(test_file_exists(f->new_dir, name));
}

static void test_uidl_stable(Fixture *f, gconstpointer data)
{
  (void)data;
  test_make_maildir(f->maildir);
  test_write_file(f->new_dir, "1700000000.M1P1.mx", "a\n", -1);
  test_write_file(f->cur, "1700000001.M1P1.mx:2,S", "b\n", -1);
  test_write_file(f->cur, "1700000002.M1P1.mx,S=2,W=3:2,", "c\n", -1);
  PoplarMailbox *mbox = open_ok(f);
  g_autoptr(GPtrArray) first = uidls_of(mbox);
  poplarpriv_mailbox_free(mbox);

  mbox = open_ok(f);
  g_autoptr(GPtrArray) second = uidls_of(mbox);
  poplarpriv_mailbox_free(mbox);
  assert_same_strings(first, second);

  /* Another program changes flags and rewrites size fields. */
  rename_in(f->cur, "1700000000.M1P1.mx:2,", "1700000000.M1P1.mx:2,RS");
  rename_in(f->cur, "1700000001.M1P1.mx:2,S",
            "1700000001.M1P1.mx,S=2,W=4:2,ST");
  rename_in(f->cur, "1700000002.M1P1.mx,S=2,W=3:2,",
            "1700000002.M1P1.mx:2,");
  /* And the store is loaded afresh, as after a restart. */
  poplarpriv_registry_free(f->registry);
  poplarpriv_config_free(f->config);
  g_assert_true(maildir_fixture_load(f, ""));
  mbox = open_ok(f);
  g_autoptr(GPtrArray) third = uidls_of(mbox);
  assert_same_strings(first, third);
  poplarpriv_mailbox_free(mbox);
}

static void test_odd_names(Fixture *f, gconstpointer data)
{
  (void)data;
  test_make_maildir(f->maildir);
  g_autofree char *long_a = g_strdup_printf("1700000000.M1P1.%s.a",
                                            "x123456789x123456789x123456789"
                                            "x123456789x123456789x12345");
  g_autofree char *long_b = g_strdup_printf("1700000000.M1P1.%s.b",
                                            "x123456789x123456789x123456789"
                                            "x123456789x123456789x12345");
  const char *names[] = {long_a, long_b, "1700000001.M1P1.my host:2,",
                         "1700000002.M1P1.h\xc3\xb6st:2,",
                         "1700000003.M1P1.~tilde:2,", "~7e:2,"};
  g_autofree char *cur_long_a = g_strconcat(long_a, ":2,S", NULL);
  g_autofree char *cur_long_b = g_strconcat(long_b, ":2,", NULL);
  test_write_file(f->cur, cur_long_a, "a\n", -1);
  test_write_file(f->cur, cur_long_b, "b\n", -1);
  for (size_t i = 2; i < G_N_ELEMENTS(names); i++)
    test_write_file(f->cur, names[i], "x\n", -1);

  PoplarMailbox *mbox = open_ok(f);
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==,
                   G_N_ELEMENTS(names));
  g_autoptr(GPtrArray) first = uidls_of(mbox);
  g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
  for (guint i = 0; i < first->len; i++) {
    const char *u = g_ptr_array_index(first, i);
    size_t len = strlen(u);
    g_assert_cmpuint(len, >=, 1);
    g_assert_cmpuint(len, <=, 70);
    for (size_t j = 0; j < len; j++) {
      g_assert_cmpint((unsigned char)u[j], >=, 0x21);
      g_assert_cmpint((unsigned char)u[j], <=, 0x7e);
    }
    g_assert_true(g_hash_table_add(seen, (gpointer)u));
  }
  poplarpriv_mailbox_free(mbox);

  /* The same after a flag change on the long ones. */
  g_autofree char *cur_long_a2 = g_strconcat(long_a, ":2,RS", NULL);
  rename_in(f->cur, cur_long_a, cur_long_a2);
  mbox = open_ok(f);
  g_autoptr(GPtrArray) second = uidls_of(mbox);
  assert_same_strings(first, second);
  poplarpriv_mailbox_free(mbox);
}

static void test_order(Fixture *f, gconstpointer data)
{
  (void)data;
  test_make_maildir(f->maildir);
  /* Written in an order unrelated to their delivery times. */
  test_write_file(f->cur, "1700000100.M5P1.mx:2,S", "5\n", -1);
  test_write_file(f->new_dir, "1700000050.M2P9.mx", "3\n", -1);
  test_write_file(f->cur, "1700000050.M10P1.mx:2,", "4\n", -1);
  test_write_file(f->cur, "1700000050.M1P1.mx:2,", "2\n", -1);
  test_write_file(f->new_dir, "1600000000.12345_1.old", "1\n", -1);
  test_write_file(f->cur, "1800000000.M0P1.mx:2,", "6\n", -1);

  for (int round = 0; round < 2; round++) {
    PoplarMailbox *mbox = open_ok(f);
    g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 6);
    for (size_t i = 0; i < 6; i++) {
      PoplarMessage *msg = poplar_mailbox_message(mbox, i);
      g_assert_cmpuint(poplar_message_number(msg), ==, i + 1);
      g_autofree char *text = read_message(mbox, msg);
      g_autofree char *expected = g_strdup_printf("%zu\n", i + 1);
      g_assert_cmpstr(text, ==, expected);
    }
    poplarpriv_mailbox_free(mbox);
  }
}

static void test_skips_non_messages(Fixture *f, gconstpointer data)
{
  (void)data;
  test_make_maildir(f->maildir);
  test_write_file(f->cur, "1700000000.M1P1.mx:2,", "msg\n", -1);
  test_write_file(f->cur, ".hidden", "not mail\n", -1);
  test_write_file(f->new_dir, ".partial", "not mail\n", -1);
  g_autofree char *sub = g_build_filename(f->cur, "1700000001.M1P1.dir",
                                          NULL);
  g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
  g_autofree char *link = g_build_filename(f->cur, "1700000002.M1P1.lnk",
                                           NULL);
  g_assert_cmpint(symlink("/etc/passwd", link), ==, 0);
  test_write_file(f->tmp, "outside", "secret\n", -1);
  PoplarMailbox *mbox = open_ok(f);
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 1);
  g_assert_cmpstr(poplar_message_uidl(poplar_mailbox_message(mbox, 0)), ==,
                  "1700000000.M1P1.mx");
  g_assert_true(test_file_exists(f->new_dir, ".partial"));
  poplarpriv_mailbox_free(mbox);
}

/* ---- sizes ----------------------------------------------------------- */

typedef struct SizeCase {
  const char *name;
  const char *content;
  uint64_t size;
  bool as_stored; /* the core sends the file unchanged */
} SizeCase;

static const SizeCase size_cases[] = {
    {"1700000001.M1P1.lf:2,", "a\nbc\n", 7, false},
    {"1700000002.M1P1.crlf:2,", "a\r\nbc\r\n", 7, true},
    {"1700000003.M1P1.nofinal:2,", "abc", 5, false},
    {"1700000004.M1P1.lfnofinal:2,", "a\nb", 6, false},
    {"1700000005.M1P1.mixed:2,", "a\r\nb\nc\r\n", 9, false},
    {"1700000006.M1P1.empty:2,", "", 0, true},
    {"1700000007.M1P1.cr:2,", "a\rb\n", 5, false},
    /* W= is the size as sent: trusted, the file is not read. */
    {"1700000008.M1P1.w,S=3,W=999:2,S", "abc", 999, false},
};

static void write_size_cases(Fixture *f)
{
  test_make_maildir(f->maildir);
  for (size_t i = 0; i < G_N_ELEMENTS(size_cases); i++)
    test_write_file(f->cur, size_cases[i].name, size_cases[i].content, -1);
}

static void assert_case_sizes(PoplarMailbox *mbox)
{
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==,
                   G_N_ELEMENTS(size_cases));
  for (size_t i = 0; i < G_N_ELEMENTS(size_cases); i++) {
    PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    g_autofree char *base = maildir_name_base(size_cases[i].name);
    g_assert_cmpstr(poplar_message_uidl(msg), ==, base);
    g_assert_cmpuint(poplar_message_size(msg), ==, size_cases[i].size);
    const MaildirMsg *m = poplar_message_get_data(msg);
    g_assert_cmpint(m->as_stored, ==, size_cases[i].as_stored);
  }
}

/* The size the core's encoder produces, counted here independently. */
static uint64_t sent_size(const char *text)
{
  uint64_t n = 0;
  size_t len = strlen(text);
  for (size_t i = 0; i < len; i++) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
      n++;
    n++;
  }
  if (len > 0 && text[len - 1] != '\n')
    n += 2;
  return n;
}

static void test_sizes(Fixture *f, gconstpointer data)
{
  (void)data;
  for (size_t i = 0; i + 1 < G_N_ELEMENTS(size_cases); i++)
    g_assert_cmpuint(sent_size(size_cases[i].content), ==,
                     size_cases[i].size);
  write_size_cases(f);
  PoplarMailbox *mbox = open_ok(f);
  assert_case_sizes(mbox);
  /* Every file without W= was read once, the W= one never. */
  g_assert_cmpuint(size_reads(mbox), ==, G_N_ELEMENTS(size_cases) - 1);
  poplarpriv_mailbox_free(mbox);
}

static void test_size_cache(Fixture *f, gconstpointer data)
{
  (void)data;
  write_size_cases(f);
  PoplarMailbox *mbox = open_ok(f);
  g_assert_cmpuint(size_reads(mbox), >, 0);
  poplarpriv_mailbox_free(mbox);
  g_assert_true(test_file_exists(f->maildir, MAILDIR_SIZE_CACHE_FILE));
  g_assert_false(test_file_exists(f->maildir, MAILDIR_SIZE_CACHE_TMP));

  /* The second session reads no message file... */
  mbox = open_ok(f);
  g_assert_cmpuint(size_reads(mbox), ==, 0);
  assert_case_sizes(mbox);
  poplarpriv_mailbox_free(mbox);

  /* ...which shows: a message rewritten behind the store's back (never
   * done to a Maildir message) keeps its cached size. */
  test_write_file(f->cur, size_cases[0].name, "much longer now\n", -1);
  mbox = open_ok(f);
  g_assert_cmpuint(size_reads(mbox), ==, 0);
  assert_case_sizes(mbox);
  poplarpriv_mailbox_free(mbox);

  /* A flag change does not lose the cached size either. */
  rename_in(f->cur, size_cases[1].name, "1700000002.M1P1.crlf:2,RS");
  mbox = open_ok(f);
  g_assert_cmpuint(size_reads(mbox), ==, 0);
  g_assert_cmpuint(poplar_message_size(poplar_mailbox_message(mbox, 1)), ==,
                   size_cases[1].size);
  poplarpriv_mailbox_free(mbox);
}

static void test_size_cache_new_message(Fixture *f, gconstpointer data)
{
  (void)data;
  write_size_cases(f);
  PoplarMailbox *mbox = open_ok(f);
  poplarpriv_mailbox_free(mbox);
  /* One new message: only that one is read. */
  test_write_file(f->new_dir, "1700000009.M1P1.late", "x\ny\n", -1);
  mbox = open_ok(f);
  g_assert_cmpuint(size_reads(mbox), ==, 1);
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==,
                   G_N_ELEMENTS(size_cases) + 1);
  g_assert_cmpuint(
      poplar_message_size(find_uidl(mbox, "1700000009.M1P1.late")), ==, 6);
  poplarpriv_mailbox_free(mbox);
  mbox = open_ok(f);
  g_assert_cmpuint(size_reads(mbox), ==, 0);
  poplarpriv_mailbox_free(mbox);
}

static void check_cache_rejected_len(Fixture *f, const char *cache_text,
                                     gssize len)
{
  test_write_file(f->maildir, MAILDIR_SIZE_CACHE_FILE, cache_text, len);
  test_log_clear();
  PoplarMailbox *mbox = open_ok(f);
  /* Ignored as a whole: every size counted again, and right. */
  g_assert_cmpuint(size_reads(mbox), ==, G_N_ELEMENTS(size_cases) - 1);
  assert_case_sizes(mbox);
  g_assert_true(test_log_contains("ignored and rebuilt"));
  poplarpriv_mailbox_free(mbox);
  /* And rewritten, so the next session trusts it again. */
  mbox = open_ok(f);
  g_assert_cmpuint(size_reads(mbox), ==, 0);
  assert_case_sizes(mbox);
  poplarpriv_mailbox_free(mbox);
}

static void check_cache_rejected(Fixture *f, const char *cache_text)
{
  check_cache_rejected_len(f, cache_text, -1);
}

static void test_size_cache_corrupt(Fixture *f, gconstpointer data)
{
  (void)data;
  write_size_cases(f);
  PoplarMailbox *mbox = open_ok(f);
  poplarpriv_mailbox_free(mbox);
  g_autofree char *path = g_build_filename(f->maildir,
                                           MAILDIR_SIZE_CACHE_FILE, NULL);
  g_autofree char *good = NULL;
  g_assert_true(g_file_get_contents(path, &good, NULL, NULL));
  g_assert_true(g_str_has_prefix(good, "poplar-sizes 2\n"));

  /* Wrong sizes that parse are the one thing it cannot detect; these are
   * what a damaged or foreign file looks like. */
  check_cache_rejected(f, "");
  check_cache_rejected(f, "garbage\n");
  check_cache_rejected(f, "poplar-sizes 3\n~end 0\n");
  /* Version 2 entries need their flags. */
  check_cache_rejected(f, "poplar-sizes 2\n1700000001.M1P1.lf 5\n~end 1\n");
  check_cache_rejected(f, "poplar-sizes 2\n1700000001.M1P1.lf 5 \n~end 1\n");
  check_cache_rejected(f, "poplar-sizes 2\n1700000001.M1P1.lf 5 S\n~end 1\n");
  check_cache_rejected(f, "poplar-sizes 2\n1700000001.M1P1.lf 5 s x\n"
                          "~end 1\n");
  /* Cut short: the last line is missing. */
  g_autofree char *cut = g_strndup(good, strlen(good) - 3);
  check_cache_rejected(f, cut);
  g_autofree char *no_trailer = g_strndup(good, strstr(good, "~end") - good);
  check_cache_rejected(f, no_trailer);
  /* A count that does not match. */
  g_autofree char *recount = g_strdup_printf(
      "poplar-sizes 1\n1700000001.M1P1.lf 1\n1700000002.M1P1.crlf 1\n~end "
      "3\n");
  check_cache_rejected(f, recount);
  check_cache_rejected(f, "poplar-sizes 1\n1700000001.M1P1.lf x\n~end 1\n");
  check_cache_rejected(f, "poplar-sizes 1\n1700000001.M1P1.lf 1\n"
                          "1700000001.M1P1.lf 1\n~end 2\n");
  check_cache_rejected(f, "poplar-sizes 1\n\n~end 0\n");
  check_cache_rejected(f, "poplar-sizes 1\n~end 0\nextra 1\n");
  check_cache_rejected(f, "poplar-sizes 1\n1700000001.M1P1.lf -1\n~end 1\n");
  static const char nul[] = "poplar-sizes 1\n1700000001.M1P1.lf 5\0junk 1\n"
                            "~end 1\n";
  check_cache_rejected_len(f, nul, sizeof nul - 1);
  /* Binary data, and an entry with a blank in its UIDL. */
  static const char binary[] = "poplar-sizes 1\n\x01\x02 5\n~end 1\n";
  check_cache_rejected(f, binary);

  /* A directory where the cache belongs. */
  g_assert_cmpint(unlink(path), ==, 0);
  g_assert_cmpint(g_mkdir(path, 0700), ==, 0);
  mbox = open_ok(f);
  assert_case_sizes(mbox);
  g_assert_true(test_log_contains("sizes not cached"));
  poplarpriv_mailbox_free(mbox);
  g_assert_cmpint(rmdir(path), ==, 0);
}

static void test_size_cache_other_names(Fixture *f, gconstpointer data)
{
  (void)data;
  test_make_maildir(f->maildir);
  test_write_file(f->cur, "1700000001.M1P1.mine:2,", "abc\n", -1);
  /* A valid cache that knows only other messages. */
  test_write_file(f->maildir, MAILDIR_SIZE_CACHE_FILE,
                  "poplar-sizes 1\n1700000001.M1P1.other 12345\n"
                  "1700000001.M1P1.min 777\n~end 2\n", -1);
  PoplarMailbox *mbox = open_ok(f);
  g_assert_cmpuint(size_reads(mbox), ==, 1);
  g_assert_cmpuint(poplar_message_size(poplar_mailbox_message(mbox, 0)), ==,
                   5);
  poplarpriv_mailbox_free(mbox);
  /* Entries for messages that are gone are dropped when it is rewritten. */
  g_autofree char *path = g_build_filename(f->maildir,
                                           MAILDIR_SIZE_CACHE_FILE, NULL);
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  g_assert_cmpstr(text, ==,
                  "poplar-sizes 2\n1700000001.M1P1.mine 5 -\n~end 1\n");
}

static void test_size_cache_off(Fixture *f, gconstpointer data)
{
  (void)data;
  write_size_cases(f);
  for (int i = 0; i < 2; i++) {
    PoplarMailbox *mbox = open_ok(f);
    g_assert_cmpuint(size_reads(mbox), ==, G_N_ELEMENTS(size_cases) - 1);
    assert_case_sizes(mbox);
    poplarpriv_mailbox_free(mbox);
  }
  g_assert_false(test_file_exists(f->maildir, MAILDIR_SIZE_CACHE_FILE));
}

/* A cache written before sendfile support: its sizes are used, its
 * messages are not offered for sendfile, and it is rewritten in the new
 * format, keeping what it knew. */
static void test_size_cache_v1(Fixture *f, gconstpointer data)
{
  (void)data;
  test_make_maildir(f->maildir);
  test_write_file(f->cur, "1700000001.M1P1.crlf:2,", "a\r\n", -1);
  test_write_file(f->maildir, MAILDIR_SIZE_CACHE_FILE,
                  "poplar-sizes 1\n1700000001.M1P1.crlf 3\n~end 1\n", -1);
  PoplarMailbox *mbox = open_ok(f);
  g_assert_cmpuint(size_reads(mbox), ==, 0);
  PoplarMessage *msg = poplar_mailbox_message(mbox, 0);
  g_assert_cmpuint(poplar_message_size(msg), ==, 3);
  g_assert_false(((MaildirMsg *)poplar_message_get_data(msg))->as_stored);
  poplarpriv_mailbox_free(mbox);
  g_autofree char *path = g_build_filename(f->maildir,
                                           MAILDIR_SIZE_CACHE_FILE, NULL);
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  g_assert_cmpstr(text, ==,
                  "poplar-sizes 2\n1700000001.M1P1.crlf 3 -\n~end 1\n");
  /* Unknown flag letters are a later version's business: ignored. */
  test_write_file(f->maildir, MAILDIR_SIZE_CACHE_FILE,
                  "poplar-sizes 2\n1700000001.M1P1.crlf 3 zs\n~end 1\n", -1);
  mbox = open_ok(f);
  g_assert_cmpuint(size_reads(mbox), ==, 0);
  msg = poplar_mailbox_message(mbox, 0);
  g_assert_true(((MaildirMsg *)poplar_message_get_data(msg))->as_stored);
  poplarpriv_mailbox_free(mbox);
}

/* Opens @msg as RETR does on a plain connection. */
static void *open_for_sendfile(PoplarMailbox *mbox, PoplarMessage *msg,
                               PoplarFileRange *range)
{
  void *stream = NULL;
  g_assert_cmpint(poplarpriv_store_message_open_fd(mbox, msg, &stream, range),
                  ==, POPLAR_STORE_OK);
  g_assert_nonnull(stream);
  return stream;
}

static void test_open_fd(Fixture *f, gconstpointer data)
{
  (void)data;
  static const char clean[] = "Subject: x\r\n\r\nbody.\r\n";
  test_make_maildir(f->maildir);
  test_write_file(f->cur, "1700000001.M1P1.clean:2,", clean, -1);
  test_write_file(f->cur, "1700000002.M1P1.lf:2,", "a\nb\n", -1);
  test_write_file(f->cur, "1700000003.M1P1.dot:2,", "a\r\n.b\r\n", -1);
  /* Clean too, but its size comes from the name: never read, never
   * offered. */
  test_write_file(f->cur, "1700000004.M1P1.w,W=3:2,", "a\r\n", -1);
  PoplarMailbox *mbox = open_ok(f);
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 4);

  PoplarFileRange range;
  PoplarMessage *msg = poplar_mailbox_message(mbox, 0);
  void *stream = open_for_sendfile(mbox, msg, &range);
  g_assert_cmpint(range.fd, >=, 0);
  g_assert_cmpuint(range.offset, ==, 0);
  g_assert_cmpuint(range.length, ==, strlen(clean));
  g_assert_cmpuint(range.length, ==, poplar_message_size(msg));
  char buf[64];
  g_assert_cmpint(pread(range.fd, buf, sizeof buf, (off_t)range.offset), ==,
                  (ssize_t)strlen(clean));
  g_assert_cmpmem(buf, strlen(clean), clean, strlen(clean));
  poplarpriv_store_message_close(mbox, stream);

  for (size_t i = 1; i < 4; i++) {
    msg = poplar_mailbox_message(mbox, i);
    stream = open_for_sendfile(mbox, msg, &range);
    g_assert_cmpint(range.fd, ==, -1);
    /* Declined: the stream reads as message_open's would. */
    g_assert_cmpint(poplarpriv_store_message_read(mbox, msg, stream, buf,
                                                  sizeof buf), >, 0);
    poplarpriv_store_message_close(mbox, stream);
  }

  /* A file changed by hand since it was counted is read, not sent with a
   * length that no longer holds. */
  test_write_file(f->cur, "1700000001.M1P1.clean:2,", "Subject: y\r\n\r\n",
                  -1);
  msg = poplar_mailbox_message(mbox, 0);
  stream = open_for_sendfile(mbox, msg, &range);
  g_assert_cmpint(range.fd, ==, -1);
  poplarpriv_store_message_close(mbox, stream);
  poplarpriv_mailbox_free(mbox);
}

static void test_many_messages(Fixture *f, gconstpointer data)
{
  (void)data;
  enum { N = 10000 };
  test_make_maildir(f->maildir);
  for (int i = 0; i < N; i++) {
    g_autofree char *name =
        g_strdup_printf("%d.M%dP1.mx:2,S", 1700000000 + (N - i) / 3, i % 7);
    g_autofree char *body = g_strdup_printf("Subject: %d\n\nbody\n", i);
    test_write_file(f->cur, name, body, -1);
  }
  gint64 t0 = g_get_monotonic_time();
  PoplarMailbox *mbox = open_ok(f);
  gint64 t1 = g_get_monotonic_time();
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, N);
  g_assert_cmpuint(size_reads(mbox), ==, N);
  g_autoptr(GPtrArray) first = uidls_of(mbox);
  poplarpriv_mailbox_free(mbox);

  gint64 t2 = g_get_monotonic_time();
  mbox = open_ok(f);
  gint64 t3 = g_get_monotonic_time();
  g_assert_cmpuint(size_reads(mbox), ==, 0);
  g_autoptr(GPtrArray) second = uidls_of(mbox);
  assert_same_strings(first, second);
  uint64_t prev_seconds = 0;
  for (size_t i = 0; i < N; i++) {
    PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    MaildirMsg *m = poplar_message_get_data(msg);
    g_assert_cmpuint(m->seconds, >=, prev_seconds);
    prev_seconds = m->seconds;
    g_autofree char *path = g_build_filename(f->cur, m->file, NULL);
    g_autofree char *body = NULL;
    g_assert_true(g_file_get_contents(path, &body, NULL, NULL));
    g_assert_cmpuint(poplar_message_size(msg), ==, sent_size(body));
  }
  poplarpriv_mailbox_free(mbox);
  g_test_message("%d messages: first open %" G_GINT64_FORMAT " ms, second "
                 "%" G_GINT64_FORMAT " ms", N, (t1 - t0) / 1000,
                 (t3 - t2) / 1000);
}

/* ---- reading --------------------------------------------------------- */

static void test_read_after_rename(Fixture *f, gconstpointer data)
{
  (void)data;
  test_make_maildir(f->maildir);
  test_write_file(f->cur, "1700000001.M1P1.a:2,", "first\n", -1);
  test_write_file(f->cur, "1700000002.M1P1.b:2,", "second\n", -1);
  PoplarMailbox *mbox = open_ok(f);
  /* An IMAP client marks both as seen during the POP3 session; one is
   * even moved back to new/. */
  rename_in(f->cur, "1700000001.M1P1.a:2,", "1700000001.M1P1.a:2,S");
  g_autofree char *from = g_build_filename(f->cur, "1700000002.M1P1.b:2,",
                                           NULL);
  g_autofree char *to = g_build_filename(f->new_dir, "1700000002.M1P1.b",
                                         NULL);
  g_assert_cmpint(rename(from, to), ==, 0);
  g_autofree char *a = read_message(mbox, poplar_mailbox_message(mbox, 0));
  g_assert_cmpstr(a, ==, "first\n");
  g_autofree char *b = read_message(mbox, poplar_mailbox_message(mbox, 1));
  g_assert_cmpstr(b, ==, "second\n");
  poplarpriv_mailbox_free(mbox);
}

static void test_read_gone(Fixture *f, gconstpointer data)
{
  (void)data;
  test_make_maildir(f->maildir);
  test_write_file(f->cur, "1700000001.M1P1.a:2,", "first\n", -1);
  test_write_file(f->cur, "1700000002.M1P1.b:2,", "second\n", -1);
  PoplarMailbox *mbox = open_ok(f);
  g_autofree char *path = g_build_filename(f->cur, "1700000001.M1P1.a:2,",
                                           NULL);
  g_assert_cmpint(unlink(path), ==, 0);
  void *stream = NULL;
  PoplarStoreResult r = f->store->ops.message_open(
      f->store->data, mbox, poplar_mailbox_message(mbox, 0), &stream);
  g_assert_cmpint(r, ==, POPLAR_STORE_GONE);
  g_assert_null(stream);
  g_assert_nonnull(strstr(mbox->error, "1700000001.M1P1.a"));
  poplarpriv_mailbox_clear_error(mbox);
  /* The session goes on. */
  g_autofree char *b = read_message(mbox, poplar_mailbox_message(mbox, 1));
  g_assert_cmpstr(b, ==, "second\n");
  poplarpriv_mailbox_free(mbox);
}

static void test_read_large(Fixture *f, gconstpointer data)
{
  (void)data;
  test_make_maildir(f->maildir);
  GString *big = g_string_new(NULL);
  for (int i = 0; i < 20000; i++)
    g_string_append_printf(big, "line %d of a large message\n", i);
  test_write_file(f->cur, "1700000001.M1P1.big:2,", big->str,
                  (gssize)big->len);
  PoplarMailbox *mbox = open_ok(f);
  PoplarMessage *msg = poplar_mailbox_message(mbox, 0);
  g_assert_cmpuint(poplar_message_size(msg), ==, big->len + 20000);
  void *stream = NULL;
  g_assert_cmpint(f->store->ops.message_open(f->store->data, mbox, msg,
                                             &stream), ==, POPLAR_STORE_OK);
  GString *got = g_string_new(NULL);
  char buf[65536];
  int64_t n;
  while ((n = f->store->ops.message_read(f->store->data, stream, buf,
                                         sizeof buf)) > 0)
    g_string_append_len(got, buf, (gssize)n);
  g_assert_cmpint(n, ==, 0);
  f->store->ops.message_close(f->store->data, stream);
  g_assert_cmpuint(got->len, ==, big->len);
  g_assert_true(memcmp(got->str, big->str, big->len) == 0);
  g_string_free(got, TRUE);
  g_string_free(big, TRUE);
  poplarpriv_mailbox_free(mbox);
}

/* ---- expunge --------------------------------------------------------- */

static void test_expunge(Fixture *f, gconstpointer data)
{
  (void)data;
  test_make_maildir(f->maildir);
  test_write_file(f->cur, "1700000001.M1P1.a:2,", "1\n", -1);
  test_write_file(f->cur, "1700000002.M1P1.b:2,", "2\n", -1);
  test_write_file(f->cur, "1700000003.M1P1.c:2,", "3\n", -1);
  test_write_file(f->cur, "1700000004.M1P1.d:2,", "4\n", -1);
  test_write_file(f->cur, "1700000005.M1P1.e:2,", "5\n", -1);
  PoplarMailbox *mbox = open_ok(f);
  /* DELE 1, 2, 4 and 5 */
  poplar_mailbox_message(mbox, 0)->deleted = true;
  poplar_mailbox_message(mbox, 1)->deleted = true;
  poplar_mailbox_message(mbox, 3)->deleted = true;
  poplar_mailbox_message(mbox, 4)->deleted = true;
  /* Meanwhile another program renames 2 and 3 and removes 4. */
  rename_in(f->cur, "1700000002.M1P1.b:2,", "1700000002.M1P1.b:2,S");
  rename_in(f->cur, "1700000003.M1P1.c:2,", "1700000003.M1P1.c:2,S");
  g_autofree char *d = g_build_filename(f->cur, "1700000004.M1P1.d:2,",
                                        NULL);
  g_assert_cmpint(unlink(d), ==, 0);
  PoplarStoreResult r = f->store->ops.expunge(f->store->data, mbox);
  g_assert_cmpint(r, ==, POPLAR_STORE_OK);
  g_assert_null(mbox->error);
  /* Reported removed: the renamed ones and the one already gone too. */
  for (size_t i = 0; i < 5; i++)
    g_assert_cmpint(poplar_message_is_expunged(poplar_mailbox_message(mbox, i)),
                    ==, i != 2);
  poplarpriv_mailbox_free(mbox);
  g_autoptr(GPtrArray) left = test_list_dir(f->cur);
  g_assert_cmpuint(left->len, ==, 1);
  g_assert_cmpstr(g_ptr_array_index(left, 0), ==, "1700000003.M1P1.c:2,S");

  /* Nothing deleted: nothing removed. */
  mbox = open_ok(f);
  g_assert_cmpint(f->store->ops.expunge(f->store->data, mbox), ==,
                  POPLAR_STORE_OK);
  poplarpriv_mailbox_free(mbox);
  g_autoptr(GPtrArray) still = test_list_dir(f->cur);
  g_assert_cmpuint(still->len, ==, 1);
}

static void test_expunge_failure(Fixture *f, gconstpointer data)
{
  (void)data;
  test_make_maildir(f->maildir);
  test_write_file(f->cur, "1700000001.M1P1.a:2,", "1\n", -1);
  test_write_file(f->cur, "1700000002.M1P1.b:2,", "2\n", -1);
  test_write_file(f->cur, "1700000003.M1P1.c:2,", "3\n", -1);
  PoplarMailbox *mbox = open_ok(f);
  for (size_t i = 0; i < 3; i++)
    poplar_mailbox_message(mbox, i)->deleted = true;
  /* The first one can no longer be unlinked: it became a directory. */
  g_autofree char *a = g_build_filename(f->cur, "1700000001.M1P1.a:2,",
                                        NULL);
  g_assert_cmpint(unlink(a), ==, 0);
  g_assert_cmpint(g_mkdir(a, 0700), ==, 0);
  /* As the core calls it: the partial failure is reported as it is. */
  unsigned removed = 0;
  uint64_t octets = 0;
  test_log_clear();
  PoplarStoreResult r = poplarpriv_store_expunge(mbox, &removed, &octets);
  g_assert_cmpint(r, ==, POPLAR_STORE_TEMPFAIL);
  g_assert_null(mbox->error); /* logged and cleared */
  g_assert_true(test_log_contains("expunge of 3 messages failed, 2 removed"));
  g_assert_true(test_log_contains("1700000001.M1P1.a"));
  g_assert_cmpuint(removed, ==, 2);
  g_assert_cmpuint(octets, ==, 6);
  g_assert_false(poplar_message_is_expunged(poplar_mailbox_message(mbox, 0)));
  g_assert_true(poplar_message_is_expunged(poplar_mailbox_message(mbox, 1)));
  g_assert_true(poplar_message_is_expunged(poplar_mailbox_message(mbox, 2)));
  poplarpriv_mailbox_free(mbox);
  /* The others were removed all the same. */
  g_autoptr(GPtrArray) left = test_list_dir(f->cur);
  g_assert_cmpuint(left->len, ==, 1);
  g_assert_cmpstr(g_ptr_array_index(left, 0), ==, "1700000001.M1P1.a:2,");
}

/* ---- the lock -------------------------------------------------------- */

static void test_lock_in_use(Fixture *f, gconstpointer data)
{
  (void)data;
  test_make_maildir(f->maildir);
  PoplarMailbox *first = open_ok(f);
  g_assert_true(test_file_exists(f->maildir, MAILDIR_LOCK_FILE));

  PoplarSession other = {0};
  g_strlcpy(other.id, "s2", sizeof other.id);
  PoplarStoreResult r;
  PoplarMailbox *second = open_at(f, &other, f->maildir, &r);
  g_assert_cmpint(r, ==, POPLAR_STORE_IN_USE);
  g_assert_nonnull(strstr(f->open_error, "locked"));
  poplarpriv_mailbox_free(second);

  poplarpriv_mailbox_free(first);
  g_assert_false(test_file_exists(f->maildir, MAILDIR_LOCK_FILE));
  second = open_at(f, &other, f->maildir, &r);
  g_assert_cmpint(r, ==, POPLAR_STORE_OK);
  poplarpriv_mailbox_free(second);
  g_assert_false(test_file_exists(f->maildir, MAILDIR_LOCK_FILE));
}

static void test_not_a_maildir(Fixture *f, gconstpointer data)
{
  (void)data;
  test_make_maildir(f->maildir);
  /* A file where new/ belongs: refused, nothing locked or created. */
  g_assert_cmpint(rmdir(f->new_dir), ==, 0);
  test_write_file(f->maildir, "new", "a file\n", -1);
  g_autofree char *e = open_fails(f, f->maildir, POPLAR_STORE_PERMFAIL);
  g_assert_nonnull(strstr(e, "new"));
  g_assert_false(test_file_exists(f->maildir, MAILDIR_LOCK_FILE));
}

static void test_lock_crashed_server(Fixture *f, gconstpointer data)
{
  (void)data;
  test_make_maildir(f->maildir);
  test_write_file(f->cur, "1700000001.M1P1.a:2,", "1\n", -1);
  /* A server process opens the mailbox and is killed. */
  pid_t pid = fork();
  g_assert_cmpint(pid, >=, 0);
  if (pid == 0) {
    PoplarStoreResult r;
    open_at(f, &f->session, f->maildir, &r);
    if (r == POPLAR_STORE_OK)
      kill(getpid(), SIGKILL);
    _exit(1);
  }
  int status;
  g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
  g_assert_true(WIFSIGNALED(status));
  g_assert_true(test_file_exists(f->maildir, MAILDIR_LOCK_FILE));
  /* The next login gets the mailbox at once, not [IN-USE]. */
  PoplarMailbox *mbox = open_ok(f);
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 1);
  g_assert_true(test_log_contains("removed a stale lock"));
  poplarpriv_mailbox_free(mbox);
}

static void test_lock_refreshed(Fixture *f, gconstpointer data)
{
  (void)data;
  /* lock-timeout = 2s: refreshed every half second. */
  test_make_maildir(f->maildir);
  PoplarMailbox *mbox = open_ok(f);
  g_autofree char *lock = g_build_filename(f->maildir, MAILDIR_LOCK_FILE,
                                           NULL);
  test_age_file(lock, 3600);
  gboolean fresh = FALSE;
  for (int i = 0; i < 150 && !fresh; i++) {
    g_usleep(20 * 1000);
    fresh = test_file_age(lock) < 5;
  }
  g_assert_true(fresh);
  /* A session idle for longer than lock-timeout keeps its mailbox. */
  g_usleep(2500 * 1000);
  PoplarSession other = {0};
  g_strlcpy(other.id, "s2", sizeof other.id);
  PoplarStoreResult r;
  PoplarMailbox *second = open_at(f, &other, f->maildir, &r);
  g_assert_cmpint(r, ==, POPLAR_STORE_IN_USE);
  poplarpriv_mailbox_free(second);
  poplarpriv_mailbox_free(mbox);
}

typedef struct ThreadArgs {
  Fixture *f;
  const char *location;
  gint *holders;
  gint *max_holders;
  gint *opened;
  int index;
} ThreadArgs;

static gpointer open_close_loop(gpointer data)
{
  ThreadArgs *a = data;
  PoplarSession s = {0};
  g_snprintf(s.id, sizeof s.id, "t%d", a->index);
  for (int i = 0; i < 40; i++) {
    PoplarStoreResult r;
    PoplarMailbox *mbox = open_at(a->f, &s, a->location, &r);
    if (r == POPLAR_STORE_OK) {
      gint now = g_atomic_int_add(a->holders, 1) + 1;
      gint max = g_atomic_int_get(a->max_holders);
      while (now > max &&
             !g_atomic_int_compare_and_exchange(a->max_holders, max, now))
        max = g_atomic_int_get(a->max_holders);
      g_atomic_int_inc(a->opened);
      g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 3);
      g_usleep(200);
      g_atomic_int_add(a->holders, -1);
    } else {
      g_assert_cmpint(r, ==, POPLAR_STORE_IN_USE);
    }
    poplarpriv_mailbox_free(mbox);
  }
  return NULL;
}

static void run_threads(Fixture *f, const char *const *locations,
                        int n_threads, gint *max_holders, gint *opened)
{
  gint holders[8] = {0};
  ThreadArgs args[8];
  GThread *threads[8];
  g_assert_cmpint(n_threads, <=, 8);
  for (int i = 0; i < n_threads; i++) {
    args[i] = (ThreadArgs){f, locations[i], &holders[locations[i] ==
                                                     locations[0] ? 0 : i],
                           max_holders, opened, i};
    threads[i] = g_thread_new("opener", open_close_loop, &args[i]);
  }
  for (int i = 0; i < n_threads; i++)
    g_thread_join(threads[i]);
}

static void test_lock_threads(Fixture *f, gconstpointer data)
{
  (void)data;
  test_make_maildir(f->maildir);
  for (int i = 0; i < 3; i++) {
    g_autofree char *name = g_strdup_printf("17000000%02d.M1P1.t", i);
    test_write_file(f->new_dir, name, "x\n", -1);
  }
  /* Six sessions race for one mailbox: never two at once. */
  const char *same[6];
  for (int i = 0; i < 6; i++)
    same[i] = f->maildir;
  gint max_holders = 0, opened = 0;
  run_threads(f, same, 6, &max_holders, &opened);
  g_assert_cmpint(max_holders, ==, 1);
  g_assert_cmpint(opened, >, 0);
  g_assert_false(test_file_exists(f->maildir, MAILDIR_LOCK_FILE));

  /* Sessions on different mailboxes never get in each other's way. */
  char *paths[4];
  for (int i = 0; i < 4; i++) {
    paths[i] = g_strdup_printf("%s/user%d", f->tmp, i);
    test_make_maildir(paths[i]);
    for (int j = 0; j < 3; j++) {
      g_autofree char *dir = g_build_filename(paths[i], "new", NULL);
      g_autofree char *name = g_strdup_printf("17000000%02d.M1P1.t", j);
      test_write_file(dir, name, "x\n", -1);
    }
  }
  max_holders = 0;
  opened = 0;
  run_threads(f, (const char *const *)paths, 4, &max_holders, &opened);
  g_assert_cmpint(opened, ==, 4 * 40);
  for (int i = 0; i < 4; i++)
    g_free(paths[i]);
}

/* ---- descriptors ----------------------------------------------------- */

static void make_two_messages(Fixture *f)
{
  test_make_maildir(f->maildir);
  test_write_file(f->new_dir, "1700000001.M1P1.a", "first\n", -1);
  test_write_file(f->cur, "1700000002.M1P1.b:2,", "second\n", -1);
}

static unsigned lock_files_in(const char *maildir)
{
  g_autoptr(GPtrArray) names = test_list_dir(maildir);
  unsigned n = 0;
  for (guint i = 0; i < names->len; i++)
    n += g_str_has_prefix(g_ptr_array_index(names, i), MAILDIR_LOCK_FILE);
  return n;
}

static void test_idle_mailbox_holds_one_descriptor(Fixture *f,
                                                   gconstpointer data)
{
  (void)data;
  make_two_messages(f);
  /* Whatever a process opens once and keeps (a random source) is open
   * after this. */
  poplarpriv_mailbox_free(open_ok(f));
  unsigned before = test_open_fds();
  PoplarMailbox *mbox = open_ok(f);
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 2);
  /* The Maildir's own, and nothing for the lock, cur/ or new/. */
  g_assert_cmpuint(test_open_fds(), ==, before + 1);

  PoplarMessageReader *reader =
      poplar_message_reader_open(mbox, poplar_mailbox_message(mbox, 0));
  g_assert_nonnull(reader);
  g_assert_cmpuint(test_open_fds(), ==, before + 2); /* the message */
  poplar_message_reader_close(reader);
  g_assert_cmpuint(test_open_fds(), ==, before + 1);

  /* Found again after a rename, with cur/ and new/ opened for the search
   * and closed again. */
  rename_in(f->cur, "1700000002.M1P1.b:2,", "1700000002.M1P1.b:2,S");
  g_autofree char *text =
      read_message(mbox, poplar_mailbox_message(mbox, 1));
  g_assert_cmpstr(text, ==, "second\n");
  g_assert_cmpuint(test_open_fds(), ==, before + 1);

  poplar_mailbox_message(mbox, 0)->deleted = true;
  g_assert_cmpint(f->store->ops.expunge(f->store->data, mbox), ==,
                  POPLAR_STORE_OK);
  g_assert_cmpuint(test_open_fds(), ==, before + 1);
  poplarpriv_mailbox_free(mbox);
  g_assert_cmpuint(test_open_fds(), ==, before);
  g_assert_cmpuint(lock_files_in(f->maildir), ==, 0);
}

static void test_out_of_descriptors(Fixture *f, gconstpointer data)
{
  (void)data;
  make_two_messages(f);
  /* From no descriptor free to enough: each login either works, listing
   * every message, or fails with TEMPFAIL; and whatever it came to, the
   * session ending while the process is still short of descriptors leaves
   * no lock behind. */
  bool opened = false;
  for (unsigned keep_free = 0; keep_free <= 8; keep_free++) {
    PoplarStoreResult r;
    TestFdHog *hog = test_fds_hog(keep_free);
    PoplarMailbox *mbox = open_at(f, &f->session, f->maildir, &r);
    g_autofree char *why =
        g_strdup(r == POPLAR_STORE_OK ? NULL : f->open_error);
    unsigned listed = (unsigned)poplar_mailbox_message_count(mbox);
    poplarpriv_mailbox_free(mbox);
    test_fds_give_back(hog);
    if (r == POPLAR_STORE_OK) {
      g_assert_cmpuint(listed, ==, 2);
      opened = true;
    } else {
      g_assert_cmpint(r, ==, POPLAR_STORE_TEMPFAIL);
      g_assert_nonnull(strstr(why, g_strerror(EMFILE)));
    }
    if (keep_free == 0)
      g_assert_cmpint(r, ==, POPLAR_STORE_TEMPFAIL);
    g_assert_cmpuint(lock_files_in(f->maildir), ==, 0);
    g_assert_false(test_log_contains("lock not removed"));
  }
  g_assert_true(opened);
  PoplarMailbox *mbox = open_ok(f);
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 2);
  poplarpriv_mailbox_free(mbox);
}

static void test_reads_out_of_descriptors(Fixture *f, gconstpointer data)
{
  (void)data;
  make_two_messages(f);
  PoplarMailbox *mbox = open_ok(f);
  PoplarMessage *msg = poplar_mailbox_message(mbox, 0);
  void *stream = NULL;
  TestFdHog *hog = test_fds_hog(0);
  PoplarStoreResult r = f->store->ops.message_open(f->store->data, mbox, msg,
                                                   &stream);
  msg->deleted = true;
  PoplarStoreResult x = f->store->ops.expunge(f->store->data, mbox);
  test_fds_give_back(hog);
  /* A fault of the moment, and nothing removed. */
  g_assert_cmpint(r, ==, POPLAR_STORE_TEMPFAIL);
  g_assert_null(stream);
  g_assert_cmpint(x, ==, POPLAR_STORE_TEMPFAIL);
  g_autoptr(GPtrArray) kept = test_list_dir(f->cur);
  g_assert_cmpuint(kept->len, ==, 2);
  g_autofree char *text = read_message(mbox, msg);
  g_assert_cmpstr(text, ==, "first\n");
  poplarpriv_mailbox_free(mbox);
}

static void test_subdir_symlink_refused(Fixture *f, gconstpointer data)
{
  (void)data;
  /* cur/ pointing elsewhere would lead reads and removals out of the
   * Maildir that was locked. */
  make_two_messages(f);
  g_autofree char *elsewhere = g_build_filename(f->tmp, "elsewhere", NULL);
  test_make_maildir(elsewhere);
  g_autofree char *their_cur = g_build_filename(elsewhere, "cur", NULL);
  test_write_file(their_cur, "1700000009.M1P1.x:2,", "not yours\n", -1);
  test_remove_tree(f->cur);
  g_assert_cmpint(symlink(their_cur, f->cur), ==, 0);
  g_autofree char *e = open_fails(f, f->maildir, POPLAR_STORE_PERMFAIL);
  g_assert_nonnull(strstr(e, "cur"));
  g_assert_cmpuint(lock_files_in(f->maildir), ==, 0);
}

/* Links planted after the listing, where a message was: neither a link
 * for the message file nor cur/ made a link to another directory is
 * followed by a read, with openat2() and with the per-component walk. */
static void test_read_follows_no_planted_link(Fixture *f, gconstpointer data)
{
  (void)data;
  for (int walk = 0; walk < 2; walk++) {
    store_path_set_openat2(walk == 0);
    make_two_messages(f);
    g_autofree char *secret = g_build_filename(f->tmp, "secret", NULL);
    test_write_file(f->tmp, "secret", "not yours\n", -1);
    PoplarMailbox *mbox = open_ok(f);
    PoplarMessage *in_cur = find_uidl(mbox, "1700000002.M1P1.b");
    g_assert_nonnull(in_cur);

    /* The file itself */
    g_autofree char *file = g_build_filename(f->cur, "1700000002.M1P1.b:2,",
                                             NULL);
    g_assert_cmpint(unlink(file), ==, 0);
    g_assert_cmpint(symlink(secret, file), ==, 0);
    g_assert_null(poplar_message_reader_open(mbox, in_cur));
    g_autofree char *said = test_log_last_with("1700000002.M1P1.b");
    g_assert_nonnull(said);
    g_assert_null(strstr(said, "not yours"));

    /* cur/ itself, pointing at a directory with a file of that name */
    g_autofree char *elsewhere = g_build_filename(f->tmp, "elsewhere", NULL);
    g_assert_cmpint(g_mkdir(elsewhere, 0700), ==, 0);
    test_write_file(elsewhere, "1700000002.M1P1.b:2,", "not yours\n", -1);
    test_remove_tree(f->cur);
    g_assert_cmpint(symlink(elsewhere, f->cur), ==, 0);
    g_assert_null(poplar_message_reader_open(mbox, in_cur));

    poplarpriv_mailbox_free(mbox);
    g_assert_cmpint(unlink(f->cur), ==, 0);
    test_remove_tree(elsewhere);
    test_remove_tree(f->maildir);
    g_assert_cmpint(unlink(secret), ==, 0);
  }
  store_path_set_openat2(true);
}

/* ~/Maildir made a link to somebody else's Maildir, in a directory the
 * user can write: refused, and nothing of theirs is touched. */
static void test_root_symlink_refused(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *theirs = g_build_filename(f->tmp, "theirs", NULL);
  test_make_maildir(theirs);
  g_autofree char *their_new = g_build_filename(theirs, "new", NULL);
  test_write_file(their_new, "1700000009.M1P1.x", "not yours\n", -1);
  g_assert_cmpint(chmod(f->tmp, 0777), ==, 0);
  g_assert_cmpint(symlink(theirs, f->maildir), ==, 0);
  g_autofree char *e = open_fails(f, f->maildir, POPLAR_STORE_PERMFAIL);
  g_assert_nonnull(strstr(e, "symbolic link"));
  g_assert_true(test_file_exists(their_new, "1700000009.M1P1.x"));
  g_assert_cmpuint(lock_files_in(theirs), ==, 0);
  /* The same with the link one directory further up. */
  g_autofree char *home = g_build_filename(f->tmp, "home", NULL);
  g_autofree char *real_home = g_build_filename(f->tmp, "realhome", NULL);
  g_assert_cmpint(mkdir(real_home, 0700), ==, 0);
  g_autofree char *real_md = g_build_filename(real_home, "Maildir", NULL);
  test_make_maildir(real_md);
  g_assert_cmpint(symlink(real_home, home), ==, 0);
  g_autofree char *via = g_build_filename(home, "Maildir", NULL);
  g_autofree char *e2 = open_fails(f, via, POPLAR_STORE_PERMFAIL);
  g_assert_nonnull(strstr(e2, "symbolic link"));
}

/* A message file that is not the mailbox owner's (a hard link to another
 * user's mail) is not served; a FIFO does not hang the session. */
static void test_foreign_message_refused(Fixture *f, gconstpointer data)
{
  (void)data;
  test_make_maildir(f->maildir);
  test_write_file(f->cur, "1700000001.M1P1.a:2,", "mine\n", -1);
  g_autofree char *fifo = g_build_filename(f->cur, "1700000002.M1P1.b:2,",
                                           NULL);
  g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
  PoplarMailbox *mbox = open_ok(f);
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 1);
  poplarpriv_mailbox_free(mbox);
  g_assert_cmpint(unlink(fifo), ==, 0);

  /* The password database says the mailbox is another uid's: the files
   * here (ours) are somebody else's to it. */
  test_write_file(f->cur, "1700000003.M1P1.c,W=6:2,", "W=6!\n", -1);
  g_autoptr(GHashTable) fields =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  g_hash_table_insert(fields, g_strdup("uid"),
                      g_strdup_printf("%ld", (long)geteuid() + 1));
  mbox = poplarpriv_mailbox_new(&f->session, f->store, "user", f->maildir,
                                fields);
  g_assert_cmpint(poplarpriv_mailbox_open(mbox), ==, POPLAR_STORE_OK);
  poplarpriv_mailbox_number(mbox);
  /* Sizes from the name or the cache need no read, so both are listed;
   * neither is served. */
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 2);
  for (size_t i = 0; i < 2; i++) {
    void *stream = NULL;
    g_assert_cmpint(
        f->store->ops.message_open(f->store->data, mbox,
                                   poplar_mailbox_message(mbox, i), &stream),
        ==, POPLAR_STORE_PERMFAIL);
    g_assert_nonnull(strstr(mbox->error, "owned by uid"));
  }
  poplarpriv_mailbox_free(mbox);
  /* Without a cache, counting the size would read it: not listed. */
  g_autofree char *cache = g_build_filename(f->maildir, "poplar-sizes", NULL);
  unlink(cache);
  mbox = poplarpriv_mailbox_new(&f->session, f->store, "user", f->maildir,
                                fields);
  g_assert_cmpint(poplarpriv_mailbox_open(mbox), ==, POPLAR_STORE_OK);
  poplarpriv_mailbox_number(mbox);
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 1);
  poplarpriv_mailbox_free(mbox);
}

/* ---- configuration --------------------------------------------------- */

static void test_config_errors(void)
{
  const char *bad[] = {
      "[store-maildir]\ncreate = maybe\n",
      "[store-maildir]\nlock-timeout = soon\n",
      "[store-maildir]\nlock-timeout = 1s\n",
      "[store-maildir]\nsize-cache = 2\n",
  };
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    Fixture f = {0};
    test_log_capture_start(POPLAR_LOG_DEBUG);
    g_assert_false(maildir_fixture_load(&f, bad[i]));
    g_assert_null(f.store);
    g_assert_cmpuint(f.config->errors->len, >=, 1);
    const char *msg = g_ptr_array_index(f.config->errors, 0);
    g_assert_nonnull(strstr(msg, "test.conf:2"));
    g_assert_nonnull(strstr(msg, "[store-maildir]"));
    poplarpriv_registry_free(f.registry);
    poplarpriv_config_free(f.config);
  }
  /* Good values, and every key known (no "unknown key" report). */
  Fixture f = {0};
  g_assert_true(maildir_fixture_load(&f, "[store-maildir]\ncreate = no\n"
                                "lock-timeout = 90s\nsize-cache = yes\n"));
  g_assert_nonnull(f.store);
  g_assert_cmpuint(f.config->errors->len, ==, 0);
  MaildirStore *store = f.store->data;
  g_assert_false(store->create);
  g_assert_true(store->size_cache);
  g_assert_cmpuint(store->lock_timeout_ms, ==, 90000);
  poplarpriv_registry_free(f.registry);
  poplarpriv_config_free(f.config);
  /* Defaults. */
  g_assert_true(maildir_fixture_load(&f, ""));
  store = f.store->data;
  g_assert_true(store->create);
  g_assert_true(store->size_cache);
  g_assert_cmpuint(store->lock_timeout_ms, ==, 600000);
  poplarpriv_registry_free(f.registry);
  poplarpriv_config_free(f.config);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(path, conf, fn) \
  g_test_add("/maildir-store/" path, Fixture, conf, setup, fn, teardown)
  ADD("create", NULL, test_create);
  ADD("create-missing-subdirs", NULL, test_create_missing_subdirs);
  ADD("create-no", "[store-maildir]\ncreate = no\n", test_create_no);
  ADD("bad-location", NULL, test_bad_location);
  ADD("new-to-cur", NULL, test_new_to_cur);
  ADD("new-collision", NULL, test_new_collision);
  ADD("new-name-too-long", NULL, test_new_name_too_long);
  ADD("uidl-stable", NULL, test_uidl_stable);
  ADD("odd-names", NULL, test_odd_names);
  ADD("order", NULL, test_order);
  ADD("skips-non-messages", NULL, test_skips_non_messages);
  ADD("sizes", NULL, test_sizes);
  ADD("size-cache", NULL, test_size_cache);
  ADD("size-cache-new-message", NULL, test_size_cache_new_message);
  ADD("size-cache-corrupt", NULL, test_size_cache_corrupt);
  ADD("size-cache-other-names", NULL, test_size_cache_other_names);
  ADD("size-cache-off", "[store-maildir]\nsize-cache = no\n",
      test_size_cache_off);
  ADD("many-messages", NULL, test_many_messages);
  ADD("read-after-rename", NULL, test_read_after_rename);
  ADD("read-gone", NULL, test_read_gone);
  ADD("read-large", NULL, test_read_large);
  ADD("expunge", NULL, test_expunge);
  ADD("expunge-failure", NULL, test_expunge_failure);
  ADD("size-cache-v1", NULL, test_size_cache_v1);
  ADD("open-fd", NULL, test_open_fd);
  ADD("lock-in-use", NULL, test_lock_in_use);
  ADD("not-a-maildir", NULL, test_not_a_maildir);
  ADD("lock-crashed-server", NULL, test_lock_crashed_server);
  ADD("lock-refreshed", "[store-maildir]\nlock-timeout = 2s\n",
      test_lock_refreshed);
  ADD("lock-threads", NULL, test_lock_threads);
  ADD("idle-mailbox-holds-one-descriptor", NULL,
      test_idle_mailbox_holds_one_descriptor);
  ADD("out-of-descriptors", NULL, test_out_of_descriptors);
  ADD("reads-out-of-descriptors", NULL, test_reads_out_of_descriptors);
  ADD("subdir-symlink-refused", NULL, test_subdir_symlink_refused);
  ADD("read-follows-no-planted-link", NULL,
      test_read_follows_no_planted_link);
  ADD("duplicate-unique-part", NULL, test_duplicate_unique_part);
  ADD("root-symlink-refused", NULL, test_root_symlink_refused);
  ADD("foreign-message-refused", NULL, test_foreign_message_refused);
#undef ADD
  g_test_add_func("/maildir-store/config-errors", test_config_errors);
  return g_test_run();
}
