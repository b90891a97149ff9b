/* SPDX-License-Identifier: MIT */
/*
 * The master process: it holds the listening sockets and supervises the
 * workers that serve sessions.  It stays root so that it can restart a
 * worker (which drops privileges itself), bind new addresses and read
 * root-only keys on reload, but it never talks to a client.
 *
 * Reload (SIGHUP) is "check, then start over": the new configuration is
 * checked in a throw-away child (plugins loaded and initialised as for
 * --check-config); if it passes, the old workers are told to drain and
 * the master executes itself again, handing its listening sockets over
 * exactly as systemd socket activation does.  So a reload gets a fresh
 * configuration, fresh plugins and fresh certificates through the same
 * code path as a start, and a bad configuration changes nothing.
 *
 * While no worker runs (all of them dead and waiting out their restart
 * back-off, up to 30 s), the master takes the connections the listeners
 * queue and turns them away at once: "-ERR [SYS/TEMP]" on a plain
 * listener, a close on an implicit-TLS one.  It writes that one fixed
 * line and reads nothing, so it still never talks with a client.
 */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control-worker.h"
#include "control.h"
#include "listener.h"
#include "metrics-http.h"
#include "stats.h"
#include "systemd.h"
#include "user-procs.h"

/* Restart backoff: a worker that dies is restarted after this, doubled
 * for each death in a row, reset once a worker has lived for a while. */
#define RESTART_DELAY_MIN_MS 100
#define RESTART_DELAY_MAX_MS (30 * 1000)
#define RESTART_STABLE_MS (60 * 1000)
/* Exit status of a worker that could not start (config, plugin init). */
#define WORKER_EXIT_CONFIG 78
/* What a connection gets while no worker runs (RFC 3206). */
#define TURN_AWAY_REPLY \
  "-ERR [SYS/TEMP] server restarting, try again in a few seconds\r\n"
/* Accepted and turned away per listener per wake-up, so that signals
 * and restarts are never starved by a flood. */
#define TURN_AWAY_BATCH 64
/* Old workers still draining after a reload, passed to the new image. */
#define DRAINING_ENV "POPLAR_DRAINING_PIDS"

typedef struct Worker {
  pid_t pid;          /* 0: not running */
  int64_t started_us; /* monotonic */
  int64_t restart_at; /* monotonic; 0: no restart scheduled */
  unsigned failures;  /* deaths in a row */
  int ready_fd;       /* read end of the readiness pipe, or -1 */
  int broker;         /* master's end of its hand-off channel, or -1 */
  int ctl;            /* master's end of its control channel, or -1 */
} Worker;

typedef struct Master {
  PoplarServer *server;
  const PoplarMasterOptions *opts;
  Worker *workers;
  unsigned n_workers;
  GArray *draining; /* pid_t of workers from before a reload */
  PoplarUserProcs *users; /* NULL when not root: no uid switching */
  int sfd;
  bool stopping;
  uint64_t turned_away; /* connections answered while no worker ran */
  uint64_t restarts;    /* workers restarted after dying */
  PoplarControl *control;   /* poplarctl's socket, or NULL */
  PoplarMetricsHttp *metrics; /* [metrics] listen, or NULL */
} Master;

static sigset_t handled_signals(void)
{
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGCHLD);
  return set;
}

/* ---- the worker side ----------------------------------------------------- */

