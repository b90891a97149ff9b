# SPDX-License-Identifier: MIT
"""The servers `make bench` compares: poplard and a private Dovecot
instance (stock or tuned), each with its own configuration, ports, users
file and copy of the mail, started and stopped by the benchmark.  Dovecot
never reads /etc/dovecot and never listens on 110/995: everything it uses
lives under the benchmark's temporary directory."""

import os
import resource
import signal
import socket
import subprocess
import time

HOST = "127.0.0.1"


# Ports handed out so far: the kernel may offer a port again once the
# probing socket is closed, before the server it was meant for listens.
_given_ports = set()


def free_port():
    """A TCP port of 127.0.0.1 that nothing listens on right now and that
    no earlier call returned."""
    while True:
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port not in _given_ports:
            _given_ports.add(port)
            return port


def wait_greeting(port, timeout, proc=None, tls=False):
    """Waits until @port answers with a POP3 greeting (plain ports only;
    a TLS port is taken as ready once it accepts)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited with %s while starting" %
                               proc.returncode)
        try:
            with socket.create_connection((HOST, port), timeout=2) as s:
                if tls:
                    return
                s.settimeout(5)
                if s.recv(512).startswith(b"+OK"):
                    return
        except OSError as e:
            last = e
        time.sleep(0.05)
    raise RuntimeError("nothing answered on %s:%d within %ss (%s)" % (
        HOST, port, timeout, last))


def process_tree(pid):
    """@pid and its descendants.  Read from every process's PPid: the
    per-thread children lists of /proc miss a child whose forking thread
    has exited."""
    parents = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/status" % name) as f:
                for line in f:
                    if line.startswith("PPid:"):
                        parents[int(name)] = int(line.split()[1])
                        break
        except OSError:
            pass  # gone meanwhile
    out = [pid]
    i = 0
    while i < len(out):
        out += sorted(c for c, p in parents.items() if p == out[i])
        i += 1
    return out


def cpu_seconds(pid):
    """CPU time (user and system) used so far by @pid and its descendants,
    and by the children they have reaped."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in process_tree(pid):
        try:
            with open("/proc/%d/stat" % p) as f:
                # After "(comm)": fields 14-17 of proc(5) are utime,
                # stime, cutime and cstime.
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        total += sum(int(v) for v in fields[11:15])
    return total / ticks


# Open files allowed to poplard, as a unit file's LimitNOFILE= would:
# Dovecot's master (root) raises its own limits to fit its client_limit
# settings; poplard leaves its limit as it finds it.
POPLARD_NOFILE = 65536


def raise_nofile():
    """As many as allowed: a container may cap even root's hard limit."""
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (POPLARD_NOFILE, POPLARD_NOFILE))
    except (ValueError, OSError):
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Server:
    """What every server offers the benchmark."""
    name = ""
    label = ""
    port = None
    tls_port = None
    proc = None
    log = None
    # The TLS certificate and key: the world's ECDSA pair unless set.
    cert = None
    key = None

    def tls_pair(self):
        return (self.cert or self.world.cert, self.key or self.world.key)

    def pid(self):
        return self.proc.pid if self.proc else None

    def stop(self, timeout=20):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                for p in reversed(process_tree(self.proc.pid)):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass
                self.proc.wait(5)
        self.proc = None
        if self.log:
            self.log.close()
            self.log = None


class Poplard(Server):
    name = "poplard"

    # The password database: a plugin and its section's keys.  The
    # passwd-file by default; the SQL row passes auth-sql-pgsql's.
    auth_plugin = "auth-passwd-file"

    def __init__(self, world, build, tls, label="poplard", threads=0,
                 extra_server=None, valgrind=None, auth_plugin=None,
                 auth_settings=None):
        self.world = world
        self.build = build
        self.label = label
        self.auth_plugin = auth_plugin or self.auth_plugin
        self.auth_settings = auth_settings
        self.dir = os.path.join(world.root, label)
        os.makedirs(self.dir, exist_ok=True)
        self.plugin_dir = os.path.join(self.dir, "plugins")
        os.makedirs(self.plugin_dir, exist_ok=True)
        for name in (self.auth_plugin, "store-maildir"):
            dst = os.path.join(self.plugin_dir, name + ".so")
            if not os.path.exists(dst):
                os.symlink(os.path.join(build, "plugins", name, name + ".so"),
                           dst)
        self.poplard = os.path.join(build, "core", "poplard")
        self.threads = threads
        self.extra_server = extra_server or {}
        self.valgrind = valgrind
        self.port = free_port()
        self.tls_port = free_port() if tls else None

    def config_text(self, tls):
        w = self.world
        server = {
            "listen": "%s:%d" % (HOST, self.port),
            "plugin-dir": self.plugin_dir,
            "mail": "maildir:%h/Maildir",
            "user": w.mail_user,
            "group": w.mail_group,
            "threads": str(self.threads),
            "max-connections": "30000",
            "max-connections-per-ip": "30000",
        }
        if tls:
            server["listen-tls"] = "%s:%d" % (HOST, self.tls_port)
        server.update(self.extra_server)
        text = "[server]\n" + "".join("%s = %s\n" % kv for kv in server.items())
        text += "\n[plugins]\nload = %s; store-maildir\n" % self.auth_plugin
        auth = self.auth_settings or {"path": w.passwd_path("poplard")}
        text += "\n[%s]\n" % self.auth_plugin + "".join(
            "%s = %s\n" % kv for kv in auth.items())
        if tls:
            text += "\n[tls]\ncertificates = %s:%s\npriority = %s\n" % (
                self.tls_pair() + (w.priority,))
        return text

    def write_config(self, tls):
        self.conf = os.path.join(self.dir, "poplar.conf")
        with open(self.conf, "w") as f:
            f.write(self.config_text(tls))
        r = subprocess.run([self.poplard, "--check-config", "-c", self.conf],
                           capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=30)
        return r.returncode == 0, (r.stdout + r.stderr).strip()

    def configure(self):
        """Writes the config; drops TLS when this poplard has none.
        Returns a note when TLS was dropped."""
        note = None
        if self.tls_port:
            ok, why = self.write_config(tls=True)
            if not ok:
                note = why
                self.tls_port = None
        if not self.tls_port:
            ok, why = self.write_config(tls=False)
            if not ok:
                raise RuntimeError("poplard --check-config failed:\n" + why)
        return note

    def start(self):
        self.log = open(os.path.join(self.dir, "poplard.log"), "ab")
        cmd = [self.poplard, "-c", self.conf]
        if self.valgrind:
            cmd = self.valgrind + cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log,
                                     preexec_fn=raise_nofile)
        wait_greeting(self.port, 120 if self.valgrind else 20, self.proc)


