# SPDX-License-Identifier: MIT
"""An MTA delivering (dotlock + fcntl, as Postfix does) while POP3
sessions read and delete: at the end every message delivered is in the
mailbox exactly once unless a client deleted it, every message read was
read whole, and a message's UIDL never changed."""

import multiprocessing
import os
import poplib
import random
import threading
import time

import mboxtest
from mboxtest import Conn, build_mbox, crlf, read_mbox

INITIAL = 20
DELIVERIES = 120


def message(user, i):
    return (b"From: w%d@example.org\nSubject: %s %d\n\nbody of %d\n"
            b"From the writer, a line to quote.\n.dot line\n" % (
                i, user.encode(), i, i))


def writer(path, user, count, seed):
    rnd = random.Random(seed)
    for i in range(INITIAL, INITIAL + count):
        mboxtest.deliver(path, message(user, i), timeout=60)
        time.sleep(rnd.uniform(0, 0.02))


class WriterTest(mboxtest.MboxTestCase):

    def session(self, s, name, state, rnd):
        """One session: read everything, delete about a third."""
        deadline = time.monotonic() + 30
        while True:
            reply = ""
            c = Conn(s.port)
            try:
                c.greeting()
                c.cmd("USER " + name)
                reply = c.cmd("PASS pw")
                if reply.startswith("+OK"):
                    break
                self.assertIn("[IN-USE]", reply)
            finally:
                if not reply.startswith("+OK"):
                    c.close()
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        try:
            status, listing = c.multi("UIDL")
            self.assertOk(status)
            deleted_now = []
            for line in listing.decode().split("\r\n"):
                if not line:
                    continue
                n, uidl = line.split()
                status, body = c.multi("RETR " + n)
                self.assertOk(status)
                self.assertEqual(status.split()[1], str(len(body)))
                self.assertIn(body, state["all"], "unknown or partial "
                              "message")
                self.assertNotIn(body, state["deleted"],
                                 "a deleted message came back")
                known = state["uidl"].setdefault(body, uidl)
                self.assertEqual(known, uidl, "UIDL changed")
                if rnd.random() < 0.35:
                    self.assertOk(c.cmd("DELE " + n))
                    deleted_now.append(body)
            self.assertOk(c.cmd("QUIT"))
            state["deleted"].update(deleted_now)
        finally:
            c.close()

    def reader(self, s, name, state, stop, errors):
        rnd = random.Random(name)
        try:
            while not stop.is_set():
                self.session(s, name, state, rnd)
                time.sleep(rnd.uniform(0, 0.05))
            self.session(s, name, state, rnd)
        except BaseException as e:  # reported by the main thread
            errors.append((name, e))

    def test_deliveries_during_sessions(self):
        s = self.mbox_server(start=False)
        users = ["ann", "bob"]
        state = {}
        writers = []
        for n, name in enumerate(users):
            initial = [message(name, i) for i in range(INITIAL)]
            user = self.add_mbox_user(s, name, build_mbox(initial))
            state[name] = {
                "path": user.mbox,
                "all": {crlf(m) for m in initial} |
                       {crlf(message(name, i))
                        for i in range(INITIAL, INITIAL + DELIVERIES)},
                "deleted": set(),
                "uidl": {},
            }
            writers.append(multiprocessing.Process(
                target=writer, args=(user.mbox, name, DELIVERIES, n)))
        s.start()
        stop = threading.Event()
        errors = []
        readers = [threading.Thread(target=self.reader,
                                    args=(s, name, state[name], stop,
                                          errors))
                   for name in users]
        for w in writers:
            w.start()
        for r in readers:
            r.start()
        for w in writers:
            w.join(150)
            self.assertEqual(w.exitcode, 0)
        stop.set()
        for r in readers:
            r.join(60)
        if errors:
            raise errors[0][1]

        for name in users:
            st = state[name]
            expected = st["all"] - st["deleted"]
            got = [b for _, b in self.retr_all(s, name)]
            self.assertEqual(len(got), len(set(got)), "duplicates")
            self.assertEqual(set(got), expected)
            on_disk = [crlf(m) for m in read_mbox(st["path"])]
            self.assertEqual(sorted(on_disk), sorted(expected))
            self.assertGreater(len(st["deleted"]), 10)


if __name__ == "__main__":
    mboxtest.main()
