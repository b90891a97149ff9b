/* SPDX-License-Identifier: MIT */
/*
 * The listing index: a second login of an unchanged Maildir reuses the
 * first one's listing, and a delivery, rename or removal by another
 * program between two logins always shows, however soon it comes.
 *
 * A listing is only kept once the Maildir's stamps are older than any
 * filesystem's clock granularity, so the tests that need one kept wait
 * for that (about two seconds) first.
 */
#include "maildir-fixture.h"
#include "maildir-test-util.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void setup(Fixture *f, gconstpointer data)
{
  maildir_fixture_setup(f, "poplar-maildir-index", data);
  test_make_maildir(f->maildir);
}

static void teardown(Fixture *f, gconstpointer data)
{
  (void)data;
  maildir_fixture_teardown(f);
}

static PoplarMailbox *open_ok(Fixture *f)
{
  PoplarMailbox *mbox =
      poplarpriv_mailbox_new(&f->session, f->store, "user", f->maildir, NULL);
  PoplarStoreResult r = poplarpriv_mailbox_open(mbox);
  g_assert_cmpint(r, ==, POPLAR_STORE_OK);
  poplarpriv_mailbox_number(mbox);
  return mbox;
}

static bool from_index(PoplarMailbox *mbox)
{
  MaildirMailbox *mb = poplar_mailbox_get_data(mbox);
  return mb->from_index;
}

/* "uidl size" for each message, in order, on one line each. */
static char *listing_of(PoplarMailbox *mbox)
{
  GString *s = g_string_new(NULL);
  for (size_t i = 0; i < poplar_mailbox_message_count(mbox); i++) {
    PoplarMessage *msg = poplar_mailbox_message(mbox, i);
    g_string_append_printf(s, "%s %llu\n", poplar_message_uidl(msg),
                           (unsigned long long)poplar_message_size(msg));
  }
  return g_string_free(s, FALSE);
}

/* Opens, checks the listing against @expected and closes; returns whether
 * the listing came from the index. */
static bool open_expect(Fixture *f, const char *expected)
{
  PoplarMailbox *mbox = open_ok(f);
  g_autofree char *listing = listing_of(mbox);
  g_assert_cmpstr(listing, ==, expected);
  bool hit = from_index(mbox);
  poplarpriv_mailbox_free(mbox);
  return hit;
}

static char *read_message(PoplarMailbox *mbox, size_t i)
{
  PoplarMessageReader *reader =
      poplar_message_reader_open(mbox, poplar_mailbox_message(mbox, i));
  g_assert_nonnull(reader);
  GString *text = g_string_new(NULL);
  char buf[64];
  int64_t n;
  while ((n = poplar_message_reader_read(reader, buf, sizeof buf)) > 0)
    g_string_append_len(text, buf, (gssize)n);
  g_assert_cmpint(n, ==, 0);
  poplar_message_reader_close(reader);
  return g_string_free(text, FALSE);
}

/* Waits until no later change can share a stamp with the Maildir's
 * present ones, so that the next open may keep its listing. */
static void settle(Fixture *f)
{
  int root_fd = open(f->maildir, O_RDONLY | O_DIRECTORY);
  g_assert_cmpint(root_fd, >=, 0);
  for (;;) {
    struct timespec now;
    MaildirIndexKey key;
    MaildirIndexStamps stamps;
    g_assert_cmpint(clock_gettime(CLOCK_REALTIME, &now), ==, 0);
    /* Half a second to spare: the open measures by the lock file's
     * stamp, which the kernel's coarse clock makes a little earlier. */
    now.tv_sec -= 1;
    now.tv_nsec += 500 * 1000 * 1000;
    if (now.tv_nsec >= 1000 * 1000 * 1000) {
      now.tv_sec++;
      now.tv_nsec -= 1000 * 1000 * 1000;
    }
    g_assert_true(maildir_index_stamps(root_fd, &key, &stamps));
    if (maildir_index_stamps_settled(&stamps, &now))
      break;
    g_usleep(100 * 1000);
  }
  close(root_fd);
}

