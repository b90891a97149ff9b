/* SPDX-License-Identifier: MIT */
/*
 * store-mbox driven the way the core drives it: the plugin's init with a
 * parsed [store-mbox] section, then mailboxes opened, read, expunged and
 * closed through libpoplar's mailbox functions, while the test plays the
 * MTA (appending) and the MUA (rewriting) around them.
 */
#include "mbox.h"
#include "mbox-test-util.h"

#include "poplar-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const PoplarPluginDescriptor *poplar_plugin_store_mbox(void);

typedef struct Fixture {
  char *tmp;
  char *path;  /* the mbox */
  char *index; /* its default index */
  PoplarRegistry *registry;
  PoplarConfigFile *config;
  PoplarPlugin *plugin;
  const PoplarStoreEntry *store;
  PoplarSession session;
  char *open_error; /* the log line of the last failed open */
  PoplarSession session2;
} Fixture;

#define M1 "From alice@example.org  Sat Jan  3 01:05:34 1998\n" \
           "From: alice@example.org\nSubject: one\n\nfirst\n>From here\n\n"
#define M2 "From MAILER-DAEMON Sat Jan 03 01:05:35 1998\n" \
           "Subject: two\n\nsecond\n\n"
#define M3 "From bob@example.org  Sat Jan  3 01:05:36 1998\n" \
           "Subject: three\nX-UIDL: qpopper-3\n\nthird\n\n"
#define M4 "From carol@example.org  Sat Jan  3 01:05:37 1998\n" \
           "Subject: four\n\nfourth\n\n"
#define C1 "From: alice@example.org\nSubject: one\n\nfirst\nFrom here\n"
#define C2 "Subject: two\n\nsecond\n"
#define C4 "Subject: four\n\nfourth\n"

static bool load_plugin(Fixture *f, const char *conf)
{
  f->registry = poplarpriv_registry_new();
  f->config = poplarpriv_config_parse("test.conf", conf, strlen(conf));
  g_assert_cmpuint(f->config->errors->len, ==, 0);
  PoplarConfig *section =
      poplarpriv_config_section_ensure(f->config, "store-mbox");
  f->plugin = poplarpriv_plugin_new(f->registry, "store-mbox",
                                    "store-mbox.so");
  f->plugin->config = section;
  f->plugin->registering = true;
  const PoplarPluginDescriptor *desc = poplar_plugin_store_mbox();
  g_assert_cmpuint(desc->magic, ==, POPLAR_PLUGIN_MAGIC);
  g_assert_cmpstr(desc->name, ==, "store_mbox");
  bool ok = desc->init(f->plugin, section);
  f->plugin->registering = false;
  poplarpriv_config_report_unused(section);
  f->store = poplarpriv_registry_store(f->registry, "mbox");
  return ok;
}

static void setup(Fixture *f, gconstpointer data)
{
  const char *conf = data ? data
                          : "[store-mbox]\nlock-timeout = 2s\n"
                            "dotlock-stale = 1s\n";
  f->tmp = test_make_tmp_dir("poplar-mbox");
  f->path = g_build_filename(f->tmp, "user", NULL);
  f->index = g_build_filename(f->tmp, ".user.poplar-index", NULL);
  memset(&f->session, 0, sizeof f->session);
  memset(&f->session2, 0, sizeof f->session2);
  g_strlcpy(f->session.id, "s1", sizeof f->session.id);
  g_strlcpy(f->session2.id, "s2", sizeof f->session2.id);
  test_log_capture_start(POPLAR_LOG_DEBUG);
  test_log_clear();
  g_assert_true(load_plugin(f, conf));
  g_assert_nonnull(f->store);
}

static void teardown(Fixture *f, gconstpointer data)
{
  (void)data;
  poplarpriv_registry_free(f->registry);
  poplarpriv_config_free(f->config);
  g_free(f->open_error);
  test_remove_tree(f->tmp);
  g_free(f->tmp);
  g_free(f->path);
  g_free(f->index);
  unsetenv("POPLAR_MBOX_FAULT_ERRNO_STEP");
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
    g_free(f->open_error);
    f->open_error = test_log_last_with("cannot open mailbox");
    g_assert_nonnull(f->open_error);
  }
  return mbox;
}

static PoplarMailbox *open_ok(Fixture *f)
{
  PoplarStoreResult r;
  PoplarMailbox *mbox = open_at(f, &f->session, f->path, &r);
  if (r != POPLAR_STORE_OK)
    g_error("open failed (%d): %s", r, f->open_error);
  return mbox;
}

