# SPDX-License-Identifier: MIT
"""The TLS rows of `make bench` (`--only tls`): full TLS 1.3 handshakes
with an ECDSA P-256 and with an RSA-2048 certificate, like for like.

For each certificate three servers take turns: poplard, Dovecot tuned and
the bare GnuTLS handshake loop (tls-ceiling-server), each with the same
certificate and priority, each pinned to core 0 with the load generator
(one thread, 50 clients) on core 1, and `{PLAIN}` passwords with no
cache of logins, so that neither a hash nor a cache is in play.  The
ceiling is what a server can reach on that one core; poplard's share of
it is the target.

Beside them, the signing ceiling of each key on core 0: signatures per
second through GnuTLS (sign-speed, the signature a TLS 1.3 server makes
in every full handshake) and through OpenSSL (`openssl speed`), which
bounds every full handshake whatever the server does besides."""

import json
import os
import subprocess

from bench_like import SERVER_CORE, DovecotLike, PoplardLike
from bench_servers import Server, free_port, wait_greeting

CERTS = ("ecdsa", "rsa")
CERT_TITLE = {"ecdsa": "ECDSA P-256", "rsa": "RSA-2048"}
KIND = "tls-like-full"
SIGN_KIND = "sign-ceiling"
CLIENTS = 50
# The servers of each certificate, and what a label names.
POPLARD = "poplard-tls-%s"
DOVECOT = "dovecot-tls-%s"
CEILING = "gnutls-ceiling-tls-%s"
SIGN_GNUTLS = "gnutls-sign-%s"
SIGN_OPENSSL = "openssl-sign-%s"
# openssl speed's name of each key kind, and its machine-readable line.
OPENSSL_ALGORITHM = {"ecdsa": ("ecdsap256", "+F4:"),
                     "rsa": ("rsa2048", "+F2:")}


class Ceiling(Server):
    """tls-ceiling-server pinned to the servers' core."""
    name = "ceiling"

    def __init__(self, world, build, label, cert, key):
        self.world = world
        self.label = label
        self.cert, self.key = cert, key
        self.program = os.path.join(build, "tests", "bench",
                                    "tls-ceiling-server")
        self.port = self.tls_port = free_port()

    def configure(self):
        return None

    def start(self):
        self.proc = subprocess.Popen(
            ["taskset", "-c", str(SERVER_CORE), self.program,
             "--cert", self.cert, "--key", self.key,
             "--priority", self.world.priority,
             "--port", str(self.port), "--threads", "8"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        wait_greeting(self.port, 10, self.proc, tls=True)


def servers(world, build):
    """{certificate kind: [poplard, Dovecot tuned, ceiling]}, each server
    with that certificate only."""
    out = {}
    for kind in CERTS:
        cert, key = world.certificate(kind)
        p = PoplardLike(world, build, POPLARD % kind, tls=True)
        d = DovecotLike(world, DOVECOT % kind, "PLAIN")
        for s in (p, d):
            world.make_instance(s.label, scheme="PLAIN",
                                reader_group="dovecot" if s is d else None)
            s.cert, s.key = cert, key
        out[kind] = [p, d, Ceiling(world, build, CEILING % kind, cert, key)]
    return out


def sign_gnutls(build, world, kind, seconds):
    """Handshake signatures per second through GnuTLS on the servers'
    core: a result dict."""
    r = subprocess.run(
        ["taskset", "-c", str(SERVER_CORE),
         os.path.join(build, "tests", "bench", "sign-speed"),
         "--key", world.certificate(kind)[1], "--seconds", str(seconds),
         "--label", SIGN_GNUTLS % kind],
        check=True, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=60)
    res = json.loads(r.stdout.splitlines()[-1])
    res.update(kind=SIGN_KIND, server_label=res["label"], certificate=kind)
    return res


def sign_openssl(kind, seconds):
    """The same through OpenSSL (`openssl speed`, its own key of the same
    kind and size): a result dict."""
    algorithm, prefix = OPENSSL_ALGORITHM[kind]
    r = subprocess.run(
        ["taskset", "-c", str(SERVER_CORE), "openssl", "speed", "-mr",
         "-seconds", str(max(1, round(seconds))), algorithm],
        check=True, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=120)
    for line in r.stdout.splitlines():
        if line.startswith(prefix):
            # +F2:index:bits:sign:verify; OpenSSL 3 gives operations per
            # second, 1.x seconds per operation.
            sign = float(line.split(":")[3])
            rate = sign if sign >= 1 else 1 / sign
            version = subprocess.run(["openssl", "version"],
                                     capture_output=True, text=True,
                                     stdin=subprocess.DEVNULL).stdout
            return {"scenario": "sign", "label": SIGN_OPENSSL % kind,
                    "server_label": SIGN_OPENSSL % kind, "kind": SIGN_KIND,
                    "certificate": kind, "algorithm": algorithm,
                    "library": " ".join(version.split()[:2]),
                    "signs_per_s": rate}
    raise RuntimeError("openssl speed %s: no %s line in its output" % (
        algorithm, prefix))
