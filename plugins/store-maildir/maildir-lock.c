/* SPDX-License-Identifier: MIT */
/*
 * The mailbox lock: one POP3 session per Maildir at a time (RFC 1939
 * section 8 and the [IN-USE] response code of RFC 2449), across threads,
 * processes and machines that share the Maildir.
 *
 * Protocol.  The lock is the file "poplar-lock" in the Maildir, created with
 * O_CREAT|O_EXCL (atomic on local file systems and on NFSv3 and later).
 * It holds one line naming its owner:
 *   poplar-lock 1 host=<hostname> boot=<boot id> pidns=<pid namespace>
 *     pid=<pid> time=<unix seconds> token=<random uuid>
 * The owner keeps the file's mtime fresh while the session lasts (see
 * maildir-lock-keeper.c, every lock-timeout / 4) and removes the file when
 * the mailbox is closed, only if it is still its own (same inode, same
 * token).
 *
 * The owner keeps no descriptor of the lock file: it refreshes and
 * removes it by name relative to the Maildir's descriptor, which the
 * session holds anyway, so an idle session costs one descriptor less, and
 * neither step can fail for want of a free descriptor.  Reading the token
 * back does need one; when none is free, the file's inode and its change
 * time, unchanged since the owner's own last refresh, stand in for it:
 * another session's lock could only be a new file (another inode or
 * another change time), and any write to ours would change its ctime.
 *
 * A lock is stale, and is removed before taking a new one, when
 *  - its owner ran on this very kernel and pid namespace (same host, boot
 *    id and pid namespace) and that process is gone: a poplard killed with
 *    SIGKILL or crashed frees its mailboxes at once for the next login; or
 *  - its mtime is older than lock-timeout: the owner is on another machine
 *    (or its line cannot be read) and stopped refreshing it, which only a
 *    dead or hung process does.  This relies on the machines' clocks
 *    agreeing to well within lock-timeout (NTP), as NFS does anyway.
 * A lock being written (empty for a moment after O_EXCL) is judged by its
 * age alone, so it is never taken for stale while fresh.
 *
 * Removing a stale lock is serialised by a second lock file,
 * "poplar-lock.break", so that two sessions that both found the same stale
 * lock cannot have one of them remove the fresh lock the other has just
 * taken: under the break lock the lock is examined again and removed only
 * if it is still the same file and still stale.  The break lock is held for
 * a few system calls; one left by a crash is stale when its process is gone
 * (same rules) or after BREAK_LOCK_TIMEOUT_S.
 *
 * Why not fcntl()/flock() locks.  They vanish with their process, which is
 * attractive, but: POSIX record locks belong to the process, so two
 * sessions of one poplard would share them, and closing any descriptor of
 * the file drops them; flock() is not shared with other NFS clients on
 * every system; and on an NFS mount with "nolock", or when lockd/statd are
 * not running, they silently become local to one machine, so two nodes
 * would serve one mailbox while both believe they hold the lock.  Worse,
 * whether a lock exists could not be used to declare a lock file stale for
 * the same reason.  A lock file works the same on every file system that
 * can hold a Maildir, can be inspected (cat poplar-lock) and removed by an
 * administrator, and its staleness rules above cover crashed processes.
 *
 * The residual race: if the owner of a live lock fails to refresh it for a
 * whole lock-timeout (a stalled NFS server) another session may take the
 * mailbox over; the keeper then logs that the lock was lost, and the owner
 * never removes a lock that is no longer its own.  (Refreshing by name
 * adds a window of a few system calls in that same situation in which the
 * newcomer's lock is touched instead of ours; its token still tells the
 * two apart at release.)
 */
#include "maildir.h"

#include "fs-kind.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOCK_MAGIC "poplar-lock 1"
/* A break lock is held for a few system calls. */
#define BREAK_LOCK_TIMEOUT_S 30
/* Attempts to take the lock when it keeps changing hands. */
#define LOCK_ATTEMPTS 3
/* A lock line is far shorter; more is not a lock we wrote. */
#define LOCK_TEXT_MAX 1024

struct MaildirLock {
  int root_fd; /* the Maildir, borrowed from the session */
  dev_t dev;
  ino_t ino;
  struct timespec ctime; /* after our own last change to the file */
  off_t size;            /* of the owner line we wrote */
  bool shared;           /* on a network file system (fs-kind.h) */
  MaildirLockOwner owner;
};

