#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Builds examples/ as a third party would, and runs them in poplard.

1. Checks that the code quoted in docs/plugin-guide.md matches examples/,
   and installs the current build into a temporary DESTDIR.
2. Copies each example out of the source tree and builds it with its own
   Makefile, seeing Poplar only through the installed poplar-plugin.pc
   (PKG_CONFIG_LIBDIR and PKG_CONFIG_SYSROOT_DIR point into the DESTDIR).
   No -I or -L may point into the source or build tree, and every Poplar
   header the compiler reads must come from the DESTDIR.
3. Loads each built plugin with dlopen and checks its descriptor.
4. With poplard built: `poplard --list-plugins` shows all three with the
   ABI of the installed headers (poplar-plugin.pc's abi_major and
   abi_minor), and real POP3 sessions (Python poplib, curl) log in through
   passdb-textfile, read mail from store-eml-dir and meet the
   business-hours hook.

Exits 0 when everything passed, 77 (skip) when poplard is not built yet
(after the build checks passed), 1 on a failure.
"""

import argparse
import ctypes
import os
import pathlib
import poplib
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

EXAMPLES = ["hook-business-hours", "store-eml-dir", "passdb-textfile"]
SKIP = 77


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)
    print(f"ok - {what}")


def run(cmd, **kwargs):
    """Runs @cmd, returns its output; a non-zero exit is a failure that
    shows the command and everything it printed."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, **kwargs)
    if proc.returncode != 0:
        raise Failure(f"{' '.join(map(str, cmd))} exited with "
                      f"{proc.returncode}:\n{proc.stdout}")
    return proc.stdout


# ---- the guide ----------------------------------------------------------

def check_guide_excerpts(src_root):
    """docs/plugin-guide.md quotes the examples; every block marked
    <!-- from PATH --> must still be a verbatim part of PATH."""
    guide = (src_root / "docs" / "plugin-guide.md").read_text()
    blocks = re.findall(r"<!-- from (\S+) -->\n```\w*\n(.*?)\n```\n",
                        guide, re.S)
    check(len(blocks) >= 10, f"the plugin guide quotes {len(blocks)} "
                             "excerpts of the examples")
    stale = [path for path, code in blocks
             if code not in (src_root / path).read_text()]
    check(not stale, "every excerpt in docs/plugin-guide.md matches its "
                     f"source {' '.join(stale)}")


# ---- install and build ---------------------------------------------------

def install(meson, build_root, destdir):
    env = dict(os.environ, DESTDIR=str(destdir))
    run(meson + ["install", "-C", str(build_root), "--no-rebuild"], env=env)
    pcs = list(destdir.rglob("poplar-plugin.pc"))
    check(len(pcs) == 1, "meson install put one poplar-plugin.pc in DESTDIR")
    libs = list(destdir.rglob("libpoplar.so.1"))
    check(len(libs) == 1, "meson install put libpoplar.so.1 in DESTDIR")
    return pcs[0].parent, libs[0]


def pkg_config_env(pcdir, destdir):
    env = dict(os.environ)
    env.pop("PKG_CONFIG_PATH", None)
    # LIBDIR replaces the default search path, so a Poplar installed on
    # this machine can never be picked up instead of the one just built.
    env["PKG_CONFIG_LIBDIR"] = str(pcdir)
    env["PKG_CONFIG_SYSROOT_DIR"] = str(destdir)
    return env


def assert_outside_trees(text, trees, what):
    """Fails when a -I, -L or rpath flag in @text points into @trees."""
    bad = [flag for flag in text.split()
           if flag.startswith(("-I", "-L", "-Wl,-rpath"))
           and any(str(tree) in flag for tree in trees)]
    check(not bad, f"{what}: no -I/-L into the source or build tree "
                   f"{' '.join(bad)}")


