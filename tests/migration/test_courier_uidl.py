#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Moving a Maildir from Courier (Debian's courier-pop and courier-imap) to
Poplar.  courier-pop's UIDLs are "UID<uid>-<uidvalidity>" from the file
courierpop3dsizelist, its own numbering, not Courier IMAP's: with
uidl-format = UID%u-%v and uid-source = courier-pop3, Poplar shows exactly
Courier's UIDLs, so mpop, fetchmail and getmail6, which keep mail on the
server, download nothing again; new mail is downloaded once; and Courier,
started again (the roll-back), shows what Poplar showed.  With uid-source
= courier, Poplar's UIDs are Courier IMAP's (courierimapuiddb), and the
two servers agree on one Maildir at the same time.

Courier's packages conflict with the Dovecot and Mailutils servers the
other tests need, so Courier runs from its unpacked packages in a private
root (privroot.py), never installed on this machine.
"""
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import migrationtest as mt  # noqa: E402

COURIER_FORMAT = "UID%u-%v"


class CourierTestCase(unittest.TestCase):

    def setUp(self):
        import courier
        self.root = tempfile.mkdtemp(prefix="poplar-courier-")
        os.chmod(self.root, 0o755)
        self.addCleanup(shutil.rmtree, self.root, True)
        self.user = mt.MailUser(self.root)
        # Skips with its reason when the packages cannot be had.
        self.courier = courier.Courier(self.root, self.user)
        self.addCleanup(self.courier.stop)
        self.poplar = None
        self.addCleanup(self.stop_poplar)
        self.seq = 0

    def stop_poplar(self):
        if self.poplar is not None and self.poplar.alive():
            self.poplar.stop()

    def start_poplar(self, uid_source, port):
        self.stop_poplar()
        self.poplar = mt.poplar_server(
            self.root, port, COURIER_FORMAT,
            extra_keys={"uid-source": uid_source}, user=self.user)
        self.poplar.start()
        return self.poplar.port

    def deliver(self, test_id):
        """A delivery as an MTA makes it (tmp/, then new/); each name is
        new, even within one second."""
        self.user.deliver_plain(test_id, self.seq)
        self.seq += 1

    def clients(self):
        out = [cls(self.root, self.user) for cls in mt.CLIENTS
               if cls.missing() is None]
        if not out:
            self.skipTest("none of mpop, fetchmail, getmail is installed")
        return out

    def fetch_all(self, clients, port):
        return {c.name: c.run(port) for c in clients}


class CourierPop3ToPoplar(CourierTestCase):

    def test_same_uidls_nothing_downloaded_twice_and_back(self):
        clients = self.clients()
        port = self.courier.pop3_port
        for i in range(5):
            self.deliver("old-%d" % i)
        self.courier.start()
        self.assertEqual(self.fetch_all(clients, port),
                         {c.name: 5 for c in clients})
        for i in range(2):
            self.deliver("old-late-%d" % i)
        self.assertEqual(self.fetch_all(clients, port),
                         {c.name: 2 for c in clients})
        courier_list = mt.pop3_uidls(port, self.user)
        self.assertEqual(len(courier_list), 7)
        for uidl, _ in courier_list:
            self.assertRegex(uidl, r"^UID\d+-\d+$")
        # What Courier numbered its POP3 UIDLs from.
        self.assertTrue(os.path.exists(os.path.join(
            self.user.maildir, "courierpop3dsizelist")))
        self.courier.stop()

        self.start_poplar("courier-pop3", port)
        self.assertEqual(mt.pop3_uidls(port, self.user), courier_list)
        self.assertEqual(self.fetch_all(clients, port),
                         {c.name: 0 for c in clients})

        # Mail delivered after the switch: each new message once.
        for i in range(3):
            self.deliver("new-%d" % i)
        self.assertEqual(self.fetch_all(clients, port),
                         {c.name: 3 for c in clients})
        self.assertEqual(self.fetch_all(clients, port),
                         {c.name: 0 for c in clients})
        shown = mt.pop3_uidls(port, self.user)
        self.assertEqual(shown[:7], courier_list)
        self.assertEqual(len(shown), 10)
        poplar_sizes = pop3_sizes(port, self.user)
        self.stop_poplar()

        # Rolling back: Courier reads what Poplar added to its list, so it
        # shows the same UIDLs and sizes, and the clients fetch nothing.
        self.courier.start()
        self.assertEqual(mt.pop3_uidls(port, self.user), shown)
        self.assertEqual(pop3_sizes(port, self.user), poplar_sizes)
        self.assertEqual(self.fetch_all(clients, port),
                         {c.name: 0 for c in clients})
        self.assertNotRegex(self.courier.log_text(), r"ERR:")


class CourierImapBesidePoplar(CourierTestCase):

    def test_courier_imap_and_poplar_agree_on_uids(self):
        for i in range(3):
            self.deliver("before-%d" % i)
        self.courier.start()
        poplar_port = self.start_poplar("courier", mt.free_port())
        imap_port = self.courier.imap_port
        for round_no in range(3):
            # Deliveries between the two servers' sessions, each server
            # first to see some of them.
            self.deliver("round-%d-a" % round_no)
            if round_no % 2:
                mt.imap_uids(imap_port, self.user)
            self.deliver("round-%d-b" % round_no)
            shown = mt.pop3_uidls(poplar_port, self.user)
            uidvalidity, imap = mt.imap_uids(imap_port, self.user)
            self.assertEqual(len(shown), len(imap))
            for uidl, test_id in shown:
                self.assertEqual(uidl, "UID%d-%d" % (imap[test_id],
                                                     uidvalidity),
                                 "message %s" % test_id)
        self.assertEqual(mt.imap_uids(imap_port, self.user),
                         (uidvalidity, imap))
        self.assertEqual(mt.pop3_uidls(poplar_port, self.user), shown)


def pop3_sizes(port, user):
    """[(uidl, size)] as LIST and UIDL give them."""
    import poplib
    p = poplib.POP3(mt.HOST, port, timeout=30)
    try:
        p.user(user.name)
        p.pass_(user.password)
        sizes = dict(l.decode().split(" ", 1) for l in p.list()[1])
        uidls = [l.decode().split(" ", 1) for l in p.uidl()[1]]
        p.quit()
        return [(uidl, int(sizes[num])) for num, uidl in uidls]
    finally:
        p.close()


if __name__ == "__main__":
    mt.poplartest.require_environment()
    unittest.main(verbosity=2)
