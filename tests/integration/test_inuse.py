# SPDX-License-Identifier: MIT
"""RFC 2449/3206 [IN-USE]: one session per mailbox; the lock is released by
QUIT and by a dropped connection."""


import poplartest
from poplartest import Conn

M1 = b"Subject: one\n\nbody\n"
M2 = b"Subject: two\n\nbody\n"


class InUseTest(poplartest.PoplarTestCase):

    def setUp(self):
        self.srv = self.server(start=False)
        self.user = self.srv.add_user("gina", "pw", [M1, M2])
        self.other = self.srv.add_user("hank", "pw", [M1])
        self.srv.start()

    def first_session(self):
        c = Conn(self.srv.port)
        self.addCleanup(c.close)
        c.login("gina", "pw")
        self.assertOk(c.cmd("DELE 1"))
        return c

    def assert_in_use(self):
        with Conn(self.srv.port) as c:
            c.greeting()
            self.assertOk(c.cmd("USER gina"))
            reply = c.cmd("PASS pw")
            self.assertErr(reply, "second login to a busy mailbox",
                           code="IN-USE")
            # Still in AUTHORIZATION: no mailbox commands, QUIT works.
            self.assertErr(c.cmd("STAT"), "STAT after [IN-USE]")
            self.assertOk(c.cmd("QUIT"))

    def test_second_login_gets_in_use(self):
        first = self.first_session()
        self.assert_in_use()
        # With poplib too.
        p = self.srv.pop()
        try:
            p.user("gina")
            self.assertPopError(lambda: p.pass_("pw"), code="IN-USE")
        finally:
            p.close()
        # Another user's mailbox is not affected.
        p = self.srv.login(self.other)
        try:
            self.assertEqual(p.stat()[0], 1)
            p.quit()
        finally:
            p.close()
        # The first session is unaffected by the refused logins.
        self.assertEqual(first.cmd("STAT").split()[:2], ["+OK", "1"])
        self.assertOk(first.cmd("QUIT"))

    def test_login_after_quit(self):
        first = self.first_session()
        self.assert_in_use()
        self.assertOk(first.cmd("QUIT"))
        # The lock goes before +OK: no waiting for the close.
        p = self.srv.login(self.user)
        try:
            self.assertEqual(p.stat()[0], 1, "DELE 1 + QUIT removed one")
            p.quit()
        finally:
            p.close()

    def test_quit_then_login_at_once(self):
        """A client that logs in again the moment QUIT is answered always
        finds its mailbox free."""
        for i in range(100):
            p = self.srv.login(self.user)
            try:
                p.uidl()
                self.assertTrue(p.quit().startswith(b"+OK"))
            finally:
                p.close()

    def test_login_after_drop(self):
        first = self.first_session()
        self.assert_in_use()
        first.close()  # no QUIT
        p = poplartest.login_when_free(self.srv, self.user)
        try:
            self.assertEqual(p.stat()[0], 2, "a dropped session deletes "
                             "nothing")
            p.quit()
        finally:
            p.close()

    def test_login_after_server_restart(self):
        """A session cut by a server shutdown leaves no lock behind."""
        first = self.first_session()
        self.srv.restart()
        first.close()
        p = self.srv.login(self.user)
        try:
            self.assertEqual(p.stat()[0], 2)
            p.quit()
        finally:
            p.close()

    def test_login_after_server_crash(self):
        """A lock left by a crashed server is recognised as stale: the
        mailbox is not [IN-USE] for ever, and nothing was deleted."""
        first = self.first_session()
        self.srv.crash()
        first.close()
        self.srv.start()
        p = self.srv.login(self.user)
        try:
            self.assertEqual(p.stat()[0], 2)
            p.quit()
        finally:
            p.close()


if __name__ == "__main__":
    poplartest.main()
