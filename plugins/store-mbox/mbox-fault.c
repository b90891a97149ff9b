/* SPDX-License-Identifier: MIT */
/*
 * Fault injection for the crash tests.  Compiled only into the test copy
 * of the plugin (tests/store-mbox, -DPOPLAR_MBOX_FAULT_INJECTION): the
 * plugin that is installed has no such switch.
 *
 *   POPLAR_MBOX_FAULT_STEP=N        SIGKILL at step N of the rewrite
 *   POPLAR_MBOX_FAULT_ERRNO_STEP=N  the writes (or fsync) of step N fail
 *   POPLAR_MBOX_FAULT_ERRNO=E       ... with errno E (default ENOSPC)
 */
#include "mbox.h"

#ifdef POPLAR_MBOX_FAULT_INJECTION

#include <errno.h>
#include <signal.h>
#include <stdlib.h>

static long env_number(const char *name)
{
  const char *v = getenv(name);
  return v && *v ? strtol(v, NULL, 10) : -1;
}

void mbox_fault_point(MboxFaultStep step)
{
  if (env_number("POPLAR_MBOX_FAULT_STEP") == (long)step)
    raise(SIGKILL);
}

bool mbox_fault_fail(MboxFaultStep step, int *err_no)
{
  if (env_number("POPLAR_MBOX_FAULT_ERRNO_STEP") != (long)step)
    return false;
  long e = env_number("POPLAR_MBOX_FAULT_ERRNO");
  *err_no = e > 0 ? (int)e : ENOSPC;
  return true;
}

#endif
