/* SPDX-License-Identifier: MIT */
/* The IMAP headers Dovecot and c-client keep in an mbox (X-IMAPbase,
 * X-IMAP, X-UID): parsed as Dovecot parses them, the folder-data message
 * recognised, and uidl-format giving Dovecot's UIDLs only to the UIDs
 * Dovecot would take. */
#include "mbox.h"
#include "mbox-test-util.h"
#include "uidl-format.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static bool base(const char *v, uint32_t *validity, uint32_t *last)
{
  return mbox_imap_base_parse(v, strlen(v), validity, last);
}

static void test_base_values(void)
{
  uint32_t v = 0, l = 0;
  g_assert_true(base(" 1796653337 0000000003\n", &v, &l));
  g_assert_cmpuint(v, ==, 1796653337);
  g_assert_cmpuint(l, ==, 3);
  g_assert_true(base("1700000000 0000000042 $Forwarded Junk   \n", &v, &l));
  g_assert_cmpuint(v, ==, 1700000000);
  g_assert_cmpuint(l, ==, 42);
  /* Dovecot takes a last UID of another width (and rewrites it). */
  g_assert_true(base("17 5", &v, &l));
  g_assert_cmpuint(l, ==, 5);
  g_assert_true(base("17", &v, &l));
  g_assert_cmpuint(v, ==, 17);
  g_assert_cmpuint(l, ==, 0);
  g_assert_false(base("0 0000000003", &v, &l));
  g_assert_false(base("", &v, &l));
  g_assert_false(base("x 0000000003", &v, &l));
  g_assert_false(base("17x 0000000003", &v, &l));
  g_assert_false(base("17\t0000000003", &v, &l));
  g_assert_false(base("17 00000000x3", &v, &l));
  g_assert_false(base("4294967296 0000000003", &v, &l));
}

static bool uid(const char *v, uint32_t *out)
{
  return mbox_imap_uid_parse(v, strlen(v), out);
}

static void test_uid_values(void)
{
  uint32_t u = 0;
  g_assert_true(uid(" 1                                   \n", &u));
  g_assert_cmpuint(u, ==, 1);
  g_assert_true(uid("4294967295\r\n", &u));
  g_assert_cmpuint(u, ==, 4294967295u);
  g_assert_false(uid(" 0\n", &u));
  g_assert_false(uid(" \n", &u));
  g_assert_false(uid(" 12 13\n", &u));
  g_assert_false(uid(" 12a\n", &u));
  g_assert_false(uid(" 4294967296\n", &u));
}

typedef struct Mbox {
  char *dir;
  int fd;
  size_t len;
  GStringChunk *strings;
  GArray *msgs;
} Mbox;

static MboxMsg *scan_text(Mbox *m, const char *text)
{
  m->dir = test_make_tmp_dir("poplar-mbox");
  g_autofree char *path = g_build_filename(m->dir, "mbox", NULL);
  test_write_file(path, text, -1);
  m->fd = open(path, O_RDONLY | O_CLOEXEC);
  g_assert_cmpint(m->fd, >=, 0);
  m->len = strlen(text);
  m->strings = g_string_chunk_new(256);
  m->msgs = g_array_new(FALSE, FALSE, sizeof(MboxMsg));
  MboxScanOptions options = {MBOX_FORMAT_MBOXO, 0, NULL, NULL};
  GError *error = NULL;
  g_assert_true(mbox_scan(m->fd, &options, 0, m->len, m->msgs, m->strings,
                          &error));
  g_assert_no_error(error);
  return (MboxMsg *)(void *)m->msgs->data;
}

static void mbox_clear(Mbox *m)
{
  close(m->fd);
  g_array_free(m->msgs, TRUE);
  g_string_chunk_free(m->strings);
  test_remove_tree(m->dir);
  g_free(m->dir);
}

#define FROM(s) "From a@example.org  Sat Jan  3 01:05:3" s " 1998\n"

