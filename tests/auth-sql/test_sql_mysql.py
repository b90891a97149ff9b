# SPDX-License-Identifier: MIT
"""auth-sql-mysql end to end: two MariaDB servers of the test's own
(mariadb-install-db once each for the module, mariadbd as an unprivileged
user on loopback ports), poplard with auth-sql-mysql, and a client.  The
second server holds the same users, for failover."""

import unittest

import poplartest
import sqlcases
import sqlservers
from sqlcases import TEMP_FAILED

SERVERS = []


class MyDatabase(sqlcases.ServerDatabase):
    BACKSLASH = True

    def __init__(self, server, others=()):
        super().__init__(server)
        self.others = list(others)

    def run(self, text):
        for s in [self.server] + self.others:
            out = s.sql(text, self.DATABASE)
        return out

    def connect_string(self):
        return self.connect_to([self.server] + self.others)

    def connect_to(self, servers, extra_hosts=()):
        hosts = list(extra_hosts) + ["127.0.0.1:%d" % s.port for s in servers]
        # quoted: the password has a quote and a space of its own (and
        # poplar.conf reads \\\\ as one backslash)
        return " ".join(["host=" + h for h in hosts] +
                        ["user=" + self.USER,
                         "password='poplar\\\\'s secret'",
                         "dbname=" + self.DATABASE])


def _prepare(server):
    server.start()
    server.sql("CREATE DATABASE mail CHARACTER SET utf8mb4 "
               "COLLATE utf8mb4_bin;"
               "CREATE USER 'poplar'@'127.0.0.1' IDENTIFIED BY "
               "'poplar''s secret';"
               "GRANT SELECT ON mail.* TO 'poplar'@'127.0.0.1';")
    server.sql(sqlcases.SCHEMA, "mail")


def setUpModule():
    missing = sqlservers.mariadb_missing()
    if missing:
        raise unittest.SkipTest(missing)
    try:
        for _ in range(2):
            server = sqlservers.Mariadb()
            SERVERS.append(server)
            _prepare(server)
    except Exception:
        tearDownModule()
        raise


def tearDownModule():
    while SERVERS:
        SERVERS.pop().cleanup()


class MysqlTest(sqlcases.SqlTestCase):
    PLUGIN = "auth-sql-mysql"

    def setUp(self):
        self.db = MyDatabase(SERVERS[0], SERVERS[1:])
        super().setUp()

    def test_a_host_that_does_not_answer_is_skipped(self):
        dead = sqlservers.free_port()
        self.start(connect=self.db.connect_to(
            [SERVERS[1]], extra_hosts=["127.0.0.1:%d" % dead]))
        self.assertEqual(self.stat_as("alice", "alice pw"), 2)

    def test_failover_to_the_second_server_mid_run(self):
        self.start()
        self.assertEqual(self.stat_as("alice", "alice pw"), 2)
        SERVERS[0].stop()
        try:
            # the pooled connection to the first server is dead: the
            # login reconnects, and the first host refuses, so the second
            # answers
            self.assertEqual(self.stat_as("alice", "alice pw"), 2)
            self.assertEqual(self.stat_as("bob", "bob-pw"), 1)
        finally:
            SERVERS[0].start()
        self.assertNotIn(TEMP_FAILED, "\n".join(self.srv.log_lines()))

    def test_database_stopped_mid_run(self):
        """Both servers down: [SYS/TEMP]; back: logins work again."""
        SERVERS[1].stop()
        try:
            super().test_database_stopped_mid_run()
        finally:
            SERVERS[1].start()


if __name__ == "__main__":
    poplartest.main()
