/* SPDX-License-Identifier: MIT */
/*
 * A process is looked up by uid and gid; a retiring one (it said it is
 * idle) keeps its entry until it ends, for reaping and stopping, but
 * gets no new session: the next session of that uid starts a new one.
 */
#include "user-procs.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "handoff.h"
#include "user-proc.h"

typedef struct UserProc {
  uint32_t uid;
  uint32_t gid;
  pid_t pid;
  int channel; /* -1 once retiring */
  int control; /* the master's end of its control channel */
} UserProc;

struct PoplarUserProcs {
  PoplarServer *server;
  GArray *procs;           /* UserProc */
  GArray *close_in_child;  /* int */
};

PoplarUserProcs *poplard_user_procs_new(PoplarServer *server)
{
  PoplarUserProcs *u = g_new0(PoplarUserProcs, 1);
  u->server = server;
  u->procs = g_array_new(FALSE, FALSE, sizeof(UserProc));
  u->close_in_child = g_array_new(FALSE, FALSE, sizeof(int));
  return u;
}

void poplard_user_procs_free(PoplarUserProcs *u)
{
  if (!u)
    return;
  for (guint i = 0; i < u->procs->len; i++) {
    UserProc *p = &g_array_index(u->procs, UserProc, i);
    if (p->channel >= 0)
      close(p->channel);
    close(p->control);
  }
  g_array_unref(u->procs);
  g_array_unref(u->close_in_child);
  g_free(u);
}

void poplard_user_procs_close_in_child(PoplarUserProcs *u, int fd)
{
  g_array_append_val(u->close_in_child, fd);
}

void poplard_user_procs_forget_fd(PoplarUserProcs *u, int fd)
{
  for (guint i = 0; i < u->close_in_child->len; i++)
    if (g_array_index(u->close_in_child, int, i) == fd)
      g_array_remove_index_fast(u->close_in_child, i--);
}

static UserProc *find(PoplarUserProcs *u, uint32_t uid, uint32_t gid)
{
  for (guint i = 0; i < u->procs->len; i++) {
    UserProc *p = &g_array_index(u->procs, UserProc, i);
    if (p->channel >= 0 && p->uid == uid && p->gid == gid)
      return p;
  }
  return NULL;
}

void poplard_user_procs_close_inherited(PoplarUserProcs *u)
{
  for (guint i = 0; i < u->close_in_child->len; i++)
    close(g_array_index(u->close_in_child, int, i));
  for (guint i = 0; i < u->procs->len; i++) {
    const UserProc *p = &g_array_index(u->procs, UserProc, i);
    if (p->channel >= 0)
      close(p->channel);
    close(p->control);
  }
}

static UserProc *start(PoplarUserProcs *u, uint32_t uid, uint32_t gid)
{
  int pair[2], ctl[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    poplarpriv_log(NULL, POPLAR_LOG_ERROR, "socketpair: %s",
                   g_strerror(errno));
    return NULL;
  }
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) != 0) {
    poplarpriv_log(NULL, POPLAR_LOG_ERROR, "socketpair: %s",
                   g_strerror(errno));
    close(pair[0]);
    close(pair[1]);
    return NULL;
  }
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    poplarpriv_log(NULL, POPLAR_LOG_ERROR,
                   "cannot start the process for uid %u: %s", uid,
                   g_strerror(errno));
    close(pair[0]);
    close(pair[1]);
    close(ctl[0]);
    close(ctl[1]);
    return NULL;
  }
  if (pid == 0) {
    close(pair[0]);
    close(ctl[0]);
    poplard_user_procs_close_inherited(u);
    _exit(poplard_user_proc_main(u->server, uid, gid, pair[1], ctl[1]));
  }
  close(pair[1]);
  close(ctl[1]);
  UserProc p = {.uid = uid, .gid = gid, .pid = pid, .channel = pair[0],
                .control = ctl[0]};
  g_array_append_val(u->procs, p);
  return &g_array_index(u->procs, UserProc, u->procs->len - 1);
}

