#!/usr/bin/env python3
"""poplard as a daemon: worker processes supervised by the master, SIGTERM
letting live sessions finish, SIGHUP reloading (and refusing a broken
configuration), sd_notify, systemd socket activation, and no sessions as
root unless asked for."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "integration"))
import poplartest  # noqa: E402
from poplartest import wait_until  # noqa: E402

MESSAGES = [b"Subject: one\n\nfirst\n", b"Subject: two\n\nsecond\n"]


def workers(srv):
    return [p for p in srv.pids() if p != srv.proc.pid]


class DaemonTest(unittest.TestCase):
    def setUp(self):
        self.srv = poplartest.Server()

    def tearDown(self):
        if self.srv.alive():
            self.srv.stop(timeout=30)
        self.srv.cleanup()

    def serving_pid(self, user):
        """The worker whose log line says it logged @user in."""
        m = self.srv.wait_for_log(r"poplard\[(\d+)\]: info: \w+: login: "
                                  r"user=%s " % user)
        return int(m.group(1))

    def test_killed_worker_is_restarted_and_loses_nothing(self):
        users = self.srv.add_users("u", 3, "pw", messages=MESSAGES)
        self.srv.start(server={"workers": "2"})
        self.assertTrue(wait_until(lambda: len(workers(self.srv)) == 2, 5))
        # A session with a message marked deleted, then its worker crashes.
        doomed = self.srv.conn()
        doomed.login(users[0].name, "pw")
        self.assertTrue(doomed.cmd("DELE 1").startswith("+OK"))
        victim = self.serving_pid(users[0].name)
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        # A new login succeeds within a second; it is kept open.
        live = wait_until(lambda: self._try_conn(users[1].name), 1.0)
        self.assertTrue(live, "no login within a second of the worker's "
                        "death")
        self.assertLess(time.monotonic() - killed_at, 1.5)
        self.assertTrue(live.cmd("DELE 1").startswith("+OK"))
        survivor = self.serving_pid(users[1].name)
        self.assertNotEqual(survivor, victim)
        with self.assertRaises((OSError, EOFError, poplartest.ProtocolError)):
            doomed.cmd("NOOP")
        doomed.close()
        self.srv.wait_for_log(r"worker %d killed by signal 9" % victim)
        self.assertTrue(wait_until(lambda: len(workers(self.srv)) == 2, 5))
        # The other worker dies too: the session on the survivor goes on.
        other = [p for p in workers(self.srv) if p != survivor]
        self.assertEqual(len(other), 1)
        os.kill(other[0], signal.SIGKILL)
        self.assertTrue(live.cmd("NOOP").startswith("+OK"))
        self.assertTrue(live.cmd("QUIT").startswith("+OK"))
        live.close()
        # Nothing lost: the crashed session's mark was not committed, the
        # session that QUIT deleted exactly its message.
        self.assertEqual(len(users[0].maildir.files()), 2)
        self.assertEqual(len(users[1].maildir.files()), 1)
        self.assertTrue(wait_until(lambda: len(workers(self.srv)) == 2, 5))

    def test_connections_answered_while_the_only_worker_restarts(self):
        """With one worker dying again and again, the restart back-off
        grows to seconds; meanwhile every new connection gets a
        [SYS/TEMP] greeting at once instead of none."""
        users = self.srv.add_users("u", 1, "pw", messages=MESSAGES)
        self.srv.start(server={"workers": "1"})
        # A worker killed before it said it runs stops poplard's start.
        self.srv.wait_for_log(r"ready \(1 worker\)", timeout=10)
        self.assertTrue(wait_until(lambda: len(workers(self.srv)) == 1, 5))
        # Five deaths in a row: the next restart waits 1.6 s.
        for death in range(5):
            mark = self.srv.log_mark()
            victim = workers(self.srv)[0]
            os.kill(victim, signal.SIGKILL)
            if death < 4:
                self.srv.wait_for_log(r"worker \d+ started", timeout=10,
                                      start=mark)
                self.assertTrue(wait_until(
                    lambda: victim not in workers(self.srv), 5))
        self.srv.wait_for_log(r"restarting the worker in 1600 ms",
                              start=mark)
        started = time.monotonic()
        with self.srv.conn(timeout=1) as c:
            self.assertEqual(c.reply(), "-ERR [SYS/TEMP] server restarting, "
                             "try again in a few seconds")
        self.assertLess(time.monotonic() - started, 1.0)
        # Once the worker is back, sessions are served again, and the
        # master says how many it turned away.
        self.srv.wait_for_log(r"worker \d+ started", timeout=10, start=mark)
        self.srv.wait_for_log(r"1 connection answered \[SYS/TEMP\] while "
                              r"no worker ran", start=mark)
        c = wait_until(lambda: self._try_conn(users[0].name), 3.0)
        self.assertTrue(c, "no login after the restart")
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.close()

    def _try_conn(self, user):
        try:
            c = self.srv.conn(timeout=1)
            c.login(user, "pw")
            return c
        except Exception:
            return None

    def _try_login(self, user):
        try:
            return self.srv.login(user, "pw", timeout=1)
        except Exception:
            return None

    def test_sigterm_lets_live_sessions_finish(self):
        u = self.srv.add_user("alice", "pw", messages=MESSAGES)
        self.srv.start(server={"shutdown-timeout": "10s"})
        c = self.srv.conn()
        c.login("alice", "pw")
        self.srv.proc.send_signal(signal.SIGTERM)
        # New connections are refused once the listeners are closed...
        def refused():
            try:
                s = socket.create_connection(("127.0.0.1", self.srv.port),
                                             timeout=1)
                s.close()
                return False
            except OSError:
                return True
        self.assertTrue(wait_until(refused, 5), "still accepting after "
                        "SIGTERM")
        # ...while the live session finishes its work and commits.
        self.assertTrue(c.cmd("DELE 1").startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.close()
        self.assertEqual(self.srv.proc.wait(15), 0)
        self.assertEqual(len(u.maildir.files()), 1)

    def test_sigterm_ends_sessions_after_the_timeout(self):
        u = self.srv.add_user("alice", "pw", messages=MESSAGES)
        self.srv.start(server={"shutdown-timeout": "1s"})
        c = self.srv.conn()
        c.login("alice", "pw")
        self.assertTrue(c.cmd("DELE 1").startswith("+OK"))
        start = time.monotonic()
        self.srv.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.srv.proc.wait(15), 0)
        self.assertLess(time.monotonic() - start, 8)
        c.close()
        # Ended without QUIT: nothing deleted.
        self.assertEqual(len(u.maildir.files()), 2)

    def test_sighup_reloads_and_keeps_live_sessions(self):
        self.srv.add_user("alice", "pw", messages=MESSAGES)
        self.srv.add_user("bob", "pw", messages=MESSAGES)
        self.srv.start(server={"greeting": "before reload"})
        live = self.srv.conn()
        self.assertIn("before reload", live.greeting())
        self.assertTrue(live.cmd("USER alice").startswith("+OK"))
        self.assertTrue(live.cmd("PASS pw").startswith("+OK"))
        old_workers = workers(self.srv)
        self.srv.write_config(server={"greeting": "after reload"})
        mark = self.srv.log_mark()
        self.srv.proc.send_signal(signal.SIGHUP)
        self.srv.wait_for_log(r"ready", start=mark, timeout=10)
        fresh = self.srv.conn()
        self.assertIn("after reload", fresh.greeting())
        fresh.close()
        # The session from before the reload is still served.
        self.assertTrue(live.cmd("STAT").startswith("+OK 2 "))
        self.assertTrue(live.cmd("QUIT").startswith("+OK"))
        live.close()
        self.assertEqual(self.srv.proc.pid,
                         self.srv.pids()[0], "the master changed pid")
        self.assertTrue(wait_until(
            lambda: not set(old_workers) & set(workers(self.srv)), 10))

    def test_sighup_with_a_broken_config_changes_nothing(self):
        self.srv.add_user("alice", "pw", messages=MESSAGES)
        self.srv.start(server={"greeting": "still here"})
        self.assertTrue(wait_until(lambda: len(workers(self.srv)) == 1, 5))
        before = workers(self.srv)
        with open(self.srv.conf, "a") as f:
            f.write("\n[server-typo]\nkey = 1\n")
        mark = self.srv.log_mark()
        self.srv.proc.send_signal(signal.SIGHUP)
        self.srv.wait_for_log(r"still running the old one", start=mark,
                              timeout=10)
        c = self.srv.conn()
        self.assertIn("still here", c.greeting())
        c.close()
        self.assertEqual(workers(self.srv), before)

    def test_sd_notify(self):
        path = os.path.join(self.srv.dir, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(10)
        self.srv.add_user("alice", "pw")
        os.environ["NOTIFY_SOCKET"] = path
        try:
            self.srv.start()
        finally:
            del os.environ["NOTIFY_SOCKET"]
        self.assertIn(b"READY=1", sock.recv(4096))
        self.srv.proc.send_signal(signal.SIGHUP)
        got = b""
        while b"READY=1" not in got.split(b"RELOADING=1")[-1]:
            got += sock.recv(4096) + b"\n"
        self.assertIn(b"RELOADING=1", got)
        self.srv.proc.send_signal(signal.SIGTERM)
        self.assertIn(b"STOPPING=1", sock.recv(4096))
        sock.close()

    def test_socket_activation(self):
        self.srv.add_user("alice", "pw", messages=MESSAGES)
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(16)
        port = lsock.getsockname()[1]
        self.srv.write_config(server={"listen": "127.0.0.1:%d" % port})
        fd = lsock.fileno()

        def hand_over():
            os.dup2(fd, 3)
            os.environ["LISTEN_FDS"] = "1"
            os.environ["LISTEN_PID"] = str(os.getpid())
            os.environ["LISTEN_FDNAMES"] = "pop3"
            os.execv(poplartest.POPLARD, [poplartest.POPLARD, "-c",
                                           self.srv.conf])

        proc = subprocess.Popen(["/bin/true"], preexec_fn=hand_over,
                                pass_fds=(fd,), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        lsock.close()
        try:
            p = wait_until(lambda: self._login_port(port), 5)
            self.assertTrue(p, "no session on the inherited socket")
            self.assertEqual(p.stat()[0], 2)
            p.quit()
        finally:
            proc.send_signal(signal.SIGTERM)
            out = proc.communicate(timeout=20)[0].decode()
        self.assertEqual(proc.returncode, 0, out)
        self.assertIn("listening on 127.0.0.1:%d" % port, out)

    def _login_port(self, port):
        import poplib
        try:
            p = poplib.POP3("127.0.0.1", port, timeout=2)
            p.user("alice")
            p.pass_("pw")
            return p
        except Exception:
            return None

    @unittest.skipUnless(os.geteuid() == 0, "needs root")
    def test_root_refused_without_allow_root(self):
        self.srv.add_user("alice", "pw")
        self.srv.write_config(server={"allow-root": None})
        out = subprocess.run([poplartest.POPLARD, "-c", self.srv.conf],
                             capture_output=True, timeout=20)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn(b"refusing to serve sessions as root", out.stderr +
                      out.stdout)


if __name__ == "__main__":
    poplartest.main()