static int worker_main(PoplarServer *server, int ready_fd, int ctl_fd)
{
  /* A worker outlives nothing: if the master dies, it drains and exits. */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  /* Nothing a worker runs (a plugin's helper program) may gain
   * privileges through a setuid or setgid file. */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    fprintf(stderr, "poplard worker %d: PR_SET_NO_NEW_PRIVS: %s\n",
            (int)getpid(), g_strerror(errno));
    return WORKER_EXIT_CONFIG;
  }
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_UNBLOCK, &chld, NULL);
  sigset_t set = handled_signals();
  sigdelset(&set, SIGCHLD);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  g_autoptr(GString) error = g_string_new(NULL);
  if (sfd < 0 || !poplard_server_prepare(server, error)) {
    fprintf(stderr, "poplard worker %d: not started: %s", (int)getpid(),
            error->str);
    return WORKER_EXIT_CONFIG;
  }
  /* Counts from the master's own start-up (a plugin's preinit warning)
   * are not this worker's: every worker would report them again. */
  poplard_stats_reset();
  PoplarControlWorker *control = poplard_control_worker_start(server, ctl_fd);
  /* Ready before the loops run: a session that crashes the worker then
   * finds it started, and it is restarted, not taken for a start-up
   * failure that stops the server. */
  char ok = 'R';
  if (write(ready_fd, &ok, 1) != 1)
    return WORKER_EXIT_CONFIG;
  close(ready_fd);
  poplard_server_start_loops(server);
  for (;;) {
    struct signalfd_siginfo si;
    ssize_t n = read(sfd, &si, sizeof si);
    if (n < 0 && errno == EINTR)
      continue;
    if (n == (ssize_t)sizeof si && si.ssi_signo == SIGHUP)
      continue; /* the master reloads; workers are replaced, not reloaded */
    break;
  }
  /* Draining sessions answer no more control requests: the master that
   * asked is gone, or has new workers. */
  poplard_control_worker_stop(control);
  poplard_server_stop(server, server->cfg.shutdown_timeout_ms);
  poplard_server_free(server); /* plugins' fini runs where their init did */
  return 0;
}

/* ---- spawning and reaping ------------------------------------------------ */

/* The channel on which a worker hands sessions of other uids to the
 * master; none when the master cannot start processes for them. */
static bool open_broker(Master *m, Worker *w, int *worker_end)
{
  *worker_end = -1;
  w->broker = -1;
  if (!m->users)
    return true;
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
                 pair) != 0) {
    poplarpriv_log(NULL, POPLAR_LOG_ERROR, "socketpair: %s",
                   g_strerror(errno));
    return false;
  }
  w->broker = pair[0];
  *worker_end = pair[1];
  poplard_user_procs_close_in_child(m->users, pair[0]);
  return true;
}

static void close_broker(Master *m, Worker *w)
{
  if (w->broker < 0)
    return;
  poplard_user_procs_forget_fd(m->users, w->broker);
  close(w->broker);
  w->broker = -1;
}

static void close_ctl(Master *m, Worker *w)
{
  if (w->ctl < 0)
    return;
  /* Its number may be reused: user processes must not close that. */
  if (m->users)
    poplard_user_procs_forget_fd(m->users, w->ctl);
  close(w->ctl);
  w->ctl = -1;
}

/* What a child of the master must not keep: the other workers' channels
 * and the operations sockets. */
static void close_in_child(Master *m, Worker *self)
{
  for (unsigned i = 0; i < m->n_workers; i++)
    if (&m->workers[i] != self && m->workers[i].ctl >= 0)
      close(m->workers[i].ctl);
  if (m->control)
    close(poplard_control_fd(m->control));
  if (m->metrics)
    close(poplard_metrics_http_fd(m->metrics));
}

static bool spawn(Master *m, Worker *w)
{
  int pipefd[2];
  int broker_end;
  int ctl_pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl_pair) != 0) {
    poplarpriv_log(NULL, POPLAR_LOG_ERROR, "socketpair: %s",
                   g_strerror(errno));
    return false;
  }
  w->ctl = ctl_pair[0];
  if (m->users)
    poplard_user_procs_close_in_child(m->users, ctl_pair[0]);
  if (!open_broker(m, w, &broker_end)) {
    close_ctl(m, w);
    close(ctl_pair[1]);
    return false;
  }
  if (pipe2(pipefd, O_CLOEXEC) != 0) {
    poplarpriv_log(NULL, POPLAR_LOG_ERROR, "pipe: %s", g_strerror(errno));
    close_broker(m, w);
    close(broker_end);
    close_ctl(m, w);
    close(ctl_pair[1]);
    return false;
  }
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    poplarpriv_log(NULL, POPLAR_LOG_ERROR, "cannot start a worker: %s",
                   g_strerror(errno));
    close(pipefd[0]);
    close(pipefd[1]);
    close_broker(m, w);
    if (broker_end >= 0)
      close(broker_end);
    close_ctl(m, w);
    close(ctl_pair[1]);
    return false;
  }
  if (pid == 0) {
    close(pipefd[0]);
    close(m->sfd);
    close(ctl_pair[0]);
    close_in_child(m, w);
    if (m->users)
      poplard_user_procs_close_inherited(m->users);
    m->server->broker_fd = broker_end;
    _exit(worker_main(m->server, pipefd[1], ctl_pair[1]));
  }
  close(pipefd[1]);
  close(ctl_pair[1]);
  if (broker_end >= 0)
    close(broker_end);
  w->pid = pid;
  w->started_us = g_get_monotonic_time();
  w->restart_at = 0;
  w->ready_fd = pipefd[0];
  return true;
}

