# SPDX-License-Identifier: MIT
"""A slapd of the test's own: its slapd.conf, an mdb database and an LDIF
of users in a temporary directory, listening on ephemeral ports of
127.0.0.1 only (ldap:// with StartTLS, and ldaps://).  Any slapd the
system runs is left alone.

    d = Slapd(tmpdir)
    d.add_user("alice", "alice-pw", mailLocation="maildir:/srv/alice")
    d.start()
    ... d.uri, d.ldaps_uri, d.ca_file ...
    d.restart()    # same ports, same data
    d.stop()

The server's stats log (every BIND, SRCH, RESULT) is in d.log_path.
"""

import base64
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SLAPADD = shutil.which("slapadd") or "/usr/sbin/slapadd"
CERTTOOL = shutil.which("certtool") or "/usr/bin/certtool"
SCHEMA_DIR = "/etc/ldap/schema"
MODULE_DIRS = ["/usr/lib/ldap", "/usr/lib/x86_64-linux-gnu/ldap",
               "/usr/lib/openldap", "/usr/libexec/openldap"]

SUFFIX = "dc=example,dc=org"
PEOPLE = "ou=people," + SUFFIX
ROOT_DN = "cn=admin," + SUFFIX
ROOT_PW = "root-secret"
SERVICE_DN = "cn=poplar,ou=services," + SUFFIX
SERVICE_PW = "service-secret"

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0

# Attributes for mail users, in OpenLDAP's experimental OID arc.
SCHEMA = """
attributetype ( 1.3.6.1.4.1.4203.666.11.1.1 NAME 'mailLocation'
    DESC 'Poplar test: the mail location of a user'
    EQUALITY caseExactMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.4203.666.11.1.2 NAME 'mailQuota'
    DESC 'Poplar test: a quota handed on as a field'
    EQUALITY caseExactMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.11.2.1 NAME 'poplarMailUser'
    SUP top AUXILIARY MAY ( mailLocation $ mailQuota ) )
"""


def ssha(password, salt=None):
    """An RFC 2307 {SSHA} userPassword value."""
    salt = salt or os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def module_dir():
    for d in MODULE_DIRS:
        if os.path.exists(os.path.join(d, "back_mdb.so")) or \
                os.path.exists(os.path.join(d, "back_mdb.la")):
            return d
    return None


def available():
    """None when slapd can run here, else why not."""
    for tool in (SLAPD, SLAPADD, CERTTOOL):
        if not os.access(tool, os.X_OK):
            return "%s is missing" % tool
    if not os.path.isdir(SCHEMA_DIR):
        return "%s is missing" % SCHEMA_DIR
    return None


class SlapdError(Exception):
    pass


