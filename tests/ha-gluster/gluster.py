# SPDX-License-Identifier: MIT
"""A real GlusterFS volume for the tests: a glusterd of our own (its
working directory in a temporary directory, in the foreground, killed by
us), a replica-2 volume over two bricks in that directory, and FUSE mounts
of it.  Never the system service and never /var/lib/glusterd.

glusterd listens on its fixed port (24007) and the CLI finds it through
/var/run/gluster/glusterd.socket, so only one such volume can exist on a
machine at a time: Volume.start() takes an exclusive lock on LOCK_PATH for
as long as the volume lives.

GlusterFS refuses bricks on loopback addresses ("provide a valid
hostname/ip other than localhost"), so the bricks and glusterd use the
machine's first non-loopback IPv4 address, bound to that address only.

Everything is bounded in time, and stop() undoes what start() did in every
case: mounts unmounted (lazily), the volume stopped and deleted, glusterd,
the brick processes, the self-heal daemon and the FUSE clients killed."""

import fcntl
import hashlib
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

FUSE_SUPER_MAGIC = 0x65735546
LOCK_PATH = "/run/lock/poplar-test-glusterd.lock"
GLUSTERD_PORT = 24007
CLI_TIMEOUT = 60
START_TIMEOUT = 60
LOCK_WAIT = 600


def _env():
    """The environment for GlusterFS's programs: without the sanitizer
    preloads of an ASan test run, which are for poplard, not for them."""
    return {k: v for k, v in os.environ.items()
            if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "LSAN_OPTIONS",
                         "UBSAN_OPTIONS")}


class GlusterUnavailable(Exception):
    """GlusterFS cannot run here; the message says why (a skip)."""


class GlusterError(Exception):
    pass


def _which(name):
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return shutil.which(name, path=path)


def host_address():
    """The first non-loopback IPv4 address of this machine, or None."""
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr", "show"],
                             capture_output=True, text=True, timeout=10)
        for line in out.stdout.splitlines():
            f = line.split()
            if "inet" in f:
                addr = f[f.index("inet") + 1].split("/")[0]
                if not addr.startswith("127."):
                    return addr
    except (OSError, subprocess.SubprocessError):
        pass
    # Without iproute2: the address a UDP socket would send from.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))
        addr = s.getsockname()[0]
        return None if addr.startswith("127.") else addr
    except OSError:
        return None
    finally:
        s.close()


def why_unavailable():
    """None when a volume can be made here, else the reason."""
    if os.geteuid() != 0:
        return "GlusterFS needs root (glusterd, mount)"
    for prog, pkg in (("glusterd", "glusterfs-server"),
                      ("gluster", "glusterfs-server"),
                      ("mount.glusterfs", "glusterfs-client")):
        if not _which(prog):
            return "%s is not installed (Debian package %s; `make check` " \
                   "installs it)" % (prog, pkg)
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse does not exist: FUSE mounts are impossible here"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is not usable"
    if host_address() is None:
        return "no non-loopback IPv4 address for the bricks (GlusterFS " \
               "refuses loopback bricks)"
    return None


