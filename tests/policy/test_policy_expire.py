# SPDX-License-Identifier: MIT
"""EXPIRE enforced (RFC 2449 6.7) on Maildir and mbox: the first
retrieval of each message is recorded with the mailbox before the RETR
reply; at UPDATE, messages retrieved at least EXPIRE days ago are
removed whether or not the client sent DELE; a session that ends without
QUIT removes nothing; the record survives a crash and is shared by every
server of the mailbox."""

import os
import signal

import policytest
from policytest import DAY, Conn


class ExpireMixin:
    kind = None

    def test_kept_message_expires_after_the_days(self):
        s, boxes = self.policy_server(self.kind, server={"expire": "2"})
        box = boxes["frank"]
        self.assertOk(self.session(s, retr=[1]))
        self.assertEqual(box.count(), 3, "removed before its time")
        self.assertEqual(len(box.state()["retrieved"]), 1)
        box.move_time(DAY)
        self.assertOk(self.session(s))
        self.assertEqual(box.count(), 3, "removed after one day of two")
        box.move_time(DAY)
        reply = self.session(s)
        self.assertOk(reply)
        self.assertIn("1 messages deleted", reply)
        self.assertEqual(box.count(), 2)
        # The record of what is gone goes too.
        self.assertEqual(box.state()["retrieved"], {})

    def test_first_retrieval_counts(self):
        s, boxes = self.policy_server(self.kind, server={"expire": "1"})
        box = boxes["frank"]
        self.assertOk(self.session(s, retr=[2]))
        first = box.state()["retrieved"]
        box.move_time(DAY - 60)
        self.assertOk(self.session(s, retr=[2]))
        self.assertEqual(list(box.state()["retrieved"].values()),
                         [v - DAY + 60 for v in first.values()],
                         "a second RETR moved the first retrieval")

    def test_top_of_whole_message_counts_partial_does_not(self):
        s, boxes = self.policy_server(self.kind, server={"expire": "0"})
        with Conn(s.port) as c:
            c.login("frank", "pw")
            status, _ = c.multi("TOP 1 0")
            self.assertOk(status)
            status, _ = c.multi("TOP 2 1000")
            self.assertOk(status)
            self.assertIn("1 messages deleted", c.cmd("QUIT"))
        self.assertEqual(boxes["frank"].count(), 2)

    def test_no_record_no_message(self):
        """A retrieval that cannot be put on record is not sent: RETR gets
        -ERR, and the session goes on."""
        s, boxes = self.policy_server(self.kind, server={"expire": "0"})
        box = boxes["frank"]
        with Conn(s.port) as c:
            c.login("frank", "pw")
            # A link where the file should be: never followed.
            os.symlink("/dev/null", box.state_path)
            status, _ = c.multi("RETR 1")
            self.assertErr(status, code="SYS/TEMP")
            os.unlink(box.state_path)
            status, _ = c.multi("RETR 2")
            self.assertOk(status)
            self.assertIn("1 messages deleted", c.cmd("QUIT"))
        self.assertEqual(box.count(), 2)
        s.wait_for_log(r"cannot record the retrieval of \S+ for EXPIRE")

    def test_never_and_unset_keep_everything(self):
        for value in ("never", None):
            s, boxes = self.policy_server(self.kind,
                                          server={"expire": value})
            self.assertOk(self.session(s, retr=[1, 2, 3]))
            self.assertEqual(boxes["frank"].count(), 3)
            self.assertFalse(os.path.exists(boxes["frank"].state_path))

    def test_expire_zero_deletes_what_was_retrieved_at_quit(self):
        s, boxes = self.policy_server(self.kind, server={"expire": "0"})
        reply = self.session(s, retr=[1, 3])
        self.assertIn("2 messages deleted", reply)
        self.assertEqual(boxes["frank"].count(), 1)

    def test_no_quit_deletes_nothing(self):
        s, boxes = self.policy_server(self.kind, server={"expire": "0"})
        self.session(s, retr=[1], quit=False)
        self.assertEqual(boxes["frank"].count(), 3)
        # Retrieved is retrieved: the record stayed and the next QUIT
        # applies it.
        self.assertEqual(len(boxes["frank"].state()["retrieved"]), 1)
        with Conn(s.port) as c:
            c.login("frank", "pw")
            self.assertOk(c.cmd("STAT"))
            self.assertIn("1 messages deleted", c.cmd("QUIT"))
        self.assertEqual(boxes["frank"].count(), 2)

    def test_crash_between_retrieval_and_quit(self):
        s, boxes = self.policy_server(self.kind, server={"expire": "0"})
        c = Conn(s.port)
        try:
            c.login("frank", "pw")
            status, _ = c.multi("RETR 2")
            self.assertOk(status)
            s.crash()
        finally:
            c.close()
        box = boxes["frank"]
        self.assertEqual(box.count(), 3, "a crash removed mail")
        self.assertEqual(len(box.state()["retrieved"]), 1,
                         "the retrieval was not on record before the reply")
        s.start()
        pop = policytest.poplartest.login_when_free(s, s.users["frank"])
        try:
            pop.quit()
        finally:
            pop.close()
        self.assertEqual(box.count(), 2)

    def test_worker_killed_between_retrieval_and_quit(self):
        s, boxes = self.policy_server(self.kind, server={"expire": "0"})
        master = s.proc.pid
        c = Conn(s.port)
        try:
            c.login("frank", "pw")
            status, _ = c.multi("RETR 1")
            self.assertOk(status)
            workers = [p for p in s.pids() if p != master]
            self.assertTrue(workers, "no worker process")
            for p in workers:
                os.kill(p, signal.SIGKILL)
            self.assertTrue(c.wait_closed(10))
        finally:
            c.close()
        self.assertEqual(boxes["frank"].count(), 3)
        self.assertEqual(len(boxes["frank"].state()["retrieved"]), 1)

    def test_two_nodes_agree(self):
        s1, boxes = self.policy_server(self.kind, server={"expire": "1"})
        s2 = self.second_node(s1)
        self.assertOk(self.session(s1, retr=[1]))
        boxes["frank"].move_time(DAY)
        self.assertIn("1 messages deleted", self.session(s2))
        self.assertEqual(boxes["frank"].count(), 2)

    def test_per_user_value(self):
        s, boxes = self.policy_server(
            self.kind, server={"expire": "30"},
            users={"frank": policytest.MESSAGES,
                   "grace": policytest.MESSAGES},
            extra={"grace": "expire=0"})
        self.assertIn("0 messages deleted", self.session(s, "frank", [1]))
        self.assertIn("1 messages deleted", self.session(s, "grace", [1]))
        self.assertEqual(boxes["frank"].count(), 3)
        self.assertEqual(boxes["grace"].count(), 2)

    def test_damaged_state_file_is_logged_not_fatal(self):
        s, boxes = self.policy_server(self.kind, server={"expire": "0"})
        box = boxes["frank"]
        self.assertOk(self.session(s, retr=[1], quit=False) or "+OK")
        with open(box.state_path, "a") as f:
            f.write("garbage line\n")
        self.assertIn("1 messages deleted", self.session(s))
        s.wait_for_log(r"poplar-retrieved:\d+: .*line skipped")


class ExpireMaildir(ExpireMixin, policytest.PolicyTestCase):
    kind = "maildir"


class ExpireMbox(ExpireMixin, policytest.PolicyTestCase):
    kind = "mbox"


if __name__ == "__main__":
    policytest.main()
