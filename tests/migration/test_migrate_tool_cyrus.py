# SPDX-License-Identifier: MIT
"""poplar-uidl-import from Cyrus IMAP's pop3d.

Cyrus computes UIDLs from its own database (UIDVALIDITY and UID), so they
can only be carried over by asking the server, which is what the tool is
for.  Debian's cyrus-pop3d declares "Conflicts: pop3-server", and both
mailutils-pop3d (the other old server these tests use) and dovecot-pop3d
(the reference server of the benchmark and of the Dovecot migration
tests) provide pop3-server, so the packages cannot be installed together
and `make check` installs mailutils-pop3d.  This test therefore runs only
on a machine where Cyrus is installed instead; elsewhere it says why it
skips.
"""

import os
import unittest

import poplartest

CYRUS_BINARIES = ("/usr/lib/cyrus/bin/master", "/usr/lib/cyrus/bin/pop3d")


class TestCyrusMigration(unittest.TestCase):

    def test_cyrus(self):
        missing = [b for b in CYRUS_BINARIES if not os.path.exists(b)]
        if missing:
            self.skipTest(
                "Cyrus is not installed (%s missing): Debian's cyrus-pop3d "
                "conflicts with mailutils-pop3d and dovecot-pop3d "
                "(Conflicts: pop3-server), which this suite needs" %
                ", ".join(missing))
        self.skipTest("a Cyrus instance in a temporary directory is not "
                      "set up by this suite yet; see the mailutils test "
                      "for the full migration")


if __name__ == "__main__":
    poplartest.main()
