#!/usr/bin/env python3
"""Log lines carry what a client sent escaped: a user name with 0x9B
(CSI to an 8-bit terminal), ESC and invalid UTF-8 reaches the log as
\\xHH, while valid UTF-8 such as é stays as it is."""
import base64
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "integration"))
import poplartest  # noqa: E402


class LogEscapeTest(unittest.TestCase):
    def setUp(self):
        self.srv = poplartest.Server()
        self.srv.add_user("alice", "pw")
        self.srv.start()

    def tearDown(self):
        self.srv.stop()
        self.srv.cleanup()

    def test_user_names_escaped(self):
        cases = [
            (b"a\x9b31mb", r"user=a\\x9B31mb "),
            (b"e\x1b[2Jv", r"user=e\\x1B\[2Jv "),
            (b"x\xc3(y", r"user=x\\xC3\(y "),
            ("jos\u00e9".encode(), "user=jos\u00e9 "),
        ]
        for name, pattern in cases:
            with self.subTest(name=name):
                mark = self.srv.log_mark()
                # AUTH PLAIN: SASL carries any octet but NUL.
                token = base64.b64encode(b"\0" + name + b"\0wrong")
                with self.srv.conn() as c:
                    c.greeting()
                    c.sock.sendall(b"AUTH PLAIN " + token + b"\r\n")
                    self.assertTrue(c.reply().startswith("-ERR"))
                m = self.srv.wait_for_log(r"login failed: " + pattern,
                                          start=mark)
                line = m.string
                self.assertNotIn("\x1b", line)
                self.assertNotIn("\x9b", line)
                self.assertNotIn("\ufffd", line)  # no raw invalid UTF-8


if __name__ == "__main__":
    unittest.main(verbosity=2)
