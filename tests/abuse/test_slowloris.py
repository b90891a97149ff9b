# SPDX-License-Identifier: MIT
"""Slowloris: 1,000 connections that trickle one octet a second (never a
whole command) must not keep a normal client from logging in within a
second, cost little memory each, and be dropped at the idle timeout like
silent ones."""

import socket
import threading
import time

import abusetest
from abusetest import Conn, figure, server_rss_kb

N = 1000
IDLE = 3  # seconds: idle-timeout in these tests
M1 = b"Subject: one\r\n\r\nbody\r\n"


class Horde:
    """@n raw connections to @port; with @trickle, a thread sends each one
    octet a second of a command line that never ends."""

    def __init__(self, port, n, trickle):
        self.socks = []
        self.closed_at = {}
        self.opened_at = {}
        for i in range(n):
            s = socket.create_connection((abusetest.poplartest.HOST, port),
                                         timeout=10)
            s.setblocking(False)
            self.socks.append(s)
            self.opened_at[s.fileno()] = time.monotonic()
        self.stop = threading.Event()
        self.thread = None
        if trickle:
            self.thread = threading.Thread(target=self._trickle, daemon=True)
            self.thread.start()

    def _trickle(self):
        text = b"USER " + b"x" * 200  # 205 octets: under the line limit
        i = 0
        while not self.stop.is_set():
            octet = text[i % len(text):i % len(text) + 1]
            for s in self.socks:
                if s.fileno() in self.closed_at:
                    continue
                try:
                    s.send(octet)
                except OSError:
                    pass
            i += 1
            self.stop.wait(1.0)

    def poll_closed(self):
        """Records which connections the server closed; returns how many."""
        now = time.monotonic()
        for s in self.socks:
            fd = s.fileno()
            if fd in self.closed_at:
                continue
            try:
                while True:
                    data = s.recv(4096)
                    if not data:
                        self.closed_at[fd] = now
                        break
            except BlockingIOError:
                pass
            except OSError:
                self.closed_at[fd] = now
        return len(self.closed_at)

    def close(self):
        self.stop.set()
        if self.thread:
            self.thread.join(5)
        for s in self.socks:
            s.close()


class SlowlorisTest(abusetest.PoplarTestCase):

    def start(self):
        limit = abusetest.raise_fd_limit(4 * N + 256)
        if limit < 2 * N + 128:
            self.skipTest("open-file limit %d is too low for %d "
                          "connections" % (limit, N))
        self.srv = self.server(users={"nina": [M1]}, server={
            "idle-timeout": "%ds" % IDLE,
            "max-connections": str(2 * N),
            "max-connections-per-ip": str(2 * N),
        })

    def timed_login(self):
        t0 = time.monotonic()
        with Conn(self.srv.port, timeout=10) as c:
            c.login("nina", "pw")
            status, body = c.multi("RETR 1")
            self.assertEqual(body, M1)
            c.cmd("QUIT")
        return time.monotonic() - t0

    def hold(self, trickle):
        base = server_rss_kb(self.srv)
        t0 = time.monotonic()
        horde = Horde(self.srv.port, N, trickle)
        self.addCleanup(horde.close)
        figure("slowloris.connect_%d_s" % N,
               "%.2f" % (time.monotonic() - t0))
        time.sleep(0.5)
        held = server_rss_kb(self.srv) - base
        figure("slowloris.rss_per_held_connection_kb%s" %
               ("_trickling" if trickle else "_silent"),
               "%.1f" % (held / N), "KiB")
        logins = [self.timed_login() for _ in range(5)]
        figure("slowloris.login_during_max_ms%s" %
               ("_trickling" if trickle else "_silent"),
               "%.0f" % (max(logins) * 1000))
        self.assertLess(max(logins), abusetest.time_limit_s(1.0),
                        "a normal login took %.2fs with %d slow "
                        "connections" % (max(logins), N))
        return horde

    def wait_dropped(self, horde):
        deadline = time.monotonic() + IDLE + 5
        while time.monotonic() < deadline:
            if horde.poll_closed() == N:
                break
            time.sleep(0.2)
        dropped = horde.poll_closed()
        times = [horde.closed_at[fd] - horde.opened_at[fd]
                 for fd in horde.closed_at]
        return dropped, times

    def test_silent_connections(self):
        """Connections that never send anything."""
        self.start()
        horde = self.hold(trickle=False)
        dropped, times = self.wait_dropped(horde)
        figure("slowloris.silent_dropped", "%d/%d" % (dropped, N))
        if times:
            figure("slowloris.silent_dropped_after_max_s",
                   "%.1f" % max(times))
        self.assertEqual(dropped, N, "silent connections outlived "
                         "idle-timeout=%ds" % IDLE)
        self.assertGreater(min(times), IDLE - 0.5, "dropped too early")
        self.timed_login()

    def test_trickling_connections_do_not_block_logins(self):
        self.start()
        horde = self.hold(trickle=True)
        # Still served after a few seconds of trickle.
        time.sleep(2)
        self.assertLess(self.timed_login(), abusetest.time_limit_s(1.0))
        horde.close()

    def test_trickling_connections_are_dropped(self):
        self.start()
        horde = self.hold(trickle=True)
        dropped, times = self.wait_dropped(horde)
        figure("slowloris.trickling_dropped_within_%ds" % (IDLE + 5),
               "%d/%d" % (dropped, N))
        self.assertEqual(dropped, N,
                         "%d of %d connections sending one octet a second "
                         "outlived idle-timeout=%ds" % (N - dropped, N, IDLE))


if __name__ == "__main__":
    abusetest.main()
