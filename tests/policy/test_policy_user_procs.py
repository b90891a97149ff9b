# SPDX-License-Identifier: MIT
"""EXPIRE and LOGIN-DELAY for a user with a uid of their own, whose
session goes on in a process of that uid after the password check: the
state file is written there, as that uid, and a LOGIN-DELAY refusal
comes from there too.  Root only (there are no uids to switch to
otherwise)."""

import os
import pwd
import unittest

import policytest
from policytest import Conn

UID = 61021
WORKER = "nobody"


@unittest.skipUnless(os.geteuid() == 0, "switching uids needs root")
class PolicyUidUser(policytest.PolicyTestCase):

    def start(self, **keys):
        s = self.server(start=False)
        os.chmod(s.dir, 0o755)  # the user traverses it to reach the home
        u = s.add_user("ulla", "pw", policytest.MESSAGES,
                       extra="uid=%d gid=%d" % (UID, UID))
        os.chmod(os.path.dirname(u.home), 0o755)
        for root, dirs, files in os.walk(u.home):
            for n in dirs + files:
                os.lchown(os.path.join(root, n), UID, UID)
        os.chown(u.home, UID, UID)
        os.chmod(u.home, 0o700)
        os.chown(s.passwd, pwd.getpwnam(WORKER).pw_uid, -1)
        server = {"user": WORKER, "group": "nogroup", "allow-root": None,
                  "user-process-idle": "1s"}
        server.update(keys)
        s.write_config(load=policytest.PLUGINS, server=server)
        s.start()
        return s, policytest.Mailbox("maildir", u)

    def test_expire_written_as_the_user(self):
        s, box = self.start(expire="0")
        self.assertIn("1 messages deleted", self.session(s, "ulla", [2]))
        self.assertEqual(box.count(), 2)
        self.assertEqual(os.stat(box.state_path).st_uid, UID)

    def test_login_delay_refused_in_the_user_process(self):
        s, box = self.start(**{"login-delay": "300"})
        self.assertOk(self.session(s, "ulla"))
        with Conn(s.port) as c:
            c.greeting()
            self.assertOk(c.cmd("USER ulla"))
            self.assertErr(c.cmd("PASS pw"), code="LOGIN-DELAY")
            self.assertTrue(c.wait_closed(10))
        box.move_time(300)
        self.assertOk(self.session(s, "ulla"))


if __name__ == "__main__":
    policytest.main()
