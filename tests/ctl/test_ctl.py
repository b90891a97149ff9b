#!/usr/bin/env python3
"""poplarctl(8) against a running poplard with two workers: who, kick
(releasing the mailbox lock for the next client at once), auth test, user,
penalty, stats, reload and stop, JSON output, and the errors for a server
that is not running, a socket the caller may not use and an unknown
user."""
import grp
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "integration"))
import poplartest  # noqa: E402
from poplartest import wait_until  # noqa: E402

POPLARCTL = os.environ.get("POPLARCTL", "")
MESSAGES = [b"Subject: one\n\nfirst\n", b"Subject: two\n\nsecond\n"]
CTL_TIMEOUT = 30


def ctl(srv, *args, stdin=None, user=None):
    """Runs poplarctl against @srv; returns (status, stdout, stderr)."""
    def drop():
        os.setgid(65534)
        os.setgroups([])
        os.setuid(65534)
    p = subprocess.run([POPLARCTL, "-s", srv.control_socket] + list(args),
                       input=stdin, capture_output=True, text=True,
                       timeout=CTL_TIMEOUT,
                       preexec_fn=drop if user == "nobody" else None)
    return p.returncode, p.stdout, p.stderr


def ctl_json(srv, *args):
    rc, out, err = ctl(srv, "-j", *args)
    if rc != 0:
        raise AssertionError("poplarctl -j %s: %d %s" % (args, rc, err))
    return json.loads(out)


def workers(srv):
    return [p for p in srv.pids() if p != srv.proc.pid]


