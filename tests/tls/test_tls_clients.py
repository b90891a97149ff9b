# SPDX-License-Identifier: MIT
"""Real POP3 clients over TLS, implicit (listen-tls) and after STLS:
curl, fetchmail, mpop (with SASL SCRAM-SHA-256 through auth-sasl),
Python's poplib and gnutls-cli.  Each verifies the server's ECDSA
certificate against the test's own CA; none is told to skip checks.
"""

import os
import shutil
import subprocess
import time
import unittest

import poplartest
from poplartest import HOST

import tlstest
from tlstest import TlsServer

M1 = b"Subject: one\nFrom: a@example.org\n\nfirst message\n"
M2 = b"Subject: two\nFrom: b@example.org\n\nsecond message\n.leading dot\n"

CLIENT_TIMEOUT = 60


def need(program, package):
    path = shutil.which(program)
    if not path:
        raise unittest.SkipTest("%s is needed (Debian package %s)" % (
            program, package))
    return path


class ClientTestCase(poplartest.PoplarTestCase):

    def tls_server(self, start=True, **config):
        s = TlsServer()
        self._servers.append(s)
        self.addCleanup(self._cleanup_server, s)
        self.srv = s
        if start:
            s.add_user("alice", "alice pw", [M1, M2])
            s.start(**config)
        return s

    def run_client(self, argv, env=None, input=None):
        r = subprocess.run(argv, input=input, capture_output=True,
                           timeout=CLIENT_TIMEOUT + 30,
                           env=dict(os.environ, **(env or {})))
        return r.returncode, r.stdout, r.stderr.decode(errors="replace")

    def session_tls_logged(self, mark):
        """The TLS line the server logged for a session since @mark."""
        return self.srv.wait_for_log(r"TLS: (TLS1\.[23]) ", 10, mark)


class TestCurl(ClientTestCase):

    def setUp(self):
        need("curl", "curl")
        self.tls_server()

    def curl(self, url, *extra):
        return self.run_client(
            ["curl", "-sS", "--max-time", str(CLIENT_TIMEOUT), "--cacert",
             self.srv.pki.ca_cert, *extra, url])

    def test_pop3s(self):
        mark = self.srv.log_mark()
        rc, out, err = self.curl("pop3s://alice:alice%%20pw@localhost:%d/1" %
                                 self.srv.tls_port, "--resolve",
                                 "localhost:%d:%s" % (self.srv.tls_port,
                                                      HOST))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, poplartest.crlf(M1))
        self.session_tls_logged(mark)

    def test_stls_required(self):
        mark = self.srv.log_mark()
        rc, out, err = self.curl("pop3://alice:alice%%20pw@localhost:%d/2" %
                                 self.srv.port, "--ssl-reqd", "--resolve",
                                 "localhost:%d:%s" % (self.srv.port, HOST))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, poplartest.crlf(M2))
        self.session_tls_logged(mark)
        # the listing over STLS
        rc, out, err = self.curl("pop3://alice:alice%%20pw@localhost:%d/" %
                                 self.srv.port, "--ssl-reqd", "--resolve",
                                 "localhost:%d:%s" % (self.srv.port, HOST))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.decode().split("\r\n")[0].split(),
                         ["1", str(len(poplartest.crlf(M1)))])

    def test_wrong_certificate_name_is_refused(self):
        # the client checks the name: the server's certificate is not for
        # mail.example.net
        rc, _, err = self.curl("pop3s://alice:alice%%20pw@mail.example.net:"
                               "%d/1" % self.srv.tls_port, "--resolve",
                               "mail.example.net:%d:%s" % (
                                   self.srv.tls_port, HOST))
        self.assertNotEqual(rc, 0)

    def test_ssl_reqd_without_tls_fails(self):
        s = TlsServer()
        self._servers.append(s)
        self.addCleanup(self._cleanup_server, s)
        s.add_user("alice", "alice pw", [M1])
        # a server without [tls]: poplartest's own start, no certificates
        poplartest.Server.start(s)
        rc, out, err = self.curl("pop3://alice:alice%%20pw@localhost:%d/1" %
                                 s.port, "--ssl-reqd", "--resolve",
                                 "localhost:%d:%s" % (s.port, HOST))
        self.assertNotEqual(rc, 0)
        self.assertEqual(out, b"")


