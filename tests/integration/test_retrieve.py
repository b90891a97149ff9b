# SPDX-License-Identifier: MIT
"""Every message of a fixture Maildir comes back byte for byte (in its CRLF
form) through poplib, a strict raw client and curl; LIST and STAT sizes
equal the octets RETR sends; a 20 MB message is streamed with
back-pressure."""

import poplib
import threading
import time

import poplartest
from poplartest import Conn, crlf, curl_retr, rss_anon_kb

# Long lines (the 5000-octet one below) must not trip poplib's own limit.
poplib._MAXLINE = 1 << 20


def big_message(size=20 * 1024 * 1024):
    """A 20 MB LF message with dot lines and 'From ' lines sprinkled in."""
    header = b"From: big@example.org\nSubject: twenty megabytes\n\n"
    parts = [header]
    total = len(header)
    i = 0
    while total < size:
        if i % 1000 == 0:
            line = b".%08d a line that starts with a dot\n" % i
        elif i % 1000 == 500:
            line = b"From %08d a line that starts with From\n" % i
        else:
            line = b"%08d abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789\n" % i
        parts.append(line)
        total += len(line)
        i += 1
    return b"".join(parts)


FIXTURES = [
    # Lines starting with '.', including a lone '.' that must not end the
    # transfer early.
    b"From: a@example.org\nSubject: dots\n\n.leading dot\n..two dots\n.\n"
    b". space\nnormal\n...\n",
    # 'From ' lines are stored as they are: no mbox quoting in a Maildir.
    b"From: b@example.org\nSubject: from lines\n\nFrom the start\n"
    b"From here\n>From quoted\n",
    # 8-bit bytes: latin-1 ...
    b"Subject: latin-1\nContent-Type: text/plain; charset=iso-8859-1\n\n"
    b"caf\xe9 na\xefve \xff\xfe\x80 \xa0end\n",
    # ... and UTF-8.
    "Subject: utf-8 \u2713\n\nK\u00e4se Stra\u00dfe \u65e5\u672c\u8a9e "
    "\U0001f642\n".encode("utf-8"),
    # No final newline.
    b"Subject: no final newline\n\nlast line without newline",
    # No final newline, and the unterminated last line is a lone '.'.
    b"Subject: ends with a dot\n\nbody\n.",
    # Stored with CRLF already.
    b"Subject: crlf\r\n\r\nline one\r\n.dot line\r\nline three\r\n",
    # Stored with LF.
    b"Subject: lf\n\nline one\nline two\n",
    # Mixed line ends.
    b"Subject: mixed\r\n\nline\r\nline2\n",
    # The very first line starts with a dot.
    b".starts with a dot: yes\n\nbody\n",
    # Empty body.
    b"Subject: empty body\n\n",
    # A line far longer than any command line.
    b"Subject: long line\n\n" + b"x" * 5000 + b"\n",
]


