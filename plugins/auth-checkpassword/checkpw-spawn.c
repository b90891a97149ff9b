/* SPDX-License-Identifier: MIT */
/*
 * Starting the checkpassword program.  posix_spawn() rather than fork():
 * the worker is multi-threaded and large, and glibc's posix_spawn() runs
 * the child on the parent's memory until the exec (no page tables to
 * copy) and reports a failed exec (ENOENT, EACCES) as its own result.
 *
 * The child finds exactly descriptors 0-4 open; everything else the
 * worker holds (client sockets, listeners, TLS keys' files) is closed
 * before the exec, whether or not it was marked close-on-exec.
 */
#include "auth-checkpassword.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Our ends and the child's ends are moved above this before the child's
 * dup2() calls, so that no source descriptor is one of 0-4 and one
 * dup2() can never overwrite the source of the next. */
#define CHECKPW_FD_FLOOR 10

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

static void close_fd(int *fd)
{
  if (*fd >= 0)
    close(*fd);
  *fd = -1;
}

/* Moves @fd to a number at or above CHECKPW_FD_FLOOR, close-on-exec. */
static bool lift(int *fd)
{
  int moved = fcntl(*fd, F_DUPFD_CLOEXEC, CHECKPW_FD_FLOOR);
  if (moved < 0)
    return false;
  close(*fd);
  *fd = moved;
  return true;
}

static bool make_pair(int sv[2], bool socket)
{
  int rc = socket ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)
                  : pipe2(sv, O_CLOEXEC);
  if (rc != 0)
    return false;
  if (!lift(&sv[0]) || !lift(&sv[1])) {
    int saved = errno;
    close_fd(&sv[0]);
    close_fd(&sv[1]);
    errno = saved;
    return false;
  }
  return true;
}

static void setenv_kv(GPtrArray *env, const char *key, const char *value)
{
  if (value && value[0])
    g_ptr_array_add(env, g_strdup_printf("%s=%s", key, value));
}

static void setenv_port(GPtrArray *env, const char *key, unsigned port)
{
  if (port)
    g_ptr_array_add(env, g_strdup_printf("%s=%u", key, port));
}

char **checkpw_child_environment(const CheckpwContext *ctx)
{
  GPtrArray *env = g_ptr_array_new();
  const char *path = g_getenv("PATH");
  setenv_kv(env, "PATH", path && path[0] ? path : DEFAULT_PATH);
  /* The names Dovecot's checkpassword passdb uses (UCSPI's for the
   * addresses), so that programs written for it find what they read. */
  setenv_kv(env, "PROTO", "TCP");
  setenv_kv(env, "SERVICE", "pop3");
  g_ptr_array_add(env, g_strdup_printf("ORIG_UID=%u", (unsigned)getuid()));
  setenv_kv(env, "TCPLOCALIP", ctx->local_address);
  setenv_port(env, "TCPLOCALPORT", ctx->local_port);
  setenv_kv(env, "TCPREMOTEIP", ctx->remote_address);
  setenv_port(env, "TCPREMOTEPORT", ctx->remote_port);
  setenv_kv(env, "AUTH_USER", ctx->user);
  setenv_kv(env, "AUTH_MECH", ctx->mechanism);
  setenv_kv(env, "AUTH_SESSION", ctx->session_id);
  g_ptr_array_add(env, NULL);
  return (char **)g_ptr_array_free(env, FALSE);
}

static char **child_argv(const CheckpwSettings *s)
{
  GPtrArray *argv = g_ptr_array_new();
  g_ptr_array_add(argv, s->program);
  for (char **a = s->args; *a; a++)
    g_ptr_array_add(argv, *a);
  /* qmail's interface: the program runs the rest of its arguments on
   * success.  One argument, as Dovecot gives, because scripts written for
   * Dovecot often run just "$1". */
  g_ptr_array_add(argv, s->reply_program);
  g_ptr_array_add(argv, NULL);
  /* The strings stay the settings'; only the array is the caller's. */
  return (char **)g_ptr_array_free(argv, FALSE);
}

static bool prepare(posix_spawn_file_actions_t *fa, posix_spawnattr_t *attr,
                    const int child_fds[5])
{
  sigset_t none, all;
  sigemptyset(&none);
  /* The workers ignore SIGPIPE, and ignored signals survive exec. */
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  return posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY,
                                          0) == 0 &&
         posix_spawn_file_actions_adddup2(fa, child_fds[1], 1) == 0 &&
         posix_spawn_file_actions_adddup2(fa, child_fds[2], 2) == 0 &&
         posix_spawn_file_actions_adddup2(fa, child_fds[3], 3) == 0 &&
         posix_spawn_file_actions_adddup2(fa, child_fds[4], 4) == 0 &&
         posix_spawn_file_actions_addclosefrom_np(fa, 5) == 0 &&
         /* Its own group, so that the timeout kills whatever it started. */
         posix_spawnattr_setpgroup(attr, 0) == 0 &&
         posix_spawnattr_setsigmask(attr, &none) == 0 &&
         posix_spawnattr_setsigdefault(attr, &all) == 0 &&
         posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP |
                                            POSIX_SPAWN_SETSIGMASK |
                                            POSIX_SPAWN_SETSIGDEF) == 0;
}

bool checkpw_spawn(const CheckpwSettings *s, char **envp, CheckpwChild *out,
                   char **error)
{
  out->pid = -1;
  out->credentials_fd = out->reply_fd = out->diag_fd = -1;
  /* A socket for the credentials, so that our write can say
   * MSG_NOSIGNAL when the program exits without reading them. */
  int cred[2] = {-1, -1}, reply[2] = {-1, -1}, diag[2] = {-1, -1};
  if (!make_pair(cred, true) || !make_pair(reply, false) ||
      !make_pair(diag, false)) {
    int saved = errno;
    *error = g_strdup_printf("cannot make the descriptors for the program: "
                             "%s", g_strerror(saved));
    close_fd(&cred[0]);
    close_fd(&cred[1]);
    close_fd(&reply[0]);
    close_fd(&reply[1]);
    close_fd(&diag[0]);
    close_fd(&diag[1]);
    errno = saved;
    return false;
  }
  const int child_fds[5] = {-1, diag[1], diag[1], cred[1], reply[1]};

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  int rc = ENOMEM;
  if (prepare(&fa, &attr, child_fds)) {
    g_autofree char **argv = child_argv(s);
    pid_t pid = -1;
    rc = posix_spawn(&pid, s->program, &fa, &attr, argv, envp);
    if (rc == 0)
      out->pid = pid;
  }
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);

  close_fd(&cred[1]);
  close_fd(&reply[1]);
  close_fd(&diag[1]);
  if (rc != 0) {
    *error = g_strdup(g_strerror(rc));
    close_fd(&cred[0]);
    close_fd(&reply[0]);
    close_fd(&diag[0]);
    errno = rc;
    return false;
  }
  out->credentials_fd = cred[0];
  out->reply_fd = reply[0];
  out->diag_fd = diag[0];
  return true;
}

void checkpw_child_close(CheckpwChild *c)
{
  close_fd(&c->credentials_fd);
  close_fd(&c->reply_fd);
  close_fd(&c->diag_fd);
}
