# SPDX-License-Identifier: MIT
"""Helpers for the mail policy tests (EXPIRE, LOGIN-DELAY, CAPA, UTF8):
a poplard whose users keep their mail in a Maildir or in an mbox, the
policy state file of a user's mailbox, and time moved by rewriting the
times recorded there (never by sleeping).

The poplard harness is tests/integration/poplartest.py."""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import poplartest  # noqa: E402
from poplartest import Conn, crlf  # noqa: E402,F401

PLUGINS = ["auth-passwd-file", "store-maildir", "store-mbox"]
DAY = 86400

M1 = b"Subject: one\n\nfirst message\n"
M2 = b"Subject: two\n\nsecond message\n"
M3 = b"Subject: three\n\nthird message\n"
MESSAGES = [M1, M2, M3]


def mbox_text(messages):
    out = b""
    for i, m in enumerate(messages):
        out += b"From sender@example.org  Mon Nov 13 22:13:%02d 2023\n" % i
        out += m if m.endswith(b"\n") else m + b"\n"
        out += b"\n"
    return out


class Mailbox:
    """A user's mailbox in either store, as the tests look at it."""

    def __init__(self, kind, user):
        self.kind = kind
        self.user = user
        if kind == "maildir":
            self.state_path = os.path.join(user.maildir.path,
                                           "poplar-retrieved")
        else:
            self.path = os.path.join(user.home, "mbox")
            self.state_path = os.path.join(user.home,
                                           ".mbox.poplar-retrieved")

    def count(self):
        if self.kind == "maildir":
            return len(self.user.maildir.files())
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return 0
        return len(re.findall(rb"(?:^|\n)From ", data))

    def state(self):
        """{"login": t or None, "retrieved": {uidl: t}} from the file."""
        out = {"login": None, "retrieved": {}}
        try:
            with open(self.state_path) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return out
        for line in lines[1:]:
            words = line.split(" ")
            if words[0] == "login":
                out["login"] = max(out["login"] or 0, int(words[1]))
            elif words[0] == "retrieved":
                t = int(words[1])
                out["retrieved"][words[2]] = min(
                    out["retrieved"].get(words[2], t), t)
        return out

    def move_time(self, seconds):
        """Makes every recorded time @seconds older, as if that much time
        had passed."""
        with open(self.state_path) as f:
            lines = f.read().splitlines()
        out = [lines[0]]
        for line in lines[1:]:
            words = line.split(" ")
            if words[0] in ("login", "retrieved"):
                words[1] = str(int(words[1]) - seconds)
            out.append(" ".join(words))
        st = os.stat(self.state_path)
        tmp = self.state_path + ".test"
        with open(tmp, "w") as f:
            f.write("\n".join(out) + "\n")
        # Still the file of whoever wrote it (a user with their own uid).
        os.chown(tmp, st.st_uid, st.st_gid)
        os.chmod(tmp, st.st_mode & 0o7777)
        os.replace(tmp, self.state_path)


class PolicyTestCase(poplartest.PoplarTestCase):

    def policy_server(self, kind="maildir", server=None, users=None,
                      start=True, extra=None):
        """A poplard serving @users ({name: messages}, password "pw") from
        @kind ("maildir" or "mbox") with [server] keys @server.  @extra
        maps a user name to extra passwd fields.  Returns (server,
        {name: Mailbox})."""
        s = self.server(start=False)
        keys = {"mail": "maildir:%h/Maildir" if kind == "maildir"
                else "mbox:%h/mbox"}
        keys.update(server or {})
        s.policy_keys = keys
        boxes = {}
        for name, messages in (users or {"frank": MESSAGES}).items():
            u = s.add_user(name, "pw",
                           messages if kind == "maildir" else (),
                           extra=(extra or {}).get(name))
            if kind == "mbox":
                with open(os.path.join(u.home, "mbox"), "wb") as f:
                    f.write(mbox_text(messages))
            boxes[name] = Mailbox(kind, u)
        s.write_config(load=PLUGINS, server=keys)
        if start:
            s.start()
        return s, boxes

    def second_node(self, first):
        """Another poplard serving the same users and mail as @first."""
        s = self.server(start=False)
        s.write_config(load=PLUGINS, server=first.policy_keys,
                       sections={"auth-passwd-file": {"path": first.passwd}})
        s.start()
        return s

    def session(self, s, user="frank", retr=(), quit=True):
        """Logs in, RETRs @retr, then QUITs (or drops the connection).
        Returns the QUIT reply (or None)."""
        c = Conn(s.port)
        try:
            c.login(user, "pw")
            for n in retr:
                status, _ = c.multi("RETR %d" % n)
                self.assertOk(status, "RETR %d" % n)
            if quit:
                return c.cmd("QUIT")
            return None
        finally:
            c.close()

    def login_reply(self, s, user="frank", password="pw"):
        """The reply to PASS, and the connection closed after QUIT."""
        with Conn(s.port) as c:
            c.greeting()
            self.assertOk(c.cmd("USER " + user))
            reply = c.cmd("PASS " + password)
            c.cmd("QUIT")
            return reply


def main():
    poplartest.main()
