/* SPDX-License-Identifier: MIT */
/* The index file: written and read back, and every kind of damage
 * refused with a reason (the store then parses the mbox again). */
#include "mbox.h"
#include "mbox-test-util.h"

#include <string.h>
#include <unistd.h>

static MboxMsg make_msg(uint64_t from, const char *uidl, uint8_t seed)
{
  MboxMsg m;
  memset(&m, 0, sizeof m);
  m.from = from;
  m.data = from + 40;
  m.end = from + 140;
  m.next = from + 141;
  m.size = 104;
  m.from_hash = 0x0123456789abcdefull ^ seed;
  for (int i = 0; i < MBOX_HASH_LEN; i++)
    m.hash[i] = (uint8_t)(seed * 31 + i);
  m.uidl = uidl;
  return m;
}

static void test_round_trip(void)
{
  g_autofree char *dir = test_make_tmp_dir("poplar-mbox");
  g_autofree char *path = g_build_filename(dir, ".user.poplar-index", NULL);
  MboxMsg msgs[3] = {make_msg(0, "uidl-one", 1),
                     make_msg(141, "0123abc.2", 2),
                     make_msg(282, "X~y!", 3)};
  msgs[0].flags = MBOX_MSG_PSEUDO;
  msgs[2].flags = MBOX_MSG_TRUNCATED;
  struct stat st;
  memset(&st, 0, sizeof st);
  st.st_dev = 2049;
  st.st_ino = 77;
  st.st_size = 500;
  st.st_mtim.tv_sec = 1700000000;
  st.st_mtim.tv_nsec = 123456789;
  st.st_ctim.tv_sec = 1700000001;
  GError *error = NULL;
  g_assert_true(mbox_index_save(path, MBOX_FORMAT_MBOXRD, &st, 423, msgs, 3,
                                &error));
  g_assert_no_error(error);
  char *problem = NULL;
  MboxIndex *idx = mbox_index_load(path, &problem);
  g_assert_null(problem);
  g_assert_nonnull(idx);
  g_assert_cmpuint(idx->version, ==, MBOX_INDEX_VERSION);
  g_assert_cmpint(idx->format, ==, MBOX_FORMAT_MBOXRD);
  g_assert_cmpuint(idx->dev, ==, 2049);
  g_assert_cmpuint(idx->ino, ==, 77);
  g_assert_cmpuint(idx->size, ==, 500);
  g_assert_cmpint(idx->mtime_ns, ==, 1700000000123456789ll);
  g_assert_cmpint(idx->ctime_ns, ==, 1700000001000000000ll);
  g_assert_cmpuint(idx->scanned, ==, 423);
  g_assert_cmpuint(idx->msgs->len, ==, 3);
  for (guint i = 0; i < 3; i++) {
    const MboxMsg *a = &msgs[i], *b = &g_array_index(idx->msgs, MboxMsg, i);
    g_assert_cmpuint(a->from, ==, b->from);
    g_assert_cmpuint(a->data, ==, b->data);
    g_assert_cmpuint(a->end, ==, b->end);
    g_assert_cmpuint(a->size, ==, b->size);
    g_assert_cmphex(a->from_hash, ==, b->from_hash);
    g_assert_cmpmem(a->hash, MBOX_HASH_LEN, b->hash, MBOX_HASH_LEN);
    g_assert_cmpstr(a->uidl, ==, b->uidl);
    g_assert_cmpuint(a->flags, ==, b->flags);
  }
  g_assert_cmpuint(g_array_index(idx->msgs, MboxMsg, 0).next, ==, 141);
  g_assert_cmpuint(g_array_index(idx->msgs, MboxMsg, 2).next, ==, 423);
  mbox_index_free(idx);

  /* Missing: no problem to report. */
  g_autofree char *none = g_build_filename(dir, "none", NULL);
  g_assert_null(mbox_index_load(none, &problem));
  g_assert_null(problem);
  unlink(path);
  g_assert_cmpint(rmdir(dir), ==, 0);
}

static const char good_head[] = "poplar-mbox-index 1\nformat mboxo\n"
                                "file 1 2 300 5 6\nscanned 300\n";
#define H "0123456789abcdef0123456789abcdef"

static void expect_refused(const char *dir, const char *text,
                           const char *why)
{
  g_autofree char *path = g_build_filename(dir, "idx", NULL);
  test_write_file(path, text, -1);
  char *problem = NULL;
  MboxIndex *idx = mbox_index_load(path, &problem);
  if (idx)
    g_error("accepted: %s", why);
  g_assert_nonnull(problem);
  g_free(problem);
  unlink(path);
}