/* ---- owners ---------------------------------------------------------- */

static void read_word_file(const char *path, char *out, size_t out_len)
{
  g_autofree char *text = NULL;
  g_strlcpy(out, "-", out_len);
  if (!g_file_get_contents(path, &text, NULL, NULL))
    return;
  g_strstrip(text);
  if (text[0] && strlen(text) < out_len && !strpbrk(text, " \t\n="))
    g_strlcpy(out, text, out_len);
}

/* A word of this process's identity, kept once read (a failed read, "-",
 * is not kept).  Both the boot id and the pid namespace stay what they are
 * while the process lives: a process cannot leave its pid namespace, and
 * poplard's workers are forked into their parent's.  Reading them takes a
 * descriptor or a readlink, which a login short of descriptors may not
 * have (its lock would then name no boot, and after a crash this host
 * could not tell the lock for its own). */
typedef struct KeptWord {
  pthread_mutex_t lock;
  char known[64];
  void (*read)(char *out, size_t out_len);
} KeptWord;

static void kept_word(KeptWord *w, char *out, size_t out_len)
{
  pthread_mutex_lock(&w->lock);
  if (!w->known[0]) {
    char fresh[sizeof w->known];
    w->read(fresh, sizeof fresh);
    if (strcmp(fresh, "-") != 0)
      g_strlcpy(w->known, fresh, sizeof w->known);
    g_strlcpy(out, fresh, out_len);
  } else {
    g_strlcpy(out, w->known, out_len);
  }
  pthread_mutex_unlock(&w->lock);
}

static void read_boot_id(char *out, size_t out_len)
{
  read_word_file("/proc/sys/kernel/random/boot_id", out, out_len);
}

/* "pid:[4026531836]" -> "4026531836" */
static void read_pid_namespace(char *out, size_t out_len)
{
  char link[128];
  g_strlcpy(out, "-", out_len);
  ssize_t n = readlink("/proc/self/ns/pid", link, sizeof link - 1);
  if (n <= 0)
    return;
  link[n] = '\0';
  const char *open = strchr(link, '[');
  const char *close = open ? strchr(open, ']') : NULL;
  if (!open || !close || close == open + 1 ||
      (size_t)(close - open - 1) >= out_len)
    return;
  memcpy(out, open + 1, (size_t)(close - open - 1));
  out[close - open - 1] = '\0';
}

static KeptWord boot_id = {PTHREAD_MUTEX_INITIALIZER, "", read_boot_id};
static KeptWord pid_namespace = {PTHREAD_MUTEX_INITIALIZER, "",
                                 read_pid_namespace};

/* The host name, looked up again once a minute rather than at every
 * login: a renamed host is noticed soon enough, since its own locks are
 * judged by boot id and pid as long as it keeps running. */
#define HOST_RECHECK_S 60

static void host_name(char *out, size_t out_len)
{
  static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  static char known[sizeof ((MaildirLockOwner *)0)->host];
  static time_t checked;
  time_t now = time(NULL);
  pthread_mutex_lock(&lock);
  if (!known[0] || now - checked >= HOST_RECHECK_S || now < checked) {
    if (gethostname(known, sizeof known - 1) != 0 || !known[0])
      g_strlcpy(known, "localhost", sizeof known);
    known[sizeof known - 1] = '\0';
    checked = now;
  }
  g_strlcpy(out, known, out_len);
  pthread_mutex_unlock(&lock);
}

/* Keeps the owner line one line of key=value words. */
static void sanitize_word(char *s)
{
  for (unsigned char *p = (unsigned char *)s; *p; p++) {
    if (*p <= 0x20 || *p >= 0x7f || *p == '=')
      *p = '_';
  }
}

void maildir_lock_owner_self(MaildirLockOwner *owner)
{
  memset(owner, 0, sizeof *owner);
  host_name(owner->host, sizeof owner->host);
  sanitize_word(owner->host);
  kept_word(&boot_id, owner->boot, sizeof owner->boot);
  kept_word(&pid_namespace, owner->pidns, sizeof owner->pidns);
  owner->pid = (long long)maildir_self_pid();
  owner->time = (long long)time(NULL);
  g_autofree char *uuid = g_uuid_string_random();
  g_strlcpy(owner->token, uuid, sizeof owner->token);
}

