# SPDX-License-Identifier: MIT
"""What TLS changes in a session, from the client's side: STLS command
injection, the plaintext-password policy on an untrusted network, CAPA
before and after TLS, the handshake timeout, session resumption (Python's
ssl and gnutls-cli --resume), a certificate reload (SIGHUP) under an open
session, and a large RETR over TLS read slowly.
"""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import unittest

import poplartest
from poplartest import HOST, Conn

import tlstest
from tlstest import TlsConn, TlsServer

M1 = b"Subject: one\n\nfirst message\n"

# A network 127.0.0.1 is not in: the test's connections are untrusted.
ELSEWHERE = "192.0.2.0/24"


class TlsTestCase(poplartest.PoplarTestCase):

    def tls_server(self, users=None, **config):
        """A started TlsServer; @users maps names to messages (password
        "<name> pw"), alice with M1 by default."""
        s = TlsServer()
        self._servers.append(s)
        self.addCleanup(self._cleanup_server, s)
        self.srv = s
        for name, messages in (users or {"alice": [M1]}).items():
            s.add_user(name, name + " pw", messages)
        s.start(**config)
        return s

    def capa(self, c):
        status, body = c.multi("CAPA")
        self.assertOk(status)
        return body.decode().split("\r\n")[:-1]


class TestStlsInjection(TlsTestCase):
    """RFC 2595 and CVE-2011-0411: what a client sent behind STLS in
    plaintext is never run under TLS."""

    def setUp(self):
        self.tls_server()

    def stls_with(self, behind):
        c = Conn(self.srv.port)
        self.addCleanup(c.close)
        c.greeting()
        c.send(b"STLS\r\n" + behind)  # one packet
        self.assertEqual(c.reply(), "+OK Begin TLS negotiation")
        # Nothing else in plaintext: the server waits for the handshake.
        self.assertEqual(bytes(c.buf[c.pos:]), b"")
        c.sock.settimeout(0.5)
        try:
            extra = c.sock.recv(1, socket.MSG_PEEK)
        except socket.timeout:
            extra = b""
        self.assertEqual(extra, b"", "plaintext after the STLS reply")
        c.sock.settimeout(poplartest.SOCKET_TIMEOUT)
        c.sock = self.srv.context().wrap_socket(c.sock, server_hostname=HOST)
        return c

    def assert_silent(self, c, seconds=1.0):
        c.sock.settimeout(seconds)
        try:
            data = c.sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            data = None
        c.sock.settimeout(poplartest.SOCKET_TIMEOUT)
        self.assertIsNone(data, "the server answered a command sent before "
                                "TLS: %r" % data)

    def test_capa_behind_stls_is_discarded(self):
        c = self.stls_with(b"CAPA\r\n")
        self.assert_silent(c)
        caps = self.capa(c)
        self.assertNotIn("STLS", caps)
        self.assertIn("USER", caps)

    def test_user_behind_stls_is_forgotten(self):
        c = self.stls_with(b"USER alice\r\n")
        self.assert_silent(c)
        # PASS without a USER sent under TLS
        self.assertTrue(c.cmd("PASS alice pw").startswith("-ERR"))
        self.assertOk(c.cmd("USER alice"))
        self.assertOk(c.cmd("PASS alice pw"))

    def test_many_commands_behind_stls(self):
        c = self.stls_with(b"NOOP\r\n" * 50 + b"USER alice\r\nPASS alice pw"
                           b"\r\nSTAT\r\n")
        self.assert_silent(c)
        self.assertTrue(c.cmd("STAT").startswith("-ERR"))


