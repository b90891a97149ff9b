#!/usr/bin/env python3
"""Moving an mbox from Dovecot 2.3 to Poplar: Dovecot's POP3 and IMAP keep
each message's UID in the mbox (X-IMAPbase in the first message, X-UID in
each); with [store-mbox] uidl-format = %08Xu%08Xv, Poplar shows exactly
Dovecot's UIDLs from them without writing to the mbox, so mpop, fetchmail
and getmail6, which keep mail on the server, download nothing again; mail
delivered after the switch is downloaded once; and the folder-data message
Dovecot writes into an emptied mbox is never listed."""
import os
import poplib
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import migrationtest as mt  # noqa: E402

DOVECOT_FORMAT = "%08Xu%08Xv"


class MboxDovecot(mt.Dovecot):
    """The private Dovecot of migrationtest, serving ~/mbox as INBOX."""

    def __init__(self, root, user):
        super().__init__(root, user)
        folders = os.path.join(user.home, "mail")
        os.makedirs(folders, exist_ok=True)
        user.chown(folders)
        with open(self.conf) as f:
            text = f.read()
        text = text.replace(
            "mail_location = maildir:~/Maildir\n",
            "mail_location = mbox:~/mail:INBOX=~/mbox\n"
            "pop3_uidl_format = %s\n" % DOVECOT_FORMAT)
        with open(self.conf, "w") as f:
            f.write(text)


def deliver_plain(user, test_id):
    """Appends a message as Postfix or procmail do (no Dovecot header)."""
    path = os.path.join(user.home, "mbox")
    stamp = time.strftime("%a %b %e %H:%M:%S %Y", time.gmtime())
    with open(path, "ab") as f:
        f.write(b"From sender@example.org  " + stamp.encode() + b"\n" +
                mt.message(test_id) + b"\n")
    user.chown(path)
    os.chmod(path, 0o600)


def poplar_server(root, port, user, uidl_format=DOVECOT_FORMAT):
    srv = mt.poplartest.Server(tmp_root=root)
    srv._passwd_lines.append("%s:{PLAIN}%s:%d:%d::%s::" % (
        user.name, user.password, user.uid, user.gid, user.home))
    srv._write_passwd()
    keys = {"uidl-format": uidl_format} if uidl_format else {}
    srv.write_config(server={"listen": "%s:%d" % (mt.HOST, port),
                             "mail": "mbox:%h/mbox"},
                     load=["auth-passwd-file", "store-mbox"],
                     sections={"store-mbox": keys})
    return srv


