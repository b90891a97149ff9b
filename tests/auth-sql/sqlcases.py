# SPDX-License-Identifier: MIT
"""What every auth-sql driver must do, end to end: a real database (the
driver's test module starts it), poplard with the driver's plugin, and a
client.  A driver's test module subclasses SqlTestCase with a Database
adapter (schema, rows, stop/start) and adds what is its own (slow queries
on PostgreSQL, failover on MariaDB, a missing file on SQLite).
"""

import base64
import os
import shutil
import subprocess
import threading
import time

import poplartest
from poplartest import Conn, Maildir

M1 = b"Subject: one\n\nfirst\n"
M2 = b"Subject: two\n\nsecond\n"
M3 = b"Subject: three\n\nthird\n"

AUTH_FAILED = "-ERR [AUTH] Authentication failed"
TEMP_FAILED = "-ERR [SYS/TEMP] Authentication temporarily unavailable"

DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"

# The schemes of the shared verifier a site's rows may hold, as Dovecot's
# doveadm pw writes them.
SCHEMES = ["SHA512-CRYPT", "SHA256-CRYPT", "BLF-CRYPT", "MD5-CRYPT",
           "ARGON2ID", "ARGON2I", "SSHA512", "SSHA256", "SSHA", "SMD5",
           "SHA512", "SHA256", "SHA1", "PLAIN-MD5", "PBKDF2", "CRAM-MD5",
           "PLAIN"]

# The columns of the test's table: Postfix Admin's mailbox table, plus
# what the tests need to reach every field.
COLUMNS = ("username", "password", "home", "mail", "local_part", "domain",
           "quota", "active", "nologin", "reason", "proxy", "slowness")

SCHEMA = """
CREATE TABLE mailbox (
  username VARCHAR(255) NOT NULL PRIMARY KEY,
  password VARCHAR(255),
  home VARCHAR(255),
  mail VARCHAR(255),
  local_part VARCHAR(255) NOT NULL,
  domain VARCHAR(255) NOT NULL,
  quota BIGINT NOT NULL DEFAULT 0,
  active SMALLINT NOT NULL DEFAULT 1,
  nologin SMALLINT NOT NULL DEFAULT 0,
  reason VARCHAR(255),
  proxy VARCHAR(255),
  slowness REAL NOT NULL DEFAULT 0
);
"""

# Queries written once for every driver: plain SQL.
PASSWORD_QUERY = (
    "SELECT username AS user, password, home, mail, quota, nologin, "
    "reason, proxy AS backend, 'from the database' AS note FROM mailbox "
    "WHERE username = :user AND active = 1")


def doveadm_pw(scheme, password):
    p = subprocess.run([DOVEADM, "pw", "-s", scheme, "-p", password],
                       capture_output=True, timeout=60, check=True)
    return p.stdout.decode().strip()


class SqlServer(poplartest.Server):
    """poplard with the driver's plugin first, then auth-passwd-file (an
    empty file), store-maildir and test-hooks (recording fields)."""

    def __init__(self, plugin):
        super().__init__()
        self.plugin = plugin
        self.sql_section = {}
        self.record = os.path.join(self.dir, "hooks.log")
        self._write_passwd()

    def config_text(self, server=None, load=None, sections=None, extra=""):
        all_sections = {
            self.plugin: dict(self.sql_section),
            "test-hooks": {"record": self.record,
                           "record-fields": "quota; backend; note"},
        }
        for name, keys in (sections or {}).items():
            all_sections.setdefault(name, {}).update(keys)
        return super().config_text(
            server=server,
            load=load or [self.plugin, "auth-passwd-file", "store-maildir",
                          "test-hooks"],
            sections=all_sections, extra=extra)

    def records(self):
        try:
            with open(self.record) as f:
                return f.read()
        except OSError:
            return ""


def sql_literal(value, backslash=False):
    """@value as an SQL literal (NULL for None).  @backslash: the server
    reads backslash escapes in strings (MariaDB's default)."""
    if value is None:
        return "NULL"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if backslash:
        text = text.replace("\\", "\\\\")
    return "'" + text.replace("'", "''") + "'"


