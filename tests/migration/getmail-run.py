# SPDX-License-Identifier: MIT
"""Runs Debian's getmail6 with its fork/SIGCHLD race closed.

getmail6 (6.18, Debian 12) forks a child for every delivery and installs
its SIGCHLD handler only after fork() has returned in the parent.  A child
that is done before that (a loaded machine makes it likely) sends its
SIGCHLD while nobody listens, and the parent waits 60 s for a signal that
came and went, then fails with "waiting child pid N timed out"
(getmail6's issues #52 and #226 are the same race).  Here SIGCHLD is
blocked from just before the fork until the handler is in place, so it
arrives afterwards; the child starts with the mask it would have had.
Nothing else of getmail changes.

  python3 getmail-run.py GETMAIL-ARGUMENTS..."""

import os
import runpy
import shutil
import signal
import sys

from getmailcore import baseclasses

_real_fork = os.fork
_real_prepare = baseclasses.ForkingBase._prepare_child
_saved_mask = []


def _fork():
    _saved_mask.append(signal.pthread_sigmask(signal.SIG_BLOCK,
                                              {signal.SIGCHLD}))
    pid = _real_fork()
    if pid == 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, _saved_mask.pop())
    return pid


def _prepare_child(self):
    _real_prepare(self)
    if _saved_mask:
        signal.pthread_sigmask(signal.SIG_SETMASK, _saved_mask.pop())


os.fork = _fork
baseclasses.ForkingBase._prepare_child = _prepare_child

if __name__ == "__main__":
    getmail = shutil.which("getmail")
    if not getmail:
        sys.exit("getmail-run.py: getmail is not installed")
    sys.argv = [getmail] + sys.argv[1:]
    runpy.run_path(getmail, run_name="__main__")
