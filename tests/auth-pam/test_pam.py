# SPDX-License-Identifier: MIT
"""auth-pam end to end: poplard under pam_wrapper, with a PAM stack of
pam_matrix (users from a file of this test) and the test module
pam-fixed-result.so, driven with Python's poplib.  The machine's real
accounts are never used.

Environment (from tests/auth-pam/meson.build): what the integration
harness needs (POPLARD, POPLAR_PLUGINS) and PAM_WRAPPER_LIB,
NSS_WRAPPER_LIB, PAM_MATRIX_MODULE, FIXED_RESULT_MODULE.
"""

import os
import poplib
import subprocess
import sys
import threading
import unittest

import mastertest
import poplartest
from poplartest import Conn, Maildir

PAM_WRAPPER_LIB = os.environ.get("PAM_WRAPPER_LIB", "")
NSS_WRAPPER_LIB = os.environ.get("NSS_WRAPPER_LIB", "")
PAM_MATRIX = os.environ.get("PAM_MATRIX_MODULE", "")
FIXED_RESULT = os.environ.get("FIXED_RESULT_MODULE", "")

M1 = b"Subject: one\n\nfirst\n"
M2 = b"Subject: two\n\nsecond\n"

# user -> (password, the service pam_matrix's account module lets it use)
MATRIX_USERS = {
    "alice": ("alice pw", "poplar"),
    "bob": ("bob-pw", "poplar"),
    # right password, but only allowed another service: pam_acct_mgmt
    # says PAM_PERM_DENIED
    "locked": ("locked-pw", "imap-only"),
    # the test module's account line says PAM_ACCT_EXPIRED
    "expired": ("expired-pw", "poplar"),
}


