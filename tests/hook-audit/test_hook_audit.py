# SPDX-License-Identifier: MIT
"""hook-audit with a real poplard: every event and every field of real
sessions (poplib, curl, raw sockets), read back from the JSON Lines file,
a syslog socket and a journal socket bound by the test; the on-error
policies; reopening after logrotate."""

import json
import os
import poplib
import re
import shutil
import socket
import ssl
import subprocess
import time

import poplartest
from poplartest import Conn, crlf

M1 = b"From: one@example.org\nSubject: one\n\nfirst\n.dot line\n"
M2 = b"From: two@example.org\nSubject: two\n\nsecond\nline two\nthree\n"
M3 = b"Subject: three\r\n\r\nthird\r\n"
LOAD = ["auth-passwd-file", "store-maildir", "hook-audit"]
PASSWORD = "Sekr1t-Pa55word"
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def stuffed(data, top=None):
    """What RETR puts on the wire after the +OK line: the message in CRLF
    form, dot-stuffed, and the terminating '.' line."""
    body = crlf(data) if top is None else poplartest.top_of(data, top)
    lines = body.split(b"\r\n")[:-1]
    out = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n"
                   for l in lines)
    return out + b".\r\n"


def ts_seconds(ts):
    return time.mktime(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) - \
        time.timezone + float("0" + ts[19:-1])