static MboxSyncKind sync_kind(PoplarMailbox *mbox)
{
  return ((MboxMailbox *)poplar_mailbox_get_data(mbox))->sync_kind;
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

static char *read_msg(PoplarMailbox *mbox, size_t index)
{
  PoplarMessage *msg = poplar_mailbox_message(mbox, index);
  PoplarMessageReader *r = poplar_message_reader_open(mbox, msg);
  g_assert_nonnull(r);
  GString *out = g_string_new(NULL);
  char buf[7];
  int64_t n;
  while ((n = poplar_message_reader_read(r, buf, sizeof buf)) > 0)
    g_string_append_len(out, buf, (gssize)n);
  g_assert_cmpint(n, ==, 0);
  poplar_message_reader_close(r);
  return g_string_free(out, FALSE);
}

static uint64_t crlf_size(const char *s)
{
  PoplarCrlfSize st;
  poplar_crlf_size_init(&st);
  poplar_crlf_size_feed(&st, s, strlen(s));
  return poplar_crlf_size_finish(&st);
}

static PoplarStoreResult expunge(Fixture *f, PoplarMailbox *mbox)
{
  PoplarStoreResult r = f->store->ops.expunge(f->store->data, mbox);
  if (r != POPLAR_STORE_OK)
    g_assert_nonnull(mbox->error);
  return r;
}

static void dele(PoplarMailbox *mbox, size_t index)
{
  poplar_mailbox_message(mbox, index)->deleted = true;
}

static const char *uidl_at(PoplarMailbox *mbox, size_t index)
{
  return poplar_message_uidl(poplar_mailbox_message(mbox, index));
}

/* ---- listing and reading -------------------------------------------------- */

static void test_missing_mbox(Fixture *f, gconstpointer data)
{
  (void)data;
  PoplarMailbox *mbox = open_ok(f);
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 0);
  g_assert_cmpint(sync_kind(mbox), ==, MBOX_SYNC_EMPTY);
  poplarpriv_mailbox_free(mbox);

  PoplarStoreResult r;
  g_autofree char *in_missing_dir =
      g_build_filename(f->tmp, "no-such-dir", "user", NULL);
  mbox = open_at(f, &f->session, in_missing_dir, &r);
  g_assert_cmpint(r, ==, POPLAR_STORE_PERMFAIL);
  poplarpriv_mailbox_free(mbox);
  mbox = open_at(f, &f->session, "relative/user", &r);
  g_assert_cmpint(r, ==, POPLAR_STORE_PERMFAIL);
  g_assert_nonnull(strstr(f->open_error, "absolute"));
  poplarpriv_mailbox_free(mbox);
  mbox = open_at(f, &f->session, f->tmp, &r);
  g_assert_cmpint(r, ==, POPLAR_STORE_PERMFAIL);
  poplarpriv_mailbox_free(mbox);
}

static void test_list_and_read(Fixture *f, gconstpointer data)
{
  (void)data;
  test_write_file(f->path, M1 M2 M3, -1);
  PoplarMailbox *mbox = open_ok(f);
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 3);
  g_assert_cmpint(sync_kind(mbox), ==, MBOX_SYNC_NEW);
  g_autofree char *c1 = read_msg(mbox, 0);
  g_autofree char *c2 = read_msg(mbox, 1);
  g_autofree char *c3 = read_msg(mbox, 2);
  g_assert_cmpstr(c1, ==, C1);
  g_assert_cmpstr(c2, ==, C2);
  g_assert_cmpstr(c3, ==, "Subject: three\nX-UIDL: qpopper-3\n\nthird\n");
  g_assert_cmpuint(poplar_message_size(poplar_mailbox_message(mbox, 0)), ==,
                   crlf_size(C1));
  g_assert_cmpuint(poplar_message_size(poplar_mailbox_message(mbox, 2)), ==,
                   crlf_size(c3));
  g_assert_cmpuint(strlen(uidl_at(mbox, 0)), ==, MBOX_HASH_HEX_LEN);
  g_assert_cmpstr(uidl_at(mbox, 2), ==, "qpopper-3");
  poplarpriv_mailbox_free(mbox);
  g_assert_true(test_exists(f->index));
  /* No lock of any kind is left. */
  g_autofree char *dotlock = g_strconcat(f->path, ".lock", NULL);
  g_assert_false(test_exists(dotlock));
}

