# SPDX-License-Identifier: MIT
"""A 1 GB mbox with 100,000 messages: opened, listed (exact sizes, unique
UIDLs), every message retrieved byte for byte, opened again from the index
after a restart, and three messages deleted (a 1 GB rewrite).  Only
correctness is checked; the benchmarks measure time.

Needs 3 GB free in the temporary directory (the mbox and its rewrite);
skipped with a message otherwise.  POPLAR_MBOX_BIG_MESSAGES overrides the
number of messages (for a quick run by hand)."""

import os
import shutil
import socket
import tempfile
import time

import mboxtest
from poplartest import HOST

COUNT = int(os.environ.get("POPLAR_MBOX_BIG_MESSAGES", "100000"))
NEED_FREE = 3 * 1024 ** 3


def body_template(size=10600):
    """A body of about @size octets with lines that exercise quoting and
    dot-stuffing."""
    lines = [b".a line that starts with a dot\n",
             b">From a line the MTA quoted (mboxo)\n"]
    i = 0
    while sum(map(len, lines)) < size:
        lines.append(b"%06d The quick brown fox jumps over the lazy dog; "
                     b"0123456789 abcdefghij\n" % i)
        i += 1
    return b"".join(lines)


STORED_BODY = body_template()
SENT_BODY = STORED_BODY.replace(b"\n>From ", b"\nFrom ")


def header(i):
    return (b"From: sender%d@example.org\nTo: big@example.net\n"
            b"Subject: message %d of the big mbox\n"
            b"Message-ID: <%d.big@example.org>\n\n" % (i % 97, i, i))


def from_line(i):
    return mboxtest.from_line("sender%d@example.org" % (i % 97),
                              1700000000 + i).encode() + b"\n"


def wire(data):
    """@data as a POP3 multi-line body on the wire (CRLF, dot-stuffed),
    without the terminating line."""
    out = data.replace(b"\n", b"\r\n")
    out = out.replace(b"\r\n.", b"\r\n..")
    if out.startswith(b"."):
        out = b"." + out
    return out


SENT_BODY_WIRE = wire(SENT_BODY)


def generate(path, count):
    """Writes the mbox in large blocks.  Returns the raw length of each
    message's entry (From_ line to separator)."""
    raw_lens = []
    with open(path, "wb", buffering=0) as f:
        block = []
        for i in range(1, count + 1):
            e = from_line(i) + header(i) + STORED_BODY + b"\n"
            raw_lens.append(len(e))
            block.append(e)
            if len(block) == 1000:
                f.write(b"".join(block))
                block = []
        if block:
            f.write(b"".join(block))
    return raw_lens


def sent_size(i):
    h = header(i)
    return len(h) + h.count(b"\n") + len(SENT_BODY) + SENT_BODY.count(b"\n")


