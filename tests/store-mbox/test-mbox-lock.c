/* SPDX-License-Identifier: MIT */
/*
 * Locks: the dotlock as liblockfile, Postfix and procmail see it (stale
 * ones removed, live ones respected), fcntl locks against another process
 * and against another session of the same process, and the POP3 session
 * lock.
 */
#include "mbox.h"
#include "mbox-test-util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct Fixture {
  char *dir;
  char *path;
  char *dotlock;
  int fd;
  int dir_fd;
  MboxLockSettings settings;
} Fixture;

static void setup(Fixture *f, gconstpointer data)
{
  (void)data;
  f->dir = test_make_tmp_dir("poplar-mbox");
  f->path = g_build_filename(f->dir, "user", NULL);
  f->dotlock = g_strconcat(f->path, ".lock", NULL);
  test_write_file(f->path, "", 0);
  f->fd = open(f->path, O_RDWR | O_CLOEXEC);
  g_assert_cmpint(f->fd, >=, 0);
  f->dir_fd = open(f->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  g_assert_cmpint(f->dir_fd, >=, 0);
  f->settings.methods = MBOX_LOCK_DOTLOCK | MBOX_LOCK_FCNTL;
  f->settings.timeout_ms = 300;
  f->settings.dotlock_stale_ms = 60 * 1000;
}

static void teardown(Fixture *f, gconstpointer data)
{
  (void)data;
  close(f->fd);
  close(f->dir_fd);
  test_remove_tree(f->dir);
  g_free(f->dir);
  g_free(f->path);
  g_free(f->dotlock);
}

static PoplarStoreResult take(Fixture *f, MboxLock *lock, unsigned methods,
                              bool exclusive, char **note)
{
  GError *error = NULL;
  PoplarStoreResult r =
      mbox_lock_acquire(lock, &f->settings, f->dir_fd, f->path, f->fd,
                        methods, exclusive, note, &error);
  if (r == POPLAR_STORE_OK)
    g_assert_no_error(error);
  else
    g_assert_nonnull(error);
  g_clear_error(&error);
  return r;
}

/* Takes @methods on the mbox opened again as @fd. */
static PoplarStoreResult take_fd(Fixture *f, MboxLock *lock, int fd,
                                 unsigned methods, bool exclusive,
                                 GError **error)
{
  return mbox_lock_acquire(lock, &f->settings, f->dir_fd, f->path, fd,
                           methods, exclusive, NULL, error);
}

static PoplarStoreResult session_lock(Fixture *f, MboxSessionLock *lock,
                                      const char *who, GError **error)
{
  g_autofree char *path =
      g_build_filename(f->dir, ".user.poplar-lock", NULL);
  return mbox_session_lock_acquire(lock, f->dir_fd, ".user.poplar-lock",
                                   path, geteuid(), who, error);
}

static void test_dotlock_cycle(Fixture *f, gconstpointer data)
{
  (void)data;
  MboxLock lock = MBOX_LOCK_INIT;
  g_assert_cmpint(take(f, &lock, MBOX_LOCK_DOTLOCK | MBOX_LOCK_FCNTL, true,
                       NULL), ==, POPLAR_STORE_OK);
  g_autofree char *content = test_read_file(f->dotlock, NULL);
  /* The pid first, as liblockfile reads it, then where it is valid. */
  g_autofree char *pid = g_strdup_printf("%ld\npoplar ", (long)getpid());
  g_assert_true(g_str_has_prefix(content, pid));
  /* No hitching-post file left behind. */
  GDir *d = g_dir_open(f->dir, 0, NULL);
  const char *name;
  unsigned n = 0;
  while ((name = g_dir_read_name(d)))
    n++;
  g_dir_close(d);
  g_assert_cmpuint(n, ==, 2);
  char *warning = NULL;
  g_assert_true(mbox_lock_release(&lock, &warning));
  g_assert_null(warning);
  g_assert_false(test_exists(f->dotlock));
}

static void write_dotlock(Fixture *f, const char *content, int64_t age)
{
  test_write_file(f->dotlock, content, -1);
  test_age_file(f->dotlock, age);
}

static void test_dotlock_live_owner(Fixture *f, gconstpointer data)
{
  (void)data;
  /* Our own pid is alive: never stale, however old. */
  g_autofree char *pid = g_strdup_printf("%ld\n", (long)getpid());
  write_dotlock(f, pid, 3600);
  MboxLock lock = MBOX_LOCK_INIT;
  int64_t start = g_get_monotonic_time();
  g_assert_cmpint(take(f, &lock, MBOX_LOCK_DOTLOCK, true, NULL), ==,
                  POPLAR_STORE_IN_USE);
  g_assert_cmpint(g_get_monotonic_time() - start, >=, 250 * 1000);
  g_assert_true(test_exists(f->dotlock));
}

/* A dotlock a poplard of this host left when it died is taken over at
 * once, however young; one that only names a dead pid waits for its age,
 * as the pid may be another host's (NFS). */
static void test_dotlock_dead_owner_here(Fixture *f, gconstpointer data)
{
  (void)data;
  MboxLock lock = MBOX_LOCK_INIT;
  g_assert_cmpint(take(f, &lock, MBOX_LOCK_DOTLOCK, true, NULL), ==,
                  POPLAR_STORE_OK);
  g_autofree char *ours = test_read_file(f->dotlock, NULL);
  mbox_lock_release(&lock, NULL);
  const char *host_line = strchr(ours, '\n') + 1;
  g_autofree char *dead =
      g_strdup_printf("%lld\n%s", test_dead_pid(), host_line);
  write_dotlock(f, dead, 0);
  g_autofree char *note = NULL;
  g_assert_cmpint(take(f, &lock, MBOX_LOCK_DOTLOCK, true, &note), ==,
                  POPLAR_STORE_OK);
  g_assert_nonnull(note);
  g_assert_nonnull(strstr(note, "dead"));
  mbox_lock_release(&lock, NULL);
  /* Another host's (or boot's) line: the age decides. */
  g_autofree char *elsewhere = g_strdup_printf(
      "%lld\npoplar otherhost 00000000-0000-0000-0000-000000000000 "
      "pid:[1]\n", test_dead_pid());
  write_dotlock(f, elsewhere, 0);
  g_assert_cmpint(take(f, &lock, MBOX_LOCK_DOTLOCK, true, NULL), ==,
                  POPLAR_STORE_IN_USE);
  /* Our line with a live pid: respected. */
  g_autofree char *live =
      g_strdup_printf("%ld\n%s", (long)getpid(), host_line);
  write_dotlock(f, live, 3600);
  g_assert_cmpint(take(f, &lock, MBOX_LOCK_DOTLOCK, true, NULL), ==,
                  POPLAR_STORE_IN_USE);
}

/* A link planted as the dotlock name is never written through. */
static void test_dotlock_symlink_planted(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *victim = g_build_filename(f->dir, "victim", NULL);
  test_write_file(victim, "precious\n", -1);
  g_assert_cmpint(symlink(victim, f->dotlock), ==, 0);
  MboxLock lock = MBOX_LOCK_INIT;
  f->settings.dotlock_stale_ms = 0;
  PoplarStoreResult r = take(f, &lock, MBOX_LOCK_DOTLOCK, true, NULL);
  if (r == POPLAR_STORE_OK)
    mbox_lock_release(&lock, NULL);
  g_autofree char *text = test_read_file(victim, NULL);
  g_assert_cmpstr(text, ==, "precious\n");
}

static void test_dotlock_stale(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *dead = g_strdup_printf("%lld\n", test_dead_pid());
  /* Dead owner but young: still respected. */
  write_dotlock(f, dead, 10);
  MboxLock lock = MBOX_LOCK_INIT;
  g_assert_cmpint(take(f, &lock, MBOX_LOCK_DOTLOCK, true, NULL), ==,
                  POPLAR_STORE_IN_USE);
  /* Dead owner and old: removed. */
  write_dotlock(f, dead, 120);
  g_autofree char *note = NULL;
  g_assert_cmpint(take(f, &lock, MBOX_LOCK_DOTLOCK, true, &note), ==,
                  POPLAR_STORE_OK);
  g_assert_nonnull(note);
  g_assert_nonnull(strstr(note, "stale"));
  mbox_lock_release(&lock, NULL);
  /* No pid at all (Postfix, Exim): age alone decides. */
  write_dotlock(f, "", 120);
  g_assert_cmpint(take(f, &lock, MBOX_LOCK_DOTLOCK, true, NULL), ==,
                  POPLAR_STORE_OK);
  mbox_lock_release(&lock, NULL);
  write_dotlock(f, "", 5);
  g_assert_cmpint(take(f, &lock, MBOX_LOCK_DOTLOCK, true, NULL), ==,
                  POPLAR_STORE_IN_USE);
}

static void test_dotlock_released_while_waiting(Fixture *f,
                                                gconstpointer data)
{
  (void)data;
  f->settings.timeout_ms = 5000;
  pid_t child = fork();
  g_assert_cmpint(child, >=, 0);
  if (child == 0) {
    char text[32];
    snprintf(text, sizeof text, "%ld\n", (long)getpid());
    int fd = open(f->dotlock, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) < 0)
      _exit(1);
    close(fd);
    g_usleep(400 * 1000);
    unlink(f->dotlock);
    _exit(0);
  }
  while (!test_exists(f->dotlock))
    g_usleep(1000);
  MboxLock lock = MBOX_LOCK_INIT;
  int64_t start = g_get_monotonic_time();
  g_assert_cmpint(take(f, &lock, MBOX_LOCK_DOTLOCK, true, NULL), ==,
                  POPLAR_STORE_OK);
  g_assert_cmpint(g_get_monotonic_time() - start, >=, 300 * 1000);
  mbox_lock_release(&lock, NULL);
  int status;
  g_assert_cmpint(waitpid(child, &status, 0), ==, child);
  g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_dotlock_replaced(Fixture *f, gconstpointer data)
{
  (void)data;
  MboxLock lock = MBOX_LOCK_INIT;
  g_assert_cmpint(take(f, &lock, MBOX_LOCK_DOTLOCK, true, NULL), ==,
                  POPLAR_STORE_OK);
  /* Someone broke our lock and took it: we must not remove theirs. */
  unlink(f->dotlock);
  write_dotlock(f, "1\n", 0);
  char *warning = NULL;
  g_assert_false(mbox_lock_release(&lock, &warning));
  g_assert_nonnull(warning);
  g_free(warning);
  g_assert_true(test_exists(f->dotlock));
}

/* A classic fcntl lock held by another process (an MTA delivering). */
static void test_fcntl_other_process(Fixture *f, gconstpointer data)
{
  (void)data;
  int ready[2];
  g_assert_cmpint(pipe(ready), ==, 0);
  pid_t child = fork();
  g_assert_cmpint(child, >=, 0);
  if (child == 0) {
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(f->fd, F_SETLK, &fl) != 0)
      _exit(1);
    if (write(ready[1], "x", 1) != 1)
      _exit(1);
    g_usleep(600 * 1000);
    _exit(0);
  }
  char c;
  g_assert_cmpint(read(ready[0], &c, 1), ==, 1);
  MboxLock lock = MBOX_LOCK_INIT;
  g_assert_cmpint(take(f, &lock, MBOX_LOCK_FCNTL, false, NULL), ==,
                  POPLAR_STORE_IN_USE);
  /* Waiting long enough gets it once the other process is done. */
  f->settings.timeout_ms = 5000;
  g_assert_cmpint(take(f, &lock, MBOX_LOCK_FCNTL, false, NULL), ==,
                  POPLAR_STORE_OK);
  mbox_lock_release(&lock, NULL);
  int status;
  g_assert_cmpint(waitpid(child, &status, 0), ==, child);
  g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(ready[0]);
  close(ready[1]);
}

