# SPDX-License-Identifier: MIT
"""poplar-uidl-import from GNU Mailutils pop3d (mbox) to Poplar (Maildir).

Mail is delivered to the old server's mbox files; mpop, fetchmail and
getmail6 fetch it and keep it on the server, remembering its UIDLs.  The
old server is stopped, the mbox files are copied into Maildirs (as a site
would), the tool maps the old UIDLs, and poplard is started on the same
port: the same clients must fetch nothing again, and a new message
exactly once.
"""

import os
import shutil
import tempfile
import time
import unittest

import poplartest
import migrate_tool_lib as lib
from migrate_tool_lib import message


class MigrationTestCase(poplartest.PoplarTestCase):

    def setUp(self):
        if not lib.TOOL:
            self.skipTest("POPLAR_UIDL_IMPORT is not set")
        self.tmp = tempfile.mkdtemp(prefix="uidl-import-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.old = lib.MailutilsPop3d(self.tmp)
        self.addCleanup(self.old.stop)

    def users_file(self, lines):
        path = os.path.join(self.tmp, "users")
        with open(path, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write("".join(l + "\n" for l in lines))
        return path

    def tool(self, users, *extra):
        return lib.run_tool("--users", users,
                            "--server", "%s:%d" % (lib.HOST, self.old.port),
                            "--tls", "no", *extra)

    def poplar_world(self, names):
        """A poplard (not started) whose users have Maildir copies of the
        old mbox files."""
        srv = self.server(start=False)
        for name in names:
            user = srv.add_user(name, self.old.users[name][0])
            lib.copy_to_maildir(self.old.mbox_path(name), user.maildir.path)
        return srv


class TestToolReports(MigrationTestCase):
    """What the tool writes and says: matched, unmatched, ambiguous,
    conflicts, a dry run, a second run."""

    def setUp(self):
        super().setUp()
        self.alice = self.old.add_user("alice", "alice pw")
        self.bob = self.old.add_user("bob", "bob pw")
        for i in range(3):
            self.old.deliver(self.alice, message("alice %d" % i, "body %d" % i))
        # 8-bit text in a header, which servers mangle in different ways
        self.old.deliver(self.alice, message("caf\xe9".encode("latin-1")
                                             .decode("latin-1"), "x"))
        # bob: the same message twice, and one that the copy will lack
        twice = message("twice", "same body")
        self.old.deliver(self.bob, twice)
        self.old.deliver(self.bob, twice)
        self.old.deliver(self.bob, message("bob gone", "deleted later"))
        self.old.start()
        # Each client sees the mail once (mailutils writes its X-UIDL and
        # status headers into the mbox as it goes).
        self.old_alice = lib.old_view(self.old.port, self.alice, "alice pw")
        self.old_bob = lib.old_view(self.old.port, self.bob, "bob pw")

    def test_dry_run_then_import_then_again(self):
        srv = self.poplar_world([self.alice, self.bob])
        # The copy of bob's mail has only one of the two identical
        # messages and lacks the last one.
        bob_dir = srv.users[self.bob].maildir.path
        files = sorted(srv.users[self.bob].maildir.files())
        self.assertEqual(len(files), 3)
        with open(files[2], "rb") as f:
            self.assertIn(b"bob gone", f.read())
        os.unlink(files[2])
        os.unlink(files[1])
        users = self.users_file(["%s:alice pw:%s" % (
            self.alice, srv.users[self.alice].maildir.path),
            "%s:bob pw:maildir:%s" % (self.bob, bob_dir)])

        before = lib.tree_state(srv.dir)
        rc, out, err = self.tool(users, "--dry-run", "--verbose")
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(lib.tree_state(srv.dir), before,
                         "a dry run wrote something")
        s = lib.summaries(out)
        self.assertEqual(s[self.alice]["matched"], 4, out)
        self.assertEqual(s[self.alice]["recorded"], 4, out)
        self.assertEqual(s[self.bob]["ambiguous"], 2, out)
        self.assertEqual(s[self.bob]["unmatched"], 1, out)
        self.assertIn("dry run: nothing written", out)

        rc, out, err = self.tool(users, "--verbose")
        self.assertEqual(rc, 0, out + err)
        s = lib.summaries(out)
        self.assertEqual(s[self.alice], dict(
            old=4, maildir=4, matched=4, recorded=4, already=0,
            by_header=s[self.alice]["by_header"], unmatched=0, ambiguous=0,
            bad_uidl=0, conflicts=0, only_new=0), out)
        self.assertEqual(s[self.bob]["matched"], 0, out)
        self.assertEqual(s[self.bob]["ambiguous"], 2, out)
        self.assertEqual(s[self.bob]["unmatched"], 1, out)
        self.assertEqual(s[self.bob]["only_new"], 1, out)
        # each unmatched and ambiguous message is named with -v
        for uidl, (number, _) in self.old_bob.items():
            self.assertRegex(out, r"user %s: (ambiguous|unmatched): old "
                             r"message %d \(UIDL %s" % (
                                 self.bob, number, uidl))
        self.assertIn("2 old and 1 Maildir messages", out)

        # The record maps each Maildir file to the UIDL of the old
        # message with the same header.
        record = lib.read_record(srv.users[self.alice].maildir.path)
        self.assertEqual(sorted(record.values()), sorted(self.old_alice))
        for path in srv.users[self.alice].maildir.files():
            base = os.path.basename(path).split(":")[0]
            with open(path, "rb") as f:
                subject = [l for l in f.read().split(b"\n")
                           if l.startswith(b"Subject:")][0]
            self.assertIn(subject, self.old_alice[record[base]][1])
        # Nothing to record for bob: no file at all.
        self.assertIsNone(lib.read_record(bob_dir))
        # No lock or temporary file is left.
        self.assertEqual(sorted(os.listdir(srv.users[self.alice].maildir.path)),
                         ["cur", "new", "poplar-uidls", "tmp"])

        # Again: nothing changes, everything is "already recorded".
        path = os.path.join(srv.users[self.alice].maildir.path, "poplar-uidls")
        with open(path, "rb") as f:
            first = f.read()
        state = lib.tree_state(srv.dir)
        rc, out, err = self.tool(users)
        self.assertEqual(rc, 0, out + err)
        s = lib.summaries(out)
        self.assertEqual(s[self.alice]["recorded"], 0, out)
        self.assertEqual(s[self.alice]["already"], 4, out)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), first)
        self.assertEqual(lib.tree_state(srv.dir), state)

    def test_conflicts_kept_unless_forced(self):
        srv = self.poplar_world([self.alice])
        maildir = srv.users[self.alice].maildir.path
        base = os.path.basename(sorted(
            srv.users[self.alice].maildir.files())[0]).split(":")[0]
        with open(os.path.join(maildir, "poplar-uidls"), "w") as f:
            f.write("poplar-uidls 1\n%s shown-by-poplar\n" % base)
        users = self.users_file(["%s:alice pw:%s" % (self.alice, maildir)])
        rc, out, err = self.tool(users, "-v")
        self.assertEqual(rc, 0, out + err)
        s = lib.summaries(out)
        self.assertEqual(s[self.alice]["conflicts"], 1, out)
        self.assertEqual(s[self.alice]["recorded"], 3, out)
        self.assertIn("already has UIDL shown-by-poplar", out)
        self.assertEqual(lib.read_record(maildir)[base], "shown-by-poplar")

        rc, out, err = self.tool(users, "--force")
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(lib.summaries(out)[self.alice]["recorded"], 1, out)
        self.assertIn(lib.read_record(maildir)[base], self.old_alice)

    def test_session_lock_is_respected(self):
        srv = self.poplar_world([self.alice])
        maildir = srv.users[self.alice].maildir.path
        # A POP3 session of this very host holds the mailbox: its owner is
        # alive (this process).
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        pidns = os.readlink("/proc/self/ns/pid").split("[")[1].rstrip("]")
        lock = os.path.join(maildir, "poplar-lock")
        with open(lock, "w") as f:
            f.write("poplar-lock 1 host=%s boot=%s pidns=%s pid=%d time=%d "
                    "token=test\n" % (os.uname().nodename, boot, pidns,
                                      os.getpid(), int(time.time())))
        users = self.users_file(["%s:alice pw:%s" % (self.alice, maildir)])
        rc, out, err = self.tool(users, "--lock-wait", "0")
        self.assertEqual(rc, 1, out + err)
        self.assertRegex(out, r"user %s: FAILED: mailbox is locked by another "
                         r"session .*run again later" % self.alice)
        self.assertIsNone(lib.read_record(maildir))
        self.assertTrue(os.path.exists(lock))
        os.unlink(lock)
        rc, out, err = self.tool(users)
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(len(lib.read_record(maildir)), 4)

    def test_failures_are_per_user(self):
        srv = self.poplar_world([self.alice])
        maildir = srv.users[self.alice].maildir.path
        users = self.users_file([
            "%s:wrong:%s" % (self.bob, maildir),
            "%s:alice pw:mbox:/var/mail/alice" % self.alice])
        rc, out, err = self.tool(users)
        self.assertEqual(rc, 1, out + err)
        self.assertRegex(out, r"user %s: FAILED: PASS: .*answered: -ERR" %
                         self.bob)
        self.assertRegex(out, r"user %s: FAILED: .*mbox mailboxes are not "
                         r"supported yet" % self.alice)
        self.assertIn("2 users, 2 failed", out)