/* Delivers as an MDA does: written in tmp/, renamed into new/. */
static void deliver(Fixture *f, const char *name, const char *text)
{
  g_autofree char *tmp_dir = g_build_filename(f->maildir, "tmp", NULL);
  test_write_file(tmp_dir, name, text, -1);
  g_autofree char *from = g_build_filename(tmp_dir, name, NULL);
  g_autofree char *to = g_build_filename(f->new_dir, name, NULL);
  g_assert_cmpint(rename(from, to), ==, 0);
}

static void rename_in(const char *dir, const char *from, const char *to)
{
  g_autofree char *a = g_build_filename(dir, from, NULL);
  g_autofree char *b = g_build_filename(dir, to, NULL);
  g_assert_cmpint(rename(a, b), ==, 0);
}

static void remove_in(const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename(dir, name, NULL);
  g_assert_cmpint(unlink(path), ==, 0);
}

#define A "1700000001.M1P1.mx"
#define B "1700000002.M1P1.mx"
#define C "1700000003.M1P1.mx"
#define D "1700000004.M1P1.mx"

static void write_two(Fixture *f)
{
  test_write_file(f->cur, A ":2,", "a\n", -1);
  test_write_file(f->cur, B ":2,S", "bb\n", -1);
}

#define TWO A " 3\n" B " 4\n"

static void test_reused(Fixture *f, gconstpointer data)
{
  (void)data;
  write_two(f);
  settle(f);
  g_assert_false(open_expect(f, TWO));
  /* Nothing moved: the second login reads no directory and no file. */
  PoplarMailbox *mbox = open_ok(f);
  g_assert_true(from_index(mbox));
  g_autofree char *listing = listing_of(mbox);
  g_assert_cmpstr(listing, ==, TWO);
  g_assert_cmpuint(((MaildirMailbox *)poplar_mailbox_get_data(mbox))
                       ->size_reads, ==, 0);
  /* The kept names still lead to the messages. */
  g_autofree char *text = read_message(mbox, 1);
  g_assert_cmpstr(text, ==, "bb\n");
  poplarpriv_mailbox_free(mbox);
  g_assert_true(open_expect(f, TWO));
}

/* A listing made while the stamps were fresh is not kept: a change in the
 * same clock tick would not have moved them. */
static void test_fresh_not_kept(Fixture *f, gconstpointer data)
{
  (void)data;
  write_two(f);
  g_assert_false(open_expect(f, TWO));
  g_assert_false(open_expect(f, TWO));
}

static void test_delivered(Fixture *f, gconstpointer data)
{
  (void)data;
  write_two(f);
  settle(f);
  g_assert_false(open_expect(f, TWO));
  g_assert_true(open_expect(f, TWO));
  deliver(f, C, "ccc\n");
  g_assert_false(open_expect(f, TWO C " 5\n"));
  /* Within the same second, one after the other. */
  deliver(f, D, "dddd\n");
  g_assert_false(open_expect(f, TWO C " 5\n" D " 6\n"));
  settle(f);
  g_assert_false(open_expect(f, TWO C " 5\n" D " 6\n"));
  g_assert_true(open_expect(f, TWO C " 5\n" D " 6\n"));
}

static void test_renamed(Fixture *f, gconstpointer data)
{
  (void)data;
  write_two(f);
  settle(f);
  g_assert_false(open_expect(f, TWO));
  g_assert_true(open_expect(f, TWO));
  /* A flag change: same message, same UIDL, new name to read it by. */
  rename_in(f->cur, A ":2,", A ":2,S");
  PoplarMailbox *mbox = open_ok(f);
  g_assert_false(from_index(mbox));
  g_autofree char *text = read_message(mbox, 0);
  g_assert_cmpstr(text, ==, "a\n");
  poplarpriv_mailbox_free(mbox);
  rename_in(f->cur, A ":2,S", A ":2,RS");
  mbox = open_ok(f);
  g_autofree char *again = read_message(mbox, 0);
  g_assert_cmpstr(again, ==, "a\n");
  poplarpriv_mailbox_free(mbox);
  settle(f);
  g_assert_false(open_expect(f, TWO));
  rename_in(f->cur, A ":2,RS", A ":2,");
  mbox = open_ok(f);
  g_assert_false(from_index(mbox));
  g_autofree char *third = read_message(mbox, 0);
  g_assert_cmpstr(third, ==, "a\n");
  poplarpriv_mailbox_free(mbox);
}

