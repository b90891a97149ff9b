# SPDX-License-Identifier: MIT
"""Helpers for the abuse and fault tests: they reuse the integration
harness (tests/integration/poplartest.py) and add what measuring needs:
memory samples of poplard, more file descriptors for thousands of
connections, and figures printed in one form ("FIGURE name = value unit")
that docs/security.md quotes.

Extra environment (from tests/abuse/meson.build):
  POPLAR_FAULT_INJECT  the LD_PRELOAD library of storage faults
"""

import os
import resource
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))

import poplartest  # noqa: E402
from poplartest import (  # noqa: E402,F401
    Conn, PoplarTestCase, rss_anon_kb, second_loopback_works, wait_until)

FAULT_INJECT = os.environ.get("POPLAR_FAULT_INJECT", "")


def figure(name, value, unit=""):
    """Prints a measured figure where the test log keeps it."""
    sys.stderr.write("FIGURE %s = %s%s\n" % (name, value,
                                             " " + unit if unit else ""))
    sys.stderr.flush()


def raise_fd_limit(want):
    """Raises this process's open-file limit (poplard inherits it) to at
    least @want when the hard limit allows; returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def server_rss_kb(server):
    """poplard's anonymous resident memory (KiB), over all its processes."""
    return rss_anon_kb(server.pids())


under_sanitizer = poplartest.under_sanitizer


def small_window_conn(port, rcvbuf=8192, sndbuf=16384, timeout=120):
    """A Conn whose socket buffers are set small before it connects, so
    that what the server sends and what it does not read back up into
    poplard instead of into this machine's kernel buffers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    s.settimeout(timeout)
    s.connect((poplartest.HOST, port))
    c = Conn.__new__(Conn)
    c.sock = s
    c.buf = bytearray()
    c.pos = 0
    return c


def memory_limit_kb(kb):
    """@kb, or more under AddressSanitizer, whose shadow memory, allocator
    caches and quarantine make resident memory no measure of the code's
    own (the real bound is checked by the plain build in make check)."""
    return kb * 16 if under_sanitizer() else kb


def time_limit_s(seconds):
    """@seconds, or three times that under the sanitizers (2-5x slower)."""
    return seconds * 3 if under_sanitizer() else seconds


def main():
    poplartest.main()
