#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The man pages are valid troff that renders without a warning.

For each page: `mandoc -T lint -W warning` (Debian: mandoc), `groff -man
-ww -z` (groff-base) and `man -l` (man-db) must all be silent.  A tool
that is missing is skipped; with none at all the test reports SKIP.
"""

import os
import shutil
import subprocess
import sys

SKIP = 77


def run(cmd, env=None):
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, timeout=60, env=env)
    return res.returncode, res.stdout, res.stderr


def main():
    pages = sys.argv[1:]
    problems, ran = [], set()
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MAN_KEEP_STDERR="1")
    for page in pages:
        name = os.path.basename(page)
        if shutil.which("mandoc"):
            ran.add("mandoc")
            rc, out, err = run(["mandoc", "-T", "lint", "-W", "warning", page])
            if rc != 0 or out.strip() or err.strip():
                problems.append("mandoc -T lint %s:\n%s%s" % (name, out, err))
        if shutil.which("groff"):
            ran.add("groff")
            rc, out, err = run(["groff", "-man", "-ww", "-z", page])
            if rc != 0 or err.strip():
                problems.append("groff -man -ww %s:\n%s" % (name, err))
        if shutil.which("man"):
            ran.add("man")
            rc, out, err = run(["man", "-l", page], env)
            if rc != 0 or err.strip() or len(out) < 500:
                problems.append("man -l %s (status %d, %d characters):\n%s" % (
                    name, rc, len(out), err))
    if not ran:
        print("SKIP: none of mandoc, groff, man is installed")
        sys.exit(SKIP)
    if problems:
        print("FAIL:\n" + "\n".join(problems))
        sys.exit(1)
    print("%s: clean with %s" % (", ".join(os.path.basename(p) for p in pages),
                                 ", ".join(sorted(ran))))


if __name__ == "__main__":
    main()
