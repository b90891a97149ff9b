# SPDX-License-Identifier: MIT
"""Checks of master logins ([server] master-passdb) shared by the tests of
every password database that implements lookup_user: the master logs in
as a target with "USER target*master" and with SASL PLAIN's
authorization identity."""

import base64


def plain(authzid, authcid, password):
    """An AUTH PLAIN initial response (RFC 4616)."""
    return base64.b64encode(("%s\0%s\0%s" % (authzid, authcid, password))
                            .encode()).decode()


class MasterLoginChecks:
    """A mixin for poplartest.PoplarTestCase."""

    def assert_master_login(self, server, target, master, password,
                            messages):
        """@master logs in as @target both ways and finds @messages
        messages in the target's mailbox."""
        p = server.login("%s*%s" % (target, master), password)
        try:
            self.assertEqual(p.stat()[0], messages)
            p.quit()
        finally:
            p.close()
        server.wait_for_log(r"master login: user=%s master=%s mech=USER"
                            % (target, master))
        with server.conn() as c:
            c.greeting()
            self.assertOk(c.cmd("AUTH PLAIN " + plain(target, master,
                                                      password)))
            self.assertTrue(c.cmd("STAT").startswith("+OK %d " % messages))
            c.cmd("QUIT")
        server.wait_for_log(r"master login: user=%s master=%s mech=PLAIN"
                            % (target, master))

    def assert_master_login_refused(self, server, target, master, password):
        """Both ways of a master login as @target end in -ERR [AUTH]."""
        self.assertPopError(
            lambda: server.login("%s*%s" % (target, master), password),
            "AUTH")
        with server.conn() as c:
            c.greeting()
            self.assertErr(c.cmd("AUTH PLAIN " + plain(target, master,
                                                       password)),
                           code="AUTH")
            c.cmd("QUIT")
