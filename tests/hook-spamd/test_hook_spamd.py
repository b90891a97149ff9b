# SPDX-License-Identifier: MIT
"""hook-spamd with a real poplard and a real spamd (SpamAssassin) started
by the test on 127.0.0.1 and a UNIX socket, with a local-only
configuration: no network tests, no Bayes, no autolearn.  The GTUBE string
makes a message spam; a message with ordinary headers is ham.

A small fake spamd (a socket that answers late, or never) is used only
where the real one cannot be made slow on purpose: timeouts and the
connection limit."""

import glob
import os
import poplib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import poplartest
from poplartest import crlf

SPAMD = shutil.which("spamd") or (
    "/usr/sbin/spamd" if os.access("/usr/sbin/spamd", os.X_OK) else None)
SPAMD_START_TIMEOUT = 90.0
LOAD = ["auth-passwd-file", "store-maildir", "hook-spamd"]

GTUBE = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
HEADERS = (b"Date: Mon, 2 Sep 2024 10:00:00 +0000\n"
           b"From: Alice Example <alice@example.org>\n"
           b"To: bob@example.org\n"
           b"Message-ID: <%s@example.org>\n")


def ham(n=1):
    return (HEADERS % (b"ham-%d" % n) + b"Subject: Lunch\n\n"
            b"Shall we meet for lunch tomorrow at noon, as usual?\n"
            b"Regards, Alice\n")


