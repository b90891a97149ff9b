#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every configuration key the code reads is documented, and nothing else.

The keys come from the C sources (config_keys.py: poplar_config_get_*() and
poplar_config_has_key() calls and the helpers around them).  Each must
appear, in its section, in data/poplar.conf.example (as "key = " or
"#key = ") and in poplar.conf(5) (a ".TP" / ".B key" entry under
".SS [section]").  Each key those two document must be one the code reads,
and each plugin of the tree must have its section in both.

With --poplard and --plugins-build-dir (the build's plugins/), the example is also read by the real
parser: every commented setting and section is uncommented, every plugin
built is loaded, and `poplard --check-config` must not report an unknown
key or section or a syntax error (missing files and keys that exclude each
other are expected and ignored).
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import config_keys  # noqa: E402

SECTION_LINE = re.compile(r"^#?\[([^\]]+)\]\s*$")
KEY_LINE = re.compile(r"^#?([A-Za-z0-9][A-Za-z0-9_.-]*)\s*=")
# What --check-config says about the file itself rather than about values.
SYNTAX_PROBLEMS = re.compile(
    r"unknown key|unknown section|expected 'key = value'|set again|"
    r"appears again|outside any \[section\]|invalid character|"
    r"unknown escape|lone '\\\\'")


def example_keys(path):
    """{section: {key: line}} of the example."""
    found, section = {}, None
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            m = SECTION_LINE.match(line)
            if m:
                section = m.group(1)
                found.setdefault(section, {})
                continue
            m = KEY_LINE.match(line)
            if m and section is not None:
                found[section][m.group(1)] = number
    return found


def man_unescape(text):
    text = re.sub(r"\\f[BIRP]|\\f\(..", "", text)
    return text.replace("\\-", "-").replace("\\(aq", "'").strip().strip('"')


def man_keys(path):
    """{section: {key: line}} of the man page: under '.SS [section]', the
    '.B key' line that follows each '.TP'."""
    found, section, after_tp = {}, None, False
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if line.startswith(".SH"):
                section, after_tp = None, False
                continue
            if line.startswith(".SS"):
                m = re.match(r"^\[(.+)\]$", man_unescape(line[3:]))
                section = m.group(1) if m else None
                if section:
                    found.setdefault(section, {})
                after_tp = False
                continue
            if line.startswith(".TP"):
                after_tp = True
                continue
            if after_tp and section and line.startswith(".B "):
                found[section][man_unescape(line[3:])] = number
            after_tp = False
    return found


def check_docs(keys, plugins, docs, doc_name):
    problems = []
    read = {}
    for k in keys:
        for s in k.sections():
            read.setdefault(s, set()).add(k.key)
    for k in keys:
        if not any(k.key in docs.get(s, {}) for s in k.sections()):
            problems.append("%s: [%s] %s (read at %s) is not documented" % (
                doc_name, k.section or "server/plugins/tls", k.key, k.where))
    for section, entries in sorted(docs.items()):
        if section not in config_keys.CORE_SECTIONS and section not in plugins:
            problems.append("%s: section [%s] documents no plugin of the "
                            "tree (plugins/%s/ does not exist)" % (
                                doc_name, section, section))
            continue
        for key, line in sorted(entries.items()):
            if key not in read.get(section, set()):
                problems.append("%s:%d: [%s] %s is documented but nothing "
                                "reads it" % (doc_name, line, section, key))
    for section in list(config_keys.CORE_SECTIONS) + plugins:
        if section not in docs:
            problems.append("%s: no [%s] section" % (doc_name, section))
    return problems


def uncommented_example(path, built, users_file):
    """The example with every setting and section uncommented, the
    sections of plugins not built left out, every built plugin loaded."""
    out, section, keep = [], None, True
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            m = SECTION_LINE.match(line)
            if m:
                section = m.group(1)
                keep = (section in config_keys.CORE_SECTIONS or
                        section in built)
                if keep:
                    out.append("[%s]" % section)
                continue
            if not keep:
                continue
            if KEY_LINE.match(line):
                line = line.lstrip("#")
                key = KEY_LINE.match(line).group(1)
                if section == "plugins" and key == "load":
                    line = "load = " + "; ".join(built)
                elif section == "auth-passwd-file" and key == "path":
                    line = "path = " + users_file
            out.append(line)
    return "\n".join(out) + "\n"


def check_runtime(args):
    import glob
    paths = sorted(glob.glob(os.path.join(args.plugins_build_dir, "*",
                                          "*.so")))
    built = sorted(os.path.basename(p)[:-3] for p in paths)
    with tempfile.TemporaryDirectory(prefix="poplar-keys-") as tmp:
        plugin_dir = os.path.join(tmp, "plugins")
        os.mkdir(plugin_dir)
        for p in paths:
            os.symlink(os.path.abspath(p),
                       os.path.join(plugin_dir, os.path.basename(p)))
        users = os.path.join(tmp, "users")
        with open(users, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write("alice:{PLAIN}secret::::%s::\n" % tmp)
        conf = os.path.join(tmp, "poplar.conf")
        with open(conf, "w") as f:
            f.write(uncommented_example(args.example, built, users))
        res = subprocess.run([args.poplard, "--check-config", "-c", conf,
                              "--plugin-dir", plugin_dir],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=60)
    bad = [l for l in res.stdout.splitlines() if SYNTAX_PROBLEMS.search(l)]
    if bad:
        return ["poplard --check-config of the uncommented example (plugins: "
                "%s):\n    %s" % (", ".join(built), "\n    ".join(bad))]
    print("poplard read every setting of the example (plugins: %s)" %
          ", ".join(built))
    return []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--example", required=True)
    ap.add_argument("--man", required=True)
    ap.add_argument("--poplard")
    ap.add_argument("--plugins-build-dir")
    args = ap.parse_args()

    keys = config_keys.read_keys(args.source_root)
    plugins = config_keys.plugins_in_tree(args.source_root)
    if len({(k.section, k.key) for k in keys}) < 20:
        print("FAIL: only %d keys found in the sources: the extraction is "
              "broken" % len(keys))
        sys.exit(1)
    problems = check_docs(keys, plugins, example_keys(args.example),
                          os.path.basename(args.example))
    problems += check_docs(keys, plugins, man_keys(args.man),
                           os.path.basename(args.man))
    if args.poplard and args.plugins_build_dir:
        problems += check_runtime(args)
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("%d keys in %d sections, all documented in %s and %s" % (
        len({(k.section, k.key) for k in keys}),
        len(config_keys.CORE_SECTIONS) + len(plugins),
        os.path.basename(args.example), os.path.basename(args.man)))


if __name__ == "__main__":
    main()
