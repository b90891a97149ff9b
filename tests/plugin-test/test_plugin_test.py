#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""poplar-plugin-test against real plugins.

Every plugin of the tree (with a mailbox or users of its own, and the
delivery command a site would use) must pass the kit; the test plugins in
broken/ must pass when built as they are and fail, each with the check
that names its defect, when built with one.  The kit's exit status and its
PASS/FAIL and TAP output are checked as a CI would read them.

Environment (from tests/plugin-test/meson.build): POPLAR_PLUGIN_TEST (the
kit), POPLAR_KIT_PLUGINS (name=path;... of the plugins under test),
CHECKPASSWORD_REPLY, CHECKPASSWORD_EXAMPLE.
"""

import os
import re
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import unittest

KIT = os.environ.get("POPLAR_PLUGIN_TEST", "")
PLUGINS = dict(item.split("=", 1) for item in
               os.environ.get("POPLAR_KIT_PLUGINS", "").split(";") if item)
CHECKPASSWORD_REPLY = os.environ.get("CHECKPASSWORD_REPLY", "")
CHECKPASSWORD_EXAMPLE = os.environ.get("CHECKPASSWORD_EXAMPLE", "")
PAM_WRAPPER_LIB = os.environ.get("PAM_WRAPPER_LIB", "")
PAM_MATRIX_MODULE = os.environ.get("PAM_MATRIX_MODULE", "")

# Shell commands a site would use to deliver into each kind of mailbox;
# the kit runs them with the message on stdin.
DELIVER_MAILDIR = ('f="$POPLAR_KIT_MAILBOX/tmp/kit.$$.$(date +%s%N)"; '
                   'cat > "$f" && mv "$f" "$POPLAR_KIT_MAILBOX/new/${f##*/}"')
DELIVER_MBOX = ('{ echo "From kit@localhost Mon Dec  7 00:00:00 2026"; '
                'sed "s/^From />From /"; echo; } >> "$POPLAR_KIT_MAILBOX"')

LF_MESSAGES = [
    b"Subject: one\n\nfirst, bare LF line ends\n",
    b"Subject: two\r\n\r\nsecond, CRLF\r\n",
    b"Subject: three\n\n.a line with a dot\nno line end at the end",
]


def sanitizer_runtime():
    """[the libasan the kit links to] when it was built with
    AddressSanitizer, else []."""
    try:
        out = subprocess.run(["ldd", KIT], capture_output=True, timeout=30,
                             stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    for line in out.decode(errors="replace").splitlines():
        parts = line.split()
        if parts and parts[0].startswith("libasan.so") and len(parts) > 2:
            return [parts[2]]
    return []


def sha512_crypt(password):
    """A {SHA512-CRYPT} hash: the cost that makes an unknown user's
    answer time worth measuring.  mkpasswd comes with whois (TEST_DEPS)."""
    out = subprocess.run(["mkpasswd", "--method=sha-512", "--stdin"],
                         input=password.encode(), capture_output=True,
                         timeout=60, check=True)
    return out.stdout.decode().strip()


def big_message(n):
    """Longer than the kit's threaded reads, so that sessions interleave
    inside a message."""
    body = "".join("line %d of message %d, long enough to take a while\n"
                   % (i, n) for i in range(80))
    return ("Subject: big %d\n\n" % n + body).encode()


def run_kit(args, timeout=300, env=None):
    proc = subprocess.run([KIT] + args, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=timeout,
                          stdin=subprocess.DEVNULL,
                          env=dict(os.environ, **(env or {})))
    return proc.returncode, proc.stdout.decode(errors="replace")


def outcomes(output):
    """check name -> PASS/FAIL/SKIP, from the kit's plain output."""
    found = {}
    for line in output.splitlines():
        m = re.match(r"(PASS|FAIL|SKIP) ([\w.-]+)", line)
        if m:
            found.setdefault(m.group(2), m.group(1))
            if m.group(1) == "FAIL":
                found[m.group(2)] = "FAIL"
    return found