/* As Dovecot 2.3 leaves an mbox after a POP3 session: X-IMAPbase in the
 * first message, X-UID padded with blanks. */
static const char dovecot_mbox[] =
    FROM("4") "Subject: one\nX-IMAPbase: 1796653337 0000000003\n"
    "X-UID: 1                     \nStatus: O\n\nHello.\n\n"
    FROM("5") "Subject: two\nX-UID: 2          \nStatus: O\n\nHello.\n\n"
    FROM("6") "Subject: three\nX-UID: 3\n\nHello.\n\n";

static void test_scan_dovecot(void)
{
  Mbox m;
  MboxMsg *msgs = scan_text(&m, dovecot_mbox);
  g_assert_cmpuint(m.msgs->len, ==, 3);
  g_assert_cmpuint(msgs[0].uidvalidity, ==, 1796653337);
  g_assert_cmpuint(msgs[0].uid_last, ==, 3);
  for (unsigned i = 0; i < 3; i++) {
    g_assert_cmpuint(msgs[i].x_uid, ==, i + 1);
    g_assert_cmpuint(msgs[i].flags & MBOX_MSG_PSEUDO, ==, 0);
    if (i > 0)
      g_assert_cmpuint(msgs[i].uidvalidity, ==, 0);
  }
  mbox_clear(&m);
}

/* The folder-data message c-client and Dovecot write into an mbox that
 * has no mail; X-IMAPbase anywhere but in the first message, and X-UID
 * before X-IMAPbase there, are not taken (nor by Dovecot). */
static void test_scan_pseudo_and_misplaced(void)
{
  Mbox m;
  MboxMsg *msgs = scan_text(
      &m, "From MAILER_DAEMON  Mon Dec  7 14:22:17 2026\n"
          "Date: Mon, 07 Dec 2026 14:22:17 +0000\n"
          "From: Mail System Internal Data <MAILER-DAEMON@mx>\n"
          "Subject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n"
          "X-IMAP: 1700000000 0000000009\nStatus: RO\n\n"
          "This text is part of the internal format of your mail folder.\n"
          "\n" FROM("4") "Subject: a\nX-IMAPbase: 1 0000000001\n"
          "X-UID: 9\n\nx\n\n");
  g_assert_cmpuint(m.msgs->len, ==, 2);
  g_assert_cmpuint(msgs[0].flags & MBOX_MSG_PSEUDO, ==, MBOX_MSG_PSEUDO);
  g_assert_cmpuint(msgs[0].uidvalidity, ==, 1700000000);
  g_assert_cmpuint(msgs[0].uid_last, ==, 9);
  g_assert_cmpuint(msgs[1].flags & MBOX_MSG_PSEUDO, ==, 0);
  g_assert_cmpuint(msgs[1].uidvalidity, ==, 0);
  g_assert_cmpuint(msgs[1].x_uid, ==, 9);
  mbox_clear(&m);

  msgs = scan_text(&m, FROM("4") "Subject: a\nX-UID: 1\n"
                       "X-IMAPbase: 17 0000000002\n\nx\n\n" FROM("5")
                       "X-IMAP: 18 0000000002\nX-UID: 2\n\ny\n\n");
  g_assert_cmpuint(m.msgs->len, ==, 2);
  g_assert_cmpuint(msgs[0].uidvalidity, ==, 17);
  g_assert_cmpuint(msgs[0].x_uid, ==, 0);
  g_assert_cmpuint(msgs[1].flags & MBOX_MSG_PSEUDO, ==, 0);
  g_assert_cmpuint(msgs[1].x_uid, ==, 2);
  mbox_clear(&m);

  /* X-IMAP in a header's body, or after the headers, is no header. */
  msgs = scan_text(&m, FROM("4") "Subject: a\n\nX-IMAP: 17 0000000001\n\n");
  g_assert_cmpuint(msgs[0].flags & MBOX_MSG_PSEUDO, ==, 0);
  g_assert_cmpuint(msgs[0].uidvalidity, ==, 0);
  mbox_clear(&m);
}

