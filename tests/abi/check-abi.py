#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The plugin ABI check, with libabigail's abidiff.

  check-abi.py library --abi-dir abi --headers include/poplar --library libpoplar.so.1
      libpoplar against every baseline abi/libpoplar-MAJOR.MINOR.abi of the
      current major.
  check-abi.py headers --abi-dir abi --headers include/poplar --old probe-1.0.so --new probe-current.so
      the ABI 1.0 types as declared by abi/headers-1.0/ and by today's
      headers (tests/abi/abi-probe.c built against each).

What a minor release may change (include/poplar/version.h): add functions,
append members to the size-tagged ops tables (Poplar*Ops), append enum
values.  Anything else abidiff reports is an incompatible change and fails,
unless the ABI major was bumped (a new major has its own baseline).

Exit status: 0 compatible, 1 incompatible or broken, 77 skipped (no
libabigail, or no debug information to compare).
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
OPS_STRUCT = re.compile(r"^(?:struct )?Poplar\w*Ops$")
UPDATE_HINT = "abi/update-baseline.sh BUILD_DIR"


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def skip(msg):
    print("SKIP: " + msg)
    sys.exit(SKIP)


def run(cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=300)


def abi_version(headers):
    """(major, minor) from version.h in @headers."""
    path = os.path.join(headers, "version.h")
    with open(path) as f:
        text = f.read()
    found = {}
    for part in ("MAJOR", "MINOR"):
        m = re.search(r"^#define POPLAR_ABI_%s (\d+)" % part, text, re.M)
        if not m:
            fail("%s: no POPLAR_ABI_%s" % (path, part))
        found[part] = int(m.group(1))
    return found["MAJOR"], found["MINOR"]


def require_tools():
    for tool in ("abidiff", "abidw", "readelf"):
        if not shutil.which(tool):
            skip("%s not found (Debian: %s)" % (
                tool, "binutils" if tool == "readelf" else "abigail-tools"))


def require_debug_info(path):
    out = run(["readelf", "-S", "-W", path]).stdout
    if ".debug_info" not in out:
        skip("%s has no debug information (a build without -g, e.g. "
             "buildtype=release): nothing to compare" % path)


# ---- reading abidiff's leaf report -------------------------------------------

SUMMARY = re.compile(
    r"^Removed/Changed/Added (functions|variables) summary: "
    r"(\d+) Removed(?: \(\d+ filtered out\))?, "
    r"(\d+) Changed(?: \(\d+ filtered out\))?, "
    r"(\d+) Added")
SYMBOL_SUMMARY = re.compile(
    r"^(Function|Variable) symbols changes summary: (\d+) Removed, (\d+) Added")
TYPE_BLOCK = re.compile(r"^'(.*) at [^']*' changed:$")
SIZE_GREW = re.compile(r"^type size changed from (\d+) to (\d+) \(in bits\)$")
INSERTIONS = re.compile(r"^\d+ data member insertions?:$")
INSERTED = re.compile(r"^'.*', at offset (\d+) \(in bits\)")
IMPACTED = re.compile(r"^(?:one|\d+) impacted interfaces?:$")
ADDED_LIST = re.compile(r"^\d+ Added (function|variable)s?(?: symbols? not "
                        r"referenced by debug info)?:$")
IGNORED_TOP = re.compile(r"^(Leaf changes summary|Changed leaf types summary)")


def judge_type_block(name, lines):
    """Why the type change is not allowed in a minor release, or None."""
    if not OPS_STRUCT.match(name):
        return "'%s' changed (only Poplar*Ops tables may grow)" % name
    old_size = None
    in_impacted = False
    for line in lines:
        text = line.strip()
        if not text:
            continue
        if IMPACTED.match(text):
            in_impacted = True
            continue
        if in_impacted and line.startswith("    "):
            continue
        in_impacted = False
        m = SIZE_GREW.match(text)
        if m:
            old_size = int(m.group(1))
            if int(m.group(2)) < old_size:
                return "'%s' shrank" % name
            continue
        if INSERTIONS.match(text):
            continue
        m = INSERTED.match(text)
        if m and old_size is not None and int(m.group(1)) >= old_size:
            continue
        return "'%s': %s" % (name, text)
    return None


