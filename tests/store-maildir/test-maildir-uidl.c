/* SPDX-License-Identifier: MIT */
/* UIDLs for sites that move from Dovecot or Courier: the uidl-format
 * template engine (expected values worked out from Dovecot 2.3's
 * var_expand() rules), the dovecot-uidlist and courierimapuiddb readers,
 * UID assignment in those files, and the poplar-uidls record. */
#include "maildir.h"
#include "maildir-test-util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#define ALL_VARS                                                            \
  (UIDL_VAR_UID | UIDL_VAR_UIDVALIDITY | UIDL_VAR_FILENAME | UIDL_VAR_GUID | \
   UIDL_VAR_MD5)

static char *expand(const char *tmpl, const char *uid, const char *uidv,
                    const char *file)
{
  g_autofree char *error = NULL;
  UidlFormat *f = uidl_format_parse(tmpl, ALL_VARS, &error);
  g_assert_null(error);
  g_assert_nonnull(f);
  UidlFormatValues v = {.uid = uid, .uidvalidity = uidv, .filename = file,
                        .guid = file};
  char *out = uidl_format_expand(f, &v);
  uidl_format_free(f);
  return out;
}

static void check(const char *tmpl, const char *file, const char *expected)
{
  g_autofree char *got = expand(tmpl, "255", "1700000000", file);
  g_assert_cmpstr(got, ==, expected);
}

static void test_format_dovecot_default(void)
{
  g_autofree char *a = expand("%08Xu%08Xv", "1", "1700000000", "x");
  g_assert_cmpstr(a, ==, "000000016553f100");
  g_autofree char *b = expand("UID%u-%v", "7", "123", "x");
  g_assert_cmpstr(b, ==, "UID7-123");
  g_autofree char *c = expand("%{uid}.%{uidvalidity}", "7", "123", "x");
  g_assert_cmpstr(c, ==, "7.123");
}

static void test_format_modifiers(void)
{
  check("%Uf", "abc.Def", "ABC.DEF");
  check("%Lf", "abc.Def", "abc.def");
  check("%Rf", "abcdefgh", "hgfedcba");
  check("%Xu", "x", "ff");
  check("%Xf", "not-a-number", "0");
  /* Applied in the order written. */
  check("%XUu", "x", "FF");
  check("%UXu", "x", "ff");
  check("%Mf", "abc", "900150983cd24fb0d6963f7d28e17f72");
  check("%Hf", "abc", "6783");
  check("%4Hf", "abc", "3");      /* the width is a modulus */
  check("%8.Hf", "abc", "00006783"); /* the offset a minimum length */
  check("%Nf", "abc", "3cd24fb0");
  check("%Tf", "ab \t ", "ab");
  check("%Ef", "a\"b'c\\", "a\\\"b\\'c\\\\");
  check("%Df", "mx.example", "mx,dc=example");
  check("100%%", "x", "100%");
}

static void test_format_widths(void)
{
  check("%05u", "x", "00255");
  check("%02u", "x", "255");       /* zero padding never cuts */
  check("%3f", "abcdefgh", "abc"); /* a plain width cuts */
  check("%2.3f", "abcdefgh", "cde");
  check("%-3.2f", "abcdefgh", "fg");
  check("%.-2f", "abcdefgh", "abcdef");
  check("%-20.2f", "abcdefgh", "ab");
  check("%20.2f", "abcdefgh", "");
}

static void check_bad(const char *tmpl, unsigned allowed, const char *needle)
{
  g_autofree char *error = NULL;
  UidlFormat *f = uidl_format_parse(tmpl, allowed, &error);
  g_assert_null(f);
  g_assert_nonnull(error);
  g_assert_nonnull(strstr(error, needle));
}

