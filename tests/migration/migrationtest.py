"""Shared by the migration tests: a private Dovecot, message delivery, and
the POP3 clients that keep mail on the server (mpop, fetchmail, getmail6),
each run with its own UIDL state and counted by what it delivered.

Everything runs on 127.0.0.1 ports picked here, in temporary directories,
with bounded waits; nothing of /etc/dovecot or the user's home is used.
"""
import imaplib
import os
import poplib
import pwd
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
import poplartest  # noqa: E402

HOST = poplartest.HOST
CLIENT_TIMEOUT = 60
MARK = b"X-Test-Id: "
# getmail, with its fork/SIGCHLD race closed (getmail-run.py says how).
GETMAIL_RUN = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "getmail-run.py")


def getmail_command():
    """The command that runs getmail through getmail-run.py, with the
    Python getmail itself names on its first line (its modules are that
    Python's, not necessarily the tests')."""
    interpreter = sys.executable
    path = shutil.which("getmail")
    if path:
        with open(path, "rb") as f:
            first = f.readline().decode(errors="replace")
        if first.startswith("#!"):
            interpreter = first[2:].split()[0]
    return [interpreter, GETMAIL_RUN]


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port, timeout, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited with %s" % proc.returncode)
        try:
            with socket.create_connection((HOST, port), timeout=2) as s:
                s.settimeout(5)
                if s.recv(64):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("nothing answered on port %d within %ds" % (
        port, timeout))


def message(test_id, body="Hello.\n"):
    return ("From: a@example.org\nTo: b@example.org\nSubject: message %s\n"
            "X-Test-Id: %s\n\n%s" % (test_id, test_id, body)).encode()


