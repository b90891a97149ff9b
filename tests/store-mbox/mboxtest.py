# SPDX-License-Identifier: MIT
"""Helpers for the store-mbox integration tests: writing mboxes as Debian's
MTAs do, delivering into them under dotlock and fcntl locks, reading them
back, and a poplard set up with auth-passwd-file and store-mbox.

The poplard harness itself is tests/integration/poplartest.py, imported
from there.  Besides its environment (POPLARD, POPLAR_PLUGINS), these tests
use POPLAR_MBOX_FAULT_PLUGIN: the copy of store-mbox.so built with fault
injection (tests/store-mbox/meson.build).
"""

import errno
import fcntl
import os
import re
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import poplartest  # noqa: E402
from poplartest import Conn, crlf  # noqa: E402,F401

FIXTURES = os.path.join(HERE, "fixtures")
FAULT_PLUGIN = os.environ.get("POPLAR_MBOX_FAULT_PLUGIN", "")
PLUGINS = ["auth-passwd-file", "store-mbox"]

_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
           "Oct", "Nov", "Dec"]


def asctime(t, zero_pad=False):
    """A From_ line date: asctime() ("Sat Jan  3 01:05:34 1998"), or Exim's
    tod_bsdinbox with a zero-padded day."""
    tm = time.gmtime(t)
    day = ("%02d" if zero_pad else "%2d") % tm.tm_mday
    return "%s %s %s %02d:%02d:%02d %d" % (
        _DAYS[tm.tm_wday], _MONTHS[tm.tm_mon - 1], day, tm.tm_hour,
        tm.tm_min, tm.tm_sec, tm.tm_year)


def from_line(sender="sender@example.org", t=1700000000, style="postfix"):
    """The From_ line an MTA writes (without its line end)."""
    if style == "exim":
        return "From %s %s" % (sender or "MAILER-DAEMON",
                               asctime(t, zero_pad=True))
    # Postfix local(8) and procmail: two blanks before the date.
    return "From %s  %s" % (sender or "MAILER-DAEMON", asctime(t))


_FROM_RE = re.compile(rb"^(>*)From ", re.M)


def quote(message, fmt="mboxo"):
    """Quotes @message (bytes) as an MTA writing @fmt does."""
    if fmt == "mboxrd":
        return _FROM_RE.sub(lambda m: b">" + m.group(0), message)
    return re.sub(rb"^From ", b">From ", message, flags=re.M)


def entry(message, fmt="mboxo", sender="sender@example.org",
          t=1700000000, style="postfix", eol=b"\n"):
    """One message as an MTA appends it: From_ line, the quoted message
    (a line end added when it has none), and the separating empty line."""
    body = quote(message, fmt)
    if not body.endswith(b"\n"):
        body += eol
    return from_line(sender, t, style).encode() + eol + body + eol


def build_mbox(messages, fmt="mboxo", t0=1700000000):
    return b"".join(entry(m, fmt, t=t0 + i) for i, m in enumerate(messages))


_FROM_LINE_RE = re.compile(
    rb"^From \S*\s+(Mon|Tue|Wed|Thu|Fri|Sat|Sun) "
    rb"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d+ "
    rb"\d+:\d+(:\d+)? \d{4}\r?$")


def parse_mbox(data, fmt="mboxo"):
    """The messages of an mbox (for checking what is on disk after a test):
    a list of their contents with quoting undone, the separating empty
    line dropped.  Good enough for what these tests write."""
    out = []
    cur = None
    for line in data.splitlines(keepends=True):
        if _FROM_LINE_RE.match(line.rstrip(b"\n")):
            if cur is not None:
                out.append(cur)
            cur = []
            continue
        if cur is None:
            raise AssertionError("mbox does not start with a From_ line")
        cur.append(line)
    if cur is not None:
        out.append(cur)
    msgs = []
    for lines in out:
        if lines and lines[-1] in (b"\n", b"\r\n"):
            lines = lines[:-1]
        unq = []
        for line in lines:
            if fmt == "mboxrd" and re.match(rb">+From ", line):
                line = line[1:]
            elif fmt == "mboxo" and line.startswith(b">From "):
                line = line[1:]
            unq.append(line)
        msgs.append(b"".join(unq))
    return msgs


