# SPDX-License-Identifier: MIT
"""Connection limits (per address and in all) and the login failure delay,
measured.

The delay: the n-th failed login from an address, or for a user name,
within auth-failure-window of the previous one, waits
    d(n) = min(auth-failure-delay * 2^(n-1), auth-failure-delay-max)
before its -ERR, and a connection is closed after 3 failures.  A client
learns that a guess failed only from that -ERR, and an address has at most
max-connections-per-ip connections, so the guesses one address can make in
T seconds are at most
    G(T) = c * (T / d_max + k),   c = max-connections-per-ip,
                                  k = steps before the ceiling
                                    = ceil(log2(d_max / d_1)) + 1
With the defaults (2 s doubling to 60 s, c = 32, k = 6): at most 32
guesses a minute per address once the ceiling is reached (and about
c * k = 192 in the first minute); a single connection gets 1 a minute.
The tests check G(T) with small delays so that they take seconds."""

import math
import socket
import struct
import threading
import time

import abusetest
from abusetest import Conn, figure

M1 = b"Subject: one\r\n\r\nbody\r\n"


def guesses_bound(c, d1, dmax, seconds):
    k = math.ceil(math.log2(dmax / d1)) + 1
    return c * (seconds / dmax + k)


class ConnectionLimitTest(abusetest.PoplarTestCase):

    def open_all(self, n, source=None):
        ok, refused, replies = [], 0, set()
        for _ in range(n):
            c = Conn(self.srv.port, timeout=10, source=source)
            first = c.reply()
            if first.startswith("+OK"):
                ok.append(c)
                self.addCleanup(c.close)
            else:
                refused += 1
                replies.add(first)
                self.assertTrue(c.wait_closed(5))
                c.close()
        return ok, refused, replies

    def test_per_address_limit(self):
        self.srv = self.server(users={"lena": [M1]}, server={
            "max-connections-per-ip": "32", "max-connections": "1000"})
        t0 = time.monotonic()
        ok, refused, replies = self.open_all(40)
        figure("limits.per_ip_default_accepted", len(ok))
        figure("limits.per_ip_open_40_s", "%.2f" % (time.monotonic() - t0))
        self.assertEqual(len(ok), 32)
        self.assertEqual(refused, 8)
        self.assertEqual(replies, {"-ERR [SYS/TEMP] Too many connections "
                                   "from your address"})
        if abusetest.second_loopback_works():
            other, refused2, _ = self.open_all(5, source="127.0.0.2")
            self.assertEqual((len(other), refused2), (5, 0))
        # The held ones still work, and a freed slot is reused.
        self.assertOk(ok[0].cmd("USER lena"))
        ok[0].cmd("QUIT")
        ok[0].close()
        self.assertTrue(abusetest.wait_until(
            lambda: len(self.open_all(1)[0]) == 1, 5))

    def test_global_limit(self):
        self.srv = self.server(users={"lena": [M1]}, server={
            "max-connections-per-ip": "1000", "max-connections": "50"})
        ok, refused, replies = self.open_all(60)
        figure("limits.global_accepted_of_60", len(ok))
        self.assertEqual(len(ok), 50)
        self.assertEqual(refused, 10)
        self.assertEqual(replies, {"-ERR [SYS/TEMP] Server busy, try later"})
        # Refused connections cost no session: memory and the count stay.
        rss = abusetest.server_rss_kb(self.srv)
        for _ in range(300):
            with Conn(self.srv.port, timeout=10) as c:
                c.reply()
        figure("limits.rss_growth_after_300_refused_kb",
               abusetest.server_rss_kb(self.srv) - rss, "KiB")
        for c in ok:
            self.assertOk(c.cmd("CAPA"))
            c.body()
        ok[0].close()
        self.assertTrue(abusetest.wait_until(
            lambda: len(self.open_all(1)[0]) == 1, 5))


D1, DMAX, C = 0.1, 0.8, 4


