#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`make deb` builds lintian-clean packages that work on their own.

Builds the Debian packages the way `make deb` does (build-aux/make-deb.sh:
packaging/debian in a temporary copy of the tree, dpkg-buildpackage -b
with nocheck), which leaves the source tree as it was, then:
  - lintian reports no error;
  - the binary packages are those of data/packaging/split.txt, every
    plugin package depends on the poplar of its build and on the
    plugin ABI (poplar-abi-1, which poplar provides);
  - poplar and poplar-plugin-auth-passwd-file, poplar-plugin-store-maildir
    unpacked (dpkg -x) into a throw-away root run from there with only
    LD_LIBRARY_PATH pointing into it: --version, --list-plugins (which
    shows exactly the unpacked plugins) and --check-config of a
    configuration using them; a configuration naming a plugin whose
    package is not unpacked fails the check;
  - the examples/ plugins build against poplar-dev unpacked into that
    root alone (pkg-config with PKG_CONFIG_SYSROOT_DIR and
    PKG_CONFIG_LIBDIR into it), and the packaged poplard loads them.

Skipped (status 77) only when dpkg-buildpackage or debhelper is missing;
`make check` installs both.

  test-deb.py --source-root S
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77
PLUGIN_PACKAGE = "poplar-plugin-"
UNPACKED_PLUGINS = ["auth-passwd-file", "store-maildir"]
EXAMPLES = ["hook-business-hours", "passdb-textfile", "store-eml-dir"]


class Failure(Exception):
    pass


def run(cmd, timeout, ok=(0,), **kw):
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=timeout, **kw)
    if res.returncode not in ok:
        raise Failure("%s (status %d):\n%s" % (" ".join(cmd), res.returncode,
                                               res.stdout[-8000:]))
    return res.stdout


def check(cond, what):
    if not cond:
        raise Failure(what)
    print("ok: " + what.splitlines()[0])


