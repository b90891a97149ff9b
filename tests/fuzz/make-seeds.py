#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the hand-made seeds of every fuzz target into corpus/<target>/.

Seeds are named seed-*; inputs that found a bug are added by hand as
crash-<target>-<what> and are never removed, so that `make check` replays
them.  Run again after changing this file; other files are left alone.
"""
import base64
import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def b64(data):
    return base64.b64encode(data).decode()


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def pop3_parse():
    lines = [
        "USER alice", "PASS secret with spaces", "APOP alice c4c9334bac560ecc979e58001b3e22fb",
        "STAT", "LIST", "LIST 1", "UIDL 2", "RETR 1", "TOP 1 10", "DELE 3", "NOOP", "RSET",
        "QUIT", "CAPA", "STLS", "AUTH", "AUTH PLAIN", "AUTH PLAIN =",
        "AUTH PLAIN " + b64(b"\0alice\0pw"), "top  1   2 ", "TOP 1 2 3", "LIST 4294967295",
        "LIST 4294967296", "LIST 00000000000000000001", "LIST -1", "LIST +1", "X", "XY",
        "TOOLONG", "U\x01SER", "USER \x7f", "", " ", "USER", "USER ", "user\xc3\xa9 x",
        "A" * 255, "USER " + "a" * 300,
    ]
    for i, line in enumerate(lines):
        write("pop3-parse", "%02d" % i, line)


def dotstuff():
    msgs = [
        b"Subject: a\r\n\r\nbody\r\n",
        b"Subject: b\n\n.dot\n..two\n.\nend",
        b".\r\n",
        b"",
        b"no line end",
        b"bare CR\r",
        b"\r\n\r\n\r\n",
        b"H: 1\r\n\r\nl1\r\nl2\r\nl3\r\nl4\r\n",
        b"H: 1\n\nl1\nl2\n.l3\nl4\n",
        b"a\rb\r\r\nc\n\r\n.\r",
        b"\0\xff\x80\n.\0\n",
        b"H: x\r\n\r\n" + b"".join(b".line %d\n" % i for i in range(400)),
    ]
    i = 0
    for m in msgs:
        for mode in (0x80, 0x00, 0x01, 0x03):
            write("dotstuff", "%02d" % i, bytes([mode, i * 37 % 256]) + m)
            i += 1


def config():
    confs = [
        """[server]
listen = 127.0.0.1:1110; [::1]:1110
listen-tls = 127.0.0.1:1995
plugin-dir = /usr/lib/poplar/plugins
mail = maildir:%h/Maildir
idle-timeout = 10m
max-connections = 1024
max-connections-per-ip = 32
auth-failure-delay = 2s
auth-failure-delay-max = 60s
auth-failure-window = 15m
threads = 0
plugin-threads = 16
login-delay = 900
expire = never
log-level = info
trusted-networks = 127.0.0.0/8; ::1/128; 10.0.0.0/8

[plugins]
load = auth-passwd-file; store-maildir

[auth-passwd-file]
path = /etc/poplar/passwd
size = 10M
enabled = yes
list = a; b;; c

