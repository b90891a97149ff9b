# SPDX-License-Identifier: MIT
"""auth-sasl end to end: poplard with the real libsasl2 on a sasldb made
with saslpasswd2, driven over raw POP3 connections with the client side
of each mechanism (saslclient.py) and with poplib.  saslauthd, when
installed, runs for real on a socket of the test, checking users of an
nss_wrapper passwd file.

Environment (from tests/auth-sasl/meson.build): POPLARD, POPLAR_PLUGINS
(auth-sasl, store-maildir, auth-passwd-file), SASLPASSWD2.
"""

import base64
import os
import poplib
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest

import mastertest
import poplartest
from poplartest import Conn

import saslclient
from saslclient import authenticate, b64
import sasltest
from sasltest import REALM, SaslServer

M1 = b"Subject: one\n\nfirst\n"
M2 = b"Subject: two\n\nsecond\n"

FAILED = "-ERR [AUTH] Authentication failed"
MECHANISMS = ["PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1",
              "SCRAM-SHA-256"]


class SaslTestCase(poplartest.PoplarTestCase):

    def sasl_server(self, users=True, start=True, **config):
        s = SaslServer()
        self._servers.append(s)
        self.addCleanup(self._cleanup_server, s)
        if users:
            s.add_sasl_user("alice", "alice pw", [M1, M2])
            s.add_sasl_user("bob", "bob pw", [M1])
        if start:
            s.start_sasl(**config)
        self.srv = s
        return s

    def conn(self):
        c = self.srv.conn()
        self.addCleanup(c.close)
        c.greeting()
        return c

    def auth(self, mech, user, password, ir=True):
        """A fresh connection and AUTH @mech: (reply, challenges, conn)."""
        c = self.conn()
        kw = {}
        if mech == "DIGEST-MD5":
            kw["host"] = self.srv.hostname
        reply, challenges = authenticate(c, mech, user, password,
                                         initial_response=ir, **kw)
        return reply, challenges, c

    def capa(self, c):
        status, body = c.multi("CAPA")
        self.assertOk(status)
        return body.decode().split("\r\n")


def sasl_line(lines):
    for l in lines:
        if l.startswith("SASL "):
            return l.split()[1:]
    return []


