# SPDX-License-Identifier: MIT
"""The session-rate sweep of `make bench` (`--only sweep`): plain sessions
per second against the number of concurrent clients, poplard against
Dovecot tuned, like for like (bench_like.py: `{PLAIN}` passwords on both
sides, no cache of logins, each server pinned to core 0 and the load
generator, one thread, to core 1).  Each client logs in as its own user,
so the world has as many session-rate users as the largest count."""

from bench_like import DovecotLike, PoplardLike

CLIENTS = (1, 4, 16, 64, 256)
QUICK_CLIENTS = (1, 8, 64)
KIND = "sweep-rate"
POPLARD = "poplard-sweep"
DOVECOT = "dovecot-sweep"


def servers(world, build):
    """poplard and Dovecot tuned, in the order they take turns."""
    for label, reader in ((POPLARD, None), (DOVECOT, "dovecot")):
        world.make_instance(label, reader_group=reader, scheme="PLAIN")
    return [PoplardLike(world, build, POPLARD),
            DovecotLike(world, DOVECOT, "PLAIN")]
