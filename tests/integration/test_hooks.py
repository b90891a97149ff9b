# SPDX-License-Identifier: MIT
"""Hooks, through the test-hooks plugin: every hook point is called, and
every verdict has its documented effect on the wire."""

import os
import poplib
import re
import shutil
import ssl
import subprocess
import time

import poplartest
from poplartest import Conn, crlf, curl_retr, top_of

M1 = b"From: one@example.org\nSubject: one\n\nfirst\n.dot\n"
M2 = b"From: two@example.org\nSubject: two\n\nsecond\n"
M3 = b"Subject: three\r\n\r\nthird\r\nline\r\n"
MESSAGES = [M1, M2, M3]
LOAD = ["auth-passwd-file", "store-maildir", "test-hooks"]


def wire_octets(body):
    """Octets a RETR/TOP of @body (CRLF form) puts on the wire after its
    status line: dot-stuffed, with the terminating ".CRLF"."""
    stuffed = sum(1 for l in body.split(b"\r\n") if l.startswith(b"."))
    return len(body) + stuffed + 3


class HooksTest(poplartest.PoplarTestCase):

    def start(self, extra_messages=(), sections=None, **hooks):
        """A server with test-hooks configured by @hooks (keys of the
        [test-hooks] section, '_' written for '-') and other @sections."""
        self.srv = self.server(start=False)
        self.user = self.srv.add_user("alice", "pw",
                                      MESSAGES + list(extra_messages))
        self.record_path = os.path.join(self.srv.dir, "record")
        all_sections = dict(sections or {})
        all_sections["test-hooks"] = self.hook_conf(**hooks)
        self.srv.start(load=LOAD, sections=all_sections)

    def hook_conf(self, **hooks):
        conf = {"record": self.record_path}
        conf.update({k.replace("_", "-"): v for k, v in hooks.items()})
        return conf

    def restart(self, **hooks):
        self.srv.restart(load=LOAD, sections={"test-hooks": self.hook_conf(
            **hooks)})

    # -- the record

    def records(self):
        try:
            with open(self.record_path) as f:
                return [l.rstrip("\n") for l in f]
        except FileNotFoundError:
            return []

    def wait_record(self, pattern, timeout=5.0):
        """Waits for a record line matching @pattern; returns all lines."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            lines = self.records()
            if any(rx.search(l) for l in lines):
                return lines
            if time.monotonic() > deadline:
                self.fail("no hook record /%s/ within %.0fs; records:\n%s" % (
                    pattern, timeout, "\n".join(lines)))
            time.sleep(0.05)

    def session_records(self, sid, lines=None):
        lines = self.records() if lines is None else lines
        return [l for l in lines
                if not l.startswith("second:") and l.split(" ")[1:2] == [sid]]

    def session_id(self):
        """The id of the most recent connect record."""
        lines = self.wait_record(r"^connect ")
        return [l for l in lines if l.startswith("connect ")][-1].split()[1]

    def uidls(self, conn):
        status, body = conn.multi("UIDL")
        self.assertOk(status)
        return [l.split(b" ")[1].decode() for l in body.splitlines()]

    def session(self):
        c = Conn(self.srv.port)
        self.addCleanup(c.close)
        c.login("alice", "pw")
        return c

    def files(self):
        return self.user.maildir.contents()

    # -- every point is called

    def test_full_session_records_every_point(self):
        self.start()
        c = self.session()
        uidls = self.uidls(c)
        status, body = c.multi("RETR 1")
        self.assertEqual(body, crlf(M1))
        status, body = c.multi("TOP 2 3")
        self.assertEqual(body, top_of(M2, 3))
        self.assertOk(c.cmd("DELE 1"))
        self.assertOk(c.cmd("RSET"))
        self.assertOk(c.cmd("DELE 1"))
        self.assertOk(c.cmd("QUIT"))
        self.assertTrue(c.wait_closed(5))
        lines = self.wait_record(r"^disconnect ")
        sid = self.session_id()
        self.assertEqual(self.session_records(sid, lines), [
            "connect %s 127.0.0.1" % sid,
            "auth_before %s alice USER" % sid,
            "auth_after %s alice succeeded" % sid,
            "mailbox_open %s 3" % sid,
            "message_retrieve %s %s -1" % (sid, uidls[0]),
            "message_sent %s %s -1 %d 1" % (sid, uidls[0],
                                            wire_octets(crlf(M1))),
            "message_retrieve %s %s 3" % (sid, uidls[1]),
            "message_sent %s %s 3 %d 1" % (sid, uidls[1],
                                           wire_octets(top_of(M2, 3))),
            "message_delete %s %s" % (sid, uidls[0]),
            "rset %s" % sid,
            "message_delete %s %s" % (sid, uidls[0]),
            "update_before %s" % sid,
            "update_after %s 1" % sid,
            "disconnect %s quit" % sid,
        ])
        self.assertNotIn(M1, self.files())
        # The session id the plugins see is the one in the server's log.
        self.assertTrue(any(sid in l for l in self.srv.log_lines()),
                        "session id %s is on no log line" % sid)

    def test_dropped_connection_records_client_closed(self):
        self.start()
        c = self.session()
        self.assertOk(c.cmd("DELE 1"))
        c.close()
        lines = self.wait_record(r"^disconnect ")
        sid = self.session_id()
        mine = self.session_records(sid, lines)
        self.assertEqual(mine[-1], "disconnect %s client-closed" % sid)
        self.assertFalse(any(l.startswith("update_") for l in mine),
                         "UPDATE hooks ran for a dropped connection: %r" % mine)
        self.assertEqual(len(self.files()), 3)

    def test_failed_login_records_failed(self):
        self.start()
        with Conn(self.srv.port) as c:
            c.greeting()
            c.cmd("USER alice")
            self.assertErr(c.cmd("PASS wrong"), code="AUTH")
            self.assertOk(c.cmd("QUIT"))
        lines = self.wait_record(r"^disconnect ")
        sid = self.session_id()
        self.assertEqual(self.session_records(sid, lines), [
            "connect %s 127.0.0.1" % sid,
            "auth_before %s alice USER" % sid,
            "auth_after %s alice failed" % sid,
            "disconnect %s quit" % sid,
        ])

    # -- connect

    def assert_greeting_refused(self, prefix):
        with Conn(self.srv.port) as c:
            greeting = c.reply()
            self.assertTrue(greeting.startswith(prefix),
                            "greeting %r, expected %r" % (greeting, prefix))
            self.assertTrue(c.wait_closed(5), "connection not closed")

    def test_connect_reject(self):
        self.start(connect="reject")
        self.assert_greeting_refused("-ERR")
        self.wait_record(r"^connect ")
        self.assertFalse(any(l.startswith("auth_") for l in self.records()))

    def test_connect_reject_with_code_and_text(self):
        self.start(connect="reject:SYS/PERM:no entry")
        self.assert_greeting_refused("-ERR [SYS/PERM] no entry")

    def test_connect_tempfail(self):
        self.start(connect="tempfail")
        self.assert_greeting_refused("-ERR [SYS/TEMP]")

    def test_connect_disconnect(self):
        self.start(connect="disconnect::closing now")
        with Conn(self.srv.port) as c:
            self.assertTrue(c.wait_closed(5), "connection not closed")
            self.assertTrue(c.tail.startswith(b"-ERR closing now\r\n"),
                            "before the close: %r" % c.tail)

    # -- tls

    def start_tls_server(self, **hooks):
        """A server with a fresh self-signed certificate for STLS."""
        if not shutil.which("openssl"):
            self.skipTest("openssl is needed to make a test certificate")
        tmp = poplartest.tempfile.mkdtemp(prefix="poplartest-cert-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cert = os.path.join(tmp, "cert.pem")
        key = os.path.join(tmp, "key.pem")
        r = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
             "-keyout", key, "-out", cert, "-days", "2",
             "-subj", "/CN=localhost"], capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.start(sections={"tls": {"certificates": cert + ":" + key}},
                   **hooks)

    def stls(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        p = self.srv.pop()
        self.addCleanup(p.close)
        self.assertTrue(p.stls(ctx).startswith(b"+OK"))
        return p

    def test_tls_is_recorded(self):
        self.start_tls_server()
        p = self.stls()
        p.user("alice")
        p.pass_("pw")
        self.assertEqual(p.stat()[0], 3)
        p.quit()
        lines = self.wait_record(r"^disconnect ")
        sid = self.session_id()
        self.assertEqual([l.split(" ")[0] for l in
                          self.session_records(sid, lines)][:3],
                         ["connect", "tls", "auth_before"])

    def test_tls_reject_closes(self):
        self.start_tls_server(tls="reject")
        p = self.stls()
        with self.assertRaises((poplib.error_proto, EOFError, OSError)):
            p.user("alice")
            p.pass_("pw")
        self.wait_record(r"^tls ")
        self.assertFalse(any(l.startswith("auth_") for l in self.records()))

    # -- authentication

    def test_auth_before_reject(self):
        self.start(auth_before="reject:AUTH:go away")
        with Conn(self.srv.port) as c:
            c.greeting()
            self.assertOk(c.cmd("USER alice"))
            self.assertEqual(c.cmd("PASS pw"), "-ERR [AUTH] go away")
            self.assertErr(c.cmd("STAT"), "STAT after a refused login")
            self.assertOk(c.cmd("QUIT"))
        self.assertEqual(len(self.files()), 3)

    def test_auth_before_tempfail(self):
        self.start(auth_before="tempfail")
        with Conn(self.srv.port) as c:
            c.greeting()
            self.assertOk(c.cmd("USER alice"))
            self.assertErr(c.cmd("PASS pw"), code="SYS/TEMP")
            self.assertOk(c.cmd("QUIT"))

    def test_auth_before_disconnect(self):
        self.start(auth_before="disconnect:AUTH:bye")
        with Conn(self.srv.port) as c:
            c.greeting()
            self.assertOk(c.cmd("USER alice"))
            self.assertEqual(c.cmd("PASS pw"), "-ERR [AUTH] bye")
            self.assertTrue(c.wait_closed(5), "connection not closed")

    def test_auth_after_reject_turns_success_into_failure(self):
        self.start(auth_after="reject:AUTH:not today")
        with Conn(self.srv.port) as c:
            c.greeting()
            self.assertOk(c.cmd("USER alice"))
            self.assertEqual(c.cmd("PASS pw"), "-ERR [AUTH] not today")
            self.assertErr(c.cmd("STAT"))
            self.assertOk(c.cmd("QUIT"))
        lines = self.wait_record(r"^disconnect ")
        sid = self.session_id()
        mine = self.session_records(sid, lines)
        self.assertIn("auth_after %s alice succeeded" % sid, mine)
        self.assertFalse(any(l.startswith("mailbox_open") for l in mine),
                         "mailbox opened for a refused login")

    # -- mailbox_open

    def test_mailbox_open_tempfail(self):
        self.start(mailbox_open="tempfail")
        with Conn(self.srv.port) as c:
            c.greeting()
            self.assertOk(c.cmd("USER alice"))
            self.assertErr(c.cmd("PASS pw"), code="SYS/TEMP")
            self.assertErr(c.cmd("STAT"), "STAT after a refused open")
            self.assertOk(c.cmd("QUIT"))
        self.assertEqual(len(self.files()), 3)
        # The mailbox was released: without the hook, it opens at once.
        self.restart()
        with Conn(self.srv.port) as c:
            c.login("alice", "pw")
            self.assertEqual(c.cmd("STAT").split()[:2], ["+OK", "3"])
            self.assertOk(c.cmd("QUIT"))

    def test_mailbox_open_reject(self):
        self.start(mailbox_open="reject:SYS/PERM:mailbox blocked")
        with Conn(self.srv.port) as c:
            c.greeting()
            self.assertOk(c.cmd("USER alice"))
            self.assertEqual(c.cmd("PASS pw"),
                             "-ERR [SYS/PERM] mailbox blocked")
            c.cmd("QUIT")

    def test_hide_uidls(self):
        self.start()
        with Conn(self.srv.port) as c:
            c.login("alice", "pw")
            uidls = self.uidls(c)
            self.assertOk(c.cmd("QUIT"))
        self.restart(hide_uidls=uidls[1])
        c = self.session()
        self.assertEqual(c.cmd("STAT").split(), [
            "+OK", "2", str(len(crlf(M1)) + len(crlf(M3)))])
        status, body = c.multi("LIST")
        self.assertEqual(body, b"1 %d\r\n2 %d\r\n" % (len(crlf(M1)),
                                                      len(crlf(M3))))
        self.assertEqual(self.uidls(c), [uidls[0], uidls[2]])
        self.assertErr(c.cmd("LIST 3"), "LIST past the visible messages")
        status, body = c.multi("RETR 2")
        self.assertEqual(body, crlf(M3), "message 2 must be the third one")
        self.assertOk(c.cmd("DELE 1"))
        self.assertOk(c.cmd("DELE 2"))
        self.assertErr(c.cmd("DELE 3"))
        self.assertOk(c.cmd("QUIT"))
        self.assertTrue(c.wait_closed(5))
        self.assertEqual(self.files(), [M2], "the hidden message must stay, "
                         "the others go")

    def test_add_header(self):
        header = b"X-Poplar-Test: added by a hook\r\n"
        self.start(add_header="X-Poplar-Test: added by a hook")
        c = self.session()
        sizes = [len(crlf(m)) + len(header) for m in MESSAGES]
        self.assertEqual(c.cmd("STAT").split(), ["+OK", "3", str(sum(sizes))])
        status, body = c.multi("LIST")
        self.assertEqual(body, b"".join(b"%d %d\r\n" % (n, s)
                                        for n, s in enumerate(sizes, 1)))
        for n, m in enumerate(MESSAGES, 1):
            status, body = c.multi("RETR %d" % n)
            self.assertEqual(body, header + crlf(m), "RETR %d" % n)
            self.assertEqual(len(body), sizes[n - 1])
            status, body = c.multi("TOP %d 0" % n)
            self.assertEqual(body, header + top_of(m, 0), "TOP %d 0" % n)
        self.assertOk(c.cmd("QUIT"))
        self.assertTrue(c.wait_closed(5))
        self.assertEqual(curl_retr(self.srv.port, "alice", "pw", 1),
                         header + crlf(M1))
        # The stored messages are unchanged.
        self.assertEqual(self.files(), sorted(MESSAGES))

    # -- message_retrieve

    def test_message_retrieve_reject(self):
        self.start(message_retrieve="reject")
        c = self.session()
        self.assertErr(c.cmd("RETR 1"), "RETR refused by a hook")
        self.assertErr(c.cmd("TOP 1 0"), "TOP refused by a hook")
        # The session goes on.
        self.assertEqual(c.cmd("STAT").split()[:2], ["+OK", "3"])
        self.assertEqual(c.cmd("LIST 1").split()[:2], ["+OK", "1"])
        self.assertOk(c.cmd("NOOP"))
        self.assertOk(c.cmd("QUIT"))
        lines = self.wait_record(r"^disconnect ")
        self.assertEqual(len([l for l in lines
                              if l.startswith("message_retrieve ")]), 2)
        self.assertFalse(any(l.startswith("message_sent ") for l in lines),
                         "message_sent for a refused transfer: %r" % lines)
        self.assertEqual(len(self.files()), 3)

    def test_message_retrieve_reject_with_code(self):
        self.start(message_retrieve="reject:SYS/PERM:blocked by policy")
        c = self.session()
        self.assertEqual(c.cmd("RETR 2"), "-ERR [SYS/PERM] blocked by policy")
        self.assertOk(c.cmd("QUIT"))

    def test_message_retrieve_tempfail(self):
        self.start(message_retrieve="tempfail")
        c = self.session()
        self.assertErr(c.cmd("RETR 1"), code="SYS/TEMP")
        self.assertOk(c.cmd("NOOP"))
        self.assertOk(c.cmd("QUIT"))

    def test_message_retrieve_disconnect(self):
        self.start(message_retrieve="disconnect:SYS/PERM:bye")
        c = self.session()
        self.assertOk(c.cmd("DELE 2"))
        self.assertEqual(c.cmd("RETR 1"), "-ERR [SYS/PERM] bye")
        self.assertTrue(c.wait_closed(5), "connection not closed")
        # Not a QUIT: nothing deleted.
        lines = self.wait_record(r"^disconnect ")
        self.assertFalse(any(l.startswith("update_") for l in lines))
        self.assertEqual(len(self.files()), 3)

    def test_message_retrieve_accept_still_sends(self):
        self.start(message_retrieve="accept")
        c = self.session()
        status, body = c.multi("RETR 1")
        self.assertOk(status)
        self.assertEqual(body, crlf(M1))
        self.assertOk(c.cmd("QUIT"))

    def test_message_sent_reports_a_cut_transfer(self):
        """A client that hangs up in the middle of a 20 MB RETR: the
        message_sent hook hears complete=0 and fewer octets than the
        whole message."""
        big = b"Subject: big\n\n" + b"0123456789abcdef" * 64 * 1024 * 20
        self.start(extra_messages=[big])
        c = Conn(self.srv.port)
        self.addCleanup(c.close)
        c.sock.setsockopt(poplartest.socket.SOL_SOCKET,
                          poplartest.socket.SO_RCVBUF, 32 * 1024)
        c.login("alice", "pw")
        uidls = self.uidls(c)
        self.assertOk(c.cmd("RETR 4"))
        c.sock.recv(64 * 1024)
        c.close()
        lines = self.wait_record(r"^message_sent ", timeout=10)
        sent = [l for l in lines if l.startswith("message_sent ")]
        self.assertEqual(len(sent), 1, sent)
        _, sid, uidl, top, octets, complete = sent[0].split(" ")
        self.assertEqual((uidl, top, complete), (uidls[3], "-1", "0"),
                         sent[0])
        self.assertLess(int(octets), wire_octets(crlf(big)))
        lines = self.wait_record(r"^disconnect ")
        self.assertIn("disconnect %s client-closed" % sid, lines)

    def test_rset_verdict_is_ignored(self):
        self.start(rset="reject:SYS/PERM:no")
        c = self.session()
        self.assertOk(c.cmd("DELE 1"))
        self.assertOk(c.cmd("RSET"), "RSET is notification-only")
        self.assertEqual(c.cmd("STAT").split()[:2], ["+OK", "3"])
        self.assertOk(c.cmd("QUIT"))
        lines = self.wait_record(r"^disconnect ")
        self.assertTrue(any(l.startswith("rset ") for l in lines))
        self.assertEqual(self.files(), sorted(MESSAGES))

    # -- message_delete

    def test_message_delete_reject(self):
        self.start(message_delete="reject:SYS/PERM:keep it")
        c = self.session()
        self.assertEqual(c.cmd("DELE 1"), "-ERR [SYS/PERM] keep it")
        self.assertEqual(c.cmd("STAT").split()[:2], ["+OK", "3"],
                         "a refused DELE must not mark the message")
        status, body = c.multi("RETR 1")
        self.assertEqual(body, crlf(M1))
        self.assertOk(c.cmd("QUIT"))
        self.assertTrue(c.wait_closed(5))
        self.assertEqual(self.files(), sorted(MESSAGES))

    # -- update

    def test_update_before_reject(self):
        self.start(update_before="reject")
        c = self.session()
        self.assertOk(c.cmd("DELE 1"))
        self.assertOk(c.cmd("DELE 3"))
        self.assertErr(c.cmd("QUIT"), "QUIT refused by update_before")
        self.assertTrue(c.wait_closed(5), "connection not closed")
        lines = self.wait_record(r"^disconnect ")
        sid = self.session_id()
        self.assertNotIn("update_after %s 1" % sid, lines)
        self.assertEqual(self.files(), sorted(MESSAGES), "nothing deleted")

    def test_notification_verdicts_are_ignored(self):
        self.start(update_after="reject", disconnect="reject")
        c = self.session()
        self.assertOk(c.cmd("DELE 2"))
        self.assertOk(c.cmd("QUIT"), "QUIT with update_after=reject")
        self.assertTrue(c.wait_closed(5))
        self.wait_record(r"^disconnect ")
        self.assertEqual(self.files(), sorted([M1, M3]))

    # -- ACCEPT skips the remaining hooks of a point

    def test_accept_skips_the_next_table(self):
        self.start(connect="accept", auth_before="accept",
                   message_retrieve="accept", second_table="yes")
        c = self.session()
        status, body = c.multi("RETR 1")
        self.assertEqual(body, crlf(M1))
        self.assertOk(c.cmd("QUIT"))
        lines = self.wait_record(r"^second:disconnect ")
        sid = self.session_id()
        firsts = self.session_records(sid, lines)
        seconds = [l[len("second:"):] for l in lines
                   if l.startswith("second:") and l.split(" ")[1:2] == [sid]]
        points = lambda ls: [l.split(" ")[0] for l in ls]
        self.assertEqual(points(firsts), [
            "connect", "auth_before", "auth_after", "mailbox_open",
            "message_retrieve", "message_sent", "update_before",
            "update_after", "disconnect"])
        # (message_sent is a notification: every table hears it)
        self.assertEqual(points(seconds), [
            "auth_after", "mailbox_open", "message_sent", "update_before",
            "update_after", "disconnect"],
            "the second table must see only the points the first continued")
        self.assertEqual([l for l in firsts
                          if l.split(" ")[0] in points(seconds)], seconds)
        # The first table runs before the second at each point.
        for l in seconds:
            self.assertLess(lines.index(l), lines.index("second:" + l))

    def test_continue_reaches_the_next_table(self):
        self.start(second_table="yes")
        c = self.session()
        c.multi("RETR 1")
        self.assertOk(c.cmd("DELE 1"))
        self.assertOk(c.cmd("QUIT"))
        lines = self.wait_record(r"^second:disconnect ")
        sid = self.session_id()
        firsts = self.session_records(sid, lines)
        seconds = [l[len("second:"):] for l in lines
                   if l.startswith("second:") and l.split(" ")[1:2] == [sid]]
        self.assertEqual(firsts, seconds)
        self.assertEqual([l.split(" ")[0] for l in firsts], [
            "connect", "auth_before", "auth_after", "mailbox_open",
            "message_retrieve", "message_sent", "message_delete",
            "update_before", "update_after", "disconnect"])

    def test_reject_skips_the_next_table(self):
        self.start(message_delete="reject", second_table="yes")
        c = self.session()
        self.assertErr(c.cmd("DELE 1"))
        self.assertOk(c.cmd("QUIT"))
        lines = self.wait_record(r"^second:disconnect ")
        self.assertTrue(any(l.startswith("message_delete ") for l in lines))
        self.assertFalse(any(l.startswith("second:message_delete ")
                             for l in lines))

    # -- configuration

    def test_bad_verdict_is_a_config_error(self):
        srv = self.server(start=False)
        srv.write_config(load=LOAD, sections={"test-hooks": {
            "connect": "maybe", "add-header": "no colon here"}})
        r = poplartest.subprocess.run(
            [poplartest.POPLARD, "--check-config", "-c", srv.conf],
            capture_output=True, timeout=30)
        out = (r.stdout + r.stderr).decode(errors="replace")
        self.assertGreater(r.returncode, 0, out)
        with open(srv.conf) as f:
            lines = f.read().splitlines()
        for key in ("connect", "add-header"):
            n = next(i + 1 for i, l in enumerate(lines)
                     if l.startswith(key + " ="))
            self.assertRegex(out, r"poplar\.conf:%d\b.*%s" % (n, key),
                             "no error naming line %d and %s" % (n, key))


if __name__ == "__main__":
    poplartest.main()
