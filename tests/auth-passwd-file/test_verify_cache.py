# SPDX-License-Identifier: MIT
"""auth-passwd-file's verify cache in a running poplard: a second login
with the same password is answered from the cache (the plugin says so in a
debug line of that session), a wrong password never is, and once the file
holds a new hash the old password is refused.

Environment (from tests/auth-passwd-file/meson.build): what the
integration harness needs (POPLARD, POPLAR_PLUGINS).
"""

import base64
import hashlib
import os
import re
import shutil
import subprocess
import unittest

import poplartest
from poplartest import Conn

M1 = b"Subject: one\n\nfirst\n"

# SHA512-CRYPT hashes with the default 5000 rounds, as a site would have
# them (openssl passwd -6 -salt Poplar.Cache.v1 'first secret').
FIRST = "first secret"
FIRST_HASH = ("$6$Poplar.Cache.v1$2rhWv4LSiCaIUCOPyEoO4Pwok/iWLmZ12kckLQ."
              "SUdply0AtGy831piZig7sWS/9hSsGMz.a8EGPPRmufxEuM1")
SECOND = "second secret"
SECOND_HASH = ("$6$Poplar.Cache.v2$PX8myW1OqneMRLRQxaKDqJf6N1OKXXRFkyra4hoPdu"
               "oUiJYAFCHBwZZQ.q/Huquxr389u.yzUkQLHfnD1A3JH.")

HIT = "auth-passwd-file: user 'alice': password verified from the cache"