char *maildir_lock_owner_format(const MaildirLockOwner *owner)
{
  return g_strdup_printf(LOCK_MAGIC " host=%s boot=%s pidns=%s pid=%lld "
                         "time=%lld token=%s\n", owner->host, owner->boot,
                         owner->pidns, owner->pid, owner->time, owner->token);
}

static bool parse_ll(const char *s, long long *out)
{
  gint64 v;
  if (!g_ascii_string_to_signed(s, 10, 0, G_MAXINT64, &v, NULL))
    return false;
  *out = v;
  return true;
}

bool maildir_lock_owner_parse(const char *text, MaildirLockOwner *owner)
{
  memset(owner, 0, sizeof *owner);
  g_strlcpy(owner->boot, "-", sizeof owner->boot);
  g_strlcpy(owner->pidns, "-", sizeof owner->pidns);
  if (!g_str_has_prefix(text, LOCK_MAGIC " "))
    return false;
  g_autofree char *line = g_strndup(text, strcspn(text, "\n"));
  g_auto(GStrv) words = g_strsplit(line + strlen(LOCK_MAGIC " "), " ", -1);
  bool have_host = false, have_pid = false, have_token = false;
  for (char **w = words; *w; w++) {
    char *eq = strchr(*w, '=');
    if (!eq)
      continue;
    *eq = '\0';
    const char *key = *w, *value = eq + 1;
    if (strcmp(key, "host") == 0 && value[0])
      have_host = g_strlcpy(owner->host, value, sizeof owner->host) <
                  sizeof owner->host;
    else if (strcmp(key, "boot") == 0 && value[0])
      g_strlcpy(owner->boot, value, sizeof owner->boot);
    else if (strcmp(key, "pidns") == 0 && value[0])
      g_strlcpy(owner->pidns, value, sizeof owner->pidns);
    else if (strcmp(key, "pid") == 0)
      have_pid = parse_ll(value, &owner->pid) && owner->pid > 0;
    else if (strcmp(key, "time") == 0)
      parse_ll(value, &owner->time);
    else if (strcmp(key, "token") == 0 && value[0])
      have_token = g_strlcpy(owner->token, value, sizeof owner->token) <
                   sizeof owner->token;
  }
  return have_host && have_pid && have_token;
}

static bool same_machine(const MaildirLockOwner *a, const MaildirLockOwner *b)
{
  return strcmp(a->host, b->host) == 0 && strcmp(a->boot, b->boot) == 0 &&
         strcmp(a->pidns, b->pidns) == 0;
}

/* Seconds since the epoch when the kernel booted, or 0 if unknown. */
static long long boot_time(void)
{
  FILE *f = fopen("/proc/stat", "re");
  long long btime = 0;
  char line[256];
  while (f && fgets(line, sizeof line, f)) {
    if (sscanf(line, "btime %lld", &btime) == 1)
      break;
  }
  if (f)
    fclose(f);
  return btime;
}

/* A process that exists may still not be the owner: a zombie (killed, not
 * yet reaped, which can last for ever where pid 1 does not reap) holds
 * nothing, and one that started after the lock was written is another
 * process that got the same pid. */
static bool process_is_not_owner(long long pid, long long locked_at)
{
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%lld/stat", pid);
  FILE *f = fopen(path, "re");
  if (!f)
    return false; /* no /proc: trust kill() */
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* The command name may hold spaces and ')': fields follow the last ')'. */
  char *rp = strrchr(buf, ')');
  if (!rp)
    return false;
  char state = 0;
  unsigned long long start_ticks = 0;
  if (sscanf(rp + 1,
             " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
             "%*d %*d %*d %llu", &state, &start_ticks) != 2)
    return false;
  if (state == 'Z' || state == 'X')
    return true;
  long ticks = sysconf(_SC_CLK_TCK);
  long long btime = boot_time();
  if (ticks <= 0 || btime == 0 || locked_at <= 0)
    return false;
  long long started = btime + (long long)(start_ticks / (unsigned long long)ticks);
  return started > locked_at + 1; /* one second for rounding */
}

