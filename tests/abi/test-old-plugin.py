#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A plugin built against the ABI 1.0 headers (abi/headers-1.0/) loads in
today's poplard and serves whole sessions: its password database (USER/PASS
and APOP), its store, and its hooks (hidden messages, added headers,
per-session data, disconnect).

Environment (tests/abi/meson.build): POPLARD, POPLAR_PLUGINS (the sample's
.so), POPLAR_HARNESS (tests/integration, for poplartest.py).
"""

import os
import re
import poplib
import subprocess
import sys
import unittest

sys.path.insert(0, os.environ.get("POPLAR_HARNESS", ""))
import poplartest  # noqa: E402

SAMPLE = "abi-sample"


def sample_message(n):
    """What abi-sample.c stores as message @n."""
    return ("From: abi-sample@example.org\n"
            "Subject: message %d of the ABI 1.0 sample\n"
            "Message-ID: <%d.abi-sample@example.org>\n"
            "\n"
            "Body of message %d.\n"
            ".a line that starts with a dot\n" % (n, n, n)).encode()


def as_sent(n):
    """Message @n as a client receives it: the header the sample's hook
    adds, first, then the message with CRLF line ends."""
    return b"X-ABI-Sample: 1.0\r\n" + poplartest.crlf(sample_message(n))


class OldPluginTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        poplartest.require_environment()
        cls.server = poplartest.Server()
        # The harness's [server] keys (whatever the core needs to run under
        # a test), without its passwd-file section: the sample is the only
        # plugin.
        text = cls.server.config_text(
            server={"mail": "abisample:box"}, load=[SAMPLE],
            sections={SAMPLE: {"messages": "3", "hide": "3",
                               "max-size": "64k", "greeting-delay": "0"}})
        stripped, found = re.subn(
            r"\n\[auth-passwd-file\]\n(?:[^\[\n][^\n]*\n)*", "\n", text)
        assert found == 1, text
        with open(cls.server.conf, "w") as f:
            f.write(stripped)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.server.cleanup()

    def poplard(self, *args):
        return subprocess.run([poplartest.POPLARD] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=30)

    def start(self):
        if not self.server.alive():
            self.server.start()

    def test_1_listed(self):
        res = self.poplard("--list-plugins", "--plugin-dir",
                           self.server.plugin_dir)
        self.assertEqual(res.returncode, 0, res.stdout)
        rows = [l.split() for l in res.stdout.splitlines()]
        row = [r for r in rows if r and r[0] == SAMPLE]
        self.assertTrue(row, "abi-sample not listed:\n" + res.stdout)
        self.assertNotIn("refused", res.stdout)
        self.assertEqual(row[0][1:3], ["1.0.0", "1.0"], res.stdout)

    def test_2_config_checks(self):
        res = self.poplard("--check-config", "-c", self.server.conf)
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertIn("configuration OK", res.stdout)

    def test_3_session(self):
        self.start()
        self.server.wait_for_log(r"abi-sample .*built for ABI 1\.0, running "
                                 r"on ABI 1\.\d+")
        p = self.server.login("abi", "abi-secret")
        try:
            count, octets = p.stat()
            self.assertEqual(count, 2)  # message 3 is hidden by the hook
            self.assertEqual(octets, len(as_sent(1)) + len(as_sent(2)))
            _, listing, _ = p.list()
            self.assertEqual(listing, [b"1 %d" % len(as_sent(1)),
                                       b"2 %d" % len(as_sent(2))])
            _, uidls, _ = p.uidl()
            self.assertEqual(uidls, [b"1 abi-sample-1", b"2 abi-sample-2"])
            _, lines, _ = p.retr(2)
            self.assertEqual(b"\r\n".join(lines) + b"\r\n", as_sent(2))
            _, top, _ = p.top(1, 0)
            self.assertEqual(top[0], b"X-ABI-Sample: 1.0")
            p.dele(1)
            mark = self.server.log_mark()
            p.quit()
        finally:
            p.close()
        self.server.wait_for_log(r"abi-sample: expunged 1 message\(s\) of abi",
                                 start=mark)
        self.server.wait_for_log(r"abi-sample: session \S+ of abi from "
                                 r"127\.0\.0\.1 ended \(reason 0, 2 retrieved\)",
                                 start=mark)

    def test_4_apop_and_refusal(self):
        self.start()
        p = self.server.pop()
        try:
            self.assertIn(b"<", p.getwelcome(), "no APOP timestamp: the "
                          "sample's lookup_secret was not seen")
            p.apop("abi", "abi-secret")
            self.assertEqual(p.stat()[0], 2)
            p.quit()
        finally:
            p.close()
        p = self.server.pop()
        try:
            p.user("abi")
            with self.assertRaises(poplib.error_proto) as err:
                p.pass_("wrong")
            self.assertIn(b"[AUTH]", err.exception.args[0])
        finally:
            p.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
