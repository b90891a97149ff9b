# SPDX-License-Identifier: MIT
"""auth-ldap end to end: a real slapd started by the test on loopback
ports with its own configuration and users, poplard with auth-ldap, and
Python's poplib (or a raw connection) as the client.

Environment (from tests/auth-ldap/meson.build): what the integration
harness needs (POPLARD, POPLAR_PLUGINS, PYTHONPATH with its directory).
"""

import base64
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import unittest

import poplartest
from poplartest import Conn, Maildir

import mastertest
import slapdtest
from slapdtest import PEOPLE, SERVICE_DN, SERVICE_PW, SUFFIX, Slapd

M1 = b"Subject: one\n\nfirst\n"
M2 = b"Subject: two\n\nsecond\n"
M3 = b"Subject: three\n\nthird\n"

AUTH_FAILED = "-ERR [AUTH] Authentication failed"
TEMP_FAILED = "-ERR [SYS/TEMP] Authentication temporarily unavailable"


class LdapServer(poplartest.Server):
    """A Server whose users live in LDAP: poplard loads auth-ldap first,
    then auth-passwd-file (empty unless a test adds users)."""

    def __init__(self):
        super().__init__()
        self.mail_root = os.path.join(self.dir, "mail")
        self.ldap_section = {}
        self._write_passwd()

    def maildir(self, name):
        return Maildir(os.path.join(self.mail_root, name))

    def config_text(self, server=None, load=None, sections=None, extra=""):
        all_sections = {"auth-ldap": dict(self.ldap_section)}
        for name, keys in (sections or {}).items():
            all_sections.setdefault(name, {}).update(keys)
        return super().config_text(
            server=server,
            load=load or ["auth-ldap", "auth-passwd-file", "store-maildir"],
            sections=all_sections, extra=extra)


class LdapTestCase(poplartest.PoplarTestCase):

    def setUp(self):
        self.srv = LdapServer()
        self._servers.append(self.srv)
        self.addCleanup(self._cleanup_server, self.srv)
        self.slapd = Slapd(self.srv.dir)
        self.addCleanup(self.slapd.stop)
        self.alice_mail = self.srv.maildir("alice-box")
        self.alice_mail.add(M1)
        self.alice_mail.add(M2)
        self.bob_mail = self.srv.maildir("bob-box")
        self.bob_mail.add(M3)
        # the mail location comes from the directory
        self.slapd.add_user("alice", "alice pw",
                            mailLocation=self.alice_mail.path,
                            mailQuota="2G")
        self.slapd.add_user("bob", "bob-pw",
                            mailLocation=self.bob_mail.path)
        # two entries for one name: the filter is ambiguous
        self.slapd.add_user("twin", "twin-pw")
        self.slapd.add_user("twin", "twin-pw", ou="staff")
        # an entry without a password
        self.slapd.add_user("nopass", None)
        # runs first of the clean-ups, before the directory is removed
        self.addCleanup(self._keep_slapd_log)

    def run(self, result=None):
        self._slapd_log = ""
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            sys.stderr.write("\n--- slapd log ---\n%s\n" % "\n".join(
                self._slapd_log.splitlines()[-80:]))
        return out

    def _keep_slapd_log(self):
        self._slapd_log = self.slapd.log_text()

    def search_section(self, **extra):
        section = {
            "uri": self.slapd.uri,
            "base": SUFFIX,
            "filter": "(&(objectClass=posixAccount)(uid=%u))",
            "bind-dn": SERVICE_DN,
            "bind-password": SERVICE_PW,
            "user-attribute": "uid",
            "mail-attribute": "mailLocation",
            "mail-template": "maildir:%$",
            "home-attribute": "homeDirectory",
            "fields": "quota=mailQuota",
            "timeout": "3s",
            "network-timeout": "2s",
        }
        section.update(extra)
        return section

    def start(self, section, slapd=True):
        if slapd:
            self.slapd.start()
        self.srv.ldap_section = section
        self.srv.start()

    def attempt(self, user, password):
        """The reply to PASS after USER on a fresh connection."""
        with Conn(self.srv.port) as c:
            c.greeting()
            self.assertOk(c.cmd("USER " + user), "USER " + user)
            reply = c.cmd("PASS " + password)
            c.cmd("QUIT")
        return reply

    def stat_as(self, user, password):
        """Logs in with poplib and returns the message count."""
        p = self.srv.login(user, password)
        try:
            n = p.stat()[0]
            p.quit()
        finally:
            p.close()
        return n