/* Waits until @w says it runs, or dies.  Returns false when it died. */
static bool await_ready(Worker *w)
{
  char c;
  ssize_t n;
  do
    n = read(w->ready_fd, &c, 1);
  while (n < 0 && errno == EINTR);
  close(w->ready_fd);
  w->ready_fd = -1;
  return n == 1;
}

static char *describe_exit(int status)
{
  if (WIFEXITED(status))
    return g_strdup_printf("exited with status %d", WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return g_strdup_printf("killed by signal %d (%s)%s", WTERMSIG(status),
                           strsignal(WTERMSIG(status)),
                           WCOREDUMP(status) ? ", core dumped" : "");
  return g_strdup("ended");
}

static void schedule_restart(Worker *w)
{
  int64_t now = g_get_monotonic_time();
  if (now - w->started_us > (int64_t)RESTART_STABLE_MS * 1000)
    w->failures = 0;
  uint64_t delay = RESTART_DELAY_MIN_MS;
  for (unsigned i = 0; i < w->failures && delay < RESTART_DELAY_MAX_MS; i++)
    delay *= 2;
  delay = MIN(delay, RESTART_DELAY_MAX_MS);
  w->failures++;
  w->pid = 0;
  w->restart_at = now + (int64_t)delay * 1000;
  poplarpriv_log(NULL, POPLAR_LOG_INFO,
                 "restarting the worker in %llu ms; other workers and their "
                 "sessions go on, and nothing its sessions marked was "
                 "deleted", (unsigned long long)delay);
}

static void reap(Master *m)
{
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0)
      return;
    bool found = m->users && poplard_user_procs_reaped(m->users, pid, status);
    for (unsigned i = 0; i < m->n_workers; i++) {
      Worker *w = &m->workers[i];
      if (w->pid != pid)
        continue;
      found = true;
      close_broker(m, w);
      close_ctl(m, w);
      if (m->stopping) {
        w->pid = 0;
      } else {
        m->restarts++;
        g_autofree char *how = describe_exit(status);
        poplarpriv_log(NULL, POPLAR_LOG_ERROR, "worker %d %s", (int)pid,
                       how);
        schedule_restart(w);
      }
    }
    for (guint i = 0; !found && i < m->draining->len; i++) {
      if (g_array_index(m->draining, pid_t, i) == pid) {
        g_array_remove_index_fast(m->draining, i);
        found = true;
      }
    }
  }
}

static int next_restart_timeout(const Master *m)
{
  int64_t next = 0;
  for (unsigned i = 0; i < m->n_workers; i++) {
    int64_t at = m->workers[i].restart_at;
    if (at && (!next || at < next))
      next = at;
  }
  if (!next)
    return -1;
  int64_t wait = next - g_get_monotonic_time();
  return wait <= 0 ? 0 : (int)((wait + 999) / 1000);
}

static void run_restarts(Master *m)
{
  int64_t now = g_get_monotonic_time();
  for (unsigned i = 0; i < m->n_workers; i++) {
    Worker *w = &m->workers[i];
    if (!w->restart_at || w->restart_at > now)
      continue;
    if (spawn(m, w)) {
      if (await_ready(w))
        poplarpriv_log(NULL, POPLAR_LOG_INFO, "worker %d started",
                       (int)w->pid);
      /* else: it died at once; reap() schedules the next try */
    } else {
      w->restart_at = now + (int64_t)RESTART_DELAY_MAX_MS * 1000;
    }
  }
}