/* Two sessions of one poplard: the locks belong to the descriptor, so
 * they exclude each other, and closing another descriptor of the file
 * does not drop them. */
static void test_fcntl_same_process(Fixture *f, gconstpointer data)
{
  (void)data;
  MboxLock a = MBOX_LOCK_INIT, b = MBOX_LOCK_INIT;
  g_assert_cmpint(take(f, &a, MBOX_LOCK_FCNTL, true, NULL), ==,
                  POPLAR_STORE_OK);
  int other = open(f->path, O_RDWR | O_CLOEXEC);
  close(open(f->path, O_RDONLY | O_CLOEXEC));
  GError *error = NULL;
  g_assert_cmpint(take_fd(f, &b, other, MBOX_LOCK_FCNTL, false, &error),
                  ==, POPLAR_STORE_IN_USE);
  g_clear_error(&error);
  mbox_lock_release(&a, NULL);
  g_assert_cmpint(take_fd(f, &b, other, MBOX_LOCK_FCNTL, false, &error),
                  ==, POPLAR_STORE_OK);
  mbox_lock_release(&b, NULL);
  close(other);
}

static void test_flock(Fixture *f, gconstpointer data)
{
  (void)data;
  MboxLock a = MBOX_LOCK_INIT, b = MBOX_LOCK_INIT;
  int other = open(f->path, O_RDWR | O_CLOEXEC);
  g_assert_cmpint(take(f, &a, MBOX_LOCK_FLOCK, false, NULL), ==,
                  POPLAR_STORE_OK);
  GError *error = NULL;
  /* shared with shared: fine; exclusive: waits */
  g_assert_cmpint(take_fd(f, &b, other, MBOX_LOCK_FLOCK, false, &error),
                  ==, POPLAR_STORE_OK);
  mbox_lock_release(&b, NULL);
  g_assert_cmpint(take_fd(f, &b, other, MBOX_LOCK_FLOCK, true, &error),
                  ==, POPLAR_STORE_IN_USE);
  g_clear_error(&error);
  mbox_lock_release(&a, NULL);
  close(other);
}