def read_mbox(path, fmt="mboxo"):
    with open(path, "rb") as f:
        return parse_mbox(f.read(), fmt)


# ---- an MTA ------------------------------------------------------------------

class LockTimeout(Exception):
    pass


def dotlock(path, timeout=30.0):
    """Takes <path>.lock the way liblockfile does (a unique file holding our
    pid, hard-linked to the lock name).  Returns the lock's path."""
    lock = path + ".lock"
    tmp = "%s.lk%d.%d.%s" % (path, os.getpid(), time.monotonic_ns(),
                             socket.gethostname())
    deadline = time.monotonic() + timeout
    while True:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, b"%d\n" % os.getpid())
        os.close(fd)
        try:
            os.link(tmp, lock)
        except FileExistsError:
            pass
        ok = os.stat(tmp).st_nlink == 2
        os.unlink(tmp)
        if ok:
            return lock
        if time.monotonic() > deadline:
            raise LockTimeout("dotlock %s busy" % lock)
        time.sleep(0.01)


def fcntl_lock(fd, timeout=30.0):
    """A classic fcntl write lock, as Postfix, Exim and procmail take."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        if time.monotonic() > deadline:
            raise LockTimeout("fcntl lock busy")
        time.sleep(0.01)


def deliver(path, message, fmt="mboxo", t=None, timeout=30.0, hold=0.0):
    """Appends @message to the mbox @path as Postfix does: dotlock, open,
    fcntl lock, append, fsync, unlock.  @hold keeps the locks that many
    seconds after writing."""
    lock = dotlock(path, timeout)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl_lock(fd, timeout)
            os.write(fd, entry(message, fmt,
                               t=t if t is not None else int(time.time())))
            os.fsync(fd)
            if hold:
                time.sleep(hold)
        finally:
            os.close(fd)
    finally:
        os.unlink(lock)


# ---- poplard ------------------------------------------------------------------

class MboxTestCase(poplartest.PoplarTestCase):
    """Servers with mbox users: mbox_server() creates one, add_mbox_user()
    gives a user an mbox (mail=mbox:PATH)."""

    def mbox_server(self, store=None, start=True, server=None, env=None):
        s = self.server(start=False)
        s.mbox_store = dict(store or {})
        s.mbox_server = {"mail": "mbox:%s/spool/%%u" % s.dir}
        s.mbox_server.update(server or {})
        s.write_config(load=PLUGINS, server=s.mbox_server,
                       sections={"store-mbox": s.mbox_store})
        if start:
            self.start(s, env)
        return s

    def start(self, s, env=None):
        """Starts @s with extra environment variables @env."""
        saved = {}
        for k, v in (env or {}).items():
            saved[k] = os.environ.get(k)
            os.environ[k] = v
        try:
            s.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    del os.environ[k]
                else:
                    os.environ[k] = v

    def add_mbox_user(self, s, name, content=b"", location=None):
        """A user whose mail is the mbox <dir>/spool/<name>, holding
        @content (None: no file)."""
        spool = os.path.join(s.dir, "spool")
        os.makedirs(spool, exist_ok=True)
        path = os.path.join(spool, name)
        if content is not None:
            with open(path, "wb") as f:
                f.write(content)
        user = s.add_user(name, "pw", mail="mbox:" + (location or path))
        user.mbox = path
        return user

    def use_fault_plugin(self, s):
        if not FAULT_PLUGIN:
            self.fail("POPLAR_MBOX_FAULT_PLUGIN is not set; run the tests "
                      "through meson test")
        link = os.path.join(s.plugin_dir, "store-mbox.so")
        os.unlink(link)
        os.symlink(FAULT_PLUGIN, link)

    def retr_all(self, s, user, password="pw"):
        """(uidl, content) of every message, over one strict session."""
        with s.conn() as c:
            c.login(user, password)
            status, listing = c.multi("UIDL")
            self.assertOk(status)
            out = []
            for line in listing.decode().split("\r\n"):
                if not line:
                    continue
                n, uidl = line.split()
                status, body = c.multi("RETR " + n)
                self.assertOk(status)
                out.append((uidl, body))
            self.assertOk(c.cmd("QUIT"))
        return out


def main():
    poplartest.main()