class Pipeline:
    """RETR of many messages at once over a raw socket, checked as they
    arrive without keeping them."""

    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=120)
        self.buf = bytearray()
        self.pos = 0

    def _fill(self):
        chunk = self.sock.recv(4 << 20)
        if not chunk:
            raise EOFError("connection closed")
        if self.pos > (32 << 20):
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += chunk

    def line(self):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                out = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return out.decode()
            self._fill()

    def take(self, n):
        while len(self.buf) - self.pos < n:
            self._fill()
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def cmd(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.line()


class BigTest(mboxtest.MboxTestCase):

    def test_one_gigabyte(self):
        tmp = tempfile.gettempdir()
        free = shutil.disk_usage(tmp).free
        if free < NEED_FREE:
            self.skipTest("needs 3 GB free in %s for a 1 GB mbox and its "
                          "rewrite; %.1f GB free" % (tmp, free / 1024 ** 3))
        s = self.mbox_server(store={"lock-timeout": "60s"}, start=False)
        user = self.add_mbox_user(s, "big", None)
        t0 = time.monotonic()
        raw_lens = generate(user.mbox, COUNT)
        sizes = [sent_size(i) for i in range(1, COUNT + 1)]
        if COUNT == 100000:
            self.assertGreater(os.path.getsize(user.mbox), 1000 ** 3)
        t_gen = time.monotonic() - t0
        s.start()

        t0 = time.monotonic()
        p = Pipeline(s.port)
        self.assertOk(p.line())
        self.assertOk(p.cmd("USER big"))
        self.assertOk(p.cmd("PASS pw"))
        t_open = time.monotonic() - t0
        self.assertEqual(p.cmd("STAT"), "+OK %d %d" % (COUNT, sum(sizes)))

        self.assertOk(p.cmd("LIST"))
        for i in range(1, COUNT + 1):
            self.assertEqual(p.line(), "%d %d" % (i, sizes[i - 1]))
        self.assertEqual(p.line(), ".")
        self.assertOk(p.cmd("UIDL"))
        uidls = []
        for i in range(1, COUNT + 1):
            n, uidl = p.line().split()
            self.assertEqual(int(n), i)
            uidls.append(uidl)
        self.assertEqual(p.line(), ".")
        self.assertEqual(len(set(uidls)), COUNT)

        # Every message, pipelined in batches.
        t0 = time.monotonic()
        batch = 200
        for first in range(1, COUNT + 1, batch):
            last = min(first + batch - 1, COUNT)
            p.sock.sendall(b"".join(b"RETR %d\r\n" % i
                                    for i in range(first, last + 1)))
            for i in range(first, last + 1):
                status = p.line()
                self.assertEqual(status, "+OK %d octets" % sizes[i - 1])
                h = wire(header(i))
                got = p.take(len(h) + len(SENT_BODY_WIRE) + 3)
                if got[:len(h)] != h or \
                        got[len(h):-3] != SENT_BODY_WIRE or \
                        got[-3:] != b".\r\n":
                    self.fail("message %d differs" % i)
        t_retr = time.monotonic() - t0
        self.assertOk(p.cmd("QUIT"))
        p.sock.close()

        # Again after a restart: from the index, same UIDLs.
        s.restart()
        mark = s.log_mark()
        t0 = time.monotonic()
        p = Pipeline(s.port)
        p.line()
        p.cmd("USER big")
        self.assertOk(p.cmd("PASS pw"))
        t_cached = time.monotonic() - t0
        s.wait_for_log(r"%d messages .*unchanged, from the index" % COUNT,
                       start=mark)
        self.assertOk(p.cmd("UIDL"))
        again = [p.line().split()[1] for _ in range(COUNT)]
        self.assertEqual(p.line(), ".")
        self.assertEqual(again, uidls)

        # Delete the first, a middle and the last message: 1 GB rewritten.
        doomed = [1, COUNT // 2, COUNT]
        for n in doomed:
            self.assertOk(p.cmd("DELE %d" % n))
        t0 = time.monotonic()
        self.assertOk(p.cmd("QUIT"))
        t_expunge = time.monotonic() - t0
        p.sock.close()
        self.assertEqual(os.path.getsize(user.mbox),
                         sum(raw_lens) - sum(raw_lens[n - 1]
                                             for n in doomed))
        pp = s.login("big", "pw")
        self.assertEqual(pp.stat()[0], COUNT - 3)
        left = [line.split()[1].decode() for line in pp.uidl()[1]]
        self.assertEqual(left, [u for i, u in enumerate(uidls, 1)
                                if i not in doomed])
        originals = [i for i in range(1, COUNT + 1) if i not in doomed]
        for k in (1, COUNT // 2, COUNT - 3):
            resp, lines, octets = pp.retr(k)
            self.assertEqual(b"\r\n".join(lines) + b"\r\n",
                             mboxtest.crlf(header(originals[k - 1]) +
                                           SENT_BODY))
        pp.quit()
        print("\n%d messages, %.0f MB: generated in %.1fs, first open "
              "%.1fs, all retrieved in %.1fs, open from the index %.2fs, "
              "expunge %.1fs" % (COUNT, os.path.getsize(user.mbox) / 1e6,
                                 t_gen, t_open, t_retr, t_cached, t_expunge))


if __name__ == "__main__":
    mboxtest.main()
