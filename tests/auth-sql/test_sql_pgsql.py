# SPDX-License-Identifier: MIT
"""auth-sql-pgsql end to end: a PostgreSQL server of the test's own
(initdb once for the module, pg_ctl, an unprivileged user, a loopback
port), poplard with auth-sql-pgsql, and a client."""

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