def build_example(name, src_root, work, env, trees, destdir, cc):
    src = work / "src" / name
    shutil.copytree(src_root / "examples" / name, src)
    for junk in src.glob("*.so"):
        junk.unlink()

    pkg_config = env.get("PKG_CONFIG", "pkg-config")
    cflags = run([pkg_config, "--cflags", "poplar-plugin"], env=env)
    libs = run([pkg_config, "--libs", "poplar-plugin"], env=env)
    check(str(destdir) in cflags, f"{name}: pkg-config cflags point "
                                  f"into DESTDIR ({cflags.strip()})")
    assert_outside_trees(cflags + " " + libs, trees, f"{name} pkg-config")

    make_out = run(["make", "-C", str(src), f"CC={cc}"], env=env)
    print(make_out, end="")
    assert_outside_trees(make_out, trees, f"{name} make")
    so = src / f"{name}.so"
    check(so.is_file(), f"{name}: make built {so.name}")

    # Ask the compiler which headers it really reads.
    deps = run(cc.split() + ["-std=c11", "-M"] + cflags.split() +
               [str(src / f"{name}.c")], env=env)
    poplar_headers = [d for d in deps.replace("\\\n", " ").split()
                      if "/poplar/" in d and d.endswith(".h")]
    check(len(poplar_headers) >= 7, f"{name}: includes the Poplar headers")
    foreign = [h for h in poplar_headers if not os.path.realpath(h)
               .startswith(os.path.realpath(destdir) + os.sep)]
    check(not foreign, f"{name}: every Poplar header comes from the "
                       f"installed copy {' '.join(foreign)}")

    if shutil.which("nm"):
        out = run(["nm", "-D", "--defined-only", str(so)])
        exported = {line.split()[-1] for line in out.splitlines()
                    if line.strip()} - {"_init", "_fini", "_edata", "_end",
                                        "__bss_start"}
        getter = "poplar_plugin_" + name.replace("-", "_")
        check(exported == {getter},
              f"{name}: exports only {getter} (got {sorted(exported)})")
    return src


class Descriptor(ctypes.Structure):
    # struct PoplarPluginDescriptor from poplar/plugin.h, ABI 1.0
    _fields_ = [("magic", ctypes.c_uint32),
                ("abi_major", ctypes.c_uint16),
                ("abi_minor", ctypes.c_uint16),
                ("struct_size", ctypes.c_uint32),
                ("name", ctypes.c_char_p),
                ("version", ctypes.c_char_p),
                ("description", ctypes.c_char_p),
                ("preinit", ctypes.c_void_p),
                ("init", ctypes.c_void_p),
                ("fini", ctypes.c_void_p)]


def installed_abi(env, destdir):
    """(major, minor) the installed poplar-plugin.pc announces, which must
    be what the installed poplar/version.h says."""
    pkg_config = env.get("PKG_CONFIG", "pkg-config")
    abi = tuple(int(run([pkg_config, f"--variable=abi_{part}",
                         "poplar-plugin"], env=env))
                for part in ("major", "minor"))
    headers = list(destdir.rglob("poplar/version.h"))
    check(len(headers) == 1, "meson install put one poplar/version.h")
    text = headers[0].read_text()
    declared = tuple(int(re.search(rf"^#define POPLAR_ABI_{part} (\d+)$",
                                   text, re.M).group(1))
                     for part in ("MAJOR", "MINOR"))
    check(abi == declared, f"poplar-plugin.pc says ABI {abi[0]}.{abi[1]}, "
                           f"as poplar/version.h does")
    return abi


def check_descriptor(name, so_path, libpoplar, abi):
    # The plugin needs libpoplar.so.1 but carries no rpath (poplard has
    # already loaded the library when it opens plugins); load it first.
    ctypes.CDLL(str(libpoplar), mode=ctypes.RTLD_GLOBAL)
    lib = ctypes.CDLL(str(so_path), mode=ctypes.RTLD_LOCAL)
    getter = getattr(lib, "poplar_plugin_" + name.replace("-", "_"))
    getter.restype = ctypes.POINTER(Descriptor)
    d = getter().contents
    check(d.magic == 0x504F504C, f"{name}: descriptor magic is POPL")
    check((d.abi_major, d.abi_minor) == abi,
          f"{name}: built for ABI {abi[0]}.{abi[1]}")
    check(d.struct_size == ctypes.sizeof(Descriptor),
          f"{name}: descriptor size {d.struct_size}")
    check(d.name.decode() == name.replace("-", "_"),
          f"{name}: descriptor name {d.name.decode()}")
    check(d.init is not None, f"{name}: has an init")


# ---- poplard ------------------------------------------------------------

