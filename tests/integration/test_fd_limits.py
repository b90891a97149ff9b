# SPDX-License-Identifier: MIT
"""poplard and its open files limit.

An idle authenticated Maildir session holds two descriptors in its worker
(its socket and its Maildir).  The master raises the soft limit to the hard
one before it forks.  A worker that runs out of descriptors stops
accepting for a moment instead of retrying at once (which spun the loop and
wrote a log line per attempt), refuses a login with -ERR [SYS/TEMP] and
leaves no lock behind, and serves again once descriptors are free."""

import os
import resource
import socket
import sys
import time

import poplartest
from poplartest import Conn, crlf, wait_until

M1 = b"Subject: one\n\nfirst\n"
M2 = b"Subject: two\n\nsecond\n"

IDLE_SESSIONS = 24
# What an idle authenticated session holds in the worker: its socket and
# its Maildir.
FDS_PER_IDLE_SESSION = 2
# Descriptors left free for the worker when its limit is lowered: room for
# one session once the flood is gone.
ROOM = 8
FLOOD = 40
ACCEPT_FAILED = r"accept on \S+: Too many open files"
# The failed accepts are reported at most once a second per listener;
# the worker is kept out of descriptors for about this long.
EXHAUSTED_S = 2.5


def fd_targets(pid):
    """What each descriptor of @pid points to (readlink)."""
    out = []
    d = "/proc/%d/fd" % pid
    for name in os.listdir(d):
        try:
            out.append(os.readlink(os.path.join(d, name)))
        except OSError:
            pass  # closed while we looked
    return out


def sockets_of(pid):
    return sum(t.startswith("socket:") for t in fd_targets(pid))


def highest_fd(pid):
    return max(int(n) for n in os.listdir("/proc/%d/fd" % pid))


def nofile_limits(pid):
    """(soft, hard) "Max open files" of @pid."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no open files limit for pid %d" % pid)


def cpu_seconds(pid):
    """User and system time of @pid (all its threads) so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def lock_files(srv):
    out = []
    for root, _dirs, files in os.walk(os.path.join(srv.dir, "home")):
        out += [os.path.join(root, f) for f in files
                if f.startswith("poplar-lock")]
    return out