static void test_format_errors(void)
{
  check_bad("", ALL_VARS, "empty");
  check_bad("abc%", ALL_VARS, "ends in the middle");
  check_bad("%08X", ALL_VARS, "ends in the middle");
  check_bad("%q", ALL_VARS, "unknown variable");
  check_bad("%{nope}", ALL_VARS, "unknown variable");
  check_bad("%{uid", ALL_VARS, "closing");
  check_bad("%m", ALL_VARS & ~UIDL_VAR_MD5, "not available");
  g_autofree char *error = NULL;
  UidlFormat *f = uidl_format_parse("%u-%f", ALL_VARS, &error);
  g_assert_cmphex(uidl_format_vars(f), ==, UIDL_VAR_UID | UIDL_VAR_FILENAME);
  g_assert_cmpstr(uidl_format_text(f), ==, "%u-%f");
  uidl_format_free(f);
}

static MaildirUidlist *parse_ok(MaildirUidSource src, const char *text)
{
  g_autofree char *copy = g_strdup(text);
  g_autofree char *problem = NULL;
  MaildirUidlist *list = NULL;
  g_assert_true(maildir_uidlist_parse(src, copy, strlen(copy), &list,
                                      &problem));
  g_assert_null(problem);
  return list;
}

static void parse_bad(MaildirUidSource src, const char *text)
{
  g_autofree char *copy = g_strdup(text);
  g_autofree char *problem = NULL;
  MaildirUidlist *list = NULL;
  g_assert_false(maildir_uidlist_parse(src, copy, strlen(copy), &list,
                                       &problem));
  g_assert_null(list);
  g_assert_nonnull(problem);
}

static void test_uidlist_v3(void)
{
  MaildirUidlist *l = parse_ok(
      MAILDIR_UID_DOVECOT,
      "3 V1700000000 N5 G0123456789abcdef0123456789abcdef\n"
      "1 :1.M1P1.mx,S=10,W=12\n"
      "2 P :2.M1P1.mx\n"
      "3 W99 PUIDL-x O2 GGUID3 :3.M1P1.mx\n"
      "4 :4.M1P1.mx"); /* being written: not trusted */
  g_assert_cmpint(l->version, ==, 3);
  g_assert_cmpuint(l->uidvalidity, ==, 1700000000);
  g_assert_cmpuint(l->next_uid, ==, 5);
  g_assert_true(l->have_guid);
  g_assert_cmpuint(l->recs->len, ==, 3);
  const MaildirUidRec *r = maildir_uidlist_lookup(l, "1.M1P1.mx,S=10,W=12");
  g_assert_nonnull(r);
  g_assert_cmpuint(r->uid, ==, 1);
  g_assert_null(r->pop3_uidl);
  r = maildir_uidlist_lookup(l, "2.M1P1.mx");
  g_assert_cmpstr(r->pop3_uidl, ==, "");
  r = maildir_uidlist_lookup(l, "3.M1P1.mx");
  g_assert_cmpstr(r->pop3_uidl, ==, "UIDL-x");
  g_assert_cmpstr(r->pop3_order, ==, "2");
  g_assert_cmpstr(r->guid, ==, "GUID3");
  g_assert_null(maildir_uidlist_lookup(l, "4.M1P1.mx"));
  maildir_uidlist_free(l);

  /* The next UID never falls below a record's. */
  l = parse_ok(MAILDIR_UID_DOVECOT, "3 V1 N2 Gx\n7 :a\n");
  g_assert_cmpuint(l->next_uid, ==, 8);
  maildir_uidlist_free(l);

  parse_bad(MAILDIR_UID_DOVECOT, "3 V0 N1\n");
  parse_bad(MAILDIR_UID_DOVECOT, "3 V1 N9\n2 :a\n2 :b\n");
  parse_bad(MAILDIR_UID_DOVECOT, "3 V1 N9\n1 x :a\n");
  parse_bad(MAILDIR_UID_DOVECOT, "3 V1 N9\n1 :a/b\n");
  parse_bad(MAILDIR_UID_DOVECOT, "2 1 9\n1 a\n");
  parse_bad(MAILDIR_UID_DOVECOT, "");
}