def judge_report(report):
    """(problems, additions) from `abidiff --leaf-changes-only` output."""
    problems, additions = [], []
    lines = report.splitlines()
    i = 0
    listing_added = False
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        if line[0] == " ":
            if listing_added:
                additions.append(line.strip())
            continue
        listing_added = False
        m = TYPE_BLOCK.match(line)
        if m:
            block = []
            while i < len(lines) and (not lines[i] or lines[i][0] == " "):
                block.append(lines[i])
                i += 1
            why = judge_type_block(m.group(1), block)
            if why:
                problems.append(why)
            continue
        m = SUMMARY.match(line)
        if m:
            kind, removed, changed = m.group(1), int(m.group(2)), int(m.group(3))
            if removed:
                problems.append("%d %s removed" % (removed, kind))
            if changed:
                problems.append("%d %s changed" % (changed, kind))
            continue
        m = SYMBOL_SUMMARY.match(line)
        if m:
            if int(m.group(2)):
                problems.append("%s symbols removed" % m.group(1).lower())
            continue
        if ADDED_LIST.match(line):
            listing_added = True
            continue
        if IGNORED_TOP.match(line):
            continue
        problems.append("abidiff says: " + line.strip())
    return problems, additions


def abidiff(old, new, extra):
    cmd = ["abidiff", "--leaf-changes-only", "--impacted-interfaces"] + extra
    cmd += [old, new]
    res = run(cmd)
    if res.returncode & 3:
        fail("abidiff could not compare %s and %s (status %d):\n%s" % (
            old, new, res.returncode, res.stdout))
    return res.returncode, res.stdout


def verdict(rc, report):
    """(problems, additions) of one comparison."""
    problems, additions = judge_report(report)
    if rc & 8 and not problems:
        problems.append("abidiff reports an incompatible change")
    return problems, additions


# ---- libpoplar ---------------------------------------------------------------

def soname(lib):
    out = run(["readelf", "-d", "-W", lib]).stdout
    m = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", out)
    return m.group(1) if m else None


def symbol_versions(lib):
    """{symbol: version node} of the defined dynamic symbols."""
    out = run(["readelf", "--dyn-syms", "-W", lib]).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 8 or not parts[0].endswith(":"):
            continue
        ndx, name = parts[6], parts[7]
        if ndx == "UND" or "@" not in name:
            continue
        sym, _, node = name.partition("@")
        node = node.lstrip("@")
        if sym != node:
            found[sym] = node
    return found


def check_symbols(lib, major, minor):
    """Every exported symbol is poplar_* in POPLAR_MAJOR.x (x <= minor) or
    poplarpriv_* in POPLAR_PRIVATE."""
    problems = []
    for sym, node in sorted(symbol_versions(lib).items()):
        if sym.startswith("poplarpriv_"):
            if node != "POPLAR_PRIVATE":
                problems.append("%s is in %s, not POPLAR_PRIVATE" % (sym, node))
            continue
        if not sym.startswith("poplar_"):
            problems.append("%s is exported (libpoplar.map exports only "
                            "poplar_* and poplarpriv_*)" % sym)
            continue
        m = re.match(r"^POPLAR_(\d+)\.(\d+)$", node)
        if not m or int(m.group(1)) != major or int(m.group(2)) > minor:
            problems.append("%s is in version node %s; ABI %d.%d functions "
                            "belong in POPLAR_%d.0 .. POPLAR_%d.%d" % (
                                sym, node, major, minor, major, major, minor))
    return problems


def self_test(baseline, extra):
    """The classification must see a removed function as incompatible: a
    copy of @baseline without poplar_abi_version is compared with it."""
    with open(baseline) as f:
        text = f.read()
    cut = re.sub(r"\s*<elf-symbol name='poplar_abi_version'[^>]*/>", "", text)
    cut = re.sub(r"\s*<function-decl name='poplar_abi_version'.*?"
                 r"</function-decl>", "", cut, flags=re.S)
    if cut == text:
        fail("self-test: poplar_abi_version not found in %s" % baseline)
    with tempfile.TemporaryDirectory(prefix="poplar-abi-") as tmp:
        broken = os.path.join(tmp, "broken.abi")
        with open(broken, "w") as f:
            f.write(cut)
        rc, report = abidiff(baseline, broken, extra)
    problems, _ = verdict(rc, report)
    if not problems:
        fail("self-test: removing a function was not seen as incompatible "
             "(abidiff status %d):\n%s" % (rc, report))
    print("self-test: a removed function is reported (%s)" % problems[0])


