# SPDX-License-Identifier: MIT
"""USER/PASS and APOP: failures read alike whether the user exists or not,
sequence errors, the failure delay."""

import hashlib
import os
import re
import time

import poplartest
from poplartest import Conn, Maildir

M1 = b"Subject: one\n\nbody\n"


class AuthTest(poplartest.PoplarTestCase):

    def start(self, **server):
        self.srv = self.server(start=False)
        self.user = self.srv.add_user("ivan", "right pw", [M1])
        self.srv.add_user("judy", "pw2", [M1])
        self.srv.start(server=server)

    def attempt(self, user, password):
        """The reply to PASS after USER on a fresh connection."""
        with Conn(self.srv.port) as c:
            c.greeting()
            self.assertOk(c.cmd("USER " + user), "USER " + user)
            reply = c.cmd("PASS " + password)
            c.cmd("QUIT")
        return reply

    def test_right_password(self):
        self.start()
        self.assertOk(self.attempt("ivan", "right pw"),
                      "a password with a space")
        self.assertOk(self.attempt("judy", "pw2"))

    def test_failures_read_alike(self):
        self.start()
        wrong = self.attempt("ivan", "wrong")
        unknown = self.attempt("nobody", "wrong")
        others_pw = self.attempt("judy", "right pw")
        self.assertErr(wrong, "wrong password", code="AUTH")
        self.assertErr(unknown, "unknown user", code="AUTH")
        self.assertEqual(wrong, unknown,
                         "a wrong password and an unknown user must get the "
                         "same reply")
        self.assertEqual(wrong, others_pw)
        # USER itself never tells whether the user exists.
        with Conn(self.srv.port) as c:
            c.greeting()
            known = c.cmd("USER ivan")
            c.cmd("QUIT")
        with Conn(self.srv.port) as c:
            c.greeting()
            unknown_user = c.cmd("USER nobody")
            c.cmd("QUIT")
        self.assertEqual(known.replace("ivan", "NAME"),
                         unknown_user.replace("nobody", "NAME"))

    def test_sequence_errors(self):
        self.start()
        with Conn(self.srv.port) as c:
            c.greeting()
            self.assertErr(c.cmd("PASS right pw"), "PASS without USER")
            self.assertErr(c.cmd("USER"), "USER without a name")
            self.assertOk(c.cmd("USER ivan"))
            self.assertErr(c.cmd("PASS wrong"), "wrong password",
                           code="AUTH")
            # A failed login goes back to AUTHORIZATION: a new USER/PASS
            # works on the same connection.
            self.assertOk(c.cmd("USER ivan"))
            self.assertOk(c.cmd("PASS right pw"), "login after a failure")
            self.assertEqual(c.cmd("STAT").split()[:2], ["+OK", "1"])
            self.assertErr(c.cmd("USER judy"), "USER after login")
            self.assertErr(c.cmd("PASS pw2"), "PASS after login")
            self.assertOk(c.cmd("QUIT"))

    def test_too_many_failures_close_the_connection(self):
        """Repeated failures on one connection end it (password guessing
        costs a reconnect), and never crash anything."""
        self.start()
        with Conn(self.srv.port) as c:
            c.greeting()
            closed = False
            for i in range(10):
                try:
                    reply = c.cmd("USER ivan")
                    if reply.startswith("-ERR"):
                        # Refused up front: the server must then hang up.
                        closed = c.wait_closed(5)
                        break
                    self.assertErr(c.cmd("PASS wrong%d" % i), code="AUTH")
                except (EOFError, ConnectionResetError, BrokenPipeError):
                    closed = True
                    break
            self.assertTrue(closed, "10 failed logins did not close the "
                            "connection")
            self.assertGreater(i, 0, "closed before any failure")
        self.assertOk(self.attempt("ivan", "right pw"))

    def test_failure_delay(self):
        """auth-failure-delay slows every failure alike; the address's next
        password waits its earned delay before it is checked, even a right
        one, and a success clears it."""
        self.start(**{"auth-failure-delay": "1s"})

        def timed(user, password):
            t0 = time.monotonic()
            reply = self.attempt(user, password)
            return reply, time.monotonic() - t0
        reply, elapsed = timed("ivan", "wrong")
        self.assertErr(reply, code="AUTH")
        self.assertGreaterEqual(elapsed, 0.9, "wrong password answered early")
        reply, elapsed = timed("nobody", "wrong")
        self.assertErr(reply, code="AUTH")
        self.assertGreaterEqual(elapsed, 0.9, "unknown user answered early")
        reply, elapsed = timed("ivan", "right pw")
        self.assertOk(reply)
        # two failures: d(2) = 2 s before the check, none after it
        self.assertGreaterEqual(elapsed, 1.8, "the check did not wait")
        self.assertLess(elapsed, 3.5, "a successful login was delayed")
        reply, elapsed = timed("ivan", "right pw")
        self.assertOk(reply)
        self.assertLess(elapsed, 0.9, "the success did not clear the delay")

    def test_apop(self):
        """{PLAIN} passwords can be supplied to the core, so APOP works
        (RFC 1939 section 7): the greeting carries a timestamp."""
        self.start()
        with Conn(self.srv.port) as c:
            greeting = c.greeting()
            m = re.search(r"<[^<>@]+@[^<>]+>", greeting)
            self.assertIsNotNone(m, "no APOP timestamp in the greeting %r" %
                                 greeting)
            stamp = m.group(0)
            digest = hashlib.md5((stamp + "wrong").encode()).hexdigest()
            self.assertErr(c.cmd("APOP ivan " + digest), "APOP wrong digest",
                           code="AUTH")
            digest = hashlib.md5((stamp + "right pw").encode()).hexdigest()
            self.assertOk(c.cmd("APOP ivan " + digest), "APOP right digest")
            self.assertEqual(c.cmd("STAT").split()[:2], ["+OK", "1"])
            self.assertOk(c.cmd("QUIT"))
        with Conn(self.srv.port) as c:
            stamp2 = re.search(r"<[^<>@]+@[^<>]+>", c.greeting()).group(0)
            self.assertNotEqual(stamp, stamp2, "APOP timestamps repeat")
            # A digest made for another connection's timestamp is refused.
            digest = hashlib.md5((stamp + "right pw").encode()).hexdigest()
            self.assertErr(c.cmd("APOP ivan " + digest), "APOP replay",
                           code="AUTH")
            c.cmd("QUIT")