static void test_uidlist_v1(void)
{
  MaildirUidlist *l = parse_ok(MAILDIR_UID_DOVECOT,
                               "1 1700000000 4\n1 a.mx\n3 b.mx:2,S\n");
  g_assert_cmpint(l->version, ==, 1);
  g_assert_cmpuint(l->next_uid, ==, 4);
  g_assert_cmpuint(maildir_uidlist_lookup(l, "b.mx")->uid, ==, 3);
  maildir_uidlist_free(l);
  parse_bad(MAILDIR_UID_DOVECOT, "1 1700000000 3\n3 a.mx\n");
}

static void test_courier_uiddb(void)
{
  MaildirUidlist *l = parse_ok(MAILDIR_UID_COURIER,
                               "1 700000000 3\n1 a.mx,S=5\n2 b.mx\n");
  g_assert_cmpuint(l->uidvalidity, ==, 700000000);
  g_assert_cmpuint(maildir_uidlist_lookup(l, "a.mx,S=5")->uid, ==, 1);
  g_assert_cmpuint(maildir_uidlist_lookup(l, "b.mx")->uid, ==, 2);
  maildir_uidlist_free(l);
  parse_bad(MAILDIR_UID_COURIER, "3 V1 N2\n");
}

static char *read_text(const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename(dir, name, NULL);
  char *text = NULL;
  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  return text;
}

static int open_dir(const char *path)
{
  int fd = open(path, O_RDONLY | O_DIRECTORY);
  g_assert_cmpint(fd, >=, 0);
  return fd;
}

/* @names are file names; the keys are their parts up to ':'. */
static MaildirUidlist *assign(int fd, MaildirUidSource src,
                              const char *const *names)
{
  g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GPtrArray) files = g_ptr_array_new();
  for (; *names; names++) {
    g_ptr_array_add(keys, maildir_uidlist_key(*names));
    g_ptr_array_add(files, (gpointer)*names);
  }
  g_autoptr(GError) error = NULL;
  MaildirUidlist *list = NULL;
  g_assert_true(maildir_uidlist_assign(fd, src, keys, files, &list, &error));
  g_assert_no_error(error);
  return list;
}

static void test_assign_dovecot_appends(void)
{
  g_autofree char *dir = g_dir_make_tmp("uidl-XXXXXX", NULL);
  const char *orig = "3 V1700000000 N5 Gabc\n1 :a.mx,S=1\n4 :b.mx\n";
  test_write_file(dir, "dovecot-uidlist", orig, -1);
  int fd = open_dir(dir);
  const char *names[] = {"b.mx", "n1.mx", "n2.mx", NULL};
  MaildirUidlist *l = assign(fd, MAILDIR_UID_DOVECOT, names);
  g_assert_cmpuint(maildir_uidlist_lookup(l, "n1.mx")->uid, ==, 5);
  g_assert_cmpuint(maildir_uidlist_lookup(l, "n2.mx")->uid, ==, 6);
  maildir_uidlist_free(l);
  g_autofree char *text = read_text(dir, "dovecot-uidlist");
  g_autofree char *expected = g_strconcat(orig, "5 :n1.mx\n6 :n2.mx\n", NULL);
  g_assert_cmpstr(text, ==, expected);
  g_assert_false(test_file_exists(dir, "dovecot-uidlist.lock"));

  /* Nothing missing: the file is not touched. */
  l = assign(fd, MAILDIR_UID_DOVECOT, names);
  maildir_uidlist_free(l);
  g_autofree char *again = read_text(dir, "dovecot-uidlist");
  g_assert_cmpstr(again, ==, expected);

  /* The lock of a process that is gone on this host is taken over. */
  const char *more[] = {"n3.mx", NULL};
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  g_autofree char *dead = g_strdup_printf("999999999:%s", host);
  test_write_file(dir, "dovecot-uidlist.lock", dead, -1);
  l = assign(fd, MAILDIR_UID_DOVECOT, more);
  g_assert_cmpuint(maildir_uidlist_lookup(l, "n3.mx")->uid, ==, 7);
  maildir_uidlist_free(l);
  close(fd);
  test_remove_tree(dir);
}