static void test_in_use(Fixture *f, gconstpointer data)
{
  (void)data;
  test_write_file(f->path, M1, -1);
  PoplarMailbox *first = open_ok(f);
  PoplarStoreResult r;
  PoplarMailbox *second = open_at(f, &f->session2, f->path, &r);
  g_assert_cmpint(r, ==, POPLAR_STORE_IN_USE);
  g_assert_nonnull(strstr(f->open_error, "session s1"));
  poplarpriv_mailbox_free(second);
  /* The MTA locks are not held while the session idles. */
  int fd = open(f->path, O_RDWR);
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  g_assert_cmpint(fcntl(fd, F_SETLK, &fl), ==, 0);
  close(fd);
  poplarpriv_mailbox_free(first);
  second = open_at(f, &f->session2, f->path, &r);
  g_assert_cmpint(r, ==, POPLAR_STORE_OK);
  poplarpriv_mailbox_free(second);
}

static void test_truncated(Fixture *f, gconstpointer data)
{
  (void)data;
  test_write_file(f->path, M1 "From x@y  Sat Jan  3 01:05:40 1998\n"
                          "Subject: cut\n\nhalf a me", -1);
  PoplarMailbox *mbox = open_ok(f);
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 2);
  g_assert_true(test_log_contains("looks truncated"));
  g_autofree char *c = read_msg(mbox, 1);
  g_assert_cmpstr(c, ==, "Subject: cut\n\nhalf a me");
  poplarpriv_mailbox_free(mbox);
}

/* ---- UIDLs and the index --------------------------------------------------- */

static void test_cached_and_appended(Fixture *f, gconstpointer data)
{
  (void)data;
  test_write_file(f->path, M1 M2 M3, -1);
  PoplarMailbox *mbox = open_ok(f);
  g_autoptr(GPtrArray) before = uidls_of(mbox);
  poplarpriv_mailbox_free(mbox);

  mbox = open_ok(f);
  g_assert_cmpint(sync_kind(mbox), ==, MBOX_SYNC_CACHED);
  g_autoptr(GPtrArray) again = uidls_of(mbox);
  assert_same_strings(before, again);
  g_autofree char *c1 = read_msg(mbox, 0);
  g_assert_cmpstr(c1, ==, C1);
  poplarpriv_mailbox_free(mbox);

  test_append_file(f->path, M4);
  mbox = open_ok(f);
  g_assert_cmpint(sync_kind(mbox), ==, MBOX_SYNC_APPENDED);
  g_assert_cmpuint(((MboxMailbox *)poplar_mailbox_get_data(mbox))->n_reused,
                   ==, 2);
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 4);
  for (guint i = 0; i < 3; i++)
    g_assert_cmpstr(uidl_at(mbox, i), ==, g_ptr_array_index(before, i));
  g_autofree char *c4 = read_msg(mbox, 3);
  g_assert_cmpstr(c4, ==, C4);
  poplarpriv_mailbox_free(mbox);
}

static void test_lost_index(Fixture *f, gconstpointer data)
{
  (void)data;
  test_write_file(f->path, M1 M2 M3, -1);
  PoplarMailbox *mbox = open_ok(f);
  g_autoptr(GPtrArray) before = uidls_of(mbox);
  poplarpriv_mailbox_free(mbox);
  g_assert_cmpint(unlink(f->index), ==, 0);
  mbox = open_ok(f);
  g_assert_cmpint(sync_kind(mbox), ==, MBOX_SYNC_NEW);
  g_autoptr(GPtrArray) after = uidls_of(mbox);
  assert_same_strings(before, after);
  poplarpriv_mailbox_free(mbox);
  /* A damaged one is rebuilt. */
  test_write_file(f->index, "poplar-mbox-index 1\ngarbage\n", -1);
  mbox = open_ok(f);
  g_assert_true(test_log_contains("ignored and rebuilt"));
  g_autoptr(GPtrArray) again = uidls_of(mbox);
  assert_same_strings(before, again);
  poplarpriv_mailbox_free(mbox);
}

/* An MUA rewrites the mbox adding status fields, in place (mutt keeps the
 * inode and even restores the mtime) or with a new file. */