class VerifyCacheTest(poplartest.PoplarTestCase):

    def start(self, **cache_keys):
        self.srv = self.server(start=False)
        self.user = self.srv.add_user("alice", FIRST, [M1])
        self.write_users(FIRST_HASH)
        keys = {"reload-interval": "0"}
        keys.update(cache_keys)
        self.srv.start(sections={"auth-passwd-file": keys})

    def write_users(self, hash_):
        """Replaces the file as an administrator should: a new file
        renamed over the old one."""
        tmp = self.srv.passwd + ".new"
        with open(tmp, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write("alice:{SHA512-CRYPT}%s::::%s::\n" % (
                hash_, self.user.home))
        os.replace(tmp, self.srv.passwd)

    def session_log(self, send_credentials):
        """Runs one login on a new connection; returns (the reply to the
        credentials, the log lines of that session)."""
        mark = self.srv.log_mark()
        with Conn(self.srv.port) as c:
            c.greeting()
            reply = send_credentials(c)
            c.cmd("QUIT")
        # The plugin's lines of a login come before the core's verdict.
        m = self.srv.wait_for_log(r"(\S+): login(?: failed)?: user=alice",
                                  start=mark)
        session = m.group(1)
        lines = [l for l in self.srv.log_lines()[mark:]
                 if (" %s: " % session) in l]
        return reply, lines

    def user_pass(self, password):
        def send(c):
            self.assertOk(c.cmd("USER alice"))
            return c.cmd("PASS " + password)
        return self.session_log(send)

    def auth_plain(self, password):
        def send(c):
            token = base64.b64encode(
                b"\0alice\0" + password.encode()).decode()
            return c.cmd("AUTH PLAIN " + token)
        return self.session_log(send)

    def assertHit(self, lines, hit):
        found = any(HIT in l for l in lines)
        self.assertEqual(found, hit, "%s cache hit in:\n%s" % (
            "expected a" if hit else "expected no", "\n".join(lines)))

    def test_second_login_from_the_cache(self):
        self.start()
        reply, lines = self.user_pass(FIRST)
        self.assertOk(reply, "first login")
        self.assertHit(lines, False)

        reply, lines = self.user_pass(FIRST)
        self.assertOk(reply, "second login")
        self.assertHit(lines, True)

        # SASL PLAIN asks the same database
        reply, lines = self.auth_plain(FIRST)
        self.assertOk(reply, "AUTH PLAIN")
        self.assertHit(lines, True)

        # a session whose login came from the cache is a whole session
        p = self.srv.login("alice", FIRST)
        try:
            self.assertEqual(p.stat()[0], 1)
            self.assertEqual(b"\r\n".join(p.retr(1)[1]) + b"\r\n",
                             poplartest.crlf(M1))
        finally:
            p.quit()

        reply, lines = self.user_pass("first secreT")
        self.assertErr(reply, "wrong password")
        self.assertHit(lines, False)
        self.assertTrue(any("wrong password" in l for l in lines), lines)
        self.assertNotIn("first secre", self.srv.log_text())

    def test_new_hash_refuses_old_password(self):
        self.start()
        self.assertOk(self.user_pass(FIRST)[0])
        reply, lines = self.user_pass(FIRST)
        self.assertOk(reply)
        self.assertHit(lines, True)

        self.write_users(SECOND_HASH)
        reply, lines = self.user_pass(FIRST)
        self.assertErr(reply, "old password after the change")
        self.assertHit(lines, False)

        reply, lines = self.user_pass(SECOND)
        self.assertOk(reply, "new password")
        self.assertHit(lines, False)
        reply, lines = self.user_pass(SECOND)
        self.assertOk(reply, "new password again")
        self.assertHit(lines, True)

        reply, lines = self.user_pass(FIRST)
        self.assertErr(reply, "old password, later")
        self.assertHit(lines, False)

    def test_cache_off(self):
        self.start(**{"verify-cache": "no"})
        for i in range(3):
            reply, lines = self.user_pass(FIRST)
            self.assertOk(reply, "login %d" % (i + 1))
            self.assertHit(lines, False)

    def test_check_config(self):
        self.srv = self.server(start=False)
        self.srv.add_user("alice", FIRST)
        text = self.srv.config_text(sections={"auth-passwd-file": {
            "verify-cache": "perhaps",
            "verify-cache-ttl": "2d",
            "verify-cache-size": "0",
        }})
        with open(self.srv.conf, "w") as f:
            f.write(text)
        res = subprocess.run(
            [poplartest.POPLARD, "--check-config", "-c", self.srv.conf],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=60, stdin=subprocess.DEVNULL)
        self.assertNotEqual(res.returncode, 0, res.stdout)
        lines = text.splitlines()
        for key in ("verify-cache", "verify-cache-ttl", "verify-cache-size"):
            number = next(n for n, l in enumerate(lines, 1)
                          if l.startswith(key + " = "))
            rx = r"poplar\.conf:%d: \[auth-passwd-file\] %s:" % (
                number, re.escape(key))
            self.assertRegex(res.stdout, rx)


def doveadm_pw(scheme, password):
    """A hash made by Dovecot's own tool (Debian package dovecot-core)."""
    return subprocess.run(["doveadm", "pw", "-s", scheme, "-p", password],
                          check=True, stdout=subprocess.PIPE, text=True,
                          timeout=60).stdout.strip()


class OtherSchemesTest(poplartest.PoplarTestCase):
    """Schemes beyond crypt(3), checked by libpoplar: an {SSHA512} user
    (RFC 2307 style, made by hashlib with a salt of its own) and an
    {ARGON2ID} user (made by doveadm), logging in end to end."""

    def test_ssha512_and_argon2id_users(self):
        if not shutil.which("doveadm"):
            raise unittest.SkipTest("doveadm (dovecot-core) is not installed")
        salt = b"poplar-salt"
        ssha512 = "{SSHA512}" + base64.b64encode(hashlib.sha512(
            b"bob secret" + salt).digest() + salt).decode()
        argon2id = doveadm_pw("ARGON2ID", "carol secret")
        self.srv = self.server(start=False)
        bob = self.srv.add_user("bob", "unused", [M1])
        carol = self.srv.add_user("carol", "unused", [M1])
        with open(self.srv.passwd, "w") as f:
            f.write("bob:%s::::%s::\ncarol:%s::::%s::\n" % (
                ssha512, bob.home, argon2id, carol.home))
        self.srv.start(sections={"auth-passwd-file": {"reload-interval": "0"}})

        for user, password in (("bob", "bob secret"),
                               ("carol", "carol secret")):
            p = self.srv.login(user, password)
            try:
                self.assertEqual(p.stat()[0], 1)
            finally:
                p.quit()
            with Conn(self.srv.port) as c:
                c.greeting()
                self.assertOk(c.cmd("USER " + user))
                self.assertErr(c.cmd("PASS " + password + "x"),
                               "wrong password of " + user)
        self.assertNotIn("secret", self.srv.log_text())


if __name__ == "__main__":
    poplartest.main()
