# SPDX-License-Identifier: MIT
"""poplar-uidl-import over TLS: implicit (POP3S) and STLS, the server's
certificate checked against a CA file, and refused without it.  The old
server here is a poplard with a TLS listener (tests/tls/tlstest.py), a
real POP3 server like any other; its UIDLs are what Poplar gives a
Maildir without a record."""

import os
import shutil
import subprocess
import tempfile

import poplartest
import tlstest
import migrate_tool_lib as lib
from migrate_tool_lib import message


class TestTls(poplartest.PoplarTestCase):

    def setUp(self):
        if not lib.TOOL:
            self.skipTest("POPLAR_UIDL_IMPORT is not set")
        if not shutil.which("certtool"):
            self.skipTest("certtool is needed (Debian package gnutls-bin)")
        s = tlstest.TlsServer()
        self._servers.append(s)
        self.addCleanup(self._cleanup_server, s)
        self.old = s
        user = s.add_user("alice", "alice pw")
        for i in range(3):
            user.maildir.add(message("tls %d" % i, "body %d" % i))
        s.start()
        # The new side: a copy of the same files.
        self.tmp = tempfile.mkdtemp(prefix="uidl-import-tls-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.copy = os.path.join(self.tmp, "Maildir")
        shutil.copytree(user.maildir.path, self.copy)
        for sub in ("new", "cur"):
            for name in os.listdir(os.path.join(self.copy, sub)):
                # another unique part, so the UIDLs must come from the server
                os.rename(os.path.join(self.copy, sub, name),
                          os.path.join(self.copy, sub, "copy-" + name))
        self.users = os.path.join(self.tmp, "users")
        with open(self.users, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write("alice:alice pw:%s\n" % self.copy)

    def old_uidls(self):
        p = self.old.pop3s()
        p.user("alice")
        p.pass_("alice pw")
        uidls = sorted(l.decode().split()[1] for l in p.uidl()[1])
        p.quit()
        return uidls

    def tool(self, tls, port, *extra):
        return lib.run_tool("--users", self.users, "--server",
                            "localhost:%d" % port, "--tls", tls, *extra)

    def check_imported(self, rc, out, err):
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(lib.summaries(out)["alice"]["recorded"], 3, out)
        self.assertEqual(sorted(lib.read_record(self.copy).values()),
                         self.old_uidls())

    def test_implicit_tls(self):
        self.check_imported(*self.tool("implicit", self.old.tls_port,
                                       "--ca-file", self.old.pki.ca_cert))

    def test_starttls(self):
        self.check_imported(*self.tool("starttls", self.old.port,
                                       "--ca-file", self.old.pki.ca_cert))

    def test_untrusted_certificate(self):
        other = tlstest.Pki(os.path.join(self.tmp, "other-ca"))
        rc, out, err = self.tool("implicit", self.old.tls_port,
                                 "--ca-file", other.ca_cert)
        self.assertEqual(rc, 1, out + err)
        self.assertRegex(out, r"user alice: FAILED: TLS: the certificate of "
                         r"localhost is not trusted")
        self.assertIsNone(lib.read_record(self.copy))
        # --insecure is for tests like this one.
        self.check_imported(*self.tool("implicit", self.old.tls_port,
                                       "--insecure"))

    def test_sasl_plain_with_authorization_identity(self):
        # The framing of AUTH PLAIN with an authorization identity,
        # against a real server: poplard lets a user act only for itself,
        # so "alice for alice" logs in and "alice for bob" is refused.
        names = os.path.join(self.tmp, "names")
        with open(names, "w") as f:
            f.write("alice::%s\nbob::%s\n" % (self.copy, self.copy))
        pw = os.path.join(self.tmp, "master.pw")
        with open(pw, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write("alice pw\n")
        rc, out, err = lib.run_tool(
            "--users", names, "--server", "localhost:%d" % self.old.port,
            "--tls", "starttls", "--ca-file", self.old.pki.ca_cert,
            "--master-user", "alice", "--master-password-file", pw,
            "--parallel", "1")
        self.assertEqual(rc, 1, out + err)
        self.assertEqual(lib.summaries(out)["alice"]["recorded"], 3, out)
        self.assertRegex(out, r"user bob: FAILED: AUTH PLAIN: .* answered: "
                         r"-ERR \[AUTH\] Authorization identity not permitted")
        self.old.wait_for_log(r"login: user=alice mech=PLAIN")


if __name__ == "__main__":
    poplartest.main()
