# SPDX-License-Identifier: MIT
"""RFC 1939 states and commands: deletions only at UPDATE, RSET, TOP,
LIST/UIDL forms, wrong-state and unknown commands, over-long lines."""

import os

import poplartest
from poplartest import Conn, crlf, top_of

M1 = b"From: one@example.org\nSubject: one\n\nline 1\nline 2\n.line 3\nline 4\n"
M2 = b"From: two@example.org\nSubject: two\n\nsecond message\n"
M3 = b"Subject: three\r\nX-Extra: yes\r\n\r\na\r\nb\r\nc\r\n"
MESSAGES = [M1, M2, M3]


class TransactionTest(poplartest.PoplarTestCase):

    def setUp(self):
        self.srv = self.server(start=False)
        self.user = self.srv.add_user("carol", "pw", MESSAGES)
        self.srv.add_user("dave", "pw", [M2])
        self.srv.start()

    def session(self):
        c = Conn(self.srv.port)
        self.addCleanup(c.close)
        c.login("carol", "pw")
        return c

    def file_count(self):
        return len(self.user.maildir.files())

    # -- deletion

    def test_dele_quit_removes_the_file(self):
        c = self.session()
        self.assertOk(c.cmd("DELE 2"))
        self.assertOk(c.cmd("QUIT"))
        self.assertTrue(c.wait_closed(5), "no close after QUIT")
        self.assertEqual(self.file_count(), 2)
        self.assertFalse(self.user.maildir.holds(M2), "deleted message kept")
        self.assertTrue(self.user.maildir.holds(M1))
        self.assertTrue(self.user.maildir.holds(M3))
        p = self.srv.login(self.user)
        try:
            self.assertEqual(p.stat(), (2, len(crlf(M1)) + len(crlf(M3))))
            p.quit()
        finally:
            p.close()

    def test_dele_then_drop_keeps_the_file(self):
        c = self.session()
        self.assertOk(c.cmd("DELE 1"))
        self.assertOk(c.cmd("DELE 2"))
        c.close()  # no QUIT: no UPDATE state
        p = poplartest.login_when_free(self.srv, self.user)
        try:
            self.assertEqual(p.stat()[0], 3)
            p.quit()
        finally:
            p.close()
        self.assertEqual(self.file_count(), 3)
        self.assertEqual(self.user.maildir.contents(), sorted(MESSAGES))

    def test_rset_undoes_dele(self):
        c = self.session()
        self.assertOk(c.cmd("DELE 1"))
        self.assertOk(c.cmd("DELE 3"))
        stat = c.cmd("STAT").split()
        self.assertEqual(stat[:2], ["+OK", "1"], "STAT after two DELE")
        self.assertOk(c.cmd("RSET"))
        stat = c.cmd("STAT").split()
        self.assertEqual(stat[:3], ["+OK", "3", str(sum(
            len(crlf(m)) for m in MESSAGES))], "STAT after RSET")
        status, body = c.multi("RETR 1")
        self.assertOk(status, "RETR 1 after RSET")
        self.assertEqual(body, crlf(M1))
        self.assertOk(c.cmd("QUIT"))
        self.assertTrue(c.wait_closed(5))
        self.assertEqual(self.file_count(), 3)

    def test_deleted_message_is_gone_from_the_session(self):
        c = self.session()
        self.assertOk(c.cmd("DELE 2"))
        self.assertErr(c.cmd("DELE 2"), "DELE of a deleted message")
        self.assertErr(c.cmd("RETR 2"), "RETR of a deleted message")
        self.assertErr(c.cmd("TOP 2 0"), "TOP of a deleted message")
        self.assertErr(c.cmd("LIST 2"), "LIST of a deleted message")
        self.assertErr(c.cmd("UIDL 2"), "UIDL of a deleted message")
        status, body = c.multi("LIST")
        self.assertOk(status)
        self.assertEqual(body, b"1 %d\r\n3 %d\r\n" % (len(crlf(M1)),
                                                      len(crlf(M3))),
                         "LIST must skip deleted messages, keeping numbers")
        status, body = c.multi("UIDL")
        self.assertOk(status)
        self.assertEqual([l.split()[0] for l in body.splitlines()],
                         [b"1", b"3"])
        stat = c.cmd("STAT").split()
        self.assertEqual(stat[1:3], ["2", str(len(crlf(M1)) + len(crlf(M3)))])
        self.assertOk(c.cmd("QUIT"))

    def test_message_removed_by_another_program(self):
        """A message file removed behind the server's back: RETR gets a
        clear -ERR, the session goes on, and DELE + QUIT of it succeeds."""
        c = self.session()
        status, body = c.multi("RETR 1")
        self.assertEqual(body, crlf(M1))
        for path in self.user.maildir.files():
            with open(path, "rb") as f:
                if f.read() == M2:
                    os.unlink(path)
        self.assertErr(c.cmd("RETR 2"), "RETR of a vanished message")
        self.assertErr(c.cmd("TOP 2 0"), "TOP of a vanished message")
        status, body = c.multi("RETR 3")
        self.assertEqual(body, crlf(M3), "the session goes on")
        self.assertOk(c.cmd("DELE 2"))
        self.assertOk(c.cmd("DELE 3"))
        self.assertOk(c.cmd("QUIT"), "QUIT with a vanished message marked")
        self.assertTrue(c.wait_closed(5))
        self.assertEqual(self.user.maildir.contents(), [M1])

    # -- TOP

    def test_top(self):
        c = self.session()
        for n, m in enumerate(MESSAGES, 1):
            for lines in (0, 1, 2, 3, 100):
                status, body = c.multi("TOP %d %d" % (n, lines))
                self.assertOk(status, "TOP %d %d" % (n, lines))
                self.assertEqual(body, top_of(m, lines),
                                 "TOP %d %d" % (n, lines))
        self.assertErr(c.cmd("TOP 1"), "TOP without a line count")
        self.assertErr(c.cmd("TOP"), "TOP without arguments")
        self.assertErr(c.cmd("TOP 9 1"), "TOP of a missing message")
        self.assertErr(c.cmd("TOP 1 -1"), "TOP with a negative count")
        self.assertErr(c.cmd("TOP 1 x"), "TOP with a bad count")
        # The session still works after the errors.
        status, body = c.multi("TOP 1 1")
        self.assertEqual(body, top_of(M1, 1))
        self.assertOk(c.cmd("QUIT"))

    # -- LIST and UIDL

    def test_list_and_uidl_forms(self):
        c = self.session()
        status, body = c.multi("LIST")
        self.assertOk(status)
        self.assertEqual(body, b"".join(b"%d %d\r\n" % (n, len(crlf(m)))
                                        for n, m in enumerate(MESSAGES, 1)))
        status, body = c.multi("UIDL")
        self.assertOk(status)
        uidls = {}
        for line in body.splitlines():
            n, u = line.split(b" ")
            uidls[int(n)] = u
        self.assertEqual(sorted(uidls), [1, 2, 3])
        for n, m in enumerate(MESSAGES, 1):
            self.assertEqual(c.cmd("LIST %d" % n).split(),
                             ["+OK", str(n), str(len(crlf(m)))])
            self.assertEqual(c.cmd("UIDL %d" % n).split(),
                             ["+OK", str(n), uidls[n].decode()])
        for bad in ("4", "0", "99999999999", "-1", "x", "1x"):
            self.assertErr(c.cmd("LIST " + bad), "LIST " + bad)
            self.assertErr(c.cmd("UIDL " + bad), "UIDL " + bad)
        self.assertErr(c.cmd("RETR 4"), "RETR of a missing message")
        self.assertErr(c.cmd("DELE 4"), "DELE of a missing message")
        self.assertOk(c.cmd("NOOP"))
        self.assertOk(c.cmd("QUIT"))
        self.assertEqual(self.file_count(), 3)

    def test_noop_and_case(self):
        c = self.session()
        self.assertOk(c.cmd("NOOP"))
        self.assertOk(c.cmd("noop"), "keywords are case-insensitive")
        self.assertEqual(c.cmd("stat").split()[:2], ["+OK", "3"])
        self.assertOk(c.cmd("QUIT"))

    # -- states

    def test_transaction_commands_before_login(self):
        with Conn(self.srv.port) as c:
            c.greeting()
            for command in ("STAT", "LIST", "LIST 1", "RETR 1", "DELE 1",
                            "NOOP", "RSET", "TOP 1 0", "UIDL", "UIDL 1"):
                self.assertErr(c.cmd(command), command + " before login")
            # After USER only, still no transaction.
            self.assertOk(c.cmd("USER carol"))
            self.assertErr(c.cmd("STAT"), "STAT after USER only")
            self.assertOk(c.cmd("QUIT"))
            self.assertTrue(c.wait_closed(5))
        self.assertEqual(self.file_count(), 3, "nothing deleted")

    def test_login_commands_after_login(self):
        c = self.session()
        self.assertErr(c.cmd("USER carol"), "USER in TRANSACTION")
        self.assertErr(c.cmd("PASS pw"), "PASS in TRANSACTION")
        self.assertErr(c.cmd("APOP carol 0123456789abcdef0123456789abcdef"),
                       "APOP in TRANSACTION")
        self.assertEqual(c.cmd("STAT").split()[:2], ["+OK", "3"])
        self.assertOk(c.cmd("QUIT"))

    def test_unknown_command(self):
        c = self.session()
        self.assertErr(c.cmd("XYZZY"), "unknown command")
        self.assertErr(c.cmd("RETRX 1"), "unknown command")
        self.assertErr(c.cmd(""), "empty line")
        self.assertEqual(c.cmd("STAT").split()[:2], ["+OK", "3"])
        self.assertOk(c.cmd("QUIT"))

    def test_unknown_command_before_login(self):
        with Conn(self.srv.port) as c:
            c.greeting()
            self.assertErr(c.cmd("HELO there"))
            c.send("USER carol\r\n")
            self.assertOk(c.reply())
            self.assertOk(c.cmd("PASS pw"))
            self.assertOk(c.cmd("QUIT"))

    # -- over-long lines

    def test_line_over_255_octets(self):
        """RFC 2449: 255 octets per command line.  One -ERR for the whole
        line (not one per chunk of it), and the session goes on in sync."""
        c = self.session()
        c.send(b"LIST " + b"1" * 300 + b"\r\nSTAT\r\n")
        self.assertErr(c.reply(), "a 307-octet line")
        self.assertEqual(c.reply().split()[:2], ["+OK", "3"],
                         "the command after the long line")
        c.send(b"X" * 1000 + b"\r\nNOOP\r\n")
        self.assertErr(c.reply(), "a 1002-octet line")
        self.assertOk(c.reply(), "NOOP after the long line")
        self.assertOk(c.cmd("DELE 1"))
        self.assertOk(c.cmd("QUIT"))
        self.assertTrue(c.wait_closed(5))
        self.assertEqual(self.file_count(), 2)

    def test_line_of_255_octets_is_a_command(self):
        """Exactly at the limit (CRLF included) is still a command."""
        c = self.session()
        padded = b"LIST " + b"0" * (255 - 2 - 5 - 1) + b"1"
        self.assertEqual(len(padded) + 2, 255)
        c.send(padded + b"\r\n")
        reply = c.reply()
        # Whatever the parser thinks of 249 digits, the line was one command.
        self.assertTrue(reply.startswith("+OK") or reply.startswith("-ERR"))
        self.assertEqual(c.cmd("STAT").split()[:2], ["+OK", "3"])
        self.assertOk(c.cmd("QUIT"))

    def test_100k_line(self):
        """A 100 KB line gets -ERR or a disconnect; either way the server
        keeps serving everybody else and loses nothing."""
        other = Conn(self.srv.port)
        self.addCleanup(other.close)
        other.login("dave", "pw")
        c = self.session()
        self.assertOk(c.cmd("DELE 1"))
        try:
            c.send(b"A" * (100 * 1024) + b"\r\nSTAT\r\n")
            first = c.reply()
            self.assertTrue(first.startswith("-ERR"),
                            "reply to a 100 KB line: %r" % first)
            second = c.reply()
            self.assertTrue(second.startswith("+OK"),
                            "STAT after the 100 KB line: %r" % second)
        except (EOFError, ConnectionResetError, BrokenPipeError):
            pass  # disconnecting such a client is fine
        c.close()
        # The other session is unaffected.
        status, body = other.multi("RETR 1")
        self.assertOk(status)
        self.assertEqual(body, crlf(M2))
        self.assertOk(other.cmd("QUIT"))
        # New clients are served; the dropped session deleted nothing.
        p = poplartest.login_when_free(self.srv, self.user)
        try:
            self.assertEqual(p.stat()[0], 3)
            p.quit()
        finally:
            p.close()
        self.assertEqual(self.file_count(), 3)


if __name__ == "__main__":
    poplartest.main()
