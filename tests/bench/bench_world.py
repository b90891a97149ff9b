# SPDX-License-Identifier: MIT
"""The benchmark's world: one temporary directory holding the certificate,
the users (one SHA512-CRYPT hash for all, as a real site's users file would
hold), and the mail.  Mail is generated once as templates, then copied for
each server, so every server reads the same octets and writes its own
caches and indexes into its own copy."""

import grp
import os
import pwd
import random
import shutil
import subprocess
import tempfile

PASSWORD = "bench-secret"
# TLS 1.3, AES-128-GCM, X25519 and the ECDSA P-256 certificate (or the
# RSA-2048 one of the TLS rows): what every server and the GnuTLS ceiling
# negotiate.
PRIORITY = ("NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:"
            "-GROUP-ALL:+GROUP-X25519")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=300, **kw)


class World:
    def __init__(self, root_parent=None, rate_users=64, hold_users=10000,
                 list_sizes=(1000, 10000, 100000), retr_mb=200):
        self.root = tempfile.mkdtemp(prefix="poplar-bench-", dir=root_parent)
        os.chmod(self.root, 0o755)
        self.mail_user = "nobody"
        self.mail_group = "nogroup"
        self.uid = pwd.getpwnam(self.mail_user).pw_uid
        self.gid = grp.getgrnam(self.mail_group).gr_gid
        self.rate_users = rate_users
        self.hold_users = max(hold_users, rate_users)
        self.list_sizes = list_sizes
        self.retr_mb = retr_mb
        self.priority = PRIORITY
        self.password = PASSWORD
        self.templates = os.path.join(self.root, "templates")
        self.hash = None
        self.cert = self.key = None
        self.rsa_cert = self.rsa_key = None
        self.instances = {}  # label -> home root

    # -- credentials

    def make_credentials(self):
        self.hash = run(["openssl", "passwd", "-6", "-salt", "poplarbench",
                         self.password], text=True).stdout.strip()
        d = os.path.join(self.root, "tls")
        os.makedirs(d)
        self.cert = os.path.join(d, "cert.pem")
        self.key = os.path.join(d, "key.pem")
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost",
             "-days", "7", "-keyout", self.key, "-out", self.cert])
        # Dovecot reads the key as root; poplard before dropping privileges.
        os.chmod(self.key, 0o600)
        self.rsa_cert = self.rsa_key = None

    def make_rsa_credentials(self):
        """An RSA-2048 certificate for the same name, beside the ECDSA one:
        the TLS rows measure both."""
        d = os.path.join(self.root, "tls")
        self.rsa_cert = os.path.join(d, "rsa-cert.pem")
        self.rsa_key = os.path.join(d, "rsa-key.pem")
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
             "-subj", "/CN=localhost", "-days", "7", "-keyout", self.rsa_key,
             "-out", self.rsa_cert])
        os.chmod(self.rsa_key, 0o600)

    def certificate(self, kind):
        """(certificate, key) of @kind: "ecdsa" or "rsa"."""
        if kind == "rsa":
            return self.rsa_cert, self.rsa_key
        return self.cert, self.key

    # -- mail

    def list_user(self, n):
        return "list%d" % n

    def users(self):
        """(name, template or None) for every account."""
        out = [("bench%d" % i, "rate" if i < self.rate_users else None)
               for i in range(self.hold_users)]
        out += [(self.list_user(n), self.list_user(n))
                for n in self.list_sizes]
        out.append(("retr", "retr"))
        return out

    def make_templates(self):
        rng = random.Random(1939)
        words = ["pop3", "maildir", "server", "message", "poplar", "octet",
                 "mailbox", "delivery", "header", "the", "a", "of", "and",
                 "to", "in", "is", "retrieve", "list", "unique", "id"]
        lines = []
        for i in range(20000):
            n = rng.randint(3, 14)
            line = " ".join(rng.choice(words) for _ in range(n))
            if i % 97 == 0:
                line = "." + line  # dot-stuffing work for the server
            lines.append(line)
        text = ("\n".join(lines) + "\n").encode()
        self._text = text

        def body(size, seed):
            # Leave room for the body and the line ends around it.
            start = (seed * 7919) % (len(text) - size - 4096)
            start = text.index(b"\n", start) + 1
            end = text.index(b"\n", start + size) + 1
            return text[start:end]

        def maildir(name, sizes, stamp0):
            d = os.path.join(self.templates, name, "Maildir")
            for sub in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(d, sub))
            new = os.path.join(d, "new")
            for i, size in enumerate(sizes):
                stamp = stamp0 + i
                head = ("Return-Path: <sender%d@example.org>\n"
                        "From: Sender %d <sender%d@example.org>\n"
                        "To: %s@example.net\n"
                        "Subject: benchmark message %d\n"
                        "Message-ID: <%d.%d@example.org>\n"
                        "Date: Tue, 14 Nov 2023 22:13:20 +0000\n\n" % (
                            i, i, i, name, i, stamp, i)).encode()
                path = os.path.join(new, "%d.M%dP%d.benchhost" % (
                    stamp, i, 4242))
                with open(path, "wb") as f:
                    f.write(head + body(max(size - len(head), 16), i))
                os.utime(path, (stamp, stamp))

        maildir("rate", [4096] * 10, 1700000000)
        for n in self.list_sizes:
            maildir(self.list_user(n), [rng.randint(600, 2400)
                                        for _ in range(n)], 1600000000)
        total = self.retr_mb * 1000 * 1000
        sizes = []
        while sum(sizes) < total:
            sizes.append(rng.randint(10000, 190000))
        maildir("retr", sizes, 1650000000)

    def template_dir(self, name):
        return os.path.join(self.templates, name, "Maildir")

    def octets(self, name):
        d = self.template_dir(name)
        return sum(os.path.getsize(os.path.join(d, s, f))
                   for s in ("new", "cur") for f in os.listdir(
                       os.path.join(d, s)))

    # -- per server

    def passwd_path(self, label):
        return os.path.join(self.root, label, "users")

    def home(self, label, user):
        return os.path.join(self.instances[label], user)

    def make_instance(self, label, reader_group=None, scheme="SHA512-CRYPT"):
        """Homes, Maildirs and the users file of one server.  The file is
        read by the mail user, or by @reader_group (Dovecot's auth
        process runs as its internal user).  @scheme: SHA512-CRYPT (one
        hash for all) or PLAIN."""
        secret = self.password if scheme == "PLAIN" else self.hash
        homes = os.path.join(self.root, label, "home")
        os.makedirs(homes)
        self.instances[label] = homes
        lines = []
        for user, template in self.users():
            home = os.path.join(homes, user)
            if template:
                os.mkdir(home)
                shutil.copytree(self.template_dir(template),
                                os.path.join(home, "Maildir"))
            else:
                for sub in ("cur", "new", "tmp"):
                    os.makedirs(os.path.join(home, "Maildir", sub))
            lines.append("%s:{%s}%s:%d:%d::%s::" % (
                user, scheme, secret, self.uid, self.gid, home))
        path = self.passwd_path(label)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        if reader_group:
            os.chown(path, 0, grp.getgrnam(reader_group).gr_gid)
            os.chmod(path, 0o640)
        else:
            # poplard reads it after dropping privileges.
            os.chown(path, self.uid, self.gid)
            os.chmod(path, 0o600)
        run(["chown", "-R", "%d:%d" % (self.uid, self.gid), homes])

    def reset_maildir(self, label, user, template):
        """The mailbox as just delivered: no server has seen it yet."""
        md = os.path.join(self.home(label, user), "Maildir")
        shutil.rmtree(md)
        shutil.copytree(self.template_dir(template), md)
        run(["chown", "-R", "%d:%d" % (self.uid, self.gid), md])

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)
