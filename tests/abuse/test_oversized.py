# SPDX-License-Identifier: MIT
"""Oversized and malformed input: 1 MB lines, a 10 MB AUTH continuation,
NUL bytes, invalid UTF-8, bare CR.  Each gets a clear -ERR (or the
connection is closed), poplard survives, its memory does not grow, and the
session or the next one goes on normally."""

import base64
import socket
import time

import abusetest
from abusetest import Conn, figure, server_rss_kb

M1 = b"Subject: one\r\n\r\nbody\r\n"
MB = 1024 * 1024


def b64(data):
    return base64.b64encode(data).decode()


class OversizedTest(abusetest.PoplarTestCase):

    def setUp(self):
        self.srv = self.server(users={"olga": [M1]})

    def send_big(self, c, prefix, size, suffix=b"\r\n"):
        """Sends @prefix, @size filler octets and @suffix in 64 KB pieces,
        as a client would stream them."""
        c.send(prefix)
        chunk = b"A" * 65536
        left = size
        while left > 0:
            c.send(chunk[:min(left, len(chunk))])
            left -= min(left, len(chunk))
        c.send(suffix)

    def assert_works(self, c):
        """The connection still answers commands correctly."""
        status = c.cmd("CAPA")
        self.assertOk(status, "CAPA after the abuse")
        c.body()

    def rss(self):
        return server_rss_kb(self.srv)

    def test_1mb_lines(self):
        before = self.rss()
        with Conn(self.srv.port) as c:
            c.greeting()
            t0 = time.monotonic()
            self.send_big(c, b"USER ", MB)
            reply = c.reply()
            self.assertErr(reply, "1 MB USER line")
            self.assertIn("too long", reply.lower())
            self.assert_works(c)
            # A 1 MB line of one octet repeated, no command at all.
            self.send_big(c, b"", MB)
            self.assertErr(c.reply(), "1 MB filler line")
            self.assert_works(c)
            figure("oversized.1mb_line_answer_ms",
                   "%.0f" % ((time.monotonic() - t0) * 1000 / 2))
            self.assertOk(c.cmd("USER olga"))
            self.assertOk(c.cmd("PASS pw"))
            # And in the TRANSACTION state.
            self.send_big(c, b"RETR ", MB)
            self.assertErr(c.reply(), "1 MB RETR line")
            status, body = c.multi("RETR 1")
            self.assertOk(status)
            self.assertEqual(body, M1)
            self.assertOk(c.cmd("QUIT"))
        grown = self.rss() - before
        figure("oversized.rss_growth_after_1mb_lines_kb", grown, "KiB")
        self.assertLess(grown, abusetest.memory_limit_kb(1024),
                        "poplard grew by %d KiB" % grown)

    def test_10mb_auth_continuation(self):
        before = self.rss()
        with Conn(self.srv.port) as c:
            c.greeting()
            self.assertTrue(c.cmd("AUTH PLAIN").startswith("+"))
            t0 = time.monotonic()
            self.send_big(c, b"", 10 * MB)
            reply = c.reply()
            figure("oversized.10mb_auth_answer_ms",
                   "%.0f" % ((time.monotonic() - t0) * 1000))
            self.assertErr(reply, "10 MB AUTH continuation")
            grown = self.rss() - before
            figure("oversized.rss_growth_after_10mb_auth_kb", grown, "KiB")
            self.assertLess(grown, abusetest.memory_limit_kb(1024),
                            "poplard grew by %d KiB" % grown)
            # The -ERR ended AUTH for the client (RFC 5034 4): the next
            # line is a command again, not a SASL response.
            status = c.cmd("CAPA")
            self.assertOk(status, "CAPA right after the failed AUTH")
            c.body()
            self.assertOk(c.cmd("AUTH PLAIN " + b64(b"\0olga\0pw")))

    def test_10mb_auth_initial_response(self):
        with Conn(self.srv.port) as c:
            c.greeting()
            self.send_big(c, b"AUTH PLAIN ", 10 * MB)
            self.assertErr(c.reply(), "10 MB initial response")
            self.assert_works(c)

    def test_nul_bytes(self):
        with Conn(self.srv.port) as c:
            c.greeting()
            for line in (b"US\0ER olga", b"USER ol\0ga", b"\0", b"\0" * 200):
                c.send(line + b"\r\n")
                self.assertErr(c.reply(), repr(line))
            self.assertOk(c.cmd("USER olga"))
            c.send(b"PASS p\0w\r\n")
            self.assertErr(c.reply(), "PASS with a NUL")
            # A NUL inside a SASL message is PLAIN's separator: a wrong
            # layout is refused, never read past.
            for msg in (b"\0\0\0\0", b"olga\0", b"\0olga\0pw\0x", b"\0" * 600):
                r = c.cmd("AUTH PLAIN " + b64(msg))
                self.assertErr(r, "PLAIN %r" % msg[:20])
        with Conn(self.srv.port) as c:
            c.login("olga", "pw")
            c.send(b"RETR 1\0\r\n")
            self.assertErr(c.reply(), "RETR with a NUL")
            status, body = c.multi("RETR 1")
            self.assertEqual(body, M1)
        self.assertTrue(self.srv.alive())

    def test_invalid_utf8(self):
        names = [b"\xff\xfe", b"olga\xf0", b"\xf0", b"\xc3", b"a\xe2\x82",
                 b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xc0\xaf"]
        before = self.rss()
        for name in names:
            with Conn(self.srv.port) as c:
                c.greeting()
                c.send(b"USER " + name + b"\r\n")
                self.assertOk(c.reply(), "USER %r" % name)
                # A failed login records the name for the failure delay.
                c.send(b"PASS wrong\r\n")
                self.assertErr(c.reply(), "PASS for %r" % name, code="AUTH")
                r = c.cmd("AUTH PLAIN " + b64(b"\0" + name + b"\0wrong"))
                self.assertErr(r, "AUTH PLAIN as %r" % name)
                c.send(b"APOP " + name + b" " + b"0" * 32 + b"\r\n")
                self.assertErr(c.reply(), "APOP as %r" % name)
        self.assertTrue(self.srv.alive())
        with Conn(self.srv.port) as c:
            c.login("olga", "pw")
        grown = self.rss() - before
        figure("oversized.rss_growth_after_utf8_logins_kb", grown, "KiB")
        self.assertLess(grown, abusetest.memory_limit_kb(1024))

    def test_bare_cr(self):
        with Conn(self.srv.port) as c:
            c.greeting()
            # Bare CR is no line end: the whole is one line, with a
            # control character in it.
            c.send(b"USER olga\rPASS pw\r\n")
            self.assertErr(c.reply(), "USER with a bare CR")
            c.send(b"CAPA\r\r\n")
            self.assertErr(c.reply(), "CAPA CR CR LF")
            c.send(b"\r" * 5000 + b"\r\n")
            self.assertErr(c.reply(), "5000 CRs")
            # Bare LF ends lines (RFC 1939 asks CRLF; clients send LF).
            c.send(b"USER olga\nPASS pw\n")
            self.assertOk(c.reply())
            self.assertOk(c.reply())
            status, body = c.multi("RETR 1")
            self.assertEqual(body, M1)

    def test_too_many_errors_close(self):
        """Garbage forever is cut off: a client cannot keep a session by
        sending nonsense."""
        with Conn(self.srv.port) as c:
            c.greeting()
            sent = 0
            closed = False
            try:
                for _ in range(200):
                    c.send(b"\xff\xfe garbage\r\n")
                    sent += 1
                    c.reply()
            except (EOFError, ConnectionResetError, BrokenPipeError,
                    socket.timeout):
                closed = True
            self.assertTrue(closed, "200 bad commands did not close")
            figure("oversized.bad_commands_before_close", sent)


if __name__ == "__main__":
    abusetest.main()
