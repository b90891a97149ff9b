# SPDX-License-Identifier: MIT
"""Harness for the poplard integration tests.

A test builds a Server (a temporary directory with a plugin directory, a
passwd file, one Maildir per user and a poplar.conf), starts poplard on an
ephemeral port of 127.0.0.1 and talks to it with poplib, curl or the raw
Conn class below.  Everything is bounded in time, and the temporary
directory is removed when the test ends.

The environment comes from tests/integration/meson.build:
  POPLARD         the poplard executable
  POPLAR_PLUGINS  colon-separated paths of every plugin .so built in the tree
  POPLAR_INCLUDE  the in-tree public include directory
Set POPLAR_KEEP_TMP=1 to keep the temporary directories of failed runs.
"""

import os
import poplib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

POPLARD = os.environ.get("POPLARD", "")
PLUGINS = [p for p in os.environ.get("POPLAR_PLUGINS", "").split(":") if p]
INCLUDE = os.environ.get("POPLAR_INCLUDE", "")

HOST = "127.0.0.1"
# Every socket operation gives up after this long, so a hang is a failure
# and never a stuck test run.
SOCKET_TIMEOUT = 30.0
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

DEFAULT_PLUGINS = ["auth-passwd-file", "store-maildir"]


def crlf(data):
    """The form in which POP3 sends a stored message: every bare LF as
    CRLF, and a final CRLF added when the message does not end a line."""
    out = re.sub(rb"(?<!\r)\n", b"\r\n", data)
    if out and not out.endswith(b"\r\n"):
        out += b"\r\n"
    return out


def top_of(data, lines):
    """What TOP msg @lines sends (before dot-stuffing): the header, the
    blank line and the first @lines lines of the body, in CRLF form."""
    full = crlf(data)
    head, sep, body = full.partition(b"\r\n\r\n")
    if not sep:
        return full
    out = head + b"\r\n\r\n"
    if lines <= 0:
        return out
    body_lines = body.split(b"\r\n")
    if body_lines and body_lines[-1] == b"":
        body_lines.pop()
    kept = body_lines[:lines]
    return out + b"".join(line + b"\r\n" for line in kept)


def require_environment():
    if not POPLARD or not os.access(POPLARD, os.X_OK):
        sys.stderr.write("POPLARD is not set to an executable poplard; run "
                         "these tests through `meson test`\n")
        sys.exit(2)
    if not PLUGINS:
        sys.stderr.write("POPLAR_PLUGINS is empty; run these tests through "
                         "`meson test`\n")
        sys.exit(2)


def plugin_path(name):
    """The built .so of plugin @name (e.g. "store-maildir")."""
    for p in PLUGINS:
        if os.path.basename(p) == name + ".so":
            return p
    raise AssertionError("plugin %s is not in POPLAR_PLUGINS" % name)


# ---- mailboxes ------------------------------------------------------------

class Maildir:
    """A Maildir on disk.  Messages are added oldest first: their names and
    modification times both increase, so every sensible POP3 order (by
    time, by name) is the order of the add() calls."""

    _clock = 1700000000

    def __init__(self, path):
        self.path = path
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(path, sub), exist_ok=True)
        self.count = 0

    def add(self, content, subdir="new", unique=None, info=None, suffix=""):
        """Stores @content; returns its path.  @unique overrides the unique
        part of the name, @suffix is appended to it (",S=...,W=..."),
        @info adds ":2,<info>" (cur/ only)."""
        self.count += 1
        Maildir._clock += 1
        stamp = Maildir._clock
        if unique is None:
            unique = "%d.M%06dP%d.poplartest" % (stamp, self.count, os.getpid())
        name = unique + suffix
        if info is not None:
            name += ":2," + info
        path = os.path.join(self.path, subdir, name)
        with open(path, "wb") as f:
            f.write(content)
        os.utime(path, (stamp, stamp))
        return path

    def files(self):
        """Paths of every message file (new/ and cur/)."""
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(self.path, sub)
            out += [os.path.join(d, n) for n in sorted(os.listdir(d))]
        return out

    def contents(self):
        """Sorted contents of every message file."""
        out = []
        for p in self.files():
            with open(p, "rb") as f:
                out.append(f.read())
        return sorted(out)

    def holds(self, content):
        return content in self.contents()


