# SPDX-License-Identifier: MIT
"""A poplard with auth-sasl on a sasldb of its own, for the auth-sasl and
TLS tests.  Users are made with the real saslpasswd2 (Debian package
sasl2-bin); the machine's /etc/sasldb2 is never read.

Environment: what poplartest needs, and SASLPASSWD2 (the saslpasswd2
executable; found on PATH and in /usr/sbin when unset).
"""

import os
import re
import shutil
import subprocess

import poplartest
from poplartest import Maildir

REALM = "example.org"


def saslpasswd2():
    path = os.environ.get("SASLPASSWD2")
    if path and os.access(path, os.X_OK):
        return path
    return shutil.which("saslpasswd2", path=os.environ.get("PATH", "") +
                        ":/usr/sbin:/sbin")


def add_sasldb_user(db, name, password, realm=REALM):
    """Adds @name@@realm to the sasldb @db (created when missing)."""
    r = subprocess.run([saslpasswd2(), "-p", "-f", db, "-u", realm, "-c",
                        name], input=password.encode(), capture_output=True,
                       timeout=60)
    if r.returncode != 0:
        raise AssertionError("saslpasswd2 for %s@%s failed: %s" % (
            name, realm, r.stderr.decode(errors="replace")))


class SaslServer(poplartest.Server):
    """A Server whose users live in a sasldb; each has a Maildir at
    mail/<name> (the [server] mail location is maildir:<dir>/mail/%u)."""

    def __init__(self):
        super().__init__()
        self.sasldb = os.path.join(self.dir, "sasldb2")
        self.mail_root = os.path.join(self.dir, "mail")
        os.mkdir(self.mail_root)
        # auth-passwd-file's section is always written: give it a file.
        self._write_passwd()

    def add_sasl_user(self, name, password, messages=(), realm=REALM):
        add_sasldb_user(self.sasldb, name, password, realm)
        return self.maildir(name, messages)

    def maildir(self, account, messages=()):
        """The Maildir of @account (the name the login ends with)."""
        md = Maildir(os.path.join(self.mail_root, account))
        for m in messages:
            md.add(m)
        return md

    def sasl_config(self, sasl=None, server=None, load=None, sections=None):
        """Arguments for start()/config_text(): auth-sasl and store-maildir
        loaded, the sasldb and realm set; @sasl adds [auth-sasl] keys (a
        value None removes the key)."""
        keys = {"sasldb": self.sasldb, "realm": REALM}
        keys.update(sasl or {})
        keys = {k: v for k, v in keys.items() if v is not None}
        server_keys = {"mail": "maildir:%s/%%u" % self.mail_root}
        server_keys.update(server or {})
        all_sections = {"auth-sasl": keys}
        all_sections.update(sections or {})
        return {"server": server_keys,
                "load": load or ["auth-sasl", "store-maildir"],
                "sections": all_sections}

    def config_text(self, server=None, load=None, sections=None, extra=""):
        # poplartest always writes [auth-passwd-file]; poplard refuses a
        # section of a plugin it does not load.
        text = super().config_text(server=server, load=load,
                                   sections=sections, extra=extra)
        if load is not None and "auth-passwd-file" not in load:
            text = re.sub(r"\n\[auth-passwd-file\]\n(?:[^\[\n][^\n]*\n)*",
                          "\n", text)
        return text

    def start_sasl(self, **kw):
        return self.start(**self.sasl_config(**kw))
