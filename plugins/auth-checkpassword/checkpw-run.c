/* SPDX-License-Identifier: MIT */
/*
 * One run of the checkpassword program, on the plugin thread of the login
 * (plugin calls may block).  One poll() loop writes the request, reads the
 * reply and the program's output, and learns of its exit through a pidfd,
 * all against one deadline.  Whatever ends the run, the program's whole
 * process group is killed and the program reaped before we return: no
 * process of a login outlives it.
 */
#include "auth-checkpassword.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Without a pidfd (kernels before 5.3) the exit is polled this often. */
#define CHECKPW_EXIT_POLL_MS 20

enum { P_CRED, P_REPLY, P_DIAG, P_EXIT, P_COUNT };

typedef struct RunState {
  const CheckpwSettings *s;
  CheckpwChild child;
  int pidfd;
  GByteArray *request;
  size_t written;
  bool exited;
  int status;             /* from waitpid(), once exited */
  CheckpwRun *out;
} RunState;

bool checkpw_request_build(const char *user, const char *password,
                           GByteArray *out)
{
  size_t ulen = strlen(user), plen = strlen(password);
  /* The timestamp is for APOP, which this database does not offer: it is
   * sent empty, as Dovecot does. */
  if (ulen + plen + 3 > CHECKPW_REQUEST_MAX)
    return false;
  g_byte_array_append(out, (const guint8 *)user, (guint)ulen + 1);
  g_byte_array_append(out, (const guint8 *)password, (guint)plen + 1);
  g_byte_array_append(out, (const guint8 *)"", 1);
  return true;
}

static void close_fd(int *fd)
{
  if (*fd >= 0)
    close(*fd);
  *fd = -1;
}

static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
  return (int)syscall(SYS_pidfd_open, pid, 0);
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

/* True once the program has ended, without reaping it: while it is a
 * zombie its pid, which is also its group's id, cannot be reused, so the
 * group can still be killed safely. */
static bool has_ended(RunState *st)
{
  siginfo_t info = {0};
  int r;
  do
    r = waitid(P_PID, (id_t)st->child.pid, &info,
               WEXITED | WNOHANG | WNOWAIT);
  while (r < 0 && errno == EINTR);
  return r < 0 || info.si_pid == st->child.pid;
}

static bool reap(RunState *st, bool wait)
{
  if (st->exited)
    return true;
  int status = 0;
  pid_t r;
  do
    r = waitpid(st->child.pid, &status, wait ? 0 : WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == st->child.pid) {
    st->exited = true;
    st->status = status;
    return true;
  }
  if (r < 0) {
    /* ECHILD: someone else reaped it; nothing to wait for any more. */
    st->exited = true;
    st->status = -1;
    return true;
  }
  return false;
}

/* Called only while the program is not reaped (see has_ended()). */
static void kill_group(RunState *st)
{
  g_assert(!st->exited);
  /* The program may have left its group (setsid): it is killed itself
   * as well. */
  kill(-st->child.pid, SIGKILL);
  kill(st->child.pid, SIGKILL);
}

/* Reads what @fd has now into @buf, up to @keep octets kept (the rest is
 * read and dropped).  Returns false at EOF or error. */
static bool drain(int fd, GString *buf, size_t keep, bool *cut,
                  bool *too_long)
{
  char chunk[4096];
  ssize_t n = read(fd, chunk, sizeof chunk);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return true;
  if (n <= 0)
    return false;
  size_t room = buf->len < keep ? keep - buf->len : 0;
  g_string_append_len(buf, chunk, (gssize)MIN((size_t)n, room));
  if ((size_t)n > room) {
    if (cut)
      *cut = true;
    if (too_long)
      *too_long = true;
  }
  return true;
}

static void write_request(RunState *st)
{
  ssize_t n = send(st->child.credentials_fd, st->request->data + st->written,
                   st->request->len - st->written,
                   MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n > 0)
    st->written += (size_t)n;
  /* EPIPE: the program closed descriptor 3 unread; what it decides
   * without the password is its exit status's to say. */
  if ((n < 0 && errno != EAGAIN && errno != EINTR) ||
      st->written == st->request->len)
    close_fd(&st->child.credentials_fd);
}

static int ms_left(int64_t deadline_us)
{
  int64_t left = deadline_us - g_get_monotonic_time();
  if (left <= 0)
    return 0;
  return (int)MIN((left + 999) / 1000, (int64_t)G_MAXINT);
}

/* The loop; returns the end when the program was killed by us, or
 * CHECKPW_END_EXITED when it ended on its own. */