static MboxMsg msg_with_uid(uint32_t x_uid)
{
  MboxMsg m;
  memset(&m, 0, sizeof m);
  m.x_uid = x_uid;
  return m;
}

/* Dovecot's checks: growing UIDs, none beyond the next one X-IMAPbase
 * allows; a message without a UID takes that next one. */
static void test_resolve(void)
{
  MboxMsg msgs[8];
  uint32_t given[] = {1, 3, 3, 2, 5, 0, 6, 8};
  for (unsigned i = 0; i < G_N_ELEMENTS(given); i++)
    msgs[i] = msg_with_uid(given[i]);
  msgs[0].uidvalidity = 99;
  msgs[0].uid_last = 4;
  uint32_t validity = 0;
  mbox_imap_uids_resolve(msgs, 8, &validity);
  g_assert_cmpuint(validity, ==, 99);
  /* 1 ok; 3 ok; 3 not growing: takes next (5); 2 not growing: takes 6;
   * 5 not growing; none: takes 8; 6 not growing: takes 9; 8 not. */
  uint32_t want[] = {1, 3, 0, 0, 0, 0, 0, 0};
  for (unsigned i = 0; i < 8; i++)
    g_assert_cmpuint(msgs[i].x_uid, ==, want[i]);

  uint32_t given2[] = {2, 5, 6, 9};
  for (unsigned i = 0; i < 4; i++)
    msgs[i] = msg_with_uid(given2[i]);
  msgs[0].uidvalidity = 99;
  msgs[0].uid_last = 4;
  mbox_imap_uids_resolve(msgs, 4, &validity);
  /* 5 is the next UID Dovecot would give, then 6; 9 is beyond 7. */
  uint32_t want2[] = {2, 5, 6, 0};
  for (unsigned i = 0; i < 4; i++)
    g_assert_cmpuint(msgs[i].x_uid, ==, want2[i]);

  /* No X-IMAPbase: no UIDs at all. */
  for (unsigned i = 0; i < 4; i++)
    msgs[i] = msg_with_uid(i + 1);
  mbox_imap_uids_resolve(msgs, 4, &validity);
  g_assert_cmpuint(validity, ==, 0);
  for (unsigned i = 0; i < 4; i++)
    g_assert_cmpuint(msgs[i].x_uid, ==, 0);

  /* The folder-data message has no UID and takes none. */
  msgs[0] = msg_with_uid(0);
  msgs[0].flags = MBOX_MSG_PSEUDO;
  msgs[0].uidvalidity = 7;
  msgs[0].uid_last = 2;
  msgs[1] = msg_with_uid(1);
  msgs[2] = msg_with_uid(2);
  mbox_imap_uids_resolve(msgs, 3, &validity);
  g_assert_cmpuint(validity, ==, 7);
  g_assert_cmpuint(msgs[1].x_uid, ==, 1);
  g_assert_cmpuint(msgs[2].x_uid, ==, 2);
}

static UidlFormat *dovecot_format(void)
{
  char *problem = NULL;
  UidlFormat *f = uidl_format_parse(
      "%08Xu%08Xv", UIDL_VAR_UID | UIDL_VAR_UIDVALIDITY, &problem);
  g_assert_null(problem);
  g_assert_nonnull(f);
  return f;
}

