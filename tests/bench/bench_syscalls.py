# SPDX-License-Identifier: MIT
"""System calls per session: strace -c on every process of a server while
a fixed number of sessions runs.  A count, not a time, so a regression
shows as a number that a loaded machine does not blur.  Processes a
server starts during the run (Dovecot's pop3 process per login) are
followed with -f."""

import os
import re
import signal
import subprocess
import threading
import time

from bench_servers import process_tree

# "100.00    0.012345          12      1234        56 total"
TOTAL = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?total\s*$")
# "  2.16    0.129553          46      2800       200 openat"
ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$")


def parse(text):
    """(total calls, {syscall: calls}) from strace -c output."""
    total, calls = None, {}
    for line in text.splitlines():
        m = TOTAL.match(line)
        if m:
            total = int(m.group(1))
            continue
        m = ROW.match(line)
        if m:
            calls[m.group(2)] = int(m.group(1))
    if total is None:
        raise ValueError("no total line in strace output:\n" + text[-2000:])
    return total, calls


class Counter:
    """strace -f -c attached to @pids until stop()."""

    def __init__(self, pids, out_path):
        self.out_path = out_path
        cmd = ["strace", "-f", "-c", "-o", out_path]
        for p in pids:
            cmd += ["-p", str(p)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        # strace says "Process N attached" once per process (and thread):
        # wait for all of them before the sessions start.
        deadline = time.monotonic() + 10
        attached = 0
        self.said = []
        while attached < len(pids) and time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.said.append(line)
            if b"attached" in line:
                attached += 1
        if attached < len(pids):
            self.proc.kill()
            raise RuntimeError("strace attached to %d of %d processes" % (
                attached, len(pids)))
        # It goes on reporting every process it follows: keep the pipe
        # drained, or strace (and the traced server) would block on it.
        self.stderr = []
        self.drain = threading.Thread(
            target=lambda: self.stderr.append(self.proc.stderr.read()),
            daemon=True)
        self.drain.start()

    def stop(self):
        """Detaches; returns (total calls, {syscall: calls})."""
        time.sleep(0.5)
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("strace did not stop")
        finally:
            self.drain.join(5)
            self.proc.stderr.close()
        with open(self.out_path) as f:
            text = f.read()
        try:
            return parse(text)
        except ValueError as e:
            said = b"".join(self.said + self.stderr).decode(errors="replace")
            raise ValueError("%s\nstrace exited with %s, saying:\n%s" % (
                e, self.proc.returncode, said[-2000:])) from None


def per_session(server_pid, out_path, run_sessions):
    """Runs @run_sessions() (which returns how many sessions it completed)
    with every process of @server_pid counted; returns a dict of the
    figures per session."""
    pids = process_tree(server_pid)
    counter = Counter(pids, out_path)
    try:
        done = run_sessions()
    finally:
        total, calls = counter.stop()
    if not done:
        raise RuntimeError("no session completed")
    if total < done:
        raise RuntimeError("%d system calls in %d sessions of %s: %s" % (
            total, done, pids, b"".join(counter.said).decode()))
    top = sorted(calls.items(), key=lambda kv: -kv[1])[:8]
    return {
        "sessions": done,
        "syscalls_per_session": total / done,
        "top": ", ".join("%s %.1f" % (name, n / done) for name, n in top),
    }