[tls]
certificates = /nonexistent/cert.pem:/nonexistent/key.pem
priority = NORMAL
handshake-timeout = 30s
session-tickets = no
""",
        "[server]\nlisten = *:110\nexpire = 30\nidle-timeout = 1ms\n",
        "# comment only\n\n   \n",
        "[server\nkey\n= v\n[ ]\n[]\n[a/b]\nk=v\n",
        "[server]\nmail = mbox:/var/mail/%u\nmail = again\n[server]\nx\\q = 1\n",
        "[s]\nk = \\s\\n\\t\\r\\\\ ok\nbad = \\x\nend = \\\n",
        "[server]\nidle-timeout = 18446744073709551615ms\n",
        "[server]\nauth-failure-delay = 99999999999d\nthreads = 257\n",
        "[server]\nlog-level = loud\nlogin-delay = -1\nmax-connections = 0\n",
        "[server]\ntrusted-networks = 300.1.1.1; 10.0.0.0/33; ::1/129; fe80::/10\n",
        "[server]\nlisten = 127.0.0.1\nlisten-tls = [::1]:995\n",
        "[s\xc3\xa9]\nk\xff = v\n",
        "[server]\x00\nlisten = 127.0.0.1:1\n",
        "[x]\r\nk = v\r\n",
    ]
    for i, c in enumerate(confs):
        write("config", "%02d" % i, c)


def session():
    S = [
        "USER alice\r\nPASS pw\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 2 1\r\nRETR 3\r\n"
        "DELE 1\r\nRSET\r\nDELE 2\r\nQUIT\r\n",
        "CAPA\r\nAUTH\r\nUSER alice\r\nPASS wrong\r\nPASS pw\r\nUSER alice\r\nPASS pw\r\n"
        "CAPA\r\nNOOP\r\nLIST 1\r\nUIDL 7\r\nLIST 8\r\nTOP 3 0\r\nRETR 7\r\nQUIT\r\n",
        "USER bob\r\nPASS pw\r\nRETR 2\r\nRETR 4\r\nRETR 1\r\nDELE 1\r\nQUIT\r\n",
        "USER bob\r\nPASS pw\r\nRETR 3\r\nNOOP\r\n",
        "USER carol\r\nPASS pw\r\nUSER dave\r\nPASS pw\r\nUSER nobody\r\nPASS pw\r\n",
        "USER erin\r\nPASS pw\r\nDELE 1\r\nQUIT\r\n",
        "USER frank\r\nPASS pw\r\nLIST\r\nUIDL\r\nRETR 1\r\nRETR 2\r\nDELE 1\r\nDELE 2\r\n"
        "TOP 3 2\r\nRSET\r\nRETR 4\r\n",
        "USER mallory\r\nPASS pw\r\n",
        "USER trudy\r\nPASS pw\r\nUSER alice\r\nPASS x\r\nPASS y\r\nUSER a\r\nPASS z\r\n",
        "APOP alice 0123456789abcdef0123456789abcdef\r\nAPOP alice zz\r\n",
        "AUTH PLAIN " + b64(b"\0alice\0pw") + "\r\nLIST\r\nQUIT\r\n",
        "AUTH PLAIN\r\n" + b64(b"alice\0alice\0pw") + "\r\nSTAT\r\nQUIT\r\n",
        "AUTH LOGIN\r\n" + b64(b"alice") + "\r\n" + b64(b"pw") + "\r\nUIDL\r\nQUIT\r\n",
        "AUTH LOGIN " + b64(b"alice") + "\r\n*\r\nAUTH X-FUZZ\r\n" + b64(b"hello") +
        "\r\n" + b64(b"data:alice") + "\r\n\r\nSTAT\r\nQUIT\r\n",
        "AUTH X-FUZZ " + b64(b"user:frank") + "\r\nLIST\r\nQUIT\r\n",
        "AUTH X-FUZZ =\r\n" + b64(b"nouser") + "\r\nAUTH X-FUZZ\r\n" + b64(b"temp") + "\r\n",
        "AUTH X-FUZZ " + b64(b"user:../etc") + "\r\nAUTH X-FUZZ " + b64(b"deny") + "\r\n",
        "AUTH PLAIN !!!!\r\nAUTH PLAIN\r\nnot base64\r\nAUTH CRAM-MD5\r\n",
        "STLS\r\nUSER alice\r\n",
        "U" * 2000 + "\r\nUSER alice\r\nPASS pw\r\nSTAT\r\n",
        "USER a\x00b\r\nPASS \xff\xfe\r\nUSER \xf0\r\nPASS x\r\n",
        "\r\n" * 25,
        "USER alice\rPASS pw\rSTAT\r\n",
        "USER alice\nPASS pw\nLIST\nRETR 3\nQUIT\n",
        "USER alice\r\nPASS pw\r\n" + "NOOP\r\n" * 500 + "QUIT\r\n",
        "USER alice\r\nPASS pw\r\n" + "RETR 3\r\n" * 4 + "QUIT\r\n",
        "AUTH PLAIN\r\n" + "A" * 3000 + "\r\nCAPA\r\n",
    ]
    for i, s in enumerate(S):
        write("session", "%02d" % i, b"\x00" + s.encode("latin-1"))
    # Untrusted: plaintext refused, X-FUZZ allowed.
    write("session", "untrusted-00", b"\x01CAPA\r\nUSER alice\r\nPASS pw\r\n"
          b"AUTH PLAIN " + b64(b"\0alice\0pw").encode() + b"\r\nAUTH\r\n"
          b"AUTH X-FUZZ " + b64(b"user:alice").encode() + b"\r\nSTAT\r\nQUIT\r\n")


def sasl():
    seeds = [
        (0, [b"\0alice\0pw"]),
        (4, [b"\0alice\0pw"]),
        (4, [b"alice\0alice\0pw"]),
        (4, [b"bob\0alice\0pw"]),
        (0, [b"\0\0pw", b""]),
        (1, [b"alice", b"pw"]),
        (5, [b"alice", b"pw"]),
        (1, [b"al\0ce", b"pw"]),
        (2, [b"", b"x", b"user:alice"]),
        (6, [b"data:bob", b""]),
        (6, [b"data:bob", b"extra"]),
        (2, [b"deny"]),
        (2, [b"temp"]),
        (2, [b"bad"]),
        (2, [b"nouser"]),
        (3, [b"user:frank"]),
        (2 | 32, [b"hello"]),
        (8, [b"not base64!", b"QQ=", b"QQ==", b"=", b"*"]),
        (8 | 4, [b"="]),
        (16, [b"\0alice\0pw"]),
        (16 | 2, [b"user:alice"]),
        (4, [b"\0alice\0" + b"p" * 700]),
        (4, [b"\0\x1b[31mevil\x07\0pw"]),
        (5, [b"a\x1b]0;title\x07", b"pw"]),
    ]
    for i, (flags, msgs) in enumerate(seeds):
        write("sasl", "%02d" % i, bytes([flags]) + b"\n".join(msgs))


def proxy():
    import struct
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    v4 = bytes([192, 0, 2, 1, 10, 0, 0, 1]) + struct.pack(">HH", 40000, 110)
    v6 = bytes(range(16)) + bytes(range(16, 32)) + struct.pack(">HH", 1, 995)
    seeds = [
        b"PROXY TCP4 192.0.2.1 10.0.0.1 40000 110\r\nUSER alice\r\n",
        b"PROXY TCP6 2001:db8::1 2001:db8::2 65535 995\r\n",
        b"PROXY UNKNOWN\r\n",
        b"PROXY UNKNOWN ffff:f...f ffff:f...f 65535 65535\r\n",
        b"PROXY TCP4 192.0.2.1 10.0.0.1 040000 110\r\n",
        b"PROXY TCP4 192.0.2.1 10.0.0.1 65536 110\r\n",
        b"PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n",
        b"PROXY TCP5 a b c d\r\n",
        b"PROXY TCP4 192.0.2.1 10.0.0.1 1\r\n",
        b"PROXY " + b"A" * 110 + b"\r\n",
        b"PROXY TCP4\x00\r\n",
        b"PROXY",
        sig + b"\x21\x11" + struct.pack(">H", 12) + v4,
        sig + b"\x21\x21" + struct.pack(">H", 36) + v6,
        sig + b"\x21\x11" + struct.pack(">H", 12 + 7) + v4 + b"\x01\x00\x04h2h2",
        sig + b"\x20\x00" + struct.pack(">H", 0),
        sig + b"\x21\x31" + struct.pack(">H", 216) + b"\0" * 216,
        sig + b"\x21\x12" + struct.pack(">H", 12) + v4,
        sig + b"\x21\x11" + struct.pack(">H", 4) + v4[:4],
        sig + b"\x11\x11" + struct.pack(">H", 12) + v4,
        sig + b"\x2f\x11" + struct.pack(">H", 12) + v4,
        sig + b"\x21\x11" + struct.pack(">H", 65535) + v4,
        sig[:7],
        b"USER alice\r\n",
        b"",
    ]
    for i, s in enumerate(seeds):
        write("proxy", "%02d" % i, s)


def mbox():
    frm = b"From alice@example.org Mon Jan  1 00:00:00 2024\n"
    msgs = [
        frm + b"Subject: a\n\nbody\n\n" + frm + b"Subject: b\n\n>From quoted\n>>From twice\n\n",
        b"headless\n\n" + frm + b"X-UIDL: abc123\n\nx\n",
        frm + b"Status: RO\nContent-Length: 3\n\nFrom not a separator\n",
        frm.replace(b"\n", b"\r\n") + b"Subject: crlf\r\n\r\nbody\r\n\r\n",
        b"From MAILER-DAEMON Fri Jul  8 12:08:34 2011 +0200\nX: 1\n\n.\n..\n",
        b"From \"quoted sender\"@x Tue Feb 29 23:59:59 2000\n\n" + b"l" * 3000 + b"\n",
        frm + b"X-UIDL: " + b"u" * 80 + b"\n\n",
        frm + b"\n" + frm + b"X-UIDL: same\n\n" + frm + b"X-UIDL: same\n\n",
        b"",
        frm,
        frm + b"no final newline",
        b">From x\n" + frm + b">>>From y\n",
    ]
    i = 0
    for m in msgs:
        for flags in (0, 1, 2, 7):
            write("mbox", "%02d" % i, bytes([flags]) + m)
            i += 1
    h = "0123456789abcdef" * 2
    idx = [
        "poplar-mbox-index 1\nformat mboxo\nfile 1 2 100 3 4\nscanned 100\n"
        "messages 2\n0 50 60 12 0123456789abcdef %s 0 uid1\n"
        "61 80 99 20 0123456789abcdef %s 0 uid2\nend\n" % (h, h),
        "poplar-mbox-index 1\nformat mboxrd\nfile 1 2 0 -3 -4\nscanned 0\n"
        "messages 0\nend\n",
        "poplar-mbox-index 1\nformat mboxo\nfile 1 2 100 3 4\nscanned 100\n"
        "messages 2\n0 0 60 12 0123456789abcdef %s 1 uid1\n"
        "10 80 99 20 0123456789abcdef %s 0 uid1\nend\n" % (h, h),
        "poplar-mbox-index 1\nformat mboxo\nfile 1 2 100 3 4\nscanned 100\n"
        "messages 18446744073709551615\n",
        "poplar-mbox-index 1\nformat mboxo\nfile 1 2 100 3 4\nscanned 101\n",
        "poplar-mbox-index 2\n",
        "",
    ]
    for i, t in enumerate(idx):
        write("mbox-index", "%02d" % i, t)


def main():
    mbox()
    proxy()
    pop3_parse()
    dotstuff()
    config()
    session()
    sasl()


if __name__ == "__main__":
    sys.exit(main())
