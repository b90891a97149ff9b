/* SPDX-License-Identifier: MIT */
/* The poplar-lock mailbox lock and the thread that keeps it fresh. */
#include "maildir.h"
#include "maildir-test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TIMEOUT_MS (10 * 60 * 1000)

typedef struct Fixture {
  char *dir;
  char *lock_path;
  char *break_path;
  int root_fd;
} Fixture;

static void setup(Fixture *f, gconstpointer data)
{
  (void)data;
  f->dir = test_make_tmp_dir("poplar-maildir");
  f->lock_path = g_build_filename(f->dir, MAILDIR_LOCK_FILE, NULL);
  f->break_path = g_build_filename(f->dir, MAILDIR_LOCK_BREAK_FILE, NULL);
  f->root_fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_assert_cmpint(f->root_fd, >=, 0);
  test_log_capture_start(POPLAR_LOG_DEBUG);
}

static void teardown(Fixture *f, gconstpointer data)
{
  (void)data;
  close(f->root_fd);
  test_remove_tree(f->dir);
  g_free(f->dir);
  g_free(f->lock_path);
  g_free(f->break_path);
}

static MaildirLock *acquire_ok(Fixture *f, char **note)
{
  MaildirLock *lock = NULL;
  GError *error = NULL;
  PoplarStoreResult r =
      maildir_lock_acquire(f->root_fd, TIMEOUT_MS, &lock, note, &error);
  g_assert_no_error(error);
  g_assert_cmpint(r, ==, POPLAR_STORE_OK);
  g_assert_nonnull(lock);
  return lock;
}

static void acquire_in_use(Fixture *f)
{
  MaildirLock *lock = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *note = NULL;
  PoplarStoreResult r =
      maildir_lock_acquire(f->root_fd, TIMEOUT_MS, &lock, &note, &error);
  g_assert_cmpint(r, ==, POPLAR_STORE_IN_USE);
  g_assert_null(lock);
  g_assert_error(error, MAILDIR_ERROR, POPLAR_STORE_IN_USE);
}

static void release_ok(MaildirLock *lock)
{
  GError *error = NULL;
  g_assert_true(maildir_lock_release(lock, &error));
  g_assert_no_error(error);
}

/* Writes a lock file as another owner would. */
static void write_lock(const char *path, const MaildirLockOwner *owner)
{
  g_autofree char *text = maildir_lock_owner_format(owner);
  GError *error = NULL;
  g_file_set_contents(path, text, -1, &error);
  g_assert_no_error(error);
}

static void test_owner_format(void)
{
  MaildirLockOwner self, parsed;
  maildir_lock_owner_self(&self);
  g_assert_cmpint(self.pid, ==, getpid());
  g_assert_cmpstr(self.host, !=, "");
  g_assert_cmpuint(strlen(self.token), >, 10);
  g_autofree char *text = maildir_lock_owner_format(&self);
  g_assert_true(g_str_has_suffix(text, "\n"));
  g_assert_true(strchr(text, '\n') == text + strlen(text) - 1); /* 1 line */
  g_assert_true(maildir_lock_owner_parse(text, &parsed));
  g_assert_cmpstr(parsed.host, ==, self.host);
  g_assert_cmpstr(parsed.boot, ==, self.boot);
  g_assert_cmpstr(parsed.pidns, ==, self.pidns);
  g_assert_cmpint(parsed.pid, ==, self.pid);
  g_assert_cmpint(parsed.time, ==, self.time);
  g_assert_cmpstr(parsed.token, ==, self.token);

  g_assert_false(maildir_lock_owner_parse("", &parsed));
  g_assert_false(maildir_lock_owner_parse("garbage", &parsed));
  g_assert_false(maildir_lock_owner_parse("poplar-lock 1 host=a pid=0 "
                                          "token=t", &parsed));
  g_assert_false(maildir_lock_owner_parse("poplar-lock 1 host=a pid=x "
                                          "token=t", &parsed));
  g_assert_false(maildir_lock_owner_parse("poplar-lock 1 pid=5 token=t",
                                          &parsed));
  g_assert_true(maildir_lock_owner_parse("poplar-lock 1 host=a pid=5 "
                                         "token=t", &parsed));
  g_assert_cmpstr(parsed.boot, ==, "-");
}