def check_library(args):
    require_tools()
    major, minor = abi_version(args.headers)
    lib = args.library
    name = soname(lib)
    if name != "libpoplar.so.%d" % major:
        fail("%s has SONAME %s but the headers say ABI major %d: a major "
             "bump changes both (libpoplar/meson.build soversion and "
             "include/poplar/version.h)" % (lib, name, major))
    problems = check_symbols(lib, major, minor)
    if problems:
        fail("exported symbols:\n  " + "\n  ".join(problems))
    require_debug_info(lib)

    baselines = {}
    for path in glob.glob(os.path.join(args.abi_dir, "libpoplar-*.abi")):
        m = re.search(r"libpoplar-(\d+)\.(\d+)\.abi$", path)
        if m and int(m.group(1)) == major:
            baselines[int(m.group(2))] = path
    if not baselines:
        fail("no baseline abi/libpoplar-%d.*.abi for ABI major %d: record it "
             "with %s" % (major, major, UPDATE_HINT))
    newer = [m for m in baselines if m > minor]
    if newer:
        fail("baseline %s is newer than the headers' ABI %d.%d" % (
            baselines[max(newer)], major, minor))

    suppr = os.path.join(args.abi_dir, "libpoplar.suppr")
    extra = ["--suppressions", suppr, "--headers-dir2", args.headers,
             "--drop-private-types"]
    self_test(baselines[min(baselines)], ["--suppressions", suppr])
    failed = []
    for base_minor in sorted(baselines):
        baseline = baselines[base_minor]
        rc, report = abidiff(baseline, lib, extra)
        problems, additions = verdict(rc, report)
        label = "ABI %d.%d (%s)" % (major, base_minor, os.path.basename(baseline))
        if problems:
            failed.append("%s: incompatible change:\n    %s\n%s" % (
                label, "\n    ".join(problems), report))
        elif rc and base_minor == minor:
            failed.append(
                "%s: the ABI grew but the headers still say ABI %d.%d:\n"
                "    %s\n%s\nA released minor never changes: bump "
                "POPLAR_ABI_MINOR (and put new functions in a POPLAR_%d.%d "
                "node of libpoplar.map).  While %d.%d is not released yet, "
                "record the new state with %s instead." % (
                    label, major, minor,
                    "\n    ".join(additions or ["(appended members)"]),
                    report, major, minor + 1, major, minor, UPDATE_HINT))
        elif additions:
            print("%s: compatible; added since: %s" % (
                label, ", ".join(additions)))
        elif rc:
            print("%s: compatible (abidiff status %d):\n%s" % (label, rc, report))
        else:
            print("%s: no change" % label)
    if failed:
        fail("\n\n".join(failed))
    print("libpoplar.so.%d: ABI %d.%d compatible with every stored baseline" % (
        major, major, minor))


# ---- the 1.0 types in today's headers -----------------------------------------

def check_headers(args):
    require_tools()
    major, _ = abi_version(args.headers)
    old_major, _ = abi_version(os.path.join(args.abi_dir, "headers-1.0",
                                            "poplar"))
    if major != old_major:
        skip("ABI major is %d: the %d.0 headers are no longer a promise "
             "(compare with abi/headers-%d.0 once recorded)" % (
                 major, old_major, major))
    require_debug_info(args.old)
    require_debug_info(args.new)
    rc, report = abidiff(args.old, args.new, [])
    problems, additions = verdict(rc, report)
    if additions:
        problems.append("the probe gained functions: %s" % ", ".join(additions))
    if problems:
        fail("the ABI 1.0 types changed incompatibly in include/poplar/:\n"
             "    %s\n%s" % ("\n    ".join(problems), report))
    print("include/poplar/: every ABI 1.0 type is compatible with "
          "abi/headers-1.0/" + ("" if rc == 0 else " (appended members)"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["library", "headers"])
    ap.add_argument("--abi-dir", required=True)
    ap.add_argument("--headers", required=True,
                    help="today's include/poplar directory")
    ap.add_argument("--library")
    ap.add_argument("--old")
    ap.add_argument("--new")
    args = ap.parse_args()
    if args.mode == "library":
        if not args.library:
            ap.error("library needs --library")
        check_library(args)
    else:
        if not (args.old and args.new):
            ap.error("headers needs --old and --new")
        check_headers(args)


if __name__ == "__main__":
    main()