class MailUser:
    """The account both servers serve: an unprivileged uid when the test
    runs as root (Dovecot refuses root's mail), else the test's own."""

    def __init__(self, root, name="alice", password="secret"):
        self.name = name
        self.password = password
        if os.geteuid() == 0:
            pw = pwd.getpwnam("nobody")
        else:
            pw = pwd.getpwuid(os.geteuid())
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.home = os.path.join(root, "home", name)
        self.maildir = os.path.join(self.home, "Maildir")
        for d in (self.home, self.maildir, *(os.path.join(self.maildir, s)
                                             for s in ("new", "cur", "tmp"))):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o700)
            self.chown(d)
        # The way to the home must be open to the mail user.
        d = os.path.dirname(self.home)
        while d.startswith(root) and d != os.path.dirname(root):
            os.chmod(d, 0o755)
            d = os.path.dirname(d)

    def chown(self, path):
        if os.geteuid() == 0:
            os.chown(path, self.uid, self.gid)

    def as_user(self):
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(self.gid)
            os.setuid(self.uid)

    def deliver_plain(self, test_id, seq):
        """A delivery as Postfix or procmail make it: tmp/, then new/."""
        name = "%d.M%dP%d.mx" % (int(time.time()), seq, os.getpid())
        tmp = os.path.join(self.maildir, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(message(test_id))
        self.chown(tmp)
        os.rename(tmp, os.path.join(self.maildir, "new", name))

    def files(self):
        out = []
        for sub in ("new", "cur"):
            out += sorted(os.listdir(os.path.join(self.maildir, sub)))
        return out


class Dovecot:
    """A private Dovecot 2.3 (pop3 and imap) for one MailUser."""

    BINARIES = ["/usr/sbin/dovecot", "/usr/bin/doveadm",
                "/usr/lib/dovecot/pop3", "/usr/lib/dovecot/imap",
                "/usr/lib/dovecot/dovecot-lda"]

    @classmethod
    def missing(cls):
        gone = [b for b in cls.BINARIES if not os.access(b, os.X_OK)]
        if gone:
            return ("Dovecot is not installed (dovecot-core, dovecot-pop3d, "
                    "dovecot-imapd): %s missing" % ", ".join(gone))
        return None

    def __init__(self, root, user, pop3_port=None):
        self.user = user
        self.dir = os.path.join(root, "dovecot")
        for sub in ("run", "state"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.pop3_port = pop3_port or free_port()
        self.imap_port = free_port()
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.log_path = os.path.join(self.dir, "dovecot.log")
        self.proc = None
        passwd = os.path.join(self.dir, "passwd")
        with open(passwd, "w") as f:
            f.write("%s:{PLAIN}%s:%d:%d::%s::\n" % (
                user.name, user.password, user.uid, user.gid, user.home))
        os.chmod(passwd, 0o644)
        lines = [
            "instance_name = poplar-migration-%d" % self.pop3_port,
            "base_dir = %s/run" % self.dir,
            "state_dir = %s/state" % self.dir,
            "protocols = pop3 imap",
            "listen = %s" % HOST,
            "log_path = %s" % self.log_path,
            "ssl = no",
            "disable_plaintext_auth = no",
            "auth_mechanisms = plain login",
            "passdb {", "  driver = passwd-file", "  args = %s" % passwd, "}",
            "userdb {", "  driver = passwd-file", "  args = %s" % passwd, "}",
            "mail_location = maildir:~/Maildir",
            "first_valid_uid = %d" % min(user.uid, 500),
            "service pop3-login {",
            "  inet_listener pop3 {", "    port = %d" % self.pop3_port, "  }",
            "  inet_listener pop3s {", "    port = 0", "  }", "}",
            "service imap-login {",
            "  inet_listener imap {", "    port = %d" % self.imap_port, "  }",
            "  inet_listener imaps {", "    port = 0", "  }", "}",
        ]
        if os.geteuid() != 0:
            me = pwd.getpwuid(os.geteuid()).pw_name
            lines += ["default_internal_user = %s" % me,
                      "default_login_user = %s" % me]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        with open(self.log_path + ".err", "ab") as err:
            self.proc = subprocess.Popen(
                ["dovecot", "-F", "-c", self.conf], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=err)
        wait_port(self.pop3_port, 30, self.proc)
        wait_port(self.imap_port, 30, self.proc)

    def stop(self):
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None
        # The ports must be free for the next server.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((HOST, self.pop3_port), 0.5):
                    time.sleep(0.1)
            except OSError:
                return

    def deliver(self, test_id):
        """Delivers through Dovecot's own LDA, as the mail user."""
        env = {"HOME": self.user.home, "USER": self.user.name,
               "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        r = subprocess.run(
            ["/usr/lib/dovecot/dovecot-lda", "-c", self.conf, "-e",
             "-o", "log_path=/dev/stderr"],
            input=message(test_id), env=env, preexec_fn=self.user.as_user,
            capture_output=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("dovecot-lda failed: %s" % r.stderr.decode())

    def doveadm(self, *args):
        return subprocess.run(["doveadm", "-c", self.conf] + list(args),
                              capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)

    def log_problems(self):
        try:
            with open(self.log_path) as f:
                text = f.read()
        except OSError:
            return []
        return [l for l in text.splitlines()
                if re.search(r"Error|Panic|Fatal|[Cc]orrupt|reappeared", l)]


# ---- reading a mailbox ------------------------------------------------------

def pop3_uidls(port, user):
    """[(uidl, X-Test-Id)] in POP3 order."""
    p = poplib.POP3(HOST, port, timeout=30)
    try:
        p.user(user.name)
        p.pass_(user.password)
        out = []
        for line in p.uidl()[1]:
            num, uidl = line.decode().split(" ", 1)
            head = b"\n".join(p.top(int(num), 0)[1])
            m = re.search(rb"X-Test-Id: (\S+)", head)
            out.append((uidl, m.group(1).decode() if m else None))
        p.quit()
        return out
    finally:
        p.close()


def imap_uids(port, user):
    """(UIDVALIDITY, {X-Test-Id: UID})."""
    m = imaplib.IMAP4(HOST, port, timeout=30)
    try:
        m.login(user.name, user.password)
        typ, data = m.select("INBOX")
        assert typ == "OK", data
        uidvalidity = int(m.untagged_responses.get("UIDVALIDITY", [b"0"])[0])
        typ, data = m.uid("FETCH", "1:*",
                          "(UID BODY.PEEK[HEADER.FIELDS (X-Test-Id)])")
        assert typ == "OK", data
        ids = {}
        for item in data:
            if not isinstance(item, tuple):
                continue
            uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
            tid = re.search(rb"X-Test-Id: (\S+)", item[1])
            if tid:
                ids[tid.group(1).decode()] = uid
        m.logout()
        return uidvalidity, ids
    finally:
        try:
            m.shutdown()
        except OSError:
            pass


# ---- clients that keep mail on the server -----------------------------------

def count_marks(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n" + MARK) + 0
    except FileNotFoundError:
        return 0


class Client:
    """One client with its own state directory; run() fetches once and
    returns how many messages it delivered this time."""

    name = None
    binary = None

    def __init__(self, root, user):
        self.user = user
        self.dir = os.path.join(root, "client-" + self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.out = os.path.join(self.dir, "delivered.mbox")
        open(self.out, "ab").close()

    @classmethod
    def missing(cls):
        if shutil.which(cls.binary) is None:
            return "%s is not installed" % cls.binary
        return None

    def run(self, port):
        before = count_marks(self.out)
        r = subprocess.run(self.command(port), capture_output=True,
                           timeout=CLIENT_TIMEOUT, stdin=subprocess.DEVNULL,
                           env=self.env(), cwd=self.dir)
        if r.returncode not in self.ok_codes:
            raise AssertionError("%s exited with %d:\n%s%s" % (
                self.name, r.returncode, r.stdout.decode(errors="replace"),
                r.stderr.decode(errors="replace")))
        return count_marks(self.out) - before

    ok_codes = (0,)

    def env(self):
        env = dict(os.environ)
        env["HOME"] = self.dir
        return env


class Mpop(Client):
    name = "mpop"
    binary = "mpop"

    def command(self, port):
        conf = os.path.join(self.dir, "mpoprc")
        if not os.path.exists(conf):
            with open(conf, "w") as f:
                f.write("")
            os.chmod(conf, 0o600)
        return ["mpop", "-C", conf, "--host=" + HOST, "--port=%d" % port,
                "--auth=user", "--user=" + self.user.name,
                "--passwordeval=echo " + self.user.password, "--tls=off",
                "--keep=on", "--only-new=on",
                "--uidls-file=" + os.path.join(self.dir, "uidls"),
                "--delivery=mbox," + self.out, "--received-header=off",
                "--quiet"]


class Fetchmail(Client):
    name = "fetchmail"
    binary = "fetchmail"
    ok_codes = (0, 1)  # 1: no new mail

    def command(self, port):
        rc = os.path.join(self.dir, "fetchmailrc")
        with open(rc, "w") as f:
            f.write(
                "set no bouncemail\n"
                "poll %s with proto POP3 port %d uidl no dns\n"
                "  user \"%s\" there with password \"%s\" is \"%s\" here\n"
                "  options keep no sslcertck sslproto ''\n"
                "  mda \"/bin/sh -c 'cat >> %s'\"\n" % (
                    HOST, port, self.user.name, self.user.password,
                    self.user.name, self.out))
        os.chmod(rc, 0o600)
        return ["fetchmail", "-f", rc, "-i", os.path.join(self.dir, "ids"),
                "--pidfile", os.path.join(self.dir, "pid"), "-N",
                "--nosyslog", "-s"]

    def env(self):
        env = super().env()
        env["FETCHMAILHOME"] = self.dir
        return env


class Getmail(Client):
    name = "getmail"
    binary = "getmail"

    def command(self, port):
        rc = os.path.join(self.dir, "getmailrc")
        with open(rc, "w") as f:
            f.write(
                "[retriever]\ntype = SimplePOP3Retriever\nserver = %s\n"
                "port = %d\nusername = %s\npassword = %s\n\n"
                "[destination]\ntype = Mboxrd\npath = %s\n%s\n"
                "[options]\nread_all = false\ndelete = false\n"
                "verbose = 0\n" % (
                    HOST, port, self.user.name, self.user.password, self.out,
                    # getmail refuses to deliver as root.
                    "user = %s\n" % pwd.getpwuid(self.user.uid).pw_name
                    if os.geteuid() == 0 else ""))
        os.chmod(self.dir, 0o755)
        self.user.chown(self.out)
        return getmail_command() + ["--getmaildir=" + self.dir,
                                    "--rcfile=" + rc]


CLIENTS = [Mpop, Fetchmail, Getmail]


def poplar_server(root, port, uidl_format=None, extra_keys=None, user=None):
    """A poplartest.Server on @port serving @user's Maildir."""
    srv = poplartest.Server(tmp_root=root)
    # The user's own uid: Poplar then serves the session in a process of
    # that uid, so what it writes in the Maildir is the user's, as what
    # Dovecot writes is.
    srv._passwd_lines.append("%s:{PLAIN}%s:%d:%d::%s::" % (
        user.name, user.password, user.uid, user.gid, user.home))
    srv._write_passwd()
    keys = dict(extra_keys or {})
    if uidl_format is not None:
        keys["uidl-format"] = uidl_format
    srv.write_config(server={"listen": "%s:%d" % (HOST, port)},
                     sections={"store-maildir": keys} if keys else None)
    return srv
