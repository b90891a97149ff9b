/* SPDX-License-Identifier: MIT */
/*
 * The [auth-checkpassword] section:
 *
 *   program        the checkpassword program (required, absolute path)
 *   args           its own arguments, ';'-separated, before the reply
 *                  program
 *   reply-program  what the program runs on success (default: ours)
 *   timeout        per run of the program (default 5s); a login waits
 *                  half as long for a slot
 *   max-processes  programs running at once in one worker (default 16)
 */
#include "auth-checkpassword.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Without it, a worker would wait for a slot or a hung program for as
 * long as a client is willing to, holding a plugin thread. */
#define CHECKPW_TIMEOUT_MAX_MS (5 * 60 * 1000)
#define CHECKPW_MAX_PROCESSES_MAX 1024

/* Checks what the workers' user can see of @path now.  A missing program
 * is a warning, not an error: it may be installed after poplard starts,
 * and until then each login fails with [SYS/TEMP] and a log line. */
static void check_executable(PoplarConfig *config, const char *key,
                             const char *path)
{
  struct stat st;
  if (stat(path, &st) != 0) {
    poplar_config_warning(config, key, "'%s': %s: every login will fail "
                          "with [SYS/TEMP] until it exists", path,
                          g_strerror(errno));
  } else if (!S_ISREG(st.st_mode) || access(path, X_OK) != 0) {
    poplar_config_warning(config, key, "'%s' is not an executable file for "
                          "uid %u: every login will fail with [SYS/TEMP]",
                          path, (unsigned)geteuid());
  } else if (st.st_mode & (S_ISUID | S_ISGID)) {
    poplar_config_warning(config, key, "'%s' is setuid or setgid, but the "
                          "workers run with no_new_privs: it runs as uid "
                          "%u, without the privileges it expects", path,
                          (unsigned)geteuid());
  }
}

static bool absolute(PoplarConfig *config, const char *key, const char *path)
{
  if (path[0] == '/')
    return true;
  poplar_config_error(config, key, "'%s' is not an absolute path", path);
  return false;
}

CheckpwSettings *checkpw_settings_read(PoplarPlugin *plugin,
                                       PoplarConfig *config)
{
  /* Every key is read before giving up, so one run reports every
   * mistake. */
  bool ok = true;
  const char *program = poplar_config_get_string(config, "program", NULL);
  const char *reply = poplar_config_get_string(config, "reply-program",
                                               CHECKPW_REPLY_PROGRAM);
  size_t n_args = 0;
  const char *const *args = poplar_config_get_list(config, "args", &n_args);
  uint64_t timeout_ms = 0;
  ok &= poplar_config_get_duration(config, "timeout",
                                   CHECKPW_DEFAULT_TIMEOUT_MS, &timeout_ms);
  long long max_processes = 0;
  ok &= poplar_config_get_int(config, "max-processes",
                              CHECKPW_DEFAULT_MAX_PROCESSES, 1,
                              CHECKPW_MAX_PROCESSES_MAX, &max_processes);
  if (ok && (timeout_ms < 100 || timeout_ms > CHECKPW_TIMEOUT_MAX_MS)) {
    poplar_config_error(config, "timeout", "must be between 100ms and %dm",
                        CHECKPW_TIMEOUT_MAX_MS / 60000);
    ok = false;
  }
  if (!program) {
    poplar_config_error(config, NULL, "'program' is not set: give the path "
                        "of a checkpassword program, e.g. program = "
                        "/usr/local/bin/checkpassword");
    ok = false;
  } else {
    ok &= absolute(config, "program", program);
  }
  ok &= absolute(config, "reply-program", reply);
  if (!ok)
    return NULL;
  check_executable(config, "program", program);
  check_executable(config, "reply-program", reply);

  CheckpwSettings *s = g_new0(CheckpwSettings, 1);
  s->plugin = plugin;
  s->program = g_strdup(program);
  s->args = g_new0(char *, n_args + 1);
  for (size_t i = 0; i < n_args; i++)
    s->args[i] = g_strdup(args[i]);
  s->reply_program = g_strdup(reply);
  s->timeout_ms = timeout_ms;
  s->max_processes = (unsigned)max_processes;
  s->slots = checkpw_slots_new(s->max_processes);
  return s;
}

void checkpw_settings_free(CheckpwSettings *s)
{
  if (!s)
    return;
  g_free(s->program);
  g_strfreev(s->args);
  g_free(s->reply_program);
  checkpw_slots_free(s->slots);
  g_free(s);
}
