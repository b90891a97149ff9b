# SPDX-License-Identifier: MIT
"""UIDLs are valid (RFC 1939: 1 to 70 characters in 0x21..0x7E), unique,
and stable across sessions, a server restart, flag renames, deletions and
new mail."""

import os
import re

import poplartest

UIDL_RX = re.compile(rb"^[\x21-\x7e]{1,70}$")


def message(i):
    return b"Subject: message %d\n\nbody %d\n" % (i, i)


class UidlTest(poplartest.PoplarTestCase):

    def setUp(self):
        self.srv = self.server(start=False)
        self.user = self.srv.add_user("bob", "pw",
                                      [message(i) for i in range(1, 6)])
        self.srv.start()

    def uidls(self):
        """[(number, uidl)] from UIDL, checked against UIDL n."""
        p = self.srv.login(self.user)
        try:
            resp, lines, _ = p.uidl()
            self.assertTrue(resp.startswith(b"+OK"), resp)
            out = []
            for line in lines:
                n, u = line.split(b" ")
                out.append((int(n), u))
            for n, u in out:
                single = p.uidl(n).split()
                self.assertEqual(single[0], b"+OK")
                self.assertEqual(single[1:], [b"%d" % n, u],
                                 "UIDL %d disagrees with the listing" % n)
            p.quit()
        finally:
            p.close()
        for n, u in out:
            self.assertRegex(u, UIDL_RX, "UIDL of message %d is not valid" % n)
        self.assertEqual(len({u for _, u in out}), len(out),
                         "two messages share a UIDL: %r" % out)
        self.assertEqual([n for n, _ in out], list(range(1, len(out) + 1)))
        return [u for _, u in out]

    def test_stable_across_sessions_and_restart(self):
        first = self.uidls()
        self.assertEqual(len(first), 5)
        self.assertEqual(self.uidls(), first, "second session")
        self.srv.restart()
        self.assertEqual(self.uidls(), first, "after a restart")

    def test_stable_across_flag_renames(self):
        first = self.uidls()
        cur = os.path.join(self.user.maildir.path, "cur")
        renamed = 0
        for name in os.listdir(cur):
            base = name.split(":2,")[0]
            os.rename(os.path.join(cur, name),
                      os.path.join(cur, base + ":2,RS"))
            renamed += 1
        self.assertEqual(renamed, 5, "messages were not moved to cur/")
        self.assertEqual(self.uidls(), first, "after adding flags")

    def test_dele_keeps_other_uidls(self):
        first = self.uidls()
        p = self.srv.login(self.user)
        try:
            self.assertTrue(p.dele(2).startswith(b"+OK"))
            p.quit()
        finally:
            p.close()
        self.assertEqual(self.uidls(), first[:1] + first[2:])

    def test_new_mail_keeps_old_uidls(self):
        first = self.uidls()
        self.user.maildir.add(message(6))
        now = self.uidls()
        self.assertEqual(now[:5], first, "old messages changed UIDL")
        self.assertNotIn(now[5], first)

    def test_long_names(self):
        """Names whose unique part is longer than 70 characters still get
        valid, distinct and stable UIDLs, even when they differ only past
        the 70th character."""
        stem = "1700000500.M" + "x" * 100
        md = self.user.maildir
        md.add(message(7), unique=stem + "A.host")
        md.add(message(8), unique=stem + "B.host")
        first = self.uidls()  # validity and uniqueness checked there
        self.assertEqual(len(first), 7)
        self.assertEqual(self.uidls(), first)
        self.srv.restart()
        self.assertEqual(self.uidls(), first)

    def test_long_listing_with_deletions(self):
        """A listing many times larger than one write: every line once, in
        order, the deleted ones left out, each as UIDL n and LIST n give
        it."""
        md = self.user.maildir
        for i in range(400):
            md.add(message(100 + i) + b"x" * i,
                   unique="1700001000.M%d%s.host" % (i, "y" * 50))
        p = self.srv.login(self.user)
        try:
            deleted = set(range(3, 406, 7))
            for n in sorted(deleted):
                self.assertTrue(p.dele(n).startswith(b"+OK"))
            uidl_lines = p.uidl()[1]
            list_lines = p.list()[1]
            want = [n for n in range(1, 406) if n not in deleted]
            self.assertEqual([int(x.split()[0]) for x in uidl_lines], want)
            self.assertEqual([int(x.split()[0]) for x in list_lines], want)
            for line in uidl_lines[::37]:
                n = int(line.split()[0])
                self.assertEqual(p.uidl(n).split()[1:], line.split())
            for line in list_lines[::37]:
                n = int(line.split()[0])
                self.assertEqual(p.list(n).split()[1:], line.split())
            p.quit()
        finally:
            p.close()


if __name__ == "__main__":
    poplartest.main()