class FdLimitTest(poplartest.PoplarTestCase):

    def worker_of(self, srv):
        srv.wait_for_log(r"poplard \S+ ready \(1 worker\)")
        pids = srv.pids()
        self.assertEqual(len(pids), 2, "one master and one worker expected")
        return pids[1]

    def test_idle_session_holds_two_descriptors(self):
        srv = self.server(start=False)
        users = srv.add_users("idle", IDLE_SESSIONS, "pw", [M1])
        srv.start()
        worker = self.worker_of(srv)
        listening = sockets_of(worker)
        # Files a worker opens once and keeps are open after this, and the
        # session's own socket is closed again.
        p = srv.login(users[0])
        p.quit()
        self.assertTrue(wait_until(
            lambda: sockets_of(worker) == listening, 5))
        before = fd_targets(worker)

        conns = []
        try:
            for u in users:
                c = Conn(srv.port)
                conns.append(c)
                c.login(u.name, "pw")
            after = fd_targets(worker)
            added = len(after) - len(before)
            self.assertLessEqual(
                added, FDS_PER_IDLE_SESSION * IDLE_SESSIONS,
                "%d idle sessions hold %d descriptors" % (IDLE_SESSIONS,
                                                          added))
            # Which they are: one socket and the Maildir, per session.
            sockets = sockets_of(worker) - listening
            self.assertEqual(sockets, IDLE_SESSIONS)
            maildirs = {os.path.realpath(u.maildir.path) for u in users}
            self.assertEqual(sum(t in maildirs for t in after),
                             IDLE_SESSIONS, "\n".join(sorted(after)))

            # Serving them leaves nothing more open once they idle again.
            for c in conns:
                status, body = c.multi("RETR 1")
                self.assertOk(status)
                self.assertEqual(body, crlf(M1))
            self.assertEqual(len(fd_targets(worker)), len(after))

            for c in conns:
                self.assertOk(c.cmd("QUIT"))
                self.assertTrue(c.wait_closed(10))
        finally:
            for c in conns:
                c.close()
        self.assertTrue(
            wait_until(lambda: len(fd_targets(worker)) <= len(before), 5),
            "descriptors left open after QUIT: %s" % sorted(
                set(fd_targets(worker)) - set(before)))
        self.assertEqual(lock_files(srv), [])

    def test_master_raises_the_soft_limit_to_the_hard_one(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        low = 256
        if hard == resource.RLIM_INFINITY or hard <= low:
            self.skipTest("hard open files limit %s leaves nothing to raise"
                          % hard)
        srv = self.server(users={"ann": [M1]}, start=False)
        # poplard inherits a low soft limit, as under many service managers.
        resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
        try:
            srv.start(server={"max-connections": "1000000"})
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        for pid in srv.pids():
            self.assertEqual(nofile_limits(pid), (hard, hard), "pid %d" % pid)
        srv.wait_for_log(r"open files: up to %d per process \(raised from "
                         r"%d\)" % (hard, low))
        # A max-connections that cannot fit in the limit is pointed out.
        srv.wait_for_log(r"max-connections = 1000000 will not be reached")
        p = srv.login("ann", "pw")
        self.assertEqual(p.stat()[0], 1)
        p.quit()

    def test_out_of_descriptors(self):
        srv = self.server(start=False)
        srv.add_user("ann", "pw", [M1, M2])
        srv.add_user("bob", "pw", [M1])
        srv.start()
        worker = self.worker_of(srv)
        soft, hard = nofile_limits(worker)

        # bob is greeted and named while descriptors are free; his PASS
        # comes once they are all taken.
        bob = Conn(srv.port)
        self.addCleanup(bob.close)
        bob.greeting()
        self.assertOk(bob.cmd("USER bob"))

        limit = highest_fd(worker) + 1 + ROOM
        resource.prlimit(worker, resource.RLIMIT_NOFILE, (limit, hard))
        self.addCleanup(self.restore_limit, worker, soft, hard)
        mark = srv.log_mark()
        flood = []
        try:
            for _ in range(FLOOD):
                flood.append(socket.create_connection(
                    (poplartest.HOST, srv.port), timeout=10))
            # The worker takes connections while it can, then accept fails.
            srv.wait_for_log(ACCEPT_FAILED, 10, start=mark)
            cpu_before = cpu_seconds(worker)
            started = time.monotonic()

            # No descriptor for the Maildir: a clear temporary failure.
            reply = bob.cmd("PASS pw")
            self.assertErr(reply, "login with no descriptor free",
                           code="SYS/TEMP")
            self.assertEqual(lock_files(srv), [])

            time.sleep(max(EXHAUSTED_S - (time.monotonic() - started), 0))
            elapsed = time.monotonic() - started
            cpu = cpu_seconds(worker) - cpu_before
            failures = [l for l in srv.log_lines()[mark:]
                        if "accept on" in l and "Too many open files" in l]
            sys.stderr.write(
                "FIGURE fd.accept_failure_lines = %d in %.1f s; worker cpu "
                "%.2f s\n" % (len(failures), elapsed, cpu))
            # One report a second at most, not one per attempt.
            self.assertGreaterEqual(len(failures), 1)
            self.assertLessEqual(len(failures), int(elapsed) + 2,
                                 "\n".join(failures[:20]))
            # And the loops wait rather than retry at once.
            self.assertLess(cpu, 0.5 * elapsed,
                            "worker used %.2f s of CPU in %.1f s out of "
                            "descriptors" % (cpu, elapsed))
        finally:
            for s in flood:
                s.close()

        # Once the flood is gone, a normal client is served in full.
        p = srv.login("ann", "pw")
        try:
            self.assertEqual(p.stat()[0], 2)
            self.assertEqual(crlf(b"\n".join(p.retr(2)[1]) + b"\n"), crlf(M2))
            p.quit()
        finally:
            p.close()
        # bob, still in AUTHORIZATION, gets his mailbox on a second try.
        self.assertOk(bob.cmd("USER bob"))
        self.assertOk(bob.cmd("PASS pw"))
        self.assertEqual(bob.cmd("STAT").split()[:2], ["+OK", "1"])
        self.assertOk(bob.cmd("QUIT"))
        self.assertTrue(bob.wait_closed(10))
        self.assertEqual(lock_files(srv), [])
        self.assertIn(worker, srv.pids())

    def restore_limit(self, pid, soft, hard):
        try:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        except (ProcessLookupError, PermissionError):
            pass


if __name__ == "__main__":
    poplartest.main()
