# SPDX-License-Identifier: MIT
"""The plugin loader refuses a missing, foreign, truncated, non-ELF or
wrong-ABI plugin with a message naming the file and the reason, at
--check-config, at start-up and in --list-plugins, and never crashes."""

import glob
import os
import re
import shutil
import subprocess

import poplartest

RUN_TIMEOUT = 30

DESCRIPTOR_C = r"""
#include <poplar/plugin.h>

POPLAR_API const PoplarPluginDescriptor *poplar_plugin_%(ident)s(void);
const PoplarPluginDescriptor *poplar_plugin_%(ident)s(void)
{
  static const PoplarPluginDescriptor d = {
      %(magic)s, %(major)d, %(minor)d,
      (uint32_t)sizeof(PoplarPluginDescriptor),
      "%(ident)s", "9.9.9", "built for the loader test",
      NULL, NULL, NULL,
  };
  return %(ret)s;
}
"""

# name -> (regex a message about it must match besides naming the file)
REASONS = {
    "nowhere-plugin": r"not found|no such file|does not exist|cannot find|"
                      r"no plugin",
    "foo": r"poplar_plugin_foo|not a poplar plugin|getter|descriptor|symbol",
    "trunc": r"too short|truncated|invalid elf|elf header|corrupt|"
             r"not an? (valid )?(elf|shared object)",
    "bad": r"invalid elf|elf header|too short|not an? (valid )?(elf|shared "
           r"object)",
    "wrong-abi": r"abi.*\b2(\.0)?\b|\b2(\.0)?\b.*abi",
    "newer-minor": r"1\.99",
    "bad-magic": r"magic|not a poplar plugin",
    "null-getter": r"null|no descriptor|not a poplar plugin|descriptor",
}


def find_libz():
    for pattern in ("/usr/lib/*/libz.so.1", "/lib/*/libz.so.1",
                    "/usr/lib64/libz.so.1", "/usr/lib/libz.so.1"):
        hits = glob.glob(pattern)
        if hits:
            return hits[0]
    return None


def run(*args):
    r = subprocess.run([poplartest.POPLARD] + list(args),
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=RUN_TIMEOUT)
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")


class LoaderTest(poplartest.PoplarTestCase):

    def setUp(self):
        self.srv = self.server(start=False)
        self.srv.add_user("lee", "pw", [b"Subject: x\n\ny\n"])
        d = self.srv.plugin_dir
        libz = find_libz()
        if libz is None:
            self.fail("no libz.so.1 to use as a foreign shared object")
        shutil.copy(libz, os.path.join(d, "foo.so"))
        with open(poplartest.plugin_path("store-maildir"), "rb") as f:
            head = f.read(1000)
        with open(os.path.join(d, "trunc.so"), "wb") as f:
            f.write(head)
        with open(os.path.join(d, "bad.so"), "w") as f:
            f.write("this is not a shared object\n")
        self.build("wrong-abi", major=2, minor=0)
        self.build("newer-minor", major=1, minor=99)
        self.build("bad-magic", major=1, minor=0, magic="0xdeadbeefu")
        self.build("null-getter", major=1, minor=0, ret="NULL")

    def build(self, name, major, minor, magic="POPLAR_PLUGIN_MAGIC",
              ret="&d"):
        if not poplartest.INCLUDE:
            self.fail("POPLAR_INCLUDE is not set")
        ident = name.replace("-", "_")
        src = os.path.join(self.srv.dir, name + ".c")
        with open(src, "w") as f:
            f.write(DESCRIPTOR_C % {"ident": ident, "major": major,
                                    "minor": minor, "magic": magic,
                                    "ret": ret})
        out = os.path.join(self.srv.plugin_dir, name + ".so")
        r = subprocess.run(["cc", "-shared", "-fPIC", "-fvisibility=hidden",
                            "-I", poplartest.INCLUDE, "-o", out, src],
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))

    def conf_loading(self, *extra):
        return self.srv.write_config(load=poplartest.DEFAULT_PLUGINS +
                                     list(extra))

    def assert_named(self, out, name):
        """Some line of @out names @name's file and matches its reason."""
        reason = re.compile(REASONS[name], re.I)
        file_rx = re.compile(r"(?<![\w-])%s(\.so)?(?![\w-])" %
                             re.escape(name))
        lines = [l for l in out.splitlines() if file_rx.search(l)]
        self.assertTrue(lines, "no message names %s:\n%s" % (name, out))
        self.assertTrue(any(reason.search(l) for l in lines),
                        "the messages about %s give no reason (/%s/):\n%s" % (
                            name, REASONS[name], "\n".join(lines)))

    def assert_exit(self, rc, out, what):
        self.assertGreaterEqual(rc, 0, "%s: poplard died of signal %d:\n%s" %
                                (what, -rc, out))
        self.assertGreater(rc, 0, "%s: accepted:\n%s" % (what, out))

    def test_check_config_refuses_each(self):
        for name in REASONS:
            with self.subTest(plugin=name):
                conf = self.conf_loading(name)
                rc, out = run("--check-config", "-c", conf)
                self.assert_exit(rc, out, "--check-config loading " + name)
                self.assert_named(out, name)

    def test_check_config_reports_all_at_once(self):
        conf = self.conf_loading(*REASONS)
        rc, out = run("--check-config", "-c", conf)
        self.assert_exit(rc, out, "--check-config loading every bad plugin")
        for name in REASONS:
            self.assert_named(out, name)

    def test_startup_refuses_each(self):
        for name in REASONS:
            with self.subTest(plugin=name):
                conf = self.conf_loading(name)
                try:
                    rc, out = run("-c", conf)
                except subprocess.TimeoutExpired:
                    self.fail("poplard kept running with %s loaded" % name)
                self.assert_exit(rc, out, "starting with " + name)
                self.assert_named(out, name)

    def test_unlisted_junk_is_harmless(self):
        """Bad files nobody loads do not stop the server."""
        self.srv.start()
        p = self.srv.login("lee", "pw")
        try:
            self.assertEqual(p.stat()[0], 1)
            p.quit()
        finally:
            p.close()

    def test_list_plugins(self):
        rc, out = run("--list-plugins", "--plugin-dir", self.srv.plugin_dir)
        self.assertGreaterEqual(rc, 0, "poplard died of signal %d:\n%s" % (
            -rc, out))
        # The headers' ABI, which plugins built in this tree declare.
        abi = re.compile(r"(?<![\d.])%s(?![\d.])" %
                         re.escape(os.environ["POPLAR_ABI"]))
        for good in ("auth-passwd-file", "store-maildir", "test-hooks"):
            lines = [l for l in out.splitlines() if good in l]
            self.assertTrue(any(abi.search(l) for l in lines),
                            "%s not listed with ABI %s:\n%s" % (
                                good, os.environ["POPLAR_ABI"], out))
        for name in REASONS:
            if name == "nowhere-plugin":
                continue  # not a file in the directory
            self.assert_named(out, name)


if __name__ == "__main__":
    poplartest.main()
