# SPDX-License-Identifier: MIT
"""The idle timeout, and the per-IP and global connection limits."""

import os
import time

import poplartest
from poplartest import Conn, second_loopback_works

M1 = b"Subject: one\n\nbody\n"
LOAD = ["auth-passwd-file", "store-maildir", "test-hooks"]


class TimeoutTest(poplartest.PoplarTestCase):

    def start(self, **server):
        self.srv = self.server(start=False)
        self.user = self.srv.add_user("mia", "pw", [M1])
        self.record = os.path.join(self.srv.dir, "record")
        self.srv.start(server=server, load=LOAD,
                       sections={"test-hooks": {"record": self.record}})

    def records(self):
        try:
            with open(self.record) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def test_idle_before_login(self):
        self.start(**{"idle-timeout": "1s"})
        with Conn(self.srv.port) as c:
            c.greeting()
            t0 = time.monotonic()
            self.assertTrue(c.wait_closed(6), "idle client not disconnected")
            elapsed = time.monotonic() - t0
            self.assertGreater(elapsed, 0.8, "disconnected before the timeout")
            if c.tail:
                self.assertTrue(c.tail.startswith(b"-ERR"), c.tail)
        deadline = time.monotonic() + 5
        while not any(l.startswith("disconnect ") and l.endswith(" timeout")
                      for l in self.records()):
            self.assertLess(time.monotonic(), deadline,
                            "no disconnect hook with reason timeout: %r" %
                            self.records())
            time.sleep(0.05)

    def test_idle_in_transaction_keeps_mail_and_frees_lock(self):
        self.start(**{"idle-timeout": "1s"})
        with Conn(self.srv.port) as c:
            c.login("mia", "pw")
            self.assertOk(c.cmd("DELE 1"))
            self.assertTrue(c.wait_closed(6), "idle client not disconnected")
        p = poplartest.login_when_free(self.srv, self.user)
        try:
            self.assertEqual(p.stat()[0], 1, "a timed-out session deleted "
                             "mail")
            p.quit()
        finally:
            p.close()

    def test_activity_keeps_the_session(self):
        self.start(**{"idle-timeout": "1s"})
        with Conn(self.srv.port) as c:
            c.login("mia", "pw")
            for _ in range(8):  # 3.2 s in all, more than 3 timeouts
                time.sleep(0.4)
                self.assertOk(c.cmd("NOOP"))
            self.assertOk(c.cmd("QUIT"))

    def test_default_timeout_is_long(self):
        """Without idle-timeout, a client idle for 3 s is still served
        (RFC 1939: at least 10 minutes)."""
        self.start()
        with Conn(self.srv.port) as c:
            c.greeting()
            self.assertFalse(c.wait_closed(3), "disconnected after 3 s")
            self.assertOk(c.cmd("USER mia"))

    # -- connection limits

    def open_ok(self, source=None):
        c = Conn(self.srv.port, source=source)
        self.addCleanup(c.close)
        c.greeting()
        return c

    def assert_refused(self, source=None, what=""):
        with Conn(self.srv.port, source=source) as c:
            self.assertTrue(c.wait_closed(5), "%s: not closed" % what)
            self.assertTrue(c.tail.startswith(b"-ERR"),
                            "%s: expected -ERR before the close, got %r" % (
                                what, c.tail))

    def open_when_free(self, source=None):
        """A connection, retrying while the server has not yet counted a
        closed one out."""
        deadline = time.monotonic() + 5
        while True:
            c = Conn(self.srv.port, source=source)
            first = c.reply()
            if first.startswith("+OK"):
                self.addCleanup(c.close)
                return c
            c.close()
            self.assertLess(time.monotonic(), deadline,
                            "a freed slot was not reused: %r" % first)
            time.sleep(0.1)

    def test_max_connections_per_ip(self):
        self.start(**{"max-connections-per-ip": "3",
                      "max-connections": "100"})
        conns = [self.open_ok() for _ in range(3)]
        self.assert_refused(what="4th connection from 127.0.0.1")
        # The three are still served.
        for c in conns:
            self.assertOk(c.cmd("CAPA"))
            c.body()
        if second_loopback_works():
            # Another address has its own count.
            c = self.open_ok(source="127.0.0.2")
            self.assertOk(c.cmd("USER mia"))
        conns[0].cmd("QUIT")
        conns[0].close()
        c = self.open_when_free()
        self.assertOk(c.cmd("USER mia"))
        self.assertTrue(self.srv.alive())

    def test_max_connections(self):
        self.start(**{"max-connections": "3",
                      "max-connections-per-ip": "100"})
        other = "127.0.0.2" if second_loopback_works() else None
        conns = [self.open_ok(), self.open_ok(), self.open_ok(source=other)]
        self.assert_refused(source=other, what="4th connection in all")
        self.assert_refused(what="5th connection in all")
        conns[2].cmd("QUIT")
        conns[2].close()
        c = self.open_when_free()
        self.assertOk(c.cmd("USER mia"))
        self.assertTrue(self.srv.alive())


if __name__ == "__main__":
    poplartest.main()