class DovecotMboxToPoplar(unittest.TestCase):

    def setUp(self):
        why = mt.Dovecot.missing()
        if why:
            self.skipTest(why)
        self.root = tempfile.mkdtemp(prefix="poplar-migration-")
        os.chmod(self.root, 0o755)
        self.user = mt.MailUser(self.root)
        self.mbox = os.path.join(self.user.home, "mbox")
        self.index = os.path.join(self.user.home, ".mbox.poplar-index")
        self.dovecot = MboxDovecot(self.root, self.user)
        self.poplar = None

    def tearDown(self):
        if self.poplar is not None and self.poplar.alive():
            self.poplar.stop()
        self.dovecot.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def start_poplar(self, port, uidl_format=DOVECOT_FORMAT):
        if self.poplar is not None and self.poplar.alive():
            self.poplar.stop()
        self.poplar = poplar_server(self.root, port, self.user, uidl_format)
        self.poplar.start()

    def clients(self):
        out = [cls(self.root, self.user) for cls in mt.CLIENTS
               if cls.missing() is None]
        if not out:
            self.skipTest("none of mpop, fetchmail, getmail is installed")
        return out

    def fetch_all(self, clients, port):
        return {c.name: c.run(port) for c in clients}

    def read_mbox(self):
        with open(self.mbox, "rb") as f:
            return f.read()

    def test_same_uidls_and_nothing_downloaded_twice(self):
        clients = self.clients()
        for i in range(3):
            deliver_plain(self.user, "old-%d" % i)
        self.dovecot.start()
        port = self.dovecot.pop3_port
        self.assertEqual(self.fetch_all(clients, port),
                         {c.name: 3 for c in clients})
        # Through Dovecot's LDA (which writes X-UID itself) and through an
        # MTA (which does not; Dovecot's next session does).
        self.dovecot.deliver("lda-0")
        deliver_plain(self.user, "late-0")
        self.dovecot.deliver("lda-1")
        self.assertEqual(self.fetch_all(clients, port),
                         {c.name: 3 for c in clients})
        dovecot_list = mt.pop3_uidls(port, self.user)
        self.assertEqual(len(dovecot_list), 6)
        self.dovecot.stop()
        text = self.read_mbox()
        self.assertIn(b"\nX-IMAPbase: ", text)
        self.assertEqual(text.count(b"\nX-UID: "), 6)

        self.start_poplar(port)
        self.assertEqual(mt.pop3_uidls(port, self.user), dovecot_list)
        self.assertEqual(self.read_mbox(), text, "Poplar wrote to the mbox")
        self.assertEqual(self.fetch_all(clients, port),
                         {c.name: 0 for c in clients})

        # Mail delivered after the switch, without Dovecot: each new
        # message once.
        for i in range(2):
            deliver_plain(self.user, "new-%d" % i)
        self.assertEqual(self.fetch_all(clients, port),
                         {c.name: 2 for c in clients})
        self.assertEqual(self.fetch_all(clients, port),
                         {c.name: 0 for c in clients})
        shown = mt.pop3_uidls(port, self.user)
        self.assertEqual(shown[:6], dovecot_list)
        self.assertEqual([t for _, t in shown[6:]], ["new-0", "new-1"])

        # Neither a restart, nor editing uidl-format, nor losing the index
        # changes what a client has seen.
        self.start_poplar(port, uidl_format="%u")
        self.assertEqual(mt.pop3_uidls(port, self.user), shown)
        self.poplar.stop()
        os.unlink(self.index)
        self.start_poplar(port)
        self.assertEqual(mt.pop3_uidls(port, self.user), shown)
        self.assertEqual(self.fetch_all(clients, port),
                         {c.name: 0 for c in clients})
        self.assertEqual(self.dovecot.log_problems(), [])

    def test_folder_data_message_is_never_listed(self):
        for i in range(2):
            deliver_plain(self.user, "gone-%d" % i)
        self.dovecot.start()
        port = self.dovecot.pop3_port
        # A client that does not keep mail: Dovecot empties the mbox and
        # keeps its UIDVALIDITY and last UID in a message of its own.
        p = poplib.POP3(mt.HOST, port, timeout=30)
        p.user(self.user.name)
        p.pass_(self.user.password)
        for num in (1, 2):
            p.dele(num)
        p.quit()
        self.dovecot.deliver("kept-0")
        self.dovecot.deliver("kept-1")
        dovecot_list = mt.pop3_uidls(port, self.user)
        self.assertEqual([t for _, t in dovecot_list], ["kept-0", "kept-1"])
        self.dovecot.stop()
        text = self.read_mbox()
        self.assertIn(b"FOLDER INTERNAL DATA", text)
        self.assertIn(b"\nX-IMAP: ", text)

        self.start_poplar(port)
        self.assertEqual(mt.pop3_uidls(port, self.user), dovecot_list)
        # Deleting every message Poplar lists keeps the folder data.
        p = poplib.POP3(mt.HOST, port, timeout=30)
        p.user(self.user.name)
        p.pass_(self.user.password)
        self.assertEqual(p.stat()[0], 2)
        p.dele(1)
        p.dele(2)
        p.quit()
        deliver_plain(self.user, "after")
        shown = mt.pop3_uidls(port, self.user)
        self.assertEqual([t for _, t in shown], ["after"])
        text = self.read_mbox()
        self.assertTrue(text.startswith(b"From MAILER"), text[:80])
        self.assertIn(b"FOLDER INTERNAL DATA", text)

        # Without uidl-format too (the default UIDLs), it is not mail.
        self.start_poplar(port, uidl_format=None)
        self.assertEqual(mt.pop3_uidls(port, self.user), shown)


if __name__ == "__main__":
    mt.poplartest.require_environment()
    unittest.main(verbosity=2)
