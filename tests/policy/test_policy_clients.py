# SPDX-License-Identifier: MIT
"""Real clients that keep mail on the server, mpop and fetchmail (keep):
a message they retrieved and kept disappears once EXPIRE days have
passed; polling faster than LOGIN-DELAY gets [LOGIN-DELAY].  Each client
runs with its own state directory; time is moved by rewriting the
recorded times."""

import os
import shutil
import subprocess

import policytest
from policytest import DAY

CLIENT_TIMEOUT = 60


class Client:
    name = None

    def __init__(self, root, user, port):
        self.user = user
        self.port = port
        self.dir = os.path.join(root, "client-" + self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.out = os.path.join(self.dir, "delivered.mbox")
        open(self.out, "ab").close()

    def run(self):
        """(exit code, output) of one poll."""
        env = dict(os.environ)
        env["HOME"] = self.dir
        env["FETCHMAILHOME"] = self.dir
        r = subprocess.run(self.command(), capture_output=True,
                           timeout=CLIENT_TIMEOUT, stdin=subprocess.DEVNULL,
                           env=env, cwd=self.dir)
        return r.returncode, (r.stdout + r.stderr).decode(errors="replace")

    def delivered(self):
        with open(self.out, "rb") as f:
            return f.read().count(b"Subject: ")


class Mpop(Client):
    name = "mpop"

    def command(self):
        conf = os.path.join(self.dir, "mpoprc")
        if not os.path.exists(conf):
            with open(conf, "w") as f:
                f.write("")
            os.chmod(conf, 0o600)
        return ["mpop", "-C", conf, "--host=127.0.0.1",
                "--port=%d" % self.port, "--auth=user",
                "--user=" + self.user, "--passwordeval=echo pw",
                "--tls=off", "--keep=on", "--only-new=on",
                "--uidls-file=" + os.path.join(self.dir, "uidls"),
                "--delivery=mbox," + self.out, "--received-header=off",
                "--quiet"]


class Fetchmail(Client):
    name = "fetchmail"

    def command(self):
        rc = os.path.join(self.dir, "fetchmailrc")
        with open(rc, "w") as f:
            f.write(
                "set no bouncemail\n"
                "poll 127.0.0.1 with proto POP3 port %d uidl no dns\n"
                "  user \"%s\" there with password \"pw\" is \"%s\" here\n"
                "  options keep no sslcertck sslproto ''\n"
                "  mda \"/bin/sh -c 'cat >> %s'\"\n" % (
                    self.port, self.user, self.user, self.out))
        os.chmod(rc, 0o600)
        return ["fetchmail", "-f", rc, "-i", os.path.join(self.dir, "ids"),
                "--pidfile", os.path.join(self.dir, "pid"), "-N",
                "--nosyslog"]


class ClientsMixin:
    kind = None
    client = None

    def setUp(self):
        if shutil.which(self.client.name) is None:
            self.skipTest("%s is not installed" % self.client.name)

    def test_kept_messages_expire(self):
        s, boxes = self.policy_server(self.kind, server={"expire": "3"})
        client = self.client(s.dir, "frank", s.port)
        rc, out = client.run()
        self.assertEqual(rc, 0, out)
        self.assertEqual(client.delivered(), 3)
        box = boxes["frank"]
        self.assertEqual(box.count(), 3, "kept messages were removed")
        self.assertEqual(len(box.state()["retrieved"]), 3)
        box.move_time(3 * DAY)
        rc, out = client.run()
        self.assertIn(rc, (0, 1), out)  # 1: nothing new
        self.assertEqual(client.delivered(), 3, "messages fetched twice")
        self.assertEqual(box.count(), 0, "expired messages still there")

    def test_polling_too_fast(self):
        s, boxes = self.policy_server(self.kind,
                                      server={"login-delay": "600"})
        client = self.client(s.dir, "frank", s.port)
        rc, out = client.run()
        self.assertEqual(rc, 0, out)
        rc, out = client.run()
        self.assertNotIn(rc, (0, 1), out)
        self.assertIn("LOGIN-DELAY", out)
        boxes["frank"].move_time(600)
        rc, out = client.run()
        self.assertIn(rc, (0, 1), out)


class MpopMaildir(ClientsMixin, policytest.PolicyTestCase):
    kind, client = "maildir", Mpop


class MpopMbox(ClientsMixin, policytest.PolicyTestCase):
    kind, client = "mbox", Mpop


class FetchmailMaildir(ClientsMixin, policytest.PolicyTestCase):
    kind, client = "maildir", Fetchmail


class FetchmailMbox(ClientsMixin, policytest.PolicyTestCase):
    kind, client = "mbox", Fetchmail


if __name__ == "__main__":
    policytest.main()
