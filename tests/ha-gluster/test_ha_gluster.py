#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The scale-out set-up of tests/ha (a real HAProxy in front of two
poplard nodes) on a real distributed filesystem: one GlusterFS replica-2
volume, mounted three times, node a on the first mount, node b on the
second, deliveries through the third.  What one node writes reaches the
other only through GlusterFS and the FUSE caches of both mounts, as it
would between two machines.

One volume serves the whole module (starting glusterd and a volume takes
about 25 s); each test has its own directory on it.  Run as root (glusterd,
mount); skipped with the reason when GlusterFS, FUSE or HAProxy is
missing."""

import hashlib
import os
import poplib
import random
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "ha"))
import poplartest  # noqa: E402
from poplartest import crlf  # noqa: E402
import haproxytest  # noqa: E402
import test_ha  # noqa: E402
import gluster  # noqa: E402

HOST = "127.0.0.1"
PASSWORD = test_ha.PASSWORD
VOLUME = None


# The FUSE kernel caches names and attributes for 1 s by default: a lock
# file removed through one mount would still be seen through another
# (the mailbox [IN-USE] for up to a second after QUIT), and a size or
# mtime read through it could be a second old.  docs/scaling.md.
MOUNT_OPTIONS = ["entry-timeout=0", "attribute-timeout=0"]
# The same for GlusterFS's own client-side caches: with them, a node read
# the owner of a lock the other node had removed after QUIT.
VOLUME_OPTIONS = {
    "performance.stat-prefetch": "off",
    "performance.quick-read": "off",
    "performance.open-behind": "off",
    "performance.io-cache": "off",
    "performance.read-ahead": "off",
    "performance.readdir-ahead": "off",
}


def setUpModule():
    global VOLUME
    VOLUME = gluster.Volume(mounts=3, options=VOLUME_OPTIONS,
                           mount_options=MOUNT_OPTIONS)
    VOLUME.start()
    sys.stderr.write("\nGlusterFS volume %s: bricks %s, mounts %s\n" % (
        VOLUME.name, VOLUME.bricks, VOLUME.mounts))


def tearDownModule():
    if VOLUME is not None:
        VOLUME.stop(keep=bool(os.environ.get("POPLAR_KEEP_TMP")))


def _stop_on_signal(signum, frame):
    # meson's timeout sends SIGTERM: leave no mount or glusterd behind.
    if VOLUME is not None:
        VOLUME.stop()
    os._exit(128 + signum)


def on_mount(path, index):
    """@path (on mount 0) as seen through mount @index."""
    rel = os.path.relpath(path, VOLUME.mounts[0])
    return os.path.join(VOLUME.mounts[index], rel)


def deliver(maildir_path, content):
    """Delivers @content into the Maildir at @maildir_path as an MTA does:
    written whole into tmp/, then renamed into new/.  Returns the unique
    name."""
    unique = "%d.M%dP%d_%s.gluster" % (
        time.time(), random.getrandbits(40), os.getpid(),
        hashlib.sha1(content).hexdigest()[:8])
    tmp = os.path.join(maildir_path, "tmp", unique)
    with open(tmp, "wb") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, os.path.join(maildir_path, "new", unique))
    return unique


class GlusterCluster(test_ha.HATest):
    """HATest with node a's world (passwd file, Maildirs) on mount 0 of
    the volume, read by node a through mount 0 and by node b through
    mount 1.  Every test of tests/ha runs again in this set-up."""

    def setUp(self):
        self.haproxy_log = ""
        self.executable = haproxytest.find_haproxy()
        worlds = os.path.join(VOLUME.mounts[0], "worlds")
        os.makedirs(worlds, exist_ok=True)
        self.a = poplartest.Server(tmp_root=worlds)
        self._servers.append(self.a)
        self.addCleanup(self._cleanup_server, self.a)
        self.b = self.server(start=False)
        self.a.node, self.b.node = "a", "b"
        # Audit files stay local: they are per node.
        self.localdir = tempfile.mkdtemp(prefix="poplartest-gluster-audit-")
        self.addCleanup(shutil.rmtree, self.localdir, True)
        self.messages = {}
        self.connected_at = {}
        self.lock_timeout = None

    def mount_index(self, node):
        return 0 if node is self.a else 1

    def world(self, node):
        """Node a's world directory through @node's own mount."""
        return on_mount(self.a.dir, self.mount_index(node))

    def node_config(self, node, port=0, lock_timeout=None):
        cfg = super().node_config(node, port, lock_timeout)
        root = self.world(node)
        cfg["server"]["mail"] = "maildir:%s/home/%%n/Maildir" % root
        cfg["sections"]["auth-passwd-file"]["path"] = \
            os.path.join(root, "passwd")
        node.audit_path = os.path.join(self.localdir,
                                       "audit-%s.jsonl" % node.node)
        cfg["sections"]["hook-audit"]["file"] = node.audit_path
        return cfg

    def maildir_via(self, user, index):
        """@user's Maildir through mount @index."""
        return on_mount(self.a.users[user].maildir.path, index)


class HAOnGlusterTest(GlusterCluster):
    """The cases of tests/ha (logins through HAProxy on both nodes, the
    client address from the PROXY header, [IN-USE] across nodes, the same
    UIDLs on both nodes, a node stopped and killed mid-run, a crash while
    taking the lock, quiet health checks), on the GlusterFS volume."""


def load_tests(loader, tests, pattern):
    # GlusterCluster is the base of the cases, not a case of its own.
    suite = unittest.TestSuite()
    for case in (HAOnGlusterTest,):
        suite.addTests(loader.loadTestsFromTestCase(case))
    return suite


if __name__ == "__main__":
    why = gluster.why_unavailable()
    if why is None and not haproxytest.find_haproxy():
        why = "haproxy is not installed (Debian package haproxy)"
    if why:
        sys.stderr.write("GlusterFS tests skipped: %s\n" % why)
        sys.exit(77)
    signal.signal(signal.SIGTERM, _stop_on_signal)
    poplartest.main()
