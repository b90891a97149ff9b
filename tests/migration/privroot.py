# SPDX-License-Identifier: MIT
"""A throw-away root for servers whose Debian packages cannot be installed
on this machine.

Courier's and Cyrus's POP3 and IMAP servers declare "Conflicts:
pop3-server, imap-server", which dovecot-pop3d, dovecot-imapd and
mailutils-pop3d (needed by other tests) provide, so apt will not install
them beside each other.  Their programs look for their configuration,
libraries and sockets at compiled-in paths (/etc/courier, /usr/lib/cyrus,
/run/courier, /etc/imapd.conf...), so unpacking them somewhere else is
not enough either.

A PrivateRoot therefore downloads the packages with `apt-get download`
(never installing them), unpacks them once into a cache directory, and
runs a server in a private mount and PID namespace whose root is an
overlay: the host's / below, the unpacked packages copied into a tmpfs
above it.  The server sees the host's libraries and tools plus the
packages at their own paths; whatever it writes outside the directories
the test binds in stays in the tmpfs and vanishes with the namespace, as
do all its processes (the namespace's init is killed on stop).

The cache directory is POPLAR_DEB_CACHE (set by meson to a directory of
the build tree, so re-runs do not download again), else a directory
under the system's temporary directory.
"""

import fcntl
import hashlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

DOWNLOAD_TIMEOUT = 300
UNPACK_TIMEOUT = 120
# What a server does not need and a copy per start should not pay for.
UNPACK_SKIP = ("usr/share/doc", "usr/share/man", "usr/share/locale",
               "usr/share/lintian")


def cache_dir():
    d = os.environ.get("POPLAR_DEB_CACHE") or os.path.join(
        tempfile.gettempdir(), "poplar-deb-cache")
    os.makedirs(d, exist_ok=True)
    return d


def missing_tools():
    tools = ("apt-get", "dpkg-deb", "unshare", "chroot", "mount")
    gone = [t for t in tools if shutil.which(t) is None
            and not os.path.exists("/usr/sbin/" + t)
            and not os.path.exists("/sbin/" + t)]
    if gone:
        return "missing %s" % ", ".join(gone)
    if os.geteuid() != 0:
        return "a private root needs mount namespaces: run the test as root"
    with open("/proc/filesystems") as f:
        if "overlay" not in f.read():
            return "the kernel has no overlay file system"
    return None


def merge_usr(tree):
    """Moves /bin, /lib... of a package into /usr where the host has them
    as links into /usr (merged /usr): a directory in the upper layer would
    hide the host's link, and with it the dynamic loader."""
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        src = os.path.join(tree, top)
        host = os.path.join("/", top)
        if not os.path.isdir(src) or os.path.islink(src) \
                or not os.path.islink(host):
            continue
        dst = os.path.join(tree, os.readlink(host).lstrip("/")) \
            if os.readlink(host).startswith("/") \
            else os.path.join(tree, os.readlink(host))
        os.makedirs(dst, exist_ok=True)
        subprocess.run(["cp", "-a", src + "/.", dst + "/"], check=True,
                       timeout=UNPACK_TIMEOUT)
        shutil.rmtree(src)