class MailLocationTest(poplartest.PoplarTestCase):
    """%u, %d and %h in mail locations, and a per-user override from the
    passwd file."""

    def test_expansions_and_override(self):
        srv = self.server(start=False)
        root = os.path.join(srv.dir, "mail")
        # %u is the whole user name, %d its domain part.
        by_domain = Maildir(os.path.join(root, "example.org",
                                         "nora@example.org"))
        by_domain.add(b"Subject: by domain\n\nnora\n")
        srv.add_user("nora@example.org", "pw")
        # A per-user location (extra field mail=) beats the default.
        custom = Maildir(os.path.join(srv.dir, "custom-place"))
        custom.add(b"Subject: custom 1\n\na\n")
        custom.add(b"Subject: custom 2\n\nb\n")
        srv.add_user("olga", "pw", mail="maildir:" + custom.path)
        # %h comes from the passwd file's home field.
        srv.add_user("pete", "pw", extra="mail=maildir:%h/Other")
        other = Maildir(os.path.join(srv.users["pete"].home, "Other"))
        for i in range(3):
            other.add(b"Subject: other %d\n\nc\n" % i)
        srv.start(server={"mail": "maildir:%s/%%d/%%u" % root})
        for user, count in (("nora@example.org", 1), ("olga", 2),
                            ("pete", 3)):
            p = srv.login(user, "pw")
            try:
                self.assertEqual(p.stat()[0], count, user)
                p.quit()
            finally:
                p.close()

    def test_without_server_mail(self):
        """[server] mail is optional: a user whose passwd line gives a
        location logs in; one without gets [SYS/PERM] and the log says
        why."""
        srv = self.server(start=False)
        placed = Maildir(os.path.join(srv.dir, "placed"))
        placed.add(b"Subject: placed\n\nq\n")
        srv.add_user("quinn", "pw", mail="maildir:" + placed.path)
        srv.add_user("rosa", "pw", [b"Subject: lost\n\nr\n"])
        srv.start(server={"mail": None})
        p = srv.login("quinn", "pw")
        try:
            self.assertEqual(p.stat()[0], 1)
            p.quit()
        finally:
            p.close()
        mark = srv.log_mark()
        with Conn(srv.port) as c:
            c.greeting()
            self.assertOk(c.cmd("USER rosa"))
            self.assertErr(c.cmd("PASS pw"), "no mail location",
                           code="SYS/PERM")
            self.assertErr(c.cmd("STAT"), "no mailbox, no TRANSACTION")
            self.assertOk(c.cmd("QUIT"))
        srv.wait_for_log(r"no mail location is configured for rosa",
                         start=mark)
        self.assertEqual(len(srv.users["rosa"].maildir.files()), 1)


if __name__ == "__main__":
    poplartest.main()
