# SPDX-License-Identifier: MIT
"""The plugin loader refuses a missing, foreign, truncated, non-ELF or
wrong-ABI plugin with a message naming the file and the reason, at
--check-config, at start-up and in --list-plugins, and never crashes.
So it does a plugin with a symbol or library the dynamic loader cannot
find, and a plugin that registers its tables wrongly; plugins written in
C++ load and serve."""

import glob
import os
import poplib
import re
import shutil
import signal
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


# Plugins with traps a third-party author fell into.  %(ident)s is the
# plugin's name with '_' for '-'.
TRAP_SOURCES = {
    # A symbol nobody defines, called when a client connects: with lazy
    # binding this passed every check and killed each worker at its first
    # connection.
    "undef-connect": r"""
#include <poplar/plugin.h>
void poplar_it_undefined_on_connect(void);
static PoplarVerdict on_connect(void *data, PoplarSession *s)
{
  (void)data; (void)s;
  poplar_it_undefined_on_connect();
  return POPLAR_CONTINUE;
}
static const PoplarHookOps ops = {.connect = on_connect};
static bool init(PoplarPlugin *p, PoplarConfig *c)
{
  (void)c;
  return poplar_register_hook(p, &ops, sizeof ops, NULL);
}
POPLAR_PLUGIN_DEFINE(%(ident)s, "1.0", "trap", NULL, init, NULL)
""",
    # The same, called in init: --check-config itself died of it (127).
    "undef-init": r"""
#include <poplar/plugin.h>
void poplar_it_undefined_in_init(void);
static bool init(PoplarPlugin *p, PoplarConfig *c)
{
  (void)p; (void)c;
  poplar_it_undefined_in_init();
  return true;
}
POPLAR_PLUGIN_DEFINE(%(ident)s, "1.0", "trap", NULL, init, NULL)
""",
    # Linked to libpoplar-it-gone.so.1, which is not there at run time.
    "needs-gone-lib": r"""
#include <poplar/plugin.h>
int poplar_it_gone(void);
static bool init(PoplarPlugin *p, PoplarConfig *c)
{
  (void)p; (void)c;
  return poplar_it_gone() == 1;
}
POPLAR_PLUGIN_DEFINE(%(ident)s, "1.0", "trap", NULL, init, NULL)
""",
    # init forgets to register anything.
    "registers-nothing": r"""
#include <poplar/plugin.h>
static bool init(PoplarPlugin *p, PoplarConfig *c)
{
  (void)p; (void)c;
  return true;
}
POPLAR_PLUGIN_DEFINE(%(ident)s, "1.0", "trap", NULL, init, NULL)
""",
    # sizeof a pointer as the table's size, and the refusal ignored.
    "tiny-ops": r"""
#include <poplar/plugin.h>
static PoplarVerdict on_connect(void *data, PoplarSession *s)
{
  (void)data; (void)s;
  return POPLAR_CONTINUE;
}
static const PoplarHookOps ops = {.connect = on_connect};
static bool init(PoplarPlugin *p, PoplarConfig *c)
{
  const PoplarHookOps *table = &ops;
  (void)c;
  (void)poplar_register_hook(p, table, sizeof table, NULL);
  return true;
}
POPLAR_PLUGIN_DEFINE(%(ident)s, "1.0", "trap", NULL, init, NULL)
""",
    # A store with two required operations missing.
    "half-store": r"""
#include <poplar/plugin.h>
static PoplarStoreResult s_open(void *d, PoplarMailbox *m, const char *l)
{
  (void)d; (void)m; (void)l;
  return POPLAR_STORE_PERMFAIL;
}
static void s_close(void *d, PoplarMailbox *m) { (void)d; (void)m; }
static const PoplarStoreOps ops = {.open = s_open, .close = s_close};
static bool init(PoplarPlugin *p, PoplarConfig *c)
{
  (void)c;
  return poplar_register_store(p, "half", &ops, sizeof ops, NULL);
}
POPLAR_PLUGIN_DEFINE(%(ident)s, "1.0", "trap", NULL, init, NULL)
""",
}

# What the refusal of each must say (regexes, all of them).
TRAP_REASONS = {
    "undef-connect": [r"undefined symbol: poplar_it_undefined_on_connect"],
    "undef-init": [r"undefined symbol: poplar_it_undefined_in_init"],
    "needs-gone-lib": [r"libpoplar-it-gone\.so\.1: cannot open shared "
                       r"object file"],
    "tiny-ops": [r"plugin tiny-ops", r"PoplarHookOps",
                 r"ops_size %d\b" % 8, r"smaller than ABI 1\.0"],
    "half-store": [r"plugin half-store", r"'half:'",
                   r"required operation NULL: message_open, message_read, "
                   r"message_close, expunge"],
}


