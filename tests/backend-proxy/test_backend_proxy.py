# SPDX-License-Identifier: MIT
"""Proxy mode end to end: Poplar proxies route users to Poplar backends
by a passwd-file field; every client reads exactly its own mailbox,
through either proxy, with poplib, curl and mpop; a backend that is down
or refuses costs only its own users; a large message streams through
with the proxy's memory bounded."""

import hashlib
import os
import poplib
import shutil
import subprocess
import time

import poplartest
from poplartest import HOST, Conn, PoplarTestCase
import proxytest
from proxytest import route, set_extra


def message(user, n, size=0):
    body = ("%s message %d\n" % (user, n)) + ("x" * 70 + "\n") * (size // 71)
    return ("From: sender@example.org\nTo: %s@example.org\n"
            "Subject: %s %d\n\n%s" % (user, user, n, body)).encode()


class ProxyWorld(PoplarTestCase):
    """Backend A: Poplar with STLS, trusting the proxies' PROXY v2 header;
    backend B: plain Poplar.  Two proxies route alice and carol to A
    (STLS, PROXY v2) and bob to B (plain)."""

    def add_server(self, s):
        self._servers.append(s)
        self.addCleanup(self._cleanup_server, s)
        return s

    def setUp(self):
        self.a = self.add_server(proxytest.TlsServer())
        for name in ("alice", "carol"):
            self.a.add_user(name, name + " pw",
                            [message(name, 1), message(name, 2)])
        self.a.add_user("eve", "eve backend pw", [message("eve", 1)])
        self.a.start(implicit=True, server={
            "proxy-protocol": "yes", "trusted-proxies": "127.0.0.1/32"})
        self.b = self.add_server(poplartest.Server())
        self.b.add_user("bob", "bob pw", [message("bob", 1)])
        self.b.add_user("alice", "alice pw", [message("alice-on-b", 1)])
        self.b.start()
        self.proxies = [self.make_proxy(), self.make_proxy()]

    def make_proxy(self):
        p = self.add_server(poplartest.Server())
        for name in ("alice", "carol"):
            p.add_user(name, name + " pw",
                       extra=route(self.a, tls="starttls", v2=True))
        p.add_user("bob", "bob pw", extra=route(self.b))
        # The proxy accepts eve's password, the backend does not.
        p.add_user("eve", "eve proxy pw",
                   extra=route(self.a, tls="starttls", v2=True))
        p.start(sections=proxytest.proxy_sections(self.a.pki.ca_cert))
        return p

    def mailbox(self, port, user, password):
        p = poplib.POP3(HOST, port, timeout=30)
        try:
            p.user(user)
            p.pass_(password)
            count, _ = p.stat()
            msgs = [b"\r\n".join(p.retr(i + 1)[1]) for i in range(count)]
            p.quit()
        finally:
            p.close()
        return msgs


class TestRouting(ProxyWorld):
    def test_each_user_reads_own_mailbox_through_either_proxy(self):
        for proxy in self.proxies:
            for user in ("alice", "carol", "bob"):
                msgs = self.mailbox(proxy.port, user, user + " pw")
                want = 1 if user == "bob" else 2
                self.assertEqual(len(msgs), want, user)
                for i, m in enumerate(msgs):
                    self.assertIn(("%s message %d" % (user, i + 1)).encode(),
                                  m)
            proxy.wait_for_log(r"login: user=alice mech=USER remote=127\.0\.0\.1,"
                               r" proxied to 127\.0\.0\.1:%d" % self.a.port)
        # The backend logged the sessions it served (STLS under them).
        self.a.wait_for_log(r"login: user=alice mech=USER")

    def test_curl_through_proxy(self):
        for proxy in self.proxies:
            got = poplartest.curl_retr(proxy.port, "carol", "carol%20pw", 2)
            self.assertIn(b"carol message 2", got)
            got = poplartest.curl_retr(proxy.port, "bob", "bob%20pw", 1)
            self.assertIn(b"bob message 1", got)

    def test_mpop_through_proxy(self):
        mpop = shutil.which("mpop")
        if not mpop:
            self.skipTest("mpop is needed (Debian package mpop)")
        d = os.path.join(self.proxies[0].dir, "mpop")
        os.mkdir(d)
        out = os.path.join(d, "alice.mbox")
        conf = os.path.join(d, "mpoprc")
        with open(conf, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write("account default\nhost %s\nport %d\ntls off\n"
                    "auth user\nuser alice\npassword alice pw\nkeep on\n"
                    "timeout 30\nuidls_file %s\ndelivery mbox %s\n" % (
                        HOST, self.proxies[1].port, os.path.join(d, "uidls"),
                        out))
        r = subprocess.run([mpop, "-C", conf], env={"HOME": d},
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        with open(out, "rb") as f:
            mbox = f.read()
        self.assertIn(b"alice message 1", mbox)
        self.assertIn(b"alice message 2", mbox)
        self.assertNotIn(b"carol", mbox)

    def test_client_address_reaches_backend(self):
        if not poplartest.second_loopback_works():
            self.skipTest("127.0.0.2 is not usable here")
        with Conn(self.proxies[0].port, source="127.0.0.2") as c:
            c.login("alice", "alice pw")
            self.assertTrue(c.cmd("STAT").startswith("+OK"))
            c.cmd("QUIT")
        self.proxies[0].wait_for_log(r"login: user=alice .*remote=127\.0\.0\.2")
        self.a.wait_for_log(r"127\.0\.0\.2")

    def test_pipelined_commands_after_pass_reach_backend(self):
        with Conn(self.proxies[0].port) as c:
            c.greeting()
            c.send(b"USER bob\r\nPASS bob pw\r\nSTAT\r\nQUIT\r\n")
            self.assertTrue(c.reply().startswith("+OK"))  # USER
            self.assertTrue(c.reply().startswith("+OK"))  # PASS (backend's)
            self.assertEqual(c.reply(), "+OK 1 %d" % len(
                poplartest.crlf(message("bob", 1))))
            self.assertTrue(c.reply().startswith("+OK"))  # QUIT
            self.assertTrue(c.wait_closed(10))

    def test_backend_rejects_credentials(self):
        p = self.proxies[0]
        with Conn(p.port) as c:
            c.greeting()
            self.assertOk(c.cmd("USER eve"))
            reply = c.cmd("PASS eve proxy pw")
            self.assertErr(reply, code="AUTH")
        p.wait_for_log(r"proxy: user=eve remote=127\.0\.0\.1 backend=.* "
                       r"refused the login")
        # No failure delay is configured in these servers anyway; what
        # matters is that the proxy's throttle did not count a failure.
        self.assertFalse(any("failed logins" in l for l in p.log_lines()))

    def test_implicit_tls_route(self):
        p = self.proxies[0]
        set_extra(p, "carol", "proxy=%s:%d proxy-tls=implicit proxy-v2=yes"
                  % (HOST, self.a.tls_port))
        self.assertEqual(len(self.mailbox(p.port, "carol", "carol pw")), 2)
        p.wait_for_log(r"login: user=carol .*proxied to 127\.0\.0\.1:%d"
                       % self.a.tls_port)

    def test_untrusted_backend_certificate(self):
        other = proxytest.TlsServer()  # another CA: its PKI is not trusted
        self.add_server(other)
        p = self.proxies[0]
        p.stop()
        p.start(sections=proxytest.proxy_sections(other.pki.ca_cert))
        self.assertPopError(lambda: p.login("carol", "carol pw"),
                            code="SYS/TEMP")
        p.wait_for_log(r"proxy: user=carol remote=127\.0\.0\.1 backend=.* "
                       r"unavailable: TLS: the backend's certificate is not "
                       r"trusted for 127\.0\.0\.1")

    def test_malformed_route(self):
        p = self.proxies[0]
        set_extra(p, "carol", route(self.a, tls="sometimes"))
        self.assertPopError(lambda: p.login("carol", "carol pw"),
                            code="SYS/TEMP")
        p.wait_for_log(r"unavailable: proxy-tls='sometimes' is not no, "
                       r"starttls or implicit")

    def test_unknown_user_at_proxy(self):
        p = self.proxies[0]
        self.assertPopError(lambda: p.login("nobody", "x"), code="AUTH")


class TestFailures(ProxyWorld):
    def test_backend_down_only_its_users_fail(self):
        live = self.proxies[0].login("alice", "alice pw")
        self.b.stop()
        for proxy in self.proxies:
            self.assertPopError(lambda: proxy.login("bob", "bob pw"),
                                code="SYS/TEMP")
            proxy.wait_for_log(r"proxy: user=bob remote=127\.0\.0\.1 "
                               r"backend=127\.0\.0\.1:\d+ unavailable")
            self.assertEqual(len(self.mailbox(proxy.port, "carol",
                                              "carol pw")), 2)
        # A session that was live on another backend goes on.
        self.assertEqual(live.stat()[0], 2)
        live.quit()

    def test_backend_dying_ends_only_that_session(self):
        bob = self.proxies[0].login("bob", "bob pw")
        alice = self.proxies[0].login("alice", "alice pw")
        self.b.crash()
        with self.assertRaises((poplib.error_proto, OSError, EOFError)):
            bob.stat()
            bob.stat()
        bob.close()
        self.assertEqual(alice.stat()[0], 2)
        alice.quit()
        self.proxies[0].wait_for_log(r"end: user=bob .*reason=backend closed")
        self.b.proc = None  # crashed: nothing left to stop

    def test_routing_flipped_while_session_live(self):
        p = self.proxies[0]
        old = p.login("alice", "alice pw")
        self.assertEqual(old.stat()[0], 2)
        set_extra(p, "alice", route(self.b))
        new = p.login("alice", "alice pw")
        msgs = [b"\r\n".join(new.retr(1)[1])]
        self.assertEqual(new.stat()[0], 1)
        self.assertIn(b"alice-on-b message 1", msgs[0])
        # The live session still reads the old backend's mailbox.
        self.assertIn(b"alice message 2", b"\r\n".join(old.retr(2)[1]))
        new.quit()
        old.quit()


class TestIdleTimeout(ProxyWorld):
    def test_idle_relayed_session_ends(self):
        p = self.proxies[0]
        p.stop()
        p.start(server={"idle-timeout": "2s"},
                sections=proxytest.proxy_sections(self.a.pki.ca_cert))
        with Conn(p.port) as c:
            self.assertOk(c.login("bob", "bob pw"))
            self.assertTrue(c.cmd("STAT").startswith("+OK"))
            # Traffic keeps it alive past the timeout...
            for _ in range(3):
                time.sleep(0.5)
                self.assertTrue(c.cmd("NOOP").startswith("+OK"))
            # ...silence ends it, on the proxy's side.
            self.assertTrue(c.wait_closed(10))
        p.wait_for_log(r"end: user=bob remote=127\.0\.0\.1 proxied to "
                       r"127\.0\.0\.1:%d, reason=idle timeout" % self.b.port)


class TestLargeMessage(ProxyWorld):
    SIZE = 100 * 1024 * 1024

    def setUp(self):
        # Under AddressSanitizer freed memory waits in a quarantine (256 MB
        # by default) that would count as the proxy's: without it, the
        # bound below holds there too.
        asan = os.environ.get("ASAN_OPTIONS")
        if asan is not None:
            os.environ["ASAN_OPTIONS"] = asan + ":quarantine_size_mb=0"
            self.addCleanup(os.environ.__setitem__, "ASAN_OPTIONS", asan)
        super().setUp()

    def test_100mb_retr_byte_exact_with_bounded_memory(self):
        # CRLF lines already, so what is stored is what POP3 sends.
        line = b"x" * 78 + b"\r\n"
        big = (b"From: sender@example.org\r\nSubject: big\r\n\r\n" +
               line * (self.SIZE // len(line)))
        self.a.users["carol"].maildir.add(big)
        want, want_size = hashlib.sha256(big).hexdigest(), len(big)
        del big
        p = self.proxies[1]
        out = os.path.join(p.dir, "big.eml")
        url = "pop3://carol:carol%%20pw@%s:%d/3" % (HOST, p.port)
        r = subprocess.run(["curl", "-s", "-S", "--max-time", "240", "-o",
                            out, url], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=250)
        self.assertEqual(r.returncode, 0, r.stderr)
        h = hashlib.sha256()
        with open(out, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        self.assertEqual(os.path.getsize(out), want_size)
        self.assertEqual(h.hexdigest(), want)
        hwm = max(proxytest.proc_status_kb(pid, "VmHWM")
                  for pid in proxytest.worker_pids(p))
        # The proxy's worker never held more than a few buffers of it.
        self.assertLess(hwm, 48 * 1024, "worker VmHWM %d kB" % hwm)


if __name__ == "__main__":
    poplartest.main()