class TestFetchmail(ClientTestCase):
    """fetchmail -f RCFILE with the TLS options on its command line,
    delivering to a file through an MDA and keeping the mail."""

    def setUp(self):
        self.fetchmail = need("fetchmail", "fetchmail")
        self.tls_server()
        self.home = os.path.join(self.srv.dir, "fetchmail")
        os.mkdir(self.home)
        self.out = os.path.join(self.home, "delivered")

    def fetch(self, port, *tls_options):
        rc_file = os.path.join(self.home, "fetchmailrc")
        with open(rc_file, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write("set no bouncemail\nset no syslog\n"
                    "poll %s port %d protocol pop3 timeout %d\n"
                    "  user \"alice\" password \"alice pw\" is \"alice\" here\n"
                    "  sslcommonname localhost\n"
                    "  mda \"/bin/sh -c 'cat >> %s'\"\n"
                    "  keep\n" % (HOST, port, CLIENT_TIMEOUT, self.out))
        return self.run_client(
            [self.fetchmail, "-f", rc_file, "-v", "--nosyslog",
             "--pidfile", os.path.join(self.home, "pid"), *tls_options],
            env={"FETCHMAILHOME": self.home, "HOME": self.home})

    def check_delivered(self, rc, out, err):
        text = out.decode(errors="replace") + err
        self.assertEqual(rc, 0, text)
        with open(self.out, "rb") as f:
            delivered = f.read()
        self.assertIn(b"first message", delivered)
        self.assertIn(b"second message", delivered)
        self.assertIn(b"\n.leading dot\n", delivered)
        # keep: still on the server
        self.assertEqual(len(self.srv.users["alice"].maildir.files()), 2)
        return text

    def test_implicit_tls(self):
        mark = self.srv.log_mark()
        text = self.check_delivered(*self.fetch(
            self.srv.tls_port, "--ssl", "--sslproto", "TLS1.2+",
            "--sslcertck", "--sslcertfile", self.srv.pki.ca_cert))
        self.assertNotIn("STLS", text)
        self.session_tls_logged(mark)

    def test_stls(self):
        mark = self.srv.log_mark()
        text = self.check_delivered(*self.fetch(
            self.srv.port, "--sslproto", "TLS1.2+", "--sslcertck",
            "--sslcertfile", self.srv.pki.ca_cert))
        self.assertIn("POP3> STLS", text)
        self.assertIn("upgrade to TLS succeeded", text)
        self.session_tls_logged(mark)

    def test_untrusted_certificate_is_refused(self):
        other = tlstest.Pki(os.path.join(self.home, "other-ca"))
        rc, out, err = self.fetch(
            self.srv.tls_port, "--ssl", "--sslproto", "TLS1.2+",
            "--sslcertck", "--sslcertfile", other.ca_cert)
        self.assertNotEqual(rc, 0)
        self.assertFalse(os.path.exists(self.out))


@unittest.skipUnless(tlstest.have_auth_sasl(),
                     "auth-sasl is not built or saslpasswd2 is missing")
class TestMpop(ClientTestCase):
    """mpop over STLS, authenticating with SCRAM-SHA-256 against a sasldb
    user of auth-sasl."""

    def setUp(self):
        self.mpop = need("mpop", "mpop")
        s = self.tls_server(start=False)
        s.add_sasl_user("alice", "alice pw", [M1, M2])
        s.start(**s.sasl_config())
        self.dir = os.path.join(s.dir, "mpop")
        os.mkdir(self.dir)

    def mpop_run(self, auth="scram-sha-256", password="alice pw",
                 user="alice"):
        out = os.path.join(self.dir, "delivered.mbox")
        conf = os.path.join(self.dir, "mpoprc")
        with open(conf, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write("defaults\n"
                    "tls on\n"
                    "tls_starttls on\n"
                    "tls_trust_file %s\n"
                    "keep on\n"
                    "timeout %d\n"
                    "account default\n"
                    "host %s\n"
                    "tls_host_override localhost\n"
                    "port %d\n"
                    "user %s\n"
                    "auth %s\n"
                    "password %s\n"
                    "uidls_file %s\n"
                    "delivery mbox %s\n" % (
                        self.srv.pki.ca_cert, CLIENT_TIMEOUT, HOST,
                        self.srv.port, user, auth, password,
                        os.path.join(self.dir, "uidls"), out))
        rc, stdout, err = self.run_client(
            [self.mpop, "-C", conf, "--debug"],
            env={"HOME": self.dir})
        return rc, stdout.decode(errors="replace") + err, out

    def test_stls_scram_sha_256(self):
        rc, text, out = self.mpop_run()
        self.assertEqual(rc, 0, text)
        self.assertIn("--> STLS", text)
        self.assertIn("AUTH SCRAM-SHA-256", text)
        with open(out, "rb") as f:
            mbox = f.read()
        self.assertIn(b"first message", mbox)
        self.assertIn(b"second message", mbox)
        self.srv.wait_for_log(r"login: user=alice mech=SCRAM-SHA-256")
        self.srv.wait_for_log(r"TLS: TLS1\.[23] ")

    def test_wrong_password(self):
        rc, text, out = self.mpop_run(password="wrong")
        self.assertNotEqual(rc, 0, text)
        self.assertIn("Authentication failed", text)
        self.assertFalse(os.path.exists(out))


class TestPoplib(ClientTestCase):

    def setUp(self):
        self.tls_server()

    def test_pop3_ssl(self):
        p = self.srv.pop3s()
        self.addCleanup(p.close)
        p.user("alice")
        p.pass_("alice pw")
        self.assertEqual(p.stat()[0], 2)
        self.assertEqual(b"\r\n".join(p.retr(1)[1]) + b"\r\n",
                         poplartest.crlf(M1))
        self.assertEqual(b"\r\n".join(p.retr(2)[1]) + b"\r\n",
                         poplartest.crlf(M2))
        self.assertNotIn("STLS", p.capa())
        self.assertOk(p.quit())

    def test_stls(self):
        p = self.srv.pop()
        self.addCleanup(p.close)
        self.assertIn("STLS", p.capa())
        self.assertOk(p.stls(self.srv.context()))
        caps = p.capa()
        self.assertNotIn("STLS", caps)
        self.assertIn("USER", caps)
        p.user("alice")
        p.pass_("alice pw")
        self.assertEqual(p.stat()[0], 2)
        self.assertOk(p.quit())


class TestGnutlsCli(ClientTestCase):

    def setUp(self):
        self.cli = need("gnutls-cli", "gnutls-bin")
        self.tls_server()

    def converse(self, argv, lines, settle=0.3):
        """Runs gnutls-cli, sending @lines one at a time; returns what it
        printed."""
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        try:
            time.sleep(1.0)  # connect, STLS and handshake
            for line in lines:
                proc.stdin.write(line.encode() + b"\r\n")
                proc.stdin.flush()
                time.sleep(settle)
            out, _ = proc.communicate(timeout=CLIENT_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        return out.decode(errors="replace")

    def test_starttls_proto_pop3(self):
        out = self.converse(
            [self.cli, "--starttls-proto=pop3", "-p", str(self.srv.port),
             "--x509cafile", self.srv.pki.ca_cert, "localhost"],
            ["CAPA", "USER alice", "PASS alice pw", "STAT", "QUIT"])
        self.assertIn("The certificate is trusted", out)
        self.assertRegex(out, r"\(TLS1\.[23]-X\.509\)-\(ECDHE-[^)]*\)-"
                              r"\(ECDSA-SECP256R1-SHA256\)")
        self.assertIn("+OK Logged in", out)
        self.assertIn("+OK 2 ", out)
        # CAPA after STLS: no STLS any more
        capa = out.split("+OK Capability list follows", 1)[1].split(
            "\n.", 1)[0]
        self.assertNotIn("STLS", capa)
        self.assertIn("USER", capa)

    def test_implicit(self):
        out = self.converse(
            [self.cli, "-p", str(self.srv.tls_port), "--x509cafile",
             self.srv.pki.ca_cert, "localhost"],
            ["USER alice", "PASS alice pw", "LIST", "QUIT"])
        self.assertIn("The certificate is trusted", out)
        self.assertIn("+OK Poplar POP3 server ready", out)
        self.assertIn("+OK Logged in", out)
        self.assertIn("+OK Poplar signing off", out)


if __name__ == "__main__":
    poplartest.main()