static bool process_gone(long long pid, long long locked_at)
{
  if (pid <= 0 || pid > INT_MAX)
    return false;
  if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
    return true;
  return process_is_not_owner(pid, locked_at);
}

/* ---- examining a lock file ------------------------------------------- */

typedef struct Holder {
  bool exists;
  bool parsed; /* owner is valid */
  MaildirLockOwner owner;
  dev_t dev;
  ino_t ino;
  int64_t age_ms;
} Holder;

static int open_at(int dir_fd, const char *name, int flags, mode_t mode)
{
  int fd;
  do
    fd = openat(dir_fd, name, flags | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, mode);
  while (fd < 0 && errno == EINTR);
  return fd;
}

/* Reads the lock file @name into @h (h->exists false when there is none).
 * Returns 0, or the errno of the step that failed, which *@what names. */
static int read_holder(int root_fd, const char *name, Holder *h,
                       const char **what)
{
  memset(h, 0, sizeof *h);
  int fd = open_at(root_fd, name, O_RDONLY, 0);
  if (fd < 0 && errno == ENOENT)
    return 0;
  if (fd < 0) {
    *what = "open";
    return errno;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    *what = "stat";
    close(fd);
    return err;
  }
  char text[LOCK_TEXT_MAX + 1];
  ssize_t n;
  do
    n = read(fd, text, LOCK_TEXT_MAX);
  while (n < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (n < 0) {
    *what = "read";
    return err;
  }
  text[n] = '\0';
  h->exists = true;
  h->parsed = S_ISREG(st.st_mode) && (size_t)n == strlen(text) &&
              maildir_lock_owner_parse(text, &h->owner);
  h->dev = st.st_dev;
  h->ino = st.st_ino;
  int64_t mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 +
                     st.st_mtim.tv_nsec / 1000000;
  h->age_ms = g_get_real_time() / 1000 - mtime_ms;
  return 0;
}

static bool examine(int root_fd, const char *name, Holder *h, GError **error)
{
  const char *what = "open";
  /* A lock file another machine just replaced can answer ESTALE through
   * a network file system's cached handle; the name is looked up afresh
   * on the next attempt. */
  int err = ESTALE;
  for (int attempt = 0; attempt < 3 && err == ESTALE; attempt++)
    err = read_holder(root_fd, name, h, &what);
  if (err != 0)
    maildir_set_errno_error(error, err, "cannot %s %s", what, name);
  return err == 0;
}

/* Why the lock @h is stale, or NULL while it is alive. */
static char *stale_reason(const Holder *h, const MaildirLockOwner *self,
                          uint64_t timeout_ms)
{
  if (h->parsed && same_machine(&h->owner, self) &&
      process_gone(h->owner.pid, h->owner.time))
    return g_strdup_printf("its process %lld on this host is gone",
                           h->owner.pid);
  if (h->age_ms > 0 && (uint64_t)h->age_ms > timeout_ms)
    return g_strdup_printf("it was not refreshed for %lld s",
                           (long long)(h->age_ms / 1000));
  return NULL;
}

static char *describe(const Holder *h)
{
  if (!h->parsed)
    return g_strdup("an unreadable owner");
  return g_strdup_printf("pid %lld on %s since %lld", h->owner.pid,
                         h->owner.host, h->owner.time);
}

/* ---- taking and removing ---------------------------------------------- */

/* Creates @name exclusively with @content.  Returns the open descriptor,
 * or -1 with errno set (EEXIST when the file exists). */
/* Creates @name holding @content, or fails with EEXIST.  The content is
 * written to a private file first and linked to @name only when complete
 * (link is atomic, on NFS too): a process killed half-way leaves a stray
 * private file, never an empty lock whose owner nobody can judge.
 *
 * @shared: the Maildir is on a file system other machines read through
 * their own caches; the owner line is then sent to the server before the
 * link makes it visible.  On a local file system every reader sees the
 * page cache, and a lock need not survive a crash of the machine (after a
 * reboot its boot id names a kernel that is gone, and an empty lock is
 * judged by its age), so no fsync is paid at every login there. */
static bool write_all(int fd, const char *content)
{
  size_t len = strlen(content);
  const char *p = content;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return false;
    p += n;
    len -= (size_t)n;
  }
  return true;
}

