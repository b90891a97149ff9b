# SPDX-License-Identifier: MIT
"""Failing storage: unreadable messages, read errors, EIO and ENOSPC while
UPDATE removes messages, a full file system, a message removed between
LIST and RETR, a Maildir replaced during a session.  The client gets a
clear -ERR [SYS/TEMP] (or the message is skipped), and no message it did
not delete is ever lost.

Faults come from fault-inject.c (LD_PRELOAD), switched on by creating a
file once the session is where the test wants it."""

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile

import abusetest
from abusetest import Conn, figure
from poplartest import Maildir, login_when_free

M1 = b"Subject: one\r\n\r\nfirst\r\n"
M2 = b"Subject: two\r\n\r\nsecond\r\n"
M3 = b"Subject: three\r\n\r\nthird\r\n"


class FaultServer:
    """poplard with fault-inject.c preloaded; faults are off until on()."""

    def __init__(self, test, users, **config):
        if not abusetest.FAULT_INJECT:
            test.skipTest("POPLAR_FAULT_INJECT is not set")
        self.test = test
        self.srv = test.server(users=users, start=False)
        self.switch = os.path.join(self.srv.dir, "fault-on")
        self.env = {
            "LD_PRELOAD": ":".join(
                [abusetest.FAULT_INJECT] +
                [p for p in [os.environ.get("LD_PRELOAD")] if p]),
            "POPLAR_FAULT_SWITCH": self.switch,
            # An ASan poplard (make check-asan) wants its runtime first.
            "ASAN_OPTIONS": "verify_asan_link_order=0:" +
                            os.environ.get("ASAN_OPTIONS", ""),
        }
        self.config = config

    def start(self, op, match, errno_name):
        self.env.update({"POPLAR_FAULT_OP": op, "POPLAR_FAULT_MATCH": match,
                         "POPLAR_FAULT_ERRNO": errno_name})
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            self.srv.start(**self.config)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        return self.srv

    def on(self):
        open(self.switch, "w").close()

    def off(self):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.switch)


def name_of(path):
    """The unique part of a Maildir file name (before ':2,' flags), which
    stays when the store moves it from new/ to cur/."""
    return os.path.basename(path).split(":")[0]


def file_of(maildir, message):
    """The path of the file in @maildir that holds @message."""
    for path in maildir.files():
        with open(path, "rb") as f:
            if f.read() == message:
                return path
    raise AssertionError("no file holds %r" % message[:40])


