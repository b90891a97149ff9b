# SPDX-License-Identifier: MIT
"""auth-checkpassword end to end: poplard runs real checkpassword programs
(the example in examples/checkpassword and small programs written here,
one for each way a program can fail) with the reply program built in the
tree, and is driven with raw POP3 and poplib.

Environment (from tests/auth-checkpassword/meson.build): what the
integration harness needs (POPLARD, POPLAR_PLUGINS) and
CHECKPASSWORD_REPLY (the built reply program), CHECKPASSWORD_EXAMPLE (the
example script).
"""

import base64
import json
import os
import stat
import subprocess
import sys
import threading
import time
import unittest

import mastertest
import poplartest
from poplartest import Conn, Maildir

REPLY = os.environ.get("CHECKPASSWORD_REPLY", "")
EXAMPLE = os.environ.get("CHECKPASSWORD_EXAMPLE", "")
DOVECOT_REPLY = "/usr/lib/dovecot/checkpassword-reply"

M1 = b"Subject: one\n\nfirst\n"
M2 = b"Subject: two\n\nsecond\n"

TEMPFAIL = "-ERR [SYS/TEMP] Authentication temporarily unavailable"
DENIED = "-ERR [AUTH] Authentication failed"

# A program that reads the request and ends as its argument says; the
# body of each failure-mode program follows it.
SH_HEAD = "#!/bin/sh\ncat <&3 >/dev/null\n"


def gone(pid):
    """True when @pid has exited (a zombie nobody reaped counts)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def example_hash(password):
    r = subprocess.run([sys.executable, EXAMPLE, "--hash"],
                       input=password.encode() + b"\n",
                       capture_output=True, timeout=60, check=True)
    return r.stdout.decode().strip()


class CheckpwServer(poplartest.Server):
    """A Server with [auth-checkpassword] loaded first and auth-passwd-file
    after it (so that exit 3 has a next database to go to)."""

    def __init__(self):
        super().__init__()
        self.bin = os.path.join(self.dir, "bin")
        os.mkdir(self.bin)
        self.mail_root = os.path.join(self.dir, "mail")
        self._write_passwd()

    def program(self, name, text, mode=0o755):
        path = os.path.join(self.bin, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def maildir(self, name):
        return Maildir(os.path.join(self.mail_root, name))

    def config_text(self, server=None, load=None, sections=None, extra=""):
        all_sections = {"auth-checkpassword": {
            "reply-program": REPLY,
            "timeout": "3s",
        }}
        for name, keys in (sections or {}).items():
            all_sections.setdefault(name, {}).update(keys)
        server_keys = {"plugin-threads": "12"}
        server_keys.update(server or {})
        return super().config_text(
            server=server_keys,
            load=load or ["auth-checkpassword", "auth-passwd-file",
                          "store-maildir"],
            sections=all_sections, extra=extra)

    def start_with(self, program, **keys):
        section = {"program": program}
        section.update(keys)
        return self.start(sections={"auth-checkpassword": section})


class CheckpwTestCase(poplartest.PoplarTestCase):

    def cp_server(self):
        s = CheckpwServer()
        self._servers.append(s)
        self.addCleanup(self._cleanup_server, s)
        return s

    def attempt(self, srv, user, password):
        """The reply to PASS after USER on a fresh connection."""
        with Conn(srv.port) as c:
            c.greeting()
            self.assertOk(c.cmd("USER " + user), "USER " + user)
            reply = c.cmd("PASS " + password)
            c.cmd("QUIT")
        return reply

    def stat_of(self, srv, user, password):
        """STAT's reply after logging in with USER/PASS."""
        with Conn(srv.port) as c:
            c.login(user, password)
            reply = c.cmd("STAT")
            c.cmd("QUIT")
        return reply


