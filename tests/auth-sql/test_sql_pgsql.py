# SPDX-License-Identifier: MIT
"""auth-sql-pgsql end to end: a PostgreSQL server of the test's own
(initdb once for the module, pg_ctl, an unprivileged user, a loopback
port), poplard with auth-sql-pgsql, and a client."""

import os
import re
import threading
import time
import unittest

import poplartest
import sqlcases
import sqlservers
from sqlcases import AUTH_FAILED, M1, TEMP_FAILED

SERVER = None


class PgDatabase(sqlcases.ServerDatabase):

    def connect_string(self):
        # quoted for libpq: the password has a quote and a space of its
        # own (and poplar.conf reads \\\\ as one backslash)
        return ("host=127.0.0.1 port=%d dbname=%s user=%s "
                "password='poplar\\\\'s secret'" %
                (self.server.port, self.DATABASE, self.USER))


README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                      "plugins", "common", "auth-sql", "README.md")

# Postfix Admin's mailbox table in its PostgreSQL form (active is a
# boolean there), less the columns no query reads.
POSTFIX_ADMIN_SCHEMA = """
CREATE TABLE mailbox (
  username varchar(255) NOT NULL PRIMARY KEY,
  password varchar(255) NOT NULL DEFAULT '',
  name varchar(255) NOT NULL DEFAULT '',
  maildir varchar(255) NOT NULL DEFAULT '',
  quota bigint NOT NULL DEFAULT 0,
  local_part varchar(255) NOT NULL,
  domain varchar(255),
  created timestamp with time zone DEFAULT now(),
  modified timestamp with time zone DEFAULT now(),
  active boolean NOT NULL DEFAULT true
);
GRANT SELECT ON mailbox TO poplar;
"""


def readme_section(name):
    """The keys of the README's example [name] section."""
    with open(README) as f:
        text = f.read()
    block = text.split("[%s]\n" % name, 1)[1].split("```", 1)[0]
    return dict(re.findall(r"^([a-z-]+) = (.*)$", block, re.M))


def setUpModule():
    global SERVER
    missing = sqlservers.postgres_missing()
    if missing:
        raise unittest.SkipTest(missing)
    SERVER = sqlservers.Postgres()
    try:
        SERVER.start()
        SERVER.sql("CREATE ROLE poplar LOGIN PASSWORD 'poplar''s secret';"
                   "CREATE DATABASE mail OWNER poplar ENCODING 'UTF8';")
        SERVER.sql(sqlcases.SCHEMA +
                   "GRANT SELECT ON mailbox TO poplar;", "mail")
        SERVER.sql("CREATE DATABASE postfix OWNER postgres;")
        SERVER.sql(POSTFIX_ADMIN_SCHEMA, "postfix")
    except Exception:
        SERVER.cleanup()
        raise


def tearDownModule():
    if SERVER:
        SERVER.cleanup()


class PgsqlTest(sqlcases.SqlTestCase):
    PLUGIN = "auth-sql-pgsql"

    def setUp(self):
        self.db = PgDatabase(SERVER)
        super().setUp()

    def slow_query(self):
        return ("SELECT username AS user, password, home FROM mailbox "
                "WHERE username = :user AND "
                "(SELECT true FROM pg_sleep(slowness))")

    def test_slow_query_delays_only_its_own_login(self):
        self.add("slow", "{PLAIN}slow-pw", home=self.home("slow", [M1]),
                 slowness=3)
        self.start(**{"password-query": self.slow_query(),
                      "timeout": "20s"})
        self.assertEqual(self.stat_as("alice", "alice pw"), 2)
        done = []

        def slow_login():
            done.append(("slow-start", time.monotonic()))
            reply = self.attempt("slow", "slow-pw")
            done.append(("slow", reply))

        t = threading.Thread(target=slow_login)
        t.start()
        # the slow query is running: it holds one connection, not the
        # others
        self.assertTrue(poplartest.wait_until(lambda: SERVER.sql(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
            "AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()"
        ).strip() == "1", 10), "the slow query never ran")
        for _ in range(5):
            self.assertEqual(self.stat_as("alice", "alice pw"), 2)
        alice_done = len(done)
        t.join(30)
        self.assertEqual(alice_done, 1,
                         "alice's logins waited for the slow query: %r"
                         % done)
        self.assertTrue(done[-1][1].startswith("+OK"), done)

    def test_query_past_the_timeout_is_a_temporary_failure(self):
        self.add("slow", "{PLAIN}slow-pw", home=self.home("slow", [M1]),
                 slowness=30)
        self.start(**{"password-query": self.slow_query(),
                      "timeout": "1s"})
        self.assertEqual(self.attempt("slow", "slow-pw"), TEMP_FAILED)
        self.srv.wait_for_log("no answer within the timeout")
        # the cancelled query left nothing behind
        self.assertEqual(self.stat_as("alice", "alice pw"), 2)

    def test_postfix_admin_example_of_the_readme(self):
        """The README's Postfix Admin section for PostgreSQL, on Postfix
        Admin's table, with a SHA512-CRYPT password as it writes them."""
        example = readme_section("auth-sql-pgsql")
        vmail = os.path.join(self.srv.dir, "vmail") + "/"
        box = sqlcases.Maildir(os.path.join(vmail, "example.org", "alice"))
        box.add(M1)
        SERVER.sql(
            "DELETE FROM mailbox;"
            "INSERT INTO mailbox (username, password, maildir, quota, "
            "local_part, domain) VALUES ('alice@example.org', %s, "
            "'example.org/alice/', 2048, 'alice', 'example.org');" %
            sqlcases.sql_literal(sqlcases.doveadm_pw("SHA512-CRYPT",
                                                     "alice pw")),
            "postfix")
        query = example["password-query"].replace("/var/vmail/", vmail)
        self.start(**{"connect": self.db.connect_string().replace(
                          "dbname=mail", "dbname=postfix"),
                      "password-query": query})
        self.assertEqual(self.stat_as("alice@example.org", "alice pw"), 1)
        self.assertIn("quota=2048", self.srv.records())

    def test_unreachable_server_at_start_up(self):
        """poplard starts without the database and serves once it is
        there."""
        SERVER.stop()
        try:
            self.start()
            self.assertEqual(self.attempt("alice", "alice pw"), TEMP_FAILED)
        finally:
            SERVER.start()
        self.wait_ok("alice", "alice pw")


if __name__ == "__main__":
    poplartest.main()