class SearchBindTest(LdapTestCase):
    """base + filter + bind-dn: search for the entry, then bind as it."""

    def test_right_password_opens_the_mailbox_from_ldap(self):
        self.start(self.search_section())
        self.assertEqual(self.stat_as("alice", "alice pw"), 2)
        self.assertEqual(self.stat_as("bob", "bob-pw"), 1)
        # RETR reads the mailbox the directory named
        p = self.srv.login("alice", "alice pw")
        try:
            self.assertEqual(b"\r\n".join(p.retr(1)[1]) + b"\r\n",
                             poplartest.crlf(M1))
            p.quit()
        finally:
            p.close()

    def test_wrong_password_and_unknown_user_read_alike(self):
        self.start(self.search_section())
        wrong = self.attempt("alice", "alice-pw")
        unknown = self.attempt("nobody", "alice pw")
        self.assertEqual(wrong, AUTH_FAILED)
        self.assertEqual(unknown, AUTH_FAILED)
        self.assertEqual(self.attempt("nopass", "x"), AUTH_FAILED)
        log = self.srv.log_text()
        self.assertIn("user 'alice': wrong password (bind as "
                      "uid=alice,ou=people,dc=example,dc=org: Invalid "
                      "credentials)", log)
        self.assertIn("unknown user 'nobody' (no entry matches", log)
        self.assertNotIn("alice pw", log)
        self.assertNotIn("alice-pw", log)

    def test_unknown_user_costs_a_bind(self):
        """An unknown user still binds (a DN that does not exist), so the
        reply comes after the same round trips as a wrong password."""
        self.start(self.search_section())
        self.assertEqual(self.attempt("nobody", "guess"), AUTH_FAILED)
        dummy = 'BIND dn="cn=poplar-no-such-user,%s"' % SUFFIX
        deadline = time.monotonic() + 5
        while dummy not in self.slapd.log_text():
            self.assertLess(time.monotonic(), deadline,
                            "no dummy bind in the slapd log")
            time.sleep(0.05)

    def test_empty_password_refused(self):
        """slapd here accepts a DN with an empty password as an anonymous
        bind ("allow bind_anon_cred"): the plugin must refuse it itself."""
        self.start(self.search_section())
        with Conn(self.srv.port) as c:
            c.greeting()
            self.assertOk(c.cmd("USER alice"))
            self.assertErr(c.cmd("PASS "), "PASS with an empty password")
            # SASL PLAIN carries an empty password as easily
            plain = base64.b64encode(b"\0alice\0").decode()
            self.assertErr(c.cmd("AUTH PLAIN " + plain),
                           "AUTH PLAIN with an empty password")
            c.cmd("QUIT")
        log = self.srv.log_text()
        self.assertIn("user 'alice': empty password refused", log)
        self.assertNotIn("login: user=alice", log)
        self.assertNotIn('BIND dn="uid=alice,', self.slapd.log_text())

    def test_filter_injection(self):
        self.start(self.search_section())
        for name in ("*", "al*", "alice)(uid=*", "*)(|(uid=*",
                     "alice\\2a"):
            self.assertEqual(self.attempt(name, "alice pw"), AUTH_FAILED,
                             name)
        self.assertIn("(uid=al\\2a)", self.srv.log_text())

    def test_canonical_name_and_fields(self):
        """ALICE finds alice's entry (LDAP matching ignores case); the uid
        attribute gives the name the session runs as."""
        self.start(self.search_section())
        self.assertEqual(self.stat_as("ALICE", "alice pw"), 2)
        self.srv.wait_for_log(r"login: user=alice mech=USER, 2 messages")

    def test_connections_are_reused(self):
        """Logins borrow pooled connections: ten logins one after the
        other open one search and one bind connection, not ten of each."""
        self.start(self.search_section())
        # slapd's two readiness probes are connections too: wait until
        # both are in its log
        deadline = time.monotonic() + 5
        while self.slapd.log_text().count(" ACCEPT from ") < 2:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        probes = self.slapd.log_text().count(" ACCEPT from ")
        for _ in range(5):
            self.assertEqual(self.stat_as("alice", "alice pw"), 2)
            self.assertEqual(self.attempt("bob", "wrong"), AUTH_FAILED)
        accepted = self.slapd.log_text().count(" ACCEPT from ") - probes
        self.assertEqual(accepted, 2, self.slapd.log_tail())

    def test_ambiguous_filter_refused(self):
        self.start(self.search_section())
        self.assertEqual(self.attempt("twin", "twin-pw"), AUTH_FAILED)
        self.srv.wait_for_log(r"several entries match")

    def test_slapd_restarted_mid_run(self):
        """Pooled connections die with the server; the next login finds
        out, reconnects and succeeds."""
        self.start(self.search_section())
        self.assertEqual(self.stat_as("alice", "alice pw"), 2)
        self.assertEqual(self.stat_as("bob", "bob-pw"), 1)
        self.slapd.restart()
        mark = self.srv.log_mark()
        self.assertEqual(self.stat_as("alice", "alice pw"), 2)
        self.srv.wait_for_log(r"LDAP connection lost .*retrying on a new "
                              r"connection", start=mark)
        self.assertEqual(self.stat_as("bob", "bob-pw"), 1)

    def test_slapd_stopped(self):
        self.start(self.search_section())
        self.assertEqual(self.stat_as("alice", "alice pw"), 2)
        self.slapd.stop()
        t0 = time.monotonic()
        self.assertEqual(self.attempt("alice", "alice pw"), TEMP_FAILED)
        self.assertEqual(self.attempt("nobody", "x"), TEMP_FAILED)
        self.assertLess(time.monotonic() - t0, 10)
        self.srv.wait_for_log(r"error: .*LDAP")
        # and back
        self.slapd.start()
        self.assertEqual(self.stat_as("alice", "alice pw"), 2)

    def test_slapd_down_at_start(self):
        """The server starts without its directory, answers [SYS/TEMP],
        and logs in once the directory is there."""
        self.start(self.search_section(), slapd=False)
        self.assertEqual(self.attempt("alice", "alice pw"), TEMP_FAILED)
        self.slapd.start()
        self.assertEqual(self.stat_as("alice", "alice pw"), 2)

    @unittest.skipUnless(os.geteuid() == 0, "switching uids needs root")
    def test_uid_number_serves_the_session_with_that_uid(self):
        """uidNumber/gidNumber make the session run as that uid: the
        Maildir only that uid may enter is read and changed by it."""
        os.chmod(self.srv.dir, 0o755)
        os.chmod(self.srv.mail_root, 0o755)
        uid, gid = 5000, 5000  # alice's entry (slapdtest numbers them)
        for root, dirs, files in os.walk(self.alice_mail.path):
            for n in [root] + [os.path.join(root, x) for x in dirs + files]:
                os.lchown(n, uid, gid)
        os.chmod(self.alice_mail.path, 0o700)
        self.start(self.search_section(**{"uid-attribute": "uidNumber",
                                          "gid-attribute": "gidNumber"}))
        p = self.srv.login("alice", "alice pw")
        self.assertEqual(p.stat()[0], 2)
        p.dele(1)
        p.quit()
        self.srv.wait_for_log(r"served as uid %d gid %d" % (uid, gid))
        self.assertEqual(self.stat_as("alice", "alice pw"), 1)

    def test_concurrent_logins(self):
        self.start(self.search_section(**{"max-connections": "4"}))
        errors = []

        def worker(i):
            try:
                if i % 2:
                    reply = self.attempt("alice", "wrong%d" % i)
                    if reply != AUTH_FAILED:
                        errors.append("wrong password: %r" % reply)
                else:
                    reply = self.attempt("bob", "bob-pw")
                    if not reply.startswith(("+OK", "-ERR [IN-USE]")):
                        errors.append("bob: %r" % reply)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=worker, args=(i,))
                   for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])

    def test_wrong_service_password(self):
        self.start(self.search_section(**{"bind-password": "not it"}))
        self.assertEqual(self.attempt("alice", "alice pw"), TEMP_FAILED)
        self.srv.wait_for_log(r"bind as cn=poplar,ou=services,"
                              r"dc=example,dc=org \(bind-dn\).*Invalid "
                              r"credentials")

    def test_anonymous_search(self):
        section = self.search_section()
        del section["bind-dn"]
        del section["bind-password"]
        self.start(section)
        self.assertEqual(self.stat_as("bob", "bob-pw"), 1)
        self.assertEqual(self.attempt("bob", "x"), AUTH_FAILED)