def split_packages(source_root):
    packages = set()
    with open(os.path.join(source_root, "data", "packaging",
                           "split.txt")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                packages.add(line.split()[0])
    return packages


def deb_field(deb, field):
    return run(["dpkg-deb", "-f", deb, field], 60).strip()


def tree_status(source_root):
    """git's view of the work tree (None outside git): the package build
    must leave it as it was."""
    res = subprocess.run(["git", "-C", source_root, "status", "--porcelain",
                          "--untracked-files=all"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, timeout=120)
    return res.stdout if res.returncode == 0 else None


def build(source_root, out):
    env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck parallel=2")
    before = tree_status(source_root)
    print(run([os.path.join(source_root, "build-aux", "make-deb.sh"), out],
              3000, env=env)[-1500:])
    if before is not None:
        check(tree_status(source_root) == before,
              "the package build leaves the source tree as it was")
    changes = glob.glob(os.path.join(out, "*.changes"))
    check(len(changes) == 1, "one .changes file: %s" % changes)
    return changes[0]


def lint(changes):
    out = run(["lintian", "--fail-on", "error", changes], 1200, ok=(0, 1, 2))
    tags = sorted(set(re.findall(r"^([EW]): \S+: (\S+)", out, re.M)))
    print("lintian tags: " + (", ".join("%s %s" % t for t in tags) or "none"))
    errors = [line for line in out.splitlines() if line.startswith("E: ")]
    check(not errors, "lintian reports no error\n" + "\n".join(errors))


def check_package_set(source_root, debs):
    built = {deb_field(d, "Package"): d for d in debs}
    expected = split_packages(source_root)
    check(set(built) == expected,
          "the packages are those of split.txt (built %s, split.txt %s)" % (
              sorted(set(built) - expected), sorted(expected - set(built))))
    version = deb_field(built["poplar"], "Version")
    check("poplar-abi-1" in deb_field(built["poplar"], "Provides"),
          "poplar provides poplar-abi-1")
    for name, deb in sorted(built.items()):
        if not name.startswith(PLUGIN_PACKAGE):
            continue
        depends = [d.strip() for d in deb_field(deb, "Depends").split(",")]
        check("poplar (= %s)" % version in depends and
              "poplar-abi-1" in depends,
              "%s depends on poplar (= %s) and poplar-abi-1: %s" % (
                  name, version, depends))
    return built


def unpack(deb, root):
    run(["dpkg-deb", "-x", deb, root], 120)


def multiarch():
    return run(["dpkg-architecture", "-q", "DEB_HOST_MULTIARCH"], 60).strip()


def write_config(work, name, plugindir, load):
    users = os.path.join(work, "users")
    with open(users, "w") as f:
        f.write("alice:{PLAIN}secret::::%s/alice::\n" % work)
    # poplard warns about a password file others can read.
    os.chmod(users, 0o600)
    conf = os.path.join(work, name)
    with open(conf, "w") as f:
        f.write("[server]\n"
                "listen = 127.0.0.1:0\n"
                "plugin-dir = %s\n"
                "mail = maildir:%s/mail/%%u\n"
                "allow-root = yes\n"
                "\n[plugins]\n"
                "load = %s\n"
                "\n[auth-passwd-file]\n"
                "path = %s\n" % (plugindir, work, "; ".join(load), users))
    return conf


def run_from_root(root, work, debs):
    for name in ["poplar"] + [PLUGIN_PACKAGE + p for p in UNPACKED_PLUGINS]:
        unpack(debs[name], root)
    libdir = os.path.join("/usr/lib", multiarch())
    plugindir = os.path.join(libdir, "poplar", "plugins")
    env = dict(os.environ, LD_LIBRARY_PATH=root + libdir)
    poplard = os.path.join(root, "usr/sbin/poplard")

    print(run([poplard, "--version"], 30, env=env).strip())
    # The directory poplard looks in by itself is where the packages put
    # the plugins.
    default = run([poplard, "--list-plugins", "-c",
                   os.path.join(work, "absent.conf")], 30, env=env)
    check(default.startswith("Plugins in %s " % plugindir),
          "poplard's own plugin directory is the packages' %s:\n%s" % (
              plugindir, default))

    listing = run([poplard, "--list-plugins", "--plugin-dir",
                   root + plugindir], 30, env=env)
    print(listing, end="")
    # A title line, a header line (PLUGIN VERSION ABI ...), one per plugin.
    listed = sorted(l.split()[0] for l in listing.splitlines()[2:]
                    if l.strip())
    check(listed == sorted(UNPACKED_PLUGINS) and "refused" not in listing,
          "--list-plugins from the root lists %s" % UNPACKED_PLUGINS)

    good = write_config(work, "good.conf", root + plugindir, UNPACKED_PLUGINS)
    out = run([poplard, "--check-config", "-c", good], 60, env=env)
    check("configuration OK" in out, "--check-config from the root:\n" + out)

    missing = write_config(work, "missing.conf", root + plugindir,
                           UNPACKED_PLUGINS + ["store-mbox"])
    out = run([poplard, "--check-config", "-c", missing], 60, ok=(1, 2),
              env=env)
    check("store-mbox.so" in out and root + plugindir in out,
          "--check-config names a plugin whose package is not unpacked:\n"
          + out)
    return poplard, env, plugindir


def build_examples(source_root, root, work, debs, poplard, env, plugindir):
    unpack(debs["poplar-dev"], root)
    pc_dir = os.path.join(root, "usr/lib", multiarch(), "pkgconfig")
    # PKG_CONFIG_LIBDIR replaces the default search path: no system-wide
    # poplar-plugin.pc can stand in for the unpacked one.
    pc_env = dict(env, PKG_CONFIG_SYSROOT_DIR=root, PKG_CONFIG_LIBDIR=pc_dir)
    cflags = run(["pkg-config", "--cflags", "--libs", "poplar-plugin"], 30,
                 env=pc_env)
    check(root in cflags, "pkg-config finds poplar-plugin.pc in the root: "
          + cflags.strip())
    for name in EXAMPLES:
        copy = os.path.join(work, "examples", name)
        shutil.copytree(os.path.join(source_root, "examples", name), copy)
        run(["make", "-C", copy], 300, env=pc_env)
        shutil.copy(os.path.join(copy, name + ".so"), root + plugindir)
    listing = run([poplard, "--list-plugins", "--plugin-dir",
                   root + plugindir], 30, env=env)
    print(listing, end="")
    for name in EXAMPLES:
        check(re.search(r"^%s\s" % re.escape(name), listing, re.M) and
              "refused" not in listing,
              "%s built against the unpacked poplar-dev loads" % name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-root", required=True)
    args = ap.parse_args()

    for tool, package in (("dpkg-buildpackage", "dpkg-dev"),
                          ("dh", "debhelper")):
        if not shutil.which(tool):
            print("SKIP: %s not found (apt-get install %s, or make check)"
                  % (tool, package))
            sys.exit(SKIP)
    if not shutil.which("lintian"):
        print("FAIL: lintian not found (apt-get install lintian)")
        sys.exit(1)

    tmp = tempfile.mkdtemp(prefix="poplar-test-deb-")
    try:
        out, root, work = (os.path.join(tmp, d)
                           for d in ("out", "root", "work"))
        for d in (out, root, work):
            os.mkdir(d)
        changes = build(args.source_root, out)
        lint(changes)
        debs = check_package_set(
            args.source_root,
            [d for d in glob.glob(os.path.join(out, "*.deb"))
             if not deb_field(d, "Package").endswith("-dbgsym")])
        poplard, env, plugindir = run_from_root(root, work, debs)
        build_examples(args.source_root, root, work, debs, poplard, env,
                       plugindir)
        print("packages built, lintian-clean, and self-contained")
    except Failure as e:
        print("FAIL: %s" % e)
        sys.exit(1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
