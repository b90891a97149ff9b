# SPDX-License-Identifier: MIT
"""poplar-uidl-import from Cyrus IMAP's pop3d (Debian's cyrus-pop3d 3.6).

Cyrus makes its UIDLs from its own index ("<uidvalidity>.<uid>"), so they
can only be carried over by asking the server, which is what the tool is
for.  Mail is delivered through Cyrus's lmtpd; mpop, fetchmail and
getmail6 fetch it and keep it on the server.  The site then copies the
spool's message files into Maildirs, the tool maps the old UIDLs while
Cyrus still serves, Cyrus is stopped and poplard started on the same
port: the same clients fetch nothing again, and new mail exactly once.

Debian's cyrus-pop3d conflicts with the Dovecot and Mailutils servers the
other tests need (Conflicts: pop3-server), so Cyrus runs from its
unpacked packages in a private root (privroot.py), never installed here.
"""

import mailbox
import os
import shutil
import tempfile
import unittest

import poplartest
import migrate_tool_lib as lib
from migrate_tool_lib import message


def copy_spool_to_maildir(files, maildir_path):
    """The copy a site makes of Cyrus's mail: each spool file (as Cyrus
    keeps it, CRLF line ends) becomes a Maildir file with LF ends."""
    dst = mailbox.Maildir(maildir_path, create=True)
    for path in files:
        with open(path, "rb") as f:
            dst.add(f.read().replace(b"\r\n", b"\n"))
    return len(files)


class TestCyrusMigration(poplartest.PoplarTestCase):

    def setUp(self):
        if not lib.TOOL:
            self.skipTest("POPLAR_UIDL_IMPORT is not set")
        import cyrus
        self.tmp = tempfile.mkdtemp(prefix="uidl-import-cyrus-")
        os.chmod(self.tmp, 0o755)
        self.addCleanup(shutil.rmtree, self.tmp, True)
        # Skips with its reason when the packages cannot be had.
        self.old = cyrus.Cyrus(self.tmp)
        self.addCleanup(self.old.stop)

    def users_file(self, lines):
        path = os.path.join(self.tmp, "users")
        with open(path, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write("".join(l + "\n" for l in lines))
        return path

    def test_nothing_downloaded_twice(self):
        alice = self.old.add_user("alice", "alice pw")
        port = self.old.start()
        for i in range(3):
            self.old.deliver(alice, message("before %d" % i,
                                            "old mail %d" % i))
        clients = lib.Clients(os.path.join(self.tmp, "clients"), alice,
                              "alice pw")
        if not clients.available:
            self.skipTest("none of mpop, fetchmail, getmail6 is installed")
        for c in clients.available:
            self.assertEqual(clients.run(c, port), 3, c)
            self.assertEqual(clients.run(c, port), 0, c + " (second run)")
        # Mail that arrives while Cyrus still serves, the same message
        # twice among it.
        twice = message("twice", "same")
        self.old.deliver(alice, twice)
        self.old.deliver(alice, twice)
        for c in clients.available:
            self.assertEqual(clients.run(c, port), 2, c)
        old = lib.old_view(port, alice, "alice pw")
        self.assertEqual(len(old), 5)
        for uidl in old:
            self.assertRegex(uidl, r"^\d+\.\d+$")  # Cyrus's own

        srv = self.server(start=False)
        maildir = srv.add_user(alice, "alice pw").maildir.path
        self.assertEqual(copy_spool_to_maildir(self.old.spool_messages(),
                                               maildir), 5)
        users = self.users_file(["%s:alice pw:%s" % (alice, maildir)])
        rc, out, err = lib.run_tool("--users", users, "--server",
                                    "%s:%d" % (lib.HOST, port),
                                    "--tls", "no", "--verbose")
        self.assertEqual(rc, 0, out + err)
        s = lib.summaries(out)[alice]
        self.assertEqual((s["old"], s["maildir"], s["matched"],
                          s["recorded"], s["unmatched"], s["ambiguous"]),
                         (5, 5, 5, 5, 0, 0), out)
        self.old.stop()

        srv.start(server={"listen": "%s:%d" % (lib.HOST, port)})
        p = srv.login(alice, "alice pw")
        shown = sorted(l.decode().split(" ", 1)[1] for l in p.uidl()[1])
        p.quit()
        self.assertEqual(shown, sorted(old), "Poplar shows other UIDLs")
        for c in clients.available:
            self.assertEqual(clients.run(c, port), 0,
                             c + " downloaded old mail again")
        srv.users[alice].maildir.add(message("after", "new mail"))
        for c in clients.available:
            self.assertEqual(clients.run(c, port), 1, c)
            self.assertEqual(clients.run(c, port), 0, c)


if __name__ == "__main__":
    poplartest.main()
