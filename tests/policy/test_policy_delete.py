# SPDX-License-Identifier: MIT
"""Recoverable deletes, [server] delete = unlink | trash:FOLDER | hide:
on Maildir, trash moves a deleted message into a Maildir++ folder and
hide keeps it in cur/ with the T flag, never listed again; a maildirsize
quota file is told of what unlink frees.  mbox mailboxes refuse trash and
hide and keep the mail."""

import os
import subprocess

import policytest
from policytest import Conn


def names(path):
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []


class DeleteModes(policytest.PolicyTestCase):

    def dele_quit(self, s, numbers, user="frank"):
        with Conn(s.port) as c:
            c.login(user, "pw")
            status, body = c.multi("UIDL")
            uidls = dict(l.split() for l in body.decode().splitlines())
            for n in numbers:
                self.assertOk(c.cmd("DELE %d" % n))
            reply = c.cmd("QUIT")
        return reply, uidls

    def uidls(self, s, user="frank"):
        with Conn(s.port) as c:
            c.login(user, "pw")
            _, body = c.multi("UIDL")
            c.cmd("QUIT")
        return [l.split()[1] for l in body.decode().splitlines()]

    def test_unlink_is_the_default(self):
        s, boxes = self.policy_server()
        maildir = boxes["frank"].user.maildir.path
        reply, _ = self.dele_quit(s, [1])
        self.assertOk(reply)
        self.assertEqual(boxes["frank"].count(), 2)
        self.assertEqual([n for n in names(maildir) if n.startswith(".")],
                         [])

    def test_trash_moves_into_a_new_maildir_folder(self):
        s, boxes = self.policy_server(server={"delete": "trash:.Trash"})
        maildir = boxes["frank"].user.maildir.path
        before = names(os.path.join(maildir, "cur")) + \
            names(os.path.join(maildir, "new"))
        reply, uidls = self.dele_quit(s, [2])
        self.assertIn("1 messages deleted", reply)
        trash = os.path.join(maildir, ".Trash")
        for sub in ("cur", "new", "tmp"):
            self.assertTrue(os.path.isdir(os.path.join(trash, sub)), sub)
        self.assertTrue(os.path.isfile(os.path.join(trash, "maildirfolder")))
        moved = names(os.path.join(trash, "cur")) + \
            names(os.path.join(trash, "new"))
        self.assertEqual(len(moved), 1)
        self.assertIn(moved[0].split(":")[0],
                      [b.split(":")[0] for b in before])
        with open(os.path.join(trash, "cur", moved[0]), "rb") as f:
            self.assertEqual(f.read(), policytest.M2)
        self.assertEqual(self.uidls(s), [uidls["1"], uidls["3"]])

    def test_trash_into_an_existing_folder(self):
        s, boxes = self.policy_server(server={"delete": "trash:.Deleted"})
        maildir = boxes["frank"].user.maildir.path
        trash = os.path.join(maildir, ".Deleted")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(trash, sub))
        with open(os.path.join(trash, "cur", "old:2,S"), "w") as f:
            f.write("Subject: old\n\nold\n")
        self.assertOk(self.dele_quit(s, [1, 3])[0])
        self.assertEqual(len(names(os.path.join(trash, "cur"))), 3)

    def test_hide_keeps_the_file_never_listed_and_undo_works(self):
        s, boxes = self.policy_server(server={"delete": "hide"})
        cur = os.path.join(boxes["frank"].user.maildir.path, "cur")
        reply, uidls = self.dele_quit(s, [1])
        self.assertIn("1 messages deleted", reply)
        files = names(cur) + names(os.path.join(
            boxes["frank"].user.maildir.path, "new"))
        self.assertEqual(len(files), 3, "hide removed a file")
        hidden = [f for f in names(cur) if "T" in f.split(":2,")[-1]]
        self.assertEqual(len(hidden), 1)
        self.assertEqual(self.uidls(s), [uidls["2"], uidls["3"]])
        # An IMAP user clears the flag: POP3 sees it again, same UIDL.
        undone = hidden[0].replace("T", "")
        os.rename(os.path.join(cur, hidden[0]), os.path.join(cur, undone))
        self.assertEqual(sorted(self.uidls(s)), sorted(uidls.values()))

    def test_hidden_flags_stay_sorted(self):
        s, boxes = self.policy_server(server={"delete": "hide"},
                                      users={"frank": []})
        md = boxes["frank"].user.maildir
        md.add(b"Subject: x\n\nx\n", subdir="cur", unique="1700000000.x.h",
               info="FS")
        self.assertOk(self.dele_quit(s, [1])[0])
        self.assertEqual(names(os.path.join(md.path, "cur")),
                         ["1700000000.x.h:2,FST"])

    def test_maildirsize_told_of_unlink_only(self):
        for mode, told in (("unlink", True), ("hide", False),
                           ("trash:.Trash", False)):
            s, boxes = self.policy_server(server={"delete": mode})
            quota = os.path.join(boxes["frank"].user.maildir.path,
                                 "maildirsize")
            with open(quota, "w") as f:
                f.write("1000000S\n99 3\n")
            self.assertOk(self.dele_quit(s, [1, 2])[0])
            with open(quota) as f:
                lines = f.read().splitlines()
            if told:
                size = len(policytest.M1) + len(policytest.M2)
                self.assertEqual(lines[2:], ["-%d -2" % size], mode)
            else:
                self.assertEqual(lines[2:], [], mode)

    def test_no_maildirsize_is_created(self):
        s, boxes = self.policy_server()
        self.assertOk(self.dele_quit(s, [1])[0])
        self.assertFalse(os.path.exists(os.path.join(
            boxes["frank"].user.maildir.path, "maildirsize")))

    def test_expire_with_hide(self):
        s, boxes = self.policy_server(server={"delete": "hide",
                                              "expire": "0"})
        self.assertIn("1 messages deleted", self.session(s, retr=[3]))
        self.assertEqual(len(self.uidls(s)), 2)
        self.assertEqual(len(names(os.path.join(
            boxes["frank"].user.maildir.path, "cur"))), 3)

    def test_mbox_refuses_trash_and_hide_and_keeps_mail(self):
        for mode in ("hide", "trash:.Trash"):
            s, boxes = self.policy_server("mbox", server={"delete": mode})
            reply, _ = self.dele_quit(s, [1])
            self.assertErr(reply, code="SYS/PERM")
            self.assertEqual(boxes["frank"].count(), 3)
            s.wait_for_log(r"mbox mailboxes need delete = unlink")
            # and the administrator heard of it when the server started
            s.wait_for_log(r"warning: .*delete.*mbox mailboxes can only "
                           r"unlink")

    def test_bad_values_refused_at_start(self):
        s, _ = self.policy_server(start=False)
        for value in ("trash", "trash:Trash", "trash:.", "trash:..",
                      "trash:.a/b", "remove"):
            conf = s.write_config(load=policytest.PLUGINS,
                                  server=dict(s.policy_keys, delete=value))
            r = subprocess.run([policytest.poplartest.POPLARD,
                                "--check-config", "-c", conf],
                               capture_output=True, timeout=30,
                               stdin=subprocess.DEVNULL)
            out = (r.stdout + r.stderr).decode(errors="replace")
            self.assertNotEqual(r.returncode, 0, value)
            self.assertRegex(out, r"poplar\.conf:\d+.*delete", value)


if __name__ == "__main__":
    policytest.main()