/* ---- while no worker runs ------------------------------------------------ */

/* True when nothing would accept a connection: every worker dead and
 * waiting for its restart.  (With one worker up, it serves them all.) */
static bool none_serving(const Master *m)
{
  if (m->stopping)
    return false;
  for (unsigned i = 0; i < m->n_workers; i++)
    if (m->workers[i].pid > 0)
      return false;
  return true;
}

static void turn_away(Master *m, const PoplarListener *l)
{
  int fd = poplard_listener_fd(l);
  for (int i = 0; i < TURN_AWAY_BATCH; i++) {
    int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0)
      return; /* EAGAIN: none left; anything else: the next wake-up */
    /* An implicit-TLS client cannot read plain text: it gets the close. */
    if (!poplard_listener_is_tls(l))
      (void)!send(c, TURN_AWAY_REPLY, strlen(TURN_AWAY_REPLY),
                  MSG_NOSIGNAL | MSG_DONTWAIT);
    close(c);
    m->turned_away++;
  }
}

/* ---- operations: poplarctl and metrics ----------------------------------- */

static void open_operations(Master *m)
{
  const PoplarServerConfig *cfg = &m->server->cfg;
  char *err = NULL;
  if (cfg->control_socket && cfg->control_socket[0]) {
    m->control = poplard_control_open(cfg->control_socket,
                                      cfg->control_group, &err);
    if (!m->control) {
      /* Serving mail matters more than poplarctl: go on without it. */
      poplarpriv_log(NULL, POPLAR_LOG_WARNING, "no control socket: %s", err);
      g_clear_pointer(&err, g_free);
    }
  }
  if (cfg->metrics_listen) {
    m->metrics = poplard_metrics_http_open(cfg->metrics_listen, &err);
    if (!m->metrics) {
      poplarpriv_log(NULL, POPLAR_LOG_WARNING, "no metrics endpoint: "
                     "[metrics] listen %s: %s", cfg->metrics_listen, err);
      g_free(err);
    } else {
      poplarpriv_log(NULL, POPLAR_LOG_INFO, "metrics on http://%s/metrics",
                     poplard_metrics_http_address(m->metrics));
    }
  }
  if (m->users && m->control)
    poplard_user_procs_close_in_child(m->users,
                                      poplard_control_fd(m->control));
  if (m->users && m->metrics)
    poplard_user_procs_close_in_child(m->users,
                                      poplard_metrics_http_fd(m->metrics));
}

static void close_operations(Master *m)
{
  g_clear_pointer(&m->control, poplard_control_free);
  g_clear_pointer(&m->metrics, poplard_metrics_http_free);
}

/* Fills @fds (room for every worker and user process) with their
 * control channels for @view. */
static void master_view(const Master *m, int *fds, size_t room,
                        PoplarMasterView *view)
{
  unsigned n = 0;
  for (unsigned i = 0; i < m->n_workers; i++)
    if (m->workers[i].pid > 0 && m->workers[i].ctl >= 0)
      fds[n++] = m->workers[i].ctl;
  size_t n_users =
      m->users ? poplard_user_procs_control_fds(m->users, fds + n, room - n)
               : 0;
  *view = (PoplarMasterView){.worker_fds = fds, .n_workers = n,
                             .n_user_procs = (unsigned)n_users,
                             .worker_restarts = m->restarts};
}

/* Waits for a signal or the next restart, routing the sessions workers
 * hand to user processes meanwhile; while no worker runs, answers the
 * listeners too.  Returns what a control request asked for. */