static void test_exclusive(Fixture *f, gconstpointer data)
{
  (void)data;
  MaildirLock *lock = acquire_ok(f, NULL);
  g_assert_true(test_file_exists(f->dir, MAILDIR_LOCK_FILE));
  /* The file names its owner. */
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(f->lock_path, &text, NULL, NULL));
  MaildirLockOwner owner;
  g_assert_true(maildir_lock_owner_parse(text, &owner));
  g_assert_cmpint(owner.pid, ==, getpid());
  struct stat st;
  g_assert_cmpint(stat(f->lock_path, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0600);

  /* Our own process is alive: a second session is refused. */
  acquire_in_use(f);
  acquire_in_use(f);
  release_ok(lock);
  g_assert_false(test_file_exists(f->dir, MAILDIR_LOCK_FILE));
  lock = acquire_ok(f, NULL);
  release_ok(lock);
}

static void test_dead_pid_is_stale(Fixture *f, gconstpointer data)
{
  (void)data;
  MaildirLockOwner other;
  maildir_lock_owner_self(&other);
  other.pid = test_dead_pid();
  write_lock(f->lock_path, &other);
  g_autofree char *note = NULL;
  MaildirLock *lock = acquire_ok(f, &note);
  g_assert_nonnull(note);
  g_assert_nonnull(strstr(note, "is gone"));
  /* The new file is ours. */
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(f->lock_path, &text, NULL, NULL));
  MaildirLockOwner owner;
  g_assert_true(maildir_lock_owner_parse(text, &owner));
  g_assert_cmpint(owner.pid, ==, getpid());
  g_assert_false(test_file_exists(f->dir, MAILDIR_LOCK_BREAK_FILE));
  release_ok(lock);
}

static void test_killed_process(Fixture *f, gconstpointer data)
{
  (void)data;
  /* A process takes the lock and dies without releasing it (kill -9). */
  pid_t pid = fork();
  g_assert_cmpint(pid, >=, 0);
  if (pid == 0) {
    MaildirLock *lock = NULL;
    GError *error = NULL;
    _exit(maildir_lock_acquire(f->root_fd, TIMEOUT_MS, &lock, NULL,
                               &error) == POPLAR_STORE_OK ? 0 : 1);
  }
  int status;
  g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
  g_assert_true(WIFEXITED(status));
  g_assert_cmpint(WEXITSTATUS(status), ==, 0);
  g_assert_true(test_file_exists(f->dir, MAILDIR_LOCK_FILE));
  g_autofree char *note = NULL;
  MaildirLock *lock = acquire_ok(f, &note);
  g_assert_nonnull(note);
  release_ok(lock);
}

static void test_other_host(Fixture *f, gconstpointer data)
{
  (void)data;
  MaildirLockOwner other;
  maildir_lock_owner_self(&other);
  g_strlcpy(other.host, "node-b.example", sizeof other.host);
  other.pid = test_dead_pid(); /* a pid means nothing on another host */
  write_lock(f->lock_path, &other);
  acquire_in_use(f);
  /* Not refreshed for longer than the timeout: its owner is gone. */
  test_age_file(f->lock_path, TIMEOUT_MS / 1000 + 60);
  g_autofree char *note = NULL;
  MaildirLock *lock = acquire_ok(f, &note);
  g_assert_nonnull(strstr(note, "not refreshed"));
  g_assert_nonnull(strstr(note, "node-b.example"));
  release_ok(lock);
}

static void test_other_boot(Fixture *f, gconstpointer data)
{
  (void)data;
  /* Same host name, another kernel (or pid namespace): its pids are not
   * ours to check. */
  MaildirLockOwner other;
  maildir_lock_owner_self(&other);
  g_strlcpy(other.pidns, "12345", sizeof other.pidns);
  other.pid = test_dead_pid();
  write_lock(f->lock_path, &other);
  acquire_in_use(f);
}

static void test_live_pid_old_lock(Fixture *f, gconstpointer data)
{
  (void)data;
  /* A live process that stopped refreshing (hung) loses the lock after the
   * timeout. */
  MaildirLockOwner other;
  maildir_lock_owner_self(&other);
  other.pid = getppid();
  write_lock(f->lock_path, &other);
  acquire_in_use(f);
  test_age_file(f->lock_path, TIMEOUT_MS / 1000 - 60);
  acquire_in_use(f);
  test_age_file(f->lock_path, TIMEOUT_MS / 1000 + 60);
  MaildirLock *lock = acquire_ok(f, NULL);
  release_ok(lock);
}

