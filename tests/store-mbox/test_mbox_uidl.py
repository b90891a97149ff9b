# SPDX-License-Identifier: MIT
"""UIDLs are identical across sessions, server restarts and deletions of
other messages; they survive a lost index, an MUA rewriting the mbox, and
duplicate messages; an unchanged mbox is not parsed again, and new mail is
parsed incrementally."""

import os
import shutil

import mboxtest
from mboxtest import build_mbox, crlf, entry


def message(i):
    return b"From: s%d@example.org\nSubject: message %d\n\nbody %d\n" % (
        i, i, i)


MESSAGES = [message(i) for i in range(10)]


class UidlTest(mboxtest.MboxTestCase):

    def setUp(self):
        self.srv = self.mbox_server(start=False)
        self.user = self.add_mbox_user(self.srv, "ann", build_mbox(MESSAGES))
        self.srv.start()

    def uidls(self):
        """{content: uidl} over one session."""
        out = {}
        for uidl, body in self.retr_all(self.srv, "ann"):
            self.assertNotIn(body, out)
            out[body] = uidl
        return out

    def test_stable_across_sessions_restarts_and_deletions(self):
        first = self.uidls()
        self.assertEqual(len(first), 10)
        self.assertEqual(len(set(first.values())), 10)
        self.assertEqual(self.uidls(), first)
        self.srv.restart()
        self.assertEqual(self.uidls(), first)

        # Delete messages 1, 4 and 10 (first, middle, last).
        with self.srv.conn() as c:
            c.login("ann", "pw")
            for n in (1, 4, 10):
                self.assertOk(c.cmd("DELE %d" % n))
            self.assertOk(c.cmd("QUIT"))
        after = self.uidls()
        gone = {crlf(MESSAGES[i]) for i in (0, 3, 9)}
        self.assertEqual(after, {k: v for k, v in first.items()
                                 if k not in gone})
        self.srv.restart()
        self.assertEqual(self.uidls(), after)

        # The index lost: the UIDLs come back from the content.
        index = os.path.join(os.path.dirname(self.user.mbox),
                             ".ann.poplar-index")
        os.unlink(index)
        self.srv.restart()
        self.assertEqual(self.uidls(), after)

    def test_unchanged_mbox_not_parsed_again(self):
        self.uidls()
        mark = self.srv.log_mark()
        self.uidls()
        self.srv.wait_for_log(r"10 messages .* unchanged, from the index, "
                              r"10 reused", start=mark)
        mboxtest.deliver(self.user.mbox, message(10))
        mark = self.srv.log_mark()
        got = self.uidls()
        self.assertEqual(len(got), 11)
        self.srv.wait_for_log(r"11 messages .* new mail parsed, 9 reused",
                              start=mark)

    def test_mua_rewrite(self):
        """mutt marks messages read by rewriting the mbox in place with
        Status: fields (and restores the mtime): UIDLs do not change."""
        first = self.uidls()
        st = os.stat(self.user.mbox)
        with open(self.user.mbox, "r+b") as f:
            data = f.read()
            data = data.replace(b"\nSubject: message",
                                b"\nStatus: RO\nSubject: message")
            f.seek(0)
            f.write(data)
            f.truncate()
        os.utime(self.user.mbox, ns=(st.st_atime_ns, st.st_mtime_ns))
        mark = self.srv.log_mark()
        got = {}
        for uidl, body in self.retr_all(self.srv, "ann"):
            got[body.replace(b"Status: RO\r\n", b"")] = uidl
        self.assertEqual(got, first)
        self.srv.wait_for_log(r"changed by another program, parsed again",
                              start=mark)

    def test_x_uidl_and_duplicates(self):
        dup = b"Subject: same\n\nsame\n"
        with open(self.user.mbox, "wb") as f:
            f.write(entry(b"X-UIDL: from-qpopper-1\nSubject: q\n\nq\n") +
                    entry(dup) + entry(dup) + entry(dup))
        with self.srv.conn() as c:
            c.login("ann", "pw")
            status, listing = c.multi("UIDL")
            uidls = [l.split()[1] for l in listing.decode().split("\r\n")
                     if l]
            self.assertEqual(uidls[0], "from-qpopper-1")
            self.assertEqual(uidls[2], uidls[1] + ".2")
            self.assertEqual(uidls[3], uidls[1] + ".3")
            self.assertOk(c.cmd("DELE 2"))
            self.assertOk(c.cmd("QUIT"))
        with self.srv.conn() as c:
            c.login("ann", "pw")
            status, listing = c.multi("UIDL")
            after = [l.split()[1] for l in listing.decode().split("\r\n")
                     if l]
            self.assertEqual(after, [uidls[0], uidls[2], uidls[3]])
            self.assertOk(c.cmd("QUIT"))


class IndexLocationTest(mboxtest.MboxTestCase):

    def test_index_dir_and_location_option(self):
        s = self.mbox_server(start=False)
        idx = os.path.join(s.dir, "indexes")
        s.write_config(load=mboxtest.PLUGINS, server=s.mbox_server,
                       sections={"store-mbox": {"index-dir": idx + "/%u"}})
        user = self.add_mbox_user(s, "ann", build_mbox(MESSAGES[:2]))
        home_idx = os.path.join(s.dir, "home", "bob", ".poplar")
        self.add_mbox_user(s, "bob", build_mbox(MESSAGES[:2]),
                           location=os.path.join(s.dir, "spool", "bob") +
                           ":INDEX=%h/.poplar")
        s.start()
        first = self.retr_all(s, "ann")
        self.assertTrue(os.path.exists(
            os.path.join(idx, "ann", ".ann.poplar-index")))
        self.assertFalse(os.path.exists(
            os.path.join(os.path.dirname(user.mbox), ".ann.poplar-index")))
        self.retr_all(s, "bob")
        self.assertTrue(os.path.exists(
            os.path.join(home_idx, ".bob.poplar-index")))
        shutil.rmtree(os.path.join(idx, "ann"))
        self.assertEqual(self.retr_all(s, "ann"), first)


if __name__ == "__main__":
    mboxtest.main()