static void test_removed(Fixture *f, gconstpointer data)
{
  (void)data;
  write_two(f);
  test_write_file(f->cur, C ":2,", "ccc\n", -1);
  settle(f);
  g_assert_false(open_expect(f, TWO C " 5\n"));
  g_assert_true(open_expect(f, TWO C " 5\n"));
  remove_in(f->cur, B ":2,S");
  g_assert_false(open_expect(f, A " 3\n" C " 5\n"));
  /* A removal and a delivery in the same second. */
  remove_in(f->cur, A ":2,");
  deliver(f, D, "dddd\n");
  g_assert_false(open_expect(f, C " 5\n" D " 6\n"));
  remove_in(f->cur, C ":2,");
  g_assert_false(open_expect(f, D " 6\n"));
}

/* The session's own DELE and QUIT change cur/ too. */
static void test_expunged(Fixture *f, gconstpointer data)
{
  (void)data;
  write_two(f);
  settle(f);
  g_assert_false(open_expect(f, TWO));
  PoplarMailbox *mbox = open_ok(f);
  g_assert_true(from_index(mbox));
  poplar_mailbox_message(mbox, 0)->deleted = true;
  g_assert_cmpint(f->store->ops.expunge(f->store->data, mbox), ==,
                  POPLAR_STORE_OK);
  poplarpriv_mailbox_free(mbox);
  g_assert_false(open_expect(f, B " 4\n"));
}

/* poplar-uidls written by another program (the UIDL migration tool). */
static void test_record_changed(Fixture *f, gconstpointer data)
{
  (void)data;
  write_two(f);
  settle(f);
  g_assert_false(open_expect(f, TWO));
  g_assert_true(open_expect(f, TWO));
  /* Written through the store's own writer, as the tool does. */
  MaildirUidlRecord *rec = NULL;
  unsigned bad = 0;
  int root_fd = open(f->maildir, O_RDONLY | O_DIRECTORY);
  g_assert_cmpint(root_fd, >=, 0);
  g_assert_true(maildir_uidl_record_load(root_fd, &rec, &bad, NULL));
  maildir_uidl_record_set(rec, A, "imported-a");
  g_assert_true(maildir_uidl_record_save(root_fd, rec, NULL));
  maildir_uidl_record_free(rec);
  close(root_fd);
  g_assert_false(open_expect(f, "imported-a 3\n" B " 4\n"));
}

/* UIDLs from dovecot-uidlist depend on more than the directories. */
static void test_uid_list_not_kept(Fixture *f, gconstpointer data)
{
  (void)data;
  write_two(f);
  settle(f);
  PoplarMailbox *mbox = open_ok(f);
  g_assert_false(from_index(mbox));
  poplarpriv_mailbox_free(mbox);
  mbox = open_ok(f);
  g_assert_false(from_index(mbox));
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 2);
  poplarpriv_mailbox_free(mbox);
}

static void test_off(Fixture *f, gconstpointer data)
{
  (void)data;
  write_two(f);
  settle(f);
  g_assert_false(open_expect(f, TWO));
  g_assert_false(open_expect(f, TWO));
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(path, conf, fn) \
  g_test_add("/maildir-index/" path, Fixture, conf, setup, fn, teardown)
  ADD("reused", NULL, test_reused);
  ADD("fresh-not-kept", NULL, test_fresh_not_kept);
  ADD("delivered", NULL, test_delivered);
  ADD("renamed", NULL, test_renamed);
  ADD("removed", NULL, test_removed);
  ADD("expunged", NULL, test_expunged);
  ADD("record-changed", NULL, test_record_changed);
  ADD("uid-list-not-kept",
      "[store-maildir]\nuidl-format = %08Xu%08Xv\n", test_uid_list_not_kept);
  ADD("off", "[store-maildir]\nlisting-index = no\n", test_off);
  return g_test_run();
}
