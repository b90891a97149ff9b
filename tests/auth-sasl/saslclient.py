# SPDX-License-Identifier: MIT
"""Client sides of the SASL mechanisms the tests drive by hand, over a
POP3 AUTH exchange (RFC 5034): PLAIN, LOGIN, CRAM-MD5, DIGEST-MD5 and
SCRAM-SHA-1/-256 (RFC 5802, RFC 7677).  Standard library only.

Each mechanism is a generator: it receives the server's decoded
challenges (None for the first step) and yields the client's decoded
responses; after the last response it may receive the final challenge
(success data) and checks it.
"""

import base64
import hashlib
import hmac
import os
import re


class SaslError(AssertionError):
    pass


def plain(user, password, authzid=""):
    yield ("%s\0%s\0%s" % (authzid, user, password)).encode()


def login(user, password):
    challenge = yield None
    if challenge not in (b"Username:", b"User Name\0", b"User Name"):
        raise SaslError("LOGIN: unexpected first challenge %r" % challenge)
    challenge = yield user.encode()
    if not challenge.startswith(b"Password"):
        raise SaslError("LOGIN: unexpected second challenge %r" % challenge)
    yield password.encode()


def cram_md5(user, password):
    challenge = yield None
    if not re.match(rb"^<[^>]+@[^>]+>$", challenge):
        raise SaslError("CRAM-MD5: challenge %r is not <...@...>" % challenge)
    digest = hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()
    yield ("%s %s" % (user, digest)).encode()


def _digest_fields(challenge):
    out = {}
    for m in re.finditer(rb'([a-zA-Z-]+)=("((?:[^"\\]|\\.)*)"|[^,]*)',
                         challenge):
        key = m.group(1).decode()
        value = m.group(3) if m.group(3) is not None else m.group(2)
        out[key] = value.replace(b"\\", b"")
    return out


def digest_md5(user, password, service="pop", host="localhost", realm=None):
    challenge = yield None
    f = _digest_fields(challenge)
    if b"auth" not in f.get("qop", b"auth").split(b","):
        raise SaslError("DIGEST-MD5: no qop=auth in %r" % challenge)
    if realm is None:
        realm = f.get("realm", b"").decode()
    nonce = f["nonce"]
    cnonce = base64.b64encode(os.urandom(12))
    uri = ("%s/%s" % (service, host)).encode()
    nc = b"00000001"

    def h(data):
        return hashlib.md5(data).digest()

    def hx(data):
        return hashlib.md5(data).hexdigest().encode()

    a1 = h(b"%s:%s:%s" % (user.encode(), realm.encode(), password.encode()))
    a1 += b":" + nonce + b":" + cnonce
    a2 = b"AUTHENTICATE:" + uri

    def response(a2):
        return hx(b":".join([hx(a1), nonce, nc, cnonce, b"auth", hx(a2)]))

    resp = (b'username="%s",realm="%s",nonce="%s",cnonce="%s",nc=%s,'
            b'qop=auth,digest-uri="%s",response=%s,charset=utf-8' % (
                user.encode(), realm.encode(), nonce, cnonce, nc, uri,
                response(a2)))
    final = yield resp
    expected = b"rspauth=" + response(b":" + uri)
    if final != expected:
        raise SaslError("DIGEST-MD5: rspauth %r, expected %r" % (
            final, expected))


def _saslname(name):
    return name.replace("=", "=3D").replace(",", "=2C")


def scram(user, password, hash_name="sha256", nonce=None):
    """SCRAM-SHA-1 (hash_name "sha1") or SCRAM-SHA-256; checks the server
    signature.  Records what the server sent in scram.last (a dict)."""
    nonce = nonce or base64.b64encode(os.urandom(18)).decode()
    bare = "n=%s,r=%s" % (_saslname(user), nonce)
    server_first = yield ("n,," + bare).encode()
    fields = dict(item.split("=", 1) for item in
                  server_first.decode().split(","))
    scram.last = {"server_first": server_first, **fields}
    if not fields["r"].startswith(nonce) or len(fields["r"]) <= len(nonce):
        raise SaslError("SCRAM: server nonce %r does not extend %r" % (
            fields["r"], nonce))
    salt = base64.b64decode(fields["s"])
    iterations = int(fields["i"])
    salted = hashlib.pbkdf2_hmac(hash_name, password.encode(), salt,
                                 iterations)
    client_key = hmac.new(salted, b"Client Key", hash_name).digest()
    stored_key = hashlib.new(hash_name, client_key).digest()
    without_proof = "c=biws,r=" + fields["r"]
    auth_message = ",".join([bare, server_first.decode(), without_proof])
    signature = hmac.new(stored_key, auth_message.encode(), hash_name).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    final = yield ("%s,p=%s" % (without_proof,
                                base64.b64encode(proof).decode())).encode()
    server_key = hmac.new(salted, b"Server Key", hash_name).digest()
    expected = hmac.new(server_key, auth_message.encode(), hash_name).digest()
    if final != b"v=" + base64.b64encode(expected):
        raise SaslError("SCRAM: server signature %r is wrong" % final)


scram.last = {}


MECHANISMS = {
    "PLAIN": plain,
    "LOGIN": login,
    "CRAM-MD5": cram_md5,
    "DIGEST-MD5": digest_md5,
    "SCRAM-SHA-1": lambda u, p, **kw: scram(u, p, "sha1", **kw),
    "SCRAM-SHA-256": lambda u, p, **kw: scram(u, p, "sha256", **kw),
}


def b64(data):
    return base64.b64encode(data).decode()


def authenticate(conn, mechanism, user, password, initial_response=True,
                 **kw):
    """Runs AUTH @mechanism over @conn (a poplartest.Conn after the
    greeting).  Returns (final status line, list of the challenges the
    server sent, decoded)."""
    steps = MECHANISMS[mechanism](user, password, **kw)
    first = next(steps)  # None for mechanisms where the server begins
    challenges = []
    if first is not None and initial_response:
        reply = conn.cmd("AUTH %s %s" % (mechanism, b64(first) or "="))
    else:
        reply = conn.cmd("AUTH %s" % mechanism)
        if first is not None:
            # A client-first mechanism without an initial response: the
            # server asks with an empty challenge.
            if reply != "+ ":
                return reply, challenges
            challenges.append(b"")
            reply = conn.cmd(b64(first))
    while reply.startswith("+ "):
        challenge = base64.b64decode(reply[2:])
        challenges.append(challenge)
        try:
            response = steps.send(challenge)
        except StopIteration:
            # The mechanism has checked the data that came with success
            # (RFC 5034 section 4): acknowledge it with an empty line.
            response = b""
        reply = conn.cmd(b64(response))
    return reply, challenges