class TestMechanisms(SaslTestCase):

    def setUp(self):
        self.sasl_server(sasl={"hostname": "pop.example.org"})
        self.srv.hostname = "pop.example.org"

    def test_capa_lists_libsasl2_mechanisms(self):
        mechs = sasl_line(self.capa(self.conn()))
        for m in MECHANISMS:
            self.assertIn(m, mechs)
        for m in ("ANONYMOUS", "EXTERNAL"):
            self.assertNotIn(m, mechs)
        self.assertIn("USER", self.capa(self.conn()))

    def test_each_mechanism_logs_in(self):
        for mech in MECHANISMS:
            for ir in (True, False):
                with self.subTest(mech=mech, initial_response=ir):
                    reply, challenges, c = self.auth(mech, "alice",
                                                     "alice pw", ir)
                    self.assertOk(reply, mech)
                    self.assertEqual(c.cmd("STAT"), "+OK 2 %d" % (
                        len(poplartest.crlf(M1)) + len(poplartest.crlf(M2))))
                    self.assertOk(c.cmd("QUIT"))

    def test_wrong_password_and_unknown_user_read_alike(self):
        for mech in MECHANISMS:
            with self.subTest(mech=mech):
                wrong, wrong_ch, _ = self.auth(mech, "alice", "wrong pw")
                unknown, unknown_ch, _ = self.auth(mech, "nobody", "alice pw")
                self.assertEqual(wrong, FAILED)
                self.assertEqual(unknown, FAILED)
                # as many challenges, of the same form
                self.assertEqual(len(wrong_ch), len(unknown_ch))
                for a, b in zip(wrong_ch, unknown_ch):
                    self.assertEqual(shape(a), shape(b))

    def test_scram_unknown_user_gets_a_stable_salt(self):
        salts = []
        for user in ("nobody", "nobody", "somebody-else"):
            reply, ch, _ = self.auth("SCRAM-SHA-256", user, "x")
            self.assertEqual(reply, FAILED)
            fields = dict(kv.split("=", 1) for kv in ch[0].decode().split(","))
            self.assertEqual(fields["i"], "4096")
            self.assertEqual(len(base64.b64decode(fields["s"])), 32)
            salts.append(fields["s"])
        self.assertEqual(salts[0], salts[1])
        self.assertNotEqual(salts[0], salts[2])
        # a real user's salt is stable too
        _, a, _ = self.auth("SCRAM-SHA-256", "alice", "wrong")
        _, b, _ = self.auth("SCRAM-SHA-256", "alice", "wrong")
        self.assertEqual(a[0].split(b",s=")[1], b[0].split(b",s=")[1])

    def test_user_pass(self):
        p = self.srv.login("alice", "alice pw")
        self.assertEqual(p.stat()[0], 2)
        p.quit()
        replies = []
        for user, pw in (("alice", "wrong pw"), ("nobody", "alice pw")):
            c = self.conn()
            self.assertOk(c.cmd("USER " + user))
            replies.append(c.cmd("PASS " + pw))
        self.assertEqual(replies, [FAILED, FAILED])
        self.srv.wait_for_log(r"auth-sasl: unknown user 'nobody'")

    def test_realm_in_the_name(self):
        # alice@example.org is the account alice: the configured realm is
        # removed from the name the login ends with
        reply, _, c = self.auth("SCRAM-SHA-256", "alice@" + REALM,
                                "alice pw")
        self.assertOk(reply)
        self.assertTrue(c.cmd("STAT").startswith("+OK 2 "))
        self.srv.wait_for_log(r"login: user=alice mech=SCRAM-SHA-256")

    def test_other_realm(self):
        sasltest.add_sasldb_user(self.srv.sasldb, "carol", "carol pw",
                                 "other.example")
        self.srv.maildir("carol@other.example", [M1])
        reply, _, c = self.auth("PLAIN", "carol@other.example", "carol pw")
        self.assertOk(reply)
        self.assertTrue(c.cmd("STAT").startswith("+OK 1 "))
        # without the realm, carol is looked for in example.org
        reply, _, _ = self.auth("PLAIN", "carol", "carol pw")
        self.assertEqual(reply, FAILED)

    def test_cancel_then_login(self):
        c = self.conn()
        self.assertEqual(c.cmd("AUTH SCRAM-SHA-256"), "+ ")
        self.assertTrue(c.cmd(b64(b"n,,n=alice,r=abcdefgh")).startswith("+ "))
        self.assertEqual(c.cmd("*"),
                         "-ERR [AUTH] Authentication cancelled")
        reply, _ = authenticate(c, "CRAM-MD5", "alice", "alice pw")
        self.assertOk(reply)

    def test_malformed_messages(self):
        for first, then in (("AUTH SCRAM-SHA-256 " + b64(b"garbage"), None),
                            ("AUTH PLAIN " + b64(b"no nul"), None),
                            ("AUTH CRAM-MD5", b64(b"alice"))):
            with self.subTest(first=first):
                c = self.conn()
                reply = c.cmd(first)
                if then:
                    self.assertTrue(reply.startswith("+ "), reply)
                    reply = c.cmd(then)
                self.assertTrue(reply.startswith("-ERR [AUTH]"), reply)
                # the session goes on
                reply, _ = authenticate(c, "PLAIN", "alice", "alice pw")
                self.assertOk(reply)
                c.cmd("QUIT")

    def test_success_data_must_be_acknowledged_empty(self):
        c = self.conn()
        gen = saslclient.scram("alice", "alice pw")
        first = next(gen)
        server_first = c.cmd("AUTH SCRAM-SHA-256 " + b64(first))
        final = gen.send(base64.b64decode(server_first[2:]))
        server_final = c.cmd(b64(final))
        self.assertTrue(server_final.startswith("+ "), server_final)
        self.assertTrue(base64.b64decode(server_final[2:]).startswith(b"v="))
        # anything but an empty line fails the login
        self.assertEqual(c.cmd(b64(b"more")), FAILED)

    def test_another_users_identity_is_refused(self):
        c = self.conn()
        reply = c.cmd("AUTH PLAIN " + b64(b"bob\0alice\0alice pw"))
        self.assertTrue(reply.startswith("-ERR [AUTH]"), reply)

    def test_concurrent_scram_logins(self):
        users = ["u%d" % i for i in range(12)]
        for u in users:
            self.srv.add_sasl_user(u, u + " pw", [M1])
        errors = []

        def run(user):
            try:
                for _ in range(3):
                    with self.srv.conn() as c:
                        c.greeting()
                        reply, _ = authenticate(c, "SCRAM-SHA-256", user,
                                                user + " pw")
                        if not reply.startswith("+OK"):
                            errors.append((user, reply))
                        c.cmd("QUIT")
            except Exception as e:  # reported below
                errors.append((user, repr(e)))

        threads = [threading.Thread(target=run, args=(u,)) for u in users]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])