static void test_unreadable_lock(Fixture *f, gconstpointer data)
{
  (void)data;
  /* Empty: being written right now, or written by something else.  Only
   * its age can make it stale. */
  test_write_file(f->dir, MAILDIR_LOCK_FILE, "", 0);
  acquire_in_use(f);
  test_write_file(f->dir, MAILDIR_LOCK_FILE, "some junk\n", -1);
  acquire_in_use(f);
  test_age_file(f->lock_path, TIMEOUT_MS / 1000 + 60);
  MaildirLock *lock = acquire_ok(f, NULL);
  release_ok(lock);
}

static void test_future_mtime(Fixture *f, gconstpointer data)
{
  (void)data;
  /* A clock ahead of ours must not make a lock look stale. */
  MaildirLockOwner other;
  maildir_lock_owner_self(&other);
  g_strlcpy(other.host, "node-c.example", sizeof other.host);
  write_lock(f->lock_path, &other);
  test_age_file(f->lock_path, -3600);
  acquire_in_use(f);
}

static void test_break_lock(Fixture *f, gconstpointer data)
{
  (void)data;
  MaildirLockOwner other;
  maildir_lock_owner_self(&other);
  other.pid = test_dead_pid();
  write_lock(f->lock_path, &other);

  /* Another live session is removing the stale lock right now. */
  MaildirLockOwner breaker;
  maildir_lock_owner_self(&breaker);
  g_strlcpy(breaker.host, "node-d.example", sizeof breaker.host);
  write_lock(f->break_path, &breaker);
  acquire_in_use(f);
  g_assert_true(test_file_exists(f->dir, MAILDIR_LOCK_FILE));

  /* That session died in the middle (its break lock is old). */
  test_age_file(f->break_path, 120);
  MaildirLock *lock = acquire_ok(f, NULL);
  g_assert_false(test_file_exists(f->dir, MAILDIR_LOCK_BREAK_FILE));
  release_ok(lock);

  /* A break lock left by a dead process on this host is stale at once. */
  write_lock(f->lock_path, &other);
  MaildirLockOwner dead_breaker;
  maildir_lock_owner_self(&dead_breaker);
  dead_breaker.pid = test_dead_pid();
  write_lock(f->break_path, &dead_breaker);
  lock = acquire_ok(f, NULL);
  release_ok(lock);
}

static void test_release_not_ours(Fixture *f, gconstpointer data)
{
  (void)data;
  MaildirLock *lock = acquire_ok(f, NULL);
  /* Someone declared it stale and another session took the mailbox. */
  g_assert_cmpint(unlink(f->lock_path), ==, 0);
  MaildirLockOwner other;
  maildir_lock_owner_self(&other);
  g_strlcpy(other.host, "node-e.example", sizeof other.host);
  write_lock(f->lock_path, &other);

  GError *error = NULL;
  g_assert_false(maildir_lock_refresh(lock, &error));
  g_assert_nonnull(error);
  g_assert_nonnull(strstr(error->message, "taken over"));
  g_clear_error(&error);

  g_assert_false(maildir_lock_release(lock, &error));
  g_assert_nonnull(error);
  g_clear_error(&error);
  /* The other session's lock is untouched. */
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(f->lock_path, &text, NULL, NULL));
  g_assert_nonnull(strstr(text, "node-e.example"));
}

/* Released without a refresh in between: the status call alone must
 * tell that the file at the lock's name is no longer ours. */
static void test_release_taken_over_unrefreshed(Fixture *f,
                                                gconstpointer data)
{
  (void)data;
  MaildirLock *lock = acquire_ok(f, NULL);
  g_assert_cmpint(unlink(f->lock_path), ==, 0);
  MaildirLockOwner other;
  maildir_lock_owner_self(&other);
  g_strlcpy(other.host, "node-f.example", sizeof other.host);
  write_lock(f->lock_path, &other);

  GError *error = NULL;
  g_assert_false(maildir_lock_release(lock, &error));
  g_assert_nonnull(error);
  g_clear_error(&error);
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(f->lock_path, &text, NULL, NULL));
  g_assert_nonnull(strstr(text, "node-f.example"));
}