static void test_assign_dovecot_creates(void)
{
  g_autofree char *dir = g_dir_make_tmp("uidl-XXXXXX", NULL);
  int fd = open_dir(dir);
  const char *names[] = {"a.mx", "b.mx", NULL};
  MaildirUidlist *l = assign(fd, MAILDIR_UID_DOVECOT, names);
  maildir_uidlist_free(l);
  g_autofree char *text = read_text(dir, "dovecot-uidlist");
  g_assert_true(g_str_has_prefix(text, "3 V"));
  g_assert_nonnull(strstr(text, " N3 G"));
  g_assert_true(g_str_has_suffix(text, "\n1 :a.mx\n2 :b.mx\n"));

  /* Version 1 is written anew in version 3, every UID kept. */
  test_write_file(dir, "dovecot-uidlist", "1 42 3\n2 a.mx\n", -1);
  const char *more[] = {"a.mx", "c.mx", NULL};
  l = assign(fd, MAILDIR_UID_DOVECOT, more);
  maildir_uidlist_free(l);
  g_autofree char *v3 = read_text(dir, "dovecot-uidlist");
  g_assert_true(g_str_has_prefix(v3, "3 V42 N4 G"));
  g_assert_true(g_str_has_suffix(v3, "\n2 :a.mx\n3 :c.mx\n"));
  g_assert_false(test_file_exists(dir, "dovecot-uidlist.lock"));
  close(fd);
  test_remove_tree(dir);
}

static void test_assign_courier(void)
{
  g_autofree char *dir = g_dir_make_tmp("uidl-XXXXXX", NULL);
  test_write_file(dir, "courierimapuiddb", "1 700000000 3\n2 a.mx\n", -1);
  int fd = open_dir(dir);
  const char *names[] = {"a.mx", "b.mx", NULL};
  MaildirUidlist *l = assign(fd, MAILDIR_UID_COURIER, names);
  maildir_uidlist_free(l);
  g_autofree char *text = read_text(dir, "courierimapuiddb");
  g_assert_cmpstr(text, ==, "1 700000000 4\n2 a.mx\n3 b.mx\n");
  close(fd);
  test_remove_tree(dir);
}

/* courier-pop's list, as Courier 1.0 writes it: entries keep their own
 * UIDVALIDITY, are matched up to the first ':', and what does not parse
 * is skipped as Courier skips it. */
static void test_courier_sizelist(void)
{
  MaildirUidlist *l = parse_ok(MAILDIR_UID_COURIER_POP3,
                               "/3 4 1796659266\n"
                               "1.M1P1.mx:2, 43 1:1796659266:0\n"
                               "2.M1P1.mx:2,S 50 2:1700000000:1\n"
                               "garbage\n"
                               "3.M1P1.mx 7 x:1\n");
  g_assert_cmpint(l->version, ==, 3);
  g_assert_cmpuint(l->uidvalidity, ==, 1796659266);
  g_assert_cmpuint(l->next_uid, ==, 4);
  g_assert_cmpuint(l->recs->len, ==, 2);
  const MaildirUidRec *r = maildir_uidlist_lookup(l, "1.M1P1.mx");
  g_assert_cmpuint(r->uid, ==, 1);
  g_assert_cmpuint(r->uidvalidity, ==, 1796659266);
  r = maildir_uidlist_lookup(l, "2.M1P1.mx");
  g_assert_cmpuint(r->uid, ==, 2);
  g_assert_cmpuint(r->uidvalidity, ==, 1700000000);
  g_assert_null(maildir_uidlist_lookup(l, "3.M1P1.mx"));
  maildir_uidlist_free(l);

  /* Version 2 has no utf8 field; a next UID in use is not believed. */
  l = parse_ok(MAILDIR_UID_COURIER_POP3, "/2 1 17\na.mx 9 5:17\n");
  g_assert_cmpuint(maildir_uidlist_lookup(l, "a.mx")->uid, ==, 5);
  g_assert_cmpuint(l->next_uid, ==, 6);
  maildir_uidlist_free(l);

  parse_bad(MAILDIR_UID_COURIER_POP3, "1 700000000 3\n1 a.mx\n");
  parse_bad(MAILDIR_UID_COURIER_POP3, "/4 1 17\n");
  parse_bad(MAILDIR_UID_COURIER_POP3, "/3 1\n");
  parse_bad(MAILDIR_UID_COURIER_POP3, "/3 1 17");
}

