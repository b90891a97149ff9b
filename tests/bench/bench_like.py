# SPDX-License-Identifier: MIT
"""The like-for-like rows of `make bench`: poplard against Dovecot tuned
with nothing that only one of them has.

- The same password scheme on both sides: `{PLAIN}` (neither a hash nor a
  cache of one is in play), and `{SHA512-CRYPT}` with poplard's verify
  cache off (both hash at every login; Dovecot's auth_cache is off too, so
  neither skips the password database).
- The same cores: every process and thread of each server is pinned to
  core 0 (one poplard worker; Dovecot's login, auth and pop3 processes
  all), the load generator to core 1, so neither server can use the core
  the other's figures were taken without.

Each row is a pair of servers on a copy of the same mail; they take turns
as the other rows do (A B A B ...)."""

import os

from bench_servers import Dovecot, Poplard, process_tree

# The rows: (title, poplard's label, Dovecot's label, scheme).
ROWS = (
    ("session rate, {PLAIN} both, one core each",
     "poplard-like-plain", "dovecot-like-plain", "PLAIN"),
    ("session rate, {SHA512-CRYPT} both, no cache, one core each",
     "poplard-like-crypt", "dovecot-like-crypt", "SHA512-CRYPT"),
)
KIND = "like-rate"
SERVER_CORE = 0
CLIENT_CORE = 1


def missing():
    """None when the rows can run here, else why not."""
    if len(os.sched_getaffinity(0)) < 2:
        return "fewer than two cores to pin the servers and the client to"
    return None


def pin(pid, core):
    """Pins every thread of @pid and of its descendants to @core; threads
    and processes they start later inherit it."""
    for p in process_tree(pid):
        try:
            tids = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue  # gone meanwhile
        for tid in tids:
            try:
                os.sched_setaffinity(int(tid), {core})
            except OSError:
                pass


class PoplardLike(Poplard):
    def __init__(self, world, build, label, tls=False):
        super().__init__(world, build, tls=tls, label=label, threads=1,
                         extra_server={"workers": "1"})
        self.auth_settings = {"path": world.passwd_path(label),
                              "verify-cache": "no"}

    def start(self):
        super().start()
        pin(self.pid(), SERVER_CORE)


class DovecotLike(Dovecot):
    """Dovecot tuned with its auth_cache off, reading the given scheme."""

    def __init__(self, world, label, scheme):
        self.scheme = scheme
        super().__init__(world, "tuned", label=label, auth_cache=False)

    def auth_lines(self):
        path = self.world.passwd_path(self.label)
        return ["passdb {", "  driver = passwd-file",
                "  args = scheme=%s %s" % (self.scheme, path), "}",
                "userdb {", "  driver = passwd-file", "  args = %s" % path,
                "}"]

    def start(self):
        super().start()
        pin(self.pid(), SERVER_CORE)


def servers(world, build):
    """The servers of the rows, in the order they take turns."""
    out = []
    for _, poplard, dovecot, scheme in ROWS:
        world.make_instance(poplard, scheme=scheme)
        world.make_instance(dovecot, reader_group="dovecot", scheme=scheme)
        out.append(PoplardLike(world, build, poplard))
        out.append(DovecotLike(world, dovecot, scheme))
    return out


def client_prefix():
    """The load generator's command prefix: pinned to the other core."""
    return ["taskset", "-c", str(CLIENT_CORE)]
