# SPDX-License-Identifier: MIT
"""A private Cyrus IMAP 3.6 (Debian's cyrus-common and cyrus-pop3d) run in
a privroot.PrivateRoot: Cyrus's master with pop3d on a loopback port and
lmtpd on a Unix socket in the test's directory, SASL passwords in a
sasldb of the test's own, configuration and mail spool in the test's
temporary directory.

The master starts as root and becomes the "cyrus" user, as Cyrus insists;
that user exists only inside the private root (with the uid of nobody, so
that the files it leaves in the test's directory have an owner there too).
"""
import glob
import os
import shlex
import smtplib
import time

import migrationtest as mt
import privroot

# cyrus-common and cyrus-pop3d with the libraries cyrus-common needs that a
# machine with this suite's TEST_DEPS lacks.
PACKAGES = [
    "cyrus-common", "cyrus-pop3d", "libclamav12", "libical3", "libxapian30",
    "libzephyr4", "libmspack0",
]
START_TIMEOUT = 60
CYRUS_ID = 65534

# Duplicate suppression is off: the tests deliver one message twice on
# purpose, as happens on a real server.
IMAPD_CONF = """configdirectory: {dir}/conf
partition-default: {dir}/spool
defaultpartition: default
proc_path: /run/cyrus/proc
mboxname_lockpath: /run/cyrus/lock
lmtpsocket: {dir}/lmtp
idlesocket: /run/cyrus/idle
notifysocket: /run/cyrus/notify
servername: localhost
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {dir}/sasldb2
sasl_mech_list: PLAIN LOGIN
autocreate_quota: 0
autocreate_post: 1
popminpoll: 0
duplicatesuppression: 0
hashimapspool: true
"""

CYRUS_CONF = """START {{
  recover cmd="ctl_cyrusdb -r"
}}
SERVICES {{
  pop3 cmd="pop3d" listen="{host}:{port}" prefork=0 maxchild=10
  lmtpunix cmd="lmtpd" listen="{dir}/lmtp" prefork=0 maxchild=5
}}
"""

# Run inside the private root: the cyrus user, the passwords, the
# configuration at its compiled-in places, then the master in the
# foreground.
SCRIPT = """
set -e
echo 'cyrus:x:{id}:{id}::{dir}:/usr/sbin/nologin' >> /etc/passwd
{passwords}
chown {id}:{id} {dir}/sasldb2
cp {dir}/imapd.conf /etc/imapd.conf
cp {dir}/cyrus.conf /etc/cyrus.conf
mkdir -p /run/cyrus/proc /run/cyrus/lock
chown -R {id}:{id} /run/cyrus
exec /usr/lib/cyrus/bin/master -D -l 0
"""


class Cyrus(privroot.PrivateServer):

    NAME = "Cyrus"

    def __init__(self, root):
        super().__init__(root, PACKAGES, "cyrus", "master.log",
                         mt.HOST)
        for sub in ("conf", "spool"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        os.chmod(self.dir, 0o755)
        for d in (self.dir, os.path.join(self.dir, "conf"),
                  os.path.join(self.dir, "spool")):
            os.chown(d, CYRUS_ID, CYRUS_ID)
        self.users = {}

    def add_user(self, name, password):
        self.users[name] = password
        return name

    def start(self, port=None):
        self.port = port or mt.free_port()
        with open(os.path.join(self.dir, "imapd.conf"), "w") as f:
            f.write(IMAPD_CONF.format(dir=self.dir))
        with open(os.path.join(self.dir, "cyrus.conf"), "w") as f:
            f.write(CYRUS_CONF.format(host=mt.HOST, port=self.port,
                                      dir=self.dir))
        passwords = "\n".join(
            "printf '%%s' %s | saslpasswd2 -p -c -f %s/sasldb2 -u localhost "
            "%s" % (shlex.quote(pw), self.dir, shlex.quote(name))
            for name, pw in self.users.items())
        script = SCRIPT.format(id=CYRUS_ID, dir=self.dir, passwords=passwords)

        def ready():
            mt.wait_port(self.port, START_TIMEOUT, self.proc)
            self._wait_lmtp()
        self.launch(script, ready)
        return self.port

    def _wait_lmtp(self):
        deadline = time.monotonic() + START_TIMEOUT
        while not os.path.exists(os.path.join(self.dir, "lmtp")):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("lmtpd's socket did not appear")
            time.sleep(0.1)

    def deliver(self, user, content):
        """Delivers @content to @user's INBOX through Cyrus's lmtpd (which
        creates the INBOX on first delivery)."""
        with smtplib.LMTP(os.path.join(self.dir, "lmtp"), timeout=30) as l:
            refused = l.sendmail("sender@example.org", [user], content)
        if refused:
            raise AssertionError("lmtpd refused: %r" % refused)

    def spool_messages(self):
        """The message files ("<uid>.") of every mailbox in Cyrus's spool,
        in UID order: with one user, that user's INBOX."""
        files = []
        for header in glob.glob(os.path.join(self.dir, "spool", "**",
                                             "cyrus.header"), recursive=True):
            d = os.path.dirname(header)
            files += [os.path.join(d, n) for n in os.listdir(d)
                      if n.endswith(".") and n[:-1].isdigit()]
        return sorted(files, key=lambda p: int(os.path.basename(p)[:-1]))