bool poplard_user_procs_route(PoplarUserProcs *u, int from)
{
  for (;;) {
    GBytes *held = NULL;
    int fds[POPLAR_HANDOFF_FDS];
    uint32_t uid = 0, gid = 0;
    char *error = NULL;
    int r = poplard_handoff_peek(from, &held, fds, &uid, &gid, &error);
    if (r == 0)
      return false;
    if (r == -2)
      return true;
    if (r == -1) {
      /* A malformed datagram is gone; a failing channel must not spin
       * the master: poll says when there is more. */
      poplarpriv_log(NULL, POPLAR_LOG_ERROR, "from a worker: %s", error);
      g_free(error);
      return true;
    }
    /* The worker checked these; a worker that was subverted must still
     * not get a process of root or of a system account. */
    if (uid == 0 || gid == 0 || uid < u->server->cfg.first_valid_uid) {
      poplarpriv_log(NULL, POPLAR_LOG_ERROR,
                     "a worker asked for a session as uid %u gid %u: "
                     "refused", uid, gid);
    } else {
      UserProc *p = find(u, uid, gid);
      if (!p)
        p = start(u, uid, gid);
      if (p && !poplard_handoff_forward(p->channel, held, fds, &error)) {
        poplarpriv_log(NULL, POPLAR_LOG_ERROR, "uid %u: %s", uid, error);
        g_free(error);
      }
    }
    /* The user process has its own copies now, or the session is cut
     * (never answered, so nothing was lost). */
    poplard_handoff_close_fds(fds);
    g_bytes_unref(held);
  }
}

size_t poplard_user_procs_poll_fds(const PoplarUserProcs *u,
                                   struct pollfd *fds, size_t max)
{
  size_t n = 0;
  for (guint i = 0; i < u->procs->len && n < max; i++) {
    int fd = g_array_index(u->procs, UserProc, i).channel;
    if (fd >= 0)
      fds[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
  }
  return n;
}

void poplard_user_procs_on_channel(PoplarUserProcs *u, int fd)
{
  for (guint i = 0; i < u->procs->len; i++) {
    UserProc *p = &g_array_index(u->procs, UserProc, i);
    if (p->channel != fd)
      continue;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      return;
    /* Idle, or gone: either way no new session goes there.  Closing the
     * channel lets it finish what is already on its way, then end. */
    close(p->channel);
    p->channel = -1;
    return;
  }
}

bool poplard_user_procs_reaped(PoplarUserProcs *u, pid_t pid, int status)
{
  for (guint i = 0; i < u->procs->len; i++) {
    UserProc *p = &g_array_index(u->procs, UserProc, i);
    if (p->pid != pid)
      continue;
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    poplarpriv_log(NULL, clean ? POPLAR_LOG_DEBUG : POPLAR_LOG_ERROR,
                   "process for uid %u (pid %d) %s%s", p->uid, (int)pid,
                   WIFSIGNALED(status) ? "killed by signal " : "exited ",
                   WIFSIGNALED(status) ? strsignal(WTERMSIG(status))
                   : clean ? "when idle" : "with an error; its sessions were "
                                           "cut and nothing was deleted");
    if (p->channel >= 0)
      close(p->channel);
    close(p->control);
    g_array_remove_index_fast(u->procs, i);
    return true;
  }
  return false;
}

bool poplard_user_procs_signal(PoplarUserProcs *u, int sig)
{
  for (guint i = 0; i < u->procs->len; i++)
    kill(g_array_index(u->procs, UserProc, i).pid, sig);
  return u->procs->len > 0;
}

bool poplard_user_procs_any(const PoplarUserProcs *u)
{
  return u->procs->len > 0;
}

void poplard_user_procs_list_pids(const PoplarUserProcs *u, GString *out)
{
  for (guint i = 0; i < u->procs->len; i++)
    g_string_append_printf(out, "%d,",
                           (int)g_array_index(u->procs, UserProc, i).pid);
}

size_t poplard_user_procs_count(const PoplarUserProcs *u)
{
  return u->procs->len;
}

size_t poplard_user_procs_control_fds(const PoplarUserProcs *u, int *fds,
                                      size_t max)
{
  size_t n = 0;
  for (guint i = 0; i < u->procs->len && n < max; i++)
    fds[n++] = g_array_index(u->procs, UserProc, i).control;
  return n;
}