/* A failed acquisition leaves nothing held. */
static void test_partial_acquire_released(Fixture *f, gconstpointer data)
{
  (void)data;
  int ready[2];
  g_assert_cmpint(pipe(ready), ==, 0);
  pid_t child = fork();
  if (child == 0) {
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(f->fd, F_SETLK, &fl) != 0 || write(ready[1], "x", 1) != 1)
      _exit(1);
    g_usleep(2000 * 1000);
    _exit(0);
  }
  char c;
  g_assert_cmpint(read(ready[0], &c, 1), ==, 1);
  MboxLock lock = MBOX_LOCK_INIT;
  g_assert_cmpint(take(f, &lock, MBOX_LOCK_DOTLOCK | MBOX_LOCK_FCNTL, true,
                       NULL), ==, POPLAR_STORE_IN_USE);
  g_assert_cmpuint(lock.held, ==, 0);
  g_assert_false(test_exists(f->dotlock));
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  close(ready[0]);
  close(ready[1]);
}

static void test_session_lock(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *path = g_build_filename(f->dir, ".user.poplar-lock",
                                           NULL);
  MboxSessionLock a, b;
  GError *error = NULL;
  g_assert_cmpint(session_lock(f, &a, "pid 1, session s1", &error),
                  ==, POPLAR_STORE_OK);
  g_assert_cmpint(session_lock(f, &b, "pid 1, session s2", &error),
                  ==, POPLAR_STORE_IN_USE);
  g_assert_nonnull(strstr(error->message, "session s1"));
  g_clear_error(&error);
  mbox_session_lock_release(&a);
  g_assert_cmpint(session_lock(f, &b, "pid 1, session s2", &error),
                  ==, POPLAR_STORE_OK);
  mbox_session_lock_release(&b);
  g_assert_true(test_exists(path)); /* kept for the next session */

  /* A process that dies holding it releases it. */
  pid_t child = fork();
  if (child == 0) {
    MboxSessionLock c;
    if (session_lock(f, &c, "child", NULL) != POPLAR_STORE_OK)
      _exit(1);
    raise(SIGKILL);
  }
  int status;
  waitpid(child, &status, 0);
  g_assert_true(WIFSIGNALED(status));
  g_assert_cmpint(session_lock(f, &a, "again", &error),
                  ==, POPLAR_STORE_OK);
  mbox_session_lock_release(&a);

  /* A hard link to somebody else's file in its place is refused, and the
   * file is neither truncated nor written. */
  g_assert_cmpint(unlink(path), ==, 0);
  g_autofree char *victim = g_build_filename(f->dir, "victim", NULL);
  test_write_file(victim, "precious\n", -1);
  g_assert_cmpint(link(victim, path), ==, 0);
  g_assert_cmpint(session_lock(f, &a, "evil", &error), ==,
                  POPLAR_STORE_PERMFAIL);
  g_clear_error(&error);
  g_autofree char *text = test_read_file(victim, NULL);
  g_assert_cmpstr(text, ==, "precious\n");
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) \
  g_test_add("/mbox-lock/" name, Fixture, NULL, setup, fn, teardown)
  ADD("dotlock-cycle", test_dotlock_cycle);
  ADD("dotlock-live-owner", test_dotlock_live_owner);
  ADD("dotlock-stale", test_dotlock_stale);
  ADD("dotlock-dead-owner-here", test_dotlock_dead_owner_here);
  ADD("dotlock-symlink-planted", test_dotlock_symlink_planted);
  ADD("dotlock-released-while-waiting", test_dotlock_released_while_waiting);
  ADD("dotlock-replaced", test_dotlock_replaced);
  ADD("fcntl-other-process", test_fcntl_other_process);
  ADD("fcntl-same-process", test_fcntl_same_process);
  ADD("flock", test_flock);
  ADD("partial-acquire-released", test_partial_acquire_released);
  ADD("session-lock", test_session_lock);
  return g_test_run();
}
