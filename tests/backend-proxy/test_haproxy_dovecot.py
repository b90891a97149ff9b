# SPDX-License-Identifier: MIT
"""The whole second scale-out model (docs/scaling.md): HAProxy in front of
two Poplar proxies (PROXY v2 from HAProxy), three backends (two Poplar,
one Dovecot), users routed by passwd-file and by SQL.  Each user reads
exactly their own mailbox through HAProxy and through each proxy; with
the Dovecot backend stopped its user gets [SYS/TEMP] and the others are
served."""

import os
import poplib
import sqlite3

import haproxytest
import migrationtest
import poplartest
from poplartest import HOST, PoplarTestCase
import proxytest
from proxytest import route

QUERY = ("SELECT name AS user, password, proxy FROM users "
         "WHERE name = :user")


def read_all(port, user, password):
    p = poplib.POP3(HOST, port, timeout=30)
    try:
        p.user(user)
        p.pass_(password)
        count, _ = p.stat()
        msgs = [b"\n".join(p.retr(i + 1)[1]) for i in range(count)]
        p.quit()
        return msgs
    finally:
        p.close()


class TestHaproxyDovecot(PoplarTestCase):
    def setUp(self):
        why = migrationtest.Dovecot.missing()
        if why:
            self.skipTest(why)
        self.haproxy_exe = haproxytest.find_haproxy()
        if not self.haproxy_exe:
            self.skipTest("haproxy is needed (Debian package haproxy)")
        if not any(os.path.basename(p) == "auth-sql-sqlite.so"
                   for p in poplartest.PLUGINS):
            self.skipTest("auth-sql-sqlite is not built")
        # Backends: two Poplar, one Dovecot.
        self.a = self.server(start=False)
        self.a.add_user("amy", "amy pw", [b"Subject: 1\n\namy on A\n"])
        self.a.start()
        self.b = self.server(start=False)
        self.b.add_user("ben", "ben pw", [b"Subject: 1\n\nben on B\n"])
        self.b.start()
        self.root = os.path.join(self.a.dir, "dovecot-world")
        os.makedirs(self.root)
        os.chmod(self.a.dir, 0o755)
        self.dora = migrationtest.MailUser(self.root, "dora", "dora pw")
        self.dora.deliver_plain("dora-1", 1)
        self.dovecot = migrationtest.Dovecot(self.root, self.dora)
        self.dovecot.start()
        self.addCleanup(self.dovecot.stop)

        class DovecotPort:  # what route() reads
            port = self.dovecot.pop3_port
        self.dovecot_route = route(DovecotPort)
        # Proxies: amy and dora routed by passwd-file, ben by SQL.
        self.proxies = []
        for _ in range(2):
            p = self.server(start=False)
            p.add_user("amy", "amy pw", extra=route(self.a))
            p.add_user("dora", "dora pw", extra=self.dovecot_route)
            db = os.path.join(p.dir, "users.sqlite")
            c = sqlite3.connect(db)
            with c:
                c.execute("CREATE TABLE users (name TEXT PRIMARY KEY, "
                          "password TEXT, proxy TEXT)")
                c.execute("INSERT INTO users VALUES ('ben', '{PLAIN}ben pw', "
                          "?)", ("%s:%d" % (HOST, self.b.port),))
            c.close()
            # A pure proxy: no mail location, no store plugin.
            p.start(server={"proxy-protocol": "yes", "mail": None,
                            "trusted-proxies": "127.0.0.1/32"},
                    load=["auth-passwd-file", "auth-sql-sqlite"],
                    sections=proxytest.proxy_sections(None, {
                        "auth-sql-sqlite": {"connect": db,
                                            "password-query": QUERY}}))
            self.proxies.append(p)
        hadir = os.path.join(self.a.dir, "haproxy")
        os.makedirs(hadir)
        servers = "".join("    server p%d %s:%d\n" % (i, HOST, p.port)
                          for i, p in enumerate(self.proxies))
        self.haproxy = haproxytest.HAProxy(
            hadir, self.haproxy_exe,
            frontends={"pop3": "proxies", "via0": "only0", "via1": "only1"},
            backends={
                "proxies": "    balance roundrobin\n"
                           "    default-server send-proxy-v2\n" + servers,
                "only0": "    server p0 %s:%d send-proxy-v2\n" % (
                    HOST, self.proxies[0].port),
                "only1": "    server p1 %s:%d send-proxy-v2\n" % (
                    HOST, self.proxies[1].port),
            })
        self.haproxy.start()
        self.addCleanup(self.haproxy.stop)

    def test_every_user_reads_own_mailbox_everywhere(self):
        want = {"amy": b"amy on A", "ben": b"ben on B", "dora": b"dora-1"}
        for front in ("pop3", "via0", "via1"):
            for user, mark in want.items():
                msgs = read_all(self.haproxy.ports[front], user,
                                user + " pw")
                self.assertEqual(len(msgs), 1, (front, user))
                self.assertIn(mark, msgs[0], (front, user))
                for other, m in want.items():
                    if other != user:
                        self.assertNotIn(m, msgs[0])
        for p in self.proxies:
            p.wait_for_log(r"login: user=dora mech=USER remote=127\.0\.0\.1,"
                           r" proxied to 127\.0\.0\.1:%d" %
                           self.dovecot.pop3_port)
            p.wait_for_log(r"login: user=ben mech=USER .*proxied to "
                           r"127\.0\.0\.1:%d" % self.b.port)
        got = poplartest.curl_retr(self.haproxy.ports["pop3"], "dora",
                                   "dora%20pw", 1)
        self.assertIn(b"dora-1", got)

    def test_dovecot_stopped_only_its_user_fails(self):
        self.dovecot.stop()
        for front in ("via0", "via1"):
            port = self.haproxy.ports[front]
            with self.assertRaises(poplib.error_proto) as cm:
                read_all(port, "dora", "dora pw")
            self.assertTrue(cm.exception.args[0].startswith(
                b"-ERR [SYS/TEMP]"), cm.exception.args[0])
            self.assertEqual(len(read_all(port, "amy", "amy pw")), 1)
            self.assertEqual(len(read_all(port, "ben", "ben pw")), 1)
        for p in self.proxies:
            p.wait_for_log(r"proxy: user=dora remote=127\.0\.0\.1 backend="
                           r"127\.0\.0\.1:%d unavailable" %
                           self.dovecot.pop3_port)


if __name__ == "__main__":
    poplartest.main()