class Poplard:
    """A poplard on an ephemeral loopback port, with its log collected."""

    def __init__(self, poplard, config, env):
        self.proc = subprocess.Popen(
            [poplard, "-c", str(config)], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        self.lines = []
        self._queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.port = self._wait_for_port()

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    def _wait_for_port(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                return int(m.group(1))
        self.stop()
        raise Failure("poplard did not report a listener:\n" +
                      "\n".join(self.lines))

    def log(self):
        return "\n".join(self.lines)

    def log_has(self, text, timeout=10.0):
        """Whether @text shows up in the log within @timeout seconds: the
        log is read by a thread, so a line may land just after the reply
        that followed it."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise Failure("poplard did not exit on SIGTERM")


def crlf(data):
    """What the core sends for a stored message: every line end CRLF and a
    final line end added when missing (before dot-stuffing)."""
    data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data


LONG_NAME = "a-file-name-longer-than-seventy-characters-" + "x" * 40 + ".eml"
MESSAGES = {
    # LF line ends, a line starting with '.', a "From " line, 8-bit text
    "0001.eml": b"From: a@example.org\nSubject: one\n\n.leading dot\n"
                b"From the start\n\xc3\xa9t\xc3\xa9\n",
    # CRLF line ends and no final line end
    "0002.eml": b"From: b@example.org\r\nSubject: two\r\n\r\nno final eol",
    # a name that cannot be a UIDL as it is
    LONG_NAME: b"Subject: three\n\nbody\n",
}
IGNORED = {".partial.eml": b"Subject: hidden\n\n", "notes.txt": b"x\n"}


def write_fixtures(work):
    mail = work / "mail" / "alice"
    mail.mkdir(parents=True)
    for name, data in {**MESSAGES, **IGNORED}.items():
        (mail / name).write_bytes(data)
    (work / "mail" / "bob").mkdir()
    users = work / "users.txt"
    users.write_text("# demonstration users\n"
                     "alice {PLAIN}correct horse\n"
                     "bob   secret\n")
    return users


def write_config(work, name, plugindir, users, hook_lines):
    conf = work / name
    conf.write_text(
        "[server]\n"
        "listen = 127.0.0.1:0\n"
        f"plugin-dir = {plugindir}\n"
        f"mail = emldir:{work}/mail/%u\n"
        "auth-failure-delay = 0\n"
        "log-level = info\n"
        # The suite runs as root; a real site sets user = instead.
        "allow-root = yes\n"
        "\n[plugins]\n"
        "load = passdb-textfile; store-eml-dir; hook-business-hours\n"
        "\n[passdb-textfile]\n"
        f"file = {users}\n"
        "\n[store-eml-dir]\n"
        "suffix = .eml\n"
        "\n[hook-business-hours]\n" + "".join(l + "\n" for l in hook_lines))
    return conf


def login(port, user="alice", password="correct horse"):
    pop = poplib.POP3("127.0.0.1", port, timeout=20)
    pop.user(user)
    pop.pass_(password)
    return pop


def expect_err(what, code, func, *args):
    try:
        func(*args)
    except poplib.error_proto as e:
        text = e.args[0].decode("utf-8", "replace") if e.args else ""
        check(text.startswith("-ERR") and (code is None or code in text),
              f"{what}: {text}")
        return text
    raise Failure(f"{what}: expected -ERR{' ' + code if code else ''}")


def session_checks(port, work):
    pop = login(port)
    count, octets = pop.stat()
    check(count == len(MESSAGES), f"STAT lists {count} messages")
    names = sorted(MESSAGES)
    expected = [crlf(MESSAGES[n]) for n in names]
    check(octets == sum(map(len, expected)), f"STAT octets {octets}")

    _, listing, _ = pop.list()
    sizes = [int(line.split()[1]) for line in listing]
    check(sizes == [len(e) for e in expected], f"LIST sizes {sizes}")

    _, uidl_lines, _ = pop.uidl()
    uidls = [line.split()[1].decode() for line in uidl_lines]
    check(uidls[:2] == ["0001", "0002"], "UIDL from the file name")
    check(re.fullmatch(r"~[0-9a-f]{16}", uidls[2]) is not None,
          f"a long name gets a hashed UIDL ({uidls[2]})")

    for number, data in enumerate(expected, start=1):
        _, lines, got_octets = pop.retr(number)
        check(b"\r\n".join(lines) + b"\r\n" == data,
              f"RETR {number} returns the message byte for byte")
        check(got_octets == sizes[number - 1],
              f"RETR {number} sends the octets LIST announced")

    expect_err("DELE on a read-only mailbox", "[SYS/PERM]", pop.dele, 1)
    pop.quit()
    for name in MESSAGES:
        check((work / "mail" / "alice" / name).exists(),
              f"{name} still there after DELE+QUIT")

    pop = login(port)
    _, again, _ = pop.uidl()
    check([l.split()[1].decode() for l in again] == uidls,
          "UIDLs are the same in a second session")
    pop.quit()

    pop = poplib.POP3("127.0.0.1", port, timeout=20)
    pop.user("alice")
    expect_err("wrong password", None, pop.pass_, "wrong")
    pop.quit()
    pop = poplib.POP3("127.0.0.1", port, timeout=20)
    pop.user("nobody")
    expect_err("unknown user", None, pop.pass_, "secret")
    pop.quit()

    pop = poplib.POP3("127.0.0.1", port, timeout=20)
    if poplib.POP3.timestamp.match(pop.getwelcome()):
        pop.apop("bob", "secret")
        check(pop.stat() == (0, 0),
              "APOP with the secret from lookup_secret (empty mailbox)")
        pop.quit()
    else:
        print("# greeting has no APOP timestamp: APOP not checked")
        pop.quit()

    if shutil.which("curl"):
        out = subprocess.run(
            ["curl", "-sS", "--max-time", "20",
             f"pop3://alice:correct%20horse@127.0.0.1:{port}/2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        check(out.returncode == 0 and out.stdout == expected[1],
              "curl retrieves message 2 byte for byte "
              f"(exit {out.returncode}, {out.stderr.decode().strip()})")


def poplard_checks(poplard, plugindir, work, abi):
    listing = run([poplard, "--list-plugins", "--plugin-dir", str(plugindir)])
    print(listing, end="")
    version = f"{abi[0]}.{abi[1]}"
    for name in EXAMPLES:
        rows = [l for l in listing.splitlines()
                if re.match(rf"{re.escape(name)}\s", l)]
        check(len(rows) == 1 and "refused" not in rows[0] and
              re.search(rf"\s{re.escape(version)}\s", rows[0]) is not None,
              f"poplard --list-plugins: {name} with ABI {version}")

    users = write_fixtures(work)
    # The hook uses poplard's local time; pin it so the windows below are
    # known to include or exclude the present moment.
    env = dict(os.environ, TZ="UTC")
    hour = time.gmtime().tm_hour

    bad = write_config(work, "bad.conf", plugindir, users,
                       ["hours = 25:00-26:00", "days = mon-fry"])
    proc = subprocess.run([poplard, "--check-config", "-c", str(bad)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=env)
    check(proc.returncode != 0 and "hours" in proc.stdout and
          "days" in proc.stdout and "bad.conf" in proc.stdout,
          "--check-config names the bad hook keys:\n" + proc.stdout)

    open_conf = write_config(work, "open.conf", plugindir, users,
                             ["hours = 00:00-24:00", "days = mon-sun"])
    server = Poplard(poplard, open_conf, env)
    try:
        session_checks(server.port, work)
    except Exception:
        print(server.log())
        raise
    finally:
        server.stop()

    closed_hours = [f"hours = {(hour + 2) % 24:02d}:00-"
                    f"{(hour + 3) % 24:02d}:00", "days = mon-sun"]
    closed = write_config(work, "closed.conf", plugindir, users, closed_hours)
    server = Poplard(poplard, closed, env)
    try:
        pop = poplib.POP3("127.0.0.1", server.port, timeout=20)
        text = expect_err("login outside business hours", "[AUTH]",
                          lambda: (pop.user("alice"),
                                   pop.pass_("correct horse")))
        check("business hours" in text, "the reply explains why")
        pop.quit()
        check(server.log_has("refused outside business hours"),
              "the refusal is logged")
    except Exception:
        print(server.log())
        raise
    finally:
        server.stop()

    exempt = write_config(work, "exempt.conf", plugindir, users,
                          closed_hours +
                          ["exempt-networks = 127.0.0.0/8; ::1"])
    server = Poplard(poplard, exempt, env)
    try:
        pop = login(server.port)
        check(pop.stat()[0] == len(MESSAGES),
              "an exempt network logs in outside business hours")
        pop.quit()
    except Exception:
        print(server.log())
        raise
    finally:
        server.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-root", required=True, type=pathlib.Path)
    ap.add_argument("--source-root", required=True, type=pathlib.Path)
    ap.add_argument("--meson", default="meson",
                    help="the meson command (may contain spaces)")
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"))
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory")
    args = ap.parse_args()
    build_root = args.build_root.resolve()
    src_root = args.source_root.resolve()
    poplard = os.environ.get("POPLARD", str(build_root / "core" / "poplard"))

    work = pathlib.Path(tempfile.mkdtemp(prefix="poplar-examples-"))
    try:
        check_guide_excerpts(src_root)
        destdir = work / "destdir"
        pcdir, libpoplar = install(args.meson.split(), build_root, destdir)
        env = pkg_config_env(pcdir, destdir)
        abi = installed_abi(env, destdir)
        trees = [src_root, build_root]
        plugindir = work / "plugins"
        for name in EXAMPLES:
            src = build_example(name, src_root, work, env, trees, destdir,
                                args.cc)
            run(["make", "-C", str(src), "install", f"PLUGINDIR={plugindir}"],
                env=env)
            so = plugindir / f"{name}.so"
            check(so.is_file(), f"{name}: make install put it in PLUGINDIR")
            check_descriptor(name, so, libpoplar, abi)

        if not os.access(poplard, os.X_OK):
            print(f"# SKIP the poplard checks: {poplard} is not built")
            return SKIP
        poplard_checks(poplard, plugindir, work, abi)
        return 0
    except Failure as e:
        print(f"not ok - {e}")
        return 1
    finally:
        if args.keep:
            print(f"# kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