def spam(n=1):
    return (HEADERS % (b"spam-%d" % n) + b"Subject: Test\n\n" + GTUBE +
            b"\n")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Spamd:
    """A spamd of its own: local rules only, a temporary site config, a
    log file to count requests in."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="poplar-spamd-")
        # spamd's children run as nobody when started as root.
        os.chmod(self.dir, 0o755)
        site = os.path.join(self.dir, "site")
        os.mkdir(site)
        for pre in glob.glob("/etc/spamassassin/*.pre"):
            shutil.copy(pre, site)
        with open(os.path.join(site, "local.cf"), "w") as f:
            f.write("use_bayes 0\nbayes_auto_learn 0\nskip_rbl_checks 1\n"
                    "dns_available no\nuse_auto_whitelist 0\n")
        os.chmod(site, 0o755)
        self.log = os.path.join(self.dir, "spamd.log")
        self.port = free_port()
        self.socket = os.path.join(self.dir, "spamd.sock")
        args = [SPAMD, "-x", "-L", "--listen", "127.0.0.1:%d" % self.port,
                "--listen", self.socket,
                "--configpath", "/usr/share/spamassassin",
                "--siteconfigpath", site, "-s", self.log,
                "--pidfile", os.path.join(self.dir, "spamd.pid"),
                "--max-children", "3", "--min-children", "1"]
        if os.geteuid() == 0:
            args += ["-u", "nobody", "--socketowner", "root",
                     "--socketmode", "0666"]
        with open(os.path.join(self.dir, "stderr"), "wb") as err:
            self.proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err, start_new_session=True)
        deadline = time.monotonic() + SPAMD_START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("spamd exited (%s):\n%s" % (
                    self.proc.returncode, self.log_text()[-3000:]))
            if "server started on" in self.log_text() and \
                    os.path.exists(self.socket):
                try:
                    socket.create_connection(("127.0.0.1", self.port),
                                             timeout=1).close()
                    break
                except OSError:
                    pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("spamd did not start within %.0fs:\n%s" % (
                    SPAMD_START_TIMEOUT, self.log_text()[-3000:]))
            time.sleep(0.1)

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def requests(self):
        """How many messages spamd has scanned so far."""
        return len(re.findall(r"spamd: result: ", self.log_text()))

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


class FakeSpamd:
    """A TCP server that reads a request and answers after @delay seconds
    (never, with None), recording how many connections were open at
    once."""

    def __init__(self, delay):
        self.delay = delay
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.open = 0
        self.max_open = 0
        self.count = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,),
                             daemon=True).start()

    def _serve(self, conn):
        with self.lock:
            self.open += 1
            self.count += 1
            self.max_open = max(self.max_open, self.open)
        try:
            conn.settimeout(30)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            # Read the whole body too: closing with octets of the request
            # still unread would send a reset instead of the reply.
            head, _, body = data.partition(b"\r\n\r\n")
            m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            want = int(m.group(1)) if m else 0
            while len(body) < want:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
            if self.delay is None:
                self.stopping.wait(30)
                return
            time.sleep(self.delay)
            conn.sendall(b"SPAMD/1.1 0 EX_OK\r\nContent-length: 4\r\n"
                         b"Spam: False ; 0.5 / 5.0\r\n\r\nNONE")
        except OSError:
            pass
        finally:
            with self.lock:
                self.open -= 1
            conn.close()

    def close(self):
        self.stopping.set()
        self.sock.close()
        self.thread.join(5)


SHARED = {}


def shared_spamd():
    if "spamd" not in SHARED:
        SHARED["spamd"] = Spamd()
    return SHARED["spamd"]


class SpamdTest(poplartest.PoplarTestCase):

    def start(self, conf=None, messages=None, cache=True, users=("alice",)):
        self.spamd = shared_spamd()
        self.srv = self.server(start=False)
        msgs = [ham(1), spam(1)] if messages is None else messages
        self.users = {u: self.srv.add_user(u, "pw", msgs) for u in users}
        self.user = self.users[users[0]]
        self.cache_dir = os.path.join(self.srv.dir, "spam-cache")
        os.mkdir(self.cache_dir)
        section = {"spamd": "127.0.0.1:%d" % self.spamd.port,
                   "timeout": "20s"}
        if cache:
            section["cache-dir"] = self.cache_dir
        section.update(conf or {})
        self.srv.start(load=LOAD, sections={"hook-spamd": section})
        return self.srv

    def fetch_all(self, user=None):
        """(LIST sizes, UIDLs, message bodies) of one session."""
        p = self.srv.login(user or self.user)
        try:
            sizes = [int(l.split()[1]) for l in p.list()[1]]
            uidls = [l.split()[1].decode() for l in p.uidl()[1]]
            bodies = [b"\r\n".join(p.retr(i + 1)[1]) + b"\r\n"
                      for i in range(len(sizes))]
        finally:
            p.quit()
        return sizes, uidls, bodies

    def headers_of(self, body):
        head = body.split(b"\r\n\r\n", 1)[0]
        return [l for l in head.split(b"\r\n") if l.startswith(b"X-Spam")]

    # -- tag

    def test_spam_tagged_ham_flagged_no_and_sizes_exact(self):
        self.start({"action": "tag"})
        before = self.user.maildir.contents()
        sizes, uidls, bodies = self.fetch_all()
        self.assertEqual(len(bodies), 2)
        for size, body in zip(sizes, bodies):
            self.assertEqual(size, len(body), "LIST size is not RETR size")
        ham_body, spam_body = bodies
        # Headers go on top, the message follows byte for byte.
        self.assertTrue(ham_body.endswith(crlf(ham(1))))
        self.assertTrue(spam_body.endswith(crlf(spam(1))))
        h = self.headers_of(spam_body)
        self.assertEqual(h[0], b"X-Spam-Flag: YES")
        self.assertRegex(h[1], rb"^X-Spam-Status: Yes, score=\d+\.\d "
                               rb"required=5\.0 tests=.*\bGTUBE\b")
        self.assertRegex(h[2], rb"^X-Spam-Score: \d{3,}\.\d$")
        self.assertEqual(len(h), 3)
        self.assertEqual(spam_body[:len(b"\r\n".join(h))],
                         b"\r\n".join(h))
        h = self.headers_of(ham_body)
        self.assertEqual(h[0], b"X-Spam-Flag: NO")
        self.assertRegex(h[1], rb"^X-Spam-Status: No, score=-?\d+\.\d "
                               rb"required=5\.0 tests=")
        self.assertNotIn(b"GTUBE", h[1])
        # The store is untouched: headers exist only on the wire.
        self.assertEqual(self.user.maildir.contents(), before)
        self.srv.wait_for_log(r"2 messages: 2 scanned, 0 from cache, 0 not "
                              r"scanned; 1 spam, 0 hidden")

    def test_top_and_stat_include_the_headers(self):
        self.start({"action": "tag"})
        p = self.srv.login(self.user)
        count, octets = p.stat()
        sizes = [int(l.split()[1]) for l in p.list()[1]]
        self.assertEqual(octets, sum(sizes))
        top = p.top(2, 0)[1]
        self.assertEqual(top[0], b"X-Spam-Flag: YES")
        p.quit()

    # -- hide and delete

    def test_hide_keeps_spam_on_the_server_unlisted(self):
        self.start({"action": "hide"})
        sizes, uidls, bodies = self.fetch_all()
        self.assertEqual(len(bodies), 1)
        self.assertTrue(bodies[0].endswith(crlf(ham(1))))
        self.assertEqual(self.headers_of(bodies[0])[0], b"X-Spam-Flag: NO")
        # Deleting everything the client sees leaves the spam in place.
        p = self.srv.login(self.user)
        self.assertEqual(p.stat()[0], 1)
        p.dele(1)
        p.quit()
        self.assertEqual(self.user.maildir.contents(), [spam(1)])
        self.srv.wait_for_log(r"1 spam, 1 hidden")

    def test_delete_needs_allow_delete(self):
        srv = self.server(start=False)
        srv.add_user("alice", "pw", ())
        srv.write_config(load=LOAD, sections={"hook-spamd": {
            "action": "delete", "spamd": "127.0.0.1:1"}})
        r = subprocess.run([poplartest.POPLARD, "--check-config", "-c",
                            srv.conf], capture_output=True, timeout=30)
        out = (r.stdout + r.stderr).decode()
        self.assertNotEqual(r.returncode, 0, out)
        self.assertIn("allow-delete = yes", out)

    def test_delete_with_allow_delete(self):
        self.start({"action": "delete", "allow-delete": "yes"})
        # A session that ends without QUIT deletes nothing, spam included.
        p = self.srv.login(self.user)
        self.assertEqual(p.stat()[0], 1)
        p.close()
        self.srv.wait_for_log(r"end: user=alice reason=client closed")
        self.assertIn(spam(1), self.user.maildir.contents())
        # One that QUITs removes the spam it never showed, and only that.
        sizes, uidls, bodies = self.fetch_all()
        self.assertEqual(len(bodies), 1)
        self.assertTrue(bodies[0].endswith(crlf(ham(1))))
        self.assertEqual(self.user.maildir.contents(), [ham(1)])

    # -- the cache

    def test_cache_scans_each_message_once(self):
        self.start({"action": "tag"})
        n0 = self.spamd.requests()
        first = self.fetch_all()
        self.assertEqual(self.spamd.requests() - n0, 2)
        second = self.fetch_all()
        self.assertEqual(second, first, "cached results differ")
        self.assertEqual(self.spamd.requests() - n0, 2,
                         "spamd asked again for cached messages")
        self.srv.wait_for_log(r"2 messages: 0 scanned, 2 from cache")
        # A new message is the only one scanned.
        self.user.maildir.add(spam(2))
        sizes, uidls, bodies = self.fetch_all()
        self.assertEqual(len(bodies), 3)
        self.assertEqual(self.spamd.requests() - n0, 3)
        self.assertEqual(self.headers_of(bodies[2])[0], b"X-Spam-Flag: YES")
        files = os.listdir(self.cache_dir)
        self.assertEqual(len(files), 1, files)
        path = os.path.join(self.cache_dir, files[0])
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        with open(path) as f:
            lines = f.read().splitlines()
        self.assertEqual(lines[0], "poplar-spamd-cache 1")
        self.assertEqual(lines[1], "user alice")
        self.assertEqual(sorted(l.split()[0] for l in lines[3:]),
                         sorted(uidls))

    def test_cache_survives_a_restart_and_forgets_removed_messages(self):
        self.start({"action": "tag"})
        n0 = self.spamd.requests()
        self.fetch_all()
        self.srv.restart(load=LOAD, sections={"hook-spamd": {
            "spamd": "127.0.0.1:%d" % self.spamd.port,
            "cache-dir": self.cache_dir}})
        p = self.srv.login(self.user)
        p.dele(2)
        p.quit()
        self.assertEqual(self.spamd.requests() - n0, 2)
        self.fetch_all()
        path = os.path.join(self.cache_dir, os.listdir(self.cache_dir)[0])
        with open(path) as f:
            self.assertEqual(len(f.read().splitlines()), 4)  # 3 + 1 entry

    def test_cache_is_per_user(self):
        self.start({"action": "hide"}, users=("alice", "bob"))
        n0 = self.spamd.requests()
        a = self.fetch_all(self.users["alice"])
        b = self.fetch_all(self.users["bob"])
        self.assertEqual(len(a[2]), 1)
        self.assertEqual(len(b[2]), 1)
        self.assertEqual(self.spamd.requests() - n0, 4)
        self.assertEqual(len(os.listdir(self.cache_dir)), 2)

    def test_without_cache_every_login_scans(self):
        self.start({"action": "tag"}, cache=False)
        self.srv.wait_for_log(r"warning: .*no cache-dir")
        n0 = self.spamd.requests()
        self.fetch_all()
        self.fetch_all()
        self.assertEqual(self.spamd.requests() - n0, 4)

    # -- limits and transports

    def test_max_size_skips_big_messages(self):
        big = spam(3) + b"padding line to make it big\n" * 200
        self.start({"action": "hide", "max-size": "2k"},
                   messages=[ham(1), big, spam(1)])
        n0 = self.spamd.requests()
        sizes, uidls, bodies = self.fetch_all()
        # The big spam passes unscanned and untouched; the small one hides.
        self.assertEqual(len(bodies), 2)
        self.assertEqual(bodies[1], crlf(big))
        self.assertEqual(self.spamd.requests() - n0, 2)
        self.srv.wait_for_log(r"3 messages: 2 scanned, 0 from cache, 1 not "
                              r"scanned; 1 spam, 1 hidden")

    def test_unix_socket_and_custom_headers(self):
        spamd = shared_spamd()
        self.start({"spamd": "unix:" + spamd.socket, "action": "tag",
                    "flag-header": "X-Junk", "status-header": "",
                    "score-header": "X-Junk-Score", "command": "check"})
        sizes, uidls, bodies = self.fetch_all()
        self.assertEqual(bodies[1].split(b"\r\n")[:2][0], b"X-Junk: YES")
        self.assertRegex(bodies[1].split(b"\r\n")[1],
                         rb"^X-Junk-Score: \d+\.\d$")
        self.assertNotIn(b"X-Spam-Status", bodies[1])
        self.assertEqual(bodies[0].split(b"\r\n")[0], b"X-Junk: NO")
        for size, body in zip(sizes, bodies):
            self.assertEqual(size, len(body))

    def test_add_headers_off_with_hide(self):
        self.start({"action": "hide", "add-headers": "no",
                    "spamd-user": "pop-%u"})
        sizes, uidls, bodies = self.fetch_all()
        self.assertEqual(bodies, [crlf(ham(1))])
        self.assertIn("user=pop-alice", self.spamd.log_text())

    def test_connection_limit_across_sessions(self):
        fake = FakeSpamd(delay=0.3)
        self.addCleanup(fake.close)
        names = tuple("user%d" % i for i in range(6))
        # A long timeout: a session waiting for one of the two connection
        # slots must not give up (and fail open) on a loaded machine.
        self.start({"spamd": "127.0.0.1:%d" % fake.port,
                    "max-connections": "2", "timeout": "60s"},
                   users=names, cache=False)
        errors = []

        def one(u):
            try:
                self.fetch_all(self.users[u])
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=one, args=(u,)) for u in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(fake.count, 12)
        self.assertLessEqual(fake.max_open, 2)
        self.assertEqual(fake.max_open, 2)

    # -- spamd down or slow

    def test_fail_open_when_spamd_is_down(self):
        self.start({"spamd": "127.0.0.1:%d" % free_port(), "fail": "open"})
        sizes, uidls, bodies = self.fetch_all()
        self.assertEqual(bodies, [crlf(ham(1)), crlf(spam(1))])
        self.assertEqual(sizes, [len(b) for b in bodies])
        self.srv.wait_for_log(r"cannot connect to spamd .*fail = open")
        # Nothing was cached: the messages are scanned once spamd is back.
        self.assertEqual(os.listdir(self.cache_dir), [])

    def test_fail_closed_when_spamd_is_down(self):
        self.start({"spamd": "127.0.0.1:%d" % free_port(), "fail": "closed"})
        p = self.srv.pop()
        p.user("alice")
        reply = self.assertPopError(lambda: p.pass_("pw"), code="SYS/TEMP")
        self.assertIn("Spam filter unavailable", reply)
        p.quit()
        self.srv.wait_for_log(r"login refused \(fail = closed\)")
        self.assertEqual(sorted(self.user.maildir.contents()),
                         sorted([ham(1), spam(1)]))
        # The mailbox was released: a second try gets the same answer,
        # not [IN-USE].
        p = self.srv.pop()
        p.user("alice")
        self.assertPopError(lambda: p.pass_("pw"), code="SYS/TEMP")
        p.quit()

    def test_slow_spamd_times_out(self):
        fake = FakeSpamd(delay=None)
        self.addCleanup(fake.close)
        self.start({"spamd": "127.0.0.1:%d" % fake.port, "timeout": "1s",
                    "fail": "closed"})
        t0 = time.monotonic()
        p = self.srv.pop()
        p.user("alice")
        self.assertPopError(lambda: p.pass_("pw"), code="SYS/TEMP")
        elapsed = time.monotonic() - t0
        p.quit()
        self.assertLess(elapsed, 5, "the timeout was not applied")
        self.srv.wait_for_log(r"timed out")
        # fail = open: the login goes on after one timeout, not one per
        # message.
        self.srv.restart(load=LOAD, sections={"hook-spamd": {
            "spamd": "127.0.0.1:%d" % fake.port, "timeout": "1s",
            "fail": "open"}})
        t0 = time.monotonic()
        sizes, uidls, bodies = self.fetch_all()
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(bodies, [crlf(ham(1)), crlf(spam(1))])

    def test_config_errors(self):
        cases = [
            ({"spamd": "nowhere"}, "host:port"),
            ({"spamd": "127.0.0.1:99999"}, "port"),
            ({"action": "burn"}, "'burn' is not one of tag, hide, delete"),
            ({"fail": "maybe"}, "fail"),
            ({"cache-dir": "/nonexistent/dir"}, "not a directory"),
            ({"flag-header": "X Bad"}, "not a header name"),
            ({"timeout": "0"}, "timeout"),
        ]
        srv = self.server(start=False)
        srv.add_user("alice", "pw", ())
        for keys, expected in cases:
            srv.write_config(load=LOAD, sections={"hook-spamd": keys})
            r = subprocess.run([poplartest.POPLARD, "--check-config", "-c",
                                srv.conf], capture_output=True, timeout=30)
            out = (r.stdout + r.stderr).decode()
            self.assertNotEqual(r.returncode, 0, "%r accepted" % keys)
            self.assertIn(expected, out, keys)


if __name__ == "__main__":
    import unittest
    poplartest.require_environment()
    if not SPAMD:
        sys.stderr.write("spamd is not installed (Debian packages spamassassin "
                         "and spamd): skipped\n")
        sys.exit(77)
    try:
        prog = unittest.main(verbosity=2, exit=False)
    finally:
        if "spamd" in SHARED:
            SHARED["spamd"].stop()
    sys.exit(0 if prog.result.wasSuccessful() else 1)
