# SPDX-License-Identifier: MIT
"""Master users ([server] master-passdb) and SQL routing: master users in
an SQLite database log in as users of the passwd-file with "USER
target*master" and with SASL PLAIN's authorization identity, and
hook-audit records both identities; a proxy routes a user by the proxy
column of an SQL row."""

import json
import os
import sqlite3

import poplartest
from poplartest import HOST, PoplarTestCase
from mastertest import plain
import proxytest
from proxytest import route

MASTER_SCHEMA = """
CREATE TABLE users (
  name TEXT PRIMARY KEY,
  password TEXT NOT NULL,
  home TEXT,
  proxy TEXT,
  proxy_tls TEXT
);
"""
QUERY = ("SELECT name AS user, password, home, proxy, proxy_tls AS "
         "\"proxy-tls\" FROM users WHERE name = :user")


def plugin_built(name):
    return any(os.path.basename(p) == name + ".so"
               for p in poplartest.PLUGINS)


def sqlite_db(path, rows):
    db = sqlite3.connect(path)
    with db:
        db.executescript(MASTER_SCHEMA)
        for r in rows:
            db.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?)", r)
    db.close()
    return path


class MasterTestCase(PoplarTestCase):
    def setUp(self):
        for p in ("auth-sql-sqlite", "hook-audit"):
            if not plugin_built(p):
                self.skipTest("%s is not built" % p)

    def master_server(self, master_passdb="auth-sql-sqlite"):
        s = self.server(start=False)
        s.add_user("alice", "alice pw", [b"Subject: a\n\nalice mail\n"])
        s.add_user("bob", "bob pw", [b"Subject: b\n\nbob mail\n"])
        self.masters = sqlite_db(os.path.join(s.dir, "masters.sqlite"), [
            ("admin", "{PLAIN}admin pw", None, None, None)])
        self.audit = os.path.join(s.dir, "audit.jsonl")
        server = {"master-passdb": master_passdb} if master_passdb else {}
        s.start(server=server,
                load=["auth-passwd-file", "auth-sql-sqlite", "store-maildir",
                      "hook-audit"],
                sections={"auth-sql-sqlite": {"connect": self.masters,
                                              "password-query": QUERY},
                          "hook-audit": {"sinks": "file",
                                         "file": self.audit}})
        return s

    def audit_events(self, event):
        def read():
            if not os.path.exists(self.audit):
                return []
            with open(self.audit) as f:
                return [json.loads(l) for l in f if l.strip()
                        and json.loads(l)["event"] == event]
        return poplartest.wait_until(read, 5) or []


class TestMasterUsers(MasterTestCase):
    def test_user_star_master_reads_target_mailbox(self):
        s = self.master_server()
        p = s.login("alice*admin", "admin pw")
        self.assertIn(b"alice mail", b"\n".join(p.retr(1)[1]))
        p.quit()
        s.wait_for_log(r"master login: user=alice master=admin mech=USER "
                       r"remote=127\.0\.0\.1")
        results = [e for e in self.audit_events("auth_result")
                   if e.get("master_user")]
        self.assertTrue(results, "no auth_result with master_user")
        self.assertEqual(results[-1]["user"], "alice")
        self.assertEqual(results[-1]["master_user"], "admin")
        self.assertEqual(results[-1]["result"], "success")

    def test_sasl_plain_authzid(self):
        s = self.master_server()
        with s.conn() as c:
            c.greeting()
            self.assertOk(c.cmd("AUTH PLAIN " + plain("bob", "admin",
                                                      "admin pw")))
            self.assertTrue(c.cmd("STAT").startswith("+OK 1 "))
            c.cmd("QUIT")
        s.wait_for_log(r"master login: user=bob master=admin mech=PLAIN")

    def test_refused(self):
        s = self.master_server()
        # Wrong master password, unknown target, unknown master.
        self.assertPopError(lambda: s.login("alice*admin", "nope"), "AUTH")
        s.wait_for_log(r"master login failed: master=admin target=alice "
                       r"\(wrong credentials\)")
        self.assertPopError(lambda: s.login("nobody*admin", "admin pw"),
                            "AUTH")
        s.wait_for_log(r"master login refused: master=admin target=nobody: "
                       r"no such user")
        self.assertPopError(lambda: s.login("alice*bob", "bob pw"), "AUTH")
        # A master user is no account of its own.
        self.assertPopError(lambda: s.login("admin", "admin pw"), "AUTH")
        # An ordinary user cannot act for another with SASL.
        with s.conn() as c:
            c.greeting()
            self.assertErr(c.cmd("AUTH PLAIN " + plain("alice", "bob",
                                                       "bob pw")), code="AUTH")

    def test_without_master_passdb_authzid_is_refused(self):
        s = self.master_server(master_passdb=None)
        with s.conn() as c:
            c.greeting()
            reply = c.cmd("AUTH PLAIN " + plain("alice", "admin", "admin pw"))
            self.assertErr(reply, code="AUTH")
            self.assertIn("Authorization identity not permitted", reply)
        # "*" is then part of an ordinary (unknown) name.
        self.assertPopError(lambda: s.login("alice*admin", "admin pw"),
                            "AUTH")

    def test_master_passdb_must_name_a_passdb(self):
        s = self.server(start=False)
        s.add_user("alice", "pw")
        conf = s.write_config(server={"master-passdb": "store-maildir"})
        r = poplartest.subprocess.run(
            [poplartest.POPLARD, "--check-config", "-c", conf],
            capture_output=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"master-passdb", r.stdout + r.stderr)