class Dovecot(Server):
    name = "dovecot"

    def __init__(self, world, mode, label=None, auth_cache=None):
        assert mode in ("stock", "tuned")
        self.world = world
        self.mode = mode
        self.label = label or "dovecot-" + mode
        # Tuned caches passdb answers unless told otherwise.
        self.auth_cache = mode == "tuned" if auth_cache is None \
            else auth_cache
        self.dir = os.path.join(world.root, self.label)
        for sub in ("run", "state"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.port = free_port()
        self.tls_port = free_port()

    def config_text(self):
        w = self.world
        d = self.dir
        lines = [
            "# Private instance for the benchmark: nothing from /etc/dovecot.",
            "instance_name = poplar-bench-%s" % self.label.replace(
                "dovecot-", "", 1),
            "base_dir = %s/run" % d,
            "state_dir = %s/state" % d,
            "protocols = pop3",
            "listen = %s" % HOST,
            "log_path = %s/dovecot.log" % d,
            "ssl = yes",
            "ssl_cert = <%s" % self.tls_pair()[0],
            "ssl_key = <%s" % self.tls_pair()[1],
            # The same protocol, cipher and group as poplard's priority.
            "ssl_min_protocol = TLSv1.3",
            "ssl_cipher_suites = TLS_AES_128_GCM_SHA256",
            "ssl_curve_list = X25519",
            "disable_plaintext_auth = no",
            "auth_mechanisms = plain login",
        ] + self.auth_lines() + [
            "mail_location = maildir:~/Maildir",
            # Room for the held-session scenarios: 10,000 sessions.
            "default_vsz_limit = 1G",
            "mail_max_userip_connections = 100",
        ]
        login = ["  inet_listener pop3 {", "    port = %d" % self.port, "  }",
                 "  inet_listener pop3s {", "    port = %d" % self.tls_port,
                 "    ssl = yes", "  }"]
        if self.mode == "tuned":
            lines += [
                # High-performance mode (Dovecot's "Login processes" and
                # "Performance tuning" pages): login processes serve many
                # connections, one per core kept ready; pop3 processes are
                # reused; passdb results are cached (unless a row
                # compares without caches); POP3 sessions do not write
                # flag changes back.
            ] + ([
                "auth_cache_size = 64M",
                "auth_cache_ttl = 1 hour",
            ] if self.auth_cache else []) + [
                "pop3_no_flag_updates = yes",
                "default_process_limit = 12000",
                "default_client_limit = 15000",
                "service pop3-login {",
            ] + login + [
                "  service_count = 0",
                "  process_min_avail = %d" % os.cpu_count(),
                "  process_limit = %d" % os.cpu_count(),
                "  client_limit = 15000",
                "}",
                "service pop3 {",
                "  service_count = 0",
                "  process_min_avail = %d" % os.cpu_count(),
                "  process_limit = 12000",
                "  client_limit = 1",
                "}",
                "service auth {",
                "  client_limit = 15000",
                "}",
                "service anvil {",
                "  client_limit = 15000",
                "}",
            ]
        else:
            lines += ["service pop3-login {"] + login + ["}"]
        return "\n".join(lines) + "\n"

    def auth_lines(self):
        """The passdb and userdb blocks: the world's passwd-file."""
        path = self.world.passwd_path(self.label)
        return ["passdb {", "  driver = passwd-file",
                "  args = scheme=SHA512-CRYPT %s" % path, "}",
                "userdb {", "  driver = passwd-file", "  args = %s" % path,
                "}"]

    def configure(self):
        self.conf = os.path.join(self.dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(self.config_text())
        r = subprocess.run(["doveconf", "-c", self.conf, "-n"],
                           capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=30)
        if r.returncode != 0 or "Warning" in r.stderr or "Error" in r.stderr:
            if r.returncode != 0:
                raise RuntimeError("doveconf rejects %s:\n%s" % (
                    self.conf, r.stderr))
        return None

    def start(self):
        self.log = open(os.path.join(self.dir, "master.log"), "ab")
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", self.conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        wait_greeting(self.port, 30, self.proc)
