/* SPDX-License-Identifier: MIT */
/*
 * The main thread of a user process only receives sessions and watches
 * for its end; the loop threads and the plugin pool do the serving, as in
 * a worker.  Everything the master had that no user should hold (the
 * listening sockets, the other processes' channels) is closed before the
 * switch to the user's uid, and the switch cannot be undone.
 */
#include "user-proc.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handoff.h"
#include "privileges.h"
#include "session-adopt.h"
#include "control-worker.h"
#include "stats.h"

/* How long a user process that could not start keeps answering the
 * sessions already sent to it, so that none of them waits for nothing. */
#define REFUSE_WINDOW_MS 2000

typedef struct Arrival {
  PoplarServer *server;
  unsigned loop_index;
  int fd;
  int lifeline;
  PoplarHandoff *handoff;
} Arrival;

static void adopt_on_loop(void *data)
{
  Arrival *a = data;
  poplard_session_adopt(a->server, a->loop_index, a->fd, a->lifeline,
                        a->handoff);
  g_free(a);
}

static void refuse_sessions(int channel)
{
  static const char reply[] =
      "-ERR [SYS/TEMP] Mailbox temporarily unavailable\r\n";
  int64_t until = g_get_monotonic_time() + REFUSE_WINDOW_MS * 1000;
  for (int64_t now; (now = g_get_monotonic_time()) < until;) {
    struct pollfd p = {.fd = channel, .events = POLLIN};
    if (poll(&p, 1, (int)((until - now) / 1000) + 1) <= 0)
      continue;
    PoplarHandoff *h = NULL;
    int fds[POPLAR_HANDOFF_FDS];
    char *error = NULL;
    int r = poplard_handoff_recv(channel, &h, fds, &error);
    g_free(error);
    if (r == 0)
      return;
    if (r == 1) {
      ssize_t ignored = send(fds[0], reply, sizeof reply - 1,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
      (void)ignored;
      poplard_handoff_close_fds(fds);
      poplard_handoff_free(h);
    }
  }
}

static int failed(int channel, uint32_t uid, const char *why)
{
  poplarpriv_log(NULL, POPLAR_LOG_ERROR,
                 "the process for uid %u could not start: %s", uid, why);
  refuse_sessions(channel);
  return 1;
}

static void dispatch(PoplarServer *server, PoplarHandoff *h,
                     int fds[POPLAR_HANDOFF_FDS], unsigned *next_loop)
{
  Arrival *a = g_new0(Arrival, 1);
  a->server = server;
  a->loop_index = (*next_loop)++ % server->n_loops;
  a->fd = fds[0];
  a->lifeline = fds[1];
  a->handoff = h;
  poplard_loop_invoke(server->loops[a->loop_index], adopt_on_loop, a);
}

static bool terminated(int sfd)
{
  struct signalfd_siginfo si;
  bool stop = false;
  while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
    stop |= si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT;
  return stop;
}

int poplard_user_proc_main(PoplarServer *server, uint32_t uid, uint32_t gid,
                           int channel, int control)
{
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  /* The listening sockets are the workers' business. */
  g_ptr_array_set_size(server->listeners, 0);
  /* Plugins' init runs with the workers' identity, as in a worker: it
   * may read what the workers may (a key, a table of settings) and the
   * user may not.  Then the switch to the user's uid, for good, before
   * any session arrives. */
  char *err = NULL;
  g_autoptr(GString) error = g_string_new(NULL);
  const PoplarServerConfig *cfg = &server->cfg;
  if (!poplard_assume_identity(cfg->user, cfg->group, &err) ||
      !poplard_server_serve(server, error) || !poplard_resume_root(&err)) {
    g_strchomp(error->str);
    close(control);
    int status = failed(channel, uid, err ? err : error->str);
    g_free(err);
    return status;
  }
  /* Logins are the workers' business: no password database stays loaded
   * in a process that runs as a user. */
  g_ptr_array_set_size(server->registry->passdbs, 0);
  g_ptr_array_set_size(server->registry->mechs, 0);
  if (!poplard_become_uid(uid, gid, cfg->mail_privileged_gid, &err)) {
    close(control);
    int status = failed(channel, uid, err);
    g_free(err);
    return status;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  poplarpriv_log(NULL, POPLAR_LOG_INFO, "serving uid %u gid %u", uid, gid);
  /* Its sessions answer poplarctl who and kick; its counters are its
   * own from here on. */
  poplard_stats_reset();
  PoplarControlWorker *ctl = poplard_control_worker_start(server, control);

  const int64_t idle_us = (int64_t)server->cfg.user_process_idle_ms * 1000;
  int64_t idle_since = g_get_monotonic_time();
  bool idle_told = false, channel_closed = false, stop = false;
  unsigned next_loop = 0;
  while (!stop) {
    struct pollfd p[2] = {{.fd = channel_closed ? -1 : channel,
                           .events = POLLIN},
                          {.fd = sfd, .events = POLLIN}};
    poll(p, 2, 1000);
    if (sfd >= 0 && (p[1].revents & POLLIN))
      stop = terminated(sfd);
    for (int r = 1; r == 1 && !channel_closed;) {
      PoplarHandoff *h = NULL;
      int fds[POPLAR_HANDOFF_FDS];
      char *why = NULL;
      r = poplard_handoff_recv(channel, &h, fds, &why);
      if (r == 1)
        dispatch(server, h, fds, &next_loop);
      else if (r == 0)
        channel_closed = true;
      else if (r == -1)
        poplarpriv_log(NULL, POPLAR_LOG_ERROR, "%s", why);
      g_free(why);
    }
    int64_t now = g_get_monotonic_time();
    if (g_atomic_int_get(&server->live_sessions) > 0) {
      idle_since = now;
      continue;
    }
    if (channel_closed)
      break; /* told idle, and nothing came after */
    if (!idle_told && now - idle_since >= idle_us) {
      char idle = POPLAR_USER_PROC_IDLE;
      idle_told = send(channel, &idle, 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1;
    }
  }
  poplard_control_worker_stop(ctl);
  poplard_server_stop(server, server->cfg.shutdown_timeout_ms);
  poplard_server_free(server);
  if (sfd >= 0)
    close(sfd);
  close(channel);
  return 0;
}
