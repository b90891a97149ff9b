#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""docs/migration.md, run: every fenced block of the page is marked
`<!-- test: NAME -->`, and each is run here as the page says, in order,
against a real Dovecot 2.3 or a real GNU Mailutils pop3d, with poplard
and poplar-uidl-import from the build, mpop/fetchmail/getmail6 keeping
mail on the server, and the page's variables set to temporary
directories and loopback ports.

Shell blocks run under `sh -e` (so they must be POSIX); ini blocks are the
configuration poplard is started with (only `mail` and the password
database are the test's own).  systemd cannot run here, so `systemctl`
is a stand-in on PATH that starts and stops the real servers with the
commands each unit would run (poplar.service: `poplard -c $POPLAR_CONF`);
an unknown unit fails as systemctl does.
"""
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import migrationtest as mt  # noqa: E402
import migrate_tool_lib as lib  # noqa: E402

poplartest = mt.poplartest
DOC = os.path.join(HERE, "..", "..", "docs", "migration.md")
HOST = mt.HOST
USER, PASSWORD = "alice@example.org", "secret"

# The page's variables; the test gives each a value of its own.
VARIABLES = {"OLD_HOST", "OLD_PORT", "OLD_TLS", "OLD_SERVICE",
             "DOVECOT_CONF", "POPLAR_CONF", "CHECK_CONF", "POPLAR_HOST",
             "POPLAR_PORT", "MAIL_ROOT", "WORK", "CHECK_USERS"}
# Names the blocks set themselves.
BLOCK_LOCALS = set()

BLOCK_RE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
MARK_RE = re.compile(r"<!-- test: ([\w-]+) -->\n\Z")


def doc_blocks():
    """[(name or None, language, text, line)] of every fenced block."""
    with open(DOC) as f:
        text = f.read()
    out = []
    for m in BLOCK_RE.finditer(text):
        mark = MARK_RE.search(text[:m.start()])
        out.append((mark.group(1) if mark else None, m.group(1), m.group(2),
                    text.count("\n", 0, m.start()) + 1))
    return out


def block(name):
    found = [b for b in doc_blocks() if b[0] == name]
    assert len(found) == 1, "docs/migration.md has %d blocks %r" % (
        len(found), name)
    return found[0]


def ini(name):
    """{section: {key: value}} of an ini block."""
    out, section = {}, None
    for line in block(name)[2].splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"\[(.+)\]$", line)
        if m:
            section = out.setdefault(m.group(1), {})
        else:
            k, v = (s.strip() for s in line.split("=", 1))
            section[k] = v
    return out


# Every block the scenarios run; TestPage checks that this is every block
# of the page, so a block added to the page without a test fails.
SCENARIO_BLOCKS = {
    "variables", "check-users", "dovecot-format", "dovecot-conf",
    "dovecot-imap-only", "dovecot-imap-only-rollback", "courier-conf",
    "mbox-conf", "uidl-import", "check-start", "check-compare", "check-stop",
    "check-undo", "switch", "rollback"}


class TestPage(unittest.TestCase):
    """What can be checked without servers."""

    def test_every_block_is_marked_and_tested(self):
        blocks = doc_blocks()
        self.assertGreater(len(blocks), 10)
        for name, lang, _, line in blocks:
            self.assertIsNotNone(name, "docs/migration.md:%d: a block without "
                                 "<!-- test: NAME -->" % line)
            self.assertIn(lang, ("sh", "ini"), "docs/migration.md:%d" % line)
        names = [b[0] for b in blocks]
        self.assertEqual(len(names), len(set(names)), "duplicate names")
        self.assertEqual(set(names), SCENARIO_BLOCKS)

    def test_variables_are_the_ones_substituted(self):
        text = block("variables")[2]
        names = set(re.findall(r"^export ([A-Z_]+)=", text, re.M))
        self.assertEqual(names, VARIABLES)
        for name, lang, body, line in doc_blocks():
            if lang != "sh" or name == "variables":
                continue
            used = set(re.findall(r"\$\{?([A-Za-z_]\w*)", body))
            self.assertLessEqual(used, VARIABLES | BLOCK_LOCALS,
                                 "docs/migration.md:%d (%s)" % (line, name))

    def test_blocks_are_posix_sh(self):
        for name, lang, body, line in doc_blocks():
            if lang == "sh":
                r = subprocess.run(["sh", "-n", "-c", body],
                                   capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, "%s: %s" % (name, r.stderr))


def become_subreaper():
    """poplard and daemons started by the page's commands in the background
    are reparented to this process, so they are waited for and their exit
    status checked."""
    PR_SET_CHILD_SUBREAPER = 36
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def reap(pid, timeout=30):
    """Waits for @pid, a child or orphan of this process; its exit
    status, or None when it did not exit in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return 0 if not os.path.exists("/proc/%d" % pid) else None
        if got == pid:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    return None


def greeting(port, timeout=2):
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(200).decode(errors="replace")
    except OSError:
        return ""


def wait_greeting(port, pattern, timeout=30):
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = greeting(port)
        if re.search(pattern, text):
            return text
        time.sleep(0.1)
    raise AssertionError("port %d answers %r, not %r" % (port, text, pattern))


SYSTEMCTL = r'''#!/bin/sh
# systemctl for docs/migration.md's test: runs $UNITS/<unit>.start or .stop.
verb=$1; shift
now=
case $verb in enable|disable) now=no;; esac
for a in "$@"; do
  case $a in
    --now) now=yes;;
    -*) ;;
    *)
      unit=$a
      case $unit in *.*) ;; *) unit=$unit.service;; esac
      case $verb in enable|start|restart) action=start;; *) action=stop;; esac
      if [ ! -f "$UNITS/$unit.start" ]; then
        echo "Failed to $verb $unit: Unit $unit not found." >&2; exit 5
      fi
      [ "$now" = no ] && continue
      sh -e "$UNITS/$unit.$action" || exit 1
      ;;
  esac
done
'''


# What a unit's stop runs: SIGTERM, then wait until the process is gone
# (or a zombie this process has not reaped yet), as systemctl stop waits.
STOP = ('pid=$(cat "%s")\nkill "$pid"\n'
        'while [ -e /proc/$pid ] && '
        '! grep -q "^[0-9]* (.*) Z" /proc/$pid/stat; do sleep 0.1; done\n')


class Scenario(poplartest.PoplarTestCase):
    """A temporary world where the page's commands run."""

    def setUp(self):
        become_subreaper()
        self.root = tempfile.mkdtemp(prefix="poplar-migdoc-")
        os.chmod(self.root, 0o755)
        self.addCleanup(shutil.rmtree, self.root, True)
        self.pids = []   # pid files of servers the page started
        self.addCleanup(self.stop_leftovers)
        bindir = os.path.join(self.root, "bin")
        self.units = os.path.join(self.root, "units")
        os.makedirs(bindir)
        os.makedirs(self.units)
        path = os.path.join(bindir, "systemctl")
        with open(path, "w") as f:
            f.write(SYSTEMCTL)
        os.chmod(path, 0o755)
        for prog in (poplartest.POPLARD, lib.TOOL):
            if prog:
                os.symlink(prog, os.path.join(bindir, os.path.basename(prog)))
        self.env = dict(os.environ)
        self.env["PATH"] = bindir + ":" + os.environ.get("PATH", "/usr/bin:/bin")
        self.env["UNITS"] = self.units
        self.vars = {
            "OLD_HOST": HOST, "OLD_TLS": "no",
            "POPLAR_HOST": HOST, "POPLAR_PORT": str(mt.free_port()),
            "WORK": os.path.join(self.root, "work"),
            "DOVECOT_CONF": os.path.join(self.root, "no-dovecot.conf"),
        }
        self.vars["CHECK_USERS"] = os.path.join(self.vars["WORK"],
                                                "check-users")
        self.poplar = None

    def stop_leftovers(self):
        for pidfile in self.pids:
            try:
                with open(pidfile) as f:
                    pid = int(f.read())
            except (OSError, ValueError):
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if reap(pid) is None:
                os.kill(pid, signal.SIGKILL)
                reap(pid, 5)

    def poplar_service(self):
        """The unit poplar.service: poplard -c $POPLAR_CONF."""
        pidfile = os.path.join(self.root, "poplar.pid")
        self.pids.append(pidfile)
        self.unit("poplar.service",
                  'poplard -c "$POPLAR_CONF" > "%s/poplar.log" 2>&1 &\n'
                  'echo $! > "%s"\n' % (self.root, pidfile),
                  STOP % pidfile)
        return pidfile

    def unit(self, name, start, stop):
        for action, text in (("start", start), ("stop", stop)):
            with open(os.path.join(self.units, name + "." + action), "w") as f:
                f.write(text)

    def run_block(self, name, ok=True):
        """Runs a shell block of the page; (exit status, stdout)."""
        _, lang, body, line = block(name)
        self.assertEqual(lang, "sh", name)
        env = dict(self.env, **self.vars)
        r = subprocess.run(["sh", "-e", "-c", body], env=env, cwd=self.root,
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=180)
        if ok:
            self.assertEqual(r.returncode, 0, "docs/migration.md:%d (%s):\n"
                             "%s%s" % (line, name, r.stdout, r.stderr))
        return r.returncode, r.stdout + r.stderr

    def poplar_config(self, name, mail, srv, listen_port, **extra_keys):
        """Writes $POPLAR_CONF from an ini block of the page; the test's
        own: the mail location and the password database."""
        conf = ini(name)
        server = dict(conf.pop("server", {}))
        server["mail"] = mail
        server["listen"] = "%s:%d" % (HOST, listen_port)
        load = None
        if "plugins" in conf:
            load = ["auth-passwd-file" if p.strip().startswith("auth-")
                    else p.strip()
                    for p in conf.pop("plugins")["load"].split(";")]
        for section, keys in extra_keys.items():
            conf.setdefault(section, {}).update(keys)
        srv.write_config(server=server, load=load, sections=conf)
        self.vars["POPLAR_CONF"] = srv.conf
        self.vars["CHECK_CONF"] = os.path.join(srv.dir, "poplar-check.conf")
        return conf

    def check(self, expect_same):
        """The page's check: start, compare, stop; the compare output."""
        pidfile = os.path.join(self.vars["WORK"], "poplar-check.pid")
        self.pids.append(pidfile)
        self.run_block("check-start")
        wait_greeting(int(self.vars["POPLAR_PORT"]), r"^\+OK")
        rc, out = self.run_block("check-compare", ok=False)
        self.run_block("check-stop")
        with open(pidfile) as f:
            self.assertEqual(reap(int(f.read())), 0,
                             "poplard of the check did not exit with 0")
        if expect_same:
            self.assertEqual(rc, 0, out)
        else:
            self.assertNotEqual(rc, 0, out)
        return out

    def clients(self, user):
        out = [c(self.root, user) for c in mt.CLIENTS if c.missing() is None]
        if not out:
            self.skipTest("none of mpop, fetchmail, getmail is installed")
        return out

    def fetch(self, clients, port):
        return {c.name: c.run(port) for c in clients}


class TestDovecot(Scenario):
    """The Dovecot section, the check (failed once and undone), the switch
    with Dovecot keeping IMAP, and its rollback."""

    def setUp(self):
        why = mt.Dovecot.missing()
        if why:
            self.skipTest(why)
        super().setUp()
        self.user = mt.MailUser(self.root, USER, PASSWORD)
        self.dovecot = mt.Dovecot(self.root, self.user)
        self.addCleanup(self.dovecot.stop)
        self.vars.update(OLD_PORT=str(self.dovecot.pop3_port),
                         OLD_SERVICE="dovecot",
                         DOVECOT_CONF=self.dovecot.conf,
                         MAIL_ROOT=os.path.dirname(self.user.home))
        self.unit("dovecot.service", 'dovecot -c "$DOVECOT_CONF"\n',
                  STOP % os.path.join(self.dovecot.dir, "run",
                                      "master.pid"))

    def test_dovecot_page(self):
        for i in range(5):
            self.dovecot.deliver("old-%d" % i)
        self.dovecot.start()
        old_port = self.dovecot.pop3_port
        clients = self.clients(self.user)
        self.assertEqual(self.fetch(clients, old_port),
                         {c.name: 5 for c in clients})
        old_uidls = mt.pop3_uidls(old_port, self.user)

        self.run_block("check-users")
        rc, out = self.run_block("dovecot-format")
        template = ini("dovecot-conf")["store-maildir"]["uidl-format"]
        self.assertEqual(out.strip(), template)

        srv = poplartest.Server(tmp_root=self.root)
        srv._passwd_lines.append("%s:{PLAIN}%s:%d:%d::%s::" % (
            USER, PASSWORD, self.user.uid, self.user.gid, self.user.home))
        srv._write_passwd()
        mail = "maildir:%h/Maildir"

        # A wrong template: the check says so, and Poplar has recorded
        # what it showed until the page's undo removes it.
        self.poplar_config("dovecot-conf", mail, srv, old_port,
                           **{"store-maildir": {"uidl-format": "%08Xv%08Xu"}})
        out = self.check(expect_same=False)
        self.assertIn("%s: DIFFERENT" % USER, out)
        record = os.path.join(self.user.maildir, "poplar-uidls")
        self.assertTrue(os.path.exists(record))
        self.run_block("check-undo")
        self.assertFalse(os.path.exists(record))

        self.poplar_config("dovecot-conf", mail, srv, old_port)
        out = self.check(expect_same=True)
        self.assertIn("%s: the same 5 UIDLs" % USER, out)

        # The switch, Dovecot keeping IMAP on the same Maildir.
        pidfile = self.poplar_service()
        self.run_block("dovecot-imap-only")
        wait_greeting(old_port, r"^\+OK (?!Dovecot)")
        self.assertEqual(mt.pop3_uidls(old_port, self.user), old_uidls)
        self.assertEqual(self.fetch(clients, old_port),
                         {c.name: 0 for c in clients})
        self.user.deliver_plain("new-0", 0)
        self.assertEqual(self.fetch(clients, old_port),
                         {c.name: 1 for c in clients})
        shown = mt.pop3_uidls(old_port, self.user)
        uidvalidity, imap = mt.imap_uids(self.dovecot.imap_port, self.user)
        for uidl, test_id in shown:
            self.assertEqual(uidl, "%08x%08x" % (imap[test_id], uidvalidity))

        # Rollback: Dovecot shows what Poplar showed, new mail included.
        self.run_block("dovecot-imap-only-rollback")
        with open(pidfile) as f:
            self.assertEqual(reap(int(f.read())), 0, "poplard exit status")
        wait_greeting(old_port, r"^\+OK Dovecot")
        self.assertEqual(mt.pop3_uidls(old_port, self.user), shown)
        self.assertEqual(self.fetch(clients, old_port),
                         {c.name: 0 for c in clients})
        self.assertEqual(self.dovecot.log_problems(), [])


class TestMailutils(Scenario):
    """GNU Mailutils pop3d: its mbox served in place by store-mbox (the
    X-UIDL headers), the generic switch and rollback; then the mail copied
    to a Maildir and the UIDLs carried over by poplar-uidl-import."""

    def setUp(self):
        if not lib.TOOL:
            self.skipTest("POPLAR_UIDL_IMPORT is not set")
        super().setUp()
        self.old = lib.MailutilsPop3d(self.root)
        self.addCleanup(self.old.stop)
        self.local = self.old.add_user("alice", PASSWORD)
        self.assertEqual(self.local, USER)
        for i in range(4):
            self.old.deliver(USER, lib.message("before %d" % i, "old %d" % i))
        self.old.start()
        self.vars.update(OLD_PORT=str(self.old.port),
                         OLD_SERVICE="mailutils-pop3d")
        self.clients_ = lib.Clients(os.path.join(self.root, "clients"),
                                    USER, PASSWORD)
        if not self.clients_.available:
            self.skipTest("none of mpop, fetchmail, getmail6 is installed")
        for c in self.clients_.available:
            self.assertEqual(self.clients_.run(c, self.old.port), 4, c)
        self.old_uidls = sorted(lib.old_view(self.old.port, USER, PASSWORD))
        # The unit: the same pop3d on the same port.
        self.pids.append(os.path.join(self.old.root, "pid"))
        self.unit("mailutils-pop3d.service",
                  "%s --no-site-config --config-file %s/pop3d.conf "
                  "> %s/log.unit 2>&1 &\n" % (
                      self.old.pop3d, self.old.root, self.old.root),
                  STOP % os.path.join(self.old.root, "pid"))
        self.old_port = self.old.port
        self.run_block("check-users")

    def all_fetch(self, port):
        return {c: self.clients_.run(c, port)
                for c in self.clients_.available}

    def test_mbox_in_place(self):
        plugin = [p for p in poplartest.PLUGINS
                  if os.path.basename(p) == "store-mbox.so"]
        if not plugin:
            self.skipTest("store-mbox is not built")
        srv = poplartest.Server(tmp_root=self.root)
        home = os.path.dirname(self.old.mbox_path(USER))
        srv._passwd_lines.append("%s:{PLAIN}%s::::%s::" % (
            USER, PASSWORD, home))
        srv._write_passwd()
        self.vars["MAIL_ROOT"] = os.path.dirname(home)
        conf = self.poplar_config("mbox-conf", "mbox:%h/INBOX", srv,
                                  self.old_port)
        self.assertEqual(conf["store-mbox"]["x-uidl"], "yes")
        out = self.check(expect_same=True)
        self.assertIn("%s: the same 4 UIDLs" % USER, out)

        # The switch: pop3d stopped, Poplar on its port.
        pidfile = self.poplar_service()
        self.run_block("switch")
        wait_greeting(self.old_port, r"^\+OK")
        self.assertEqual(self.all_fetch(self.old_port),
                         {c: 0 for c in self.clients_.available})
        self.old.deliver(USER, lib.message("after", "new mail"))
        self.assertEqual(self.all_fetch(self.old_port),
                         {c: 1 for c in self.clients_.available})

        self.run_block("rollback")
        with open(pidfile) as f:
            self.assertEqual(reap(int(f.read())), 0, "poplard exit status")
        wait_greeting(self.old_port, r"^\+OK")
        # As the page says: the old mail keeps its UIDLs, the message that
        # came while Poplar served gets pop3d's own and comes once more.
        self.assertEqual(self.all_fetch(self.old_port),
                         {c: 1 for c in self.clients_.available})
        self.assertEqual(self.all_fetch(self.old_port),
                         {c: 0 for c in self.clients_.available})

    def test_maildir_copy_and_uidl_import(self):
        srv = poplartest.Server(tmp_root=self.root)
        user = srv.add_user(USER, PASSWORD)
        lib.copy_to_maildir(self.old.mbox_path(USER), user.maildir.path)
        self.vars["MAIL_ROOT"] = os.path.dirname(user.home)
        self.run_block("uidl-import")
        self.assertEqual(sorted(lib.read_record(user.maildir.path).values()),
                         self.old_uidls)
        # uidl-format stays unset, as the page says.
        srv.write_config(server={"listen": "%s:%d" % (HOST, self.old_port)})
        self.vars["POPLAR_CONF"] = srv.conf
        self.vars["CHECK_CONF"] = os.path.join(srv.dir, "poplar-check.conf")
        out = self.check(expect_same=True)
        self.assertIn("%s: the same 4 UIDLs" % USER, out)


class TestCourier(Scenario):
    """Courier's settings on a Maildir with the courierpop3dsizelist
    courier-pop leaves (test_courier_uidl.py runs the real server)."""

    def test_courier_conf(self):
        srv = poplartest.Server(tmp_root=self.root)
        user = srv.add_user(USER, PASSWORD)
        names = []
        for i in range(3):
            names.append("17000000%02d.M1P1.mx" % i)
            path = os.path.join(user.maildir.path, "cur", names[-1] + ":2,S")
            with open(path, "wb") as f:
                f.write(mt.message("c%d" % i))
        # courier-pop's layout: "/3 <next uid> <uidvalidity>", then
        # "<file> <size> <uid>:<uidvalidity>:<utf8>"; an entry keeps the
        # UIDVALIDITY it was given.
        with open(os.path.join(user.maildir.path, "courierpop3dsizelist"),
                  "w") as f:
            f.write("/3 9 1234567890\n%s:2,S 90 4:1234567890:0\n"
                    "%s:2,S 90 7:1111111111:0\n" % (names[0], names[1]))
        self._servers.append(srv)
        self.addCleanup(self._cleanup_server, srv)
        self.poplar_config("courier-conf", "maildir:%h/Maildir", srv, 0)
        srv.start()
        p = srv.login(USER, PASSWORD)
        shown = [l.decode().split(" ", 1)[1] for l in p.uidl()[1]]
        p.quit()
        self.assertEqual(shown, ["UID4-1234567890", "UID7-1111111111",
                                 "UID9-1234567890"])


if __name__ == "__main__":
    poplartest.require_environment()
    unittest.main(verbosity=2)