class RetrieveTest(poplartest.PoplarTestCase):

    def setUp(self):
        self.messages = list(FIXTURES)
        self.srv = self.server(start=False)
        self.user = self.srv.add_user("alice", "secret")
        md = self.user.maildir
        for m in self.messages:
            md.add(m)
        # A message already in cur/ with flags, and one whose name carries
        # its sizes the Maildir++ way (S= stored size, W= size as sent).
        seen = b"Subject: seen\n\nalready read\n"
        md.add(seen, subdir="cur", info="S")
        self.messages.append(seen)
        sized = b"Subject: sized\n\nsize in the name\n.\n"
        md.add(sized, subdir="cur", info="",
               suffix=",S=%d,W=%d" % (len(sized), len(crlf(sized))))
        self.messages.append(sized)
        self.big = big_message()
        md.add(self.big)
        self.messages.append(self.big)
        self.srv.start()

    def login(self):
        return self.srv.login(self.user)

    def test_stat_and_list_sizes(self):
        p = self.login()
        try:
            count, total = p.stat()
            self.assertEqual(count, len(self.messages), "STAT count")
            expected = [len(crlf(m)) for m in self.messages]
            self.assertEqual(total, sum(expected), "STAT size")
            resp, listing, _ = p.list()
            self.assertTrue(resp.startswith(b"+OK"), resp)
            got = [tuple(int(x) for x in l.split()) for l in listing]
            self.assertEqual(got, [(i + 1, n) for i, n in enumerate(expected)],
                             "LIST sizes must equal the CRLF size of each "
                             "message, oldest first")
            for i, n in enumerate(expected):
                single = p.list(i + 1)
                self.assertEqual(single.split()[1:], [b"%d" % (i + 1),
                                                      b"%d" % n])
            p.quit()
        finally:
            p.close()

    def test_retr_poplib(self):
        p = self.login()
        try:
            for i, m in enumerate(self.messages):
                resp, lines, octets = p.retr(i + 1)
                self.assertTrue(resp.startswith(b"+OK"), resp)
                got = b"".join(l + b"\r\n" for l in lines)
                self.assertEqual(got, crlf(m), "message %d differs" % (i + 1))
            p.quit()
        finally:
            p.close()

    def test_retr_raw_strict(self):
        """A reader that refuses bare LF and unstuffed dots on the wire, and
        checks that the size LIST announced is the size RETR sent."""
        with Conn(self.srv.port) as c:
            c.login("alice", "secret")
            for i, m in enumerate(self.messages):
                status = c.cmd("LIST %d" % (i + 1))
                self.assertOk(status, "LIST %d" % (i + 1))
                listed = int(status.split()[2])
                status, body = c.multi("RETR %d" % (i + 1))
                self.assertOk(status, "RETR %d" % (i + 1))
                self.assertEqual(body, crlf(m),
                                 "message %d differs on the wire" % (i + 1))
                self.assertEqual(len(body), listed,
                                 "LIST size of message %d is not what RETR "
                                 "sent" % (i + 1))
            self.assertOk(c.cmd("QUIT"))

    def test_retr_curl(self):
        for i, m in enumerate(self.messages):
            got = curl_retr(self.srv.port, "alice", "secret", i + 1)
            self.assertEqual(got, crlf(m),
                             "curl: message %d differs" % (i + 1))

    def test_client_vanishes_mid_retr(self):
        """Hanging up in the middle of the 20 MB message loses nothing and
        leaves the mailbox free."""
        with Conn(self.srv.port) as c:
            c.login("alice", "secret")
            self.assertOk(c.cmd("DELE 1"))
            self.assertOk(c.cmd("RETR %d" % len(self.messages)))
            c.sock.recv(100000)
        p = poplartest.login_when_free(self.srv, self.user)
        try:
            self.assertEqual(p.stat()[0], len(self.messages),
                             "a session cut mid-RETR deleted mail")
            resp, lines, _ = p.retr(1)
            self.assertEqual(b"".join(l + b"\r\n" for l in lines),
                             crlf(self.messages[0]))
            p.quit()
        finally:
            p.close()
        self.assertTrue(self.srv.alive())

    def test_big_message_back_pressure(self):
        """A client that does not read makes the server wait instead of
        buffering the message: poplard's anonymous memory must not grow by
        anything near the message's 20 MB."""
        big_number = len(self.messages)
        with Conn(self.srv.port) as c:
            c.sock.setsockopt(poplartest.socket.SOL_SOCKET,
                              poplartest.socket.SO_RCVBUF, 64 * 1024)
            c.login("alice", "secret")
            self.assertOk(c.cmd("STAT"))
            # Sessions may live in worker processes: watch them all.
            pids = self.srv.pids()
            before = rss_anon_kb(pids)
            peak = [before]
            stop = threading.Event()

            def sample():
                while not stop.is_set():
                    peak[0] = max(peak[0], rss_anon_kb(pids))
                    time.sleep(0.01)
            t = threading.Thread(target=sample, daemon=True)
            t.start()
            try:
                c.send("RETR %d\r\n" % big_number)
                time.sleep(2.0)  # not reading: the socket buffers fill up
                status = c.reply()
                self.assertOk(status)
                body = c.body()
            finally:
                stop.set()
                t.join(5)
            self.assertEqual(body, crlf(self.big))
            self.assertOk(c.cmd("QUIT"))
        growth_mb = (peak[0] - before) / 1024.0
        self.assertLess(growth_mb, 10.0,
                        "poplard's anonymous memory grew by %.1f MB while "
                        "streaming a 20 MB message" % growth_mb)


if __name__ == "__main__":
    poplartest.main()
