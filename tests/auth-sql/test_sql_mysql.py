# SPDX-License-Identifier: MIT
"""auth-sql-mysql end to end: two MariaDB servers of the test's own
(mariadb-install-db once each for the module, mariadbd as an unprivileged
user on loopback ports), poplard with auth-sql-mysql, and a client.  The
second server holds the same users, for failover."""

import os
import re
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


README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                      "plugins", "common", "auth-sql", "README.md")

# Postfix Admin's mailbox table (its MySQL schema, less the columns no
# query reads).
POSTFIX_ADMIN_SCHEMA = """
CREATE TABLE mailbox (
  username varchar(255) NOT NULL,
  password varchar(255) NOT NULL,
  name varchar(255) CHARACTER SET utf8 NOT NULL,
  maildir varchar(255) NOT NULL,
  quota bigint(20) NOT NULL DEFAULT 0,
  local_part varchar(255) NOT NULL,
  domain varchar(255) NOT NULL,
  created datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
  modified datetime NOT NULL DEFAULT '2000-01-01 00:00:00',
  active tinyint(1) NOT NULL DEFAULT 1,
  PRIMARY KEY (username)
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
"""


def readme_section(name):
    """The keys of the README's example [name] section."""
    with open(README) as f:
        text = f.read()
    block = text.split("[%s]\n" % name, 1)[1].split("```", 1)[0]
    return dict(re.findall(r"^([a-z-]+) = (.*)$", block, re.M))


def _prepare(server):
    server.start()
    server.sql("CREATE DATABASE mail CHARACTER SET utf8mb4 "
               "COLLATE utf8mb4_bin;"
               "CREATE USER 'poplar'@'127.0.0.1' IDENTIFIED BY "
               "'poplar''s secret';"
               "GRANT SELECT ON mail.* TO 'poplar'@'127.0.0.1';")
    server.sql(sqlcases.SCHEMA, "mail")
    server.sql("CREATE DATABASE postfix;"
               "GRANT SELECT ON postfix.* TO 'poplar'@'127.0.0.1';")
    server.sql(POSTFIX_ADMIN_SCHEMA, "postfix")


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

    def test_postfix_admin_example_of_the_readme(self):
        """The README's Postfix Admin section, on Postfix Admin's table
        with a md5crypt password as it stores them."""
        example = readme_section("auth-sql-mysql")
        vmail = os.path.join(self.srv.dir, "vmail") + "/"
        box = sqlcases.Maildir(os.path.join(vmail, "example.org", "alice"))
        box.add(sqlcases.M1)
        box.add(sqlcases.M2)
        md5crypt = sqlcases.doveadm_pw("MD5-CRYPT", "alice pw").split("}")[1]
        SERVERS[0].sql(
            "DELETE FROM mailbox;"
            "INSERT INTO mailbox (username, password, name, maildir, quota, "
            "local_part, domain) VALUES ('alice@example.org', %s, 'Alice', "
            "'example.org/alice/', 1024, 'alice', 'example.org');"
            % sqlcases.sql_literal(md5crypt, True), "postfix")
        query = example["password-query"].replace("/var/vmail/", vmail)
        self.assertIn(":user", query)
        self.start(**{"connect": self.db.connect_to(
                          [SERVERS[0]]).replace("dbname=mail",
                                                "dbname=postfix"),
                      "password-query": query,
                      "default-scheme": example["default-scheme"]})
        self.assertEqual(self.stat_as("alice@example.org", "alice pw"), 2)
        self.assertEqual(self.attempt("alice@example.org", "alice-pw"),
                         sqlcases.AUTH_FAILED)
        self.assertIn("quota=1024", self.srv.records())

    def test_database_stopped_mid_run(self):
        """Both servers down: [SYS/TEMP]; back: logins work again."""
        SERVERS[1].stop()
        try:
            super().test_database_stopped_mid_run()
        finally:
            SERVERS[1].start()


if __name__ == "__main__":
    poplartest.main()