class LoaderTrapsTest(poplartest.PoplarTestCase):
    """Mistakes in a plugin are refused when it is loaded or initialised,
    naming what is wrong, instead of passing the checks and failing later
    (or never being noticed)."""

    def setUp(self):
        if not poplartest.INCLUDE:
            self.fail("POPLAR_INCLUDE is not set")
        self.srv = self.server(start=False)
        self.srv.add_user("lee", "pw", [b"Subject: x\n\ny\n"])

    def cc(self, args):
        r = subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror",
                            "-shared", "-fPIC", "-fvisibility=hidden",
                            "-I", poplartest.INCLUDE] + args,
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))

    def build(self, name):
        src = os.path.join(self.srv.dir, name + ".c")
        with open(src, "w") as f:
            f.write(TRAP_SOURCES[name] % {"ident": name.replace("-", "_")})
        out = os.path.join(self.srv.plugin_dir, name + ".so")
        extra = []
        if name == "needs-gone-lib":
            # The library exists while the plugin is linked, under a
            # soname no file has, then goes away.
            stub_dir = os.path.join(self.srv.dir, "stub")
            os.mkdir(stub_dir)
            stub_src = os.path.join(stub_dir, "stub.c")
            with open(stub_src, "w") as f:
                f.write("__attribute__((visibility(\"default\")))\n"
                        "int poplar_it_gone(void);\n"
                        "int poplar_it_gone(void) { return 1; }\n")
            stub = os.path.join(stub_dir, "libstub.so")
            self.cc(["-Wl,-soname,libpoplar-it-gone.so.1", "-o", stub,
                     stub_src])
            extra = [stub]
        self.cc(["-o", out, src] + extra)
        if extra:
            shutil.rmtree(os.path.dirname(extra[0]))
        return out

    def conf_loading(self, *extra):
        return self.srv.write_config(load=poplartest.DEFAULT_PLUGINS +
                                     list(extra))

    def assert_says(self, out, name):
        for rx in TRAP_REASONS[name]:
            self.assertRegex(out, rx, "the message about %s" % name)

    def assert_refused_cleanly(self, rc, out, what):
        self.assertGreaterEqual(rc, 0, "%s: died of signal %d:\n%s" % (
            what, -rc, out))
        self.assertNotEqual(rc, 127, "%s: the dynamic loader killed "
                            "poplard:\n%s" % (what, out))
        self.assertNotIn("symbol lookup error", out, what)
        self.assertGreater(rc, 0, "%s: accepted:\n%s" % (what, out))
        self.assertNotIn("configuration OK", out, what)

    def test_unbound_symbols_refused_at_check_list_and_start(self):
        for name in ("undef-connect", "undef-init", "needs-gone-lib"):
            with self.subTest(plugin=name):
                path = self.build(name)
                conf = self.conf_loading(name)
                rc, out = run("--check-config", "-c", conf)
                self.assert_refused_cleanly(rc, out, "--check-config")
                self.assertIn(path, out)
                self.assert_says(out, name)

                rc, out = run("--list-plugins", "--plugin-dir",
                              self.srv.plugin_dir)
                lines = [l for l in out.splitlines()
                         if l.startswith(name + " ")]
                self.assertEqual(len(lines), 1, out)
                self.assertIn("refused", lines[0])
                self.assert_says(lines[0], name)

                try:
                    rc, out = run("-c", conf)
                except subprocess.TimeoutExpired:
                    self.fail("poplard started with %s loaded" % name)
                self.assert_refused_cleanly(rc, out, "start")
                self.assertNotIn("listening on", out)
                self.assert_says(out, name)
                os.unlink(path)

    def test_bind_now_environment_gives_the_same_reason(self):
        """With LD_BIND_NOW=1 libltdl's own open fails too, and used to
        say only "file not found"."""
        self.build("undef-connect")
        conf = self.conf_loading("undef-connect")
        env = dict(os.environ, LD_BIND_NOW="1")
        r = subprocess.run([poplartest.POPLARD, "--check-config", "-c", conf],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=RUN_TIMEOUT, env=env)
        out = (r.stdout + r.stderr).decode("utf-8", "replace")
        self.assert_refused_cleanly(r.returncode, out, "LD_BIND_NOW=1")
        self.assert_says(out, "undef-connect")
        self.assertNotIn("file not found", out)

    def test_reload_refuses_and_the_old_server_serves(self):
        self.srv.start()
        self.build("undef-connect")
        self.conf_loading("undef-connect")
        mark = self.srv.log_mark()
        self.srv.proc.send_signal(signal.SIGHUP)
        self.srv.wait_for_log(r"still running the old one", start=mark,
                              timeout=20)
        refused = "\n".join(self.srv.log_lines()[mark:])
        self.assertIn("reload refused", refused)
        self.assert_says(refused, "undef-connect")
        p = self.srv.login("lee", "pw")
        try:
            self.assertEqual(p.stat()[0], 1)
            p.quit()
        finally:
            p.close()
        self.assertTrue(self.srv.alive())

    def test_registration_mistakes(self):
        for name in ("tiny-ops", "half-store"):
            with self.subTest(plugin=name):
                self.build(name)
                rc, out = run("--check-config", "-c",
                              self.conf_loading(name))
                self.assert_refused_cleanly(rc, out, "--check-config")
                self.assert_says(out, name)
                try:
                    rc, out = run("-c", self.conf_loading(name))
                except subprocess.TimeoutExpired:
                    self.fail("poplard kept running with %s loaded" % name)
                self.assertGreater(rc, 0, out)
                self.assert_says(out, name)

    def test_plugin_that_registers_nothing_is_warned_about(self):
        self.build("registers-nothing")
        conf = self.conf_loading("registers-nothing")
        rc, out = run("--check-config", "-c", conf)
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"warning: .*\[registers-nothing\].*plugin "
                              r"registers-nothing registered nothing")
        self.assertIn("configuration OK", out)
        # and in the log of a running server
        self.srv.start()
        self.srv.wait_for_log(r"plugin registers-nothing registered nothing",
                              timeout=10)