class GuessingTest(abusetest.PoplarTestCase):

    def start(self):
        self.srv = self.server(users={"vera": [M1]}, server={
            "auth-failure-delay": "%dms" % (D1 * 1000),
            "auth-failure-delay-max": "%dms" % (DMAX * 1000),
            "auth-failure-window": "15m",
            "max-connections-per-ip": str(C),
        })

    def test_waiting_guesser_is_bounded(self):
        """C connections from one address, each guessing as fast as the
        replies come."""
        self.start()
        seconds = 6.0
        counts = [0] * C
        stop = time.monotonic() + seconds

        def guesser(i):
            while time.monotonic() < stop:
                try:
                    with Conn(self.srv.port, timeout=10) as c:
                        if not c.reply().startswith("+OK"):
                            time.sleep(0.05)  # slot not yet free
                            continue
                        while time.monotonic() < stop:
                            c.cmd("USER vera")
                            r = c.cmd("PASS guess%d" % counts[i])
                            if r.startswith("-ERR [AUTH]"):
                                counts[i] += 1
                            else:
                                break
                except (EOFError, OSError):
                    pass

        threads = [threading.Thread(target=guesser, args=(i,))
                   for i in range(C)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 15)
        total = sum(counts)
        bound = guesses_bound(C, D1, DMAX, seconds)
        figure("limits.guesses_waiting_in_%ds" % seconds, total)
        figure("limits.guesses_bound_G(%ds)" % seconds, "%.0f" % bound)
        figure("limits.guesses_per_min_default_config_bound",
               "%.0f" % (32 * 60 / 60.0))
        self.assertLessEqual(total, bound)
        self.assertGreater(total, 0)

    def test_resetting_guesser_is_bounded(self):
        """A client that does not wait for the -ERR: were a right guess
        answered +OK at once, silence would mean failure, and resetting the
        connection (freeing its slot at once) would let it guess at
        connection speed.  An address with failures waits before its
        password is checked, so what is bounded is the checks the server
        ran, counted from its log."""
        self.start()
        seconds = 4.0
        guesses = 0
        mark = self.srv.log_mark()
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            s = socket.create_connection(("127.0.0.1", self.srv.port), 5)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
            f = s.makefile("rb")
            if not f.readline().startswith(b"+OK"):
                s.close()
                time.sleep(0.01)
                continue
            s.sendall(b"USER vera\r\nPASS guess%d\r\n" % guesses)
            f.readline()  # +OK for USER
            s.settimeout(0.05)
            try:
                # A right guess answers +OK now; a wrong one only later.
                self.assertFalse(f.readline().startswith(b"+OK"))
            except (socket.timeout, OSError):
                pass
            guesses += 1
            f.close()
            s.close()  # RST: SO_LINGER 0
        time.sleep(DMAX + 0.5)  # a check started before the end logs
        checked = sum(1 for l in self.srv.log_lines()[mark:]
                      if "login failed" in l)
        figure("limits.guesses_resetting_sent_per_s",
               "%.0f" % (guesses / seconds))
        figure("limits.guesses_resetting_checked_in_%ds" % seconds, checked)
        bound = guesses_bound(C, D1, DMAX, seconds)
        self.assertGreater(guesses, checked)
        self.assertLessEqual(checked, bound,
                             "%d passwords checked in %.0fs (bound %.0f)" % (
                                 checked, seconds, bound))

    def test_right_password_after_failures(self):
        """The owner still gets in from an address with failures, once its
        earned delay has passed."""
        self.start()
        with Conn(self.srv.port, timeout=10) as c:
            c.reply()
            for i in range(2):
                c.cmd("USER vera")
                self.assertTrue(c.cmd("PASS wrong%d" % i).startswith("-ERR"))
        with Conn(self.srv.port, timeout=10) as c:
            c.reply()
            c.cmd("USER vera")
            t0 = time.monotonic()
            self.assertTrue(c.cmd("PASS pw").startswith("+OK"))
            # two failures earned d(2) = 2 * D1 before the check
            figure("limits.right_password_after_2_failures_s",
                   "%.2f" % (time.monotonic() - t0))
            self.assertGreaterEqual(time.monotonic() - t0, 2 * D1 * 0.9)
            c.cmd("QUIT")


if __name__ == "__main__":
    abusetest.main()
