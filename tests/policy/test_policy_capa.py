# SPDX-License-Identifier: MIT
"""RFC 2449 section 5: the AUTHORIZATION capabilities (USER, SASL, STLS,
UTF8) are announced in both states; LOGIN-DELAY and EXPIRE carry USER
before login and the user's own values after it.  RFC 6856 UTF8."""

import policytest
from policytest import Conn


def capabilities(conn):
    status, body = conn.multi("CAPA")
    if not status.startswith("+OK"):
        raise AssertionError("CAPA: %r" % status)
    return {line.split(" ")[0].upper(): line
            for line in body.decode("ascii").splitlines()}


AUTHORIZATION_CAPS = ("USER", "SASL", "UTF8")


class CapaBothStates(policytest.PolicyTestCase):

    def before_after(self, s, user="frank"):
        with Conn(s.port) as c:
            c.greeting()
            before = capabilities(c)
            self.assertOk(c.cmd("USER " + user))
            self.assertOk(c.cmd("PASS pw"))
            after = capabilities(c)
            self.assertOk(c.cmd("QUIT"))
        return before, after

    def test_authorization_capabilities_in_both_states(self):
        s, _ = self.policy_server()
        before, after = self.before_after(s)
        for cap in AUTHORIZATION_CAPS:
            self.assertIn(cap, before)
            self.assertEqual(before.get(cap), after.get(cap),
                             "%s differs after login" % cap)

    def test_server_values_with_user_form_then_user_values(self):
        s, _ = self.policy_server(
            server={"expire": "30", "login-delay": "0"},
            users={"frank": [], "grace": []},
            extra={"grace": "expire=7 login-delay=60"})
        before, after = self.before_after(s, "frank")
        self.assertEqual(before["EXPIRE"], "EXPIRE 30 USER")
        self.assertEqual(before["LOGIN-DELAY"], "LOGIN-DELAY 0 USER")
        self.assertEqual(after["EXPIRE"], "EXPIRE 30")
        self.assertEqual(after["LOGIN-DELAY"], "LOGIN-DELAY 0")
        before, after = self.before_after(s, "grace")
        self.assertEqual(before["EXPIRE"], "EXPIRE 30 USER")
        self.assertEqual(after["EXPIRE"], "EXPIRE 7")
        self.assertEqual(after["LOGIN-DELAY"], "LOGIN-DELAY 60")

    def test_never_has_no_user_form(self):
        s, _ = self.policy_server(server={"expire": "never"})
        before, after = self.before_after(s)
        self.assertEqual(before["EXPIRE"], "EXPIRE NEVER")
        self.assertEqual(after["EXPIRE"], "EXPIRE NEVER")

    def test_bad_user_value_falls_back_to_server(self):
        s, _ = self.policy_server(server={"expire": "5"},
                                  extra={"frank": "expire=soon"})
        _, after = self.before_after(s)
        self.assertEqual(after["EXPIRE"], "EXPIRE 5")
        s.wait_for_log(r"field expire=soon of frank is not valid")


class Utf8(policytest.PolicyTestCase):

    def test_utf8_user_name_after_utf8(self):
        s, _ = self.policy_server(users={"jürgen": [policytest.M1]})
        with Conn(s.port) as c:
            c.greeting()
            self.assertOk(c.cmd("UTF8"))
            self.assertOk(c.cmd("USER jürgen"))
            self.assertOk(c.cmd("PASS pw"))
            self.assertOk(c.cmd("STAT"))
            self.assertOk(c.cmd("QUIT"))

    def test_invalid_utf8_refused_clearly(self):
        s, _ = self.policy_server()
        with Conn(s.port) as c:
            c.greeting()
            self.assertOk(c.cmd("UTF8"))
            c.send(b"USER fr\xe4nk\r\n")
            reply = c.reply()
            self.assertErr(reply)
            self.assertIn("UTF-8", reply)
            c.send(b"USER frank\r\n")
            self.assertOk(c.reply())
            c.send(b"PASS p\xffw\r\n")
            reply = c.reply()
            self.assertErr(reply)
            self.assertIn("UTF-8", reply)
            # The session goes on: USER is still known.
            self.assertOk(c.cmd("PASS pw"))
            self.assertOk(c.cmd("QUIT"))

    def test_utf8_only_before_login(self):
        s, _ = self.policy_server()
        with Conn(s.port) as c:
            c.login("frank", "pw")
            self.assertErr(c.cmd("UTF8"))
            self.assertOk(c.cmd("QUIT"))

    def test_eight_bit_without_utf8_unchanged(self):
        """Without UTF8 the octets pass as before (legacy 8-bit names):
        a wrong login, not a UTF-8 error."""
        s, _ = self.policy_server()
        with Conn(s.port) as c:
            c.greeting()
            c.send(b"USER fr\xe4nk\r\n")
            self.assertOk(c.reply())
            reply = c.cmd("PASS pw")
            self.assertErr(reply, code="AUTH")


if __name__ == "__main__":
    policytest.main()