class StoredPasswordTest(LdapTestCase):
    """password-attribute: userPassword read by bind-dn and checked with
    libpoplar's schemes, including ones this slapd cannot check itself
    ({SSHA512} needs its pw-sha2 module, {ARGON2ID} its argon2 module)."""

    def setUp(self):
        super().setUp()
        if not shutil.which("doveadm"):
            raise unittest.SkipTest("doveadm (dovecot-core) is not installed")
        salt = b"ldap-salt"
        self.slapd.add_user(
            "sara", None, mailLocation=self.alice_mail.path,
            userPassword="{SSHA512}" + base64.b64encode(hashlib.sha512(
                b"sara pw" + salt).digest() + salt).decode())
        argon2id = subprocess.run(
            ["doveadm", "pw", "-s", "ARGON2ID", "-p", "argo pw"], check=True,
            stdout=subprocess.PIPE, text=True, timeout=60).stdout.strip()
        self.slapd.add_user("argo", None, mailLocation=self.bob_mail.path,
                            userPassword=argon2id)
        self.slapd.add_user("odd", None, userPassword="{NOPE}abc")

    def test_ssha512_and_argon2id(self):
        self.start(self.search_section(**{
            "password-attribute": "userPassword"}))
        self.assertEqual(self.stat_as("sara", "sara pw"), 2)
        self.assertEqual(self.stat_as("argo", "argo pw"), 1)
        # the {SSHA} users of the directory log in the same way
        self.assertEqual(self.stat_as("alice", "alice pw"), 2)
        for user in ("sara", "argo", "alice"):
            self.assertErr(self.attempt(user, "wrong pw"), user)
        self.assertErr(self.attempt("nobody", "wrong pw"), "unknown user")
        self.assertErr(self.attempt("odd", "abc"), "unknown scheme")
        self.srv.wait_for_log(r"user 'odd': userPassword cannot be checked: "
                              r"unknown password scheme \{NOPE\}")
        # no bind as a user: the passwords were checked here
        for user in ("sara", "argo", "alice"):
            self.assertNotIn('BIND dn="uid=%s,' % user,
                             self.slapd.log_text())
        log = self.srv.log_text()
        self.assertNotIn("sara pw", log)
        self.assertNotIn("argo pw", log)

    def test_needs_base_and_bind_dn(self):
        self.srv.ldap_section = {
            "uri": "ldap://127.0.0.1:1/",
            "dn-template": "uid=%u,ou=people," + SUFFIX,
            "password-attribute": "userPassword",
            "default-password-scheme": "NOPE",
        }
        self.srv.write_config()
        r = subprocess.run([poplartest.POPLARD, "--check-config", "-c",
                            self.srv.conf], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=30)
        out = (r.stdout + r.stderr).decode(errors="replace")
        self.assertNotEqual(r.returncode, 0, out)
        self.assertIn("[auth-ldap] password-attribute: needs base and "
                      "bind-dn", out)
        self.assertIn("[auth-ldap] default-password-scheme: 'NOPE'", out)


