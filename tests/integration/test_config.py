# SPDX-License-Identifier: MIT
"""poplard --check-config names file, line and key of every problem;
--list-plugins and --version."""

import os
import re
import subprocess

import poplartest

RUN_TIMEOUT = 30


def run(*args):
    """Runs poplard with @args; returns (exit code, stdout + stderr)."""
    r = subprocess.run([poplartest.POPLARD] + list(args),
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=RUN_TIMEOUT)
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")


class ConfigTest(poplartest.PoplarTestCase):

    def setUp(self):
        self.srv = self.server(start=False)
        self.srv.add_user("kim", "pw", [b"Subject: x\n\ny\n"])
        self.good = self.srv.config_text()

    def write(self, text, name="bad.conf"):
        path = os.path.join(self.srv.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def with_lines(self, after, *lines):
        """The good config with @lines inserted after the line starting
        with @after; returns (text, [line numbers of the new lines])."""
        out = self.good.splitlines()
        i = next(n for n, l in enumerate(out) if l.startswith(after)) + 1
        out[i:i] = list(lines)
        return "\n".join(out) + "\n", [i + 1 + k for k in range(len(lines))]

    def replaced(self, prefix, line):
        """The good config with the line starting with @prefix replaced;
        returns (text, line number)."""
        out = self.good.splitlines()
        i = next(n for n, l in enumerate(out) if l.startswith(prefix))
        out[i] = line
        return "\n".join(out) + "\n", i + 1

    def assert_refused(self, text, problems):
        """--check-config refuses @text, naming each (line, key) of
        @problems as bad.conf:LINE ... KEY on one line of output."""
        path = self.write(text)
        rc, out = run("--check-config", "-c", path)
        self.assertGreater(rc, 0, "--check-config accepted (or crashed: %d) "
                           "a bad config:\n%s\n%s" % (rc, text, out))
        for line, key in problems:
            rx = r"bad\.conf:%d\b.*%s" % (line, re.escape(key))
            self.assertRegex(out, rx, "no message naming bad.conf:%d and "
                             "'%s' in:\n%s" % (line, key, out))
        return out

    def test_good_config(self):
        path = self.write(self.good, "good.conf")
        rc, out = run("--check-config", "-c", path)
        self.assertEqual(rc, 0, out)

    def test_mail_is_optional(self):
        """Without [server] mail the password database gives each user's
        location: no problem, and no warning while a store is loaded."""
        text, _ = self.replaced("mail =", "# no default mail location")
        rc, out = run("--check-config", "-c", self.write(text))
        self.assertEqual(rc, 0, out)
        self.assertNotIn("warning", out)

    def test_no_store_at_all_warns(self):
        text, _ = self.replaced("mail =", "# no default mail location")
        text = text.replace("load = auth-passwd-file; store-maildir",
                            "load = auth-passwd-file")
        rc, out = run("--check-config", "-c", self.write(text))
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"warning: .*\[plugins\] load: no loaded "
                         r"plugin provides a mail store")

    def test_mail_scheme_without_store(self):
        text, n = self.replaced("mail =", "mail = mbox:/var/mail/%u")
        self.assert_refused(text, [(n, "mail")])

    def test_unknown_server_key(self):
        text, (n,) = self.with_lines("[server]", "frobnicate = 1")
        self.assert_refused(text, [(n, "frobnicate")])

    def test_bad_values(self):
        for key, value in (("idle-timeout", "soon"),
                           ("max-connections", "lots"),
                           ("max-connections-per-ip", "-3"),
                           ("auth-failure-delay", "2 fortnights"),
                           ("log-level", "loud"),
                           ("listen", "not an address")):
            with self.subTest(key=key):
                if key in ("listen", "auth-failure-delay", "log-level"):
                    text, n = self.replaced(key + " =", "%s = %s" % (key,
                                                                     value))
                else:
                    text, (n,) = self.with_lines("[server]",
                                                 "%s = %s" % (key, value))
                self.assert_refused(text, [(n, key)])

    def test_unknown_plugin(self):
        text, n = self.replaced(
            "load =", "load = auth-passwd-file; store-maildir; no-such-plugin")
        self.assert_refused(text, [(n, "no-such-plugin")])

    def test_syntax_error(self):
        text, (n,) = self.with_lines("[server]",
                                     "this line has no equals sign")
        self.assert_refused(text, [(n, "")])

    def test_unclosed_section_header(self):
        text, (n,) = self.with_lines("load =", "[broken")
        self.assert_refused(text, [(n, "")])

    def test_unknown_plugin_key(self):
        text, (n,) = self.with_lines("path =", "bogus-key = 1")
        self.assert_refused(text, [(n, "bogus-key")])

    def test_every_problem_in_one_run(self):
        text, lines = self.with_lines("[server]", "frobnicate = 1",
                                      "idle-timeout = soon",
                                      "not a key value line")
        out = self.assert_refused(text, [(lines[0], "frobnicate"),
                                         (lines[1], "idle-timeout"),
                                         (lines[2], "")])
        self.assertNotIn("listening", out)

    def test_missing_config_file(self):
        path = os.path.join(self.srv.dir, "absent.conf")
        rc, out = run("--check-config", "-c", path)
        self.assertGreater(rc, 0, out)
        self.assertIn("absent.conf", out)

    def test_startup_refuses_a_bad_config(self):
        """Not only --check-config: starting with a bad config exits
        non-zero at once, with the same message."""
        text, (n,) = self.with_lines("[server]", "frobnicate = 1")
        path = self.write(text)
        rc, out = run("-c", path)
        self.assertGreater(rc, 0, out)
        self.assertRegex(out, r"bad\.conf:%d\b.*frobnicate" % n)
        self.assertNotIn("listening on", out)

    def test_list_plugins(self):
        rc, out = run("--list-plugins", "--plugin-dir", self.srv.plugin_dir)
        self.assertEqual(rc, 0, out)
        # The headers' ABI, which plugins built in this tree declare.
        abi = re.compile(r"(?<![\d.])%s(?![\d.])" %
                         re.escape(os.environ["POPLAR_ABI"]))
        for name in ("auth-passwd-file", "store-maildir", "test-hooks",
                     "test-store-slow"):
            lines = [l for l in out.splitlines() if name in l]
            self.assertTrue(lines, "%s not listed:\n%s" % (name, out))
            self.assertTrue(any(abi.search(l) for l in lines),
                            "no ABI %s on the line of %s:\n%s" % (
                                os.environ["POPLAR_ABI"], name, out))
        line = next(l for l in out.splitlines() if "test-hooks" in l
                    and "test-store-slow" not in l)
        self.assertIn("0.1.0", line, "the plugin's own version")
        self.assertIn("Records every hook call", line, "the description")

    def test_version(self):
        rc, out = run("--version")
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"(?i)poplar")
        self.assertRegex(out, r"\d+\.\d+\.\d+")


if __name__ == "__main__":
    poplartest.main()
