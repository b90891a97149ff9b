/* SPDX-License-Identifier: MIT */
/* This process's pid for lock owners and the lock keeper (maildir.h). */
#include "maildir.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

/* The plugin is loaded before poplard forks its workers and user
 * processes, so a child must not keep its parent's value. */
static atomic_long cached_pid;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void forget_pid(void)
{
  atomic_store(&cached_pid, 0);
}

static void register_atfork(void)
{
  pthread_atfork(NULL, NULL, forget_pid);
}

pid_t maildir_self_pid(void)
{
  long pid = atomic_load(&cached_pid);
  if (pid != 0)
    return (pid_t)pid;
  pthread_once(&atfork_once, register_atfork);
  pid = (long)getpid();
  atomic_store(&cached_pid, pid);
  return (pid_t)pid;
}