static void test_mua_edits(Fixture *f, gconstpointer data)
{
  (void)data;
  test_write_file(f->path, M1 M2 M3, -1);
  PoplarMailbox *mbox = open_ok(f);
  g_autoptr(GPtrArray) before = uidls_of(mbox);
  poplarpriv_mailbox_free(mbox);

  struct stat st;
  g_assert_cmpint(stat(f->path, &st), ==, 0);
  test_write_file(f->path,
                  "From alice@example.org  Sat Jan  3 01:05:34 1998\n"
                  "From: alice@example.org\nSubject: one\nStatus: RO\n\n"
                  "first\n>From here\n\n" M2 M3, -1);
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  g_assert_cmpint(utimensat(AT_FDCWD, f->path, times, 0), ==, 0);
  mbox = open_ok(f);
  g_assert_cmpint(sync_kind(mbox), ==, MBOX_SYNC_RESCANNED);
  g_autoptr(GPtrArray) edited = uidls_of(mbox);
  assert_same_strings(before, edited);
  g_autofree char *c1 = read_msg(mbox, 0);
  g_assert_cmpstr(c1, ==, "From: alice@example.org\nSubject: one\n"
                          "Status: RO\n\nfirst\nFrom here\n");
  poplarpriv_mailbox_free(mbox);

  /* Same size, mtime restored: only the ctime tells. */
  g_autofree char *edited_text = test_read_file(f->path, NULL);
  char *at = strstr(edited_text, "Subject: two");
  g_assert_nonnull(at);
  at[9] = 'T';
  g_assert_cmpint(stat(f->path, &st), ==, 0);
  int fd = open(f->path, O_WRONLY);
  g_assert_cmpint(pwrite(fd, edited_text, strlen(edited_text), 0), ==,
                  (ssize_t)strlen(edited_text));
  close(fd);
  struct timespec same[2] = {st.st_atim, st.st_mtim};
  g_assert_cmpint(utimensat(AT_FDCWD, f->path, same, 0), ==, 0);
  mbox = open_ok(f);
  g_assert_cmpint(sync_kind(mbox), ==, MBOX_SYNC_RESCANNED);
  g_autofree char *c2 = read_msg(mbox, 1);
  g_assert_cmpstr(c2, ==, "Subject: Two\n\nsecond\n");
  poplarpriv_mailbox_free(mbox);

  /* A new file renamed over it, with message 2 removed. */
  g_autofree char *tmp = g_strconcat(f->path, ".new", NULL);
  test_write_file(tmp, M1 M3, -1);
  g_assert_cmpint(rename(tmp, f->path), ==, 0);
  mbox = open_ok(f);
  g_assert_cmpint(sync_kind(mbox), ==, MBOX_SYNC_RESCANNED);
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 2);
  g_assert_cmpstr(uidl_at(mbox, 0), ==, g_ptr_array_index(before, 0));
  g_assert_cmpstr(uidl_at(mbox, 1), ==, g_ptr_array_index(before, 2));
  poplarpriv_mailbox_free(mbox);
}

static void test_duplicates(Fixture *f, gconstpointer data)
{
  (void)data;
  test_write_file(f->path, M1 M1 M2 M1, -1);
  PoplarMailbox *mbox = open_ok(f);
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 4);
  g_autofree char *first = g_strdup(uidl_at(mbox, 0));
  g_autofree char *second = g_strconcat(first, ".2", NULL);
  g_autofree char *third = g_strconcat(first, ".3", NULL);
  g_assert_cmpstr(uidl_at(mbox, 1), ==, second);
  g_assert_cmpstr(uidl_at(mbox, 3), ==, third);
  /* Deleting the first copy renames nothing. */
  dele(mbox, 0);
  g_assert_cmpint(expunge(f, mbox), ==, POPLAR_STORE_OK);
  poplarpriv_mailbox_free(mbox);
  mbox = open_ok(f);
  g_assert_cmpint(sync_kind(mbox), ==, MBOX_SYNC_CACHED);
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 3);
  g_assert_cmpstr(uidl_at(mbox, 0), ==, second);
  g_assert_cmpstr(uidl_at(mbox, 2), ==, third);
  poplarpriv_mailbox_free(mbox);
}

static void reload(Fixture *f, const char *conf)
{
  poplarpriv_registry_free(f->registry);
  poplarpriv_config_free(f->config);
  g_assert_true(load_plugin(f, conf));
}

static void test_format_change_keeps_uidls(Fixture *f, gconstpointer data)
{
  (void)data;
  test_write_file(f->path, M1 M2, -1);
  PoplarMailbox *mbox = open_ok(f);
  g_autoptr(GPtrArray) before = uidls_of(mbox);
  poplarpriv_mailbox_free(mbox);
  reload(f, "[store-mbox]\nformat = mboxrd\n");
  mbox = open_ok(f);
  g_assert_cmpint(sync_kind(mbox), ==, MBOX_SYNC_RESCANNED);
  g_autoptr(GPtrArray) after = uidls_of(mbox);
  assert_same_strings(before, after);
  poplarpriv_mailbox_free(mbox);
}