class CtlTest(poplartest.PoplarTestCase):
    def setUp(self):
        self.srv = self.server(users={"alice": MESSAGES, "bob": MESSAGES},
                               server={"workers": "2", "threads": "1",
                                       "auth-failure-delay": "100ms"})
        # The control socket opens after the listeners bind.
        self.srv.wait_for_log(r"ready \(2 workers\)")

    def sessions_on_both_workers(self, bursts=10, size=16):
        """Connections until both workers serve some.  An idle worker takes
        every connection it is woken for; a burst of them finds it busy and
        wakes the other one."""
        conns = []
        for _ in range(bursts):
            threads = [threading.Thread(
                target=lambda: conns.append(self.srv.conn()))
                for _ in range(size)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for c in conns:
                c.greeting()
            pids = {s["pid"] for s in ctl_json(self.srv, "who")}
            if len(pids) == 2:
                return conns
        self.fail("every connection went to one worker")

    def test_who_answers_for_both_workers(self):
        conns = self.sessions_on_both_workers()
        logged = self.srv.conn()
        logged.login("alice", "pw")
        sessions = ctl_json(self.srv, "who")
        self.assertEqual(len(sessions), len(conns) + 1)
        self.assertEqual({s["pid"] for s in sessions}, set(workers(self.srv)))
        mine = [s for s in sessions if s["user"] == "alice"]
        self.assertEqual(len(mine), 1)
        s = mine[0]
        self.assertEqual(s["state"], "transaction")
        self.assertEqual(s["remote"], "127.0.0.1")
        self.assertEqual(s["listener"], "127.0.0.1:%d" % self.srv.port)
        self.assertEqual(s["tls"], "no")
        self.assertGreater(s["in"], 0)
        self.assertGreater(s["out"], 0)
        self.assertLessEqual(abs(s["since"] - time.time()), 60)
        # who USER: only that user's; the table for a person names it.
        self.assertEqual(len(ctl_json(self.srv, "who", "alice")), 1)
        rc, out, _ = ctl(self.srv, "who", "alice")
        self.assertEqual(rc, 0)
        self.assertIn("alice", out)
        self.assertIn(s["id"], out)
        self.assertEqual(len(out.strip().splitlines()), 2)
        for c in conns + [logged]:
            c.close()

    def test_kick_releases_the_lock_at_once(self):
        held = self.srv.conn()
        held.login("alice", "pw")
        self.assertOk(held.cmd("DELE 1"))
        # The lock holds while the session lives.
        with self.assertRaises(Exception):
            self.srv.login("alice", "pw")
        rc, out, err = ctl(self.srv, "kick", "alice")
        self.assertEqual(rc, 0, err)
        self.assertIn("1 session ended", out)
        # The next client takes the mailbox at once, with nothing deleted.
        p = self.srv.login("alice", "pw")
        self.assertEqual(len(p.list()[1]), 2)
        p.quit()
        self.assertEqual(len(self.srv.users["alice"].maildir.files()), 2)
        held.wait_closed(5)
        self.srv.wait_for_log(r"ended by poplarctl kick")

    def test_kick_by_session_id_spares_the_others(self):
        a = self.srv.conn()
        a.login("alice", "pw")
        b = self.srv.conn()
        b.login("bob", "pw")
        target = ctl_json(self.srv, "who", "bob")[0]["id"]
        kicked = ctl_json(self.srv, "kick", target)
        self.assertEqual([k["user"] for k in kicked], ["bob"])
        b.wait_closed(5)
        self.assertOk(a.cmd("NOOP"))
        self.assertEqual([s["user"] for s in ctl_json(self.srv, "who")],
                         ["alice"])
        rc, _, err = ctl(self.srv, "kick", "nobody-here")
        self.assertEqual(rc, 1)
        self.assertIn("no such session", err)
        a.close()

    def test_auth_test_runs_the_password_databases(self):
        rc, out, err = ctl(self.srv, "auth", "test", "alice", "pw")
        self.assertEqual(rc, 0, err)
        self.assertIn("result: ok", out)
        home = self.srv.users["alice"].home
        self.assertIn("home: %s" % home, out)
        self.assertIn("mail: maildir:%s/Maildir" % home, out)
        # The password from standard input when it is not an argument.
        rc, out, _ = ctl(self.srv, "auth", "test", "alice", stdin="pw\n")
        self.assertEqual(rc, 0)
        self.assertIn("result: ok", out)
        rc, out, _ = ctl(self.srv, "-j", "auth", "test", "alice", "wrong")
        self.assertEqual(rc, 1)
        self.assertEqual(json.loads(out)[0]["result"], "denied")
        rc, out, err = ctl(self.srv, "auth", "test", "mallory", "pw")
        self.assertEqual(rc, 1)
        self.assertEqual(err.strip(), "poplarctl: unknown user: mallory")

    def test_user_lookup(self):
        info = ctl_json(self.srv, "user", "bob")[0]
        home = self.srv.users["bob"].home
        self.assertEqual(info["home"], home)
        self.assertEqual(info["mail"], "maildir:%s/Maildir" % home)
        self.assertNotIn("secret", json.dumps(info))
        rc, _, err = ctl(self.srv, "user", "mallory")
        self.assertEqual(rc, 1)
        self.assertIn("unknown user", err)

    def test_penalty_list_and_reset(self):
        # Three failures: whichever workers they reach, one of the two
        # sees two of them, and its second waits for the first's penalty.
        for _ in range(3):
            c = self.srv.conn()
            c.greeting()
            self.assertOk(c.cmd("USER alice"))
            self.assertErr(c.cmd("PASS wrong"))
            c.close()
        stats = {(x["name"], x["labels"]): x["value"]
                 for x in ctl_json(self.srv, "stats")}
        self.assertGreaterEqual(stats[("poplar_login_delays_total", "")], 1)
        entries = ctl_json(self.srv, "penalty")
        addresses = [e for e in entries if e["kind"] == "address"]
        self.assertTrue(addresses)
        self.assertEqual({e["name"] for e in addresses}, {"127.0.0.1"})
        self.assertEqual(sum(e["failures"] for e in addresses), 3)
        self.assertIn("alice", {e["name"] for e in entries
                                if e["kind"] == "user"})
        rc, out, _ = ctl(self.srv, "penalty", "list")
        self.assertIn("127.0.0.1", out)
        rc, out, _ = ctl(self.srv, "penalty", "reset", "127.0.0.1")
        self.assertEqual(rc, 0)
        self.assertEqual([e for e in ctl_json(self.srv, "penalty")
                          if e["kind"] == "address"], [])

    def test_stats_count_what_happened(self):
        p = self.srv.login("alice", "pw")
        p.retr(1)
        p.quit()
        stats = {(s["name"], s["labels"]): s["value"]
                 for s in ctl_json(self.srv, "stats")}
        self.assertEqual(stats[("poplar_messages_sent_total",
                                'command="RETR"')], 1)
        self.assertEqual(stats[("poplar_logins_total",
                                'result="success",mechanism="USER"')], 1)
        self.assertEqual(stats[("poplar_workers", "")], 2)
        rc, out, _ = ctl(self.srv, "stats")
        self.assertIn('poplar_sessions_ended_total{reason="quit"} 1', out)

    def test_reload_and_stop(self):
        old_workers = set(workers(self.srv))
        rc, _, err = ctl(self.srv, "reload")
        self.assertEqual(rc, 0, err)
        self.srv.wait_for_log(r"checking .*poplar\.conf")
        self.assertTrue(wait_until(
            lambda: len(set(workers(self.srv)) - old_workers) == 2, 15))
        # The new image answers on the control socket again.
        self.assertTrue(wait_until(
            lambda: ctl(self.srv, "who")[0] == 0, 10))
        p = self.srv.login("bob", "pw")
        p.quit()
        rc, _, err = ctl(self.srv, "stop")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.srv.proc.wait(timeout=30), 0)
        self.srv.proc = None
        # Stopped: one clear line, a non-zero status.
        rc, out, err = ctl(self.srv, "who")
        self.assertEqual(rc, 1)
        self.assertEqual(out, "")
        self.assertIn("poplard is not running", err)
        self.assertEqual(len(err.strip().splitlines()), 1)

    def test_socket_is_root_only(self):
        mode = os.stat(self.srv.control_socket).st_mode
        self.assertTrue(stat.S_ISSOCK(mode))
        self.assertEqual(stat.S_IMODE(mode), 0o600)
        if os.geteuid() != 0:
            self.skipTest("needs root to try as another user")
        rc, _, err = ctl(self.srv, "who", user="nobody")
        self.assertEqual(rc, 1)
        self.assertIn("permission denied", err)