class TemplateBindTest(LdapTestCase):
    """dn-template: bind straight as uid=%u,ou=people,..."""

    def section(self, **extra):
        s = {
            "uri": self.slapd.uri,
            "dn-template": "uid=%u," + PEOPLE,
            "mail-attribute": "mailLocation",
            "mail-template": "maildir:%$",
            "timeout": "3s",
        }
        s.update(extra)
        return s

    def test_bind_and_own_attributes(self):
        self.start(self.section())
        self.assertEqual(self.stat_as("alice", "alice pw"), 2)
        self.assertEqual(self.attempt("alice", "nope"), AUTH_FAILED)
        # without bind-dn an unknown user cannot be told from a wrong
        # password: refused alike
        self.assertEqual(self.attempt("nobody", "nope"), AUTH_FAILED)

    def test_dn_injection(self):
        self.start(self.section())
        # a comma would move the DN elsewhere: it is escaped, no entry
        self.assertEqual(self.attempt("alice,ou=people", "alice pw"),
                         AUTH_FAILED)
        self.assertIn('uid=alice\\2Cou\\3Dpeople,ou=people',
                      self.slapd.log_text().replace("\\2c", "\\2C")
                      .replace("\\3d", "\\3D"))

    def test_unknown_user_with_bind_dn(self):
        """With bind-dn the plugin can tell an unknown user (the next
        database may know it) from a wrong password."""
        srv_user = self.srv.add_user("carol", "file-pw", [M1])
        self.start(self.section(**{"bind-dn": SERVICE_DN,
                                   "bind-password": SERVICE_PW}))
        p = self.srv.login(srv_user)
        try:
            self.assertEqual(p.stat()[0], 1)
            p.quit()
        finally:
            p.close()
        self.srv.wait_for_log(r"unknown user 'carol' \(no entry uid=carol,")
        # a user LDAP knows is not tried further, even if the file knows it
        self.srv.add_user("bob", "file-pw")
        self.assertEqual(self.attempt("bob", "file-pw"), AUTH_FAILED)


