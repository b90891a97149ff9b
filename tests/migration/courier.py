# SPDX-License-Identifier: MIT
"""A private Courier (courier-pop and courier-imap from Debian's packages)
for one MailUser, run in a privroot.PrivateRoot: couriertcpd on loopback
ports, authdaemond with the authuserdb module and a userdb of the test's
own, the user's Maildir bound in from the test's temporary directory.

Courier runs as root and serves the session as the user's uid from the
userdb, as a real installation does.
"""
import os
import subprocess

import migrationtest as mt
import privroot

# courier-pop and courier-imap with what they need that a machine with
# this suite's TEST_DEPS lacks; the libraries some minimal systems lack
# too are named so that they are there in any case.
PACKAGES = [
    "courier-pop", "courier-imap", "courier-base", "courier-authdaemon",
    "courier-authlib", "courier-authlib-userdb", "libcourier-unicode4",
    "libgamin0", "libidn12", "libpcre3",
]
START_TIMEOUT = 60

# Run inside the private root: Courier's configuration at its compiled-in
# places, authdaemond, then one couriertcpd a protocol, as Courier's init
# scripts start them (without courierlogger, which would detach).
SCRIPT = r"""
set -e
cat > /etc/courier/authdaemonrc <<'EOF'
authmodulelist="authuserdb"
daemons=2
authdaemonvar=/run/courier/authdaemon
DEBUG_LOGIN=0
DEFAULTOPTIONS=""
LOGGEROPTS=""
EOF
install -m 600 {userdb} /etc/courier/userdb
makeuserdb
mkdir -p /run/courier/authdaemon
/usr/lib/courier/courier-authlib/authdaemond &
set -a
. /etc/courier/imapd
. /etc/courier/pop3d
. /etc/courier/pop3d-ssl
POP3_STARTTLS=NO
IMAP_STARTTLS=NO
IMAP_CAPABILITY="IMAP4rev1 UIDPLUS"
set +a
couriertcpd -address={host} -nodnslookup -noidentlookup -maxprocs=10 \
    -maxperip=10 {imap_port} /usr/lib/courier/courier/imaplogin \
    /usr/bin/imapd Maildir &
exec couriertcpd -address={host} -nodnslookup -noidentlookup -maxprocs=10 \
    -maxperip=10 {pop3_port} /usr/lib/courier/courier/courierpop3login \
    /usr/lib/courier/courier/courierpop3d Maildir
"""


def sha512_crypt(password):
    """A crypt(3) SHA-512 hash, as authuserdb checks passwords."""
    r = subprocess.run(["openssl", "passwd", "-6", "-stdin"],
                       input=password, capture_output=True, text=True,
                       timeout=30, check=True)
    return r.stdout.strip()


class Courier(privroot.PrivateServer):

    NAME = "Courier"

    def __init__(self, root, user, pop3_port=None):
        super().__init__(root, PACKAGES, "courier", "courier.log",
                         mt.HOST)
        self.user = user
        self.port = pop3_port or mt.free_port()
        self.imap_port = mt.free_port()
        self.userdb = os.path.join(self.dir, "userdb")
        hashed = sha512_crypt(user.password)
        with open(self.userdb, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write("%s\tuid=%d|gid=%d|home=%s|mail=%s|systempw=%s\n" % (
                user.name, user.uid, user.gid, user.home, user.maildir,
                hashed))

    @property
    def pop3_port(self):
        return self.port

    def start(self):
        script = SCRIPT.format(userdb=self.userdb, host=mt.HOST,
                               pop3_port=self.port,
                               imap_port=self.imap_port)

        def ready():
            mt.wait_port(self.port, START_TIMEOUT, self.proc)
            mt.wait_port(self.imap_port, START_TIMEOUT, self.proc)
        self.launch(script, ready)
