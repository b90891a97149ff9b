#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`meson install --destdir` gives a tree a distribution can split.

Installs the build into a temporary DESTDIR and checks it against
data/packaging/split.txt: every installed file belongs to exactly one
package; each plugin's package holds its .so and nothing else but
helper programs in {libexecdir}/poplar/, and every plugin of the source
tree has a package; the core package has poplard and
libpoplar.so.1, the -dev package the public headers (all of them), the
link-time library name and poplar-plugin.pc; every plugin links
libpoplar.so.1 and no installed binary keeps a run path into the build
tree.

  check-split.py --build-root B --source-root S --meson MESON [--no-plugins]

The {name} directories of split.txt come from the build's own options
(`meson introspect --buildoptions`), with the layout data/meson.build
uses for the ones meson has no option for.
"""

import argparse
import fnmatch
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

PLUGIN_PACKAGE = "poplar-plugin-"


def fail(problems):
    print("FAIL:\n  " + "\n  ".join(problems))
    sys.exit(1)


def read_split(path, dirs):
    """[(package, absolute glob)] from split.txt, placeholders resolved."""
    rules = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 2:
                fail(["%s:%d: expected 'package glob'" % (path, number)])
            package, pattern = parts

            def resolve(m):
                name = m.group(1)
                if name not in dirs:
                    fail(["%s:%d: unknown directory {%s}" % (path, number,
                                                            name)])
                return dirs[name]
            rules.append((package, re.sub(r"\{(\w+)\}", resolve, pattern)))
    return rules


def build_dirs(meson, build_root):
    """{name: absolute path} for the placeholders of split.txt."""
    res = subprocess.run([meson, "introspect", "--buildoptions", build_root],
                         stdout=subprocess.PIPE, text=True, timeout=60)
    if res.returncode != 0:
        fail(["meson introspect --buildoptions %s failed" % build_root])
    opts = {o["name"]: o["value"] for o in json.loads(res.stdout)}
    prefix = opts["prefix"]

    def under(name):
        return os.path.join(prefix, opts[name])
    libdir = under("libdir")
    return {
        "prefix": prefix,
        "bindir": under("bindir"),
        "sbindir": under("sbindir"),
        "libexecdir": under("libexecdir"),
        "libdir": libdir,
        "includedir": under("includedir"),
        "mandir": under("mandir"),
        "docdir": os.path.join(under("datadir"), "doc", "poplar"),
        "plugindir": os.path.join(libdir, "poplar", "plugins"),
        "unitdir": os.path.join(prefix, "lib", "systemd", "system"),
        "sysusersdir": os.path.join(prefix, "lib", "sysusers.d"),
        "tmpfilesdir": os.path.join(prefix, "lib", "tmpfiles.d"),
    }


def install(build_root, meson, destdir):
    res = subprocess.run([meson, "install", "-C", build_root, "--destdir",
                          destdir, "--no-rebuild", "--quiet"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=300)
    if res.returncode != 0:
        fail(["meson install failed:\n" + res.stdout])


def installed_files(destdir):
    """Absolute installed paths (as on the target system) of every file
    and symbolic link under @destdir."""
    out = []
    for root, dirnames, filenames in os.walk(destdir):
        for name in filenames + [d for d in dirnames
                                 if os.path.islink(os.path.join(root, d))]:
            out.append("/" + os.path.relpath(os.path.join(root, name),
                                              destdir))
    return sorted(out)


def classify(files, rules):
    """({package: [files]}, problems)."""
    packages, problems = {}, []
    for path in files:
        owners = sorted({pkg for pkg, pattern in rules
                         if fnmatch.fnmatchcase(path, pattern)})
        if not owners:
            problems.append("%s belongs to no package (add it to "
                            "data/packaging/split.txt)" % path)
        elif len(owners) > 1:
            problems.append("%s belongs to several packages: %s" % (
                path, ", ".join(owners)))
        else:
            packages.setdefault(owners[0], []).append(path)
    return packages, problems


def readelf_dynamic(path):
    res = subprocess.run(["readelf", "-d", "-W", path],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=60)
    return res.stdout


def is_elf(path):
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def check(args):
    dirs = build_dirs(args.meson, args.build_root)
    rules = read_split(os.path.join(args.source_root, "data", "packaging",
                                    "split.txt"), dirs)
    problems = []

    # The manifest names a package for every plugin of the tree.
    plugins = sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(
        os.path.join(args.source_root, "plugins", "*", "meson.build")))
    for name in plugins:
        expected = os.path.join(dirs["plugindir"], name + ".so")
        if (PLUGIN_PACKAGE + name, expected) not in rules:
            problems.append("split.txt has no line '%s%s  {plugindir}/%s.so'"
                            % (PLUGIN_PACKAGE, name, name))

    with tempfile.TemporaryDirectory(prefix="poplar-destdir-") as destdir:
        install(args.build_root, args.meson, destdir)
        files = installed_files(destdir)
        packages, found = classify(files, rules)
        problems += found

        for pkg, owned in sorted(packages.items()):
            if not pkg.startswith(PLUGIN_PACKAGE):
                continue
            name = pkg[len(PLUGIN_PACKAGE):]
            helpers = os.path.join(dirs["libexecdir"], "poplar", "")
            if [p for p in owned if not p.startswith(helpers)] != [
                    os.path.join(dirs["plugindir"], name + ".so")]:
                problems.append("%s holds %s; a plugin package holds its one "
                                ".so and its helper programs in %s" % (
                                    pkg, owned, helpers))
        for path in files:
            if (os.path.dirname(path) == dirs["plugindir"] and
                    not any(path in v for k, v in packages.items()
                            if k.startswith(PLUGIN_PACKAGE))):
                problems.append("%s is in the plugin directory but not in a "
                                "plugin package" % path)

        core = packages.get("poplar", [])
        for required in (os.path.join(dirs["sbindir"], "poplard"),
                         os.path.join(dirs["libdir"], "libpoplar.so.1")):
            if required not in core:
                problems.append("package poplar lacks %s" % required)
        dev = packages.get("poplar-dev", [])
        headers = sorted(os.path.basename(h) for h in glob.glob(
            os.path.join(args.source_root, "include", "poplar", "*.h")))
        for h in headers:
            if os.path.join(dirs["includedir"], "poplar", h) not in dev:
                problems.append("package poplar-dev lacks the public header "
                                "poplar/%s" % h)
        for required in (os.path.join(dirs["libdir"], "libpoplar.so"),
                         os.path.join(dirs["libdir"], "pkgconfig",
                                      "poplar-plugin.pc")):
            if required not in dev:
                problems.append("package poplar-dev lacks %s" % required)

        build_root = os.path.realpath(args.build_root)
        for path in files:
            real = destdir + path
            if os.path.islink(real) or not is_elf(real):
                continue
            dyn = readelf_dynamic(real)
            for m in re.finditer(r"\((?:RPATH|RUNPATH)\)\s+Library r(?:un)?path:"
                                 r" \[([^\]]*)\]", dyn):
                if build_root in m.group(1) or "$ORIGIN" in m.group(1):
                    problems.append("%s keeps the run path %s" % (
                        path, m.group(1)))
            if os.path.dirname(path) == dirs["plugindir"]:
                if "Shared library: [libpoplar.so.1]" not in dyn:
                    problems.append("%s does not link libpoplar.so.1" % path)

        built = sorted(p[len(PLUGIN_PACKAGE):] for p in packages
                       if p.startswith(PLUGIN_PACKAGE))
        if args.no_plugins and built:
            problems.append("plugins installed although every plugin is "
                            "disabled: %s" % ", ".join(built))
        if problems:
            fail(problems)
        for pkg in sorted(packages):
            print("%-34s %s" % (pkg, " ".join(
                p.replace(dirs["prefix"], "{prefix}", 1)
                for p in packages[pkg])))
        missing = sorted(set(plugins) - set(built))
        print("%d files in %d packages; plugins not built here: %s" % (
            len(files), len(packages), ", ".join(missing) or "none"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-root", required=True)
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--meson", required=True)
    ap.add_argument("--no-plugins", action="store_true",
                    help="the build has every plugin disabled")
    check(ap.parse_args())


if __name__ == "__main__":
    main()
