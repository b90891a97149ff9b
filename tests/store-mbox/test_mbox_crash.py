# SPDX-License-Identifier: MIT
"""Crash safety of the rewrite at UPDATE: poplard is killed with SIGKILL at
each step of the rewrite (through the fault injection switch of the test
build of store-mbox), with mail delivered during the session.  Every time,
the mbox holds either the old or the new set of messages, each exactly
once, the delivered mail included; the next session cleans up, gives the
survivors their old UIDLs and can delete again."""

import os
import re
import time

import mboxtest
from mboxtest import build_mbox, crlf, read_mbox

STEPS = {
    1: "locks taken",
    2: "temporary file created",
    3: "part of the mail copied",
    4: "everything copied, not synced",
    5: "temporary file synced",
    6: "renamed over the mbox",
    7: "directory synced",
    8: "index written, locks held",
}
RENAMED_FROM = 6
DELETE = (2, 5, 12)


def message(i):
    return (b"From: c%d@example.org\nSubject: crash test %d\n\n" % (i, i) +
            b"From the crash test, line %d\n" % i +
            b"body %d\n" % i * (1 + i * 40))


INITIAL = [message(i) for i in range(12)]
LATE = b"Subject: delivered during the session\n\nlate\n"


class CrashTest(mboxtest.MboxTestCase):

    def new_server(self, env=None, store=None):
        s = self.mbox_server(store=store or {"lock-timeout": "10s",
                                             "dotlock-stale": "1s"},
                             start=False)
        self.use_fault_plugin(s)
        user = self.add_mbox_user(s, "ann", build_mbox(INITIAL))
        self.start(s, env)
        return s, user

    def session_until_crash(self, s, user):
        """Reads everything, deletes DELETE, lets the MTA deliver, QUITs
        into the crash.  Returns {content: uidl} before the crash."""
        c = s.conn()
        try:
            c.login("ann", "pw")
            status, listing = c.multi("UIDL")
            uidls = {}
            for line in listing.decode().split("\r\n"):
                if line:
                    n, uidl = line.split()
                    status, body = c.multi("RETR " + n)
                    uidls[body] = uidl
            for n in DELETE:
                self.assertOk(c.cmd("DELE %d" % n))
            mboxtest.deliver(user.mbox, LATE)
            try:
                reply = c.cmd("QUIT")
            except (EOFError, ConnectionError):
                reply = None
            self.assertIsNone(reply, "QUIT answered before the crash")
        finally:
            c.close()
        return uidls

    def wait_killed(self, s, mark):
        """Waits until the process serving the session died of SIGKILL,
        then stops poplard.  (With worker processes, the master reports the
        worker's death and restarts it; without, poplard itself dies.)"""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not s.alive():
                self.assertEqual(s.proc.returncode, -9)
                s._kill()  # collects the log reader
                return
            if any(re.search(r"worker \d+ killed by signal 9", line)
                   for line in s.log_lines()[mark:]):
                s.stop()
                return
            time.sleep(0.05)
        self.fail("poplard was not killed by the fault switch")

    def test_kill_at_each_step(self):
        old = INITIAL + [LATE]
        new = [m for i, m in enumerate(INITIAL, 1) if i not in DELETE] + \
            [LATE]
        for step, what in STEPS.items():
            with self.subTest(step=step, what=what):
                s, user = self.new_server(
                    {"POPLAR_MBOX_FAULT_STEP": str(step)})
                mark = s.log_mark()
                before = self.session_until_crash(s, user)
                self.wait_killed(s, mark)
                on_disk = read_mbox(user.mbox)
                expected = new if step >= RENAMED_FROM else old
                self.assertEqual(on_disk, expected,
                                 "killed after: %s" % what)

                # A new poplard: the leftovers go, the UIDLs stay.
                self.start(s)
                got = self.retr_all(s, "ann")
                self.assertEqual([b for _, b in got],
                                 [crlf(m) for m in expected])
                for uidl, body in got:
                    if body in before:
                        self.assertEqual(uidl, before[body])
                spool = os.path.dirname(user.mbox)
                self.assertEqual([n for n in os.listdir(spool)
                                  if "poplar-new" in n or
                                  n.endswith(".lock")], [])
                if step < RENAMED_FROM:
                    with s.conn() as c:
                        c.login("ann", "pw")
                        for n in DELETE:
                            self.assertOk(c.cmd("DELE %d" % n))
                        self.assertOk(c.cmd("QUIT"))
                    self.assertEqual(read_mbox(user.mbox), new)
                s.stop()

    def test_dotlock_of_killed_worker_taken_over_at_once(self):
        """Killed during QUIT with its dotlock held: with the default
        dotlock-stale (5m) and lock-timeout (30s), the next login does not
        wait, because the lock's owner is provably dead on this host."""
        s, user = self.new_server({"POPLAR_MBOX_FAULT_STEP": "1"}, store={})
        mark = s.log_mark()
        self.session_until_crash(s, user)
        self.wait_killed(s, mark)
        self.assertTrue(os.path.exists(user.mbox + ".lock"))
        self.start(s)
        started = time.monotonic()
        with s.conn(timeout=20) as c:
            c.login("ann", "pw")
            self.assertOk(c.cmd("QUIT"))
        self.assertLess(time.monotonic() - started, 5)
        s.wait_for_log(r"removed the stale dotlock .*dead, taken over")
        self.assertFalse(os.path.exists(user.mbox + ".lock"))
        s.stop()

    def test_write_failures(self):
        """The copy or its fsync fails (ENOSPC): -ERR [SYS/TEMP], the mbox
        as it was, delivered mail kept."""
        for step in (3, 5):
            with self.subTest(step=step):
                s, user = self.new_server(
                    {"POPLAR_MBOX_FAULT_ERRNO_STEP": str(step)})
                with s.conn() as c:
                    c.login("ann", "pw")
                    for n in DELETE:
                        self.assertOk(c.cmd("DELE %d" % n))
                    mboxtest.deliver(user.mbox, LATE)
                    self.assertErr(c.cmd("QUIT"), code="SYS/TEMP")
                self.assertEqual(read_mbox(user.mbox), INITIAL + [LATE])
                spool = os.path.dirname(user.mbox)
                self.assertEqual([n for n in os.listdir(spool)
                                  if "poplar-new" in n or
                                  n.endswith(".lock")], [])
                s.stop()


if __name__ == "__main__":
    mboxtest.main()
