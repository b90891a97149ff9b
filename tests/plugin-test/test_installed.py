#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The kit as a third party meets it: installed with the development files
and run against plugins built out of the tree.

The build is installed into a temporary DESTDIR; poplar-plugin-test must
be there, in bindir.  The examples of examples/ are copied out and built
with their own Makefiles, and a test store is built with a bare
`cc $(pkg-config --cflags --libs poplar-plugin)`, all seeing Poplar only
through the installed poplar-plugin.pc.  The installed kit must pass every
example and fail the broken store with the check that names its defect.

Arguments: --build-root, --source-root, --meson, --cc (from meson.build).
Exits 0 when every check passed, 1 otherwise.
"""

import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

FAILURES = []


def check(cond, what, detail=""):
    print(("ok - " if cond else "not ok - ") + what)
    if not cond:
        FAILURES.append(what)
        if detail:
            print(detail)
    return cond


def run(cmd, env=None, timeout=600):
    proc = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env=env,
                          stdin=subprocess.DEVNULL, timeout=timeout)
    return proc.returncode, proc.stdout.decode(errors="replace")


def must(cmd, env=None):
    rc, out = run(cmd, env=env)
    if rc != 0:
        print(out)
        raise SystemExit("%s exited with %d" % (" ".join(map(str, cmd)), rc))
    return out


def install(meson, build_root, destdir):
    env = dict(os.environ, DESTDIR=str(destdir))
    must([meson, "install", "-C", build_root, "--no-rebuild",
          "--quiet"], env=env)
    kits = [p for p in destdir.rglob("poplar-plugin-test")
            if p.parent.name == "bin"]
    check(len(kits) == 1, "poplar-plugin-test is installed in bindir")
    pcs = list(destdir.rglob("poplar-plugin.pc"))
    libs = list(destdir.rglob("libpoplar.so.1"))
    mans = list(destdir.rglob("poplar-plugin-test.1*"))
    check(len(mans) == 1, "its man page is installed")
    if len(kits) != 1 or len(pcs) != 1 or len(libs) != 1:
        raise SystemExit("incomplete install in %s" % destdir)
    return kits[0], pcs[0].parent, libs[0].parent


def build_env(pcdir, destdir):
    env = dict(os.environ)
    env.pop("PKG_CONFIG_PATH", None)
    env["PKG_CONFIG_LIBDIR"] = str(pcdir)
    env["PKG_CONFIG_SYSROOT_DIR"] = str(destdir)
    return env


def kit(kit_path, libdir, args):
    # The installed program finds the installed libpoplar.so.1 as it would
    # in /usr/lib; here that is inside DESTDIR.
    env = dict(os.environ, LD_LIBRARY_PATH=str(libdir))
    return run([kit_path] + args, env=env)


def passed(rc, out):
    return rc == 0 and re.search(r"(?m)^\d+ passed, 0 failed$", out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-root", required=True)
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--meson", required=True)
    ap.add_argument("--cc", required=True)
    a = ap.parse_args()
    src = pathlib.Path(a.source_root)

    with tempfile.TemporaryDirectory(prefix="kit-installed-") as tmp:
        work = pathlib.Path(tmp)
        destdir = work / "destdir"
        kit_path, pcdir, libdir = install(a.meson, a.build_root, destdir)
        env = build_env(pcdir, destdir)

        built = {}
        for name in ("store-eml-dir", "passdb-textfile",
                     "hook-business-hours"):
            copy = work / "src" / name
            shutil.copytree(src / "examples" / name, copy)
            for junk in copy.glob("*.so"):
                junk.unlink()
            must(["make", "-C", copy, "CC=" + a.cc], env=env)
            built[name] = copy / (name + ".so")

        # A plugin with no Makefile at all: the compiler line the guide
        # gives, on the kit's own broken test store.
        flags = must(["pkg-config", "--cflags", "--libs", "poplar-plugin"],
                     env=env).split()
        check(all(str(src) not in f and a.build_root not in f
                  for f in flags), "pkg-config points only into DESTDIR")
        broken = work / "src" / "kit-store-lf-size.so"
        must(a.cc.split() + [
            "-std=c11", "-shared", "-fPIC", "-fvisibility=hidden",
            "-DKIT_STORE_IDENT=kit_store_lf_size", "-DBROKEN_LF_SIZE",
            "-o", broken,
            src / "tests" / "plugin-test" / "broken" / "kit-store.c"] +
            flags, env=env)

        mail = work / "mail"
        mail.mkdir()
        (mail / "0001.eml").write_bytes(b"Subject: one\n\nfirst\n")
        (mail / "0002.eml").write_bytes(
            b"Subject: two\r\n\r\n.dot\r\nsecond\r\n")
        (mail / "0003.eml").write_bytes(b"Subject: three\n\nno line end")
        users = work / "users.txt"
        users.write_text("alice {PLAIN}correct horse\n")
        users.chmod(0o600)
        conf = work / "kit.conf"
        conf.write_text("[passdb-textfile]\nfile = %s\n\n"
                        "[hook-business-hours]\nhours = 00:00-24:00\n"
                        "days = mon-sun\n" % users)

        rc, out = kit(kit_path, libdir, ["--mailbox", "emldir:%s" % mail,
                                         built["store-eml-dir"]])
        check(passed(rc, out), "store-eml-dir passes the installed kit", out)
        rc, out = kit(kit_path, libdir, ["-c", conf, "--user", "alice",
                                         "--password", "correct horse",
                                         built["passdb-textfile"]])
        check(passed(rc, out), "passdb-textfile passes the installed kit",
              out)
        rc, out = kit(kit_path, libdir, ["-c", conf,
                                         built["hook-business-hours"]])
        check(passed(rc, out) and "PASS hook.verdicts" in out,
              "hook-business-hours passes the installed kit", out)

        plain = work / "plain"
        shutil.copytree(mail, plain)
        rc, out = kit(kit_path, libdir, ["--mailbox", "kitdir:%s" % plain,
                                         broken])
        check(rc == 1 and "FAIL store.size-equals-retr" in out,
              "an out-of-tree store with LF sizes fails the installed kit",
              out)
        rc, out = kit(kit_path, libdir, ["--tap", "--mailbox",
                                         "kitdir:%s" % plain, broken])
        check(rc == 1 and re.search(r"(?m)^not ok \d+ - "
                                    r"store\.size-equals-retr", out),
              "and says so in TAP", out)

    if FAILURES:
        print("%d failed: %s" % (len(FAILURES), "; ".join(FAILURES)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
