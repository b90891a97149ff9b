#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every plugin is an optional feature: with all of them disabled the tree
still configures (test suite included) and the core alone builds,
installs and runs.

A distribution builds the server and each plugin package from one source
tree; -Dstore-maildir=disabled must leave a working server without it.
The test reads the feature options of the current build (`meson
introspect`), sets up a scratch build with every one disabled, builds
poplard and libpoplar only, installs into a temporary DESTDIR and checks
that no plugin was installed, that the rest splits by
data/packaging/split.txt into the core and -dev packages, and that the
installed poplard starts: --version, and --list-plugins of its empty
plugin directory.

  test-core-alone.py --build-root B --source-root S --meson MESON
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

FEATURE_CHOICES = {"enabled", "disabled", "auto"}


def run(cmd, timeout, **kw):
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=timeout, **kw)
    if res.returncode != 0:
        print("FAIL: %s (status %d):\n%s" % (" ".join(cmd), res.returncode,
                                             res.stdout[-6000:]))
        sys.exit(1)
    return res.stdout


def feature_options(meson, build_root):
    out = run([meson, "introspect", "--buildoptions", build_root], 60)
    return sorted(o["name"] for o in json.loads(out)
                  if o["section"] == "user" and
                  set(o.get("choices") or []) == FEATURE_CHOICES)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-root", required=True)
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--meson", required=True)
    args = ap.parse_args()

    features = feature_options(args.meson, args.build_root)
    if not features:
        print("FAIL: no feature options found in %s" % args.build_root)
        sys.exit(1)
    print("disabling: " + ", ".join(features))

    tmp = tempfile.mkdtemp(prefix="poplar-core-alone-")
    try:
        build = os.path.join(tmp, "build")
        # -O0: this build is thrown away; only whether it builds matters.
        setup = [args.meson, "setup", build, args.source_root,
                 "--buildtype=debug", "--prefix=/usr", "--sysconfdir=/etc",
                 "--wrap-mode=nodownload"]
        setup += ["-D%s=disabled" % f for f in features]
        run(setup, 300)

        targets = json.loads(run([args.meson, "introspect", "--targets",
                                  build], 60))
        installed = [t for t in targets if t["installed"]]
        modules = [t["name"] for t in installed
                   if t["type"] == "shared module"]
        if modules:
            print("FAIL: plugins still built with every feature disabled: "
                  + ", ".join(modules))
            sys.exit(1)

        run(["ninja", "-C", build] + [
            os.path.relpath(f, build) for t in installed
            for f in t["filename"]], 600)

        destdir = os.path.join(tmp, "dest")
        run([args.meson, "install", "-C", build, "--destdir", destdir,
             "--no-rebuild", "--quiet"], 300)

        split = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             "check-split.py")
        out = run([sys.executable, split, "--build-root", build,
                   "--source-root", args.source_root, "--meson", args.meson,
                   "--no-plugins"], 300)
        print(out.strip())

        opts = {o["name"]: o["value"] for o in json.loads(run(
            [args.meson, "introspect", "--buildoptions", build], 60))}
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = destdir + os.path.join(opts["prefix"],
                                                        opts["libdir"])
        poplard = destdir + os.path.join(opts["prefix"], opts["sbindir"],
                                         "poplard")
        print(run([poplard, "--version"], 30, env=env).strip())
        empty = os.path.join(tmp, "plugins")
        os.mkdir(empty)
        listing = run([poplard, "--list-plugins", "--plugin-dir", empty], 30,
                      env=env)
        if "refused" in listing or len(listing.strip().splitlines()) != 2:
            print("FAIL: unexpected --list-plugins output:\n" + listing)
            sys.exit(1)
        print("core alone: configured, built, installed and ran")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
