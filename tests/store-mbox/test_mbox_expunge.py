# SPDX-License-Identifier: MIT
"""Expunge at UPDATE: the mbox is rewritten without the deleted messages,
keeps its owner, group and mode, keeps mail delivered during the session,
and a full disk loses nothing and answers -ERR [SYS/TEMP]."""

import os
import sys

import mboxtest
import poplartest
from mboxtest import build_mbox, crlf, read_mbox


def message(i, size=0):
    return (b"From: s%d@example.org\nSubject: message %d\n\n" % (i, i) +
            b"body line %d\n" % i * max(1, size // 16))


class ExpungeTest(mboxtest.MboxTestCase):

    def test_delete_keeps_owner_group_mode(self):
        msgs = [message(i) for i in range(6)]
        s = self.mbox_server(start=False)
        user = self.add_mbox_user(s, "ann", build_mbox(msgs))
        os.chmod(user.mbox, 0o660)
        root = os.geteuid() == 0
        if root:
            # The mailbox belongs to the owner of its directory.
            os.chown(user.mbox, 65534, 65534)
            os.chown(os.path.dirname(user.mbox), 65534, 65534)
        s.start()
        with s.conn() as c:
            c.login("ann", "pw")
            for n in (1, 3, 6):
                self.assertOk(c.cmd("DELE %d" % n))
            reply = c.cmd("QUIT")
            self.assertOk(reply)
            self.assertIn("3 messages deleted, 3 left", reply)
        self.assertEqual(read_mbox(user.mbox), [msgs[1], msgs[3], msgs[4]])
        st = os.stat(user.mbox)
        self.assertEqual(st.st_mode & 0o7777, 0o660)
        if root:
            self.assertEqual((st.st_uid, st.st_gid), (65534, 65534))
        spool = os.path.dirname(user.mbox)
        self.assertEqual(sorted(n for n in os.listdir(spool)
                                if "poplar-new" in n or n.endswith(".lock")),
                         [])
        got = [b for _, b in self.retr_all(s, "ann")]
        self.assertEqual(got, [crlf(m) for m in (msgs[1], msgs[3], msgs[4])])

    def test_mail_delivered_during_session_kept(self):
        msgs = [message(i) for i in range(4)]
        s = self.mbox_server(start=False)
        user = self.add_mbox_user(s, "ann", build_mbox(msgs))
        s.start()
        late = [message(100), message(101)]
        with s.conn() as c:
            c.login("ann", "pw")
            mboxtest.deliver(user.mbox, late[0])
            self.assertOk(c.cmd("DELE 4"))
            self.assertOk(c.cmd("DELE 2"))
            mboxtest.deliver(user.mbox, late[1])
            self.assertOk(c.cmd("QUIT"))
        self.assertEqual(read_mbox(user.mbox),
                         [msgs[0], msgs[2], late[0], late[1]])

    def test_delete_everything(self):
        msgs = [message(i) for i in range(3)]
        s = self.mbox_server(start=False)
        user = self.add_mbox_user(s, "ann", build_mbox(msgs))
        s.start()
        with s.conn() as c:
            c.login("ann", "pw")
            for n in (1, 2, 3):
                c.cmd("DELE %d" % n)
            self.assertOk(c.cmd("QUIT"))
        self.assertEqual(os.path.getsize(user.mbox), 0)

    def test_disk_full(self):
        """The rewrite cannot be written (the file size limit stands in for
        a full disk): -ERR [SYS/TEMP], and the mbox is untouched."""
        msgs = [message(i, 4000) for i in range(40)]
        s = self.mbox_server(start=False)
        user = self.add_mbox_user(s, "ann", build_mbox(msgs))
        with open(user.mbox, "rb") as f:
            before = f.read()
        self.assertGreater(len(before), 100000)
        # poplard through a wrapper that ignores SIGXFSZ (so the write
        # fails with EFBIG) and limits file sizes to 64 KiB.
        wrapper = os.path.join(s.dir, "poplard-small-files")
        with open(wrapper, "w") as f:
            f.write("#!%s\nimport os, resource, signal, sys\n"
                    "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
                    "resource.setrlimit(resource.RLIMIT_FSIZE, "
                    "(65536, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))\n"
                    "os.execv(%r, [%r] + sys.argv[1:])\n" % (
                        sys.executable, poplartest.POPLARD,
                        poplartest.POPLARD))
        os.chmod(wrapper, 0o755)
        saved = poplartest.POPLARD
        poplartest.POPLARD = wrapper
        try:
            s.start()
        finally:
            poplartest.POPLARD = saved
        mark = s.log_mark()
        with s.conn() as c:
            c.login("ann", "pw")
            self.assertOk(c.cmd("DELE 1"))
            self.assertOk(c.cmd("DELE 20"))
            self.assertErr(c.cmd("QUIT"), code="SYS/TEMP")
        s.wait_for_log(r"no room to rewrite .*nothing was removed",
                       start=mark)
        with open(user.mbox, "rb") as f:
            self.assertEqual(f.read(), before)
        spool = os.path.dirname(user.mbox)
        self.assertEqual([n for n in os.listdir(spool)
                          if "poplar-new" in n or n.endswith(".lock")], [])
        # Everything is still there, with the same UIDLs, and the next
        # deletion (with room) works.
        p = s.login("ann", "pw")
        self.assertEqual(p.stat()[0], 40)
        p.quit()
        s.restart()
        with s.conn() as c:
            c.login("ann", "pw")
            self.assertOk(c.cmd("DELE 1"))
            self.assertOk(c.cmd("QUIT"))
        self.assertEqual(read_mbox(user.mbox), msgs[1:])


if __name__ == "__main__":
    mboxtest.main()
