#!/usr/bin/env python3
"""Moving a Maildir from Dovecot 2.3 to Poplar: with uidl-format =
%08Xu%08Xv, Poplar shows exactly Dovecot's UIDLs, so mpop, fetchmail and
getmail6, which keep mail on the server, download nothing again; new mail
is downloaded once; Dovecot's IMAP on the same Maildir agrees on every UID;
and a UIDL once shown never changes, even when uidl-format is edited or
dovecot-uidlist is lost."""
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import migrationtest as mt  # noqa: E402

DOVECOT_FORMAT = "%08Xu%08Xv"


class DovecotToPoplar(unittest.TestCase):

    def setUp(self):
        why = mt.Dovecot.missing()
        if why:
            self.skipTest(why)
        self.root = tempfile.mkdtemp(prefix="poplar-migration-")
        os.chmod(self.root, 0o755)
        self.user = mt.MailUser(self.root)
        self.dovecot = mt.Dovecot(self.root, self.user)
        self.poplar = None

    def tearDown(self):
        if self.poplar is not None and self.poplar.alive():
            self.poplar.stop()
        self.dovecot.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def start_poplar(self, uidl_format=DOVECOT_FORMAT, port=None):
        if self.poplar is not None and self.poplar.alive():
            self.poplar.stop()
        self.poplar = mt.poplar_server(
            self.root, port or self.dovecot.pop3_port, uidl_format,
            user=self.user)
        self.poplar.start()
        return self.poplar.port

    def clients(self):
        out = []
        for cls in mt.CLIENTS:
            if cls.missing() is None:
                out.append(cls(self.root, self.user))
        if not out:
            self.skipTest("none of mpop, fetchmail, getmail is installed")
        return out

    def fetch_all(self, clients, port):
        return {c.name: c.run(port) for c in clients}

    def test_same_uidls_and_nothing_downloaded_twice(self):
        clients = self.clients()
        for i in range(5):
            self.dovecot.deliver("old-%d" % i)
        self.dovecot.start()
        port = self.dovecot.pop3_port
        self.assertEqual(self.fetch_all(clients, port),
                         {c.name: 5 for c in clients})
        for i in range(2):
            self.dovecot.deliver("old-late-%d" % i)
        self.assertEqual(self.fetch_all(clients, port),
                         {c.name: 2 for c in clients})
        dovecot_list = mt.pop3_uidls(port, self.user)
        self.assertEqual(len(dovecot_list), 7)
        self.dovecot.stop()

        self.start_poplar()
        self.assertEqual(mt.pop3_uidls(port, self.user), dovecot_list)
        self.assertEqual(self.fetch_all(clients, port),
                         {c.name: 0 for c in clients})

        # Mail delivered after the switch, without Dovecot: each new
        # message once.
        for i in range(3):
            self.user.deliver_plain("new-%d" % i, i)
        self.assertEqual(self.fetch_all(clients, port),
                         {c.name: 3 for c in clients})
        self.assertEqual(self.fetch_all(clients, port),
                         {c.name: 0 for c in clients})
        shown = mt.pop3_uidls(port, self.user)
        self.assertEqual(shown[:7], dovecot_list)

        # Editing uidl-format, or losing dovecot-uidlist, changes nothing
        # a client has seen.
        self.start_poplar(uidl_format="%f", port=port)
        self.assertEqual(mt.pop3_uidls(port, self.user), shown)
        self.poplar.stop()
        os.unlink(os.path.join(self.user.maildir, "dovecot-uidlist"))
        self.start_poplar(port=port)
        self.assertEqual(mt.pop3_uidls(port, self.user), shown)
        self.assertEqual(self.fetch_all(clients, port),
                         {c.name: 0 for c in clients})

    def test_dovecot_imap_and_poplar_agree_on_uids(self):
        for i in range(3):
            self.dovecot.deliver("lda-%d" % i)
        self.dovecot.start()
        poplar_port = self.start_poplar(port=mt.free_port())
        seq = 0
        for round_no in range(3):
            # Deliveries both ways between the two servers' sessions, and
            # each server first to see some of them.
            self.user.deliver_plain("plain-%d" % round_no, seq)
            seq += 1
            self.dovecot.deliver("lda-late-%d" % round_no)
            if round_no % 2:
                mt.imap_uids(self.dovecot.imap_port, self.user)
            shown = mt.pop3_uidls(poplar_port, self.user)
            uidvalidity, imap = mt.imap_uids(self.dovecot.imap_port,
                                             self.user)
            self.assertEqual(len(shown), len(imap))
            for uidl, test_id in shown:
                self.assertEqual(uidl, "%08x%08x" % (imap[test_id],
                                                     uidvalidity),
                                 "message %s" % test_id)
        r = self.dovecot.doveadm("force-resync", "-u", self.user.name,
                                 "INBOX")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(mt.imap_uids(self.dovecot.imap_port, self.user),
                         (uidvalidity, imap))
        self.assertEqual(mt.pop3_uidls(poplar_port, self.user), shown)
        self.assertEqual(self.dovecot.log_problems(), [])


class SavedPop3Uidls(unittest.TestCase):
    """dovecot-uidlist as Dovecot's pop3_save_uidl and pop3-migration
    leave it, written here so that it runs without Dovecot too."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="poplar-migration-")
        os.chmod(self.root, 0o755)
        self.user = mt.MailUser(self.root)
        self.poplar = None

    def tearDown(self):
        if self.poplar is not None and self.poplar.alive():
            self.poplar.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def put(self, name, test_id):
        path = os.path.join(self.user.maildir, "cur", name + ":2,S")
        with open(path, "wb") as f:
            f.write(mt.message(test_id))
        self.user.chown(path)

    def test_p_and_o_fields_win_and_what_is_shown_is_recorded(self):
        too_long = "x" * 71
        self.put("1000.M1P1.mx", "a")
        self.put("1001.M1P1.mx", "b")
        self.put("1002.M1P1.mx", "c")
        self.put("1003.M1P1.mx", "d")
        path = os.path.join(self.user.maildir, "dovecot-uidlist")
        with open(path, "w") as f:
            f.write("3 V1700000000 N9 G0123456789abcdef0123456789abcdef\n"
                    "1 P :1000.M1P1.mx\n"
                    "2 PUIDL-two O1 :1001.M1P1.mx\n"
                    "3 W99 :1002.M1P1.mx\n"
                    "4 P%s :1003.M1P1.mx\n" % too_long)
        self.user.chown(path)
        self.poplar = mt.poplar_server(self.root, mt.free_port(),
                                       DOVECOT_FORMAT, user=self.user)
        port = self.poplar.start()
        shown = mt.pop3_uidls(port, self.user)
        self.assertEqual(shown, [
            ("UIDL-two", "b"),          # saved order first, saved UIDL
            ("1000.M1P1.mx", "a"),      # empty P: the file name
            ("000000036553f100", "c"),  # the template
            ("1003.M1P1.mx", "d"),      # P over 70 octets: never sent
        ])
        with open(os.path.join(self.user.maildir, "poplar-uidls")) as f:
            self.assertEqual(f.read(), "poplar-uidls 1\n"
                             "1001.M1P1.mx UIDL-two\n"
                             "1002.M1P1.mx 000000036553f100\n")
        self.assertIn("is not one RFC 1939 allows", self.poplar.log_text())


if __name__ == "__main__":
    mt.poplartest.require_environment()
    unittest.main(verbosity=2)