class TestParallel(MigrationTestCase):

    def test_many_users_bounded(self):
        names = []
        for i in range(8):
            name = self.old.add_user("user%d" % i, "pw %d" % i)
            names.append(name)
            for j in range(2):
                self.old.deliver(name, message("u%d m%d" % (i, j), "b"))
        self.old.start()
        for name in names:  # mailutils adds its headers on first access
            lib.old_view(self.old.port, name, self.old.users[name][0])
        srv = self.poplar_world(names)
        home = os.path.join(srv.dir, "home")
        users = self.users_file(["%s:%s" % (n, self.old.users[n][0])
                                 for n in names])
        rc, out, err = self.tool(users, "--parallel", "3",
                                 "--home", home + "/%u",
                                 "--mail-location", "maildir:%h/Maildir")
        self.assertEqual(rc, 0, out + err)
        s = lib.summaries(out)
        self.assertEqual(sorted(s), sorted(names), out)
        for name in names:
            self.assertEqual(s[name]["recorded"], 2, out)
        m = lib.re.search(r"8 users, 0 failed; at most (\d+) at a time", out)
        self.assertIsNotNone(m, out)
        self.assertLessEqual(int(m.group(1)), 3)
        self.assertGreaterEqual(int(m.group(1)), 1)


class TestClientsAfterMigration(MigrationTestCase):
    """The whole migration, seen by real clients."""

    def test_nothing_downloaded_twice(self):
        plugin = poplartest.plugin_path("store-maildir")
        alice = self.old.add_user("alice", "alice pw")
        for i in range(3):
            self.old.deliver(alice, message("before %d" % i, "old mail %d" % i))
        twice = message("twice", "same")
        self.old.deliver(alice, twice)
        self.old.deliver(alice, twice)
        port = self.old.start()
        clients = lib.Clients(os.path.join(self.tmp, "clients"), alice,
                              "alice pw")
        if not clients.available:
            self.skipTest("none of mpop, fetchmail, getmail6 is installed")
        for c in clients.available:
            self.assertEqual(clients.run(c, port), 5, c)
            self.assertEqual(clients.run(c, port), 0, c + " (second run)")
        old = lib.old_view(port, alice, "alice pw")
        self.old.stop()

        srv = self.poplar_world([alice])
        maildir = srv.users[alice].maildir.path
        users = self.users_file(["%s:alice pw:%s" % (alice, maildir)])
        self.old.start(port)
        rc, out, err = self.tool(users)
        self.old.stop()
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(lib.summaries(out)[alice]["recorded"], 5, out)

        if not lib.store_reads_record(plugin):
            self.skipTest("store-maildir in this build does not read "
                          "poplar-uidls yet (the store support is merged "
                          "separately); the tool's side passed")
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
