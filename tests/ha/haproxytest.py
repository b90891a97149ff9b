# SPDX-License-Identifier: MIT
"""A real HAProxy for the tests: started in the foreground (-db) on
loopback ports picked here, with a temporary configuration and an admin
socket the test reads the servers' health from.  Never the system
service: its own configuration, its own process, stopped by the test."""

import os
import shutil
import signal
import socket
import subprocess
import time

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


def find_haproxy():
    """The haproxy executable ($HAPROXY, then PATH, then /usr/sbin), or
    None."""
    explicit = os.environ.get("HAPROXY")
    if explicit:
        return explicit
    path = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin"
    return shutil.which("haproxy", path=path)


def free_ports(n):
    """@n ports of 127.0.0.1 that were free a moment ago.  The sockets are
    closed when this returns, so another program may take one first: the
    caller retries with new ports when HAProxy cannot bind."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class HAProxyError(Exception):
    pass


class HAProxy:
    """One haproxy process.  @frontends maps a name to a backend name;
    @backends maps a backend name to the text of its body (server lines
    and options).  Each frontend gets a port of its own: self.ports[name]."""

    def __init__(self, directory, executable, frontends, backends,
                 defaults=""):
        self.dir = directory
        self.executable = executable
        self.frontends = frontends
        self.backends = backends
        self.defaults = defaults
        self.cfg = os.path.join(directory, "haproxy.cfg")
        self.admin = os.path.join(directory, "haproxy-admin.sock")
        self.log_path = os.path.join(directory, "haproxy.log")
        self.ports = {}
        self.proc = None
        self._log = None

    def config_text(self):
        text = (
            "global\n"
            "    maxconn 1024\n"
            "    stats socket %s mode 600 level admin\n"
            # Server state changes ("Server pool/a is DOWN") for the
            # failure report; no line per connection.
            "    log stdout format raw local0 notice\n"
            "\n"
            "defaults\n"
            "    mode tcp\n"
            "    log global\n"
            "    timeout connect 2s\n"
            "    timeout client 60s\n"
            "    timeout server 60s\n"
            "    timeout check 1s\n"
            "%s"
            "\n" % (self.admin, self.defaults))
        for name, backend in self.frontends.items():
            text += "frontend %s\n    bind %s:%d\n    default_backend %s\n\n" % (
                name, HOST, self.ports[name], backend)
        for name, body in self.backends.items():
            text += "backend %s\n%s\n" % (name, body)
        return text

    def start(self, attempts=3):
        """Writes the configuration and starts haproxy; retries with other
        ports when one was taken meanwhile.  Returns self.ports."""
        last = ""
        for _ in range(attempts):
            self.ports = dict(zip(self.frontends,
                                  free_ports(len(self.frontends))))
            with open(self.cfg, "w") as f:
                f.write(self.config_text())
            check = subprocess.run([self.executable, "-c", "-f", self.cfg],
                                   stdin=subprocess.DEVNULL,
                                   capture_output=True, timeout=30)
            if check.returncode != 0:
                raise HAProxyError("haproxy -c rejects the configuration:\n"
                                   "%s\n%s" % (check.stdout.decode(
                                       errors="replace"), check.stderr.decode(
                                       errors="replace")))
            self._log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                [self.executable, "-f", self.cfg, "-db"],
                stdin=subprocess.DEVNULL, stdout=self._log,
                stderr=subprocess.STDOUT)
            if self._wait_listening():
                return self.ports
            last = self.log_text()
            self._kill()
        raise HAProxyError("haproxy did not start:\n%s" % last)

    def _wait_listening(self):
        """HAProxy binds every listener before it serves any: once the
        admin socket answers, the frontends accept too.  (Connecting to a
        frontend to find out would send a connection to a node.)"""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if "Name: HAProxy" in self.command("show info", timeout=1):
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def command(self, line, timeout=5.0):
        """One command on the admin socket; returns the answer."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.admin)
            s.sendall(line.encode() + b"\n")
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        finally:
            s.close()
        return out.decode(errors="replace")

    def servers(self):
        """{(backend, server): (status, check_status)} from "show stat"."""
        lines = self.command("show stat").splitlines()
        if not lines or not lines[0].startswith("# "):
            raise HAProxyError("unexpected show stat answer: %r" % lines[:3])
        header = lines[0][2:].split(",")
        px, sv = header.index("pxname"), header.index("svname")
        st, ck = header.index("status"), header.index("check_status")
        out = {}
        for line in lines[1:]:
            f = line.split(",")
            if len(f) < len(header) or f[sv] in ("FRONTEND", "BACKEND"):
                continue
            out[(f[px], f[sv])] = (f[st], f[ck])
        return out

    def wait_status(self, wanted, timeout=5.0):
        """Waits until every (backend, server) of @wanted has the status
        (e.g. "UP", "DOWN") it maps to, by a finished health check.
        Returns the seconds waited; raises HAProxyError on timeout."""
        start = time.monotonic()
        deadline = start + timeout
        while True:
            now = self.servers()
            if all(now.get(k, ("", ""))[0] == v and
                   now[k][1] not in ("", "INI")
                   for k, v in wanted.items()):
                return time.monotonic() - start
            if time.monotonic() > deadline:
                raise HAProxyError("servers not %s within %.0fs: %s" % (
                    wanted, timeout, now))
            time.sleep(0.02)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self):
        """SIGTERM (a hard stop in -db mode) and wait; SIGKILL after
        STOP_TIMEOUT."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        self._kill()

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

