# SPDX-License-Identifier: MIT
"""AUTH over TLS end to end, on a network the server does not trust (so
that PLAIN and LOGIN exist only under TLS): PLAIN, LOGIN, SCRAM-SHA-256
and CRAM-MD5 from auth-sasl's sasldb, and the server's own PLAIN and
LOGIN on auth-passwd-file; right and wrong passwords, unknown users, and
the replies that must not tell them apart.
"""

import unittest

import poplartest

import tlstest
from tlstest import TlsServer

try:
    from saslclient import authenticate
except ImportError:
    authenticate = None

M1 = b"Subject: one\n\nfirst message\n"
FAILED = "-ERR [AUTH] Authentication failed"
ELSEWHERE = "192.0.2.0/24"


class AuthOverTls(poplartest.PoplarTestCase):

    def server(self, **config):
        s = TlsServer()
        self._servers.append(s)
        self.addCleanup(self._cleanup_server, s)
        self.srv = s
        return s

    def login(self, connect, mech, user, password):
        c = connect()
        self.addCleanup(c.close)
        reply, challenges = authenticate(c, mech, user, password)
        if reply.startswith("+OK"):
            stat = c.cmd("STAT")
            self.assertOk(c.cmd("QUIT"))
            return reply, stat, challenges
        return reply, None, challenges

    def check_mechanisms(self, mechanisms, account):
        for connect in (self.srv.tls_conn, self.srv.stls_conn):
            for mech in mechanisms:
                with self.subTest(mech=mech, how=connect.__name__):
                    reply, stat, _ = self.login(connect, mech, account,
                                                "alice pw")
                    self.assertOk(reply)
                    self.assertEqual(stat, "+OK 1 %d" % len(
                        poplartest.crlf(M1)))
                    wrong, _, wrong_ch = self.login(connect, mech, account,
                                                    "wrong pw")
                    unknown, _, unknown_ch = self.login(connect, mech,
                                                        "nobody", "alice pw")
                    self.assertEqual(wrong, FAILED)
                    self.assertEqual(unknown, FAILED)
                    self.assertEqual(len(wrong_ch), len(unknown_ch))


@unittest.skipUnless(authenticate and tlstest.have_auth_sasl(),
                     "auth-sasl is not built or saslpasswd2 is missing")
class TestSaslOverTls(AuthOverTls):

    def setUp(self):
        s = self.server()
        s.add_sasl_user("alice", "alice pw", [M1])
        s.start(**s.sasl_config(
            sasl={"mechanisms": "SCRAM-SHA-256; CRAM-MD5; PLAIN; LOGIN"},
            server={"trusted-networks": ELSEWHERE}))

    def test_capa_before_and_after_tls(self):
        c = self.srv.conn()
        self.addCleanup(c.close)
        c.greeting()
        status, body = c.multi("CAPA")
        sasl = [l for l in body.decode().split("\r\n")
                if l.startswith("SASL ")]
        self.assertEqual(sasl, ["SASL SCRAM-SHA-256 CRAM-MD5"])
        t = self.srv.stls_conn()
        self.addCleanup(t.close)
        status, body = t.multi("CAPA")
        sasl = [l for l in body.decode().split("\r\n")
                if l.startswith("SASL ")]
        self.assertEqual(sasl, ["SASL PLAIN LOGIN SCRAM-SHA-256 CRAM-MD5"])

    def test_mechanisms(self):
        self.check_mechanisms(["PLAIN", "LOGIN", "SCRAM-SHA-256",
                               "CRAM-MD5"], "alice")

    def test_user_pass(self):
        for connect in (self.srv.tls_conn, self.srv.stls_conn):
            replies = []
            for user, pw in (("alice", "alice pw"), ("alice", "wrong"),
                             ("nobody", "alice pw")):
                c = connect()
                self.addCleanup(c.close)
                self.assertOk(c.cmd("USER " + user))
                replies.append(c.cmd("PASS " + pw))
                c.cmd("QUIT")
            self.assertOk(replies[0])
            self.assertEqual(replies[1:], [FAILED, FAILED])


@unittest.skipUnless(authenticate, "tests/auth-sasl is not in this tree")
class TestBuiltinOverTls(AuthOverTls):
    """The server's own PLAIN and LOGIN, on auth-passwd-file."""

    def setUp(self):
        s = self.server()
        s.add_user("alice", "alice pw", [M1])
        s.start(server={"trusted-networks": ELSEWHERE})

    def test_mechanisms(self):
        self.check_mechanisms(["PLAIN", "LOGIN"], "alice")

    def test_plain_refused_without_tls(self):
        c = self.srv.conn()
        self.addCleanup(c.close)
        c.greeting()
        reply = c.cmd("AUTH PLAIN AGFsaWNlAGFsaWNlIHB3")
        self.assertTrue(reply.startswith("-ERR [AUTH]"), reply)
        reply = c.cmd("AUTH LOGIN")
        self.assertTrue(reply.startswith("-ERR [AUTH]"), reply)


if __name__ == "__main__":
    poplartest.main()
