#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The plugin ABI check, with libabigail's abidiff.

  check-abi.py library --abi-dir abi --headers include/poplar --library libpoplar.so.1
               --map libpoplar/libpoplar.map --private-node POPLAR_PRIVATE_0.1.0
      the version script against the headers and the baselines (every
      public function in the node of the minor its "Since:" names, listed by
      name, and nothing else), then libpoplar against every baseline
      abi/libpoplar-MAJOR.MINOR.abi of the current major.
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


# ---- the version script against the headers ------------------------------------

API_DECL = re.compile(r"^POPLAR_API\s+[^;(]*?(\w+)\s*\(", re.M)
SINCE = re.compile(r"Since:\s*(\d+)\.(\d+)")
PUBLIC_NODE = re.compile(r"^POPLAR_(\d+)\.(\d+)$")
MAP_NODE = re.compile(r"([^\s{};]+)\s*\{(.*?)\}\s*([^\s;]*)\s*;", re.S)


def declared_functions(headers):
    """{function: (major, minor, header)} of every POPLAR_API declaration
    in @headers, with the "Since: M.m" of the comment right above it."""
    found, problems = {}, []
    for path in sorted(glob.glob(os.path.join(headers, "*.h"))):
        with open(path) as f:
            text = f.read()
        name = os.path.basename(path)
        for m in API_DECL.finditer(text):
            func = m.group(1)
            end = text.rfind("*/", 0, m.start())
            start = text.rfind("/*", 0, end)
            since = None
            if end >= 0 and not text[end + 2:m.start()].strip():
                found_since = SINCE.findall(text[start:end])
                if found_since:
                    since = tuple(int(x) for x in found_since[-1])
            if since is None:
                problems.append("%s (%s) has no \"Since: MAJOR.MINOR\" in the "
                                "comment right above it" % (func, name))
                continue
            found[func] = (since[0], since[1], name)
    return found, problems


def read_map(path):
    """[(node, [names], parent)] of the version script @path, in order."""
    with open(path) as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"#[^\n]*", " ", text)
    nodes = []
    for m in MAP_NODE.finditer(text):
        body = m.group(2).split("local:")[0].replace("global:", " ")
        names = [n.strip() for n in body.split(";") if n.strip()]
        nodes.append((m.group(1), names, m.group(3) or None))
    return nodes


def map_problems(nodes, declared, defined, major, minor, map_name):
    """What is wrong between the version script's @nodes, the functions
    the headers @declare and the symbols the library has @defined."""
    problems = []
    where = {}
    for node, names, _ in nodes:
        m = PUBLIC_NODE.match(node)
        if not m:
            bad = [n for n in names if not n.startswith("poplarpriv_")]
            if bad:
                problems.append("%s: node %s is not a POPLAR_%d.x node, yet "
                                "exports %s" % (map_name, node, major,
                                                ", ".join(bad)))
            continue
        if int(m.group(1)) != major or int(m.group(2)) > minor:
            problems.append("%s: node %s, but the headers say ABI %d.%d" % (
                map_name, node, major, minor))
        for name in names:
            if any(c in name for c in "*?["):
                problems.append("%s: node %s exports the pattern '%s'; list "
                                "each function by name" % (map_name, node, name))
                continue
            if name in where:
                problems.append("%s: %s is in both %s and %s" % (
                    map_name, name, where[name], node))
            where[name] = node
        if names != sorted(names):
            problems.append("%s: the names in %s are not sorted (one per "
                            "line, sorted, so that additions merge cleanly)" % (
                                map_name, node))
    for func, (fmaj, fmin, header) in sorted(declared.items()):
        want = "POPLAR_%d.%d" % (fmaj, fmin)
        node = where.get(func)
        if node is None:
            problems.append("%s (Since: %d.%d in %s) is in no node of %s: "
                            "add it to %s" % (func, fmaj, fmin, header,
                                              map_name, want))
        elif node != want:
            problems.append("%s is in %s of %s, but %s says Since: %d.%d "
                            "(node %s)" % (func, node, map_name, header,
                                           fmaj, fmin, want))
    for name, node in sorted(where.items()):
        if name not in declared:
            problems.append("%s: %s names %s, which no header in "
                            "include/poplar/ declares POPLAR_API" % (
                                map_name, node, name))
        elif defined is not None and name not in defined:
            problems.append("%s: %s names %s, which libpoplar does not "
                            "define" % (map_name, node, name))
    return problems


def baseline_symbols(path):
    """{symbol: version node} of the functions in a stored baseline."""
    with open(path) as f:
        text = f.read()
    return dict(re.findall(r"<elf-symbol name='(\w+)' version='([^']*)'",
                           text))