static void test_x_uidl_off(Fixture *f, gconstpointer data)
{
  (void)data;
  test_write_file(f->path, M3, -1);
  PoplarMailbox *mbox = open_ok(f);
  g_assert_cmpuint(strlen(uidl_at(mbox, 0)), ==, MBOX_HASH_HEX_LEN);
  poplarpriv_mailbox_free(mbox);
}

static void test_index_dir(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *conf =
      g_strdup_printf("[store-mbox]\nindex-dir = %s/idx/%%u\n", f->tmp);
  reload(f, conf);
  test_write_file(f->path, M1, -1);
  PoplarMailbox *mbox = open_ok(f);
  poplarpriv_mailbox_free(mbox);
  g_assert_false(test_exists(f->index));
  g_autofree char *in_dir =
      g_build_filename(f->tmp, "idx", "user", ".user.poplar-index", NULL);
  g_assert_true(test_exists(in_dir));
  g_autofree char *lock =
      g_build_filename(f->tmp, "idx", "user", ".user.poplar-lock", NULL);
  g_assert_true(test_exists(lock));

  /* INDEX= in the location wins. */
  g_autofree char *location =
      g_strdup_printf("%s:INDEX=%s/home/.poplar", f->path, f->tmp);
  PoplarStoreResult r;
  mbox = open_at(f, &f->session, location, &r);
  g_assert_cmpint(r, ==, POPLAR_STORE_OK);
  poplarpriv_mailbox_free(mbox);
  g_autofree char *in_home =
      g_build_filename(f->tmp, "home", ".poplar", ".user.poplar-index", NULL);
  g_assert_true(test_exists(in_home));
}

static void test_config_errors(void)
{
  static const char *const bad[] = {
      "[store-mbox]\nformat = mboxcl2\n",
      "[store-mbox]\nlocking = fcntl; lockf\n",
      "[store-mbox]\nlocking = ;\n",
      "[store-mbox]\nindex-dir = relative\n",
      "[store-mbox]\nlock-timeout = soon\n",
      "[store-mbox]\nlock-timeout = 1h\n",
      "[store-mbox]\nx-uidl = maybe\n",
  };
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    Fixture f;
    memset(&f, 0, sizeof f);
    g_assert_false(load_plugin(&f, bad[i]));
    g_assert_cmpuint(f.config->errors->len, >, 0);
    poplarpriv_registry_free(f.registry);
    poplarpriv_config_free(f.config);
  }
  Fixture f;
  memset(&f, 0, sizeof f);
  g_assert_true(load_plugin(&f, "[store-mbox]\nlocking = fcntl\n"));
  g_assert_cmpuint(f.config->warnings->len, ==, 1);
  poplarpriv_registry_free(f.registry);
  poplarpriv_config_free(f.config);
}

/* ---- expunge ---------------------------------------------------------------- */

static void test_expunge(Fixture *f, gconstpointer data)
{
  (void)data;
  test_write_file(f->path, M1 M2 M3, -1);
  g_assert_cmpint(chmod(f->path, 0640), ==, 0);
  bool root = geteuid() == 0;
  /* The mailbox belongs to the owner of its directory (a home). */
  if (root)
    g_assert_cmpint(chown(f->path, 65534, 65534), ==, 0);
  if (root)
    g_assert_cmpint(chown(f->tmp, 65534, 65534), ==, 0);
  PoplarMailbox *mbox = open_ok(f);
  g_autoptr(GPtrArray) before = uidls_of(mbox);
  dele(mbox, 1);
  g_assert_cmpint(expunge(f, mbox), ==, POPLAR_STORE_OK);
  poplarpriv_mailbox_free(mbox);
  g_autofree char *text = test_read_file(f->path, NULL);
  g_assert_cmpstr(text, ==, M1 M3);
  struct stat st;
  g_assert_cmpint(stat(f->path, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 07777, ==, 0640);
  if (root) {
    g_assert_cmpint(st.st_uid, ==, 65534);
    g_assert_cmpint(st.st_gid, ==, 65534);
  }
  g_autofree char *tmp = g_build_filename(f->tmp, ".user.poplar-new", NULL);
  g_assert_false(test_exists(tmp));

  mbox = open_ok(f);
  g_assert_cmpint(sync_kind(mbox), ==, MBOX_SYNC_CACHED);
  g_assert_cmpstr(uidl_at(mbox, 0), ==, g_ptr_array_index(before, 0));
  g_assert_cmpstr(uidl_at(mbox, 1), ==, g_ptr_array_index(before, 2));
  /* Delete everything: an empty mbox remains. */
  dele(mbox, 0);
  dele(mbox, 1);
  g_assert_cmpint(expunge(f, mbox), ==, POPLAR_STORE_OK);
  poplarpriv_mailbox_free(mbox);
  g_autofree char *empty = test_read_file(f->path, NULL);
  g_assert_cmpstr(empty, ==, "");
}

static void test_expunge_keeps_new_mail(Fixture *f, gconstpointer data)
{
  (void)data;
  test_write_file(f->path, M1 M2, -1);
  PoplarMailbox *mbox = open_ok(f);
  dele(mbox, 1);
  test_append_file(f->path, M3); /* the MTA, during the session */
  g_autofree char *c1 = read_msg(mbox, 0);
  g_assert_cmpstr(c1, ==, C1);
  test_append_file(f->path, M4);
  g_assert_cmpint(expunge(f, mbox), ==, POPLAR_STORE_OK);
  poplarpriv_mailbox_free(mbox);
  g_autofree char *text = test_read_file(f->path, NULL);
  g_assert_cmpstr(text, ==, M1 M3 M4);
  mbox = open_ok(f);
  g_assert_cmpint(sync_kind(mbox), ==, MBOX_SYNC_APPENDED);
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 3);
  g_assert_cmpstr(uidl_at(mbox, 1), ==, "qpopper-3");
  poplarpriv_mailbox_free(mbox);
}

