# SPDX-License-Identifier: MIT
"""Locking with Debian's MTAs and MUAs: [IN-USE] for a second POP3
session, dotlocks and fcntl locks of other programs respected (within
lock-timeout), stale dotlocks removed, and no MTA lock held while a client
idles, so mail is delivered during a session."""

import fcntl
import multiprocessing
import os
import signal
import time

import mboxtest
from mboxtest import Conn, build_mbox, crlf


def message(i):
    return b"Subject: m%d\n\nbody %d\n" % (i, i)


def hold_fcntl(path, ready, seconds):
    fd = os.open(path, os.O_RDWR)
    fcntl.lockf(fd, fcntl.LOCK_EX)
    ready.set()
    time.sleep(seconds)
    os.close(fd)


class LockTest(mboxtest.MboxTestCase):

    def setUp(self):
        self.srv = self.mbox_server(store={"lock-timeout": "2s",
                                           "dotlock-stale": "3s"},
                                    start=False)
        self.user = self.add_mbox_user(self.srv, "ann",
                                       build_mbox([message(0), message(1)]))
        self.srv.start()
        self.dotlock = self.user.mbox + ".lock"

    def login_reply(self):
        with Conn(self.srv.port) as c:
            c.greeting()
            self.assertOk(c.cmd("USER ann"))
            reply = c.cmd("PASS pw")
            c.cmd("QUIT")
        return reply

    def test_in_use(self):
        with Conn(self.srv.port) as first:
            first.login("ann", "pw")
            self.assertErr(self.login_reply(), code="IN-USE")
            self.assertOk(first.cmd("QUIT"))
        self.assertOk(self.login_reply())

    def test_in_use_released_by_dropped_connection(self):
        first = Conn(self.srv.port)
        first.login("ann", "pw")
        first.close()
        p = mboxtest.poplartest.login_when_free(self.srv, self.user)
        self.assertEqual(p.stat()[0], 2)
        p.quit()

    def test_delivery_while_client_idles(self):
        """The session holds no MTA lock between commands: an MTA delivers
        at once, with dotlock and fcntl."""
        with Conn(self.srv.port) as c:
            c.login("ann", "pw")
            start = time.monotonic()
            mboxtest.deliver(self.user.mbox, message(2), timeout=1.0)
            self.assertLess(time.monotonic() - start, 1.0)
            # Reading goes on; the new mail is for the next session.
            status, body = c.multi("RETR 2")
            self.assertEqual(body, crlf(message(1)))
            self.assertEqual(c.cmd("STAT").split()[1], "2")
            self.assertOk(c.cmd("DELE 1"))
            self.assertOk(c.cmd("QUIT"))
        got = [b for _, b in self.retr_all(self.srv, "ann")]
        self.assertEqual(got, [crlf(message(1)), crlf(message(2))])

    def test_live_dotlock_waited_for(self):
        child = os.fork()
        if child == 0:
            time.sleep(60)
            os._exit(0)
        try:
            with open(self.dotlock, "w") as f:
                f.write("%d\n" % child)
            os.utime(self.dotlock, (time.time() - 3600,) * 2)
            start = time.monotonic()
            reply = self.login_reply()
            self.assertErr(reply, code="IN-USE")
            self.assertGreaterEqual(time.monotonic() - start, 1.9)
            self.assertTrue(os.path.exists(self.dotlock))
            self.srv.wait_for_log(r"locked by another program \(dotlock")
            # Released while a login waits: the login goes through.
            c = Conn(self.srv.port)
            c.greeting()
            c.cmd("USER ann")
            c.send("PASS pw\r\n")
            time.sleep(0.5)
            os.unlink(self.dotlock)
            self.assertOk(c.reply())
            self.assertOk(c.cmd("QUIT"))
            c.close()
        finally:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)

    def test_stale_dotlock_removed(self):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        with open(self.dotlock, "w") as f:
            f.write("%d\n" % pid)
        os.utime(self.dotlock, (time.time() - 60,) * 2)
        self.assertOk(self.login_reply())
        self.assertFalse(os.path.exists(self.dotlock))
        self.srv.wait_for_log(r"removed the stale dotlock")
        # Young and ownerless (Postfix writes no pid): waited for until it
        # is dotlock-stale old.
        open(self.dotlock, "w").close()
        start = time.monotonic()
        self.assertErr(self.login_reply(), code="IN-USE")
        time.sleep(1.5)
        self.assertOk(self.login_reply())
        self.assertGreaterEqual(time.monotonic() - start, 3.0)

    def test_fcntl_lock_of_another_program(self):
        ready = multiprocessing.Event()
        holder = multiprocessing.Process(
            target=hold_fcntl, args=(self.user.mbox, ready, 1.0))
        holder.start()
        try:
            self.assertTrue(ready.wait(10))
            start = time.monotonic()
            self.assertOk(self.login_reply())
            self.assertGreaterEqual(time.monotonic() - start, 0.5)
        finally:
            holder.join(10)
        ready = multiprocessing.Event()
        holder = multiprocessing.Process(
            target=hold_fcntl, args=(self.user.mbox, ready, 4.0))
        holder.start()
        try:
            self.assertTrue(ready.wait(10))
            self.assertErr(self.login_reply(), code="IN-USE")
        finally:
            holder.join(10)

    def test_retr_waits_for_a_writer(self):
        """RETR reads under a shared fcntl lock: a writer holding the lock
        (an MUA rewriting) delays it, and a writer that holds it too long
        gets the client -ERR [SYS/TEMP], not a half-rewritten message."""
        with Conn(self.srv.port) as c:
            c.login("ann", "pw")
            ready = multiprocessing.Event()
            holder = multiprocessing.Process(
                target=hold_fcntl, args=(self.user.mbox, ready, 3.0))
            holder.start()
            try:
                self.assertTrue(ready.wait(10))
                self.assertErr(c.cmd("RETR 1"), code="SYS/TEMP")
            finally:
                holder.join(10)
            status, body = c.multi("RETR 1")
            self.assertEqual(body, crlf(message(0)))
            self.assertOk(c.cmd("QUIT"))


if __name__ == "__main__":
    mboxtest.main()