def shape(challenge):
    """A challenge with its random parts blanked, for comparing forms."""
    s = re.sub(rb"[A-Za-z0-9+/=]{16,}", b"X", challenge)
    return re.sub(rb"<\d+\.\d+@", b"<N.N@", s)


class TestConfiguration(SaslTestCase):

    def test_listed_mechanisms_only(self):
        self.sasl_server(sasl={"mechanisms": "SCRAM-SHA-256; CRAM-MD5"})
        mechs = sasl_line(self.capa(self.conn()))
        # PLAIN and LOGIN are the server's own, through this passdb
        self.assertEqual(mechs, ["PLAIN", "LOGIN", "SCRAM-SHA-256",
                                 "CRAM-MD5"])
        self.assertEqual(self.conn().cmd("AUTH DIGEST-MD5"),
                         "-ERR Unsupported authentication mechanism")
        for mech in ("PLAIN", "LOGIN", "SCRAM-SHA-256", "CRAM-MD5"):
            reply, _, c = self.auth(mech, "bob", "bob pw")
            self.assertOk(reply, mech)
            self.assertOk(c.cmd("QUIT"))

    def test_chained_with_passwd_file(self):
        # auth-sasl first: a user it does not know is looked up in the
        # passwd-file by USER/PASS and by the server's own PLAIN
        s = self.sasl_server(start=False)
        s.add_user("dave", "dave pw")
        s.start_sasl(sasl={"mechanisms": "SCRAM-SHA-256"},
                     load=["auth-sasl", "auth-passwd-file", "store-maildir"],
                     server={"mail": "maildir:%s/%%u" % s.mail_root})
        s.maildir("dave", [M1])
        p = s.login("dave", "dave pw")
        self.assertEqual(p.stat()[0], 1)
        p.quit()
        reply, _, _ = self.auth("PLAIN", "dave", "dave pw")
        self.assertOk(reply)
        reply, _, _ = self.auth("PLAIN", "alice", "alice pw")
        self.assertOk(reply)
        # SCRAM knows only the sasldb
        reply, _, _ = self.auth("SCRAM-SHA-256", "dave", "dave pw")
        self.assertEqual(reply, FAILED)

    def test_keep_realm(self):
        s = self.sasl_server(sasl={"strip-realm": "no"})
        s.maildir("alice@" + REALM, [M1])
        reply, _, c = self.auth("SCRAM-SHA-1", "alice", "alice pw")
        self.assertOk(reply)
        self.assertTrue(c.cmd("STAT").startswith("+OK 1 "))

    def test_mail_location(self):
        s = self.sasl_server(start=False)
        other = os.path.join(s.dir, "elsewhere")
        s.start_sasl(sasl={"mail": "maildir:%s/%%u" % other})
        md = poplartest.Maildir(os.path.join(other, "alice"))
        md.add(M1)
        reply, _, c = self.auth("CRAM-MD5", "alice", "alice pw")
        self.assertOk(reply)
        self.assertTrue(c.cmd("STAT").startswith("+OK 1 "))

    def test_untrusted_network_hides_plaintext_mechanisms(self):
        self.sasl_server(server={"trusted-networks": "192.0.2.0/24"})
        lines = self.capa(self.conn())
        mechs = sasl_line(lines)
        self.assertNotIn("USER", lines)
        self.assertNotIn("PLAIN", mechs)
        self.assertNotIn("LOGIN", mechs)
        self.assertIn("SCRAM-SHA-256", mechs)
        c = self.conn()
        self.assertTrue(c.cmd("AUTH PLAIN " + b64(b"\0alice\0alice pw"))
                        .startswith("-ERR [AUTH] Plaintext"))
        # a mechanism that never shows the password works without TLS
        reply, _ = authenticate(c, "SCRAM-SHA-256", "alice", "alice pw")
        self.assertOk(reply)

    def check_config(self, s, **kw):
        s.write_config(**s.sasl_config(**kw))
        r = subprocess.run([poplartest.POPLARD, "-c", s.conf,
                            "--check-config"], capture_output=True,
                           timeout=60)
        return r.returncode, (r.stdout + r.stderr).decode(errors="replace")

    def test_check_config_reports_problems(self):
        s = self.sasl_server(start=False)
        rc, out = self.check_config(s)
        self.assertEqual(rc, 0, out)
        rc, out = self.check_config(
            s, sasl={"mechanisms": "SCRAM-SHA-256; NO-SUCH-MECH"})
        self.assertNotEqual(rc, 0)
        self.assertRegex(out, r"poplar\.conf:\d+: \[auth-sasl\] mechanisms: "
                              r"NO-SUCH-MECH is not offered by libsasl2")
        rc, out = self.check_config(
            s, sasl={"sasldb": os.path.join(s.dir, "missing")})
        self.assertNotEqual(rc, 0)
        self.assertIn("saslpasswd2 -f", out)
        rc, out = self.check_config(
            s, sasl={"pwcheck-method": "saslauthd",
                     "mechanisms": "PLAIN; SCRAM-SHA-256"})
        self.assertNotEqual(rc, 0)
        self.assertIn("SCRAM-SHA-256 needs each user's secret", out)
        rc, out = self.check_config(s, sasl={"colour": "blue"})
        self.assertNotEqual(rc, 0)
        self.assertIn("colour", out)

    def test_list_plugins(self):
        s = self.sasl_server(start=False)
        s.write_config(**s.sasl_config())
        r = subprocess.run([poplartest.POPLARD, "-c", s.conf,
                            "--list-plugins"], capture_output=True,
                           timeout=60)
        out = (r.stdout + r.stderr).decode(errors="replace")
        self.assertEqual(r.returncode, 0, out)
        self.assertIn("auth-sasl", out)