/* Another program rewrote the mbox during the session: RETR still serves
 * the right message, DELE removes the right one. */
static void test_changed_during_session(Fixture *f, gconstpointer data)
{
  (void)data;
  test_write_file(f->path, M1 M2 M3 M4, -1);
  PoplarMailbox *mbox = open_ok(f);
  /* M2 removed and M1 given a status field, in place. */
  test_write_file(f->path,
                  "From alice@example.org  Sat Jan  3 01:05:34 1998\n"
                  "From: alice@example.org\nSubject: one\nStatus: O\n\n"
                  "first\n>From here\n\n" M3 M4, -1);
  g_autofree char *c4 = read_msg(mbox, 3);
  g_assert_cmpstr(c4, ==, C4);
  g_assert_true(test_log_contains("changed by another program"));
  PoplarMessageReader *gone = poplar_message_reader_open(
      mbox, poplar_mailbox_message(mbox, 1));
  g_assert_null(gone);
  dele(mbox, 3);
  dele(mbox, 1);
  g_assert_cmpint(expunge(f, mbox), ==, POPLAR_STORE_OK);
  poplarpriv_mailbox_free(mbox);
  g_autofree char *text = test_read_file(f->path, NULL);
  g_assert_cmpstr(text, ==,
                  "From alice@example.org  Sat Jan  3 01:05:34 1998\n"
                  "From: alice@example.org\nSubject: one\nStatus: O\n\n"
                  "first\n>From here\n\n" M3);
}

static void test_expunge_disk_full(Fixture *f, gconstpointer data)
{
  (void)data;
  static const char *const steps[] = {"3", "5"};
  for (size_t i = 0; i < G_N_ELEMENTS(steps); i++) {
    test_write_file(f->path, M1 M2 M3, -1);
    PoplarMailbox *mbox = open_ok(f);
    g_autofree char *index_before = test_read_file(f->index, NULL);
    dele(mbox, 0);
    setenv("POPLAR_MBOX_FAULT_ERRNO_STEP", steps[i], 1);
    g_assert_cmpint(expunge(f, mbox), ==, POPLAR_STORE_TEMPFAIL);
    g_assert_nonnull(strstr(mbox->error, "nothing was removed"));
    unsetenv("POPLAR_MBOX_FAULT_ERRNO_STEP");
    poplarpriv_mailbox_free(mbox);
    g_autofree char *text = test_read_file(f->path, NULL);
    g_assert_cmpstr(text, ==, M1 M2 M3);
    g_autofree char *index_after = test_read_file(f->index, NULL);
    g_assert_cmpstr(index_before, ==, index_after);
    g_autofree char *tmp = g_build_filename(f->tmp, ".user.poplar-new",
                                            NULL);
    g_assert_false(test_exists(tmp));
    g_autofree char *dotlock = g_strconcat(f->path, ".lock", NULL);
    g_assert_false(test_exists(dotlock));
  }
}

/* A rewrite killed before its rename left its copy: the next session
 * removes it, and the mbox is whole. */