class TestPlaintextPolicy(TlsTestCase):

    def test_untrusted_before_tls(self):
        self.tls_server(server={"trusted-networks": ELSEWHERE})
        c = self.srv.conn()
        self.addCleanup(c.close)
        c.greeting()
        caps = self.capa(c)
        self.assertIn("STLS", caps)
        self.assertNotIn("USER", caps)
        self.assertFalse(any(l.startswith("SASL") and
                             ("PLAIN" in l.split() or "LOGIN" in l.split())
                             for l in caps), caps)
        reply = c.cmd("USER alice")
        self.assertTrue(reply.startswith("-ERR [AUTH]"), reply)
        reply = c.cmd("AUTH PLAIN AGFsaWNlAGFsaWNlIHB3")
        self.assertTrue(reply.startswith("-ERR [AUTH]"), reply)
        self.srv.wait_for_log(r"connect from 127\.0\.0\.1 port \d+$")

    def test_untrusted_after_stls(self):
        self.tls_server(server={"trusted-networks": ELSEWHERE})
        c = self.srv.stls_conn()
        self.addCleanup(c.close)
        caps = self.capa(c)
        self.assertNotIn("STLS", caps)
        self.assertIn("USER", caps)
        sasl = [l for l in caps if l.startswith("SASL ")]
        self.assertEqual(len(sasl), 1, caps)
        self.assertIn("PLAIN", sasl[0].split())
        self.assertIn("LOGIN", sasl[0].split())
        self.assertEqual(c.cmd("STLS"), "-ERR Already using TLS")
        self.assertOk(c.cmd("USER alice"))
        self.assertOk(c.cmd("PASS alice pw"))
        self.assertEqual(c.cmd("STAT"), "+OK 1 %d" % len(poplartest.crlf(M1)))

    def test_untrusted_implicit_tls(self):
        self.tls_server(server={"trusted-networks": ELSEWHERE})
        c = self.srv.tls_conn()
        self.addCleanup(c.close)
        caps = self.capa(c)
        self.assertNotIn("STLS", caps)
        self.assertIn("USER", caps)
        reply = c.cmd("AUTH PLAIN AGFsaWNlAGFsaWNlIHB3")  # \0alice\0alice pw
        self.assertOk(reply)

    def test_trusted_loopback(self):
        self.tls_server()  # default: loopback is trusted
        c = self.srv.conn()
        self.addCleanup(c.close)
        c.greeting()
        caps = self.capa(c)
        self.assertIn("STLS", caps)
        self.assertIn("USER", caps)
        self.assertOk(c.cmd("USER alice"))


class TestHandshakeTimeout(TlsTestCase):

    def setUp(self):
        self.tls_server(tls={"handshake-timeout": "1s"})

    def assert_closed_in_time(self, c):
        start = time.monotonic()
        self.assertTrue(c.wait_closed(10), "not closed within 10 s")
        took = time.monotonic() - start
        self.assertGreater(took, 0.5)
        self.assertLess(took, 5)
        self.assertEqual(c.tail, b"")

    def test_silent_client_on_the_tls_port(self):
        c = Conn(self.srv.tls_port)
        self.addCleanup(c.close)
        self.assert_closed_in_time(c)
        self.srv.wait_for_log(r"TLS handshake timed out")

    def test_silent_client_after_stls(self):
        c = self.srv.conn()
        self.addCleanup(c.close)
        c.greeting()
        self.assertEqual(c.cmd("STLS"), "+OK Begin TLS negotiation")
        self.assert_closed_in_time(c)

    def test_other_sessions_go_on(self):
        silent = [Conn(self.srv.tls_port) for _ in range(5)]
        for c in silent:
            self.addCleanup(c.close)
        p = self.srv.pop3s()
        self.addCleanup(p.close)
        p.user("alice")
        p.pass_("alice pw")
        time.sleep(1.5)  # past the handshake timeout
        self.assertEqual(p.stat()[0], 1)
        for c in silent:
            self.assertTrue(c.wait_closed(10))