static PoplarControlAction wait_for_events(Master *m)
{
  GPtrArray *listeners = m->server->listeners;
  guint n_listen = none_serving(m) ? listeners->len : 0;
  size_t n_user = m->users ? poplard_user_procs_count(m->users) : 0;
  size_t max = 3 + n_listen + m->n_workers + n_user;
  g_autofree struct pollfd *p = g_new0(struct pollfd, max);
  size_t n = 0;
  p[n++] = (struct pollfd){.fd = m->sfd, .events = POLLIN};
  p[n++] = (struct pollfd){
      .fd = m->control ? poplard_control_fd(m->control) : -1,
      .events = POLLIN};
  p[n++] = (struct pollfd){
      .fd = m->metrics ? poplard_metrics_http_fd(m->metrics) : -1,
      .events = POLLIN};
  size_t first_listen = n;
  for (guint i = 0; i < n_listen; i++)
    p[n++] = (struct pollfd){
        .fd = poplard_listener_fd(g_ptr_array_index(listeners, i)),
        .events = POLLIN};
  size_t first_broker = n;
  for (unsigned i = 0; i < m->n_workers; i++)
    p[n++] = (struct pollfd){.fd = m->workers[i].pid > 0
                                       ? m->workers[i].broker : -1,
                             .events = POLLIN};
  size_t first_user = n;
  if (m->users)
    n += poplard_user_procs_poll_fds(m->users, p + n, max - n);
  if (poll(p, n, next_restart_timeout(m)) <= 0)
    return POPLAR_CONTROL_NONE;
  for (guint i = 0; i < n_listen; i++)
    if (p[first_listen + i].revents & POLLIN)
      turn_away(m, g_ptr_array_index(listeners, i));
  for (unsigned i = 0; i < m->n_workers; i++) {
    Worker *w = &m->workers[i];
    if (p[first_broker + i].revents && w->broker >= 0 &&
        !poplard_user_procs_route(m->users, w->broker))
      close_broker(m, w); /* the worker is gone; reap() says why */
  }
  for (size_t i = first_user; i < n; i++)
    if (p[i].revents)
      poplard_user_procs_on_channel(m->users, p[i].fd);
  size_t room = m->n_workers + n_user + 1;
  g_autofree int *fds = g_new0(int, room);
  PoplarMasterView view;
  master_view(m, fds, room, &view);
  if (p[2].revents & POLLIN)
    poplard_metrics_http_serve_one(m->metrics, &view);
  if (p[1].revents & POLLIN)
    return poplard_control_serve_one(m->control, &view);
  return POPLAR_CONTROL_NONE;
}

static void report_turned_away(Master *m)
{
  if (!m->turned_away || none_serving(m))
    return;
  poplarpriv_log(NULL, POPLAR_LOG_WARNING,
                 "%llu connection%s answered [SYS/TEMP] while no worker ran",
                 (unsigned long long)m->turned_away,
                 m->turned_away == 1 ? "" : "s");
  m->turned_away = 0;
}

/* ---- stopping ------------------------------------------------------------ */

static void signal_all(Master *m, int sig)
{
  for (unsigned i = 0; i < m->n_workers; i++)
    if (m->workers[i].pid > 0)
      kill(m->workers[i].pid, sig);
  for (guint i = 0; i < m->draining->len; i++)
    kill(g_array_index(m->draining, pid_t, i), sig);
  if (m->users)
    poplard_user_procs_signal(m->users, sig);
}

static bool any_alive(const Master *m)
{
  for (unsigned i = 0; i < m->n_workers; i++)
    if (m->workers[i].pid > 0)
      return true;
  return m->draining->len > 0 || (m->users && poplard_user_procs_any(m->users));
}

static void stop_all(Master *m)
{
  m->stopping = true;
  /* New connections are refused from now on, once the workers have closed
   * their copies too. */
  g_ptr_array_set_size(m->server->listeners, 0);
  signal_all(m, SIGTERM);
  /* Workers give their sessions shutdown-timeout, then end them; allow
   * for that plus the teardown before insisting. */
  int64_t deadline = g_get_monotonic_time() +
                     (int64_t)(m->server->cfg.shutdown_timeout_ms + 15000) *
                         1000;
  while (any_alive(m) && g_get_monotonic_time() < deadline) {
    struct pollfd p = {.fd = m->sfd, .events = POLLIN};
    poll(&p, 1, 100);
    struct signalfd_siginfo si;
    while (read(m->sfd, &si, sizeof si) == (ssize_t)sizeof si)
      ;
    reap(m);
  }
  if (any_alive(m)) {
    poplarpriv_log(NULL, POPLAR_LOG_ERROR,
                   "workers still running after the shutdown timeout: "
                   "killing them");
    signal_all(m, SIGKILL);
    while (waitpid(-1, NULL, 0) > 0)
      ;
  }
}