static void test_leftover_removed(Fixture *f, gconstpointer data)
{
  (void)data;
  test_write_file(f->path, M1 M2, -1);
  g_autofree char *tmp = g_build_filename(f->tmp, ".user.poplar-new", NULL);
  test_write_file(tmp, M1, -1);
  g_autofree char *dotlock = g_strconcat(f->path, ".lock", NULL);
  g_autofree char *dead = g_strdup_printf("%lld\n", test_dead_pid());
  test_write_file(dotlock, dead, -1);
  test_age_file(dotlock, 5);
  PoplarMailbox *mbox = open_ok(f);
  g_assert_cmpuint(poplar_mailbox_message_count(mbox), ==, 2);
  g_assert_true(test_log_contains("stale dotlock"));
  g_assert_true(test_log_contains("interrupted rewrite"));
  g_assert_false(test_exists(tmp));
  poplarpriv_mailbox_free(mbox);
}

/* A worker that cannot give the rewritten mbox its owner removes
 * nothing. */
static void test_owner_cannot_be_kept(Fixture *f, gconstpointer data)
{
  (void)data;
  if (geteuid() != 0) {
    g_test_skip("needs root to make a mailbox owned by someone else");
    return;
  }
  test_write_file(f->path, M1 M2, -1);
  g_assert_cmpint(chmod(f->path, 0666), ==, 0);
  g_assert_cmpint(chmod(f->tmp, 0777), ==, 0);
  pid_t child = fork();
  g_assert_cmpint(child, >=, 0);
  if (child == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0)
      _exit(2);
    /* A root-owned mailbox in a shared directory: the password database
     * says whose it is. */
    GHashTable *fields = g_hash_table_new(g_str_hash, g_str_equal);
    g_hash_table_insert(fields, (char *)"uid", (char *)"0");
    PoplarMailbox *mbox =
        poplarpriv_mailbox_new(&f->session, f->store, "user", f->path,
                               fields);
    g_hash_table_unref(fields);
    if (poplarpriv_mailbox_open(mbox) != POPLAR_STORE_OK)
      _exit(3);
    poplarpriv_mailbox_number(mbox);
    dele(mbox, 0);
    PoplarStoreResult r = expunge(f, mbox);
    bool said = mbox->error && strstr(mbox->error, "owner");
    poplarpriv_mailbox_free(mbox);
    _exit(r == POPLAR_STORE_PERMFAIL && said ? 0 : 1);
  }
  int status;
  g_assert_cmpint(waitpid(child, &status, 0), ==, child);
  g_assert_true(WIFEXITED(status));
  g_assert_cmpint(WEXITSTATUS(status), ==, 0);
  g_autofree char *text = test_read_file(f->path, NULL);
  g_assert_cmpstr(text, ==, M1 M2);
  g_autofree char *tmp = g_build_filename(f->tmp, ".user.poplar-new", NULL);
  g_assert_false(test_exists(tmp));
}

/* The mbox is never opened through a link: the file the link points to
 * is neither served nor rewritten. */
static void test_symlink(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *real = g_build_filename(f->tmp, "real", NULL);
  test_write_file(real, M1 M2, -1);
  g_assert_cmpint(symlink(real, f->path), ==, 0);
  PoplarStoreResult r;
  PoplarMailbox *mbox = open_at(f, &f->session, f->path, &r);
  g_assert_cmpint(r, ==, POPLAR_STORE_PERMFAIL);
  g_assert_nonnull(strstr(f->open_error, "symbolic link"));
  poplarpriv_mailbox_free(mbox);
  g_autofree char *text = test_read_file(real, NULL);
  g_assert_cmpstr(text, ==, M1 M2);
  g_autofree char *index = g_build_filename(f->tmp, ".real.poplar-index",
                                            NULL);
  g_assert_false(test_exists(index));
}

static PoplarStoreResult open_refused(Fixture *f, const char *why)
{
  PoplarStoreResult r;
  PoplarMailbox *mbox = open_at(f, &f->session, f->path, &r);
  if (r != POPLAR_STORE_OK && why && !strstr(f->open_error, why))
    g_error("expected \"%s\" in: %s", why, f->open_error);
  poplarpriv_mailbox_free(mbox);
  return r;
}

static void test_hard_link_refused(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *other = g_build_filename(f->tmp, "other", NULL);
  test_write_file(other, M1 M2, -1);
  g_assert_cmpint(link(other, f->path), ==, 0);
  g_assert_cmpint(open_refused(f, "hard links"), ==, POPLAR_STORE_PERMFAIL);
  g_autofree char *text = test_read_file(other, NULL);
  g_assert_cmpstr(text, ==, M1 M2);
}