class MasterLoginTest(LdapTestCase, mastertest.MasterLoginChecks):
    """A master user of the passwd-file logs in as LDAP users: the entry
    is found without a bind, and gives the mail location a login would."""

    def start_with_master(self, section):
        self.srv.add_user("admin", "admin pw")
        self.slapd.start()
        self.srv.ldap_section = section
        self.srv.start(server={"master-passdb": "auth-passwd-file"})

    def test_search_mode(self):
        self.start_with_master(self.search_section())
        self.assert_master_login(self.srv, "alice", "admin", "admin pw", 2)
        self.assert_master_login(self.srv, "bob", "admin", "admin pw", 1)
        self.assert_master_login_refused(self.srv, "nobody", "admin",
                                         "admin pw")
        self.srv.wait_for_log(r"master login refused: master=admin "
                              r"target=nobody: no such user")
        # the master's password is no LDAP user's
        self.assert_master_login_refused(self.srv, "alice", "admin",
                                         "alice pw")
        # an ambiguous filter is refused as in a login
        self.assert_master_login_refused(self.srv, "twin", "admin",
                                         "admin pw")

    def test_template_mode(self):
        self.start_with_master(TemplateBindTest.section(
            self, **{"bind-dn": SERVICE_DN, "bind-password": SERVICE_PW}))
        self.assert_master_login(self.srv, "alice", "admin", "admin pw", 2)
        self.assert_master_login_refused(self.srv, "nobody", "admin",
                                         "admin pw")
        self.srv.wait_for_log(r"unknown user 'nobody' for a master login")