class PrivateRoot:
    """The packages @packages, unpacked once; start() runs a shell script
    inside a private root made of them over the host's /."""

    def __init__(self, packages):
        self.packages = sorted(packages)
        why = missing_tools()
        if why:
            raise unittest.SkipTest("cannot make a private root for %s: %s"
                                    % (" ".join(self.packages), why))
        key = hashlib.sha256(" ".join(self.packages).encode()).hexdigest()
        self.cache = cache_dir()
        self.tree = os.path.join(self.cache, "root-" + key[:16])
        with open(os.path.join(self.cache, "lock"), "w") as lock:
            # Two tests may want the same packages at once.
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not os.path.exists(os.path.join(self.tree, ".complete")):
                self._unpack(self._download())

    def _download(self):
        debs = os.path.join(self.cache, "debs")
        os.makedirs(debs, exist_ok=True)
        have = os.listdir(debs)
        wanted = [p for p in self.packages
                  if not any(f.startswith(p + "_") and f.endswith(".deb")
                             for f in have)]
        if wanted:
            r = subprocess.run(["apt-get", "download", "-q"] + wanted,
                               cwd=debs, capture_output=True, text=True,
                               timeout=DOWNLOAD_TIMEOUT,
                               stdin=subprocess.DEVNULL)
            if r.returncode != 0:
                raise unittest.SkipTest(
                    "apt-get download %s failed (no apt source for them? "
                    "run apt-get update): %s" % (
                        " ".join(wanted), (r.stderr or r.stdout).strip()))
        have = os.listdir(debs)
        out = []
        for p in self.packages:
            found = sorted(f for f in have
                           if f.startswith(p + "_") and f.endswith(".deb"))
            if not found:
                raise AssertionError("apt-get download left no .deb of %s"
                                     % p)
            out.append(os.path.join(debs, found[-1]))
        return out

    def _unpack(self, debs):
        shutil.rmtree(self.tree, ignore_errors=True)
        partial = self.tree + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        os.makedirs(partial)
        for deb in debs:
            subprocess.run(["dpkg-deb", "-x", deb, partial], check=True,
                           timeout=UNPACK_TIMEOUT, capture_output=True)
        for sub in UNPACK_SKIP:
            shutil.rmtree(os.path.join(partial, sub), ignore_errors=True)
        merge_usr(partial)
        open(os.path.join(partial, ".complete"), "w").close()
        os.rename(partial, self.tree)

    def start(self, script, scratch, binds, log, env=None):
        """Runs @script with /bin/sh inside the private root and returns
        its Popen.  @scratch is an empty directory of the test for the
        tmpfs; @binds are host directories the server must see as they
        are (the test's Maildirs, its configuration, its logs); output
        goes to the open file @log.  The library cache is rebuilt first,
        so the packages' own libraries are found."""
        os.makedirs(scratch, exist_ok=True)
        merged = os.path.join(scratch, "merged")
        q = shlex.quote
        lines = [
            "set -e",
            "mount -t tmpfs -o mode=0755 poplar-privroot %s" % q(scratch),
            "mkdir %s/upper %s/work %s" % (q(scratch), q(scratch), q(merged)),
            # The packages go into the writable layer (a lower layer
            # inside the host's / would overlap it, which overlayfs
            # refuses).
            "cp -a %s/. %s/upper/" % (q(self.tree), q(scratch)),
            "rm -f %s/upper/.complete" % q(scratch),
            "mount -t overlay poplar-privroot -o lowerdir=/,upperdir=%s/upper"
            ",workdir=%s/work %s" % (q(scratch), q(scratch), q(merged)),
            "mount -t proc proc %s/proc" % q(merged),
            "mount --rbind /dev %s/dev" % q(merged),
            "mount -t tmpfs -o mode=1777 tmp %s/run" % q(merged),
        ]
        for b in binds:
            lines.append("mkdir -p %s%s" % (q(merged), q(b)))
            lines.append("mount --bind %s %s%s" % (q(b), q(merged), q(b)))
        lines += [
            "exec chroot %s /bin/sh -c %s" % (
                q(merged), q("ldconfig\n" + script)),
        ]
        return subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--pid",
             "--fork", "--kill-child=SIGKILL", "--", "/bin/sh", "-c",
             "\n".join(lines)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env if env is not None else {
                "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            start_new_session=True)


def stop(proc, timeout=10):
    """Ends everything @proc started: the namespace's init dies with it."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    # The namespace is gone when its init is; give the kernel a moment to
    # close the listening sockets of the processes it killed.
    time.sleep(0.05)


class PrivateServer:
    """A server run in a PrivateRoot for one test: its directory under the
    test's @root, its log, its start and its stop.  A subclass sets NAME
    and `port` (the port on @host whose release stop() waits for)."""

    NAME = "the server"

    def __init__(self, root, packages, subdir, log_name, host):
        self.root = root
        self.host = host
        self.privroot = PrivateRoot(packages)
        self.dir = os.path.join(root, subdir)
        os.makedirs(self.dir, exist_ok=True)
        self.log_path = os.path.join(self.dir, log_name)
        self.proc = None
        self.port = None

    def launch(self, script, ready):
        """Runs @script in the private root, with the test's directory
        bound in, then @ready() (which raises RuntimeError while the
        server is not up when it gives up)."""
        with open(self.log_path, "ab") as log:
            self.proc = self.privroot.start(
                script, os.path.join(self.dir, "privroot"), [self.root], log)
        try:
            ready()
        except RuntimeError as e:
            self.stop()
            raise AssertionError("%s did not start: %s\n%s" % (
                self.NAME, e, self.log_text()))

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc is None:
            return
        stop(self.proc)
        self.proc = None
        # The port must be free for the next server.
        deadline = time.monotonic() + 10
        while self.port and time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), 0.5):
                    time.sleep(0.1)
            except OSError:
                return
