# SPDX-License-Identifier: MIT
"""Fixture mboxes (mboxo and mboxrd, with From_ lines as Postfix, Exim and
procmail write them) come back byte for byte, in their CRLF form, through
poplib, a strict raw client and curl; LIST sizes are the octets RETR sends;
CRLF mboxes, messages without a final newline and a truncated last message
are served as they are."""

import os
import poplib

import mboxtest
from mboxtest import Conn, crlf, entry
from poplartest import curl_retr, top_of

poplib._MAXLINE = 1 << 20


def fixture(name):
    """The mbox and its expected messages."""
    with open(os.path.join(mboxtest.FIXTURES, name + ".mbox"), "rb") as f:
        mbox = f.read()
    d = os.path.join(mboxtest.FIXTURES, name)
    msgs = []
    for i in range(1, len(os.listdir(d)) + 1):
        with open(os.path.join(d, "%d.eml" % i), "rb") as f:
            msgs.append(f.read())
    return mbox, msgs


class RetrieveTest(mboxtest.MboxTestCase):

    def check_fixture(self, fmt):
        mbox, expected = fixture(fmt)
        s = self.mbox_server(store={"format": fmt}, start=False)
        self.add_mbox_user(s, "ann", mbox)
        self.start(s)

        # poplib
        p = s.login("ann", "pw")
        count, total = p.stat()
        self.assertEqual(count, len(expected))
        self.assertEqual(total, sum(len(crlf(m)) for m in expected))
        listing = p.list()[1]
        for i, m in enumerate(expected, 1):
            self.assertEqual(listing[i - 1], b"%d %d" % (i, len(crlf(m))))
            resp, lines, octets = p.retr(i)
            self.assertEqual(b"\r\n".join(lines) + b"\r\n", crlf(m),
                             "message %d of %s" % (i, fmt))
        p.quit()

        # a strict client: exact dot-stuffing, TOP
        with Conn(s.port) as c:
            c.login("ann", "pw")
            for i, m in enumerate(expected, 1):
                status, body = c.multi("RETR %d" % i)
                self.assertOk(status)
                self.assertEqual(status.split()[1], str(len(crlf(m))))
                self.assertEqual(body, crlf(m))
                for n in (0, 1, 3):
                    status, body = c.multi("TOP %d %d" % (i, n))
                    self.assertOk(status)
                    self.assertEqual(body, top_of(m, n))
            self.assertOk(c.cmd("QUIT"))

        # curl
        for i, m in enumerate(expected, 1):
            self.assertEqual(curl_retr(s.port, "ann", "pw", i), crlf(m))
        return s

    def test_mboxo_fixture(self):
        s = self.check_fixture("mboxo")
        # The qpopper X-UIDL is the message's UIDL.
        p = s.login("ann", "pw")
        uidls = [line.split()[1] for line in p.uidl()[1]]
        p.quit()
        self.assertEqual(uidls[3], b"3c1d5e7f0a2b4c6d8e9f0a1b2c3d4e5f")
        self.assertEqual(len(set(uidls)), len(uidls))

    def test_mboxrd_fixture(self):
        self.check_fixture("mboxrd")

    def test_mboxrd_file_read_as_mboxo(self):
        """The format is the administrator's choice: the same file reads
        differently, and sizes follow."""
        mbox, expected = fixture("mboxrd")
        s = self.mbox_server(store={"format": "mboxo"}, start=False)
        self.add_mbox_user(s, "ann", mbox)
        self.start(s)
        with Conn(s.port) as c:
            c.login("ann", "pw")
            status, body = c.multi("RETR 1")
            self.assertEqual(body, crlf(
                b"From: rd@example.org\nSubject: mboxrd quoting\n\n"
                b"From at the start\n>>From once quoted in the original\n"
                b">>>From twice\n> From is not a From line\n"))
            self.assertEqual(status.split()[1], str(len(body)))
            self.assertOk(c.cmd("QUIT"))

    def test_crlf_mbox(self):
        messages = [b"Subject: one\r\n\r\nbody\r\nFrom x\r\n",
                    b"Subject: two\r\n\r\nno end"]
        mbox = b"".join(entry(m, t=1700000000 + i, eol=b"\r\n")
                        for i, m in enumerate(messages))
        s = self.mbox_server(start=False)
        self.add_mbox_user(s, "ann", mbox)
        self.start(s)
        with Conn(s.port) as c:
            c.login("ann", "pw")
            for i, m in enumerate(messages, 1):
                status, body = c.multi("RETR %d" % i)
                self.assertEqual(body, crlf(m))
                self.assertEqual(status.split()[1], str(len(crlf(m))))
            self.assertOk(c.cmd("QUIT"))
        for i, m in enumerate(messages, 1):
            self.assertEqual(curl_retr(s.port, "ann", "pw", i), crlf(m))

    def test_truncated_last_message(self):
        """An interrupted delivery: served as it is, reported, never
        dropped; mail delivered after it is a message of its own."""
        good = b"Subject: whole\n\nbody\n"
        cut = b"Subject: cut short\n\nhalf a mess"
        mbox = entry(good) + b"From a@b  Sat Jan  3 01:05:34 1998\n" + cut
        s = self.mbox_server(start=False)
        user = self.add_mbox_user(s, "ann", mbox)
        self.start(s)
        mark = s.log_mark()
        with Conn(s.port) as c:
            c.login("ann", "pw")
            self.assertEqual(c.cmd("STAT").split()[1], "2")
            status, body = c.multi("RETR 2")
            self.assertEqual(body, crlf(cut))
            self.assertOk(c.cmd("QUIT"))
        s.wait_for_log(r"looks truncated.*served as it is", start=mark)

        # Truncated at a line end this time; then the MTA delivers.
        cut2 = b"Subject: cut at a line end\n\nfirst line\n"
        with open(user.mbox, "wb") as f:
            f.write(entry(good) + b"From a@b  Sat Jan  3 01:05:34 1998\n" +
                    cut2)
        late = b"Subject: delivered after\n\nlate\n"
        mboxtest.deliver(user.mbox, late)
        got = [body for _, body in self.retr_all(s, "ann")]
        self.assertEqual(got, [crlf(good), crlf(cut2), crlf(late)])

    def test_empty_and_missing_mbox(self):
        s = self.mbox_server(start=False)
        self.add_mbox_user(s, "none", None)
        self.add_mbox_user(s, "empty", b"")
        self.start(s)
        for name in ("none", "empty"):
            p = s.login(name, "pw")
            self.assertEqual(p.stat(), (0, 0))
            p.quit()

    def test_bad_locations(self):
        s = self.mbox_server(start=False)
        self.add_mbox_user(s, "dir", None,
                           location=os.path.join(s.dir, "spool"))
        self.add_mbox_user(s, "nodir", None,
                           location=os.path.join(s.dir, "nope", "x"))
        self.start(s)
        for name in ("dir", "nodir"):
            p = s.pop()
            p.user(name)
            self.assertPopError(lambda: p.pass_("pw"), code="SYS/PERM")
            p.close()


if __name__ == "__main__":
    mboxtest.main()