static void test_release_removed(Fixture *f, gconstpointer data)
{
  (void)data;
  MaildirLock *lock = acquire_ok(f, NULL);
  g_assert_cmpint(unlink(f->lock_path), ==, 0);
  GError *error = NULL;
  g_assert_false(maildir_lock_refresh(lock, &error));
  g_assert_nonnull(strstr(error->message, "removed"));
  g_clear_error(&error);
  g_assert_false(maildir_lock_release(lock, &error));
  g_clear_error(&error);
  g_assert_false(test_file_exists(f->dir, MAILDIR_LOCK_FILE));
}

static void test_refresh(Fixture *f, gconstpointer data)
{
  (void)data;
  MaildirLock *lock = acquire_ok(f, NULL);
  test_age_file(f->lock_path, 3600);
  g_assert_cmpint(test_file_age(f->lock_path), >=, 3600);
  GError *error = NULL;
  g_assert_true(maildir_lock_refresh(lock, &error));
  g_assert_no_error(error);
  g_assert_cmpint(test_file_age(f->lock_path), <, 5);
  release_ok(lock);
}

/* Names in the Maildir that the lock protocol writes. */
static unsigned lock_files_left(Fixture *f)
{
  g_autoptr(GPtrArray) names = test_list_dir(f->dir);
  unsigned n = 0;
  for (guint i = 0; i < names->len; i++)
    n += g_str_has_prefix(g_ptr_array_index(names, i), MAILDIR_LOCK_FILE);
  return n;
}

static void test_acquire_out_of_descriptors(Fixture *f, gconstpointer data)
{
  (void)data;
  /* With no descriptor free the lock cannot be written: a clear failure
   * to retry, and nothing left behind; with one, it is taken. */
  for (unsigned keep_free = 0; keep_free <= 3; keep_free++) {
    MaildirLock *lock = NULL;
    g_autoptr(GError) error = NULL;
    TestFdHog *hog = test_fds_hog(keep_free);
    PoplarStoreResult r =
        maildir_lock_acquire(f->root_fd, TIMEOUT_MS, &lock, NULL, &error);
    test_fds_give_back(hog);
    if (keep_free == 0) {
      g_assert_cmpint(r, ==, POPLAR_STORE_TEMPFAIL);
      g_assert_error(error, MAILDIR_ERROR, POPLAR_STORE_TEMPFAIL);
      g_assert_nonnull(strstr(error->message, g_strerror(EMFILE)));
      g_assert_null(lock);
      g_assert_cmpuint(lock_files_left(f), ==, 0);
      continue;
    }
    g_assert_no_error(error);
    g_assert_cmpint(r, ==, POPLAR_STORE_OK);
    g_assert_cmpuint(lock_files_left(f), ==, 1);
    release_ok(lock);
    g_assert_cmpuint(lock_files_left(f), ==, 0);
  }
}

