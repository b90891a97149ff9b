/* SPDX-License-Identifier: MIT */
/* The users file, and the bound on parallel work. */
#include "uidl-import.h"

#include <string.h>

static const UserEntry *entry(GPtrArray *users, guint i)
{
  return g_ptr_array_index(users, i);
}

static void test_users_file(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) u = credentials_parse(
      "# comment\n\nalice:secret\r\n"
      "bob:pa:ss:word:/srv/mail/bob/Maildir\n"
      "carol:pw:maildir:/srv/carol\n"
      "dave:ends:with:colon:\n",
      "users", false, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(u->len, ==, 4);
  g_assert_cmpstr(entry(u, 0)->user, ==, "alice");
  g_assert_cmpstr(entry(u, 0)->password, ==, "secret");
  g_assert_null(entry(u, 0)->maildir);
  g_assert_cmpuint(entry(u, 0)->line, ==, 3);
  g_assert_cmpstr(entry(u, 1)->password, ==, "pa:ss:word");
  g_assert_cmpstr(entry(u, 1)->maildir, ==, "/srv/mail/bob/Maildir");
  g_assert_cmpstr(entry(u, 2)->password, ==, "pw");
  g_assert_cmpstr(entry(u, 2)->maildir, ==, "maildir:/srv/carol");
  g_assert_cmpstr(entry(u, 3)->password, ==, "ends:with:colon:");
  g_assert_null(entry(u, 3)->maildir);
}

static void test_users_file_master(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) u = credentials_parse(
      "alice\nbob::/srv/bob\ncarol:/srv/carol\n", "users", true, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(u->len, ==, 3);
  g_assert_null(entry(u, 0)->password);
  g_assert_cmpstr(entry(u, 1)->maildir, ==, "/srv/bob");
  g_assert_cmpstr(entry(u, 2)->maildir, ==, "/srv/carol");
}

static void test_users_file_errors(void)
{
  const char *bad[] = {"alice\n", "alice:\n", ":pw\n", "a b:pw\n",
                       "alice:1\nalice:2\n"};
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    GPtrArray *u = credentials_parse(bad[i], "users", false, &error);
    g_assert_null(u);
    g_assert_error(error, UIDL_IMPORT_ERROR, UIDL_IMPORT_ERROR_USAGE);
    /* The message names the file and the line. */
    g_assert_true(g_str_has_prefix(error->message, "users:"));
  }
}

typedef struct {
  GMutex lock;
  GCond cond;
  unsigned running;
  unsigned most;
  unsigned done;
  unsigned waiting_for; /* jobs hold until this many run at once */
} Probe;

static void probe_job(gpointer item, gpointer data)
{
  Probe *p = data;
  (void)item;
  g_mutex_lock(&p->lock);
  p->running++;
  p->most = MAX(p->most, p->running);
  /* The first jobs meet before any finishes, so the bound is really
   * reached; no job waits for a timer. */
  if (p->done == 0 && p->running < p->waiting_for) {
    while (p->done == 0 && p->running < p->waiting_for)
      g_cond_wait(&p->cond, &p->lock);
  }
  g_cond_broadcast(&p->cond);
  p->running--;
  p->done++;
  g_cond_broadcast(&p->cond);
  g_mutex_unlock(&p->lock);
}

static void test_driver_bound(void)
{
  for (unsigned parallel = 1; parallel <= 5; parallel += 2) {
    g_autoptr(GPtrArray) items = g_ptr_array_new();
    for (guint i = 0; i < 40; i++)
      g_ptr_array_add(items, GUINT_TO_POINTER(i + 1));
    Probe p = {.waiting_for = parallel};
    g_mutex_init(&p.lock);
    g_cond_init(&p.cond);
    unsigned peak = 0;
    driver_run(items, parallel, probe_job, &p, &peak);
    g_assert_cmpuint(p.done, ==, 40);
    g_assert_cmpuint(p.most, ==, parallel);
    g_assert_cmpuint(peak, <=, parallel);
    g_assert_cmpuint(peak, >=, p.most);
    g_mutex_clear(&p.lock);
    g_cond_clear(&p.cond);
  }
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/credentials/users-file", test_users_file);
  g_test_add_func("/credentials/master", test_users_file_master);
  g_test_add_func("/credentials/errors", test_users_file_errors);
  g_test_add_func("/driver/bound", test_driver_bound);
  return g_test_run();
}