static void test_assign_courier_sizelist(void)
{
  g_autofree char *dir = g_dir_make_tmp("uidl-XXXXXX", NULL);
  const char *orig = "/3 2 1796659266\nold.mx:2,S 43 1:1796659266:0\n";
  test_write_file(dir, "courierpop3dsizelist", orig, -1);
  g_autofree char *cur = g_build_filename(dir, "cur", NULL);
  g_autofree char *new_dir = g_build_filename(dir, "new", NULL);
  g_assert_cmpint(mkdir(cur, 0700), ==, 0);
  g_assert_cmpint(mkdir(new_dir, 0700), ==, 0);
  /* Sizes as POP3 sends them: CRLF for LF, and a CRLF added at the end
   * of a file without one. */
  test_write_file(cur, "n1.mx:2,", "Subject: a\n\nbody\n", -1);
  test_write_file(new_dir, "n2.mx", "Subject: \xe9\n\nno newline", -1);
  int fd = open_dir(dir);
  const char *names[] = {"old.mx:2,S", "n1.mx:2,", "n2.mx", NULL};
  MaildirUidlist *l = assign(fd, MAILDIR_UID_COURIER_POP3, names);
  g_assert_cmpuint(maildir_uidlist_lookup(l, "old.mx")->uid, ==, 1);
  g_assert_cmpuint(maildir_uidlist_lookup(l, "n1.mx")->uid, ==, 2);
  g_assert_cmpuint(maildir_uidlist_lookup(l, "n2.mx")->uid, ==, 3);
  g_assert_cmpuint(maildir_uidlist_lookup(l, "n2.mx")->uidvalidity, ==,
                   1796659266);
  maildir_uidlist_free(l);
  g_autofree char *text = read_text(dir, "courierpop3dsizelist");
  g_assert_cmpstr(text, ==,
                  "/3 4 1796659266\n"
                  "old.mx:2,S 43 1:1796659266:0\n"
                  "n1.mx:2, 20 2:1796659266:0\n"
                  "n2.mx 26 3:1796659266:1\n");
  /* Nothing new: the file is not written again. */
  struct stat before, after;
  g_autofree char *path = g_build_filename(dir, "courierpop3dsizelist", NULL);
  g_assert_cmpint(stat(path, &before), ==, 0);
  l = assign(fd, MAILDIR_UID_COURIER_POP3, names);
  g_assert_cmpuint(l->next_uid, ==, 4);
  maildir_uidlist_free(l);
  g_assert_cmpint(stat(path, &after), ==, 0);
  g_assert_cmpuint(before.st_ino, ==, after.st_ino);

  /* A message that is gone fails the assignment, and nothing changes. */
  const char *gone[] = {"gone.mx", NULL};
  g_autoptr(GPtrArray) keys = g_ptr_array_new();
  g_autoptr(GPtrArray) files = g_ptr_array_new();
  g_ptr_array_add(keys, (gpointer)gone[0]);
  g_ptr_array_add(files, (gpointer)gone[0]);
  g_autoptr(GError) error = NULL;
  g_assert_false(maildir_uidlist_assign(fd, MAILDIR_UID_COURIER_POP3, keys,
                                        files, &l, &error));
  g_assert_nonnull(error);
  g_autofree char *again = read_text(dir, "courierpop3dsizelist");
  g_assert_cmpstr(again, ==, text);
  close(fd);
  test_remove_tree(dir);
}

