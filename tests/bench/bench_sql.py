# SPDX-License-Identifier: MIT
"""The SQL row of `make bench`: logins per second when the users live in
PostgreSQL, poplard with auth-sql-pgsql against Dovecot's SQL passdb.

One PostgreSQL of the benchmark's own (tests/auth-sql/sqlservers.py: a
temporary directory, an unprivileged user, a loopback port) holds one
table, Postfix Admin's `mailbox`, with the benchmark's users and one
{SHA512-CRYPT} hash for all.  Both servers read that table over TCP on
127.0.0.1 as the same role, with one query each that returns the
password and the home (no second user query), and open at most as many
connections as each other in all.  Each server has its own copy of the
mail; the query's home points at that server's copy.

Four servers take turns: poplard and Dovecot (tuned) with every cache of
logins off, then poplard with its verify cache and Dovecot with its
auth_cache, the nearest thing Dovecot has (it keeps the passdb's answer
and skips the query, but still hashes; poplard's cache skips the hash
and still runs the query)."""

import grp
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "auth-sql"))
import sqlservers  # noqa: E402
from bench_servers import Dovecot, Poplard  # noqa: E402

DATABASE = "postfix"
ROLE = "poplar"
ROLE_PASSWORD = "bench-db-secret"
# Connections per poplard worker process (auth-sql's default); Dovecot's
# one auth process gets as many as all of poplard's workers together.
CONNECTIONS_PER_WORKER = 4

# Postfix Admin's mailbox table in its PostgreSQL form (as in
# tests/auth-sql/test_sql_pgsql.py).
SCHEMA = """
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
GRANT SELECT ON mailbox TO %s;
""" % ROLE

# The rows of the table, by kind of result: (title, poplard's label,
# Dovecot's label).
ROWS = (
    ("SQL login rate (PostgreSQL), no verify cache",
     "poplard-sql", "dovecot-sql"),
    ("SQL login rate (PostgreSQL), Poplar verify cache "
     "(Dovecot: auth_cache)", "poplard-sql-cache", "dovecot-sql-cache"),
)
KIND = "sql-rate"


def missing():
    """None when the SQL row can run here, else why not."""
    why = sqlservers.postgres_missing()
    if why:
        return why
    if not os.path.exists("/usr/lib/dovecot/modules/auth/"
                          "libdriver_pgsql.so") and not os.path.exists(
                              "/usr/lib/dovecot/modules/libdriver_pgsql.so"):
        return "Dovecot's PostgreSQL driver is missing (dovecot-pgsql)"
    return None


class Database:
    """The benchmark's PostgreSQL with the mailbox table filled."""

    def __init__(self, world):
        self.world = world
        self.pg = sqlservers.Postgres()

    def start(self):
        self.pg.start()
        self.pg.sql("CREATE ROLE %s LOGIN PASSWORD '%s';"
                    "CREATE DATABASE %s OWNER postgres ENCODING 'UTF8';" % (
                        ROLE, ROLE_PASSWORD, DATABASE))
        rows = ",\n".join(
            "('%s', '{SHA512-CRYPT}%s', '%s/', '%s', 'example.org')" % (
                user, self.world.hash, user, user)
            for user, _ in self.world.users())
        self.pg.sql(SCHEMA + "INSERT INTO mailbox (username, password, "
                    "maildir, local_part, domain) VALUES\n" + rows + ";\n"
                    "ANALYZE mailbox;\n", DATABASE)

    def connect_string(self):
        return self.pg.connect_string(ROLE, ROLE_PASSWORD, DATABASE)

    def cleanup(self):
        self.pg.cleanup()


def home_expr(world, label):
    """SQL for the home: Postfix Admin's maildir under this server's copy
    of the mail."""
    return "'%s/' || maildir" % world.instances[label]


class PoplardSql(Poplard):
    def __init__(self, world, build, db, label, verify_cache, workers):
        self.db = db
        self.verify_cache = verify_cache
        super().__init__(world, build, tls=False, label=label, threads=1,
                         extra_server={"workers": str(workers)},
                         auth_plugin="auth-sql-pgsql")

    def configure(self):
        self.auth_settings = {
            "connect": self.db.connect_string(),
            "password-query": "SELECT username AS user, password, %s AS "
                              "home FROM mailbox WHERE username = :user AND "
                              "active = true" % home_expr(self.world,
                                                          self.label),
            "max-connections": str(CONNECTIONS_PER_WORKER),
            "verify-cache": "yes" if self.verify_cache else "no",
        }
        return super().configure()


class DovecotSql(Dovecot):
    """Dovecot tuned, with its passdb in PostgreSQL and the prefetch
    userdb (the passdb's row gives the home: one query per login, as
    poplard)."""

    def __init__(self, world, db, label, auth_cache, connections):
        self.db = db
        self.connections = connections
        super().__init__(world, "tuned", label=label, auth_cache=auth_cache)
        self.sql_conf = os.path.join(self.dir, "dovecot-sql.conf.ext")

    def auth_lines(self):
        return ["mail_uid = %s" % self.world.mail_user,
                "mail_gid = %s" % self.world.mail_group,
                "passdb {", "  driver = sql", "  args = %s" % self.sql_conf,
                "}", "userdb {", "  driver = prefetch", "}"]

    def configure(self):
        text = "\n".join([
            "driver = pgsql",
            "connect = %s maxconns=%d" % (self.db.connect_string(),
                                          self.connections),
            "default_pass_scheme = SHA512-CRYPT",
            "password_query = SELECT username AS user, password, %s AS "
            "userdb_home FROM mailbox WHERE username = '%%u' AND "
            "active = true" % home_expr(self.world, self.label),
        ]) + "\n"
        with open(self.sql_conf, "w") as f:
            f.write(text)
        # Read by Dovecot's auth process, which runs as its internal user.
        os.chown(self.sql_conf, 0, grp.getgrnam("dovecot").gr_gid)
        os.chmod(self.sql_conf, 0o640)
        return super().configure()


def servers(world, build, db):
    """The four servers of the SQL rows, in the order they take turns."""
    workers = os.cpu_count() or 1
    connections = CONNECTIONS_PER_WORKER * workers
    out = []
    for (_, poplard, dovecot), cache in zip(ROWS, (False, True)):
        world.make_instance(poplard)
        world.make_instance(dovecot, reader_group="dovecot")
        out.append(PoplardSql(world, build, db, poplard, cache, workers))
        out.append(DovecotSql(world, db, dovecot, cache, connections))
    return out
