# SPDX-License-Identifier: MIT
"""Harness for the TLS tests: a throw-away PKI made with certtool (an
ECDSA P-256 CA and server certificates for localhost and 127.0.0.1), a
poplard with a plain listener (STLS) and an implicit-TLS listener, and
client helpers over Python's ssl module.

Environment: what poplartest needs (POPLARD, POPLAR_PLUGINS), and for
the auth-sasl parts what sasltest needs (SASLPASSWD2).  PYTHONPATH holds
tests/integration and tests/auth-sasl.
"""

import hashlib
import os
import shutil
import socket
import ssl
import subprocess

import poplartest
from poplartest import HOST, SOCKET_TIMEOUT, Conn

try:
    import sasltest
except ImportError:  # auth-sasl's tests are not in this tree
    sasltest = None

CERTTOOL = shutil.which("certtool")


def have_auth_sasl():
    return sasltest is not None and any(
        os.path.basename(p) == "auth-sasl.so" for p in poplartest.PLUGINS) \
        and bool(sasltest.saslpasswd2())


# ---- certificates ------------------------------------------------------------

class Pki:
    """A CA and server certificates signed by it, in @directory."""

    def __init__(self, directory):
        if not CERTTOOL:
            raise unittest_skip("certtool is needed (Debian package "
                                "gnutls-bin)")
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ca_key = self._key("ca.key")
        self.ca_cert = os.path.join(directory, "ca.pem")
        tmpl = self._template("ca.tmpl", ["cn = Poplar Test CA", "ca",
                                          "cert_signing_key",
                                          "expiration_days = 2"])
        self._certtool("--generate-self-signed", "--load-privkey",
                       self.ca_key, "--template", tmpl, "--outfile",
                       self.ca_cert)
        self.serial = 0

    def _certtool(self, *args):
        r = subprocess.run([CERTTOOL, "--no-text", *args],
                           capture_output=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError("certtool %s failed: %s" % (
                " ".join(args), r.stderr.decode(errors="replace")))

    def _key(self, name):
        path = os.path.join(self.dir, name)
        self._certtool("--generate-privkey", "--key-type=ecdsa",
                       "--curve=secp256r1", "--outfile", path)
        return path

    def _template(self, name, lines):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def server_cert(self, name="server", cn="localhost"):
        """A new key and certificate (@name.pem, @name.key) for @cn,
        localhost and 127.0.0.1; returns (cert path, key path)."""
        self.serial += 1
        key = self._key(name + ".key")
        cert = os.path.join(self.dir, name + ".pem")
        names = ["dns_name = %s" % n for n in dict.fromkeys([cn, "localhost"])]
        tmpl = self._template(name + ".tmpl", [
            "cn = %s" % cn, *names, "ip_address = 127.0.0.1",
            "serial = %d" % (100 + self.serial), "tls_www_server",
            "signing_key", "expiration_days = 2"])
        self._certtool("--generate-certificate", "--load-privkey", key,
                       "--load-ca-certificate", self.ca_cert,
                       "--load-ca-privkey", self.ca_key, "--template", tmpl,
                       "--outfile", cert)
        return cert, key


def unittest_skip(why):
    import unittest
    return unittest.SkipTest(why)


def fingerprint(der):
    return hashlib.sha256(der).hexdigest()


# ---- the server ------------------------------------------------------------------

def _server_base():
    return sasltest.SaslServer if have_auth_sasl() else poplartest.Server


class TlsServer(_server_base()):
    """A Server with [tls] certificates and a listen-tls listener.  With
    auth-sasl built, it is a SaslServer too (sasl_config(), sasldb)."""

    def __init__(self):
        super().__init__()
        self.pki = Pki(os.path.join(self.dir, "pki"))
        self.cert, self.key = self.pki.server_cert()
        self.tls_port = None
        self._contexts = {}

    def tls_options(self, server=None, sections=None, tls=None,
                    implicit=True):
        """@server and @sections with the TLS keys added."""
        server = dict(server or {})
        if implicit:
            server.setdefault("listen-tls", "%s:0" % HOST)
        sections = dict(sections or {})
        keys = {"certificates": "%s:%s" % (self.cert, self.key)}
        keys.update(tls or {})
        sections["tls"] = keys
        return server, sections

    def start(self, tls=None, implicit=True, **config):
        """Starts poplard with @config (as Server.start) plus [tls]
        certificates (and @tls keys) and, with @implicit, a listen-tls
        listener whose port goes to self.tls_port."""
        config["server"], config["sections"] = self.tls_options(
            config.get("server"), config.get("sections"), tls, implicit)
        port = super().start(**config)
        if implicit:
            m = self.wait_for_log(r"listening on 127\.0\.0\.1:(\d+) \(TLS\)",
                                  poplartest.START_TIMEOUT)
            self.tls_port = int(m.group(1))
        return port

    # -- clients

    def context(self, verify=True):
        """A client context that trusts the test CA; the same one each
        time, so that its sessions can be resumed."""
        if verify not in self._contexts:
            ctx = ssl.create_default_context(cafile=self.pki.ca_cert)
            if not verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self._contexts[verify] = ctx
        return self._contexts[verify]

    def pop3s(self, timeout=SOCKET_TIMEOUT):
        import poplib
        return poplib.POP3_SSL(HOST, self.tls_port, context=self.context(),
                               timeout=timeout)

    def stls(self, timeout=SOCKET_TIMEOUT):
        p = self.pop(timeout)
        try:
            r = p.stls(self.context())
            if not r.startswith(b"+OK"):
                raise AssertionError("STLS: %r" % r)
        except Exception:
            p.close()
            raise
        return p

    def tls_conn(self, timeout=SOCKET_TIMEOUT, session=None):
        """A TlsConn on the implicit-TLS port."""
        return TlsConn(self.tls_port, self.context(), timeout=timeout,
                       implicit=True, session=session)

    def stls_conn(self, timeout=SOCKET_TIMEOUT):
        """A TlsConn on the plain port, after the greeting and STLS."""
        return TlsConn(self.port, self.context(), timeout=timeout,
                       implicit=False)

    def cert_fingerprint(self, port=None):
        """SHA-256 of the certificate a new TLS connection is shown."""
        ctx = self.context()
        with socket.create_connection((HOST, port or self.tls_port),
                                      timeout=SOCKET_TIMEOUT) as raw:
            with ctx.wrap_socket(raw, server_hostname=HOST) as s:
                return fingerprint(s.getpeercert(binary_form=True))


class TlsConn(Conn):
    """A strict POP3 connection (poplartest.Conn) over TLS: implicit, or
    after STLS (the greeting and the STLS reply are read in plaintext)."""

    def __init__(self, port, context, timeout=SOCKET_TIMEOUT, implicit=True,
                 session=None):
        super().__init__(port, timeout=timeout)
        self.context = context
        if implicit:
            self.start_tls(session)
            self.greeting_line = self.greeting()
        else:
            self.greeting_line = self.greeting()
            r = self.cmd("STLS")
            if not r.startswith("+OK"):
                raise poplartest.ProtocolError("STLS: %r" % r)
            self.start_tls(session)

    def start_tls(self, session=None):
        if self.pos != len(self.buf):
            raise poplartest.ProtocolError(
                "plaintext after the STLS reply: %r" % bytes(self.buf[self.pos:]))
        self.sock = self.context.wrap_socket(self.sock, server_hostname=HOST,
                                             session=session)