class ServerDatabase:
    """A database reached through a command-line client (PostgreSQL,
    MariaDB): @server has sql(text, database) and stop()/start()."""

    BACKSLASH = False
    DATABASE = "mail"
    USER = "poplar"
    PASSWORD = "poplar's secret"

    def __init__(self, server):
        self.server = server

    def run(self, text):
        return self.server.sql(text, self.DATABASE)

    def reset(self):
        self.run("DELETE FROM mailbox;")

    def insert(self, row):
        self.run("INSERT INTO mailbox (%s) VALUES (%s);" % (
            ", ".join(COLUMNS),
            ", ".join(sql_literal(row[c], self.BACKSLASH) for c in COLUMNS)))

    def set_password(self, user, password):
        self.run("UPDATE mailbox SET password = %s WHERE username = %s;" % (
            sql_literal(password, self.BACKSLASH),
            sql_literal(user, self.BACKSLASH)))

    def stop(self):
        self.server.stop()

    def start(self):
        self.server.start()


class SqlTestCase(poplartest.PoplarTestCase):
    """Subclasses set `db` (an adapter of the module's database) and
    PLUGIN."""

    db = None
    PLUGIN = None

    def setUp(self):
        self.srv = SqlServer(self.PLUGIN)
        self._servers.append(self.srv)
        self.addCleanup(self._cleanup_server, self.srv)
        self.db.reset()
        self.alice_home = self.home("alice", [M1, M2])
        self.bob_box = Maildir(os.path.join(self.srv.dir, "bob-box"))
        self.bob_box.add(M3)
        self.add("alice", doveadm_pw("SHA512-CRYPT", "alice pw"),
                 home=self.alice_home, quota="2147483648",
                 proxy="backend.example.org:110")
        self.add("bob", doveadm_pw("SSHA512", "bob-pw"),
                 home=self.home("bob", []), mail="maildir:" + self.bob_box.path)
        self.add("carol", "{PLAIN}carol-pw", home=self.home("carol", [M1]),
                 nologin=1, reason="Account moved to the new server")
        self.add("nopass", None, home=self.home("nopass", []))
        self.add("inactive", "{PLAIN}x", home=self.home("inactive", []),
                 active=0)

    def home(self, name, messages):
        home = os.path.join(self.srv.dir, "home", name)
        box = Maildir(os.path.join(home, "Maildir"))
        for m in messages:
            box.add(m)
        return home

    def add(self, user, password, **cols):
        local, _, domain = user.rpartition("@") if "@" in user else \
            (user, "", "")
        row = {"username": user, "password": password, "home": None,
               "mail": None, "local_part": local, "domain": domain,
               "quota": 0, "active": 1, "nologin": 0, "reason": None,
               "proxy": None, "slowness": 0}
        row.update(cols)
        self.db.insert(row)

    def section(self, **extra):
        s = {"connect": self.db.connect_string(),
             "password-query": PASSWORD_QUERY,
             "timeout": "5s"}
        s.update(extra)
        return s

    def start(self, **extra):
        self.srv.sql_section = self.section(**extra)
        self.srv.start()

    def attempt(self, user, password):
        """The reply to PASS after USER on a fresh connection."""
        with Conn(self.srv.port) as c:
            c.greeting()
            self.assertOk(c.cmd("USER " + user), "USER " + user)
            reply = c.cmd("PASS " + password)
            c.cmd("QUIT")
        return reply

    def attempt_plain(self, user, password):
        """The reply to AUTH PLAIN with an initial response (any octets)."""
        if isinstance(user, str):
            user = user.encode()
        blob = base64.b64encode(b"\0" + user + b"\0" + password.encode())
        with Conn(self.srv.port) as c:
            c.greeting()
            reply = c.cmd("AUTH PLAIN " + blob.decode())
            c.cmd("QUIT")
        return reply

    def stat_as(self, user, password):
        p = self.srv.login(user, password)
        try:
            n = p.stat()[0]
            p.quit()
        finally:
            p.close()
        return n

    def wait_ok(self, user, password, timeout=30.0):
        """Logs in until it works (the database coming back)."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self.attempt(user, password)
            if reply.startswith("+OK"):
                return reply
            self.assertLess(time.monotonic(), deadline,
                            "no login within %ss, last reply %r" %
                            (timeout, reply))
            time.sleep(0.2)

    # -- the tests every driver runs

    def test_login_reads_home_mail_and_fields(self):
        self.start()
        self.assertEqual(self.stat_as("alice", "alice pw"), 2)
        # bob's mail column names a mailbox outside his home
        self.assertEqual(self.stat_as("bob", "bob-pw"), 1)
        records = self.srv.records()
        # any other column ("note") is a field too
        # (renamed: a field named proxy would route the user there)
        self.assertIn(" 2 quota=2147483648 backend=backend.example.org:110 "
                      "note=from the database", records)
        self.assertIn(" 1 quota=0 backend=- note=from the database", records)

    def test_wrong_password_and_unknown_user_read_alike(self):
        self.start()
        self.assertEqual(self.attempt("alice", "alice-pw"), AUTH_FAILED)
        self.assertEqual(self.attempt("nobody", "alice pw"), AUTH_FAILED)
        self.assertEqual(self.attempt("nopass", "x"), AUTH_FAILED)
        self.assertEqual(self.attempt("inactive", "x"), AUTH_FAILED)
        log = self.srv.log_text()
        self.assertIn("user 'alice': wrong password", log)
        self.assertIn("unknown user 'nobody' (password-query returned no "
                      "row)", log)
        self.assertIn("user 'nopass' has no password", log)
        self.assertNotIn("alice pw", log)
        self.assertNotIn("alice-pw", log)

    def test_nologin_refuses_a_right_password_with_the_reason(self):
        self.start()
        self.assertEqual(self.attempt("carol", "carol-pw"),
                         "-ERR [AUTH] Account moved to the new server")
        # a wrong password learns nothing of it
        self.assertEqual(self.attempt("carol", "wrong"), AUTH_FAILED)
        self.assertIn("user 'carol' is marked nologin", self.srv.log_text())

    def test_every_password_scheme(self):
        if not os.access(DOVEADM, os.X_OK):
            self.skipTest("doveadm (Debian package dovecot-core) is missing")
        for scheme in SCHEMES:
            self.add("s-" + scheme.lower(),
                     doveadm_pw(scheme, "pw of " + scheme),
                     home=self.home("s-" + scheme.lower(), [M1]))
        # a bare crypt(3) value, as Postfix Admin's md5crypt writes it,
        # is read with default-scheme (CRYPT)
        bare = doveadm_pw("MD5-CRYPT", "bare pw").split("}", 1)[1]
        self.add("bare", bare, home=self.home("bare", [M1]))
        self.start()
        for scheme in SCHEMES:
            user = "s-" + scheme.lower()
            self.assertEqual(self.stat_as(user, "pw of " + scheme), 1,
                             scheme)
            self.assertEqual(self.attempt(user, "pw of x" + scheme),
                             AUTH_FAILED, scheme)
        self.assertEqual(self.stat_as("bare", "bare pw"), 1)

    def test_user_names_that_try_injection(self):
        self.start()
        names = ["' OR '1'='1", "alice' --", "alice'; DROP TABLE mailbox; --",
                 "alice\\", "\\' OR 1=1 #", "alice;", "a" * 200,
                 "%", "_lice", "alice' OR username LIKE '%"]
        for name in names:
            self.assertEqual(self.attempt(name, "alice pw"), AUTH_FAILED,
                             name)
            self.assertEqual(self.attempt(name, "' OR '1'='1"),
                             AUTH_FAILED, name)
        # longer than any line: refused by the protocol or the plugin
        for raw in (b"a" * 300, b"alice\0x", b"alice\0", "\u00e9\xff".encode(
                "latin-1"), b"alice\r"):
            reply = self.attempt_plain(raw, "alice pw")
            self.assertTrue(reply.startswith("-ERR"), (raw, reply))
        self.assertEqual(self.attempt("alice", "' OR '1'='1"), AUTH_FAILED)
        # the table is intact and alice still logs in
        self.assertEqual(self.stat_as("alice", "alice pw"), 2)
        self.assertNotIn("syntax", self.srv.log_text().lower())

    def test_utf8_user_name(self):
        name = "j\u00fcrgen@ex\u00e4mple.org"
        self.add(name, "{PLAIN}\u00fc-pw", home=self.home("juergen", [M1]))
        self.start()
        reply = self.attempt_plain(name, "\u00fc-pw")
        self.assertTrue(reply.startswith("+OK"), reply)
        self.assertEqual(self.attempt_plain("j\u00fcrgen@example.org",
                                            "\u00fc-pw"), AUTH_FAILED)

    def test_local_and_domain_parameters(self):
        self.add("dave@example.org", "{PLAIN}dave-pw",
                 home=self.home("dave", [M1, M2, M3]))
        self.start(**{"password-query":
                      "SELECT password, home FROM mailbox WHERE "
                      "local_part = :local AND domain = :domain AND "
                      ":service = 'pop3' AND :remote_ip = '127.0.0.1'"})
        self.assertEqual(self.stat_as("dave@example.org", "dave-pw"), 3)
        self.assertEqual(self.attempt("dave@example.com", "dave-pw"),
                         AUTH_FAILED)

    def test_user_query_adds_fields(self):
        self.start(**{"password-query":
                      "SELECT password FROM mailbox WHERE username = :user",
                      "user-query":
                      "SELECT home, quota FROM mailbox WHERE username = "
                      ":user"})
        self.assertEqual(self.stat_as("alice", "alice pw"), 2)
        self.assertIn("quota=2147483648", self.srv.records())

    def test_verify_cache(self):
        self.start(**{"verify-cache": "yes"})
        self.assertEqual(self.stat_as("alice", "alice pw"), 2)
        mark = self.srv.log_mark()
        self.assertEqual(self.stat_as("alice", "alice pw"), 2)
        self.srv.wait_for_log("password verified from the cache", start=mark)
        # a new password in the database: the old one no longer works
        self.db.set_password("alice", doveadm_pw("SHA512-CRYPT", "new pw"))
        self.assertEqual(self.attempt("alice", "alice pw"), AUTH_FAILED)
        self.assertEqual(self.stat_as("alice", "new pw"), 2)

    def test_no_verify_cache(self):
        self.start(**{"verify-cache": "no"})
        self.assertEqual(self.stat_as("alice", "alice pw"), 2)
        self.assertEqual(self.stat_as("alice", "alice pw"), 2)
        self.assertNotIn("verified from the cache", self.srv.log_text())

    def test_database_stopped_mid_run(self):
        """[SYS/TEMP] and one log line while it is down; logins work again
        when it is back, without restarting poplard."""
        self.start()
        self.assertEqual(self.stat_as("alice", "alice pw"), 2)
        self.db.stop()
        try:
            for _ in range(3):
                mark = self.srv.log_mark()
                self.assertEqual(self.attempt("alice", "alice pw"),
                                 TEMP_FAILED)
                # the log reaches us through a pipe, maybe after the answer
                self.srv.wait_for_log("user 'alice'", timeout=10,
                                      start=mark)
                lines = [l for l in self.srv.log_lines()[mark:]
                         if "user 'alice'" in l]
                self.assertEqual(len(lines), 1, lines)
                self.assertTrue("database unavailable" in lines[0] or
                                "failed" in lines[0], lines[0])
        finally:
            self.db.start()
        self.wait_ok("alice", "alice pw")
        self.assertEqual(self.stat_as("alice", "alice pw"), 2)
        self.assertIn("the database is reachable again", self.srv.log_text())
        self.assertNotIn(AUTH_FAILED, self.srv.log_text())

    def test_config_mistakes_are_reported(self):
        self.srv.sql_section = self.section(**{
            "password-query": "SELECT password FROM mailbox WHERE "
                              "username = :usr",
            "default-scheme": "NO-SUCH",
            "driver": "other"})
        conf = self.srv.write_config()
        p = subprocess.run([poplartest.POPLARD, "--check-config", "-c", conf],
                           capture_output=True, timeout=60)
        out = (p.stdout + p.stderr).decode()
        self.assertNotEqual(p.returncode, 0, out)
        self.assertIn("unknown parameter :usr", out)
        self.assertIn("default-scheme", out)
        self.assertIn("driver", out)
