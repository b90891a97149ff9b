# SPDX-License-Identifier: MIT
"""RETR by sendfile(): a message store-maildir keeps exactly as it is sent
(CRLF line ends, no line starting with '.', a final CRLF) goes out from
its file, byte for byte, with pipelined replies in order around it; TLS
sessions, messages with hook-added headers and every other message take
the encoding path; a file cut short while it is sent ends the session
with a log line.  Which path a RETR took is read from the session's
summary line ("sendfile=N"), never from timing.

Also here: the summary line and the update_after hooks tell what UPDATE
actually removed when the store fails part way or completely."""

import os
import socket
import sys

import poplartest
from poplartest import Conn, crlf, curl_retr

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tls"))
import tlstest  # noqa: E402  (needs the path above)


def clean_message(size):
    """A CRLF message of about @size octets that the core sends as it is
    stored: dots inside lines, none at a line start."""
    head = (b"From: clean@example.org\r\nSubject: sent as stored\r\n"
            b"X-Dots: a.b.c\r\n\r\n")
    parts = [head]
    total = len(head)
    i = 0
    while total < size:
        line = b"%08d a line . with dots.. inside it, never first\r\n" % i
        parts.append(line)
        total += len(line)
        i += 1
    return b"".join(parts)


CLEAN = clean_message(300 * 1024)
LF = b"Subject: lf\n\nbody with bare LF\n"
DOTTED = b"Subject: dotted\r\n\r\n.starts with a dot\r\n"
NO_FINAL = b"Subject: no final line end\r\n\r\nlast"
EMPTY = b""
MESSAGES = [CLEAN, LF, DOTTED, NO_FINAL, EMPTY]
# Which of MESSAGES qualify (by their 1-based number).
AS_STORED = {1, 5}

LOAD_HOOKS = ["auth-passwd-file", "store-maildir", "test-hooks"]

END_RX = (r"end: user=%s reason=(?P<reason>.*?) retrieved=(?P<retrieved>\d+)"
          r" \((?P<octets>\d+) octets\) sendfile=(?P<sendfile>\d+)"
          r" deleted=(?P<deleted>\d+) \((?P<deleted_octets>\d+) octets\)")


