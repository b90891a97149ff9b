# SPDX-License-Identifier: MIT
"""auth-sql-sqlite end to end: an SQLite file made by the test, poplard
with auth-sql-sqlite, and a client."""

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile

import poplartest
import sqlcases
from sqlcases import COLUMNS, TEMP_FAILED

DIR = None
README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                      "plugins", "common", "auth-sql", "README.md")


class LiteDatabase:
    """The database file; "stopping" it moves the file away."""

    def __init__(self, path):
        self.path = path
        self.away = path + ".away"
        if not os.path.exists(path):
            with sqlite3.connect(path) as db:
                db.executescript(sqlcases.SCHEMA)
            db.close()

    def _run(self, sql, args=()):
        db = sqlite3.connect(self.path)
        try:
            with db:
                db.execute(sql, args)
        finally:
            db.close()

    def connect_string(self):
        return self.path

    def reset(self):
        self._run("DELETE FROM mailbox")

    def insert(self, row):
        self._run("INSERT INTO mailbox (%s) VALUES (%s)" % (
            ", ".join(COLUMNS), ", ".join("?" * len(COLUMNS))),
            [row[c] for c in COLUMNS])

    def set_password(self, user, password):
        self._run("UPDATE mailbox SET password = ? WHERE username = ?",
                  (password, user))

    def stop(self):
        os.rename(self.path, self.away)

    def start(self):
        os.rename(self.away, self.path)


def setUpModule():
    global DIR
    DIR = tempfile.mkdtemp(prefix="poplar-sqlite-")


def tearDownModule():
    shutil.rmtree(DIR, ignore_errors=True)


class SqliteTest(sqlcases.SqlTestCase):
    PLUGIN = "auth-sql-sqlite"

    def setUp(self):
        self.db = LiteDatabase(os.path.join(DIR, "users.sqlite"))
        super().setUp()

    def test_relative_path_refused(self):
        self.srv.sql_section = self.section(connect="users.sqlite")
        conf = self.srv.write_config()
        p = subprocess.run([poplartest.POPLARD, "--check-config", "-c", conf],
                           capture_output=True, timeout=60)
        out = (p.stdout + p.stderr).decode()
        self.assertNotEqual(p.returncode, 0, out)
        self.assertIn("must be the absolute path of the database file", out)

    def test_database_stopped_mid_run(self):
        """An open SQLite file cannot go away under its readers, so the
        outage is a file missing when a connection is made: [SYS/TEMP]
        with one log line, and logins work once the file is there."""
        self.db.stop()
        try:
            self.start()
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
        finally:
            self.db.start()
        self.wait_ok("alice", "alice pw")
        self.assertIn("the database is reachable again", self.srv.log_text())

    def test_quick_start_of_the_readme(self):
        """The README's SQLite quick start: its table, its section."""
        with open(README) as f:
            text = f.read()
        create = text.split("<<'SQL'\n", 1)[1].split("\nSQL\n", 1)[0]
        block = text.split("[auth-sql-sqlite]\n", 1)[1].split("```", 1)[0]
        section = dict(re.findall(r"^([a-z-]+) = (.*)$", block, re.M))
        path = os.path.join(self.srv.dir, "users.sqlite")
        db = sqlite3.connect(path)
        with db:
            db.executescript(create)
            db.execute("INSERT INTO users VALUES (?, ?, ?)",
                       ("alice", sqlcases.doveadm_pw("SHA512-CRYPT", "secret"),
                        self.alice_home))
        db.close()
        self.assertEqual(set(section), {"connect", "password-query"})
        self.start(**{"connect": path,
                      "password-query": section["password-query"]})
        self.assertEqual(self.stat_as("alice", "secret"), 2)

    def test_file_that_is_not_a_database(self):
        bogus = os.path.join(self.srv.dir, "bogus.sqlite")
        with open(bogus, "w") as f:
            f.write("not a database\n" * 100)
        self.start(connect=bogus)
        self.assertEqual(self.attempt("alice", "alice pw"), TEMP_FAILED)


if __name__ == "__main__":
    poplartest.main()