def sanitizer_runtime():
    """[the libasan poplard links to] when it was built with
    AddressSanitizer, else []: pam_wrapper loads libpam without
    RTLD_DEEPBIND (which sanitizers cannot work with) only when it sees
    libasan in LD_PRELOAD."""
    try:
        out = subprocess.run(["ldd", poplartest.POPLARD], capture_output=True,
                             timeout=30, stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    for line in out.decode(errors="replace").splitlines():
        parts = line.split()
        if parts and parts[0].startswith("libasan.so") and len(parts) > 2:
            return [parts[2]]
    return []


class PamServer(poplartest.Server):
    """A Server whose poplard runs under pam_wrapper with a PAM stack and
    users of its own.  auth-passwd-file is loaded after auth-pam, so a
    user PAM does not know (PAM_USER_UNKNOWN) is tried there."""

    def __init__(self, service="poplar", matrix_passdb=None,
                 passwd_users=()):
        super().__init__()
        # With @passwd_users poplard also runs under nss_wrapper, whose
        # passwd database holds just them (with this process's ids).
        self.nss_passwd = None
        if passwd_users:
            self.nss_passwd = os.path.join(self.dir, "nss-passwd")
            self.nss_group = os.path.join(self.dir, "nss-group")
            with open(self.nss_passwd, "w") as f:
                for name in passwd_users:
                    f.write("%s:x:%d:%d::%s:/bin/false\n"
                            % (name, os.getuid(), os.getgid(), self.dir))
            with open(self.nss_group, "w") as f:
                f.write("poplartest:x:%d:\n" % os.getgid())
        self.service_dir = os.path.join(self.dir, "pam.d")
        os.mkdir(self.service_dir)
        self.matrix_passdb = matrix_passdb or os.path.join(self.dir,
                                                           "matrix")
        with open(os.path.join(self.dir, "matrix"), "w") as f:
            for name, (password, service) in MATRIX_USERS.items():
                f.write("%s:%s:%s\n" % (name, password, service))
        self.mail_root = os.path.join(self.dir, "mail")
        self.service = service
        self.write_stack(service)
        # An empty passwd-file: users are added by the tests that chain.
        self._write_passwd()

    def write_stack(self, service):
        with open(os.path.join(self.service_dir, service), "w") as f:
            f.write("auth     requisite %s ghost=PAM_USER_UNKNOWN\n"
                    % FIXED_RESULT)
            f.write("auth     required  %s passdb=%s\n"
                    % (PAM_MATRIX, self.matrix_passdb))
            f.write("account  requisite %s expired=PAM_ACCT_EXPIRED\n"
                    % FIXED_RESULT)
            f.write("account  required  %s passdb=%s\n"
                    % (PAM_MATRIX, self.matrix_passdb))

        # What PAM uses for a service without a file, as on most systems.
        with open(os.path.join(self.service_dir, "other"), "w") as f:
            f.write("auth     required  %s *=PAM_AUTH_ERR\n" % FIXED_RESULT)
            f.write("account  required  %s *=PAM_PERM_DENIED\n"
                    % FIXED_RESULT)

    def maildir(self, user):
        return Maildir(os.path.join(self.mail_root, user))

    def config_text(self, server=None, load=None, sections=None, extra=""):
        all_sections = {"auth-pam": {
            "service": self.service,
            "mail": "maildir:%s/%%u" % self.mail_root,
        }}
        for name, keys in (sections or {}).items():
            all_sections.setdefault(name, {}).update(keys)
        return super().config_text(
            server=server,
            load=load or ["auth-pam", "auth-passwd-file", "store-maildir"],
            sections=all_sections, extra=extra)

    def start(self, **config):
        # Only poplard runs under the wrappers, never this test process.
        saved = dict(os.environ)
        asan = os.environ.get("ASAN_OPTIONS", "")
        preload = sanitizer_runtime() + [PAM_WRAPPER_LIB]
        if self.nss_passwd:
            preload.append(NSS_WRAPPER_LIB)
            os.environ.update({"NSS_WRAPPER_PASSWD": self.nss_passwd,
                               "NSS_WRAPPER_GROUP": self.nss_group})
        os.environ.update({
            "LD_PRELOAD": ":".join(preload),
            "PAM_WRAPPER": "1",
            "PAM_WRAPPER_SERVICE_DIR": self.service_dir,
            # A poplard built with sanitizers: their runtime does not come
            # first any more, and RTLD_DEEPBIND would defeat them.
            "ASAN_OPTIONS": (asan + ":" if asan else "") +
                            "verify_asan_link_order=0",
            "PAM_WRAPPER_DISABLE_DEEPBIND": "1",
        })
        try:
            return super().start(**config)
        finally:
            os.environ.clear()
            os.environ.update(saved)


class PamTestCase(poplartest.PoplarTestCase):

    def pam_server(self, start=True, **kw):
        s = PamServer(**kw)
        self._servers.append(s)
        self.addCleanup(self._cleanup_server, s)
        if start:
            s.start()
        return s

    def attempt(self, srv, user, password):
        """The reply to PASS after USER on a fresh connection."""
        with Conn(srv.port) as c:
            c.greeting()
            self.assertOk(c.cmd("USER " + user), "USER " + user)
            reply = c.cmd("PASS " + password)
            c.cmd("QUIT")
        return reply


class PamLoginTest(PamTestCase):

    def setUp(self):
        self.srv = self.pam_server(start=False)
        self.srv.maildir("alice").add(M1)
        self.srv.maildir("alice").add(M2)
        self.srv.maildir("bob").add(M1)
        self.srv.start()

    def test_right_password(self):
        p = self.srv.login("alice", "alice pw")
        try:
            self.assertEqual(p.stat()[0], 2)
            self.assertEqual(b"\r\n".join(p.retr(2)[1]) + b"\r\n",
                             poplartest.crlf(M2))
            p.quit()
        finally:
            p.close()
        self.srv.wait_for_log(r"login: user=alice mech=USER, 2 messages")

    def test_wrong_password_and_unknown_user_read_alike(self):
        wrong = self.attempt(self.srv, "alice", "alice-pw")
        unknown = self.attempt(self.srv, "nobody", "alice pw")
        self.assertErr(wrong, "wrong password", code="AUTH")
        self.assertErr(unknown, "unknown user", code="AUTH")
        self.assertEqual(wrong, unknown)
        # a locked account with a wrong password learns nothing either
        self.assertEqual(self.attempt(self.srv, "locked", "guess"), wrong)
        self.assertEqual(self.attempt(self.srv, "expired", "guess"), wrong)
        log = self.srv.log_text()
        self.assertIn("user 'alice': authentication failed "
                      "(pam_authenticate: Authentication failure)", log)
        self.assertNotIn("alice-pw", log)
        self.assertNotIn("alice pw", log)

    def test_locked_account(self):
        reply = self.attempt(self.srv, "locked", "locked-pw")
        self.assertEqual(
            reply, "-ERR [SYS/PERM] Account locked or not allowed to log in")
        self.srv.wait_for_log(r"user 'locked': right password, but the "
                              r"account is refused \(pam_acct_mgmt: "
                              r"Permission denied\)")

    def test_expired_account(self):
        reply = self.attempt(self.srv, "expired", "expired-pw")
        self.assertEqual(reply, "-ERR [SYS/PERM] Account expired")

    def test_poplib_errors(self):
        """The same through poplib, as a mail client sees it."""
        p = self.srv.pop()
        try:
            p.user("locked")
            with self.assertRaises(poplib.error_proto) as cm:
                p.pass_("locked-pw")
            self.assertIn(b"[SYS/PERM]", cm.exception.args[0])
            # a failed login leaves the connection usable
            p.user("bob")
            p.pass_("bob-pw")
            self.assertEqual(p.stat()[0], 1)
            p.quit()
        finally:
            p.close()

    def test_concurrent_logins(self):
        errors = []

        def login():
            try:
                p = self.srv.login("bob", "bob-pw")
                try:
                    if p.stat()[0] != 1:
                        errors.append("bob sees the wrong mailbox")
                    p.quit()
                finally:
                    p.close()
            except poplib.error_proto as e:
                # two sessions of one mailbox: the second may be IN-USE
                if b"[IN-USE]" not in e.args[0]:
                    errors.append(repr(e))
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))
            try:
                reply = self.attempt(self.srv, "alice", "bad")
                if not reply.startswith("-ERR [AUTH]"):
                    errors.append("wrong password got %r" % reply)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=login) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])