static void test_record(void)
{
  g_autofree char *text = g_strdup("poplar-uidls 1\n"
                                   "1.M1P1.mx 000000016553f100\n"
                                   "bad line with blanks\n"
                                   "2.M1P1.mx UID2-7\n");
  g_autofree char *problem = NULL;
  MaildirUidlRecord *rec = NULL;
  g_assert_true(maildir_uidl_record_parse(text, strlen(text), &rec,
                                          &problem));
  g_assert_cmpstr(maildir_uidl_record_lookup(rec, "1.M1P1.mx"), ==,
                  "000000016553f100");
  g_assert_cmpstr(maildir_uidl_record_lookup(rec, "2.M1P1.mx"), ==,
                  "UID2-7");
  g_assert_false(maildir_uidl_record_changed(rec));
  maildir_uidl_record_set(rec, "2.M1P1.mx", "UID2-7");
  g_assert_false(maildir_uidl_record_changed(rec));

  g_autofree char *dir = g_dir_make_tmp("uidl-XXXXXX", NULL);
  int fd = open_dir(dir);
  g_autoptr(GHashTable) keep = g_hash_table_new(g_str_hash, g_str_equal);
  g_hash_table_add(keep, "1.M1P1.mx");
  g_hash_table_add(keep, "3.M1P1.mx");
  maildir_uidl_record_keep_only(rec, keep);
  maildir_uidl_record_set(rec, "3.M1P1.mx", "x3");
  g_assert_true(maildir_uidl_record_changed(rec));
  g_autoptr(GError) error = NULL;
  g_assert_true(maildir_uidl_record_save(fd, rec, &error));
  maildir_uidl_record_free(rec);
  g_autofree char *saved = read_text(dir, "poplar-uidls");
  g_assert_cmpstr(saved, ==, "poplar-uidls 1\n1.M1P1.mx 000000016553f100\n"
                             "3.M1P1.mx x3\n");

  /* A file this version does not know is never replaced. */
  test_write_file(dir, "poplar-uidls", "poplar-uidls 2\na b\n", -1);
  unsigned bad = 0;
  g_assert_false(maildir_uidl_record_load(fd, &rec, &bad, &error));
  g_assert_nonnull(error);
  g_assert_null(rec);
  close(fd);
  test_remove_tree(dir);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/uidl-format/dovecot-default", test_format_dovecot_default);
  g_test_add_func("/uidl-format/modifiers", test_format_modifiers);
  g_test_add_func("/uidl-format/widths", test_format_widths);
  g_test_add_func("/uidl-format/errors", test_format_errors);
  g_test_add_func("/uidlist/dovecot-v3", test_uidlist_v3);
  g_test_add_func("/uidlist/dovecot-v1", test_uidlist_v1);
  g_test_add_func("/uidlist/courier", test_courier_uiddb);
  g_test_add_func("/uidlist/assign-dovecot-appends",
                  test_assign_dovecot_appends);
  g_test_add_func("/uidlist/assign-dovecot-creates",
                  test_assign_dovecot_creates);
  g_test_add_func("/uidlist/assign-courier", test_assign_courier);
  g_test_add_func("/uidlist/courier-sizelist", test_courier_sizelist);
  g_test_add_func("/uidlist/assign-courier-sizelist",
                  test_assign_courier_sizelist);
  g_test_add_func("/uidl-record/parse-save", test_record);
  return g_test_run();
}
