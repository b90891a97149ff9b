# SPDX-License-Identifier: MIT
"""The proxy rows of `make bench`: what proxy mode costs.  One poplard
serves the mail (the backend); a second poplard, with no mail of its own,
authenticates each user and relays the session to it (every user's entry
has proxy=backend).  The same client measures the session rate and RETR
throughput through the proxy and against the backend directly, taking
turns, so the ratio is the price of the extra hop: one more login (the
proxy's hash check, then the backend's) and one more copy of each
octet."""

import os

from bench_servers import Poplard

DIRECT = "poplard-direct"
PROXIED = "poplard-proxy"
# (title, kind, metric, unit) of each row: the proxy's figure against the
# backend's own.
ROWS = (
    ("session rate, plain (C=32)", "proxy-rate", "sessions_per_s", "/s"),
    ("  p99 latency", "proxy-rate", "p99_ms", "ms"),
    ("RETR, plain", "proxy-retr", "mb_per_s", "MB/s"),
)


class ProxyPoplard(Poplard):
    """A poplard whose users all live on @backend."""

    def __init__(self, world, build, backend):
        self.backend = backend
        super().__init__(world, build, tls=False, label=PROXIED, threads=0,
                         auth_settings={"path": world.passwd_path(PROXIED)})

    def configure(self):
        # The backend's users file, each line with its route appended.
        src = self.world.passwd_path(self.backend.label)
        dst = self.world.passwd_path(self.label)
        with open(src) as f:
            lines = [l.rstrip("\n") for l in f if l.strip()]
        route = "proxy=127.0.0.1:%d" % self.backend.port
        with open(dst, "w") as f:
            for line in lines:
                fields = line.split(":")
                # No uid or home: the proxy serves no mail itself.
                f.write(":".join(fields[:2] + ["", "", "", "", ""]) + ":" +
                        route + "\n")
        os.chown(dst, self.world.uid, self.world.gid)
        os.chmod(dst, 0o600)
        return super().configure()

    def config_text(self, tls):
        text = super().config_text(tls)
        return text + "\n[proxy]\ntimeout = 30s\n"


def servers(world, build):
    """The backend and the proxy in front of it."""
    world.make_instance(DIRECT)
    os.makedirs(os.path.dirname(world.passwd_path(PROXIED)), exist_ok=True)
    backend = Poplard(world, build, tls=False, label=DIRECT, threads=0,
                      auth_settings={"path": world.passwd_path(DIRECT)})
    return backend, ProxyPoplard(world, build, backend)