class PamChainTest(PamTestCase):

    def test_user_unknown_goes_to_next_database(self):
        """PAM_USER_UNKNOWN is NO_SUCH_USER: auth-passwd-file, loaded
        after auth-pam, answers for the user."""
        srv = self.pam_server(start=False)
        user = srv.add_user("ghost", "file-pw", [M1],
                            mail="maildir:%h/Maildir")
        srv.start()
        p = srv.login(user)
        try:
            self.assertEqual(p.stat()[0], 1)
            p.quit()
        finally:
            p.close()
        srv.wait_for_log(r"unknown user 'ghost' \(pam_authenticate:")
        # a user PAM refuses is not tried further
        srv.add_user("bob", "file-pw")
        self.assertErr(self.attempt(srv, "bob", "file-pw"), code="AUTH")


class PamMasterLoginTest(PamTestCase, mastertest.MasterLoginChecks):
    """A master user of the passwd-file logs in as a PAM user: PAM cannot
    look a user up, so the account is the passwd database's (here
    nss_wrapper's), with the mail location a PAM login gets."""

    def test_master_login(self):
        srv = self.pam_server(start=False, passwd_users=["alice"])
        srv.maildir("alice").add(M1)
        srv.maildir("alice").add(M2)
        srv.add_user("admin", "admin pw")
        srv.start(server={"master-passdb": "auth-passwd-file"})
        self.assert_master_login(srv, "alice", "admin", "admin pw", 2)
        # bob is a PAM user but has no passwd entry: no target
        self.assert_master_login_refused(srv, "bob", "admin", "admin pw")
        self.assert_master_login_refused(srv, "nobody", "admin", "admin pw")
        srv.wait_for_log(r"unknown user 'nobody' for a master login "
                         r"\(no passwd entry\)")
        srv.wait_for_log(r"master login refused: master=admin "
                         r"target=nobody: no such user")


class PamTempfailTest(PamTestCase):

    def test_stack_cannot_decide(self):
        """pam_matrix without its file: PAM_AUTHINFO_UNAVAIL, and the
        client is told to come back later."""
        srv = self.pam_server(
            matrix_passdb="/nonexistent/poplar-test/matrix")
        reply = self.attempt(srv, "alice", "alice pw")
        self.assertEqual(
            reply, "-ERR [SYS/TEMP] Authentication temporarily unavailable")
        srv.wait_for_log(r"error: .*the PAM service 'poplar' could not "
                         r"decide \(pam_authenticate:")


class PamConfigTest(PamTestCase):

    def test_check_config(self):
        srv = self.pam_server(start=False)
        srv.write_config()
        r = subprocess.run([poplartest.POPLARD, "--check-config", "-c",
                            srv.conf], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        srv.write_config(sections={"auth-pam": {"setcred": "perhaps",
                                                "servce": "poplar"}})
        r = subprocess.run([poplartest.POPLARD, "--check-config", "-c",
                            srv.conf], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=30)
        out = (r.stdout + r.stderr).decode(errors="replace")
        self.assertNotEqual(r.returncode, 0, out)
        self.assertIn("[auth-pam] setcred", out)
        self.assertIn("servce", out)

    def test_list_plugins(self):
        srv = self.pam_server(start=False)
        r = subprocess.run([poplartest.POPLARD, "--list-plugins",
                            "--plugin-dir", srv.plugin_dir],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=30)
        out = (r.stdout + r.stderr).decode(errors="replace")
        self.assertEqual(r.returncode, 0, out)
        self.assertIn("auth-pam", out)


def main():
    poplartest.require_environment()
    missing = [n for n, v in (("PAM_WRAPPER_LIB", PAM_WRAPPER_LIB),
                              ("PAM_MATRIX_MODULE", PAM_MATRIX),
                              ("FIXED_RESULT_MODULE", FIXED_RESULT)) if not v]
    if missing:
        sys.stderr.write("%s not set; run these tests through `meson test`\n"
                         % ", ".join(missing))
        sys.exit(2)
    unittest.main(verbosity=2)


if __name__ == "__main__":
    main()