def released_node_problems(nodes, baselines, map_name):
    """A released minor's node lists exactly the functions its baseline
    recorded in it: nothing may be added to a released node or leave it."""
    problems = []
    listed = {node: set(names) for node, names, _ in nodes}
    for minor_of, path in sorted(baselines.items()):
        recorded = baseline_symbols(path)
        nodes_in_base = sorted(set(recorded.values()))
        for node in nodes_in_base:
            want = {s for s, n in recorded.items() if n == node}
            have = listed.get(node, set())
            if want - have:
                problems.append("%s: %s lost %s, which %s recorded there" % (
                    map_name, node, ", ".join(sorted(want - have)),
                    os.path.basename(path)))
            if have - want:
                problems.append("%s: %s gained %s, but %s is released (%s): "
                                "new functions go in a new minor's node" % (
                                    map_name, node,
                                    ", ".join(sorted(have - want)), node,
                                    os.path.basename(path)))
    return problems


def map_self_test(nodes, declared, defined, major, minor, map_name):
    """The map check must see a function missing from its node, one moved
    to the wrong node and a name nothing defines."""
    node, names, parent = next(n for n in nodes if PUBLIC_NODE.match(n[0]))
    others = [n for n in nodes if n[0] != node]
    dropped = [(node, names[1:], parent)] + others
    moved = [(node, names[1:], parent),
             ("POPLAR_%d.%d" % (major, minor + 1), [names[0]], node)] + others
    ghost = [(node, sorted(names + ["poplar_no_such_function"]), parent)] + \
        others
    for what, broken, needle in (
            ("a function left out", dropped, "is in no node"),
            ("a function in the wrong node", moved, "says Since"),
            ("a name nothing declares", ghost, "poplar_no_such_function")):
        found = map_problems(broken, declared, defined, major, minor + 1,
                             map_name)
        if not any(needle in p for p in found):
            fail("self-test: %s was not reported: %s" % (what, found))
    print("self-test: the map check reports a missing, a misplaced and an "
          "unknown function")


def check_map(args, major, minor, baselines, defined):
    map_name = os.path.relpath(args.map, os.path.dirname(os.path.dirname(
        os.path.abspath(args.map)))) if args.map else "libpoplar.map"
    declared, problems = declared_functions(args.headers)
    nodes = read_map(args.map)
    if not nodes:
        fail("%s: no version node found" % args.map)
    problems += map_problems(nodes, declared, defined, major, minor, map_name)
    problems += released_node_problems(nodes, baselines, map_name)
    if problems:
        fail("the version script and the headers disagree:\n  " +
             "\n  ".join(problems))
    map_self_test(nodes, declared, defined, major, minor, map_name)
    print("%s: %d public functions, each in the node of its Since: (%s)" % (
        map_name, len(declared), ", ".join(n for n, _, _ in nodes
                                           if PUBLIC_NODE.match(n))))


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


def check_symbols(versions, major, minor, private_node):
    """Every exported symbol is poplar_* in POPLAR_MAJOR.x (x <= minor) or
    poplarpriv_* in this release's private node."""
    problems = []
    for sym, node in sorted(versions.items()):
        if sym.startswith("poplarpriv_"):
            if node != private_node:
                problems.append("%s is in %s, not %s (a poplard and a "
                                "libpoplar of different releases must not "
                                "link)" % (sym, node, private_node))
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
    major, minor = abi_version(args.headers)
    baselines = {}
    for path in glob.glob(os.path.join(args.abi_dir, "libpoplar-*.abi")):
        m = re.search(r"libpoplar-(\d+)\.(\d+)\.abi$", path)
        if m and int(m.group(1)) == major:
            baselines[int(m.group(2))] = path
    # The map needs no libabigail: it is checked even where abidiff is
    # missing.
    versions = symbol_versions(args.library) if shutil.which("readelf") \
        else None
    check_map(args, major, minor, baselines, versions)

    require_tools()
    lib = args.library
    name = soname(lib)
    if name != "libpoplar.so.%d" % major:
        fail("%s has SONAME %s but the headers say ABI major %d: a major "
             "bump changes both (libpoplar/meson.build soversion and "
             "include/poplar/version.h)" % (lib, name, major))
    problems = check_symbols(versions, major, minor, args.private_node)
    if problems:
        fail("exported symbols:\n  " + "\n  ".join(problems))
    require_debug_info(lib)

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
    ap.add_argument("--map", help="libpoplar/libpoplar.map")
    ap.add_argument("--private-node",
                    help="the private version node of this release")
    ap.add_argument("--old")
    ap.add_argument("--new")
    args = ap.parse_args()
    if args.mode == "library":
        if not (args.library and args.map and args.private_node):
            ap.error("library needs --library, --map and --private-node")
        check_library(args)
    else:
        if not (args.old and args.new):
            ap.error("headers needs --old and --new")
        check_headers(args)


if __name__ == "__main__":
    main()