class ExampleScriptTest(CheckpwTestCase):
    """The example program of examples/checkpassword, as an administrator
    would set it up."""

    def setUp(self):
        self.srv = self.cp_server()
        users = os.path.join(self.srv.dir, "checkpassword-users")
        home = os.path.join(self.srv.dir, "home", "alice")
        self.alice = Maildir(os.path.join(home, "Maildir"))
        self.alice.add(M1)
        self.alice.add(M2)
        self.joerg = self.srv.maildir("joerg")
        self.joerg.add(M1)
        with open(users, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write("# test users\n")
            f.write("alice:%s:%s:quota=10M:\n" % (example_hash("alice pw"),
                                                  home))
            f.write("J\u00f6rg M\u00fcller:%s:::maildir:%s/joerg\n" % (
                example_hash("s\u00e9same"), self.srv.mail_root))
            f.write("locked:!:%s::\n" % home)
        self.srv.start_with(EXAMPLE, args="--users; " + users)

    def test_right_password_and_fields(self):
        self.assertEqual(self.stat_of(self.srv, "alice", "alice pw"),
                         "+OK 2 %d" % (len(poplartest.crlf(M1)) +
                                       len(poplartest.crlf(M2))))
        self.srv.wait_for_log(r"user 'alice' accepted by the checkpassword "
                              r"program as 'alice' \(fields: user home "
                              r"quota\)")
        self.srv.wait_for_log(r"login: user=alice mech=USER, 2 messages")

    def test_space_and_utf8_in_user_name(self):
        name = "J\u00f6rg M\u00fcller"
        self.assertEqual(self.stat_of(self.srv, name, "s\u00e9same"),
                         "+OK 1 %d" % len(poplartest.crlf(M1)))
        # SASL PLAIN carries the same name
        with Conn(self.srv.port) as c:
            c.greeting()
            token = base64.b64encode(b"\0" + name.encode() + b"\0" +
                                     "s\u00e9same".encode()).decode()
            self.assertOk(c.cmd("AUTH PLAIN " + token))
            c.cmd("QUIT")
        self.srv.wait_for_log(r"fields: user mail\)")

    def test_wrong_password_locked_and_unknown_user(self):
        wrong = self.attempt(self.srv, "alice", "alice-pw")
        self.assertEqual(wrong, DENIED)
        self.assertEqual(self.attempt(self.srv, "locked", "x"), DENIED)
        # exit 3: the next database (auth-passwd-file, empty) is asked
        self.assertEqual(self.attempt(self.srv, "nobody", "x"), DENIED)
        self.srv.wait_for_log(r"user 'alice': authentication failed "
                              r"\(checkpassword exit 1\)")
        self.srv.wait_for_log(r"unknown user 'nobody' \(checkpassword "
                              r"exit 3\)")
        self.assertNotIn("alice-pw", self.srv.log_text())

    def test_unknown_user_goes_to_next_database(self):
        self.srv.add_user("bob", "bob-pw", [M1])
        self.assertEqual(self.stat_of(self.srv, "bob", "bob-pw"),
                         "+OK 1 %d" % len(poplartest.crlf(M1)))
        self.srv.wait_for_log(r"unknown user 'bob' \(checkpassword exit 3\)")


class MasterLoginTest(CheckpwTestCase, mastertest.MasterLoginChecks):
    """The checkpassword interface cannot look a user up without the
    password: a master login never reaches the program, and its users are
    no targets."""

    def test_master_login_refused_without_running_the_program(self):
        srv = self.cp_server()
        runs = os.path.join(srv.dir, "runs")
        program = srv.program("accept-all", "#!/bin/sh\n"
                              "echo run >> '%s'\nexec \"$@\"\n" % runs)
        srv.add_user("admin", "admin pw")
        srv.maildir("alice").add(M1)
        srv.start(server={"master-passdb": "auth-passwd-file",
                          "mail": "maildir:%s/%%u" % srv.mail_root},
                  sections={"auth-checkpassword": {"program": program}})
        self.assert_master_login_refused(srv, "alice", "admin", "admin pw")
        srv.wait_for_log(r"master login refused: master=admin "
                         r"target=alice: no such user")
        self.assertFalse(os.path.exists(runs))
        # the same program lets anyone in with any password: it runs
        self.assertTrue(self.stat_of(srv, "alice", "x").startswith("+OK 1 "))
        self.assertTrue(os.path.exists(runs))


@unittest.skipUnless(os.access(DOVECOT_REPLY, os.X_OK),
                     "Dovecot's checkpassword-reply is not installed "
                     "(Debian package dovecot-core)")
class DovecotReplyTest(CheckpwTestCase):
    """The reply format is Dovecot's: its own reply program works too."""

    def test_example_with_dovecot_reply(self):
        srv = self.cp_server()
        users = os.path.join(srv.dir, "users")
        srv.maildir("carol").add(M1)
        with open(users, "w") as f:
            f.write("carol:%s::quota=1G:maildir:%s/carol\n" % (
                example_hash("pw"), srv.mail_root))
        srv.start(sections={"auth-checkpassword": {
            "program": EXAMPLE, "args": "--users; " + users,
            "reply-program": DOVECOT_REPLY}})
        self.assertEqual(self.stat_of(srv, "carol", "pw"),
                         "+OK 1 %d" % len(poplartest.crlf(M1)))
        # Dovecot's program adds the uid and gid it runs as, which are the
        # workers' own: the session stays in the worker.
        srv.wait_for_log(r"accepted by the checkpassword program as "
                         r"'carol' \(fields: user mail quota uid gid\)")


class FailureModeTest(CheckpwTestCase):
    """Every way a program can fail: one log line, the right reply, and no
    process left behind (Server.stop checks that)."""

    def run_mode(self, body, reply, log, name="mode", **keys):
        srv = self.cp_server()
        prog = srv.program(name, body)
        srv.start_with(prog, **keys)
        mark = srv.log_mark()
        self.assertEqual(self.attempt(srv, "alice", "pw"), reply)
        srv.wait_for_log(log, start=mark)
        return srv

    def test_exit_1_is_denied(self):
        self.run_mode(SH_HEAD + "exit 1\n", DENIED,
                      r"user 'alice': authentication failed "
                      r"\(checkpassword exit 1\)")

    def test_exit_111_is_tempfail(self):
        self.run_mode(SH_HEAD + "echo 'db down' >&2; exit 111\n", TEMPFAIL,
                      r"reports a temporary failure \(exit 111\); it wrote "
                      r"'db down\\x0a'")

    def test_exit_2_is_tempfail(self):
        self.run_mode(SH_HEAD + "exit 2\n", TEMPFAIL,
                      r"says it was misused \(exit 2\): check "
                      r"\[auth-checkpassword\] args")

    def test_other_exit_is_tempfail(self):
        self.run_mode(SH_HEAD + "exit 42\n", TEMPFAIL,
                      r"exited with status 42, which the interface does not "
                      r"define")

    def test_exit_3_without_next_database(self):
        srv = self.run_mode(SH_HEAD + "exit 3\n", DENIED,
                            r"unknown user 'alice' \(checkpassword exit 3\)")
        self.assertTrue(srv.alive())

    def test_killed_by_signal(self):
        self.run_mode(SH_HEAD + "kill -SEGV $$\n", TEMPFAIL,
                      r"was killed by signal 11 \(Segmentation fault\)")

    def test_hang_is_killed_with_its_group(self):
        srv = self.cp_server()
        pidfile = os.path.join(srv.dir, "pids")
        prog = srv.program("hang", SH_HEAD +
                           "sleep 300 &\necho $! > %s\nwait\n" % pidfile)
        srv.start_with(prog, timeout="1s")
        started = time.monotonic()
        self.assertEqual(self.attempt(srv, "alice", "pw"), TEMPFAIL)
        self.assertLess(time.monotonic() - started, 30)
        srv.wait_for_log(r"did not finish within 1000 ms \(timeout\): its "
                         r"process group was killed")
        with open(pidfile) as f:
            sleeper = int(f.read())
        self.assertTrue(poplartest.wait_until(lambda: gone(sleeper), 10),
                        "the program's child %d outlived the timeout" %
                        sleeper)

    def test_exit_0_without_reply(self):
        self.run_mode(SH_HEAD + "exit 0\n", TEMPFAIL,
                      r"exited 0 without running the reply program .* "
                      r"\(nothing came on descriptor 4\)")

    def test_garbage_reply(self):
        self.run_mode(SH_HEAD + "printf 'you are in\\nreally' >&4\n",
                      TEMPFAIL,
                      r"the checkpassword reply is malformed \(contains a "
                      r"line feed\)")
        self.run_mode(SH_HEAD + "printf 'user=alice\\tyes' >&4\n",
                      TEMPFAIL,
                      r"malformed \(item 'yes' is not key=value\)")

    def test_huge_reply(self):
        self.run_mode(SH_HEAD + "head -c 1000000 /dev/zero | tr '\\0' a "
                      ">&4\n", TEMPFAIL,
                      r"the checkpassword reply is longer than 16384 octets: "
                      r"the program was killed")

    def test_huge_diagnostics_do_not_block(self):
        """10 MB on stderr is read and dropped; the login still works."""
        srv = self.cp_server()
        srv.maildir("alice").add(M1)
        prog = srv.program("chatty", SH_HEAD +
                           "head -c 10000000 /dev/zero | tr '\\0' x >&2\n"
                           "export USER=alice MAIL=maildir:%s/alice "
                           "EXTRA=MAIL\nexec \"$1\"\n" % srv.mail_root)
        srv.start_with(prog, timeout="20s")
        self.assertEqual(self.stat_of(srv, "alice", "pw"),
                         "+OK 1 %d" % len(poplartest.crlf(M1)))

    def test_relative_home_in_reply(self):
        self.run_mode(SH_HEAD + "export HOME=relative\nexec \"$1\"\n",
                      TEMPFAIL,
                      r"the checkpassword reply gives home 'relative', "
                      r"which is not an absolute path")

    def test_missing_program(self):
        srv = self.cp_server()
        missing = os.path.join(srv.bin, "nowhere")
        srv.start_with(missing)
        srv.wait_for_log(r"program: '%s': No such file or directory: every "
                         r"login will fail" % missing)
        self.assertEqual(self.attempt(srv, "alice", "pw"), TEMPFAIL)
        srv.wait_for_log(r"cannot run the checkpassword program %s: No such "
                         r"file or directory" % missing)

    def test_program_not_executable(self):
        srv = self.cp_server()
        prog = srv.program("noexec", SH_HEAD + "exit 0\n", mode=0o644)
        srv.start_with(prog)
        if os.geteuid() != 0:
            srv.wait_for_log(r"is not an executable file")
        self.assertEqual(self.attempt(srv, "alice", "pw"), TEMPFAIL)
        srv.wait_for_log(r"cannot run the checkpassword program %s: "
                         r"Permission denied" % prog)

    def test_reply_program_refuses_changed_uid(self):
        """A program that drops ORIG_UID (as if it had switched uid) gets
        no answer from the reply program: a temporary failure."""
        self.run_mode(SH_HEAD + "unset ORIG_UID\nexec \"$1\"\n", TEMPFAIL,
                      r"temporary failure \(exit 111\); it wrote "
                      r"'checkpassword-reply: ORIG_UID was removed")

    def test_bad_config(self):
        srv = self.cp_server()
        srv.write_config(sections={"auth-checkpassword": {
            "program": "relative/prog", "timeout": "10ms",
            "max-processes": "0"}})
        r = subprocess.run([poplartest.POPLARD, "--check-config", "-c",
                            srv.conf], capture_output=True, timeout=60)
        out = r.stdout.decode() + r.stderr.decode()
        self.assertNotEqual(r.returncode, 0, out)
        self.assertIn("'relative/prog' is not an absolute path", out)
        self.assertIn("max-processes", out)


DUMP_PROGRAM = r'''#!/usr/bin/env python3
import json, os, sys
request = b""
while True:
    chunk = os.read(3, 4096)
    if not chunk:
        break
    request += chunk
fds = {}
for fd in os.listdir("/proc/self/fd"):
    try:
        fds[fd] = os.readlink("/proc/self/fd/" + fd)
    except OSError:
        pass
with open("/proc/self/cmdline", "rb") as f:
    cmdline = f.read()
with open("/proc/self/environ", "rb") as f:
    environ = f.read()
with open(%(out)r, "w") as f:
    json.dump({"request": request.hex(), "cmdline": cmdline.hex(),
               "environ": environ.hex(), "fds": fds,
               "pgid": os.getpgid(0), "pid": os.getpid()}, f)
user = request.split(b"\0")[0]
os.environb[b"USER"] = b"canonical-" + user
os.environb[b"HOME"] = %(home)r.encode()
os.environb[b"MAIL"] = b"maildir:%%h/Maildir"
os.environb[b"userdb_uid"] = str(os.getuid()).encode()
os.environb[b"userdb_gid"] = str(os.getgid()).encode()
os.environb[b"QUOTA"] = b"5M"
os.environb[b"EXTRA"] = b"MAIL userdb_uid userdb_gid QUOTA"
os.execv(sys.argv[-1], sys.argv[-1:])
'''


class ChildEnvironmentTest(CheckpwTestCase):

    def test_what_the_program_sees_and_gives_back(self):
        srv = self.cp_server()
        out = os.path.join(srv.dir, "dump.json")
        home = os.path.join(srv.dir, "home", "canonical-dana")
        Maildir(os.path.join(home, "Maildir")).add(M2)
        prog = srv.program("dump", DUMP_PROGRAM % {"out": out, "home": home})
        srv.start_with(prog, args="--flag; two words")
        password = "S3cret-p\u00e4ss"
        self.assertEqual(self.stat_of(srv, "dana", password),
                         "+OK 1 %d" % len(poplartest.crlf(M2)))
        with open(out) as f:
            d = json.load(f)
        secret = password.encode()
        self.assertEqual(bytes.fromhex(d["request"]),
                         b"dana\0" + secret + b"\0\0")
        cmdline = bytes.fromhex(d["cmdline"])
        environ = bytes.fromhex(d["environ"])
        self.assertNotIn(secret, cmdline)
        self.assertNotIn(secret, environ)
        self.assertEqual(cmdline.split(b"\0")[-4:],
                         [b"--flag", b"two words", REPLY.encode(), b""])
        env = dict(e.split(b"=", 1) for e in environ.split(b"\0") if e)
        self.assertEqual(env[b"AUTH_USER"], b"dana")
        self.assertEqual(env[b"AUTH_MECH"], b"USER")
        self.assertEqual(env[b"TCPREMOTEIP"], b"127.0.0.1")
        self.assertEqual(env[b"TCPLOCALPORT"], str(srv.port).encode())
        self.assertEqual(env[b"ORIG_UID"], str(os.getuid()).encode())
        for inherited in (b"HOME", b"USER", b"LISTEN_FDS", b"NOTIFY_SOCKET"):
            self.assertNotIn(inherited, env)
        # Exactly 0-4 open, plus the directory listing itself.
        fds = {int(k): v for k, v in d["fds"].items()}
        extra = {k: v for k, v in fds.items() if k > 4}
        self.assertTrue(all(v.startswith("/proc/") for v in extra.values()),
                        "descriptors leaked into the program: %r" % fds)
        self.assertEqual(fds[0], "/dev/null")
        self.assertTrue(fds[1].startswith("pipe:"), fds)
        self.assertEqual(fds[1], fds[2])
        self.assertTrue(fds[3].startswith("socket:"), fds)
        self.assertTrue(fds[4].startswith("pipe:"), fds)
        self.assertEqual(d["pgid"], d["pid"])
        # The fields came back: canonical name, home, mail, uid/gid, quota.
        srv.wait_for_log(r"user 'dana' accepted by the checkpassword program "
                         r"as 'canonical-dana' \(fields: user home mail uid "
                         r"gid quota\)")
        srv.wait_for_log(r"login: user=canonical-dana mech=USER, 1 messages")
        self.assertNotIn(password, srv.log_text())


COUNTER_PROGRAM = r'''#!/usr/bin/env python3
import fcntl, os, sys, time
os.read(3, 4096)
def bump(delta):
    with open(%(lock)r, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        cur, top = (int(x) for x in (f.read().split() or ["0", "0"]))
        cur += delta
        top = max(top, cur)
        f.seek(0)
        f.truncate()
        f.write("%%d %%d\n" %% (cur, top))
bump(1)
time.sleep(0.4)
bump(-1)
os.environ["USER"] = "alice"
os.execv(sys.argv[-1], sys.argv[-1:])
'''


class ConcurrencyTest(CheckpwTestCase):

    def test_never_more_than_max_processes(self):
        srv = self.cp_server()
        srv.maildir("alice")
        counter = os.path.join(srv.dir, "counter")
        prog = srv.program("slow", COUNTER_PROGRAM % {"lock": counter})
        srv.start(server={"mail": "maildir:%s/%%u" % srv.mail_root},
                  sections={"auth-checkpassword": {
                      "program": prog, "max-processes": "2",
                      "timeout": "60s"}})
        replies = []
        lock = threading.Lock()

        def one():
            r = self.attempt(srv, "alice", "pw")
            with lock:
                replies.append(r)
        threads = [threading.Thread(target=one) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        # The mailbox is [IN-USE] for some of the parallel logins: what
        # counts is that every password check ran and none failed.
        self.assertEqual(len(replies), 8)
        for r in replies:
            self.assertTrue(r.startswith("+OK") or "[IN-USE]" in r, r)
        with open(counter) as f:
            cur, top = (int(x) for x in f.read().split())
        self.assertEqual(cur, 0)
        self.assertLessEqual(top, 2)
        self.assertEqual(top, 2, "the logins never ran two programs at "
                         "once: the test proves nothing")

    def test_waiting_for_a_slot_is_bounded(self):
        srv = self.cp_server()
        prog = srv.program("stuck", SH_HEAD + "exec sleep 300\n")
        srv.start_with(prog, **{"max-processes": "1", "timeout": "2s"})
        replies = []

        def one():
            replies.append(self.attempt(srv, "alice", "pw"))
        first = threading.Thread(target=one)
        first.start()
        # Whichever login takes the slot, the other waits 1 s for it in
        # vain: the stuck program holds it for 2 s.
        time.sleep(0.3)
        second = threading.Thread(target=one)
        second.start()
        first.join(60)
        second.join(60)
        self.assertEqual(replies, [TEMPFAIL, TEMPFAIL])
        srv.wait_for_log(r"all 1 checkpassword processes \(max-processes\) "
                         r"stayed busy for 1000 ms")


if __name__ == "__main__":
    poplartest.require_environment()
    if not REPLY or not os.access(REPLY, os.X_OK):
        sys.stderr.write("CHECKPASSWORD_REPLY is not an executable\n")
        sys.exit(2)
    unittest.main(verbosity=2)