/* ---- reload -------------------------------------------------------------- */

/* Checks the configuration file in a child, so that loading and
 * initialising plugins leaves this process untouched. */
static bool check_new_config(Master *m)
{
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0)
    return false;
  if (pid == 0) {
    PoplarServer probe = {0};
    bool ok = poplard_server_setup(&probe, m->opts->config_path,
                                  m->opts->plugin_dir, true);
    GPtrArray *errors = probe.config_file->errors;
    for (guint i = 0; i < errors->len; i++)
      poplarpriv_log(NULL, POPLAR_LOG_ERROR, "reload refused: %s",
                     (const char *)errors->pdata[i]);
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Puts the listening sockets at descriptors 3, 4, ... with LISTEN_FDS,
 * as systemd does, and executes this program again. */
static void reexec(Master *m)
{
  GPtrArray *listeners = m->server->listeners;
  guint n = listeners->len;
  g_autofree int *tmp = g_new(int, n ? n : 1);
  GString *names = g_string_new(NULL);
  /* First out of the way of 3..3+n, then into place. */
  for (guint i = 0; i < n; i++) {
    PoplarListener *l = g_ptr_array_index(listeners, i);
    tmp[i] = fcntl(poplard_listener_fd(l), F_DUPFD_CLOEXEC, 3 + (int)n);
    g_string_append_printf(names, "%s%s", i ? ":" : "",
                           poplard_listener_is_tls(l) ? "pop3s" : "pop3");
  }
  for (guint i = 0; i < n; i++) {
    if (tmp[i] < 0 || dup2(tmp[i], 3 + (int)i) < 0) {
      poplarpriv_log(NULL, POPLAR_LOG_ERROR,
                     "reload: cannot pass the sockets on: %s",
                     g_strerror(errno));
      g_string_free(names, TRUE);
      return;
    }
  }
  GString *pids = g_string_new(NULL);
  for (unsigned i = 0; i < m->n_workers; i++)
    if (m->workers[i].pid > 0)
      g_string_append_printf(pids, "%d,", (int)m->workers[i].pid);
  for (guint i = 0; i < m->draining->len; i++)
    g_string_append_printf(pids, "%d,", (int)g_array_index(m->draining,
                                                            pid_t, i));
  if (m->users)
    poplard_user_procs_list_pids(m->users, pids);
  g_autofree char *pid_text = g_strdup_printf("%d", (int)getpid());
  g_autofree char *n_text = g_strdup_printf("%u", n);
  setenv("LISTEN_PID", pid_text, 1);
  setenv("LISTEN_FDS", n_text, 1);
  setenv("LISTEN_FDNAMES", names->str, 1);
  setenv(DRAINING_ENV, pids->str, 1);
  g_string_free(names, TRUE);
  g_string_free(pids, TRUE);
  /* The old workers drain while the new image starts new ones. */
  signal_all(m, SIGTERM);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  fflush(stderr);
  execv("/proc/self/exe", m->opts->argv);
  poplarpriv_log(NULL, POPLAR_LOG_ERROR, "reload: cannot execute poplard "
                 "again: %s", g_strerror(errno));
}

static void reload(Master *m)
{
  poplard_sd_notifyf("RELOADING=1\nMONOTONIC_USEC=%" G_GINT64_FORMAT,
                    g_get_monotonic_time());
  poplarpriv_log(NULL, POPLAR_LOG_INFO, "SIGHUP: checking %s",
                 m->opts->config_path);
  if (!check_new_config(m)) {
    poplarpriv_log(NULL, POPLAR_LOG_ERROR,
                   "SIGHUP: the new configuration has errors (see above): "
                   "still running the old one");
    poplard_sd_notify("READY=1\nSTATUS=reload refused: configuration errors");
    return;
  }
  reexec(m);
  /* Only reached when the exec failed: carry on with the old image. */
  poplard_sd_notify("READY=1");
}

/* ---- the main loop -------------------------------------------------------- */


static void adopt_draining(Master *m)
{
  const char *env = getenv(DRAINING_ENV);
  if (!env)
    return;
  g_auto(GStrv) pids = g_strsplit(env, ",", -1);
  for (char **p = pids; *p; p++) {
    pid_t pid = (pid_t)strtol(*p, NULL, 10);
    if (pid > 0)
      g_array_append_val(m->draining, pid);
  }
  unsetenv(DRAINING_ENV);
}

void poplard_master_block_signals(void)
{
  sigset_t set = handled_signals();
  sigprocmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
}

int poplard_master_run(PoplarServer *server, const PoplarMasterOptions *opts)
{
  Master m = {.server = server, .opts = opts};
  m.draining = g_array_new(FALSE, FALSE, sizeof(pid_t));
  adopt_draining(&m);
  poplard_master_block_signals();
  sigset_t set = handled_signals();
  m.sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (m.sfd < 0) {
    fprintf(stderr, "poplard: signalfd: %s\n", g_strerror(errno));
    return 1;
  }
  m.n_workers = server->cfg.workers;
  m.workers = g_new0(Worker, m.n_workers);
  for (unsigned i = 0; i < m.n_workers; i++)
    m.workers[i].broker = m.workers[i].ctl = -1;
  /* Only root can start processes for the users' own uids. */
  if (geteuid() == 0) {
    m.users = poplard_user_procs_new(server);
    poplard_user_procs_close_in_child(m.users, m.sfd);
  }
  open_operations(&m);
  for (unsigned i = 0; i < m.n_workers; i++) {
    Worker *w = &m.workers[i];
    if (!spawn(&m, w) || !await_ready(w)) {
      /* The worker printed why; nothing serves, so do not pretend. */
      fprintf(stderr, "poplard: not started: a worker could not start "
                      "(see above)\n");
      m.stopping = true;
      signal_all(&m, SIGTERM);
      while (waitpid(-1, NULL, 0) > 0)
        ;
      close_operations(&m);
      g_free(m.workers);
      g_array_unref(m.draining);
      poplard_user_procs_free(m.users);
      close(m.sfd);
      return 1;
    }
  }
  poplarpriv_log(NULL, POPLAR_LOG_INFO, "poplard %s ready (%u worker%s)",
                 POPLAR_VERSION, m.n_workers, m.n_workers == 1 ? "" : "s");
  poplard_sd_notifyf("READY=1\nSTATUS=serving with %u worker%s", m.n_workers,
                    m.n_workers == 1 ? "" : "s");

  for (;;) {
    PoplarControlAction action = wait_for_events(&m);
    struct signalfd_siginfo si;
    bool stop = action == POPLAR_CONTROL_STOP;
    bool hup = action == POPLAR_CONTROL_RELOAD;
    while (read(m.sfd, &si, sizeof si) == (ssize_t)sizeof si) {
      if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
        stop = true;
      else if (si.ssi_signo == SIGHUP)
        hup = true;
    }
    reap(&m);
    if (stop) {
      poplarpriv_log(NULL, POPLAR_LOG_INFO, "shutting down: live sessions "
                     "get up to %llu ms to finish",
                     (unsigned long long)server->cfg.shutdown_timeout_ms);
      poplard_sd_notify("STOPPING=1");
      close_operations(&m);
      stop_all(&m);
      break;
    }
    if (hup)
      reload(&m);
    run_restarts(&m);
    report_turned_away(&m);
  }
  g_free(m.workers);
  g_array_unref(m.draining);
  poplard_user_procs_free(m.users);
  close(m.sfd);
  return 0;
}