static void test_held_lock_keeps_no_descriptor(Fixture *f, gconstpointer data)
{
  (void)data;
  unsigned before = test_open_fds();
  MaildirLock *lock = acquire_ok(f, NULL);
  g_assert_cmpuint(test_open_fds(), ==, before);
  GError *error = NULL;
  g_assert_true(maildir_lock_refresh(lock, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(test_open_fds(), ==, before);
  release_ok(lock);
  g_assert_cmpuint(test_open_fds(), ==, before);
}

static int64_t mtime_ns(const char *path)
{
  struct stat st;
  g_assert_cmpint(lstat(path, &st), ==, 0);
  return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

static void test_refresh_out_of_descriptors(Fixture *f, gconstpointer data)
{
  (void)data;
  MaildirLock *lock = acquire_ok(f, NULL);
  GError *error = NULL;
  for (int round = 0; round < 2; round++) {
    int64_t before = mtime_ns(f->lock_path);
    g_usleep(20 * 1000);
    TestFdHog *hog = test_fds_hog(0);
    bool refreshed = maildir_lock_refresh(lock, &error);
    test_fds_give_back(hog);
    g_assert_no_error(error);
    g_assert_true(refreshed);
    g_assert_cmpint(mtime_ns(f->lock_path), >, before);
  }
  /* Someone else's change to the file cannot be vouched for without
   * reading the token: not taken for ours. */
  test_age_file(f->lock_path, 3600);
  TestFdHog *hog = test_fds_hog(0);
  bool refreshed = maildir_lock_refresh(lock, &error);
  test_fds_give_back(hog);
  g_assert_false(refreshed);
  g_assert_nonnull(error);
  g_clear_error(&error);
  /* With a descriptor free the token shows it is ours after all. */
  g_assert_true(maildir_lock_refresh(lock, &error));
  g_assert_no_error(error);
  g_assert_cmpint(test_file_age(f->lock_path), <, 5);
  release_ok(lock);
}

static void test_release_out_of_descriptors(Fixture *f, gconstpointer data)
{
  (void)data;
  /* A session that ends while the process has no descriptor free must
   * still free its mailbox. */
  MaildirLock *lock = acquire_ok(f, NULL);
  GError *error = NULL;
  TestFdHog *hog = test_fds_hog(0);
  bool released = maildir_lock_release(lock, &error);
  test_fds_give_back(hog);
  g_assert_no_error(error);
  g_assert_true(released);
  g_assert_false(test_file_exists(f->dir, MAILDIR_LOCK_FILE));

  /* After a refresh too (the file's change time moved on). */
  lock = acquire_ok(f, NULL);
  g_assert_true(maildir_lock_refresh(lock, &error));
  hog = test_fds_hog(0);
  released = maildir_lock_release(lock, &error);
  test_fds_give_back(hog);
  g_assert_no_error(error);
  g_assert_true(released);
  g_assert_false(test_file_exists(f->dir, MAILDIR_LOCK_FILE));
}

static void test_release_not_ours_out_of_descriptors(Fixture *f,
                                                     gconstpointer data)
{
  (void)data;
  MaildirLock *lock = acquire_ok(f, NULL);
  /* Taken over: a new file, which may well get the freed inode number. */
  g_assert_cmpint(unlink(f->lock_path), ==, 0);
  MaildirLockOwner other;
  maildir_lock_owner_self(&other);
  g_strlcpy(other.host, "node-f.example", sizeof other.host);
  write_lock(f->lock_path, &other);

  GError *error = NULL;
  TestFdHog *hog = test_fds_hog(0);
  bool released = maildir_lock_release(lock, &error);
  test_fds_give_back(hog);
  g_assert_false(released);
  g_assert_nonnull(error);
  g_assert_nonnull(strstr(error->message, "taken over"));
  g_clear_error(&error);
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(f->lock_path, &text, NULL, NULL));
  g_assert_nonnull(strstr(text, "node-f.example"));
}

static void test_changed_but_still_ours(Fixture *f, gconstpointer data)
{
  (void)data;
  /* An administrator's chmod or chown changes the file's ctime, not its
   * owner: the token says the lock is still ours. */
  MaildirLock *lock = acquire_ok(f, NULL);
  g_usleep(10 * 1000);
  g_assert_cmpint(chmod(f->lock_path, 0640), ==, 0);
  GError *error = NULL;
  g_assert_true(maildir_lock_refresh(lock, &error));
  g_assert_no_error(error);
  g_usleep(10 * 1000);
  g_assert_cmpint(chmod(f->lock_path, 0600), ==, 0);
  release_ok(lock);
  g_assert_false(test_file_exists(f->dir, MAILDIR_LOCK_FILE));
}

static bool wait_until_fresh(const char *path, int64_t max_age_s,
                             unsigned wait_ms)
{
  for (unsigned waited = 0; waited < wait_ms; waited += 20) {
    if (test_file_age(path) <= max_age_s)
      return true;
    g_usleep(20 * 1000);
  }
  return test_file_age(path) <= max_age_s;
}

static void test_keeper(Fixture *f, gconstpointer data)
{
  (void)data;
  MaildirLockKeeper *keeper = maildir_lock_keeper_new(NULL, 50);
  MaildirLock *lock = acquire_ok(f, NULL);
  maildir_lock_keeper_add(keeper, lock, f->dir);
  test_age_file(f->lock_path, 3600);
  /* The keeper sets it back to now within a few intervals. */
  g_assert_true(wait_until_fresh(f->lock_path, 5, 3000));

  /* Removed from the keeper: no more refreshing. */
  maildir_lock_keeper_remove(keeper, lock);
  test_age_file(f->lock_path, 3600);
  g_usleep(300 * 1000);
  g_assert_cmpint(test_file_age(f->lock_path), >=, 3600);

  /* A lost lock is reported once and left alone. */
  maildir_lock_keeper_add(keeper, lock, f->dir);
  g_assert_cmpint(unlink(f->lock_path), ==, 0);
  for (int i = 0; i < 100 && !test_log_contains("lost"); i++)
    g_usleep(20 * 1000);
  g_assert_true(test_log_contains("mailbox lock of"));
  g_assert_true(test_log_contains("lost"));
  maildir_lock_keeper_remove(keeper, lock);
  GError *error = NULL;
  g_assert_false(maildir_lock_release(lock, &error));
  g_clear_error(&error);
  maildir_lock_keeper_free(keeper);
}

static void test_keeper_unused(void)
{
  /* Never given a lock: no thread, and freeing it is immediate. */
  MaildirLockKeeper *keeper = maildir_lock_keeper_new(NULL, 60 * 1000);
  maildir_lock_keeper_free(keeper);
}

/* A private file named like a taker's of this machine. */
static char *write_stray(Fixture *f, long long pid)
{
  MaildirLockOwner self;
  maildir_lock_owner_self(&self);
  g_autofree char *name = g_strdup_printf(MAILDIR_LOCK_FILE ".new.%s.%lld.%08x",
                                          self.boot, pid, 0xdeadbeefu);
  g_autofree char *path = g_build_filename(f->dir, name, NULL);
  g_assert_true(g_file_set_contents(path, "", 0, NULL));
  return g_steal_pointer(&name);
}

/* The private file of a taker that died before linking it is removed once
 * a crash shows (a stale lock removed), a live taker's is left alone. */
static void test_strays_swept_after_crash(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *dead = write_stray(f, test_dead_pid());
  g_autofree char *live = write_stray(f, (long long)getppid());
  MaildirLockOwner other;
  maildir_lock_owner_self(&other);
  other.pid = test_dead_pid();
  write_lock(f->lock_path, &other);
  release_ok(acquire_ok(f, NULL));
  g_assert_false(test_file_exists(f->dir, dead));
  g_assert_true(test_file_exists(f->dir, live));
}

/* Without a crash the directory is read now and then, not at every
 * login, and a stray is still gone after that many logins. */
static void test_strays_swept_eventually(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *dead = write_stray(f, test_dead_pid());
  for (int i = 0; i < 64; i++)
    release_ok(acquire_ok(f, NULL));
  g_assert_false(test_file_exists(f->dir, dead));
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/maildir-lock/owner-format", test_owner_format);
#define ADD(path, fn) \
  g_test_add("/maildir-lock/" path, Fixture, NULL, setup, fn, teardown)
  ADD("exclusive", test_exclusive);
  ADD("dead-pid-is-stale", test_dead_pid_is_stale);
  ADD("killed-process", test_killed_process);
  ADD("other-host", test_other_host);
  ADD("other-boot", test_other_boot);
  ADD("live-pid-old-lock", test_live_pid_old_lock);
  ADD("unreadable-lock", test_unreadable_lock);
  ADD("future-mtime", test_future_mtime);
  ADD("break-lock", test_break_lock);
  ADD("release-not-ours", test_release_not_ours);
  ADD("release-taken-over-unrefreshed", test_release_taken_over_unrefreshed);
  ADD("release-removed", test_release_removed);
  ADD("refresh", test_refresh);
  ADD("keeper", test_keeper);
  ADD("acquire-out-of-descriptors", test_acquire_out_of_descriptors);
  ADD("held-lock-keeps-no-descriptor", test_held_lock_keeps_no_descriptor);
  ADD("refresh-out-of-descriptors", test_refresh_out_of_descriptors);
  ADD("release-out-of-descriptors", test_release_out_of_descriptors);
  ADD("release-not-ours-out-of-descriptors",
      test_release_not_ours_out_of_descriptors);
  ADD("changed-but-still-ours", test_changed_but_still_ours);
  ADD("strays-swept-after-crash", test_strays_swept_after_crash);
  ADD("strays-swept-eventually", test_strays_swept_eventually);
#undef ADD
  g_test_add_func("/maildir-lock/keeper-unused", test_keeper_unused);
  return g_test_run();
}