def cxx_built():
    return any(os.path.basename(p) == "test-passdb-cxx.so"
               for p in poplartest.PLUGINS)


class CxxPluginTest(poplartest.PoplarTestCase):
    """Plugins written in C++ (tests/cxx/): one loads and serves, one
    whose getter lacks extern "C" is explained."""

    def setUp(self):
        if not cxx_built():
            self.skipTest("no C++ compiler: tests/cxx/ was not built")
        self.srv = self.server(start=False)
        self.carol = self.srv.add_user("carol", "not-this-one",
                                       [b"Subject: from C++\n\nhello\n"])
        self.srv.add_user("lee", "pw")

    def test_listed(self):
        rc, out = run("--list-plugins", "--plugin-dir", self.srv.plugin_dir)
        lines = [l for l in out.splitlines()
                 if l.startswith("test-passdb-cxx ")]
        self.assertEqual(len(lines), 1, out)
        self.assertNotIn("refused", lines[0])
        self.assertRegex(lines[0], r"\b1\.0\b.*C\+\+17 password database")

    def test_serves_a_session(self):
        sections = {"test-passdb-cxx": {
            "users": "carol:c++secret:%s" % self.carol.home}}
        load = ["test-passdb-cxx"] + poplartest.DEFAULT_PLUGINS
        conf = self.srv.write_config(load=load, sections=sections)
        rc, out = run("--check-config", "-c", conf)
        self.assertEqual(rc, 0, out)
        self.srv.start(load=load, sections=sections)
        p = self.srv.login("carol", "c++secret")
        try:
            count, _ = p.stat()
            self.assertEqual(count, 1)
            _, lines, _ = p.retr(1)
            self.assertIn(b"hello", lines)
            p.quit()
        finally:
            p.close()
        # a wrong password is refused by the C++ database, not passed on
        with self.assertRaises(poplib.error_proto):
            self.srv.login("carol", "not-this-one")
        # users it does not know go on to the next database
        p = self.srv.login("lee", "pw")
        p.quit()
        p.close()

    def test_mangled_getter_explained(self):
        conf = self.srv.write_config(
            load=poplartest.DEFAULT_PLUGINS + ["test-cxx-mangled"])
        rc, out = run("--check-config", "-c", conf)
        self.assertEqual(rc, 1, out)
        self.assertIn("does not export poplar_plugin_test_cxx_mangled()", out)
        self.assertIn("_Z30poplar_plugin_test_cxx_mangledv", out)
        self.assertIn('extern "C"', out)


if __name__ == "__main__":
    poplartest.main()