static void test_damage(void)
{
  g_autofree char *dir = test_make_tmp_dir("poplar-mbox");
  g_autofree char *ok = g_strconcat(good_head, "messages 1\n",
                                    "0 40 140 104 0123456789abcdef " H
                                    " 0 u1\nend\n", NULL);
  g_autofree char *path = g_build_filename(dir, "idx", NULL);
  test_write_file(path, ok, -1);
  char *problem = NULL;
  MboxIndex *idx = mbox_index_load(path, &problem);
  g_assert_nonnull(idx);
  g_assert_cmpuint(idx->version, ==, 1);
  mbox_index_free(idx);
  unlink(path);

  /* Version 2 marks the folder-data message with flag 4. */
  g_autofree char *v2 = g_strconcat(
      "poplar-mbox-index 2", strchr(good_head, '\n'), "messages 2\n",
      "0 40 140 104 0123456789abcdef " H " 4 u1\n"
      "141 180 200 30 0123456789abcdef " H " 0 u2\nend\n", NULL);
  test_write_file(path, v2, -1);
  idx = mbox_index_load(path, &problem);
  g_assert_null(problem);
  g_assert_nonnull(idx);
  g_assert_cmpuint(idx->version, ==, 2);
  g_assert_cmpuint(g_array_index(idx->msgs, MboxMsg, 0).flags, ==,
                   MBOX_MSG_PSEUDO);
  mbox_index_free(idx);
  unlink(path);

  expect_refused(dir, "", "empty");
  expect_refused(dir, "poplar-mbox-index 3\n", "other version");
  g_autofree char *v3 = g_strconcat("poplar-mbox-index 3",
                                    strchr(ok, '\n'), NULL);
  expect_refused(dir, v3, "newer version");
  g_autofree char *flag8 = g_strconcat(
      good_head, "messages 1\n0 40 140 104 0123456789abcdef " H
      " 8 u1\nend\n", NULL);
  expect_refused(dir, flag8, "unknown flag");
  g_autofree char *truncated = g_strndup(ok, strlen(ok) - 4);
  expect_refused(dir, truncated, "no end line");
  g_autofree char *extra = g_strconcat(ok, "junk\n", NULL);
  expect_refused(dir, extra, "data after end");
  g_autofree char *short_count = g_strconcat(
      good_head, "messages 2\n0 40 140 104 0123456789abcdef " H
      " 0 u1\nend\n", NULL);
  expect_refused(dir, short_count, "fewer messages");
  g_autofree char *dup = g_strconcat(
      good_head, "messages 2\n0 40 140 104 0123456789abcdef " H " 0 u1\n"
      "141 180 200 30 0123456789abcdef " H " 0 u1\nend\n", NULL);
  expect_refused(dir, dup, "duplicate UIDL");
  g_autofree char *overlap = g_strconcat(
      good_head, "messages 2\n0 40 140 104 0123456789abcdef " H " 0 u1\n"
      "100 180 200 30 0123456789abcdef " H " 0 u2\nend\n", NULL);
  expect_refused(dir, overlap, "overlap");
  g_autofree char *bad_hash = g_strconcat(
      good_head, "messages 1\n0 40 140 104 0123456789abcdef 0123 0 u1\n"
      "end\n", NULL);
  expect_refused(dir, bad_hash, "bad hash");
  g_autofree char *bad_uidl = g_strconcat(
      good_head, "messages 1\n0 40 140 104 0123456789abcdef " H
      " 0 u\001\nend\n", NULL);
  expect_refused(dir, bad_uidl, "bad uidl");
  g_autofree char *past = g_strconcat(
      good_head, "messages 1\n0 40 340 104 0123456789abcdef " H
      " 0 u1\nend\n", NULL);
  expect_refused(dir, past, "past scanned");
  g_autofree char *neg = g_strconcat(
      good_head, "messages 1\n-1 40 140 104 0123456789abcdef " H
      " 0 u1\nend\n", NULL);
  expect_refused(dir, neg, "negative offset");
  g_assert_cmpint(rmdir(dir), ==, 0);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/mbox-index/round-trip", test_round_trip);
  g_test_add_func("/mbox-index/damage", test_damage);
  return g_test_run();
}
