#!/usr/bin/env python3
"""The PROXY protocol (v1 and v2): the client address in the header is what
logs, limits and the trusted-network check see; headers from untrusted
addresses, broken headers and missing headers are refused."""
import os
import socket
import ssl
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "integration"))
import poplartest  # noqa: E402

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def closed(s):
    """True when the server closed the connection (FIN or RST)."""
    try:
        return s.recv(100) == b""
    except ConnectionResetError:
        return True


def v1(src, dst="192.0.2.10", sport=40000, dport=110, proto="TCP4"):
    return ("PROXY %s %s %s %d %d\r\n" % (proto, src, dst, sport,
                                          dport)).encode()


def v2(src, dst="192.0.2.10", sport=40000, dport=110, tlvs=b"", local=False):
    if local:
        return V2_SIG + bytes([0x20, 0x00]) + struct.pack("!H", 0)
    if ":" in src:
        addrs = (socket.inet_pton(socket.AF_INET6, src) +
                 socket.inet_pton(socket.AF_INET6, dst or "::1") +
                 struct.pack("!HH", sport, dport))
        fam = 0x21
    else:
        addrs = (socket.inet_aton(src) + socket.inet_aton(dst) +
                 struct.pack("!HH", sport, dport))
        fam = 0x11
    body = addrs + tlvs
    return V2_SIG + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