static void test_assign_template(void)
{
  Mbox m;
  /* A third message delivered after Dovecot's last sync (no X-UID) and
   * one that brought an X-UID of its own along. */
  g_autofree char *text = g_strconcat(
      dovecot_mbox, FROM("7") "Subject: late\n\nx\n\n",
      FROM("8") "Subject: forged\nX-UID: 2\n\ny\n\n",
      FROM("9") "Subject: qpopper\nX-UID: 3\nX-UIDL: kept-from-qpopper\n"
                "\nz\n\n",
      NULL);
  MboxMsg *msgs = scan_text(&m, text);
  g_assert_cmpuint(m.msgs->len, ==, 6);
  UidlFormat *f = dovecot_format();
  mbox_uidl_assign(msgs, 6, NULL, true, f, m.strings);
  g_assert_cmpstr(msgs[0].uidl, ==, "000000016b16c119");
  g_assert_cmpstr(msgs[1].uidl, ==, "000000026b16c119");
  g_assert_cmpstr(msgs[2].uidl, ==, "000000036b16c119");
  char hex[MBOX_HASH_HEX_LEN + 1];
  mbox_hash_hex(msgs[3].hash, hex);
  g_assert_cmpstr(msgs[3].uidl, ==, hex);
  mbox_hash_hex(msgs[4].hash, hex);
  g_assert_cmpstr(msgs[4].uidl, ==, hex);
  g_assert_cmpstr(msgs[5].uidl, ==, "kept-from-qpopper");
  mbox_clear(&m);

  /* Without the template: today's UIDLs, X-UID or not. */
  msgs = scan_text(&m, dovecot_mbox);
  mbox_uidl_assign(msgs, 3, NULL, true, NULL, m.strings);
  for (unsigned i = 0; i < 3; i++) {
    mbox_hash_hex(msgs[i].hash, hex);
    g_assert_cmpstr(msgs[i].uidl, ==, hex);
  }
  mbox_clear(&m);

  /* A UIDL the index remembers wins over the template. */
  msgs = scan_text(&m, dovecot_mbox);
  MboxMsg known = msgs[1];
  known.uidl = "shown-before";
  MboxUidlMap *map = mbox_uidl_map_new(&known, 1);
  mbox_uidl_assign(msgs, 3, map, true, f, m.strings);
  mbox_uidl_map_free(map);
  g_assert_cmpstr(msgs[0].uidl, ==, "000000016b16c119");
  g_assert_cmpstr(msgs[1].uidl, ==, "shown-before");
  g_assert_cmpstr(msgs[2].uidl, ==, "000000036b16c119");
  mbox_clear(&m);
  uidl_format_free(f);

  /* A template that makes no valid UIDL (blanks) falls back to the
   * hash, as does one that makes the same UIDL twice. */
  char *problem = NULL;
  f = uidl_format_parse("a b%u", UIDL_VAR_UID, &problem);
  g_assert_nonnull(f);
  msgs = scan_text(&m, dovecot_mbox);
  mbox_uidl_assign(msgs, 3, NULL, true, f, m.strings);
  mbox_hash_hex(msgs[0].hash, hex);
  g_assert_cmpstr(msgs[0].uidl, ==, hex);
  mbox_clear(&m);
  uidl_format_free(f);
  f = uidl_format_parse("%v", UIDL_VAR_UIDVALIDITY, &problem);
  g_assert_nonnull(f);
  msgs = scan_text(&m, dovecot_mbox);
  mbox_uidl_assign(msgs, 3, NULL, true, f, m.strings);
  g_assert_cmpstr(msgs[0].uidl, ==, "1796653337");
  mbox_hash_hex(msgs[1].hash, hex);
  g_assert_cmpstr(msgs[1].uidl, ==, hex);
  mbox_clear(&m);
  uidl_format_free(f);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/mbox-imap/base-values", test_base_values);
  g_test_add_func("/mbox-imap/uid-values", test_uid_values);
  g_test_add_func("/mbox-imap/scan-dovecot", test_scan_dovecot);
  g_test_add_func("/mbox-imap/scan-pseudo-and-misplaced",
                  test_scan_pseudo_and_misplaced);
  g_test_add_func("/mbox-imap/resolve", test_resolve);
  g_test_add_func("/mbox-imap/assign-template", test_assign_template);
  return g_test_run();
}