static CheckpwEnd exchange(RunState *st, int64_t deadline_us)
{
  CheckpwRun *out = st->out;
  for (;;) {
    if (st->exited && st->child.reply_fd < 0 && st->child.diag_fd < 0)
      return CHECKPW_END_EXITED;
    struct pollfd p[P_COUNT] = {
        [P_CRED] = {.fd = st->child.credentials_fd, .events = POLLOUT},
        [P_REPLY] = {.fd = st->child.reply_fd, .events = POLLIN},
        [P_DIAG] = {.fd = st->child.diag_fd, .events = POLLIN},
        [P_EXIT] = {.fd = st->exited ? -1 : st->pidfd, .events = POLLIN},
    };
    int wait_ms = ms_left(deadline_us);
    if (st->exited)
      wait_ms = 0; /* only what is already in the pipes */
    else if (st->pidfd < 0)
      wait_ms = MIN(wait_ms, CHECKPW_EXIT_POLL_MS);
    int n = poll(p, P_COUNT, wait_ms);
    if (n < 0 && errno != EINTR) {
      out->error = g_strdup_printf("poll: %s", g_strerror(errno));
      return CHECKPW_END_IO_ERROR;
    }
    if (p[P_CRED].revents)
      write_request(st);
    if (p[P_REPLY].revents) {
      bool too_long = false;
      if (!drain(st->child.reply_fd, out->reply, CHECKPW_REPLY_MAX, NULL,
                 &too_long))
        close_fd(&st->child.reply_fd);
      if (too_long)
        return CHECKPW_END_REPLY_TOO_LONG;
    }
    if (p[P_DIAG].revents &&
        !drain(st->child.diag_fd, out->diag, CHECKPW_DIAG_KEEP,
               &out->diag_cut, NULL))
      close_fd(&st->child.diag_fd);
    if (st->exited && (n == 0 || ms_left(deadline_us) == 0)) {
      /* Exited, pipes empty but still open: something the program left
       * behind (outside its group) holds them, and may write for ever.
       * What the program itself wrote has been read. */
      close_fd(&st->child.reply_fd);
      close_fd(&st->child.diag_fd);
      continue;
    }
    if (!st->exited && (p[P_EXIT].revents || st->pidfd < 0) &&
        has_ended(st)) {
      /* Nothing it started may go on; the pipes hold what it wrote. */
      kill_group(st);
      reap(st, true);
      continue;
    }
    if (!st->exited && ms_left(deadline_us) == 0)
      return CHECKPW_END_TIMEOUT;
  }
}

void checkpw_run(const CheckpwSettings *s, const CheckpwContext *ctx,
                 const char *password, CheckpwRun *out)
{
  memset(out, 0, sizeof *out);
  out->reply = g_string_new(NULL);
  out->diag = g_string_new(NULL);
  if (!checkpw_slots_acquire(s->slots, g_get_monotonic_time() +
                             (int64_t)checkpw_slot_wait_ms(s) * 1000)) {
    out->end = CHECKPW_END_BUSY;
    return;
  }
  int64_t deadline_us = g_get_monotonic_time() +
                        (int64_t)s->timeout_ms * 1000;

  RunState st = {.s = s, .pidfd = -1, .out = out};
  st.request = g_byte_array_new();
  /* The caller checked the length. */
  checkpw_request_build(ctx->user, password, st.request);
  char **envp = checkpw_child_environment(ctx);
  if (!checkpw_spawn(s, envp, &st.child, &out->error)) {
    out->spawn_errno = errno;
    out->end = CHECKPW_END_SPAWN_FAILED;
  } else {
    st.pidfd = open_pidfd(st.child.pid);
    out->end = exchange(&st, deadline_us);
    if (!st.exited)
      kill_group(&st);
    reap(&st, true);
    if (out->end == CHECKPW_END_EXITED) {
      if (st.status >= 0 && WIFSIGNALED(st.status)) {
        out->end = CHECKPW_END_SIGNALED;
        out->signal = WTERMSIG(st.status);
      } else if (st.status >= 0 && WIFEXITED(st.status)) {
        out->exit_status = WEXITSTATUS(st.status);
      } else {
        out->end = CHECKPW_END_IO_ERROR;
        out->error = g_strdup("its exit status was lost (reaped by "
                              "someone else)");
      }
    }
    close_fd(&st.pidfd);
    checkpw_child_close(&st.child);
  }
  checkpw_slots_release(s->slots);
  g_strfreev(envp);
  /* The request holds the password. */
  memset(st.request->data, 0, st.request->len);
  g_byte_array_free(st.request, TRUE);
}

void checkpw_run_clear(CheckpwRun *r)
{
  if (r->reply) {
    /* A reply may carry a password field; it is dropped, and wiped. */
    memset(r->reply->str, 0, r->reply->len);
    g_string_free(r->reply, TRUE);
  }
  if (r->diag)
    g_string_free(r->diag, TRUE);
  g_free(r->error);
  memset(r, 0, sizeof *r);
}