@unittest.skipUnless(os.geteuid() == 0, "switching uids needs root")
class CtlUserProcessTest(poplartest.PoplarTestCase):
    """Sessions of users with a uid of their own run in a process of that
    uid: the master asks those processes too."""

    UID = 61234

    def test_who_and_kick_reach_user_processes(self):
        srv = self.server(start=False)
        os.chmod(srv.dir, 0o755)  # the user traverses it to reach home
        user = srv.add_user("carol", "pw", MESSAGES,
                            extra="uid=%d gid=%d" % (self.UID, self.UID))
        os.chmod(os.path.dirname(user.home), 0o755)
        for root, dirs, files in os.walk(user.home):
            for n in dirs + files:
                os.lchown(os.path.join(root, n), self.UID, self.UID)
        os.chown(user.home, self.UID, self.UID)
        os.chmod(user.home, 0o700)
        srv.add_user("alice", "pw", MESSAGES)
        srv.start(server={"workers": "2"})
        srv.wait_for_log(r"ready \(2 workers\)")
        held = srv.conn()
        held.login("carol", "pw")
        self.assertOk(held.cmd("DELE 1"))
        srv.wait_for_log(r"serving uid %d" % self.UID)
        sessions = ctl_json(srv, "who", "carol")
        self.assertEqual(len(sessions), 1, sessions)
        with open("/proc/%d/status" % sessions[0]["pid"]) as f:
            uid_line = [l for l in f if l.startswith("Uid:")][0]
        self.assertEqual(int(uid_line.split()[1]), self.UID)
        # Its counters are in the total too.
        self.assertOk(held.cmd("RETR 2"))
        held.body()
        rc, _, err = ctl(srv, "kick", "carol")
        self.assertEqual(rc, 0, err)
        held.wait_closed(5)
        p = srv.login("carol", "pw")
        self.assertEqual(len(p.list()[1]), 2)
        p.quit()
        stats = {(x["name"], x["labels"]): x["value"]
                 for x in ctl_json(srv, "stats")}
        self.assertEqual(stats[("poplar_messages_sent_total",
                                'command="RETR"')], 1)
        self.assertEqual(stats[("poplar_logins_total",
                                'result="success",mechanism="USER"')], 2)


class CtlGroupTest(poplartest.PoplarTestCase):
    def test_group_may_use_the_socket(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to set a socket's group")
        group = grp.getgrgid(65534).gr_name
        srv = self.server(users={"alice": MESSAGES},
                          sections={"control": {"group": group}})
        srv.wait_for_log(r"ready \(")
        st = os.stat(srv.control_socket)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        self.assertEqual(st.st_gid, 65534)

        # The test's directory is private; /run/poplar would not be.
        os.chmod(srv.dir, 0o755)

        def as_group_member():
            os.setgid(65534)
            os.setgroups([65534])
            os.setuid(65534)
        p = subprocess.run([POPLARCTL, "-s", srv.control_socket, "who"],
                           capture_output=True, text=True,
                           timeout=CTL_TIMEOUT, preexec_fn=as_group_member)
        self.assertEqual(p.returncode, 0, p.stderr)


class CtlConfigTest(poplartest.PoplarTestCase):
    def test_unknown_group_is_a_config_error(self):
        srv = self.server(users={"alice": MESSAGES}, start=False)
        srv.write_config(sections={"control": {"group": "no-such-group-x"}})
        p = subprocess.run([poplartest.POPLARD, "--check-config", "-c",
                            srv.conf], capture_output=True, text=True,
                           timeout=CTL_TIMEOUT)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("[control] group: no such group 'no-such-group-x'",
                      p.stdout + p.stderr)


class CtlUsageTest(unittest.TestCase):
    def test_usage_errors(self):
        for args in ([], ["frob"], ["kick"], ["penalty", "reset"]):
            p = subprocess.run([POPLARCTL] + args, capture_output=True,
                               text=True, timeout=CTL_TIMEOUT)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn("usage:", p.stderr)

    def test_socket_path_from_the_config_file(self):
        d = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                         "poplarctl-%d" % os.getpid())
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "poplar.conf")
        with open(conf, "w") as f:
            f.write("[server]\nlisten = 127.0.0.1:0\n\n[control]\n"
                    "socket = %s/ctl\n" % d)
        p = subprocess.run([POPLARCTL, "-c", conf, "stats"],
                           capture_output=True, text=True,
                           timeout=CTL_TIMEOUT)
        os.unlink(conf)
        os.rmdir(d)
        self.assertEqual(p.returncode, 1)
        self.assertIn("%s/ctl" % d, p.stderr)


if __name__ == "__main__":
    poplartest.require_environment()
    if not POPLARCTL:
        sys.exit("POPLARCTL is not set")
    unittest.main(verbosity=2)