class TestResumption(TlsTestCase):

    def setUp(self):
        self.tls_server()

    def test_python_session_reuse(self):
        first = self.srv.tls_conn()
        # TLS 1.3 tickets arrive after the handshake: the greeting has
        # been read, so they have too.
        session = first.sock.session
        first.cmd("QUIT")
        first.close()
        self.assertIsNotNone(session)
        mark = self.srv.log_mark()
        second = self.srv.tls_conn(session=session)
        self.addCleanup(second.close)
        self.assertTrue(second.sock.session_reused)
        self.srv.wait_for_log(r"TLS: TLS1\.[23] \S+.*\(resumed\)", 10, mark)
        self.assertOk(second.cmd("USER alice"))
        self.assertOk(second.cmd("PASS alice pw"))

    def test_stls_session_reuse(self):
        first = self.srv.stls_conn()
        first.multi("CAPA")
        session = first.sock.session
        first.cmd("QUIT")
        first.close()
        c = Conn(self.srv.port)
        self.addCleanup(c.close)
        c.greeting()
        self.assertOk(c.cmd("STLS"))
        c.sock = self.srv.context().wrap_socket(c.sock, server_hostname=HOST,
                                                session=session)
        self.assertTrue(c.sock.session_reused)

    def test_gnutls_cli_resume(self):
        cli = shutil.which("gnutls-cli")
        if not cli:
            self.skipTest("gnutls-cli is needed (Debian package gnutls-bin)")
        mark = self.srv.log_mark()
        proc = subprocess.Popen(
            [cli, "--resume", "-p", str(self.srv.tls_port), "--x509cafile",
             self.srv.pki.ca_cert, "localhost"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
        try:
            time.sleep(2)
            proc.stdin.write(b"QUIT\r\n")
            proc.stdin.flush()
            out, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        text = out.decode(errors="replace")
        self.assertIn("*** This is a resumed session", text)
        self.assertIn("+OK Poplar signing off", text)
        self.srv.wait_for_log(r"\(resumed\)", 10, mark)

    def test_no_tickets(self):
        self.srv.stop()
        self.srv.start(tls={"session-tickets": "no"})
        first = self.srv.tls_conn()
        session = first.sock.session
        first.cmd("QUIT")
        first.close()
        second = self.srv.tls_conn(session=session)
        self.addCleanup(second.close)
        self.assertFalse(second.sock.session_reused)


class TestReload(TlsTestCase):
    """SIGHUP with new certificate files: an open TLS session goes on with
    what it has, a new connection is shown the new certificate."""

    def test_sighup_under_an_open_session(self):
        s = self.tls_server()
        before = s.cert_fingerprint()
        live = s.pop3s()
        self.addCleanup(live.close)
        live.user("alice")
        live.pass_("alice pw")
        stls_live = s.stls_conn()
        self.addCleanup(stls_live.close)

        # New key and certificate at the configured paths.
        new_cert, new_key = s.pki.server_cert("next")
        os.replace(new_key, s.key)
        os.replace(new_cert, s.cert)
        mark = s.log_mark()
        s.proc.send_signal(signal.SIGHUP)

        deadline = time.monotonic() + 15
        after = before
        while after == before and time.monotonic() < deadline:
            time.sleep(0.1)
            try:
                after = s.cert_fingerprint()
            except (OSError, ssl.SSLError):
                pass  # listeners briefly between two images
        self.assertNotEqual(after, before,
                            "new connections still see the old "
                            "certificate:\n" + s.log_tail())
        # STLS on the plain port gets the new one as well
        c = s.stls_conn()
        self.addCleanup(c.close)
        self.assertEqual(tlstest.fingerprint(
            c.sock.getpeercert(binary_form=True)), after)
        self.assertFalse(any("fatal" in l.lower() or "not reloaded" in l
                             for l in s.log_lines()[mark:]), s.log_tail())

        # The sessions opened before go on, still with the old certificate.
        self.assertEqual(tlstest.fingerprint(
            live.sock.getpeercert(binary_form=True)), before)
        self.assertEqual(live.stat()[0], 1)
        self.assertEqual(b"\r\n".join(live.retr(1)[1]) + b"\r\n",
                         poplartest.crlf(M1))
        self.assertOk(live.quit())
        status, caps = stls_live.multi("CAPA")
        self.assertOk(status)
        self.assertNotIn(b"STLS", caps)
        self.assertOk(stls_live.cmd("USER alice"))
        self.assertOk(stls_live.cmd("PASS alice pw"))
        self.assertOk(stls_live.cmd("QUIT"))

    def test_sighup_with_a_broken_certificate_keeps_the_old(self):
        s = self.tls_server()
        before = s.cert_fingerprint()
        with open(s.cert, "w") as f:
            f.write("not a certificate\n")
        s.proc.send_signal(signal.SIGHUP)
        time.sleep(1.5)
        self.assertTrue(s.alive(), s.log_tail())
        self.assertEqual(s.cert_fingerprint(), before)
        p = s.pop3s()
        p.user("alice")
        p.pass_("alice pw")
        self.assertOk(p.quit())


class TestLargeRetr(TlsTestCase):

    def test_large_message_read_slowly(self):
        body = b"".join(b"line %07d of a large message over TLS\n" % i
                        for i in range(120000))  # about 5 MB
        message = b"Subject: large\n\n" + body
        s = self.tls_server(users={"bulk": [message, M1]})
        c = s.tls_conn()
        self.addCleanup(c.close)
        self.assertOk(c.cmd("USER bulk"))
        self.assertOk(c.cmd("PASS bulk pw"))
        c.send(b"RETR 1\r\n")
        # A slow reader for a while: the server must wait, not buffer the
        # whole message or give up.
        received = bytearray()
        for _ in range(20):
            received += c.sock.recv(16384)
            time.sleep(0.05)
        c.buf += received
        status = c.reply()
        self.assertOk(status)
        self.assertEqual(c.body(), poplartest.crlf(message))
        # the session goes on
        status, second = c.multi("RETR 2")
        self.assertEqual(second, poplartest.crlf(M1))
        self.assertOk(c.cmd("QUIT"))


if __name__ == "__main__":
    poplartest.main()