class User:
    def __init__(self, name, password, home, maildir):
        self.name = name
        self.password = password
        self.home = home
        self.maildir = maildir


# ---- the server -------------------------------------------------------------

class ServerError(Exception):
    pass


class Server:
    """One poplard instance with its own temporary world."""

    def __init__(self, tmp_root=None):
        self.dir = tempfile.mkdtemp(prefix="poplartest-", dir=tmp_root)
        self.plugin_dir = os.path.join(self.dir, "plugins")
        os.mkdir(self.plugin_dir)
        for p in PLUGINS:
            os.symlink(p, os.path.join(self.plugin_dir, os.path.basename(p)))
        self.passwd = os.path.join(self.dir, "passwd")
        self.conf = os.path.join(self.dir, "poplar.conf")
        self.control_socket = os.path.join(self.dir, "control")
        self.users = {}
        self._passwd_lines = []
        self.proc = None
        self.port = None
        self._lines = []
        self._cond = threading.Condition()
        self._reader = None
        self.conf_args = None

    # -- the world

    def add_user(self, name, password, messages=(), mail=None, extra=None):
        """Adds a passwd line and a Maildir under the user's home.  @mail
        sets a per-user location (extra field mail=...); @extra is appended
        to the extra fields as is."""
        home = os.path.join(self.dir, "home", name)
        os.makedirs(home)
        maildir = Maildir(os.path.join(home, "Maildir"))
        for m in messages:
            maildir.add(m)
        fields = []
        if mail is not None:
            fields.append("mail=" + mail)
        if extra:
            fields.append(extra)
        self._passwd_lines.append("%s:{PLAIN}%s::::%s::%s" % (
            name, password, home, " ".join(fields)))
        self._write_passwd()
        user = User(name, password, home, maildir)
        self.users[name] = user
        return user

    def add_users(self, prefix, count, password, messages=()):
        """Adds many users at once (one passwd write)."""
        users = []
        for i in range(count):
            name = "%s%d" % (prefix, i)
            home = os.path.join(self.dir, "home", name)
            os.makedirs(home)
            maildir = Maildir(os.path.join(home, "Maildir"))
            for m in messages:
                maildir.add(m)
            self._passwd_lines.append("%s:{PLAIN}%s::::%s::" % (
                name, password, home))
            user = User(name, password, home, maildir)
            self.users[name] = user
            users.append(user)
        self._write_passwd()
        return users

    def _write_passwd(self):
        tmp = self.passwd + ".tmp"
        with open(tmp, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write("\n".join(self._passwd_lines) + "\n")
        os.replace(tmp, self.passwd)

    def config_text(self, server=None, load=None, sections=None, extra=""):
        """The poplar.conf text.  @server adds or overrides [server] keys,
        @load lists the plugins, @sections maps section names to dicts of
        keys, @extra is appended verbatim."""
        server_keys = {
            "listen": "%s:0" % HOST,
            "plugin-dir": self.plugin_dir,
            "mail": "maildir:%h/Maildir",
            "auth-failure-delay": "0",
            "log-level": "debug",
            # CI runs as root; sessions as root must be asked for.
            "allow-root": "yes" if os.geteuid() == 0 else None,
            # Stopping waits this long for live sessions; tests stop often.
            "shutdown-timeout": "1s",
            # Every test client comes from 127.0.0.1.
            "max-connections-per-ip": "512",
        }
        server_keys.update(server or {})
        text = "[server]\n"
        for k, v in server_keys.items():
            if v is not None:
                text += "%s = %s\n" % (k, v)
        text += "\n[plugins]\nload = %s\n" % "; ".join(
            load if load is not None else DEFAULT_PLUGINS)
        # reload-interval 0: tests add users to a running server and log
        # in at once, sooner than the default interval would look again.
        all_sections = {"auth-passwd-file": {"path": self.passwd,
                                             "reload-interval": "0"},
                        # Never the system's /run/poplar/control: tests
                        # run side by side.
                        "control": {"socket": self.control_socket}}
        for name, keys in (sections or {}).items():
            all_sections.setdefault(name, {}).update(keys)
        for name, keys in all_sections.items():
            text += "\n[%s]\n" % name
            for k, v in keys.items():
                text += "%s = %s\n" % (k, v)
        return text + extra

    def write_config(self, **kw):
        with open(self.conf, "w") as f:
            f.write(self.config_text(**kw))
        return self.conf

    # -- the process

    def start(self, **config):
        """Writes the config (when arguments are given, or none exists yet),
        starts poplard and waits until it listens."""
        if config or not os.path.exists(self.conf):
            self.write_config(**config)
        if self.proc is not None:
            raise ServerError("already running")
        with self._cond:
            self._lines = []
        self.proc = subprocess.Popen(
            [POPLARD, "-c", self.conf], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._reader = threading.Thread(target=self._drain,
                                        args=(self.proc.stdout,), daemon=True)
        self._reader.start()
        try:
            m = self.wait_for_log(r"listening on 127\.0\.0\.1:(\d+)",
                                  START_TIMEOUT)
        except ServerError:
            self._kill()
            raise
        self.port = int(m.group(1))
        return self.port

    def _drain(self, pipe):
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self._lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._lines.append(None)  # end of output
            self._cond.notify_all()

    def log_lines(self):
        with self._cond:
            return [l for l in self._lines if l is not None]

    def log_text(self):
        return "\n".join(self.log_lines())

    def wait_for_log(self, pattern, timeout=5.0, start=0):
        """Waits for a log line matching @pattern (a regex) at or after line
        @start; returns the match.  Raises ServerError on timeout or when
        poplard exits first."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = start
        with self._cond:
            while True:
                while i < len(self._lines):
                    line = self._lines[i]
                    i += 1
                    if line is None:
                        raise ServerError(
                            "poplard exited (%s) before logging /%s/:\n%s" % (
                                self._exit_text(), pattern, self.log_tail()))
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServerError("no log line /%s/ within %.0fs:\n%s" % (
                        pattern, timeout, self.log_tail()))
                self._cond.wait(left)

    def log_mark(self):
        """Index to pass as @start to wait_for_log for lines after now."""
        with self._cond:
            return len(self._lines)

    def log_tail(self, n=60):
        lines = [l for l in self._lines if l is not None][-n:]
        return "\n".join("  | " + l for l in lines)

    def _exit_text(self):
        if self.proc is None:
            return "not started"
        rc = self.proc.poll()
        if rc is None:
            return "still running"
        if rc < 0:
            return "killed by signal %d" % -rc
        return "exit code %d" % rc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pids(self):
        """poplard's pid and those of its descendants (worker processes)."""
        if not self.alive():
            return []
        return process_tree(self.proc.pid)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM and wait.  Returns the exit code; raises ServerError when
        poplard needs SIGKILL, had already died, or leaves processes
        behind."""
        if self.proc is None:
            return None
        proc = self.proc
        already = proc.poll()
        children = []
        if already is None:
            children = process_tree(proc.pid)[1:]
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill()
                raise ServerError("poplard did not exit within %.0fs of "
                                  "SIGTERM:\n%s" % (timeout, self.log_tail()))
        self._finish_reader()
        self.proc = None
        if already is not None:
            raise ServerError("poplard had already exited (%s) before "
                              "SIGTERM:\n%s" % (
                                  exit_text(already), self.log_tail()))
        left = wait_gone(children, 5.0)
        if left:
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            raise ServerError("poplard exited but left processes %s" % left)
        return proc.returncode

    def _finish_reader(self):
        if self._reader is not None:
            self._reader.join(5)
            self._reader = None
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self._finish_reader()
        self.proc = None

    def crash(self):
        """SIGKILL, as a crash would end poplard: nothing is cleaned up."""
        pids = self.pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self._kill()
        wait_gone(pids, 5.0)

    def restart(self, **config):
        rc = self.stop()
        if rc != 0:
            raise ServerError("poplard exited with %s on SIGTERM" % rc)
        return self.start(**config)

    def cleanup(self, keep=False):
        self._kill()
        if keep:
            sys.stderr.write("kept %s\n" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- clients

    def pop(self, timeout=SOCKET_TIMEOUT):
        return poplib.POP3(HOST, self.port, timeout=timeout)

    def login(self, user, password=None, timeout=SOCKET_TIMEOUT):
        """A poplib session logged in as @user (a User or a name)."""
        if isinstance(user, User):
            user, password = user.name, user.password
        p = self.pop(timeout)
        try:
            p.user(user)
            p.pass_(password)
        except Exception:
            p.close()
            raise
        return p

    def conn(self, timeout=SOCKET_TIMEOUT, source=None):
        return Conn(self.port, timeout=timeout, source=source)


def process_tree(pid):
    """@pid and all its descendants, from /proc."""
    out = [pid]
    i = 0
    while i < len(out):
        p = out[i]
        i += 1
        try:
            for tid in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, tid)) as f:
                    out += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def wait_gone(pids, timeout):
    """Waits until none of @pids exists (or is a zombie); returns those
    still alive after @timeout."""
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for pid in pids:
            try:
                with open("/proc/%d/stat" % pid) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    left.append(pid)
            except OSError:
                pass
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def rss_anon_kb(pids):
    """Sum of RssAnon over @pids, in KiB."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def wait_until(cond, timeout, step=0.05):
    """Polls @cond until it is true or @timeout seconds passed; returns
    its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def second_loopback_works():
    """Whether this host lets a client bind 127.0.0.2 (Linux does)."""
    s = socket.socket()
    try:
        s.bind(("127.0.0.2", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


def exit_text(rc):
    if rc is None:
        return "still running"
    if rc < 0:
        return "killed by signal %d" % -rc
    return "exit code %d" % rc


# ---- a raw client -------------------------------------------------------------

class ProtocolError(AssertionError):
    pass


class Conn:
    """A POP3 connection read strictly: every line must end with CRLF,
    multi-line bodies must be dot-stuffed exactly."""

    def __init__(self, port, timeout=SOCKET_TIMEOUT, source=None):
        self.sock = socket.create_connection(
            (HOST, port), timeout=timeout,
            source_address=(source, 0) if source else None)
        self.sock.settimeout(timeout)
        self.buf = bytearray()
        self.pos = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError("connection closed by the server")
        self.buf += chunk

    def _compact(self):
        # Only between replies: body() keeps absolute offsets while reading.
        if self.pos > (1 << 20) or self.pos == len(self.buf):
            del self.buf[:self.pos]
            self.pos = 0

    def line(self):
        """The next line as bytes, without its CRLF."""
        self._compact()
        while True:
            i = self.buf.find(b"\n", self.pos)
            if i >= 0:
                break
            self._fill()
        raw = bytes(self.buf[self.pos:i + 1])
        self.pos = i + 1
        if not raw.endswith(b"\r\n"):
            raise ProtocolError("line not ended by CRLF: %r" % raw[-80:])
        return raw[:-2]

    def reply(self):
        """The next status line as text."""
        return self.line().decode("utf-8", "replace")

    def cmd(self, command):
        """Sends @command and returns its status line."""
        self.send(command + "\r\n")
        return self.reply()

    def body(self):
        """Reads a multi-line body up to the terminating "." line and
        returns it un-dot-stuffed, with CRLF line ends."""
        start = self.pos
        # The body begins right after a status line's CRLF, so the
        # terminator is always "\r\n.\r\n" counting that CRLF.
        search = max(start - 2, 0)
        while True:
            i = self.buf.find(b"\r\n.\r\n", search)
            if i >= 0:
                break
            search = max(len(self.buf) - 4, start - 2, 0)
            self._fill()
        end = i + 2  # keep the last line's CRLF
        raw = bytes(self.buf[start:end]) if end > start else b""
        self.pos = i + 5
        if raw.count(b"\n") != raw.count(b"\r\n"):
            raise ProtocolError("bare LF in a multi-line response")
        lines = raw.split(b"\r\n")
        lines.pop()  # after the last CRLF
        out = []
        for n, line in enumerate(lines):
            if line.startswith(b"."):
                if not line.startswith(b".."):
                    raise ProtocolError(
                        "line %d starts with a single '.' (not dot-stuffed): "
                        "%r" % (n + 1, line[:80]))
                line = line[1:]
            out.append(line)
        return b"".join(l + b"\r\n" for l in out)

    def multi(self, command):
        """Sends @command; returns (status line, body or None on -ERR)."""
        status = self.cmd(command)
        if status.startswith("+OK"):
            return status, self.body()
        return status, None

    def greeting(self):
        g = self.reply()
        if not g.startswith("+OK"):
            raise ProtocolError("greeting is not +OK: %r" % g)
        return g

    def login(self, user, password):
        self.greeting()
        r = self.cmd("USER " + user)
        if not r.startswith("+OK"):
            raise ProtocolError("USER %s: %r" % (user, r))
        r = self.cmd("PASS " + password)
        if not r.startswith("+OK"):
            raise ProtocolError("PASS for %s: %r" % (user, r))
        return r

    def wait_closed(self, timeout):
        """True when the server closes the connection within @timeout
        seconds (data before the close is collected in self.tail)."""
        self.tail = bytes(self.buf[self.pos:])
        self.pos = len(self.buf)
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.sock.settimeout(left)
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.tail += chunk
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True


# ---- curl -----------------------------------------------------------------------

def curl_retr(port, user, password, number, timeout=120):
    """Message @number as curl retrieves it (un-dot-stuffed)."""
    url = "pop3://%s:%s@%s:%d/%d" % (user, password, HOST, port, number)
    r = subprocess.run(["curl", "-s", "-S", "--max-time", str(timeout), url],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout + 10)
    if r.returncode != 0:
        raise AssertionError("curl %s failed (%d): %s" % (
            url, r.returncode, r.stderr.decode(errors="replace")))
    return r.stdout


# ---- test cases -------------------------------------------------------------------

_UNDER_SANITIZER = None


def under_sanitizer():
    """True when poplard is built with AddressSanitizer (make check-asan):
    memory figures then include ASan's shadow and quarantine."""
    global _UNDER_SANITIZER
    if _UNDER_SANITIZER is None:
        try:
            with open(POPLARD, "rb") as f:
                _UNDER_SANITIZER = b"__asan_init" in f.read()
        except OSError:
            _UNDER_SANITIZER = False
    return _UNDER_SANITIZER


def login_when_free(server, user, deadline=5.0):
    """Logs in, retrying while the mailbox is still [IN-USE] by a dropped
    session the server has not noticed yet.  (After a QUIT answered +OK
    the mailbox must be free at once: use Server.login.)"""
    end = time.monotonic() + deadline
    while True:
        try:
            return server.login(user)
        except poplib.error_proto as e:
            if b"[IN-USE]" not in e.args[0] or time.monotonic() > end:
                raise
        time.sleep(0.1)


class PoplarTestCase(unittest.TestCase):
    """Creates servers that are stopped and removed after the test, checks
    that each exits cleanly on SIGTERM, and prints their logs when the
    test fails."""

    def run(self, result=None):
        self._servers = []
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for s in self._servers:
                sys.stderr.write("\n--- poplard log (%s) ---\n%s\n" % (
                    s.dir, "\n".join(s.log_lines()[-300:])))
        return out

    def server(self, users=None, start=True, **config):
        """A new Server.  @users maps names to lists of messages (password
        "pw" for each).  With @start, it is started with @config."""
        s = Server()
        self._servers.append(s)
        self.addCleanup(self._cleanup_server, s)
        for name, messages in (users or {}).items():
            s.add_user(name, "pw", messages)
        if start:
            s.start(**config)
        return s

    def _cleanup_server(self, s):
        keep = bool(os.environ.get("POPLAR_KEEP_TMP"))
        try:
            if s.proc is not None:
                rc = s.stop()
                if rc != 0:
                    raise AssertionError(
                        "poplard exited with %s on SIGTERM (expected 0)" %
                        exit_text(rc))
        finally:
            s.cleanup(keep=keep)

    def assertOk(self, reply, what=""):
        if isinstance(reply, bytes):
            reply = reply.decode("utf-8", "replace")
        self.assertTrue(reply.startswith("+OK"),
                        "%sexpected +OK, got %r" % (what + ": " if what else "",
                                                    reply))

    def assertErr(self, reply, what="", code=None):
        if isinstance(reply, bytes):
            reply = reply.decode("utf-8", "replace")
        self.assertTrue(reply.startswith("-ERR"),
                        "%sexpected -ERR, got %r" % (what + ": " if what else "",
                                                     reply))
        if code is not None:
            self.assertTrue(reply.startswith("-ERR [%s]" % code),
                            "%sexpected -ERR [%s], got %r" % (
                                what + ": " if what else "", code, reply))

    def assertPopError(self, fn, code=None):
        """Calls @fn (a poplib call) expecting -ERR; returns the reply."""
        with self.assertRaises(poplib.error_proto) as cm:
            fn()
        reply = cm.exception.args[0]
        self.assertErr(reply, code=code)
        return reply.decode("utf-8", "replace")


def main():
    require_environment()
    unittest.main(verbosity=2)
