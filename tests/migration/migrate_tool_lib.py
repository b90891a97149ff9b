# SPDX-License-Identifier: MIT
"""Harness for the poplar-uidl-import tests: an old POP3 server in a
temporary directory, real POP3 clients that keep mail on the server (mpop,
fetchmail, getmail6, each with its UIDL state in the temporary directory),
the Maildir copy a site makes of the old mail, and the tool.

The environment comes from tests/uidl-import/meson.build:
  POPLAR_UIDL_IMPORT  the tool
  POPLARD, POPLAR_PLUGINS  as for tests/integration (poplartest.py)
"""

import crypt
import mailbox
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import unittest

import poplartest
from migrationtest import getmail_command


TOOL = os.environ.get("POPLAR_UIDL_IMPORT", "")
HOST = "127.0.0.1"
CLIENT_TIMEOUT = 60
START_TIMEOUT = 10.0


def need(program, package):
    path = shutil.which(program) or (
        os.path.exists("/usr/sbin/" + program) and "/usr/sbin/" + program)
    if not path:
        raise unittest.SkipTest("%s is needed (Debian package %s)" % (
            program, package))
    return path


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=START_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((HOST, port), timeout=1) as s:
                s.settimeout(2)
                if s.recv(64).startswith(b"+OK"):
                    return True
        except OSError:
            time.sleep(0.05)
    return False


def message(subject, body, sender="a@example.org", extra=""):
    return ("From: %s\nTo: user@example.org\nSubject: %s\n"
            "Message-ID: <%s@example.org>\n%s\n%s\n" % (
                sender, subject, re.sub(r"\W", "", subject), extra,
                body)).encode()