/* 1: O_TMPFILE and linking through /proc work here; 0: they did not once
 * (a file system without O_TMPFILE, no /proc), so the named private file
 * is used from then on. */
static atomic_int anonymous_usable = 1;

/* On a local file system: the private file has no name at all
 * (O_TMPFILE), so nothing is left behind by a process killed half-way
 * and no unlink is needed after the link.  Returns the descriptor, -1
 * with errno (EEXIST: held), or -2 when this way is not available. */
static int create_anonymous(int root_fd, const char *name,
                            const char *content)
{
  if (!atomic_load(&anonymous_usable))
    return -2;
  int fd;
  do
    fd = openat(root_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    if (errno == EMFILE || errno == ENFILE || errno == ENOSPC ||
        errno == EDQUOT || errno == EACCES || errno == EROFS)
      return -1;
    atomic_store(&anonymous_usable, 0);
    return -2;
  }
  if (!write_all(fd, content)) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  /* linkat(AT_EMPTY_PATH) would need CAP_DAC_READ_SEARCH; the descriptor's
   * /proc link needs nothing. */
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  if (linkat(AT_FDCWD, proc, root_fd, name, AT_SYMLINK_FOLLOW) == 0)
    return fd;
  int err = errno;
  close(fd);
  if (err == EEXIST || err == EMFILE || err == ENFILE || err == ENOSPC ||
      err == EDQUOT || err == EACCES || err == EROFS || err == EMLINK) {
    errno = err;
    return -1;
  }
  atomic_store(&anonymous_usable, 0);
  return -2;
}

static int create_exclusive(int root_fd, const char *name,
                            const char *content, const MaildirLockOwner *self,
                            bool shared)
{
  if (!shared) {
    int fd = create_anonymous(root_fd, name, content);
    if (fd != -2)
      return fd;
  }
  /* <name>.new.<boot id>.<pid>.<random>: enough for sweep_strays() to
   * tell a file of a dead process on this machine. */
  char tmp[192];
  snprintf(tmp, sizeof tmp, "%s.new.%s.%lld.%08x", name, self->boot,
           self->pid, g_random_int());
  int fd = open_at(root_fd, tmp, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    /* The name is ours alone.  The kernel creates nothing when no
     * descriptor is free, but a tool that emulates the limit (valgrind)
     * may have created the file before refusing the descriptor. */
    int err = errno;
    unlinkat(root_fd, tmp, 0);
    errno = err;
    return -1;
  }
  if (!write_all(fd, content))
    goto fail;
  if (shared && fsync(fd) != 0)
    goto fail;
  if (linkat(root_fd, tmp, root_fd, name, 0) != 0)
    goto fail; /* EEXIST: held by someone else */
  unlinkat(root_fd, tmp, 0);
  return fd;
fail:;
  int err = errno;
  unlinkat(root_fd, tmp, 0);
  close(fd);
  errno = err;
  return -1;
}

static PoplarStoreResult take_break_lock(int root_fd,
                                         const MaildirLockOwner *self,
                                         GError **error)
{
  g_autofree char *content = maildir_lock_owner_format(self);
  for (int attempt = 0; attempt < 2; attempt++) {
    int fd =
        create_exclusive(root_fd, MAILDIR_LOCK_BREAK_FILE, content, self,
                         fs_kind_is_network(root_fd, NULL));
    if (fd >= 0) {
      close(fd);
      return POPLAR_STORE_OK;
    }
    if (errno != EEXIST) {
      maildir_set_errno_error(error, errno, "cannot create %s",
                              MAILDIR_LOCK_BREAK_FILE);
      return (*error)->code;
    }
    Holder h;
    if (!examine(root_fd, MAILDIR_LOCK_BREAK_FILE, &h, error))
      return (*error)->code;
    if (!h.exists)
      continue;
    g_autofree char *why =
        stale_reason(&h, self, BREAK_LOCK_TIMEOUT_S * 1000);
    if (!why) {
      g_set_error(error, MAILDIR_ERROR, POPLAR_STORE_IN_USE,
                  "another session is removing a stale lock right now");
      return POPLAR_STORE_IN_USE;
    }
    if (unlinkat(root_fd, MAILDIR_LOCK_BREAK_FILE, 0) != 0 &&
        errno != ENOENT) {
      maildir_set_errno_error(error, errno, "cannot remove the stale %s",
                              MAILDIR_LOCK_BREAK_FILE);
      return (*error)->code;
    }
  }
  g_set_error(error, MAILDIR_ERROR, POPLAR_STORE_IN_USE,
              "another session is removing a stale lock right now");
  return POPLAR_STORE_IN_USE;
}