# ---- saslauthd ----------------------------------------------------------------

SASLAUTHD = shutil.which("saslauthd", path=os.environ.get("PATH", "") +
                         ":/usr/sbin:/sbin")
NSS_WRAPPER = "libnss_wrapper.so"


class TestMasterLogin(SaslTestCase, mastertest.MasterLoginChecks):
    """A master user of the passwd-file logs in as sasldb users, found
    with sasl_user_exists().  libsasl2's mechanisms are limited to SCRAM so
    that AUTH PLAIN is the server's own, which knows master users."""

    def master_server(self, **sasl):
        s = self.sasl_server(start=False)
        s.add_user("admin", "admin pw")
        sasl.setdefault("mechanisms", "SCRAM-SHA-256")
        s.start_sasl(sasl=sasl,
                     load=["auth-sasl", "auth-passwd-file", "store-maildir"],
                     server={"master-passdb": "auth-passwd-file"})
        return s

    def test_master_login(self):
        s = self.master_server()
        self.assert_master_login(s, "alice", "admin", "admin pw", 2)
        self.assert_master_login(s, "bob", "admin", "admin pw", 1)
        self.assert_master_login_refused(s, "nobody", "admin", "admin pw")
        s.wait_for_log(r"unknown user 'nobody' for a master login")
        s.wait_for_log(r"master login refused: master=admin "
                       r"target=nobody: no such user")
        # the realm in the name is removed as in a login
        p = s.login("alice@%s*admin" % REALM, "admin pw")
        self.assertEqual(p.stat()[0], 2)
        p.quit()

    def test_keep_realm(self):
        s = self.master_server(**{"strip-realm": "no"})
        s.maildir("alice@" + REALM, [M1])
        p = s.login("alice*admin", "admin pw")
        self.assertEqual(p.stat()[0], 1)
        p.quit()


def sha512_crypt(password):
    """A SHA-512 crypt(3) hash, for saslauthd's getpwent check."""
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))
    except ImportError:  # Python 3.13 has no crypt module
        pass
    if not shutil.which("openssl"):
        return None
    r = subprocess.run(["openssl", "passwd", "-6", password],
                       capture_output=True, timeout=30)
    return r.stdout.decode().strip() if r.returncode == 0 else None


