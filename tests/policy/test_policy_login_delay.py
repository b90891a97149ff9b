# SPDX-License-Identifier: MIT
"""LOGIN-DELAY enforced (RFC 2449 6.5) on Maildir and mbox: a login
sooner than the delay after the previous one gets -ERR [LOGIN-DELAY],
only after a correct password, and is not counted as a failed login; the
time is kept with the mailbox, so every server of it agrees."""

import policytest
from policytest import Conn


class LoginDelayMixin:
    kind = None

    def test_too_soon_then_allowed(self):
        s, boxes = self.policy_server(self.kind,
                                      server={"login-delay": "300"})
        self.assertOk(self.session(s))
        self.assertErr(self.login_reply(s), code="LOGIN-DELAY")
        # Real seconds pass too while the test runs: leave them room.
        boxes["frank"].move_time(240)
        self.assertErr(self.login_reply(s), code="LOGIN-DELAY")
        boxes["frank"].move_time(60)
        self.assertOk(self.login_reply(s))

    def test_wrong_password_never_hears_of_the_delay(self):
        s, _ = self.policy_server(self.kind, server={"login-delay": "300"})
        self.assertOk(self.session(s))
        self.assertErr(self.login_reply(s, password="wrong"), code="AUTH")

    def test_refusal_is_not_a_failed_login(self):
        """Four refusals on one connection: three failed logins would have
        closed it, and a throttled address would wait."""
        s, boxes = self.policy_server(
            self.kind, server={"login-delay": "300",
                               "auth-failure-delay": "10s"})
        self.assertOk(self.session(s))
        with Conn(s.port, timeout=5) as c:
            c.greeting()
            for _ in range(4):
                self.assertOk(c.cmd("USER frank"))
                self.assertErr(c.cmd("PASS pw"), code="LOGIN-DELAY")
            boxes["frank"].move_time(300)
            self.assertOk(c.cmd("USER frank"))
            self.assertOk(c.cmd("PASS pw"))
            self.assertOk(c.cmd("QUIT"))

    def test_refused_login_is_not_recorded(self):
        s, boxes = self.policy_server(self.kind,
                                      server={"login-delay": "300"})
        self.assertOk(self.session(s))
        first = boxes["frank"].state()["login"]
        self.assertErr(self.login_reply(s), code="LOGIN-DELAY")
        self.assertEqual(boxes["frank"].state()["login"], first)

    def test_two_nodes_agree(self):
        s1, boxes = self.policy_server(self.kind,
                                       server={"login-delay": "60"})
        s2 = self.second_node(s1)
        self.assertOk(self.session(s1))
        self.assertErr(self.login_reply(s2), code="LOGIN-DELAY")
        boxes["frank"].move_time(60)
        self.assertOk(self.login_reply(s2))
        self.assertErr(self.login_reply(s1), code="LOGIN-DELAY")

    def test_per_user_value(self):
        s, boxes = self.policy_server(
            self.kind, server={"login-delay": "600"},
            users={"frank": [], "grace": []},
            extra={"grace": "login-delay=0"})
        for _ in range(2):
            self.assertOk(self.session(s, "grace"))
        self.assertOk(self.session(s, "frank"))
        self.assertErr(self.login_reply(s, "frank"), code="LOGIN-DELAY")


class LoginDelayMaildir(LoginDelayMixin, policytest.PolicyTestCase):
    kind = "maildir"


class LoginDelayMbox(LoginDelayMixin, policytest.PolicyTestCase):
    kind = "mbox"


if __name__ == "__main__":
    policytest.main()
