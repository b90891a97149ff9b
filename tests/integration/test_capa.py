# SPDX-License-Identifier: MIT
"""RFC 2449 CAPA in both states, LOGIN-DELAY and EXPIRE only when
configured, and PIPELINING: commands written at once are answered in
order."""

import poplartest
from poplartest import Conn, crlf, top_of

M1 = b"Subject: one\n\n.one\n"
M2 = b"Subject: two\nX-Two: 2\n\nline a\nline b\n"
M3 = b"Subject: three\r\n\r\nthree\r\n"
MESSAGES = [M1, M2, M3]

ALWAYS = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
          "IMPLEMENTATION"]


def capabilities(conn):
    """{NAME: full line} from CAPA."""
    status, body = conn.multi("CAPA")
    if not status.startswith("+OK"):
        raise AssertionError("CAPA: %r" % status)
    out = {}
    for line in body.decode("ascii").splitlines():
        name = line.split(" ")[0].upper()
        if name in out:
            raise AssertionError("CAPA lists %s twice" % name)
        out[name] = line
    return out


class CapaTest(poplartest.PoplarTestCase):

    def start(self, **server):
        self.srv = self.server(start=False)
        self.srv.add_user("frank", "pw", MESSAGES)
        self.srv.start(server=server)

    def capa_before_and_after(self):
        with Conn(self.srv.port) as c:
            c.greeting()
            before = capabilities(c)
            self.assertOk(c.cmd("USER frank"))
            self.assertOk(c.cmd("PASS pw"))
            after = capabilities(c)
            self.assertOk(c.cmd("QUIT"))
        return before, after

    def test_capa_default(self):
        self.start()
        before, after = self.capa_before_and_after()
        for cap in ALWAYS:
            self.assertIn(cap, before, "CAPA before login lacks " + cap)
            self.assertIn(cap, after, "CAPA after login lacks " + cap)
        # Plaintext USER/PASS is allowed on loopback (a trusted network).
        self.assertIn("USER", before, "CAPA before login lacks USER")
        for state in (before, after):
            impl = state["IMPLEMENTATION"].split(" ", 1)
            self.assertEqual(len(impl), 2, "IMPLEMENTATION without text")
            self.assertNotIn("LOGIN-DELAY", state,
                             "LOGIN-DELAY offered but not configured")
            self.assertNotIn("EXPIRE", state,
                             "EXPIRE offered but not configured")

    def test_capa_login_delay_and_expire(self):
        self.start(**{"login-delay": "900", "expire": "30"})
        before, after = self.capa_before_and_after()
        # USER before login: a password database may give a user other
        # values (RFC 2449 6.5, 6.7).
        self.assertEqual(before.get("LOGIN-DELAY"), "LOGIN-DELAY 900 USER")
        self.assertTrue(after.get("LOGIN-DELAY", "").startswith(
            "LOGIN-DELAY 900"), after.get("LOGIN-DELAY"))
        self.assertEqual(before.get("EXPIRE"), "EXPIRE 30 USER")
        self.assertTrue(after.get("EXPIRE", "").startswith("EXPIRE 30"),
                        after.get("EXPIRE"))

    def test_capa_expire_never(self):
        self.start(expire="never")
        before, after = self.capa_before_and_after()
        self.assertEqual(before.get("EXPIRE", "").upper(), "EXPIRE NEVER")
        self.assertNotIn("LOGIN-DELAY", before)

    def test_pipelining_20_commands(self):
        self.start()
        sizes = [len(crlf(m)) for m in MESSAGES]
        total = sum(sizes)
        listing = b"".join(b"%d %d\r\n" % (n, s)
                           for n, s in enumerate(sizes, 1))
        # (command, "+"/"-" for a status line, or bytes for a multi-line
        # body, or a callable checking the status line)
        plan = [
            ("USER frank", "+"),
            ("PASS pw", "+"),
            ("STAT", "+OK 3 %d" % total),
            ("LIST", listing),
            ("UIDL 1", lambda s: s.startswith("+OK 1 ")),
            ("NOOP", "+"),
            ("RETR 1", crlf(M1)),
            ("TOP 2 0", top_of(M2, 0)),
            ("LIST 2", "+OK 2 %d" % sizes[1]),
            ("DELE 2", "+"),
            ("LIST 2", "-"),
            ("RSET", "+"),
            ("LIST 2", "+OK 2 %d" % sizes[1]),
            ("UIDL", lambda body: len(body.splitlines()) == 3),
            ("NOOP", "+"),
            ("STAT", "+OK 3 %d" % total),
            ("XYZZY", "-"),
            ("LIST 99", "-"),
            ("RETR 3", crlf(M3)),
            ("QUIT", "+"),
        ]
        self.assertEqual(len(plan), 20)
        with Conn(self.srv.port) as c:
            c.greeting()
            c.send("".join(cmd + "\r\n" for cmd, _ in plan))
            for cmd, want in plan:
                status = c.reply()
                what = "pipelined %s" % cmd
                multi = isinstance(want, bytes) or cmd == "UIDL"
                if want == "-":
                    self.assertErr(status, what)
                    continue
                self.assertOk(status, what)
                if multi:
                    body = c.body()
                    if callable(want):
                        self.assertTrue(want(body), "%s: %r" % (what, body))
                    else:
                        self.assertEqual(body, want, what)
                elif callable(want):
                    self.assertTrue(want(status), "%s: %r" % (what, status))
                elif want != "+":
                    self.assertEqual(status.split(), want.split(), what)
            self.assertTrue(c.wait_closed(5), "no close after QUIT")
            self.assertEqual(c.tail, b"", "output after the QUIT reply")
        self.assertEqual(len(self.srv.users["frank"].maildir.files()), 3)

    def test_pipelining_many_retr_without_reading(self):
        """100 RETR written at once, read only afterwards: every reply comes
        back complete and in order."""
        self.start()
        with Conn(self.srv.port) as c:
            c.login("frank", "pw")
            c.send("".join("RETR %d\r\n" % (i % 3 + 1) for i in range(100)))
            for i in range(100):
                status = c.reply()
                self.assertOk(status, "pipelined RETR #%d" % i)
                body = c.body()
                self.assertEqual(body, crlf(MESSAGES[i % 3]),
                                 "pipelined RETR #%d" % i)
            self.assertOk(c.cmd("QUIT"))


if __name__ == "__main__":
    poplartest.main()