class TlsTest(LdapTestCase):

    def section(self, **extra):
        s = self.search_section(**{"ca-file": self.slapd.ca_file})
        s.update(extra)
        return s

    def test_starttls(self):
        self.start(self.section(tls="starttls"))
        self.assertEqual(self.stat_as("alice", "alice pw"), 2)

    def test_ldaps(self):
        self.start(self.section(uri=self.slapd.ldaps_uri))
        self.assertEqual(self.stat_as("alice", "alice pw"), 2)
        self.assertEqual(self.attempt("alice", "bad"), AUTH_FAILED)

    def test_untrusted_server_refused(self):
        """A certificate from another CA: no password is sent."""
        self.start(self.section(tls="starttls",
                                **{"ca-file": self.slapd.other_ca_file}))
        self.assertEqual(self.attempt("alice", "alice pw"), TEMP_FAILED)
        self.srv.wait_for_log(r"error: .*StartTLS")
        self.assertNotIn('BIND dn="uid=alice', self.slapd.log_text())


class TimeoutTest(LdapTestCase):

    def test_silent_server(self):
        """A server that accepts and never answers: the login gives up
        after the timeout with [SYS/TEMP]."""
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        self.addCleanup(silent.close)
        held = []
        stop = threading.Event()

        def accept():
            silent.settimeout(0.2)
            while not stop.is_set():
                try:
                    held.append(silent.accept()[0])
                except OSError:
                    pass

        t = threading.Thread(target=accept, daemon=True)
        t.start()
        self.addCleanup(lambda: [c.close() for c in held])
        self.addCleanup(stop.set)
        port = silent.getsockname()[1]
        self.start(self.search_section(uri="ldap://127.0.0.1:%d/" % port,
                                       timeout="1s"), slapd=False)
        t0 = time.monotonic()
        self.assertEqual(self.attempt("alice", "alice pw"), TEMP_FAILED)
        elapsed = time.monotonic() - t0
        self.assertGreater(elapsed, 0.8)
        self.assertLess(elapsed, 8)


class ConfigTest(LdapTestCase):

    def check(self, section):
        self.srv.ldap_section = section
        self.srv.write_config()
        r = subprocess.run([poplartest.POPLARD, "--check-config", "-c",
                            self.srv.conf], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=30)
        return r.returncode, (r.stdout + r.stderr).decode(errors="replace")

    def test_good_config(self):
        rc, out = self.check(self.search_section())
        self.assertEqual(rc, 0, out)

    def test_bad_config(self):
        rc, out = self.check({
            "uri": "http://example.org/",
            "dn-template": "uid=%x,ou=people",
            "base": SUFFIX,
            "bind-dn": SERVICE_DN,
            "tls": "sometimes",
            "scope": "deep",
            "mail-template": "maildir:/x",
            "timeout": "soon",
        })
        self.assertNotEqual(rc, 0, out)
        for needle in ("[auth-ldap] uri: 'http://example.org/' is not an "
                       "LDAP URL",
                       "[auth-ldap] tls: 'sometimes'",
                       "dn-template",
                       "[auth-ldap] bind-dn: needs a password",
                       "[auth-ldap] mail-template: is set without "
                       "mail-attribute",
                       "[auth-ldap] timeout"):
            self.assertIn(needle, out)

    def test_list_plugins(self):
        r = subprocess.run([poplartest.POPLARD, "--list-plugins",
                            "--plugin-dir", self.srv.plugin_dir],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=30)
        out = (r.stdout + r.stderr).decode(errors="replace")
        self.assertEqual(r.returncode, 0, out)
        self.assertIn("auth-ldap", out)


def main():
    poplartest.require_environment()
    why = slapdtest.available()
    if why:
        sys.stderr.write("cannot run slapd: %s\n" % why)
        sys.exit(2)
    unittest.main(verbosity=2)


if __name__ == "__main__":
    main()