class MailutilsPop3d:
    """GNU Mailutils pop3d on a loopback port, users of a virtual domain
    (passwd file in the temporary directory), mbox INBOXes under it."""

    DOMAIN = "example.org"

    def __init__(self, root):
        self.pop3d = need("pop3d", "mailutils-pop3d")
        self.root = os.path.join(root, "mailutils")
        self.vd = os.path.join(self.root, "virtdomain")
        os.makedirs(self.vd)
        self.users = {}
        self.proc = None
        self.port = None

    def add_user(self, local, password):
        home = os.path.join(self.root, "home", local)
        os.makedirs(home)
        hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))
        with open(os.path.join(self.vd, self.DOMAIN), "a") as f:
            f.write("%s:%s:%d:%d::%s:/bin/sh\n" % (
                local, hashed, os.getuid(), os.getgid(), home))
        name = "%s@%s" % (local, self.DOMAIN)
        self.users[name] = (password, os.path.join(home, "INBOX"))
        open(self.users[name][1], "ab").close()
        return name

    def deliver(self, user, content):
        """Appends to the user's mbox, as a local delivery agent does."""
        box = mailbox.mbox(self.users[user][1])
        box.lock()
        try:
            box.add(content)
            box.flush()
        finally:
            box.unlock()
            box.close()

    def mbox_path(self, user):
        return self.users[user][1]

    def start(self, port=None):
        for attempt in range(5):
            self.port = port or free_port()
            conf = os.path.join(self.root, "pop3d.conf")
            with open(conf, "w") as f:
                f.write('mode daemon;\nforeground yes;\n'
                        'pidfile "%s/pid";\n'
                        'server %s:%d { };\n'
                        'virtdomain { passwd-dir "%s"; };\n'
                        'auth { authorization virtdomain; '
                        'authentication generic; };\n'
                        'logging { syslog no; };\n'
                        'tcp-wrappers { enable no; };\n' % (
                            self.root, HOST, self.port, self.vd))
            self.log = open(os.path.join(self.root, "log"), "ab")
            self.proc = subprocess.Popen(
                [self.pop3d, "--no-site-config", "--config-file", conf],
                stdin=subprocess.DEVNULL, stdout=self.log,
                stderr=subprocess.STDOUT)
            if wait_port(self.port, self.proc):
                return self.port
            self.stop()
            if port:
                break
        raise AssertionError("pop3d did not start: %s" % self.log_text())

    def log_text(self):
        with open(os.path.join(self.root, "log"), "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None


def old_view(port, user, password):
    """{uidl: (number, header bytes)} as the old server shows them."""
    import poplib
    p = poplib.POP3(HOST, port, timeout=30)
    try:
        p.user(user)
        p.pass_(password)
        out = {}
        for line in p.uidl()[1]:
            number, uidl = line.decode().split(" ", 1)
            header = b"\n".join(p.top(int(number), 0)[1])
            out[uidl] = (int(number), header)
        return out
    finally:
        p.quit()


def copy_to_maildir(mbox_path, maildir_path):
    """The copy a site makes of the old mail: each mbox message becomes a
    Maildir file (Python's converter keeps the headers, turns Status into
    flags)."""
    src = mailbox.mbox(mbox_path)
    dst = mailbox.Maildir(maildir_path, create=True)
    names = []
    for msg in src:
        names.append(dst.add(mailbox.MaildirMessage(msg)))
        time.sleep(0.002)  # distinct delivery times, as real copies have
    src.close()
    return names


def run_tool(*args, timeout=120):
    res = subprocess.run([TOOL, *args], capture_output=True, text=True,
                         timeout=timeout)
    return res.returncode, res.stdout, res.stderr


SUMMARY = re.compile(
    r"user (\S+): (\d+) old, (\d+) in Maildir, (\d+) matched \((\d+) "
    r"(?:to be )?recorded, (\d+) already recorded, (\d+) by header alone\), "
    r"(\d+) unmatched, (\d+) ambiguous, (\d+) bad UIDL, (\d+) conflicts, "
    r"(\d+) only in Maildir")
FIELDS = ("old", "maildir", "matched", "recorded", "already", "by_header",
          "unmatched", "ambiguous", "bad_uidl", "conflicts", "only_new")


def summaries(stdout):
    """{user: {field: number}} from the tool's summary lines."""
    out = {}
    for m in SUMMARY.finditer(stdout):
        out[m.group(1)] = dict(zip(FIELDS, map(int, m.groups()[1:])))
    return out


def read_record(maildir):
    """{unique part: uidl} of <maildir>/poplar-uidls, or None."""
    path = os.path.join(maildir, "poplar-uidls")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        lines = f.read().split("\n")
    assert lines[0] == "poplar-uidls 1", lines[0]
    return dict(l.split(" ")[:2] for l in lines[1:] if l)


def tree_state(path):
    """Every file under @path with its size and mtime."""
    out = {}
    for d, _, files in os.walk(path):
        for f in files:
            st = os.stat(os.path.join(d, f))
            out[os.path.relpath(os.path.join(d, f), path)] = (
                st.st_size, st.st_mtime_ns)
    return out


def store_reads_record(plugin):
    """Whether this build's store-maildir reads poplar-uidls at all."""
    with open(plugin, "rb") as f:
        return b"poplar-uidls" in f.read()


# ---- POP3 clients that keep mail on the server ---------------------------

class Clients:
    """mpop, fetchmail and getmail6 for one user, each delivering to an
    mbox of its own and keeping its UIDL state in @root."""

    def __init__(self, root, user, password):
        self.root = root
        self.user = user
        self.password = password
        self.available = [c for c, (prog, _) in {
            "mpop": ("mpop", "mpop"), "fetchmail": ("fetchmail", "fetchmail"),
            "getmail": ("getmail", "getmail6")}.items() if shutil.which(prog)]
        for c in self.available:
            os.makedirs(os.path.join(root, c), mode=0o700)

    def out(self, client):
        return os.path.join(self.root, client, "delivered.mbox")

    def delivered_dir(self, client):
        d = os.path.join(self.root, client, "delivered")
        os.makedirs(d, exist_ok=True)
        return d

    def count(self, client):
        if client in ("fetchmail", "getmail"):
            # their MDA writes one file a message
            return len(os.listdir(self.delivered_dir(client)))
        if not os.path.exists(self.out(client)):
            return 0
        box = mailbox.mbox(self.out(client))
        n = len(box)
        box.close()
        return n

    def run(self, client, port):
        """Runs @client once; returns how many messages it delivered."""
        before = self.count(client)
        getattr(self, "_" + client)(port)
        return self.count(client) - before

    def _check(self, argv, env, ok_codes=(0,)):
        r = subprocess.run(argv, capture_output=True,
                           timeout=CLIENT_TIMEOUT + 30,
                           env=dict(os.environ, **env))
        text = (r.stdout + r.stderr).decode(errors="replace")
        if r.returncode not in ok_codes:
            raise AssertionError("%s exited with %d:\n%s" % (
                argv[0], r.returncode, text))
        return text

    def _mpop(self, port):
        d = os.path.join(self.root, "mpop")
        conf = os.path.join(d, "mpoprc")
        with open(conf, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write("defaults\ntls off\nkeep on\nonly_new on\n"
                    "timeout %d\naccount default\nhost %s\nport %d\n"
                    "user %s\nauth user\npassword %s\nuidls_file %s\n"
                    "delivery mbox %s\n" % (
                        CLIENT_TIMEOUT, HOST, port, self.user, self.password,
                        os.path.join(d, "uidls"), self.out("mpop")))
        self._check(["mpop", "-C", conf, "-q"], {"HOME": d})

    def _fetchmail(self, port):
        d = os.path.join(self.root, "fetchmail")
        rc = os.path.join(d, "fetchmailrc")
        with open(rc, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write("set no bouncemail\nset no syslog\n"
                    "poll %s port %d protocol pop3 uidl timeout %d\n"
                    "  user \"%s\" password \"%s\" is \"%s\" here\n"
                    "  sslproto ''\n"
                    "  mda \"/bin/sh -c 'cat > %s/msg.$$'\"\n"
                    "  keep\n" % (HOST, port, CLIENT_TIMEOUT, self.user,
                                  self.password, "nobody",
                                  self.delivered_dir("fetchmail")))
        # 1: no new mail.
        self._check(["fetchmail", "-f", rc, "--nosyslog", "--pidfile",
                     os.path.join(d, "pid"), "--idfile",
                     os.path.join(d, "fetchids")],
                    {"FETCHMAILHOME": d, "HOME": d}, ok_codes=(0, 1))

    def _getmail(self, port):
        d = os.path.join(self.root, "getmail")
        rc = os.path.join(d, "getmailrc")
        # An external MDA: getmail's own mbox delivery refuses to run as
        # root, which CI is.
        with open(rc, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write("[retriever]\ntype = SimplePOP3Retriever\n"
                    "server = %s\nport = %d\nusername = %s\npassword = %s\n"
                    "timeout = %d\n\n[destination]\ntype = MDA_external\n"
                    "path = /bin/sh\n"
                    "arguments = (\"-c\", \"cat > %s/msg.$$\")\n"
                    "allow_root_commands = true\n\n"
                    "[options]\nread_all = false\n"
                    "delete = false\nverbose = 0\n" % (
                        HOST, port, self.user, self.password, CLIENT_TIMEOUT,
                        self.delivered_dir("getmail")))
        self._check(getmail_command() + ["--getmaildir", d, "--rcfile", rc],
                    {"HOME": d})