/* Removes the stale lock @judged if, under the break lock, it is still the
 * same file and still stale. */
static PoplarStoreResult remove_stale(int root_fd, const MaildirLockOwner *self,
                                      const Holder *judged,
                                      uint64_t timeout_ms, GError **error)
{
  PoplarStoreResult r = take_break_lock(root_fd, self, error);
  if (r != POPLAR_STORE_OK)
    return r;
  Holder now;
  if (!examine(root_fd, MAILDIR_LOCK_FILE, &now, error)) {
    r = (*error)->code;
  } else if (now.exists && now.dev == judged->dev &&
             now.ino == judged->ino) {
    g_autofree char *why = stale_reason(&now, self, timeout_ms);
    if (why && unlinkat(root_fd, MAILDIR_LOCK_FILE, 0) != 0 &&
        errno != ENOENT) {
      maildir_set_errno_error(error, errno, "cannot remove the stale %s",
                              MAILDIR_LOCK_FILE);
      r = (*error)->code;
    }
  }
  /* Otherwise it changed hands meanwhile: the caller looks again. */
  unlinkat(root_fd, MAILDIR_LOCK_BREAK_FILE, 0);
  return r;
}

/* Takes note of the lock file just linked into place (@fd, open since it
 * was written) and closes it: from here on it is reached by name. */
static PoplarStoreResult hold(int root_fd, int fd, const MaildirLockOwner *self,
                              bool shared, MaildirLock **out, GError **error)
{
  struct stat st;
  if (fstat(fd, &st) != 0) {
    maildir_set_errno_error(error, errno, "cannot hold %s", MAILDIR_LOCK_FILE);
    unlinkat(root_fd, MAILDIR_LOCK_FILE, 0);
    close(fd);
    return (*error)->code;
  }
  close(fd);
  MaildirLock *lock = g_new0(MaildirLock, 1);
  lock->root_fd = root_fd;
  lock->dev = st.st_dev;
  lock->ino = st.st_ino;
  lock->ctime = st.st_ctim;
  lock->size = st.st_size;
  lock->shared = shared;
  lock->owner = *self;
  *out = lock;
  return POPLAR_STORE_OK;
}

/* Removes the private files of lock takers that died between creating
 * and linking them: at once when their process on this machine is gone,
 * after @timeout_ms otherwise (another machine).  Called holding the lock,
 * so no live taker of this mailbox can be half-way. */