class TestMasterOfSqlUsers(MasterTestCase):
    def test_master_in_passwd_file_logs_in_as_sql_user(self):
        s = self.server(start=False)
        s.add_user("admin", "admin pw")  # the passwd-file holds the masters
        home = os.path.join(s.dir, "sqlhome", "frank")
        poplartest.Maildir(os.path.join(home, "Maildir")).add(
            b"Subject: f\n\nfrank's sql mail\n")
        db = sqlite_db(os.path.join(s.dir, "users.sqlite"), [
            ("frank", "{PLAIN}frank pw", home, None, None)])
        s.start(server={"master-passdb": "auth-passwd-file"},
                load=["auth-passwd-file", "auth-sql-sqlite", "store-maildir"],
                sections={"auth-sql-sqlite": {"connect": db,
                                              "password-query": QUERY}})
        p = s.login("frank*admin", "admin pw")
        self.assertIn(b"frank's sql mail", b"\n".join(p.retr(1)[1]))
        p.quit()
        s.wait_for_log(r"master login: user=frank master=admin")
        self.assertPopError(lambda: s.login("frank*admin", "frank pw"),
                            "AUTH")
        # The master is not an account, the SQL user still is.
        self.assertPopError(lambda: s.login("admin", "admin pw"), "AUTH")
        s.login("frank", "frank pw").quit()


class TestSqlRoutingAndMasterThroughProxy(MasterTestCase):
    """A proxy whose users come from passwd-file (alice) and SQLite
    (frank, routed by the proxy column); master users of the proxy."""

    def test_sql_route_and_master_login(self):
        backend = self.server(start=False)
        backend.add_user("frank", "frank pw", [b"Subject: f\n\nfrank mail\n"])
        backend.add_user("alice", "alice pw", [b"Subject: a\n\nalice mail\n"])
        backend.start()
        proxy = self.server(start=False)
        proxy.add_user("alice", "alice pw", extra=route(backend))
        proxy.add_user("grace", "grace pw",
                       extra=route(backend) + " proxy-master=ops "
                       "proxy-password=ops")
        db = sqlite_db(os.path.join(proxy.dir, "users.sqlite"), [
            ("frank", "{PLAIN}frank pw", None,
             "%s:%d" % (HOST, backend.port), "no")])
        proxy.start(load=["auth-passwd-file", "auth-sql-sqlite",
                          "store-maildir"],
                    sections=proxytest.proxy_sections(
                        None, {"auth-sql-sqlite": {
                            "connect": db, "password-query": QUERY}}))
        # An empty proxy column is no route: this server's own user.
        with sqlite3.connect(db) as c:
            c.execute("INSERT INTO users VALUES ('local', '{PLAIN}local pw',"
                      " ?, '', NULL)", (backend.users["alice"].home,))
        p = proxy.login("local", "local pw")
        self.assertIn(b"alice mail", b"\n".join(p.retr(1)[1]))
        p.quit()
        p = proxy.login("frank", "frank pw")
        self.assertIn(b"frank mail", b"\n".join(p.retr(1)[1]))
        p.quit()
        proxy.wait_for_log(r"login: user=frank mech=USER remote=127\.0\.0\.1,"
                           r" proxied to 127\.0\.0\.1:%d" % backend.port)
        # A proxy's master-passdb: here auth-sql-sqlite holds the masters
        # and passwd-file the users.
        proxy.stop()
        with sqlite3.connect(db) as c:
            c.execute("INSERT INTO users VALUES ('admin', '{PLAIN}admin pw',"
                      " NULL, NULL, NULL)")
        proxy.start(server={"master-passdb": "auth-sql-sqlite"},
                    load=["auth-passwd-file", "auth-sql-sqlite",
                          "store-maildir"],
                    sections=proxytest.proxy_sections(
                        None, {"auth-sql-sqlite": {
                            "connect": db, "password-query": QUERY}}))
        # alice's backend has no master login configured: the master's
        # password is never sent as alice's.
        self.assertPopError(lambda: proxy.login("alice*admin", "admin pw"),
                            "AUTH")
        proxy.wait_for_log(r"a master login needs proxy-master")
        self.assertFalse(any("PASS admin pw" in l
                             for l in backend.log_lines()))
        # grace's route logs in with the backend's master login, which
        # this backend does not know: its refusal is [AUTH], no delay.
        self.assertPopError(lambda: proxy.login("grace*admin", "admin pw"),
                            "AUTH")
        proxy.wait_for_log(r"proxy: user=grace remote=127\.0\.0\.1 "
                           r"backend=.* refused the login")


if __name__ == "__main__":
    poplartest.main()