class Slapd:

    def __init__(self, root):
        self.dir = os.path.join(root, "slapd")
        self.db = os.path.join(self.dir, "db")
        os.makedirs(self.db)
        self.conf = os.path.join(self.dir, "slapd.conf")
        self.ldif = os.path.join(self.dir, "users.ldif")
        self.log_path = os.path.join(self.dir, "slapd.log")
        self.pid_path = os.path.join(self.dir, "slapd.pid")
        self.port = free_port()
        self.ldaps_port = free_port()
        self.proc = None
        self._log = None
        self.entries = []
        self._loaded = False
        self._started = False
        self._make_certificates()

    @property
    def uri(self):
        return "ldap://127.0.0.1:%d/" % self.port

    @property
    def ldaps_uri(self):
        return "ldaps://127.0.0.1:%d/" % self.ldaps_port

    # -- TLS

    def _certtool(self, *args):
        subprocess.run([CERTTOOL] + list(args), check=True,
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=60)

    def _make_ca(self, name):
        key = os.path.join(self.dir, name + "-key.pem")
        cert = os.path.join(self.dir, name + ".pem")
        tmpl = os.path.join(self.dir, name + ".tmpl")
        with open(tmpl, "w") as f:
            f.write('cn = "Poplar test %s"\nca\ncert_signing_key\n'
                    'expiration_days = 2\n' % name)
        self._certtool("--generate-privkey", "--key-type=ecdsa",
                       "--outfile", key)
        self._certtool("--generate-self-signed", "--load-privkey", key,
                       "--template", tmpl, "--outfile", cert)
        return key, cert

    def _make_certificates(self):
        """A CA, a server certificate for 127.0.0.1 signed by it, and an
        unrelated CA (for the "untrusted server" tests)."""
        ca_key, self.ca_file = self._make_ca("ca")
        _, self.other_ca_file = self._make_ca("other-ca")
        self.key_file = os.path.join(self.dir, "server-key.pem")
        self.cert_file = os.path.join(self.dir, "server.pem")
        tmpl = os.path.join(self.dir, "server.tmpl")
        with open(tmpl, "w") as f:
            f.write('cn = "localhost"\ndns_name = "localhost"\n'
                    'ip_address = "127.0.0.1"\ntls_www_server\n'
                    'expiration_days = 2\n')
        self._certtool("--generate-privkey", "--key-type=ecdsa",
                       "--outfile", self.key_file)
        self._certtool("--generate-certificate", "--load-privkey",
                       self.key_file, "--load-ca-certificate", self.ca_file,
                       "--load-ca-privkey", ca_key, "--template", tmpl,
                       "--outfile", self.cert_file)

    # -- the data

    def add_user(self, uid, password, ou="people", **attrs):
        """An inetOrgPerson + posixAccount + poplarMailUser entry.  @attrs
        adds or overrides attributes (a list gives several values)."""
        entry = {
            "objectClass": ["inetOrgPerson", "posixAccount",
                            "poplarMailUser"],
            "uid": uid,
            "cn": uid,
            "sn": uid,
            "uidNumber": str(5000 + len(self.entries)),
            "gidNumber": "5000",
            "homeDirectory": "/home/" + uid,
        }
        if password is not None:
            entry["userPassword"] = ssha(password)
        entry.update(attrs)
        self.entries.append(("uid=%s,ou=%s,%s" % (uid, ou, SUFFIX), entry))

    def _ldif(self):
        base = [
            (SUFFIX, {"objectClass": ["dcObject", "organization"],
                      "o": "Example", "dc": "example"}),
            (PEOPLE, {"objectClass": "organizationalUnit", "ou": "people"}),
            ("ou=staff," + SUFFIX, {"objectClass": "organizationalUnit",
                                    "ou": "staff"}),
            ("ou=services," + SUFFIX, {"objectClass": "organizationalUnit",
                                       "ou": "services"}),
            (SERVICE_DN, {"objectClass": ["organizationalRole",
                                          "simpleSecurityObject"],
                          "cn": "poplar",
                          "userPassword": ssha(SERVICE_PW)}),
        ]
        out = []
        for dn, attrs in base + self.entries:
            out.append("dn: " + dn)
            for name, value in attrs.items():
                for v in value if isinstance(value, list) else [value]:
                    if any(ord(c) < 0x20 or ord(c) > 0x7e for c in v) or \
                            v.startswith((" ", ":", "<")):
                        out.append("%s:: %s" % (
                            name, base64.b64encode(v.encode()).decode()))
                    else:
                        out.append("%s: %s" % (name, v))
            out.append("")
        return "\n".join(out) + "\n"

    def _write_conf(self):
        mods = module_dir()
        lines = ["include %s/%s.schema" % (SCHEMA_DIR, s)
                 for s in ("core", "cosine", "nis", "inetorgperson")]
        lines.append(SCHEMA)
        lines += [
            "pidfile %s" % self.pid_path,
            "TLSCACertificateFile %s" % self.ca_file,
            "TLSCertificateFile %s" % self.cert_file,
            "TLSCertificateKeyFile %s" % self.key_file,
            # A DN with an empty password would be an anonymous bind that
            # succeeds: allowed here on purpose, so that the tests show the
            # plugin refusing empty passwords by itself.
            "allow bind_anon_cred",
            "sizelimit 500",
        ]
        if mods:
            lines += ["modulepath %s" % mods, "moduleload back_mdb"]
        lines += [
            "database mdb",
            "maxsize 16777216",
            'suffix "%s"' % SUFFIX,
            'rootdn "%s"' % ROOT_DN,
            "rootpw %s" % ROOT_PW,
            "directory %s" % self.db,
            # the service account reads it for auth-ldap's
            # password-attribute mode
            'access to attrs=userPassword by self read '
            'by dn.exact="%s" read by anonymous auth by * none' % SERVICE_DN,
            "access to * by * read",
        ]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    # -- the process

    def start(self):
        if not self._loaded:
            self._write_conf()
            with open(self.ldif, "w") as f:
                f.write(self._ldif())
            r = subprocess.run([SLAPADD, "-q", "-f", self.conf, "-l",
                                self.ldif], stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=60)
            if r.returncode != 0:
                raise SlapdError("slapadd failed:\n%s" %
                                 r.stderr.decode(errors="replace"))
            self._loaded = True
        # The ports were free when chosen, but another test may have taken
        # one since: on the first start, try new ones.
        for attempt in range(3):
            self._log = open(self.log_path, "ab")
            # -d stats: runs in the foreground, logging every operation.
            self.proc = subprocess.Popen(
                [SLAPD, "-d", "stats", "-f", self.conf, "-h",
                 "%s %s" % (self.uri, self.ldaps_uri)],
                stdin=subprocess.DEVNULL, stdout=self._log,
                stderr=subprocess.STDOUT)
            try:
                self._wait_listening()
                self._started = True
                return
            except SlapdError:
                if self._started or attempt == 2:
                    raise
                self.port = free_port()
                self.ldaps_port = free_port()

    def _wait_listening(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.stop()
                raise SlapdError("slapd exited with %d:\n%s" % (
                    rc, self.log_tail()))
            try:
                with socket.create_connection(("127.0.0.1", self.port),
                                              timeout=1):
                    with socket.create_connection(
                            ("127.0.0.1", self.ldaps_port), timeout=1):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise SlapdError("slapd did not listen within %.0fs:\n%s" % (
            START_TIMEOUT, self.log_tail()))

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None

    def restart(self):
        self.stop()
        self.start()

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "\n".join("  | " + l for l in self.log_text().splitlines()[-n:])