class ProxyTest(unittest.TestCase):
    def setUp(self):
        self.srv = poplartest.Server()
        self.srv.add_user("alice", "secret",
                          messages=[b"Subject: hi\n\nhello\n"])

    def tearDown(self):
        self.srv.stop()
        self.srv.cleanup()

    def start(self, **server):
        # Plaintext logins from the header addresses are what these tests
        # drive; test_trust_follows_the_header_address checks the policy.
        keys = {"proxy-protocol": "yes",
                "trusted-proxies": "127.0.0.0/8",
                "trusted-networks": "0.0.0.0/0; ::/0"}
        keys.update(server)
        return self.srv.start(server=keys)

    def raw(self, header, chunks=1):
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=5)
        step = max(1, len(header) // chunks)
        for i in range(0, len(header), step):
            s.sendall(header[i:i + step])
            if chunks > 1:
                time.sleep(0.02)
        return s

    def greeting(self, s):
        f = s.makefile("rb")
        return f.readline().decode()

    def session(self, header, chunks=1):
        s = self.raw(header, chunks)
        f = s.makefile("rwb")
        greet = f.readline().decode()
        self.assertTrue(greet.startswith("+OK"), greet)
        for cmd in (b"USER alice", b"PASS secret", b"STAT", b"QUIT"):
            f.write(cmd + b"\r\n")
            f.flush()
            reply = f.readline().decode()
            self.assertTrue(reply.startswith("+OK"), (cmd, reply))
        s.close()

    def test_v1_address_is_logged(self):
        self.start()
        mark = self.srv.log_mark()
        self.session(v1("203.0.113.7", sport=4444))
        self.srv.wait_for_log(r"connect from 203\.0\.113\.7 port 4444 via "
                              r"127\.0\.0\.1", start=mark)

    def test_v1_in_small_pieces(self):
        self.start()
        mark = self.srv.log_mark()
        self.session(v1("203.0.113.8"), chunks=12)
        self.srv.wait_for_log(r"connect from 203\.0\.113\.8 ", start=mark)

    def test_v2_ipv4_with_tlvs(self):
        self.start()
        mark = self.srv.log_mark()
        authority = b"\x02" + struct.pack("!H", 16) + b"pop.example.org\x00"
        noop = b"\x04" + struct.pack("!H", 3000) + b"\x00" * 3000
        self.session(v2("198.51.100.23", sport=5555, tlvs=authority + noop))
        self.srv.wait_for_log(r"connect from 198\.51\.100\.23 port 5555 via",
                              start=mark)

    def test_v2_ipv6(self):
        self.start()
        mark = self.srv.log_mark()
        self.session(v2("2001:db8::42", dst="2001:db8::1", sport=6000))
        self.srv.wait_for_log(r"connect from 2001:db8::42 port 6000 via",
                              start=mark)

    def test_v2_local_keeps_socket_address(self):
        self.start()
        mark = self.srv.log_mark()
        self.session(v2(None, local=True))
        self.srv.wait_for_log(r"connect from 127\.0\.0\.1 port \d+ via "
                              r"127\.0\.0\.1 \(PROXY LOCAL\)", start=mark)

    def test_bad_and_missing_headers_close(self):
        self.start()
        for bad in (b"PROXY TCP4 1.2.3.4\r\n",
                    b"PROXY TCP4 999.1.1.1 1.1.1.1 1 2\r\n",
                    b"PROXY TCP4 1.1.1.1 1.1.1.1 1 99999\r\n",
                    b"USER alice\r\n",
                    V2_SIG + b"\x31\x11\x00\x0c" + b"\x00" * 12,
                    b"P" * 200):
            s = self.raw(bad)
            s.settimeout(5)
            self.assertTrue(closed(s), bad)
            s.close()
        self.srv.wait_for_log(r"bad PROXY header")

    def test_untrusted_proxy_refused(self):
        self.start(**{"trusted-proxies": "192.0.2.1/32"})
        s = self.raw(v1("203.0.113.7"))
        s.settimeout(5)
        self.assertTrue(closed(s))
        s.close()
        self.srv.wait_for_log(r"not in trusted-proxies")

    def test_limits_follow_the_header_address(self):
        self.start(**{"max-connections-per-ip": "2"})
        held = [self.raw(v1("203.0.113.50")) for _ in range(2)]
        for s in held:
            self.assertTrue(self.greeting(s).startswith("+OK"))
        third = self.raw(v1("203.0.113.50"))
        third.settimeout(5)
        self.assertTrue(closed(third))
        # Another client behind the same proxy is still served.
        self.session(v1("203.0.113.51"))
        for s in held + [third]:
            s.close()

    def test_trust_follows_the_header_address(self):
        # With TLS available, a client outside trusted-networks may not send
        # a plaintext password before STLS, even through a trusted proxy.
        cert, key = make_certificate(self.srv.dir)
        self.srv.write_config(
            server={"proxy-protocol": "yes",
                    "trusted-proxies": "127.0.0.0/8",
                    "trusted-networks": "127.0.0.0/8"},
            sections={"tls": {"certificates": "%s:%s" % (cert, key)}})
        self.srv.start()
        for src, allowed in (("10.9.9.9", False), ("127.0.0.5", True)):
            s = self.raw(v1(src))
            f = s.makefile("rwb")
            f.readline()
            f.write(b"USER alice\r\n")
            f.flush()
            reply = f.readline().decode()
            self.assertEqual(reply.startswith("+OK"), allowed, (src, reply))
            s.close()

    def test_implicit_tls_hello_in_the_same_packet(self):
        cert, key = make_certificate(self.srv.dir)
        self.srv.write_config(
            server={"proxy-protocol": "yes",
                    "trusted-proxies": "127.0.0.0/8",
                    "listen": "",
                    "listen-tls": "127.0.0.1:0"},
            sections={"tls": {"certificates": "%s:%s" % (cert, key)}})
        self.srv.start()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = outgoing.read()
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=5)
        # The header and the ClientHello in one write: poplard must leave
        # every octet after the header to the TLS handshake.
        s.sendall(v2("203.0.113.99") + hello)
        greeting = b""
        while b"\r\n" not in greeting:
            try:
                tls.do_handshake()
                data = tls.read(1024)
                greeting += data
                continue
            except ssl.SSLWantReadError:
                pass
            out = outgoing.read()
            if out:
                s.sendall(out)
            data = s.recv(65536)
            self.assertTrue(data, "connection closed during the handshake")
            incoming.write(data)
        self.assertTrue(greeting.startswith(b"+OK"), greeting)
        s.close()
        self.srv.wait_for_log(r"connect from 203\.0\.113\.99 ")


def make_certificate(directory):
    key = os.path.join(directory, "key.pem")
    cert = os.path.join(directory, "cert.pem")
    tmpl = os.path.join(directory, "cert.tmpl")
    with open(tmpl, "w") as f:
        f.write("cn = localhost\ndns_name = localhost\nexpiration_days = 2\n"
                "tls_www_server\n")
    subprocess.run(["certtool", "--generate-privkey", "--key-type", "ecdsa",
                    "--curve", "secp256r1", "--outfile", key],
                   check=True, capture_output=True)
    subprocess.run(["certtool", "--generate-self-signed", "--load-privkey",
                    key, "--template", tmpl, "--outfile", cert],
                   check=True, capture_output=True)
    return cert, key


if __name__ == "__main__":
    poplartest.main()