class AuditTest(poplartest.PoplarTestCase):

    def start(self, audit=None, server=None, messages=(M1, M2, M3),
              extra_users=()):
        self.srv = self.server(start=False)
        self.user = self.srv.add_user("alice", PASSWORD, messages)
        for name, password, extra in extra_users:
            self.srv.add_user(name, password, (M1,), extra=extra)
        self.audit_path = os.path.join(self.srv.dir, "audit.jsonl")
        conf = {"sinks": "file", "file": self.audit_path}
        conf.update(audit or {})
        self.srv.start(load=LOAD, server=server,
                       sections={"hook-audit": conf})
        return self.srv

    # -- reading events

    def events(self, path=None):
        path = path or self.audit_path
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return []
        self.assertTrue(data == b"" or data.endswith(b"\n"),
                        "audit file ends in a partial line")
        return [json.loads(l) for l in data.decode("utf-8").splitlines()]

    def wait_events(self, pred, timeout=10.0, path=None):
        deadline = time.monotonic() + timeout
        while True:
            evs = self.events(path)
            if any(pred(e) for e in evs):
                return evs
            if time.monotonic() > deadline:
                self.fail("no matching audit event within %.0fs:\n%s" % (
                    timeout, "\n".join(json.dumps(e) for e in evs)))
            time.sleep(0.05)

    def session_events(self, sid, timeout=10.0, path=None):
        """Every event of session @sid once its disconnect is written."""
        evs = self.wait_events(lambda e: e["session"] == sid and
                               e["event"] == "disconnect", timeout, path)
        return [e for e in evs if e["session"] == sid]

    def last_session(self, timeout=10.0):
        evs = self.wait_events(lambda e: e["event"] == "connect", timeout)
        return [e for e in evs if e["event"] == "connect"][-1]["session"]

    def sid_of_port(self, client_port, timeout=10.0):
        evs = self.wait_events(lambda e: e["event"] == "connect" and
                               e["client_port"] == client_port, timeout)
        return [e for e in evs if e["event"] == "connect" and
                e["client_port"] == client_port][0]["session"]

    def check_common(self, evs, sid):
        last = 0.0
        for e in evs:
            self.assertEqual(e["session"], sid)
            self.assertRegex(e["ts"], TS)
            t = ts_seconds(e["ts"])
            self.assertLess(abs(t - time.time()), 120, e)
            self.assertGreaterEqual(t, last, "timestamps go backwards")
            last = t
            self.assertEqual(list(e)[:3], ["ts", "event", "session"])

    def uidls(self):
        p = self.srv.login(self.user)
        try:
            return [l.split()[1].decode() for l in p.uidl()[1]]
        finally:
            p.quit()

    # -- whole sessions

    def test_poplib_session_every_event_and_field(self):
        self.start()
        uidls = self.uidls()
        sizes = [len(crlf(m)) for m in (M1, M2, M3)]

        p = self.srv.pop()
        client_port = p.sock.getsockname()[1]
        p.user("alice")
        p.pass_(PASSWORD)
        self.assertEqual(p.stat(), (3, sum(sizes)))
        self.assertEqual(b"\r\n".join(p.retr(1)[1]) + b"\r\n", crlf(M1))
        p.top(2, 1)
        p.dele(1)
        p.rset()
        p.dele(2)
        p.quit()

        sid = self.sid_of_port(client_port)
        evs = self.session_events(sid)
        self.check_common(evs, sid)
        self.assertEqual([e["event"] for e in evs], [
            "connect", "auth_attempt", "auth_result", "mailbox_open", "retr",
            "top", "dele", "rset", "dele", "update", "disconnect"])
        connect, attempt, result, mbox, retr, top, dele1, rset, dele2, \
            update, disc = evs
        self.assertEqual(connect, dict(connect, **{
            "client_address": "127.0.0.1", "client_port": client_port,
            "local_address": "127.0.0.1", "local_port": self.srv.port,
            "tls": False, "trusted": True}))
        self.assertEqual(len(connect), 9)
        self.assertEqual(attempt, dict(attempt, **{
            "user": "alice", "mechanism": "USER",
            "client_address": "127.0.0.1"}))
        self.assertEqual(len(attempt), 6)
        self.assertEqual(result, dict(result, **{
            "user": "alice", "mechanism": "USER", "result": "success",
            "reason_code": None}))
        self.assertEqual(mbox, dict(mbox, **{
            "user": "alice", "messages": 3, "octets": sum(sizes),
            "hidden": 0}))
        self.assertEqual(retr, dict(retr, **{
            "uidl": uidls[0], "number": 1, "size": sizes[0],
            "octets": len(stuffed(M1)), "complete": True}))
        self.assertNotIn("lines", retr)
        self.assertEqual(top, dict(top, **{
            "uidl": uidls[1], "number": 2, "size": sizes[1], "lines": 1,
            "octets": len(stuffed(M2, top=1)), "complete": True}))
        self.assertEqual(dele1, dict(dele1, **{
            "uidl": uidls[0], "number": 1, "size": sizes[0]}))
        self.assertEqual(rset, dict(rset, **{
            "unmarked": 1, "messages": 3, "octets": sum(sizes)}))
        self.assertEqual(dele2["uidl"], uidls[1])
        self.assertEqual(update, dict(update, **{
            "committed": True, "deleted": [uidls[1]],
            "octets_freed": sizes[1], "not_deleted": [], "error": None}))
        self.assertEqual(disc["reason"], "quit")
        self.assertEqual(disc["user"], "alice")
        self.assertGreater(disc["duration"], 0)
        self.assertLess(disc["duration"], 60)
        self.assertGreater(disc["bytes_in"], 0)
        self.assertGreater(disc["bytes_out"], len(stuffed(M1)))
        # The password is in no event, in any form.
        with open(self.audit_path, "rb") as f:
            self.assertNotIn(PASSWORD.encode(), f.read())
        self.assertFalse(self.user.maildir.holds(M2))
        self.assertTrue(self.user.maildir.holds(M1))

    def test_exact_byte_counts_with_a_raw_client(self):
        self.start()
        c = Conn(self.srv.port)
        self.addCleanup(c.close)
        port = c.sock.getsockname()[1]
        sent = [b"USER alice\r\n", ("PASS %s\r\n" % PASSWORD).encode(),
                b"NOOP\r\n", b"QUIT\r\n"]
        received = c.reply().encode() + b"\r\n"
        for line in sent:
            c.send(line)
            received += c.reply().encode() + b"\r\n"
        self.assertTrue(c.wait_closed(5))
        evs = self.session_events(self.sid_of_port(port))
        disc = evs[-1]
        self.assertEqual(disc["bytes_in"], sum(len(l) for l in sent))
        self.assertEqual(disc["bytes_out"], len(received))

    def test_curl_retrieval(self):
        self.start()
        body = poplartest.curl_retr(self.srv.port, "alice", PASSWORD, 2)
        self.assertEqual(body.replace(b"\r\n", b"\n"),
                         M2.replace(b"\r\n", b"\n"))
        sid = self.last_session()
        evs = self.session_events(sid)
        self.check_common(evs, sid)
        names = [e["event"] for e in evs]
        self.assertEqual(names[:4], ["connect", "auth_attempt", "auth_result",
                                     "mailbox_open"])
        self.assertEqual(names[-1], "disconnect")
        retr = [e for e in evs if e["event"] == "retr"]
        self.assertEqual(len(retr), 1)
        self.assertEqual(retr[0]["number"], 2)
        self.assertEqual(retr[0]["octets"], len(stuffed(M2)))
        self.assertTrue(retr[0]["complete"])
        self.assertEqual(evs[1]["user"], "alice")
        self.assertEqual(evs[2]["result"], "success")
        self.assertEqual(evs[-1]["reason"], "quit")
        # No DELE, so an UPDATE that deleted nothing.
        update = [e for e in evs if e["event"] == "update"]
        self.assertEqual(update[0]["deleted"], [])
        self.assertTrue(update[0]["committed"])

    def test_failed_logins_and_reason_codes(self):
        self.start(extra_users=[("carol", "pw", "nologin reason=Closed")])
        p = self.srv.pop()
        port = p.sock.getsockname()[1]
        p.user("alice")
        self.assertPopError(lambda: p.pass_("wrong"), code="AUTH")
        p.user("carol")
        self.assertPopError(lambda: p.pass_("pw"), code="AUTH")
        p.user("n\u00f6body\"\\x")
        # The third failure also ends the session.
        self.assertPopError(lambda: p.pass_("pw"))
        p.close()
        evs = self.session_events(self.sid_of_port(port))
        results = [e for e in evs if e["event"] == "auth_result"]
        self.assertEqual([(e["user"], e["result"], e["reason_code"])
                          for e in results], [
            ("alice", "failure", None),
            ("carol", "failure", "AUTH"),
            ("n\u00f6body\"\\x", "failure", None)])
        self.assertEqual(evs[-1]["user"], None)
        self.assertEqual(evs[-1]["reason"], "error")
        self.assertNotIn("mailbox_open", [e["event"] for e in evs])

    def test_disconnect_by_timeout(self):
        self.start(server={"idle-timeout": "1s"})
        c = Conn(self.srv.port)
        self.addCleanup(c.close)
        port = c.sock.getsockname()[1]
        c.login("alice", PASSWORD)
        self.assertTrue(c.wait_closed(10))
        evs = self.session_events(self.sid_of_port(port))
        self.assertEqual([e["event"] for e in evs][-1], "disconnect")
        self.assertEqual(evs[-1]["reason"], "timeout")
        self.assertGreaterEqual(evs[-1]["duration"], 0.9)
        self.assertNotIn("update", [e["event"] for e in evs])

    def test_dropped_connection_mid_retr(self):
        big = b"Subject: big\n\n" + b"x" * 1000 + b"\n"
        big = big * 8000  # 8 MB: more than the socket buffers hold
        self.start(messages=(big, M2))
        c = Conn(self.srv.port)
        port = c.sock.getsockname()[1]
        c.login("alice", PASSWORD)
        self.assertOk(c.cmd("DELE 2"))
        c.send("RETR 1\r\n")
        self.assertOk(c.reply())
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()  # a reset, with most of the message unsent
        evs = self.session_events(self.sid_of_port(port), timeout=20)
        retr = [e for e in evs if e["event"] == "retr"]
        self.assertEqual(len(retr), 1)
        self.assertFalse(retr[0]["complete"])
        self.assertLess(retr[0]["octets"], len(crlf(big)))
        self.assertEqual(evs[-1]["reason"], "client_closed")
        # Dropped without QUIT: no UPDATE, and message 2 is still there.
        self.assertNotIn("update", [e["event"] for e in evs])
        self.assertTrue(self.user.maildir.holds(M2))

    def test_update_refused_by_a_later_hook(self):
        srv = self.server(start=False)
        user = srv.add_user("alice", PASSWORD, (M1, M2))
        self.audit_path = os.path.join(srv.dir, "audit.jsonl")
        srv.start(load=LOAD + ["test-hooks"], sections={
            "hook-audit": {"sinks": "file", "file": self.audit_path},
            "test-hooks": {"record": os.path.join(srv.dir, "record"),
                           "update-before": "tempfail"}})
        c = Conn(srv.port)
        self.addCleanup(c.close)
        port = c.sock.getsockname()[1]
        c.login("alice", PASSWORD)
        status, body = c.multi("UIDL")
        uidl2 = body.split(b"\r\n")[1].split()[1].decode()
        self.assertOk(c.cmd("DELE 2"))
        self.assertErr(c.cmd("QUIT"), code="SYS/TEMP")
        self.assertTrue(c.wait_closed(5))
        evs = self.session_events(self.sid_of_port(port))
        update = [e for e in evs if e["event"] == "update"]
        self.assertEqual(len(update), 1)
        self.assertEqual(update[0], dict(update[0], **{
            "committed": False, "deleted": [], "octets_freed": 0,
            "not_deleted": [uidl2],
            "error": "refused by a hook before expunge"}))
        self.assertEqual(evs[-1]["event"], "disconnect")
        self.assertTrue(user.maildir.holds(M2))

    def test_dropped_connection_idle(self):
        self.start()
        c = Conn(self.srv.port)
        port = c.sock.getsockname()[1]
        c.login("alice", PASSWORD)
        self.assertOk(c.cmd("DELE 1"))
        c.close()
        evs = self.session_events(self.sid_of_port(port))
        self.assertEqual(evs[-1]["reason"], "client_closed")
        self.assertEqual(evs[-1]["user"], "alice")
        self.assertNotIn("update", [e["event"] for e in evs])

    def test_server_shutdown_reason(self):
        self.start()
        c = Conn(self.srv.port)
        self.addCleanup(c.close)
        port = c.sock.getsockname()[1]
        c.login("alice", PASSWORD)
        sid = self.sid_of_port(port)
        self.assertEqual(self.srv.stop(), 0)
        # The writer drains its queue before poplard exits.
        evs = [e for e in self.events() if e["session"] == sid]
        self.assertEqual(evs[-1]["event"], "disconnect")
        self.assertEqual(evs[-1]["reason"], "shutdown")

    # -- TLS

    def make_certificate(self, directory):
        certtool = shutil.which("certtool")
        if not certtool:
            self.skipTest("certtool (gnutls-bin) is not installed")
        key = os.path.join(directory, "key.pem")
        cert = os.path.join(directory, "cert.pem")
        tmpl = os.path.join(directory, "cert.tmpl")
        with open(tmpl, "w") as f:
            f.write('cn = "mail.example.org"\ndns_name = "mail.example.org"\n'
                    'tls_www_server\nexpiration_days = 2\n')
        for args in (["--generate-privkey", "--key-type=ecdsa", "--outfile",
                      key],
                     ["--generate-self-signed", "--load-privkey", key,
                      "--template", tmpl, "--outfile", cert]):
            subprocess.run([certtool] + args, check=True,
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=60)
        return cert, key

    def test_stls_event_with_version_cipher_and_sni(self):
        srv = self.server(start=False)
        user = srv.add_user("alice", PASSWORD, (M1,))
        cert, key = self.make_certificate(srv.dir)
        self.audit_path = os.path.join(srv.dir, "audit.jsonl")
        srv.start(load=LOAD, sections={
            "tls": {"certificates": "%s:%s" % (cert, key)},
            "hook-audit": {"sinks": "file", "file": self.audit_path}})
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        # poplib's stls() names the host it connected to (127.0.0.1, which
        # is sent as no SNI at all): STLS by hand to send a server name.
        p = srv.pop()
        port = p.sock.getsockname()[1]
        resp = p._shortcmd("STLS")
        p.sock = ctx.wrap_socket(p.sock, server_hostname="mail.example.org")
        p.file = p.sock.makefile("rb")
        self.assertTrue(resp.startswith(b"+OK"))
        p.user("alice")
        p.pass_(PASSWORD)
        version = p.sock.version()
        p.quit()
        evs = self.session_events(self.sid_of_port(port))
        names = [e["event"] for e in evs]
        self.assertEqual(names[:3], ["connect", "tls", "auth_attempt"])
        self.assertFalse(evs[0]["tls"])
        tls = evs[1]
        self.assertEqual(tls["sni"], "mail.example.org")
        self.assertEqual(tls["tls_version"].replace(".", "").upper(),
                         version.replace("v", "").replace(".", "").upper())
        self.assertTrue(tls["tls_cipher"])
        self.assertEqual(len(tls), 6)
        self.assertTrue(user.maildir.holds(M1))

    # -- many sessions at once

    def test_concurrent_sessions_lose_and_mix_nothing(self):
        import threading
        names = ["user%d" % i for i in range(24)]
        self.srv = self.server(start=False)
        for n in names:
            self.srv.add_user(n, "pw", (M1, M2))
        self.audit_path = os.path.join(self.srv.dir, "audit.jsonl")
        self.srv.start(load=LOAD, sections={"hook-audit": {
            "sinks": "file", "file": self.audit_path}})
        errors = []

        def one(name):
            try:
                for _ in range(3):
                    p = self.srv.login(name, "pw")
                    p.retr(1)
                    p.top(2, 0)
                    p.quit()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=one, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        deadline = time.monotonic() + 20
        while True:
            evs = self.events()
            done = sum(1 for e in evs if e["event"] == "disconnect")
            if done >= len(names) * 3 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        sessions = {}
        for e in evs:
            sessions.setdefault(e["session"], []).append(e)
        self.assertEqual(len(sessions), len(names) * 3)
        for sid, s_evs in sessions.items():
            self.assertEqual([e["event"] for e in s_evs], [
                "connect", "auth_attempt", "auth_result", "mailbox_open",
                "retr", "top", "update", "disconnect"], sid)
            self.assertEqual(len({e["user"] for e in s_evs if "user" in e
                                  and e["user"]}), 1, sid)
            self.check_common(s_evs, sid)

    # -- logrotate

    def test_reopens_after_rename_and_removal(self):
        self.start()
        self.uidls()
        self.wait_events(lambda e: e["event"] == "disconnect")
        rotated = self.audit_path + ".1"
        os.rename(self.audit_path, rotated)
        n_old = len(self.events(rotated))
        # Within a second the new name is noticed; sessions until then
        # still land in the old file.
        deadline = time.monotonic() + 10
        while not os.path.exists(self.audit_path):
            self.assertLess(time.monotonic(), deadline,
                            "audit file not recreated after a rename")
            self.uidls()
            time.sleep(0.3)
        self.uidls()
        self.wait_events(lambda e: e["event"] == "disconnect")
        self.assertGreaterEqual(len(self.events(rotated)), n_old)
        # Nothing lost across the switch: every session is whole when the
        # two files are put together.
        deadline = time.monotonic() + 10
        while True:
            both = self.events(rotated) + self.events()
            names = [e["event"] for e in both]
            if names.count("connect") == names.count("disconnect") or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.05)
        sessions = {}
        for e in both:
            sessions.setdefault(e["session"], []).append(e["event"])
        self.assertGreaterEqual(len(sessions), 3)
        for sid, names in sessions.items():
            self.assertEqual(names, ["connect", "auth_attempt", "auth_result",
                                     "mailbox_open", "update", "disconnect"],
                             sid)
        # Removed outright: recreated the same way.
        os.unlink(self.audit_path)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.audit_path):
            self.assertLess(time.monotonic(), deadline,
                            "audit file not recreated after removal")
            self.uidls()
            time.sleep(0.3)
        self.assertNotIn("audit sink file", self.srv.log_text())

    # -- the on-error policies

    def test_refuse_policy_with_an_unwritable_file(self):
        srv = self.server(start=False)
        user = srv.add_user("alice", PASSWORD, (M1,))
        # A directory where the file should be: not writable, even as root.
        path = os.path.join(srv.dir, "audit.jsonl")
        os.mkdir(path)
        srv.start(load=LOAD, sections={"hook-audit": {
            "sinks": "file", "file": path, "on-error": "refuse"}})
        srv.wait_for_log(r"audit sink file .* failed")
        p = srv.pop()
        p.user("alice")
        reply = self.assertPopError(lambda: p.pass_(PASSWORD),
                                    code="SYS/TEMP")
        self.assertIn("Audit log unavailable", reply)
        p.quit()
        srv.wait_for_log(r"login refused: the audit log cannot be written")
        self.assertTrue(user.maildir.holds(M1))
        # Once the file can be written, logins work again without a
        # restart.
        os.rmdir(path)
        deadline = time.monotonic() + 10
        while True:
            try:
                p = srv.login(user)
                break
            except poplib.error_proto as e:
                self.assertIn(b"[SYS/TEMP]", e.args[0])
                self.assertLess(time.monotonic(), deadline,
                                "logins still refused after the file was "
                                "fixed")
                time.sleep(0.2)
        p.quit()
        srv.wait_for_log(r"audit sink file .* works again")
        self.audit_path = path
        self.wait_events(lambda e: e["event"] == "update")

    def test_continue_policy_with_an_unwritable_file(self):
        srv = self.server(start=False)
        user = srv.add_user("alice", PASSWORD, (M1,))
        path = os.path.join(srv.dir, "audit.jsonl")
        os.mkdir(path)
        srv.start(load=LOAD, sections={"hook-audit": {
            "sinks": "file", "file": path, "on-error": "continue"}})
        p = srv.login(user)
        self.assertEqual(p.stat()[0], 1)
        p.quit()
        srv.wait_for_log(r"audit sink file .* failed: .*[Ii]s a directory")

    def test_refuse_policy_when_the_queue_is_full(self):
        # A syslog socket nobody reads: datagrams fail fast, so use a
        # queue of one event and a sink that always fails.
        srv = self.server(start=False)
        srv.add_user("alice", PASSWORD, (M1,))
        srv.start(load=LOAD, sections={"hook-audit": {
            "sinks": "syslog", "syslog-socket": os.path.join(srv.dir, "none"),
            "on-error": "refuse", "queue-size": "1"}})
        c = Conn(srv.port)
        self.addCleanup(c.close)
        c.greeting()
        self.assertOk(c.cmd("USER alice"))
        self.assertErr(c.cmd("PASS " + PASSWORD), code="SYS/TEMP")
        srv.wait_for_log(r"audit sink syslog .* failed")

    # -- syslog and journald

    def bind_dgram(self, name):
        path = os.path.join(self.srv_dir, name)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        s.settimeout(10)
        self.addCleanup(s.close)
        return path, s

    def receive_all(self, sock, until, timeout=10.0):
        out = []
        deadline = time.monotonic() + timeout
        while not any(until(m) for m in out):
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                data, anc, _, _ = sock.recvmsg(1 << 20, 1024)
            except socket.timeout:
                self.fail("no matching datagram within %.0fs: %r" % (
                    timeout, out))
            out.append(data)
        return out

    def test_syslog_sink(self):
        srv = self.server(start=False)
        self.srv_dir = srv.dir
        user = srv.add_user("alice", PASSWORD, (M1,))
        path, sock = self.bind_dgram("log")
        file_path = os.path.join(srv.dir, "audit.jsonl")
        srv.start(load=LOAD, sections={"hook-audit": {
            "sinks": "file; syslog", "file": file_path,
            "syslog-socket": path, "syslog-facility": "local3",
            "syslog-tag": "poplar-test"}})
        p = srv.login(user)
        p.quit()
        msgs = self.receive_all(sock, lambda m: b'"disconnect"' in m)
        rx = re.compile(rb"^<(\d+)>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d "
                        rb"poplar-test\[(\d+)\]: (\{.*\})$")
        events = []
        for m in msgs:
            match = rx.match(m)
            self.assertTrue(match, m)
            # Sessions run in worker processes: any of the server's pids.
            self.assertIn(int(match.group(2)), srv.pids())
            ev = json.loads(match.group(3))
            pri = int(match.group(1))
            self.assertEqual(pri >> 3, 19)  # local3
            events.append((pri & 7, ev))
        names = [e["event"] for _, e in events]
        self.assertEqual(names, ["connect", "auth_attempt", "auth_result",
                                 "mailbox_open", "update", "disconnect"])
        self.assertTrue(all(sev == 6 for sev, _ in events))
        # The same events as the file, field for field.
        self.audit_path = file_path
        self.assertEqual([e for _, e in events], self.events()[:6])

    def test_journald_sink_native_protocol(self):
        srv = self.server(start=False)
        self.srv_dir = srv.dir
        user = srv.add_user("alice", PASSWORD, (M1,))
        path, sock = self.bind_dgram("journal")
        srv.start(load=LOAD, sections={"hook-audit": {
            "sinks": "journald", "journal-socket": path,
            "syslog-tag": "poplar-j"}})
        p = srv.login(user)
        p.retr(1)
        p.quit()
        msgs = self.receive_all(
            sock, lambda m: b"POPLAR_AUDIT_EVENT=disconnect" in m)
        parsed = [self.parse_native(m) for m in msgs]
        by_event = {f["POPLAR_AUDIT_EVENT"]: f for f in parsed}
        self.assertEqual(set(by_event), {
            "connect", "auth_attempt", "auth_result", "mailbox_open", "retr",
            "update", "disconnect"})
        for f in parsed:
            self.assertEqual(f["SYSLOG_IDENTIFIER"], "poplar-j")
            self.assertEqual(f["SYSLOG_FACILITY"], "2")  # mail
            self.assertEqual(f["PRIORITY"], "6")
            ev = json.loads(f["MESSAGE"])
            self.assertEqual(ev["event"], f["POPLAR_AUDIT_EVENT"])
            self.assertEqual(ev["session"], f["POPLAR_AUDIT_SESSION"])
            self.assertEqual(ev["ts"], f["POPLAR_AUDIT_TS"])
        self.assertEqual(by_event["auth_result"]["POPLAR_AUDIT_USER"], "alice")
        self.assertEqual(by_event["auth_result"]["POPLAR_AUDIT_RESULT"],
                         "success")
        # A null field is simply absent.
        self.assertNotIn("POPLAR_AUDIT_REASON_CODE", by_event["auth_result"])
        self.assertEqual(by_event["retr"]["POPLAR_AUDIT_COMPLETE"], "true")
        self.assertEqual(by_event["disconnect"]["POPLAR_AUDIT_REASON"],
                         "quit")

    def parse_native(self, data):
        fields = {}
        i = 0
        while i < len(data):
            nl = data.index(b"\n", i)
            line = data[i:nl]
            if b"=" in line:
                k, v = line.split(b"=", 1)
                i = nl + 1
            else:
                n = int.from_bytes(data[nl + 1:nl + 9], "little")
                k, v = line, data[nl + 9:nl + 9 + n]
                self.assertEqual(data[nl + 9 + n:nl + 10 + n], b"\n")
                i = nl + 10 + n
            fields[k.decode()] = v.decode()
        return fields

    def test_journald_absent_is_skipped_with_a_warning(self):
        srv = self.server(start=False)
        srv.add_user("alice", PASSWORD, (M1,))
        path = os.path.join(srv.dir, "audit.jsonl")
        srv.start(load=LOAD, sections={"hook-audit": {
            "sinks": "file; journald", "file": path,
            "journal-socket": os.path.join(srv.dir, "no-journal")}})
        srv.wait_for_log(r"warning: .*hook-audit.*journald sink is skipped")
        p = srv.login("alice", PASSWORD)
        p.quit()
        self.audit_path = path
        self.wait_events(lambda e: e["event"] == "disconnect")

    # -- configuration errors

    def check_config(self, keys):
        srv = self.server(start=False)
        srv.add_user("alice", PASSWORD, (M1,))
        srv.write_config(load=LOAD, sections={"hook-audit": keys})
        r = subprocess.run([poplartest.POPLARD, "--check-config", "-c",
                            srv.conf], capture_output=True, timeout=30)
        return r.returncode, (r.stdout + r.stderr).decode()

    def test_config_errors_name_the_key(self):
        cases = [
            ({}, "sinks"),
            ({"sinks": "file; kafka"}, "'kafka' is not a sink"),
            ({"sinks": "file"}, "file = /absolute/path"),
            ({"sinks": "syslog", "syslog-facility": "mial"},
             "'mial' is not a facility"),
            ({"sinks": "syslog", "syslog-tag": "a b"}, "syslog-tag"),
            ({"sinks": "syslog", "on-error": "panic"},
             "neither continue nor refuse"),
            ({"sinks": "syslog", "queue-size": "0"}, "queue-size"),
            ({"sinks": "syslog", "colour": "blue"}, "colour"),
        ]
        for keys, expected in cases:
            rc, out = self.check_config(keys)
            self.assertNotEqual(rc, 0, "%r accepted:\n%s" % (keys, out))
            self.assertIn(expected, out, keys)
            self.assertIn("hook-audit", out)
        rc, out = self.check_config({"sinks": "syslog"})
        self.assertEqual(rc, 0, out)


if __name__ == "__main__":
    poplartest.main()
