# SPDX-License-Identifier: MIT
"""The configuration keys the code reads, found in the C sources.

A key is read through libpoplar's accessors, poplar_config_get_*() and
poplar_config_has_key(), whose second argument is the key.  Code often wraps
them in a small helper (read_unsigned(s, "threads", ...)): a function with a
PoplarConfig parameter that passes one of its own parameters as the key is
found too, and its calls with a string literal in that position count as
reads.

A table of keys whose entries start {.section = "NAME", .key = "KEY", ...}
(the core's reader) counts as reads of those keys in [NAME].

Sections: a plugin's sources (plugins/NAME/) read [NAME].  Sources shared
by a family of plugins (plugins/common/FAMILY/, compiled into each
plugins/FAMILY-*/) read the section of every plugin of the family.  The core reads
[server], [plugins], [tls], [control], [metrics] and [proxy]; a call whose first argument is a variable
assigned from poplarpriv_config_section_ensure(file, "NAME") in the same
function is attributed to [NAME], any other core call to "one of the core's
sections".
"""

import glob
import os
import re

CORE_SECTIONS = ("server", "plugins", "tls", "control", "metrics", "proxy")
ACCESSOR = re.compile(r"\bpoplar_config_(?:get_\w+|has_key)\s*\(")
SECTION_ENSURE = re.compile(
    r"\b(\w+)\s*=\s*poplarpriv_config_section(?:_\w+)?\s*\(\s*\w+\s*,"
    r"\s*\"([^\"]+)\"")
FUNCTION = re.compile(
    r"^[A-Za-z_][\w \t\*]*?\b(\w+)\s*\(([^;{)]*(?:\([^)]*\)[^;{)]*)*)\)\s*\{",
    re.M)
STRING = re.compile(r'^"((?:[^"\\]|\\.)*)"$')
# An entry of a table of keys (core/server-config.c):
# {.section = "server", .key = "listen", ...}
TABLE_ENTRY = re.compile(
    r'\.section\s*=\s*"([^"]+)"\s*,\s*\.key\s*=\s*"([^"]+)"')


def strip_comments(text):
    """C text with comments blanked out (string literals kept), so that
    positions stay the same."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"' or c == "'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def call_args(text, open_paren):
    """The top-level arguments of the call whose '(' is at @open_paren."""
    depth, i, start, args = 0, open_paren, open_paren + 1, []
    while i < len(text):
        c = text[i]
        if c == '"' or c == "'":
            j = i + 1
            while j < len(text) and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                args.append(text[start:i].strip())
                return args
        elif c == "," and depth == 1:
            args.append(text[start:i].strip())
            start = i + 1
        i += 1
    return args


def literal(arg):
    m = STRING.match(arg.strip())
    return m.group(1) if m else None


def functions(text):
    """[(name, params, body_start, body_end)] of the function definitions."""
    found = []
    for m in FUNCTION.finditer(text):
        name = m.group(1)
        if name in ("if", "for", "while", "switch", "return", "sizeof"):
            continue
        start = m.end() - 1
        depth, i = 0, start
        while i < len(text):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        params = [p.strip() for p in m.group(2).split(",")]
        found.append((name, params, start, i))
    return found


def param_name(decl):
    m = re.search(r"(\w+)\s*(?:\[\s*\])?$", decl)
    return m.group(1) if m else None


def calls(text, name_pattern):
    """[(position, args)] of the calls matching @name_pattern (a regex that
    ends with the opening parenthesis)."""
    out = []
    for m in re.finditer(name_pattern, text):
        out.append((m.start(), call_args(text, m.end() - 1)))
    return out


class Key:
    def __init__(self, section, key, where):
        self.section = section  # a section name, or None: a core section
        self.key = key
        self.where = where

    def sections(self):
        return (self.section,) if self.section else CORE_SECTIONS


def keys_of_file(path, plugin):
    """[Key] read by the C file @path (of plugin @plugin, or the core)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = strip_comments(f.read())
    funcs = functions(text)

    # Helpers that pass their own parameter on as the key.
    helpers = {}
    for name, params, start, end in funcs:
        names = [param_name(p) for p in params]
        if not any("PoplarConfig" in p for p in params):
            continue
        for _, args in calls(text[start:end], ACCESSOR.pattern):
            if len(args) >= 2 and args[1] in names:
                helpers[name] = names.index(args[1])

    def function_at(pos):
        for f in funcs:
            if f[2] <= pos <= f[3]:
                return f
        return None

    found = []
    for m in TABLE_ENTRY.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        found.append(Key(plugin or m.group(1), m.group(2),
                         "%s:%d" % (path, line)))
    patterns = [(ACCESSOR.pattern, 1)]
    patterns += [(r"\b%s\s*\(" % re.escape(h), i) for h, i in helpers.items()]
    for pattern, index in patterns:
        for pos, args in calls(text, pattern):
            if len(args) <= index:
                continue
            key = literal(args[index])
            if key is None:
                continue
            line = text.count("\n", 0, pos) + 1
            where = "%s:%d" % (path, line)
            if plugin:
                found.append(Key(plugin, key, where))
                continue
            section = None
            func = function_at(pos)
            if func:
                body = text[func[2]:func[3]]
                for var, name in SECTION_ENSURE.findall(body):
                    if var == args[0].strip():
                        section = name
            found.append(Key(section, key, where))
    return found


def read_keys(source_root):
    """[Key] of the core (core/*.c) and of every plugin (plugins/*/)."""
    keys = []
    for path in sorted(glob.glob(os.path.join(source_root, "core", "*.c"))):
        keys += keys_of_file(path, None)
    for plugin_dir in sorted(glob.glob(os.path.join(source_root, "plugins",
                                                    "*", ""))):
        plugin = os.path.basename(os.path.dirname(plugin_dir))
        for path in sorted(glob.glob(os.path.join(plugin_dir, "*.c"))):
            keys += keys_of_file(path, plugin)
    plugins = plugins_in_tree(source_root)
    for family_dir in sorted(glob.glob(os.path.join(
            source_root, "plugins", "common", "*", ""))):
        family = os.path.basename(os.path.dirname(family_dir))
        for plugin in plugins:
            if not plugin.startswith(family + "-"):
                continue
            for path in sorted(glob.glob(os.path.join(family_dir, "*.c"))):
                keys += keys_of_file(path, plugin)
    return keys


def plugins_in_tree(source_root):
    return sorted(os.path.basename(os.path.dirname(d)) for d in glob.glob(
        os.path.join(source_root, "plugins", "*", "meson.build")))


if __name__ == "__main__":
    import sys
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    seen = set()
    for k in read_keys(root):
        label = "[%s] %s" % (k.section or "core", k.key)
        if label not in seen:
            seen.add(label)
            print("%-40s %s" % (label, k.where))