class StorageFaultTest(abusetest.PoplarTestCase):

    def assert_kept(self, maildir, *contents):
        for c in contents:
            self.assertTrue(maildir.holds(c), "message lost: %r" % c[:30])

    def test_message_removed_between_list_and_retr(self):
        srv = self.server(users={"mona": [M1, M2, M3]})
        md = srv.users["mona"].maildir
        with Conn(srv.port) as c:
            c.login("mona", "pw")
            status, listing = c.multi("LIST")
            self.assertEqual(len(listing.splitlines()), 3)
            victim = file_of(md, M2)
            os.unlink(victim)
            r = c.cmd("RETR 2")
            self.assertErr(r, "RETR of a removed message")
            figure("faults.retr_removed_reply", repr(r))
            status, body = c.multi("RETR 3")
            self.assertEqual(body, M3)
            self.assertOk(c.cmd("DELE 2"))  # gone already: what was wanted
            self.assertOk(c.cmd("QUIT"))
        self.assertEqual(md.contents(), sorted([M1, M3]))

    def test_mailbox_replaced_during_session(self):
        srv = self.server(users={"mona": [M1, M2]})
        md = srv.users["mona"].maildir
        with Conn(srv.port) as c:
            c.login("mona", "pw")
            # Another program moves the whole Maildir away and puts a new
            # one in its place (a restore, a migration).
            old = md.path + ".old"
            os.rename(md.path, old)
            fresh = Maildir(md.path)
            fresh.add(M3)
            status, body = c.multi("RETR 1")
            self.assertTrue(status.startswith("+OK") or
                            status.startswith("-ERR"), status)
            if status.startswith("+OK"):
                self.assertIn(body, (M1, M2))
            self.assertOk(c.cmd("DELE 1"))
            r = c.cmd("QUIT")
            figure("faults.quit_after_mailbox_replaced", repr(r))
        # The new Maildir is untouched; of the old one at most the message
        # the client deleted is gone.
        self.assertEqual(fresh.contents(), [M3])
        left = Maildir(old).contents()
        self.assertTrue(len(left) >= 1 and set(left) <= {M1, M2}, left)
        p = srv.login("mona", "pw")
        self.assertEqual(p.stat()[0], 1)
        p.quit()

    def run_as_nobody(self, srv):
        """Runs poplard as nobody when we are root (root reads any file,
        so chmod 000 would change nothing)."""
        if os.geteuid() != 0:
            return {}
        try:
            pw = pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("no user nobody to drop to")
        for root, dirs, files in os.walk(srv.dir):
            for n in dirs + files:
                os.lchown(os.path.join(root, n), pw.pw_uid, pw.pw_gid)
        os.chown(srv.dir, pw.pw_uid, pw.pw_gid)
        return {"user": "nobody"}

    def test_unreadable_message(self):
        srv = self.server(users={"mona": [M1, M2, M3]}, start=False)
        md = srv.users["mona"].maildir
        srv.start(server=self.run_as_nobody(srv))
        with Conn(srv.port) as c:
            c.login("mona", "pw")  # sizes counted: every file readable
            p2 = file_of(md, M2)
            os.chmod(p2, 0)
            r = c.cmd("RETR 2")
            figure("faults.retr_unreadable_reply", repr(r))
            self.assertErr(r, "RETR of an unreadable message",
                           code="SYS/TEMP")
            status, body = c.multi("RETR 1")
            self.assertEqual(body, M1)
            self.assertOk(c.cmd("DELE 1"))
            self.assertOk(c.cmd("QUIT"))
        # Unreadable at login: skipped, or listed (its size is cached) and
        # refused with -ERR [SYS/TEMP]; the rest is served.
        with Conn(srv.port) as c:
            r = c.login("mona", "pw")
            figure("faults.login_with_unreadable_message", repr(r))
            status, listing = c.multi("UIDL")
            n = len(listing.splitlines())
            self.assertIn(n, (1, 2))
            for i in range(1, n + 1):
                status, body = c.multi("RETR %d" % i)
                if body is None:
                    self.assertErr(status, code="SYS/TEMP")
                else:
                    self.assertEqual(body, M3)
            self.assertOk(c.cmd("QUIT"))
        os.chmod(p2, 0o600)
        self.assertEqual(md.contents(), sorted([M2, M3]))

    def test_read_error(self):
        """EIO reading a message: -ERR [SYS/TEMP], the session goes on,
        nothing is lost, and the next session reads the message."""
        fs = FaultServer(self, {"mona": [M1, M2, M3]})
        md = fs.srv.users["mona"].maildir
        victim = file_of(md, M2)
        srv = fs.start("read", name_of(victim), "EIO")
        with Conn(srv.port) as c:
            c.login("mona", "pw")
            fs.on()
            try:
                r = c.cmd("RETR 2")
            except EOFError:
                r = "(connection closed, no reply)"
            fs.off()
            figure("faults.retr_eio_reply", repr(r))
            try:
                self.assertErr(r, "RETR with EIO", code="SYS/TEMP")
                status, body = c.multi("RETR 1")
                self.assertEqual(body, M1)
            finally:
                self.assert_kept(md, M1, M2, M3)
            self.assertOk(c.cmd("QUIT"))
        # The next session reads the message the error hid.
        p = login_when_free(srv, srv.users["mona"])
        self.assertEqual(b"\r\n".join(p.retr(2)[1]) + b"\r\n", M2)
        p.quit()

    def update_fault(self, op, errno_name, match_victim):
        fs = FaultServer(self, {"mona": [M1, M2, M3]})
        md = fs.srv.users["mona"].maildir
        victim = file_of(md, M1)
        match = name_of(victim) if match_victim else "/cur"
        srv = fs.start(op, match, errno_name)
        with Conn(srv.port) as c:
            c.login("mona", "pw")
            self.assertOk(c.cmd("DELE 1"))
            self.assertOk(c.cmd("DELE 2"))
            fs.on()
            r = c.cmd("QUIT")
            fs.off()
        figure("faults.quit_%s_%s_reply" % (op, errno_name), repr(r))
        self.assertErr(r, "QUIT with %s on %s" % (errno_name, op),
                       code="SYS/TEMP")
        # Nothing the client kept is lost; what it deleted is gone or,
        # where the removal failed, still there.
        self.assert_kept(md, M3)
        self.assertTrue(set(md.contents()) <= {M1, M2, M3})
        return md

    def test_eio_on_unlink_during_update(self):
        md = self.update_fault("unlinkat", "EIO", True)
        self.assertTrue(md.holds(M1), "the failed removal lost M1 anyway")
        self.assertFalse(md.holds(M2), "M2's removal did not happen")

    def test_enospc_on_sync_during_update(self):
        self.update_fault("fsync", "ENOSPC", False)

    def test_full_filesystem(self):
        if os.geteuid() != 0 or not shutil.which("mount"):
            self.skipTest("needs root to mount a tmpfs")
        mnt = tempfile.mkdtemp(prefix="poplar-full-")
        self.addCleanup(shutil.rmtree, mnt, True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k",
                            "tmpfs", mnt], capture_output=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs: %s" % r.stderr.decode())
        self.addCleanup(subprocess.run, ["umount", "-l", mnt])
        md = Maildir(os.path.join(mnt, "Maildir"))
        for m in (M1, M2, M3):
            md.add(m)
        # Fill it up.
        fd = os.open(os.path.join(mnt, "filler"), os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096) > 0:
                pass
        except OSError:
            pass
        os.close(fd)
        srv = self.server(start=False)
        srv.add_user("mona", "pw", mail="maildir:" + md.path)
        srv.start()
        with Conn(srv.port) as c:
            c.greeting()
            c.cmd("USER mona")
            r = c.cmd("PASS pw")
            figure("faults.login_on_full_fs", repr(r))
            if r.startswith("-ERR"):
                self.assertErr(r, "login on a full file system",
                               code="SYS/TEMP")
                committed = False
            else:
                status, body = c.multi("RETR 1")
                self.assertEqual(body, M1)
                self.assertOk(c.cmd("DELE 1"))
                q = c.cmd("QUIT")
                figure("faults.quit_on_full_fs", repr(q))
                committed = q.startswith("+OK")
        self.assert_kept(md, M2, M3)
        if not committed:
            self.assert_kept(md, M1)


if __name__ == "__main__":
    abusetest.main()