class TestSaslauthd(SaslTestCase):
    """saslauthd -a getpwent, its passwd database an nss_wrapper file."""

    def start_saslauthd(self, s):
        if not SASLAUTHD:
            self.skipTest("saslauthd is not installed (sasl2-bin)")
        hashed = sha512_crypt("dave pw")
        if not hashed:
            self.skipTest("no crypt module nor openssl to hash the test "
                          "password")
        run = os.path.join(s.dir, "saslauthd")
        os.mkdir(run)
        passwd = os.path.join(s.dir, "nss-passwd")
        group = os.path.join(s.dir, "nss-group")
        with open(passwd, "w") as f:
            f.write("dave:%s:4000:4000:Dave:%s:/bin/false\n" % (
                hashed, s.dir))
        with open(group, "w") as f:
            f.write("mail:x:4000:\n")
        env = dict(os.environ, LD_PRELOAD=NSS_WRAPPER,
                   NSS_WRAPPER_PASSWD=passwd, NSS_WRAPPER_GROUP=group)
        proc = subprocess.Popen([SASLAUTHD, "-a", "getpwent", "-m", run,
                                 "-d", "-n", "0"], env=env,
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL,
                                # saslauthd signals its whole process
                                # group when it stops
                                start_new_session=True)

        def stop():
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

        self.addCleanup(stop)
        mux = os.path.join(run, "mux")
        deadline = time.monotonic() + 10
        while not os.path.exists(mux):
            if proc.poll() is not None:
                self.skipTest("saslauthd did not start (exit %s)" %
                              proc.returncode)
            if time.monotonic() > deadline:
                self.fail("saslauthd made no socket within 10 s")
            time.sleep(0.05)
        return mux

    def test_saslauthd(self):
        s = self.sasl_server(users=False, start=False)
        mux = self.start_saslauthd(s)
        s.maildir("dave", [M1])
        s.start_sasl(sasl={"pwcheck-method": "saslauthd",
                           "saslauthd-path": mux, "realm": None,
                           "sasldb": None})
        mechs = sasl_line(self.capa(self.conn()))
        self.assertEqual(mechs, ["PLAIN", "LOGIN"])
        for mech in ("PLAIN", "LOGIN"):
            reply, _, c = self.auth(mech, "dave", "dave pw")
            self.assertOk(reply, mech)
            self.assertTrue(c.cmd("STAT").startswith("+OK 1 "))
            c.cmd("QUIT")
        p = s.login("dave", "dave pw")
        p.quit()
        for user, pw in (("dave", "wrong"), ("nobody", "dave pw")):
            reply, _, _ = self.auth("PLAIN", user, pw)
            self.assertEqual(reply, FAILED)

    def test_no_master_login_with_saslauthd(self):
        # saslauthd cannot say whether a user exists: no targets
        s = self.sasl_server(users=False, start=False)
        mux = self.start_saslauthd(s)
        s.add_user("admin", "admin pw")
        s.maildir("dave", [M1])
        s.start_sasl(sasl={"pwcheck-method": "saslauthd",
                           "saslauthd-path": mux, "realm": None,
                           "sasldb": None},
                     load=["auth-sasl", "auth-passwd-file", "store-maildir"],
                     server={"master-passdb": "auth-passwd-file"})
        self.assertPopError(lambda: s.login("dave*admin", "admin pw"),
                            "AUTH")
        s.wait_for_log(r"user 'dave': no master login with pwcheck = "
                       r"saslauthd")
        s.login("dave", "dave pw").quit()

    def test_saslauthd_down_is_a_temporary_failure(self):
        s = self.sasl_server(users=False, start=False)
        s.start_sasl(sasl={"pwcheck-method": "saslauthd",
                           "saslauthd-path": os.path.join(s.dir, "no-mux"),
                           "sasldb": None})
        reply, _, _ = self.auth("PLAIN", "dave", "dave pw")
        self.assertEqual(reply,
                         "-ERR [SYS/TEMP] Authentication temporarily "
                         "unavailable")


if __name__ == "__main__":
    poplartest.main()
