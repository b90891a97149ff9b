# SPDX-License-Identifier: MIT
"""Database servers of the test's own, as slapdtest.py starts slapd:
PostgreSQL (initdb, pg_ctl) and MariaDB (mariadb-install-db, mariadbd),
each in a temporary directory, listening on an ephemeral port of
127.0.0.1 and a unix socket in that directory, run as an unprivileged
user (nobody) when the test runs as root, since both refuse root.  Any
server the system runs is left alone.

    pg = Postgres(); pg.start()
    pg.sql("CREATE TABLE ...")           # as the superuser
    ... pg.connect_string("poplar", "secret") ...
    pg.stop(); pg.start()                # same port, same data
    pg.cleanup()
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bindir():
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                  key=lambda d: int(d.split("/")[-2]), reverse=True)
    for d in dirs:
        if os.access(os.path.join(d, "initdb"), os.X_OK):
            return d
    return None


PG_BIN = _pg_bindir()
MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
MARIADB_INSTALL_DB = shutil.which("mariadb-install-db") or \
    "/usr/bin/mariadb-install-db"
MARIADB = shutil.which("mariadb") or "/usr/bin/mariadb"


def postgres_missing():
    """None when PostgreSQL can run here, else why not."""
    if not PG_BIN:
        return "PostgreSQL's initdb is missing (Debian package postgresql)"
    return None


def mariadb_missing():
    for tool in (MARIADBD, MARIADB_INSTALL_DB, MARIADB):
        if not os.access(tool, os.X_OK):
            return "%s is missing (Debian package mariadb-server)" % tool
    return None


class DatabaseError(Exception):
    pass


class _Server:
    """What both servers share: the directory, the user, the process."""

    def __init__(self, prefix):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            nobody = pwd.getpwnam("nobody")
            self.uid, self.gid = nobody.pw_uid, nobody.pw_gid
            os.chown(self.dir, self.uid, self.gid)
        self.env = dict(os.environ, HOME=self.dir, LC_ALL="C.UTF-8")

    def _run(self, args, check=True, timeout=START_TIMEOUT, **kw):
        """Runs @args as the server's user."""
        if self.as_root:
            kw.update(user=self.uid, group=self.gid, extra_groups=[])
        p = subprocess.run(args, env=self.env, cwd=self.dir,
                           stdin=kw.pop("stdin", subprocess.DEVNULL),
                           capture_output=True, timeout=timeout, **kw)
        if check and p.returncode != 0:
            raise DatabaseError("%s failed (%d): %s%s" % (
                " ".join(args[:2]), p.returncode,
                p.stdout.decode(errors="replace")[-2000:],
                p.stderr.decode(errors="replace")[-2000:]))
        return p

    def cleanup(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class Postgres(_Server):
    SUPERUSER = "postgres"

    def __init__(self):
        super().__init__("poplar-pg-")
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "postgres.log")
        self._run([os.path.join(PG_BIN, "initdb"), "-D", self.data,
                   "-U", self.SUPERUSER, "--auth-local=trust",
                   "--auth-host=scram-sha-256", "-E", "UTF8",
                   "--locale=C.UTF-8", "-N"])
        self.running = False

    def start(self):
        opts = ("-k %s -p %d -h 127.0.0.1 -F -c max_connections=50 "
                "-c shared_buffers=16MB" % (self.dir, self.port))
        self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l",
                   self.log_path, "-o", opts, "-w", "-t",
                   str(int(START_TIMEOUT)), "start"])
        self.running = True

    def stop(self):
        if not self.running:
            return
        self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m",
                   "fast", "-w", "-t", str(int(STOP_TIMEOUT)), "stop"],
                  check=False, timeout=STOP_TIMEOUT + 5)
        self.running = False

    def sql(self, text, database="postgres"):
        """Runs @text as the superuser over the unix socket; returns the
        output (tuples only, unaligned)."""
        p = self._run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t",
                       "-h", self.dir, "-p", str(self.port), "-U",
                       self.SUPERUSER, "-d", database, "-v",
                       "ON_ERROR_STOP=1", "-f", "-"],
                      input=text.encode(), stdin=None)
        return p.stdout.decode()

    def connect_string(self, user, password, database):
        return ("host=127.0.0.1 port=%d dbname=%s user=%s password=%s" %
                (self.port, database, user, password))

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class Mariadb(_Server):

    def __init__(self):
        super().__init__("poplar-mariadb-")
        self.data = os.path.join(self.dir, "data")
        self.socket = os.path.join(self.dir, "mariadb.sock")
        self.pid_path = os.path.join(self.dir, "mariadb.pid")
        self.log_path = os.path.join(self.dir, "mariadb.err")
        self._run([MARIADB_INSTALL_DB, "--no-defaults",
                   "--datadir=" + self.data,
                   "--auth-root-authentication-method=normal",
                   "--skip-test-db", "--skip-name-resolve"])
        self.proc = None

    def start(self):
        args = [MARIADBD, "--no-defaults", "--datadir=" + self.data,
                "--socket=" + self.socket, "--port=%d" % self.port,
                "--bind-address=127.0.0.1", "--pid-file=" + self.pid_path,
                "--log-error=" + self.log_path, "--skip-log-bin",
                "--innodb-buffer-pool-size=16M", "--skip-name-resolve",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_bin"]
        kw = {}
        if self.as_root:
            kw.update(user=self.uid, group=self.gid, extra_groups=[])
        self.proc = subprocess.Popen(args, env=self.env, cwd=self.dir,
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, **kw)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                self.proc = None
                raise DatabaseError("mariadbd exited: %s" %
                                    self.log_text()[-2000:])
            p = self._run([MARIADB, "--no-defaults", "-S", self.socket,
                           "-u", "root", "-e", "SELECT 1"], check=False)
            if p.returncode == 0:
                return
            if time.monotonic() > deadline:
                self.stop()
                raise DatabaseError("mariadbd did not start: %s" %
                                    self.log_text()[-2000:])
            time.sleep(0.1)

    def stop(self):
        if not self.proc:
            return
        self.proc.terminate()
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def sql(self, text, database=None):
        args = [MARIADB, "--no-defaults", "-S", self.socket, "-u", "root",
                "-N", "-B"]
        if database:
            args.append(database)
        p = self._run(args, input=text.encode(), stdin=None)
        return p.stdout.decode()

    def connect_string(self, user, password, database, hosts=None):
        hosts = hosts or ["127.0.0.1:%d" % self.port]
        return " ".join(["host=" + h for h in hosts] +
                        ["user=" + user, "password=" + password,
                         "dbname=" + database])

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""