class SendfileTest(poplartest.PoplarTestCase):

    def end_line(self, srv, mark, user="alice", timeout=10):
        """The summary line of @user's next session end after @mark."""
        return srv.wait_for_log(END_RX % user, timeout, start=mark)

    def conn(self, srv, user="alice"):
        c = Conn(srv.port)
        self.addCleanup(c.close)
        c.login(user, "pw")
        return c

    def quit(self, c):
        self.assertOk(c.cmd("QUIT"))
        self.assertTrue(c.wait_closed(5), "connection not closed after QUIT")

    # -- which path, and byte exactness

    def test_qualifying_messages_go_by_sendfile(self):
        srv = self.server({"alice": MESSAGES})
        mark = srv.log_mark()
        c = self.conn(srv)
        for n, content in enumerate(MESSAGES, 1):
            status, body = c.multi("RETR %d" % n)
            self.assertOk(status, "RETR %d" % n)
            self.assertEqual(status, "+OK %d octets" % len(crlf(content)))
            self.assertEqual(body, crlf(content), "message %d" % n)
        self.quit(c)
        m = self.end_line(srv, mark)
        self.assertEqual(m.group("retrieved"), str(len(MESSAGES)))
        self.assertEqual(m.group("sendfile"), str(len(AS_STORED)))
        # store-maildir says which it found sent as stored.
        srv.wait_for_log(r"5 messages \(\d+ octets, 2 sent as stored\)",
                         start=mark)
        # A real client gets the same octets (and the second session reads
        # the flag from the size cache, not the file).
        mark = srv.log_mark()
        self.assertEqual(curl_retr(srv.port, "alice", "pw", 1), crlf(CLEAN))
        self.assertEqual(self.end_line(srv, mark).group("sendfile"), "1")
        srv.wait_for_log(r"2 sent as stored\), 0 moved from new/, 0 sizes "
                         r"counted", start=mark)

    def test_top_never_goes_by_sendfile(self):
        srv = self.server({"alice": [CLEAN]})
        mark = srv.log_mark()
        c = self.conn(srv)
        status, body = c.multi("TOP 1 2")
        self.assertOk(status)
        self.assertEqual(body, poplartest.top_of(CLEAN, 2))
        self.quit(c)
        self.assertEqual(self.end_line(srv, mark).group("sendfile"), "0")

    def test_big_message_through_a_full_socket(self):
        """More than a socket buffer and more than one job's share: the
        transfer stops at EAGAIN and resumes on EPOLLOUT, and every octet
        arrives once, in order."""
        big = clean_message(12 * 1024 * 1024)
        srv = self.server({"alice": [big]})
        mark = srv.log_mark()
        c = self.conn(srv)
        status, body = c.multi("RETR 1")
        self.assertEqual(status, "+OK %d octets" % len(big))
        self.assertEqual(len(body), len(big))
        self.assertTrue(body == big, "the body differs from the file")
        self.quit(c)
        m = self.end_line(srv, mark)
        self.assertEqual(m.group("sendfile"), "1")

    def test_pipelined_replies_keep_their_order(self):
        srv = self.server({"alice": MESSAGES})
        mark = srv.log_mark()
        c = Conn(srv.port)
        self.addCleanup(c.close)
        c.greeting()
        # Everything in one write: the replies must come back in this
        # order, the sendfile bodies exactly between their +OK and the
        # next command's reply.
        c.send(b"USER alice\r\nPASS pw\r\nSTAT\r\nRETR 1\r\nLIST 1\r\n"
               b"RETR 5\r\nRETR 1\r\nUIDL 1\r\nRETR 2\r\nNOOP\r\nQUIT\r\n")
        self.assertOk(c.reply(), "USER")
        self.assertOk(c.reply(), "PASS")
        self.assertTrue(c.reply().startswith("+OK 5 "), "STAT")
        self.assertEqual(c.reply(), "+OK %d octets" % len(CLEAN))
        self.assertEqual(c.body(), CLEAN)
        self.assertEqual(c.reply(), "+OK 1 %d" % len(CLEAN))
        self.assertEqual(c.reply(), "+OK 0 octets")
        self.assertEqual(c.body(), b"")
        self.assertEqual(c.reply(), "+OK %d octets" % len(CLEAN))
        self.assertEqual(c.body(), CLEAN)
        self.assertTrue(c.reply().startswith("+OK 1 "), "UIDL 1")
        self.assertEqual(c.reply(), "+OK %d octets" % len(crlf(LF)))
        self.assertEqual(c.body(), crlf(LF))
        self.assertEqual(c.reply(), "+OK", "NOOP")
        self.assertTrue(c.reply().startswith("+OK"), "QUIT")
        self.assertTrue(c.wait_closed(5))
        self.assertEqual(c.tail, b"", "octets after the QUIT reply")
        m = self.end_line(srv, mark)
        self.assertEqual(m.group("retrieved"), "4")
        self.assertEqual(m.group("sendfile"), "3")

    # -- where it must not be used

    def test_hook_added_header_goes_the_old_way(self):
        srv = self.server({"alice": [CLEAN]}, start=False)
        srv.start(load=LOAD_HOOKS, sections={
            "test-hooks": {"add-header": "X-Poplar-Test: yes"}})
        mark = srv.log_mark()
        c = self.conn(srv)
        status, body = c.multi("RETR 1")
        self.assertOk(status)
        self.assertEqual(body, b"X-Poplar-Test: yes\r\n" + CLEAN)
        self.quit(c)
        self.assertEqual(self.end_line(srv, mark).group("sendfile"), "0")

    def test_message_sent_hooks_count_the_octets(self):
        srv = self.server({"alice": [CLEAN]}, start=False)
        record = os.path.join(srv.dir, "record")
        srv.start(load=LOAD_HOOKS, sections={"test-hooks": {"record": record}})
        mark = srv.log_mark()
        c = self.conn(srv)
        status, body = c.multi("RETR 1")
        self.assertEqual(body, CLEAN)
        self.quit(c)
        self.assertEqual(self.end_line(srv, mark).group("sendfile"), "1")
        with open(record) as f:
            sent = [l.split() for l in f if l.startswith("message_sent ")]
        # The file's octets and the terminator, the transfer complete.
        self.assertEqual([l[3:] for l in sent],
                         [["-1", str(len(CLEAN) + 3), "1"]])

    def test_tls_goes_the_old_way(self):
        srv = tlstest.TlsServer()
        self._servers.append(srv)
        self.addCleanup(self._cleanup_server, srv)
        srv.add_user("alice", "pw", [CLEAN, LF])
        srv.start()
        for how in ("implicit", "stls"):
            mark = srv.log_mark()
            c = srv.tls_conn() if how == "implicit" else srv.stls_conn()
            self.addCleanup(c.close)
            self.assertOk(c.cmd("USER alice"))
            self.assertOk(c.cmd("PASS pw"))
            status, body = c.multi("RETR 1")
            self.assertOk(status)
            self.assertEqual(body, CLEAN, how)
            self.quit(c)
            self.assertEqual(self.end_line(srv, mark).group("sendfile"), "0",
                             how)
        # The same message on the same server's plain port does use it.
        mark = srv.log_mark()
        c = self.conn(srv)
        status, body = c.multi("RETR 1")
        self.assertEqual(body, CLEAN)
        self.quit(c)
        self.assertEqual(self.end_line(srv, mark).group("sendfile"), "1")

    # -- a file cut short under the transfer

    def test_truncated_file_ends_the_session(self):
        big = clean_message(20 * 1024 * 1024)
        srv = self.server({"alice": [big]})
        mark = srv.log_mark()
        # A small receive buffer, so that most of the message is still on
        # the server's side when the file is cut.
        sock = socket.socket()
        self.addCleanup(sock.close)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        sock.settimeout(poplartest.SOCKET_TIMEOUT)
        sock.connect((poplartest.HOST, srv.port))
        c = Conn.__new__(Conn)
        c.sock, c.buf, c.pos = sock, bytearray(), 0
        c.login("alice", "pw")
        c.send("RETR 1\r\n")
        self.assertEqual(c.reply(), "+OK %d octets" % len(big))
        got = bytes(c.buf[c.pos:])
        while len(got) < 64 * 1024:
            got += sock.recv(65536)
        path = srv.users["alice"].maildir.files()[0]
        os.truncate(path, 1024 * 1024)
        # The server must neither hang nor pretend: the connection ends
        # without the terminator, well short of the announced size.
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            got += chunk
        self.assertLess(len(got), len(big))
        self.assertFalse(got.endswith(b"\r\n.\r\n"), "terminator was sent")
        srv.wait_for_log(r"its file ended after \d+ of %d octets .*closing "
                         r"the connection" % len(big), start=mark)
        m = self.end_line(srv, mark)
        self.assertEqual(m.group("reason"), "error")

    # -- what UPDATE removed

    def expunge_session(self, srv, break_files):
        """DELE 1-3, breaks what @break_files says, QUIT; returns the QUIT
        reply and the summary line."""
        mark = srv.log_mark()
        c = self.conn(srv)
        for n in (1, 2, 3):
            self.assertOk(c.cmd("DELE %d" % n))
        break_files(srv.users["alice"].maildir)
        reply = c.cmd("QUIT")
        self.assertTrue(c.wait_closed(5))
        return reply, self.end_line(srv, mark)

    def records(self, path):
        with open(path) as f:
            return [l.rstrip("\n") for l in f if l.startswith("update_after")]

    def test_partial_expunge_is_logged_as_it_is(self):
        msgs = [b"Subject: a\n\n1\n", b"Subject: bb\n\n22\n",
                b"Subject: ccc\n\n333\n", b"Subject: kept\n\n4\n"]
        srv = self.server(start=False)
        user = srv.add_user("alice", "pw", msgs)
        record = os.path.join(srv.dir, "record")
        srv.start(load=LOAD_HOOKS, sections={
            "test-hooks": {"record": record, "record-expunged": "yes"}})
        c = self.conn(srv)
        status, body = c.multi("UIDL")
        uidls = [l.split(b" ")[1].decode() for l in body.splitlines()]
        c.close()
        srv.wait_for_log(END_RX % "alice")

        def second_undeletable(maildir):
            # A directory where message 2's file was: unlink() fails.
            path = [p for p in maildir.files() if uidls[1] in p][0]
            os.unlink(path)
            os.mkdir(path)

        reply, m = self.expunge_session(srv, second_undeletable)
        self.assertErr(reply, "QUIT", code="SYS/TEMP")
        self.assertEqual(m.group("deleted"), "2")
        self.assertEqual(int(m.group("deleted_octets")),
                         len(crlf(msgs[0])) + len(crlf(msgs[2])))
        srv.wait_for_log(r"expunge of 3 messages failed, 2 removed")
        self.assertEqual(self.records(record)[-1].split()[2:], [
            "0", "expunged=%s,%s" % (uidls[0], uidls[2])])
        self.assertEqual(len(user.maildir.files()), 2)

    def test_failed_expunge_logs_nothing_deleted(self):
        msgs = [b"Subject: a\n\n1\n", b"Subject: b\n\n2\n",
                b"Subject: c\n\n3\n"]
        srv = self.server(start=False)
        user = srv.add_user("alice", "pw", msgs)
        record = os.path.join(srv.dir, "record")
        srv.start(load=LOAD_HOOKS, sections={
            "test-hooks": {"record": record, "record-expunged": "yes"}})

        def cur_replaced_by_link(maildir):
            # cur/ is opened without following links: nothing is removed.
            cur = os.path.join(maildir.path, "cur")
            os.rename(cur, cur + ".real")
            os.symlink(cur + ".real", cur)

        reply, m = self.expunge_session(srv, cur_replaced_by_link)
        self.assertErr(reply, "QUIT")
        self.assertEqual(m.group("deleted"), "0")
        self.assertEqual(m.group("deleted_octets"), "0")
        self.assertEqual(self.records(record)[-1].split()[2:],
                         ["0", "expunged=-"])
        self.assertEqual(len(os.listdir(os.path.join(user.maildir.path,
                                                     "cur.real"))), 3)

    def test_successful_expunge_counts_what_went(self):
        msgs = [b"Subject: a\n\n1\n", b"Subject: b\n\n2\n",
                b"Subject: c\n\n3\n", b"Subject: d\n\n4\n"]
        srv = self.server({"alice": msgs})
        # One of the three is removed by another program meanwhile: gone
        # is what the client asked for, and it counts.
        reply, m = self.expunge_session(
            srv, lambda maildir: os.unlink(maildir.files()[0]))
        self.assertEqual(reply, "+OK Poplar signing off (3 messages deleted, "
                         "1 left)")
        self.assertEqual(m.group("deleted"), "3")


if __name__ == "__main__":
    poplartest.main()