def _port_in_use(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        return s.connect_ex((host, port)) == 0
    finally:
        s.close()


def _wait(cond, timeout, what, step=0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise GlusterError("%s within %.0fs" % (what, timeout))
        time.sleep(step)


def _processes_with(text):
    """Pids of the processes whose command line contains @text."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd and int(d) != os.getpid():
            pids.append(int(d))
    return pids


def _kill_wait(pids, timeout=10):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                # Our children are reaped; others are gone when /proc says
                # so (or are zombies of someone else).
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            try:
                with open("/proc/%d/stat" % pid) as f:
                    if f.read().split(") ", 1)[1].startswith("Z"):
                        break
            except OSError:
                break
            time.sleep(0.05)


class Volume:
    """A replica-2 volume over bricks in @root (a temporary directory is
    made when None), mounted @mounts times."""

    def __init__(self, root=None, name=None, mounts=3, options=None,
                 mount_options=None):
        self.root = root or tempfile.mkdtemp(prefix="poplartest-gluster-")
        self.name = name or "poplar%d" % os.getpid()
        self.n_mounts = mounts
        # Volume options (gluster volume set) applied before start.
        self.options = dict(options or {})
        self.mount_options = list(mount_options or [])
        self.host = None
        self.bricks = [os.path.join(self.root, "brick%d" % i, "data")
                       for i in (1, 2)]
        self.mounts = [os.path.join(self.root, "mnt%d" % i)
                       for i in range(1, mounts + 1)]
        self.workdir = os.path.join(self.root, "glusterd")
        self.logdir = os.path.join(self.root, "log")
        self.glusterd = None
        self._lock_fd = None
        self._created = False
        self._mounted = []

    # -- the CLI

    def cli(self, *args, check=True, timeout=CLI_TIMEOUT):
        cmd = ["gluster", "--mode=script",
               "--log-file=%s" % os.path.join(self.logdir, "cli.log")] + \
            list(args)
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, env=_env(),
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise GlusterError("%s: exit %d: %s%s" % (
                " ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    # -- start

    def start(self):
        """Takes the machine-wide lock, starts glusterd, creates and starts
        the volume, mounts it.  On failure everything is undone."""
        why = why_unavailable()
        if why:
            raise GlusterUnavailable(why)
        self.host = host_address()
        try:
            self._take_lock()
            self._start_glusterd()
            self._create_volume()
            for m in self.mounts:
                self.mount(m)
        except BaseException:
            self.stop()
            raise
        return self

    def _take_lock(self):
        os.makedirs(os.path.dirname(LOCK_PATH), exist_ok=True)
        self._lock_fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise GlusterError("another test held %s for %ds" % (
                        LOCK_PATH, LOCK_WAIT))
                time.sleep(0.5)

    def _start_glusterd(self):
        if _port_in_use(self.host, GLUSTERD_PORT) or \
                _port_in_use("127.0.0.1", GLUSTERD_PORT):
            raise GlusterUnavailable(
                "a glusterd already listens on port %d (the system service? "
                "stop it: the test runs its own)" % GLUSTERD_PORT)
        for d in (self.workdir, self.logdir):
            os.makedirs(d, exist_ok=True)
        volfile = os.path.join(self.root, "glusterd.vol")
        with open(volfile, "w") as f:
            f.write("volume management\n"
                    "    type mgmt/glusterd\n"
                    "    option working-directory %s\n"
                    "    option transport-type socket\n"
                    "    option transport.socket.listen-port %d\n"
                    "    option transport.socket.bind-address %s\n"
                    "    option ping-timeout 0\n"
                    "    option event-threads 1\n"
                    "end-volume\n" % (self.workdir, GLUSTERD_PORT, self.host))
        log = open(os.path.join(self.logdir, "glusterd.stdout"), "ab")
        try:
            # -N: in the foreground, our child, killed by us.
            self.glusterd = subprocess.Popen(
                ["glusterd", "-N", "-f", volfile,
                 "-p", os.path.join(self.root, "glusterd.pid"),
                 "--log-file=%s" % os.path.join(self.logdir, "glusterd.log")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=_env())
        finally:
            log.close()

        def answers():
            if self.glusterd.poll() is not None:
                raise GlusterError("glusterd exited with %s:\n%s" % (
                    self.glusterd.returncode, self.log_tail("glusterd.log")))
            try:
                return self.cli("volume", "list", check=False,
                                timeout=10).returncode == 0
            except subprocess.TimeoutExpired:
                return False
        _wait(answers, START_TIMEOUT, "glusterd did not answer", step=0.2)

    def _create_volume(self):
        for b in self.bricks:
            os.makedirs(b)
        self.cli("volume", "create", self.name, "replica", "2",
                 *["%s:%s" % (self.host, b) for b in self.bricks], "force")
        self._created = True
        for k, v in self.options.items():
            self.cli("volume", "set", self.name, k, v)
        self.cli("volume", "start", self.name)
        self.wait_bricks_online()

    def mount(self, directory):
        os.makedirs(directory, exist_ok=True)
        opts = ["log-file=%s" % os.path.join(
            self.logdir, "mount-%s.log" % os.path.basename(directory))]
        opts += self.mount_options
        p = subprocess.run(["mount", "-t", "glusterfs", "-o", ",".join(opts),
                            "%s:/%s" % (self.host, self.name), directory],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=CLI_TIMEOUT, env=_env())
        if p.returncode != 0:
            raise GlusterError("mount %s: exit %d: %s%s\n%s" % (
                directory, p.returncode, p.stdout, p.stderr, self.log_tail(
                    "mount-%s.log" % os.path.basename(directory))))
        self._mounted.append(directory)
        _wait(lambda: os.statvfs(directory) and
              _fs_type(directory) == FUSE_SUPER_MAGIC,
              20, "%s was not mounted" % directory)

    # -- the bricks

    def status(self):
        """[{path, pid, online}] of the two bricks, from glusterd."""
        out = self.cli("--xml", "volume", "status", self.name).stdout
        bricks = []
        for node in ET.fromstring(out).iter("node"):
            path = node.findtext("path")
            if path in self.bricks:
                bricks.append({"path": path,
                               "pid": int(node.findtext("pid") or -1),
                               "online": node.findtext("status") == "1"})
        return sorted(bricks, key=lambda b: self.bricks.index(b["path"]))

    def wait_bricks_online(self, timeout=30):
        _wait(lambda: len(self.status()) == 2 and
              all(b["online"] for b in self.status()),
              timeout, "the bricks did not come online", step=0.2)

    def kill_brick(self, index):
        """SIGKILL to the process of brick @index (0 or 1); returns its
        pid."""
        pid = self.status()[index]["pid"]
        if pid <= 0:
            raise GlusterError("brick %d has no process" % index)
        _kill_wait([pid])
        # Until glusterd has seen it go, "volume start force" would take
        # the brick for running.
        _wait(lambda: not self.status()[index]["online"], 30,
              "glusterd did not notice brick %d stop" % index, step=0.2)
        return pid

    def restart_bricks(self):
        """Starts the bricks that are down (volume start force)."""
        self.cli("volume", "start", self.name, "force")
        self.wait_bricks_online()

    def heal(self, timeout=60):
        """Starts a heal and waits until neither brick has entries left to
        heal.  Returns the seconds it took."""
        start = time.monotonic()
        # Right after a brick comes back, the self-heal daemon may not be
        # connected to it yet and the heal is refused ("brick op 'Heal'
        # failed"): ask again until it is launched.
        _wait(lambda: self.cli("volume", "heal", self.name,
                               check=False).returncode == 0,
              timeout, "the heal could not be launched", step=0.5)

        def healed():
            out = self.cli("volume", "heal", self.name, "info",
                           check=False).stdout
            counts = [l for l in out.splitlines()
                      if l.startswith("Number of entries:")]
            return len(counts) == 2 and all(
                l.split(":")[1].strip() == "0" for l in counts)
        _wait(healed, timeout, "the volume did not heal", step=0.5)
        return time.monotonic() - start

    def brick_tree(self, index, under=""):
        """{relative path: sha256 of the content, "dir", or the kind of a
        special file ("socket": a poplard control socket)} of brick @index
        below @under, GlusterFS's own .glusterfs* directories left out."""
        top = os.path.join(self.bricks[index], under)
        out = {}
        for d, dirs, files in os.walk(top):
            dirs[:] = [x for x in dirs if not x.startswith(".glusterfs")]
            rel = os.path.relpath(d, top)
            for x in dirs:
                out[os.path.normpath(os.path.join(rel, x))] = "dir"
            for x in files:
                p = os.path.join(d, x)
                key = os.path.normpath(os.path.join(rel, x))
                mode = os.lstat(p).st_mode
                if not stat.S_ISREG(mode):
                    out[key] = "socket" if stat.S_ISSOCK(mode) else "special"
                    continue
                with open(p, "rb") as f:
                    out[key] = hashlib.sha256(f.read()).hexdigest()
        return out

    def log_tail(self, name, n=40):
        try:
            with open(os.path.join(self.logdir, name), "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""

    # -- stop

    def stop(self, keep=False):
        """Undoes start(), whatever state it got to.  Never raises."""
        for m in reversed(self._mounted):
            subprocess.run(["umount", "-l", m], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=CLI_TIMEOUT,
                           env=_env())
        self._mounted = []
        # The FUSE clients of our mounts do not always exit at a lazy
        # unmount.
        _kill_wait([p for m in self.mounts for p in _processes_with(m)])
        if self._created and self.glusterd is not None and \
                self.glusterd.poll() is None:
            try:
                self.cli("volume", "stop", self.name, "force", check=False)
                self.cli("volume", "delete", self.name, check=False)
            except subprocess.SubprocessError:
                pass
        self._created = False
        # Whatever is left of the bricks and the self-heal daemon.
        _kill_wait([p for b in self.bricks for p in _processes_with(b)] +
                   _processes_with("shd/%s " % self.name))
        if self.glusterd is not None:
            if self.glusterd.poll() is None:
                self.glusterd.kill()
            try:
                self.glusterd.wait(10)
            except subprocess.TimeoutExpired:
                pass
            self.glusterd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        if not keep:
            shutil.rmtree(self.root, ignore_errors=True)


def _fs_type(path):
    """statfs's f_type of @path (os.statvfs does not give it)."""
    out = subprocess.run(["stat", "-f", "-c", "%t", path],
                         capture_output=True, text=True, timeout=10)
    try:
        return int(out.stdout.strip(), 16)
    except ValueError:
        return None