static void test_fifo_refused(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_cmpint(mkfifo(f->path, 0600), ==, 0);
  /* Must answer, not wait for a writer. */
  g_assert_cmpint(open_refused(f, "FIFO"), ==, POPLAR_STORE_PERMFAIL);
}

static void test_directory_refused(Fixture *f, gconstpointer data)
{
  (void)data;
  g_assert_cmpint(mkdir(f->path, 0700), ==, 0);
  g_assert_cmpint(open_refused(f, "directory"), ==, POPLAR_STORE_PERMFAIL);
}

/* A link in the middle of the path, in a directory the user can write. */
static void test_middle_symlink_refused(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *real = g_build_filename(f->tmp, "realdir", NULL);
  g_autofree char *link_dir = g_build_filename(f->tmp, "linkdir", NULL);
  g_assert_cmpint(mkdir(real, 0700), ==, 0);
  g_assert_cmpint(symlink(real, link_dir), ==, 0);
  g_autofree char *target = g_build_filename(real, "user", NULL);
  test_write_file(target, M1, -1);
  g_assert_cmpint(chmod(f->tmp, 0777), ==, 0); /* the user's to arrange */
  g_autofree char *via = g_build_filename(link_dir, "user", NULL);
  PoplarStoreResult r;
  PoplarMailbox *mbox = open_at(f, &f->session, via, &r);
  g_assert_cmpint(r, ==, POPLAR_STORE_PERMFAIL);
  poplarpriv_mailbox_free(mbox);
}

/* The uid the password database gives is the owner the mbox must have. */
static void test_owner_from_uid_field(Fixture *f, gconstpointer data)
{
  (void)data;
  test_write_file(f->path, M1, -1);
  g_autoptr(GHashTable) fields =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  g_hash_table_insert(fields, g_strdup("uid"),
                      g_strdup_printf("%ld", (long)geteuid() + 1));
  PoplarMailbox *mbox =
      poplarpriv_mailbox_new(&f->session, f->store, "user", f->path, fields);
  g_assert_cmpint(poplarpriv_mailbox_open(mbox), ==, POPLAR_STORE_PERMFAIL);
  g_autofree char *said = test_log_last_with("cannot open mailbox");
  g_assert_nonnull(said);
  g_assert_nonnull(strstr(said, "owned by uid"));
  poplarpriv_mailbox_free(mbox);
  g_hash_table_insert(fields, g_strdup("uid"),
                      g_strdup_printf("%ld", (long)geteuid()));
  mbox = poplarpriv_mailbox_new(&f->session, f->store, "user", f->path,
                                fields);
  g_assert_cmpint(poplarpriv_mailbox_open(mbox), ==, POPLAR_STORE_OK);
  poplarpriv_mailbox_free(mbox);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(name, conf, fn) \
  g_test_add("/mbox-store/" name, Fixture, conf, setup, fn, teardown)
  ADD("missing-mbox", NULL, test_missing_mbox);
  ADD("list-and-read", NULL, test_list_and_read);
  ADD("in-use", NULL, test_in_use);
  ADD("truncated", NULL, test_truncated);
  ADD("cached-and-appended", NULL, test_cached_and_appended);
  ADD("lost-index", NULL, test_lost_index);
  ADD("mua-edits", NULL, test_mua_edits);
  ADD("duplicates", NULL, test_duplicates);
  ADD("format-change-keeps-uidls", NULL, test_format_change_keeps_uidls);
  ADD("x-uidl-off", "[store-mbox]\nx-uidl = no\n", test_x_uidl_off);
  ADD("index-dir", NULL, test_index_dir);
  g_test_add_func("/mbox-store/config-errors", test_config_errors);
  ADD("expunge", NULL, test_expunge);
  ADD("expunge-keeps-new-mail", NULL, test_expunge_keeps_new_mail);
  ADD("changed-during-session", NULL, test_changed_during_session);
  ADD("expunge-disk-full", NULL, test_expunge_disk_full);
  ADD("leftover-removed", "[store-mbox]\nlock-timeout = 5s\n"
      "dotlock-stale = 1s\n", test_leftover_removed);
  ADD("owner-cannot-be-kept", NULL, test_owner_cannot_be_kept);
  ADD("symlink", NULL, test_symlink);
  ADD("hard-link-refused", NULL, test_hard_link_refused);
  ADD("fifo-refused", NULL, test_fifo_refused);
  ADD("directory-refused", NULL, test_directory_refused);
  ADD("middle-symlink-refused", NULL, test_middle_symlink_refused);
  ADD("owner-from-uid-field", NULL, test_owner_from_uid_field);
  return g_test_run();
}