class KitTestCase(unittest.TestCase):

    def setUp(self):
        if not KIT:
            self.skipTest("POPLAR_PLUGIN_TEST not set")
        self.dir = tempfile.mkdtemp(prefix="kit-test-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def plugin(self, name):
        if name not in PLUGINS:
            self.skipTest("%s is not built" % name)
        return PLUGINS[name]

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def write(self, path, data, mode=0o600):
        with open(path, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        os.chmod(path, mode)
        return path

    def assertPasses(self, args, env=None):
        rc, out = run_kit(args, env=env)
        failed = [l for l in out.splitlines() if l.startswith("FAIL")]
        self.assertEqual(failed, [], out)
        self.assertEqual(rc, 0, out)
        last = out.strip().splitlines()[-1]
        self.assertRegex(last, r"^\d+ passed, 0 failed$")
        return outcomes(out)

    def assertFailsWith(self, args, check):
        rc, out = run_kit(args)
        self.assertEqual(rc, 1, out)
        self.assertEqual(outcomes(out).get(check), "FAIL", out)
        last = out.strip().splitlines()[-1]
        self.assertRegex(last, r"^\d+ passed, [1-9]\d* failed$")
        return out

    def maildir(self, messages):
        root = self.path("Maildir")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(root, sub))
        for i, text in enumerate(messages):
            self.write(os.path.join(root, "new", "100%d.M%dP1.kit" % (i, i)),
                       text)
        return root

    def mbox(self, messages):
        path = self.path("inbox")
        with open(path, "wb") as f:
            for text in messages:
                f.write(b"From kit@localhost Mon Dec  7 00:00:00 2026\n")
                f.write(re.sub(rb"(?m)^From ", b">From ", text))
                if not text.endswith(b"\n"):
                    f.write(b"\n")
                f.write(b"\n")
        os.chmod(path, 0o600)
        return path

    def plain_dir(self, messages):
        root = self.path("messages")
        os.mkdir(root)
        for i, text in enumerate(messages):
            self.write(os.path.join(root, "m%02d" % i), text)
        return root


class TreeStores(KitTestCase):
    """The stores of plugins/, on mailboxes with LF, CRLF and unterminated
    messages and through their delivery commands."""

    def test_store_maildir(self):
        so = self.plugin("store-maildir")
        root = self.maildir(LF_MESSAGES)
        found = self.assertPasses(["--mailbox", "maildir:" + root,
                                   "--deliver", DELIVER_MAILDIR, so])
        for check in ("store.deliver", "store.size-equals-retr",
                      "store.uidl-stable-reopen", "store.expunge",
                      "store.lock-in-use", "store.lock-crashed-holder",
                      "store.threads"):
            self.assertEqual(found.get(check), "PASS", check)

    def test_store_mbox(self):
        so = self.plugin("store-mbox")
        path = self.mbox(LF_MESSAGES)
        found = self.assertPasses(["--mailbox", "mbox:" + path,
                                   "--deliver", DELIVER_MBOX, so])
        for check in ("store.deliver", "store.expunge", "store.lock-in-use",
                      "store.lock-crashed-holder", "store.threads"):
            self.assertEqual(found.get(check), "PASS", check)

    def test_the_users_mailbox_is_never_changed(self):
        so = self.plugin("store-maildir")
        root = self.maildir(LF_MESSAGES)
        before = sorted(os.path.relpath(os.path.join(d, f), root)
                        for d, _, fs in os.walk(root) for f in fs)
        self.assertPasses(["--mailbox", "maildir:" + root, so])
        after = sorted(os.path.relpath(os.path.join(d, f), root)
                       for d, _, fs in os.walk(root) for f in fs)
        self.assertEqual(before, after)


class TreePassdbs(KitTestCase):
    """The password databases of plugins/."""

    def test_passwd_file(self):
        so = self.plugin("auth-passwd-file")
        if not shutil.which("mkpasswd"):
            self.skipTest("mkpasswd (whois) is missing")
        hashed = sha512_crypt("s3cret")
        users = self.write(self.path("users"),
                           "alice:{SHA512-CRYPT}%s::::%s::"
                           "userdb_mail=maildir:/srv/alice\n"
                           "bob:{PLAIN}plain pw\n" % (hashed, self.dir))
        conf = self.write(self.path("kit.conf"),
                          "[auth-passwd-file]\npath = %s\n" % users)
        found = self.assertPasses(["-c", conf, "--user", "alice",
                                   "--password", "s3cret", so])
        for check in ("passdb.right-password", "passdb.wrong-password",
                      "passdb.unknown-user", "passdb.unknown-user-timing",
                      "passdb.threads", "passdb.fields"):
            self.assertEqual(found.get(check), "PASS", check)

    def test_sql_sqlite(self):
        so = self.plugin("auth-sql-sqlite")
        db_path = self.path("users.sqlite")
        db = sqlite3.connect(db_path)
        with db:
            db.execute("CREATE TABLE users (username TEXT PRIMARY KEY, "
                       "password TEXT, mail TEXT)")
            db.execute("INSERT INTO users VALUES (?, ?, ?)",
                       ("alice", "{PLAIN}s3cret", "maildir:/srv/alice"))
        db.close()
        conf = self.write(self.path("kit.conf"), (
            "[auth-sql-sqlite]\nconnect = %s\n"
            "password-query = SELECT password, mail FROM users "
            "WHERE username = :user\n") % db_path)
        # An open SQLite file cannot go away under its readers, so there
        # is no cheap outage to give --backend-down here (tests/auth-sql
        # covers it); checkpassword's is below.
        self.assertPasses(["-c", conf, "--user", "alice", "--password",
                           "s3cret", so])

    def test_checkpassword(self):
        so = self.plugin("auth-checkpassword")
        if not (CHECKPASSWORD_REPLY and CHECKPASSWORD_EXAMPLE):
            self.skipTest("checkpassword programs not given")
        hashed = subprocess.run(
            [sys.executable, CHECKPASSWORD_EXAMPLE, "--hash"],
            input=b"s3cret\n", capture_output=True, timeout=60,
            check=True).stdout.decode().strip()
        users = self.write(self.path("cp-users"),
                           "alice:%s:%s::\n" % (hashed, self.dir))
        conf = self.write(self.path("kit.conf"), (
            "[auth-checkpassword]\nprogram = %s\nargs = --users; %s\n"
            # A Python program per attempt, several at once, on a loaded
            # machine: the default 5s would turn slowness into TEMPFAIL.
            "timeout = 60s\n"
            "reply-program = %s\n") % (CHECKPASSWORD_EXAMPLE, users,
                                      CHECKPASSWORD_REPLY))
        # A program per attempt: fewer rounds keep the test short.  The
        # example exits 111 (temporary failure) when its users file cannot
        # be read: the outage --backend-down makes.
        found = self.assertPasses([
            "-c", conf, "--user", "alice", "--password", "s3cret",
            "--threads", "3", "--timing-rounds", "9",
            "--backend-down", "mv '%s' '%s.away'" % (users, users), so])
        self.assertEqual(found.get("passdb.tempfail"), "PASS")


    def test_pam(self):
        so = self.plugin("auth-pam")
        if not (PAM_WRAPPER_LIB and PAM_MATRIX_MODULE):
            self.skipTest("pam_wrapper not found at configure time")
        service_dir = self.path("pam.d")
        os.mkdir(service_dir)
        matrix = self.write(self.path("matrix"), "alice:alice pw:poplar\n")
        stack = ("auth     required %s passdb=%s\n"
                 "account  required %s passdb=%s\n"
                 % (PAM_MATRIX_MODULE, matrix, PAM_MATRIX_MODULE, matrix))
        self.write(os.path.join(service_dir, "poplar"), stack)
        self.write(os.path.join(service_dir, "other"), stack)
        conf = self.write(self.path("kit.conf"),
                          "[auth-pam]\nservice = poplar\n"
                          "mail = maildir:%s/%%u\n" % self.dir)
        asan = os.environ.get("ASAN_OPTIONS", "")
        # Only the kit runs under pam_wrapper, as only poplard does in
        # tests/auth-pam.  A kit built with AddressSanitizer: pam_wrapper
        # drops RTLD_DEEPBIND (which sanitizers refuse) only when it sees
        # libasan in LD_PRELOAD.
        env = {"LD_PRELOAD": ":".join(sanitizer_runtime() +
                                      [PAM_WRAPPER_LIB]),
               "PAM_WRAPPER": "1",
               "PAM_WRAPPER_SERVICE_DIR": service_dir,
               "PAM_WRAPPER_DISABLE_DEEPBIND": "1",
               "ASAN_OPTIONS": (asan + ":" if asan else "") +
                               "verify_asan_link_order=0"}
        self.assertPasses(["-c", conf, "--user", "alice", "--password",
                           "alice pw", "--timing-rounds", "15", so],
                          env=env)


    def test_ldap(self):
        so = self.plugin("auth-ldap")
        try:
            import slapdtest
        except ImportError:
            self.skipTest("tests/auth-ldap/slapdtest.py not on the path")
        why = slapdtest.available()
        if why:
            self.skipTest(why)
        slapd = slapdtest.Slapd(self.dir)
        self.addCleanup(slapd.stop)
        slapd.add_user("alice", "alice pw", mailLocation=self.dir)
        slapd.start()
        conf = self.write(self.path("kit.conf"), "\n".join([
            "[auth-ldap]",
            "uri = " + slapd.uri,
            "base = " + slapdtest.SUFFIX,
            "filter = (&(objectClass=posixAccount)(uid=%u))",
            "bind-dn = " + slapdtest.SERVICE_DN,
            "bind-password = " + slapdtest.SERVICE_PW,
            "mail-attribute = mailLocation",
            "mail-template = maildir:%$",
            "timeout = 3s",
            "network-timeout = 2s", ""]))
        found = self.assertPasses([
            "-c", conf, "--user", "alice", "--password", "alice pw",
            "--timing-rounds", "15",
            "--backend-down", "kill $(cat '%s')" % slapd.pid_path, so])
        self.assertEqual(found.get("passdb.tempfail"), "PASS")


class TreeHooks(KitTestCase):

    def test_audit(self):
        so = self.plugin("hook-audit")
        log = self.path("audit.jsonl")
        conf = self.write(self.path("kit.conf"),
                          "[hook-audit]\nsinks = file\nfile = %s\n" % log)
        found = self.assertPasses(["-c", conf, so])
        self.assertEqual(found.get("hook.verdicts"), "PASS")
        self.assertEqual(found.get("hook.threads"), "PASS")
        with open(log) as f:
            self.assertIn("kit-user", f.read())


    def test_spamd(self):
        so = self.plugin("hook-spamd")
        spamd = HamSpamd()
        self.addCleanup(spamd.close)
        cache = self.path("spamd-cache")
        os.mkdir(cache)
        conf = self.write(self.path("kit.conf"),
                          "[hook-spamd]\nspamd = 127.0.0.1:%d\n"
                          "timeout = 5s\ncache-dir = %s\n"
                          % (spamd.port, cache))
        found = self.assertPasses(["-c", conf, "--threads", "4", so])
        self.assertEqual(found.get("hook.threads"), "PASS")
        # The mailbox_open hook really asked spamd about the messages.
        self.assertGreater(spamd.count, 0)


class HamSpamd:
    """Enough of spamd for hook-spamd: reads a request, calls it ham."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.count = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.count += 1
            threading.Thread(target=self._serve, args=(conn,),
                             daemon=True).start()

    @staticmethod
    def _serve(conn):
        with conn:
            try:
                conn.settimeout(10)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                while m and len(body) < int(m.group(1)):
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    body += chunk
                conn.sendall(b"SPAMD/1.1 0 EX_OK\r\nContent-length: 4\r\n"
                             b"Spam: False ; 0.5 / 5.0\r\n\r\nNONE")
            except OSError:
                pass

    def close(self):
        self.stopping.set()
        self.sock.close()
        self.thread.join(5)


class BrokenVariants(KitTestCase):
    """Each defect fails the kit with the check that names it; the same
    plugins without the defect pass."""

    def store_args(self, variant):
        root = self.plain_dir(LF_MESSAGES + [big_message(n)
                                             for n in range(4)])
        return ["--mailbox", "kitdir:" + root,
                self.plugin("kit-store-" + variant)]

    def test_good_store_passes(self):
        self.assertPasses(self.store_args("good"))

    def test_lf_sizes(self):
        self.assertFailsWith(self.store_args("lf-size"),
                             "store.size-equals-retr")

    def test_uidl_changes_on_reopen(self):
        self.assertFailsWith(self.store_args("uidl-reopen"),
                             "store.uidl-stable-reopen")

    def test_uidl_with_a_space(self):
        self.assertFailsWith(self.store_args("uidl-space"),
                             "store.uidl-syntax")

    def test_read_past_end(self):
        self.assertFailsWith(self.store_args("read-past-end"),
                             "store.read-past-end")

    def test_data_race(self):
        self.assertFailsWith(self.store_args("data-race"), "store.threads")

    def test_gone_message_as_tempfail(self):
        self.assertFailsWith(self.store_args("gone-tempfail"),
                             "store.error-message-gone")

    def passdb_args(self, variant):
        return ["--user", "alice", "--password", "right",
                self.plugin("kit-passdb-" + variant)]

    def test_good_passdb_passes(self):
        found = self.assertPasses(self.passdb_args("good"))
        self.assertEqual(found.get("passdb.unknown-user-timing"), "PASS")

    def test_unknown_user_answered_faster(self):
        out = self.assertFailsWith(self.passdb_args("fast-unknown"),
                                   "passdb.unknown-user-timing")
        # The figures are in the reason, for the author to judge.
        self.assertRegex(out, r"unknown user answers in \d+ us, a wrong "
                              r"password in \d+ us")


class Output(KitTestCase):

    def test_tap(self):
        rc, out = run_kit(["--tap", "--user", "alice", "--password",
                           "right",
                           self.plugin("kit-passdb-fast-unknown")])
        self.assertEqual(rc, 1, out)
        lines = out.strip().splitlines()
        tests = [l for l in lines if re.match(r"(not )?ok \d+ - ", l)]
        plan = [l for l in lines if re.match(r"1\.\.\d+$", l)]
        self.assertEqual(plan, ["1..%d" % len(tests)], out)
        self.assertTrue(any(l.startswith("not ok") and
                            "passdb.unknown-user-timing" in l
                            for l in tests), out)
        numbers = [int(re.match(r"(?:not )?ok (\d+)", l).group(1))
                   for l in tests]
        self.assertEqual(numbers, list(range(1, len(tests) + 1)))

    def test_usage_errors(self):
        rc, out = run_kit([])
        self.assertEqual(rc, 2, out)
        rc, out = run_kit(["--threads", "1", "x.so"])
        self.assertEqual(rc, 2, out)

    def test_a_file_that_is_no_plugin_fails_the_load(self):
        junk = self.write(self.path("junk.so"), b"not an ELF file")
        rc, out = run_kit([junk])
        self.assertEqual(rc, 1, out)
        self.assertEqual(outcomes(out).get("plugin.load"), "FAIL", out)

    def test_without_options_the_contracts_are_skipped_not_passed(self):
        rc, out = run_kit([self.plugin("store-maildir")])
        self.assertEqual(rc, 0, out)
        self.assertEqual(outcomes(out).get("store.open"), "SKIP", out)
        self.assertIn("--mailbox maildir:PATH", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