static void sweep_strays(int root_fd, const MaildirLockOwner *self,
                         uint64_t timeout_ms)
{
  static const char prefix[] = MAILDIR_LOCK_FILE ".new.";
  int dfd = dup(root_fd);
  DIR *dir = dfd >= 0 ? fdopendir(dfd) : NULL;
  if (!dir) {
    if (dfd >= 0)
      close(dfd);
    return;
  }
  struct dirent *e;
  while ((e = readdir(dir))) {
    if (strncmp(e->d_name, prefix, sizeof prefix - 1) != 0)
      continue;
    g_autofree char *rest = g_strdup(e->d_name + sizeof prefix - 1);
    char *dot_rand = strrchr(rest, '.');
    char *dot_pid = NULL;
    if (dot_rand) {
      *dot_rand = '\0';
      dot_pid = strrchr(rest, '.');
    }
    bool stray = false;
    if (dot_pid) {
      *dot_pid = '\0';
      long long pid = strtoll(dot_pid + 1, NULL, 10);
      stray = strcmp(rest, self->boot) == 0 && strcmp(self->boot, "-") != 0 &&
              process_gone(pid, 0);
    }
    struct stat st;
    if (!stray && fstatat(root_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
      stray = (int64_t)(time(NULL) - st.st_mtime) * 1000 > (int64_t)timeout_ms;
    if (stray)
      unlinkat(root_fd, e->d_name, 0);
  }
  closedir(dir);
}

/* Stray private files are left only by a taker killed between creating
 * and linking its file, so the directory is not read at every login for
 * them: after a stale lock was removed (a crash happened), and at one
 * acquisition in SWEEP_EVERY otherwise. */
#define SWEEP_EVERY 64

static bool sweep_due(bool removed_stale)
{
  static unsigned acquisitions; /* atomic */
  unsigned n = __atomic_add_fetch(&acquisitions, 1, __ATOMIC_RELAXED);
  return removed_stale || n % SWEEP_EVERY == 1;
}

/* Helpers here read (*error)->code: @error is always the caller's local. */
static PoplarStoreResult acquire(int root_fd, uint64_t timeout_ms,
                                 MaildirLock **lock, char **note,
                                 GError **error)
{
  MaildirLockOwner self;
  maildir_lock_owner_self(&self);
  g_autofree char *content = maildir_lock_owner_format(&self);
  bool shared = fs_kind_is_network(root_fd, NULL);
  bool removed_stale = false;
  *lock = NULL;
  if (note)
    *note = NULL;
  for (int attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
    int fd = create_exclusive(root_fd, MAILDIR_LOCK_FILE, content, &self,
                              shared);
    if (fd >= 0) {
      if (sweep_due(removed_stale))
        sweep_strays(root_fd, &self, timeout_ms);
      return hold(root_fd, fd, &self, shared, lock, error);
    }
    if (errno == ESTALE)
      continue; /* see examine() */
    if (errno != EEXIST) {
      maildir_set_errno_error(error, errno, "cannot create the lock file %s",
                              MAILDIR_LOCK_FILE);
      return (*error)->code;
    }
    Holder h;
    if (!examine(root_fd, MAILDIR_LOCK_FILE, &h, error))
      return (*error)->code;
    if (!h.exists)
      continue; /* released meanwhile */
    g_autofree char *why = stale_reason(&h, &self, timeout_ms);
    if (!why) {
      g_autofree char *who = describe(&h);
      g_set_error(error, MAILDIR_ERROR, POPLAR_STORE_IN_USE,
                  "mailbox is locked by another session (%s)", who);
      return POPLAR_STORE_IN_USE;
    }
    PoplarStoreResult r = remove_stale(root_fd, &self, &h, timeout_ms, error);
    if (r != POPLAR_STORE_OK)
      return r;
    removed_stale = true;
    if (note) {
      g_autofree char *who = describe(&h);
      g_free(*note);
      *note = g_strdup_printf("removed a stale lock (%s): %s", who, why);
    }
  }
  g_set_error(error, MAILDIR_ERROR, POPLAR_STORE_IN_USE,
              "mailbox lock keeps changing hands");
  return POPLAR_STORE_IN_USE;
}

PoplarStoreResult maildir_lock_acquire(int root_fd, uint64_t timeout_ms,
                                       MaildirLock **lock, char **note,
                                       GError **error)
{
  GError *local = NULL;
  PoplarStoreResult r = acquire(root_fd, timeout_ms, lock, note, &local);
  if (local)
    g_propagate_error(error, local);
  return r;
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
  return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static void set_removed_error(GError **error)
{
  g_set_error(error, MAILDIR_ERROR, POPLAR_STORE_TEMPFAIL,
              "the lock file was removed by someone else");
}

/* Nothing changed the file at the lock's name since our own last change:
 * the same inode (a freed inode number is soon reused, so this alone would
 * not do) with the same change time. */
static bool looks_unchanged(const MaildirLock *lock, const struct stat *st)
{
  return st->st_dev == lock->dev && st->st_ino == lock->ino &&
         same_time(&st->st_ctim, &lock->ctime);
}

static bool stat_lock(MaildirLock *lock, struct stat *st, GError **error)
{
  /* On a network file system a name another machine removed and
   * created again can answer ESTALE from a cached handle; the kernel
   * looks the name up afresh on the next call. */
  for (int attempt = 0; attempt < 3; attempt++) {
    if (fstatat(lock->root_fd, MAILDIR_LOCK_FILE, st, AT_SYMLINK_NOFOLLOW) ==
        0)
      return true;
    if (errno != ESTALE)
      break;
  }
  if (errno == ENOENT)
    set_removed_error(error);
  else
    maildir_set_errno_error(error, errno, "cannot stat %s",
                            MAILDIR_LOCK_FILE);
  return false;
}

/* For when no descriptor is free to read the token (see the top of this
 * file). */
static bool unchanged_since_ours(MaildirLock *lock, GError **error)
{
  struct stat st;
  if (!stat_lock(lock, &st, error))
    return false;
  if (!looks_unchanged(lock, &st)) {
    g_set_error(error, MAILDIR_ERROR, POPLAR_STORE_TEMPFAIL,
                "the lock was taken over by another session");
    return false;
  }
  return true;
}

/* True when the lock file is still the one @lock created. */
static bool still_ours(MaildirLock *lock, bool check_token, GError **error)
{
  Holder h;
  const char *what = "open";
  int err = read_holder(lock->root_fd, MAILDIR_LOCK_FILE, &h, &what);
  if (err == 0 && h.exists && !h.parsed)
    err = read_holder(lock->root_fd, MAILDIR_LOCK_FILE, &h, &what);
  if (err == EMFILE || err == ENFILE)
    return unchanged_since_ours(lock, error);
  if (err != 0) {
    maildir_set_errno_error(error, err, "cannot %s %s", what,
                            MAILDIR_LOCK_FILE);
    return false;
  }
  if (!h.exists) {
    set_removed_error(error);
    return false;
  }
  /* Our inode with an owner line no lock taker writes (every one links a
   * complete, synced line into place): nobody took it over, since a
   * newcomer's file would name its owner.  Leaving it would keep the
   * mailbox locked until lock-timeout. */
  if (h.dev == lock->dev && h.ino == lock->ino && !h.parsed)
    return true;
  if (h.dev != lock->dev || h.ino != lock->ino ||
      (check_token &&
       (!h.parsed || strcmp(h.owner.token, lock->owner.token) != 0))) {
    g_autofree char *who = describe(&h);
    g_set_error(error, MAILDIR_ERROR, POPLAR_STORE_TEMPFAIL,
                "the lock was taken over by another session (%s)", who);
    return false;
  }
  return true;
}

bool maildir_lock_refresh(MaildirLock *lock, GError **error)
{
  struct stat st;
  if (!stat_lock(lock, &st, error))
    return false;
  /* Cheap when nobody touched the file; else the token decides (an
   * administrator's chown changes the ctime of a lock that is still ours). */
  if (!looks_unchanged(lock, &st) && !still_ours(lock, true, error))
    return false;
  /* By name: should the file be replaced between the check and this call
   * (only possible once ours went unrefreshed for lock-timeout), the
   * newcomer's lock merely looks fresh, and its token tells at release. */
  if (utimensat(lock->root_fd, MAILDIR_LOCK_FILE, NULL,
                AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT)
      set_removed_error(error);
    else
      maildir_set_errno_error(error, errno, "cannot refresh %s",
                              MAILDIR_LOCK_FILE);
    return false;
  }
  if (!stat_lock(lock, &st, error))
    return false;
  if (st.st_dev != lock->dev || st.st_ino != lock->ino) {
    g_set_error(error, MAILDIR_ERROR, POPLAR_STORE_TEMPFAIL,
                "the lock was taken over by another session");
    return false;
  }
  lock->ctime = st.st_ctim;
  return true;
}

bool maildir_lock_release(MaildirLock *lock, GError **error)
{
  if (!lock)
    return true;
  /* On a local file system a status call tells, as at refresh, whether
   * anyone touched the file since our last change: a lock taken over
   * would be a new inode, or one whose change time moved (its size
   * too, for a freed inode number reused within one clock tick).  Another
   * machine's client may answer a status call from its attribute cache
   * for a name the server gives to a new file meanwhile, so on a network
   * file system the token is read (opening revalidates the name). */
  struct stat st;
  bool ok = !lock->shared && stat_lock(lock, &st, NULL) &&
            looks_unchanged(lock, &st) && st.st_size == lock->size;
  if (!ok)
    ok = still_ours(lock, true, error);
  if (ok && unlinkat(lock->root_fd, MAILDIR_LOCK_FILE, 0) != 0 &&
      errno != ENOENT) {
    maildir_set_errno_error(error, errno, "cannot remove %s",
                            MAILDIR_LOCK_FILE);
    ok = false;
  }
  g_free(lock);
  return ok;
}
