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

import fcntl
import hashlib
import os
import poplib
import random
import shutil
import signal
import socket
import subprocess
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


# The tested set-up of docs/scaling.md.  GlusterFS's metadata cache
# (md-cache, "stat-prefetch") is what must be off: with it, a node read
# the owner of a lock the other node had removed at QUIT, and the mailbox
# stayed [IN-USE], even with the FUSE timeouts below at 0.  With it off,
# the cases pass with the default mount options too; the FUSE name and
# attribute caches and the caches of file contents and opens are off as
# well so that nothing one node reads can be older than the other's
# write.
MOUNT_OPTIONS = ["entry-timeout=0", "attribute-timeout=0"]
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


def unique_message(user, n, size=0):
    body = ("line %d of %s\n" % (n, user)) * max(1, size // 20)
    return ("From: mta@example.org\nTo: %s@example.org\n"
            "Subject: delivery %d for %s\n\n%s.dotted line\nend\n" % (
                user, n, user, body)).encode()


class Fetcher:
    """A POP3 client through @port in a loop: UIDL, LIST, RETR of every
    message, then (when @delete) DELE of each and QUIT.  What a session
    retrieved counts only when its QUIT succeeded: that is what a real
    client would keep."""

    def __init__(self, port, user, delete):
        self.port, self.user, self.delete = port, user, delete
        self.committed = []      # (uidl, content) of deleted messages
        self.uidls = {}          # uidl -> sha256 of the content
        self.errors = []         # faults of the server (not [IN-USE])
        self.failed = []         # sessions that ended without +OK QUIT
        self.sessions = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def session(self):
        p = poplib.POP3(HOST, self.port, timeout=test_ha.CLIENT_TIMEOUT)
        try:
            p.user(self.user)
            try:
                p.pass_(PASSWORD)
            except poplib.error_proto as e:
                if b"[IN-USE]" in e.args[0]:
                    return False
                raise
            _, uidl_lines, _ = p.uidl()
            _, list_lines, _ = p.list()
            uidls = dict(l.decode().split() for l in uidl_lines)
            sizes = dict(l.decode().split() for l in list_lines)
            got = []
            for n in sorted(uidls, key=int):
                _, lines, octets = p.retr(int(n))
                content = b"".join(l + b"\r\n" for l in lines)
                if int(sizes[n]) != octets or octets != len(content):
                    self.errors.append("%s message %s: LIST %s, RETR %d "
                                       "octets" % (self.user, n, sizes[n],
                                                   octets))
                digest = hashlib.sha256(content).hexdigest()
                seen = self.uidls.setdefault(uidls[n], digest)
                if seen != digest:
                    self.errors.append("%s: UIDL %s changed content" % (
                        self.user, uidls[n]))
                got.append((uidls[n], content))
                if self.delete:
                    p.dele(int(n))
            p.quit()
            self.sessions += 1
            if self.delete:
                self.committed += got
            return True
        finally:
            p.close()

    def loop(self):
        while not self.stop.is_set():
            try:
                self.session()
            except (OSError, EOFError, poplib.error_proto) as e:
                self.failed.append("%s: %s" % (type(e).__name__, e))
            time.sleep(0.01)


class ConcurrencyOnGlusterTest(GlusterCluster):
    """Many clients through HAProxy while an MTA delivers through the
    third mount."""

    def test_deliveries_and_fetches_lose_and_duplicate_nothing(self):
        fetchers_users = ["fetch%d" % i for i in range(6)]
        peek_users = ["peek%d" % i for i in range(2)]
        for u in fetchers_users + peek_users:
            self.add_user(u, 2)
        self.start_cluster()
        port = self.port("balanced")
        clients = []
        for u in fetchers_users:
            # Two clients per mailbox: one of them gets [IN-USE] now and
            # then, across nodes.
            clients += [Fetcher(port, u, True), Fetcher(port, u, True)]
        for u in peek_users:
            clients.append(Fetcher(port, u, False))
        delivered = {u: list(self.messages[u])
                     for u in fetchers_users + peek_users}
        for c in clients:
            c.thread.start()
        start = time.monotonic()
        n = 0
        while time.monotonic() - start < 12:
            n += 1
            for u in fetchers_users + peek_users:
                m = unique_message(u, n, size=random.choice((0, 3000,
                                                             40000)))
                deliver(self.maildir_via(u, 2), m)
                delivered[u].append(m)
            time.sleep(0.05)
        # Let the fetchers empty the mailboxes.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(
                os.listdir(os.path.join(self.maildir_via(u, 2), sub))
                for u in fetchers_users for sub in ("new", "cur")):
            time.sleep(0.2)
        for c in clients:
            c.stop.set()
        for c in clients:
            c.thread.join(test_ha.CLIENT_TIMEOUT + 5)
        errors = [e for c in clients for e in c.errors]
        failed = [e for c in clients for e in c.failed]
        self.assertEqual(errors, [])
        self.assertEqual(failed, [], "sessions failed")
        lost = duplicated = 0
        for u in fetchers_users:
            got = [content for c in clients if c.user == u
                   for _, content in c.committed]
            want = [crlf(m) for m in delivered[u]]
            lost += len(set(want) - set(got))
            duplicated += len(got) - len(set(got))
            self.assertEqual(sorted(got), sorted(want), "%s: lost %s" % (
                u, len(set(want) - set(got))))
        for u in peek_users:
            # Read again and again, never deleted: every message there,
            # each under one UIDL all along (Fetcher.errors).
            peeker = [c for c in clients if c.user == u][0]
            self.assertGreater(peeker.sessions, 1)
            self.assertGreater(len(peeker.uidls), len(self.messages[u]))
            self.assertEqual(sorted(self.a.users[u].maildir.contents()),
                             sorted(delivered[u]))
        sessions = sum(c.sessions for c in clients)
        sys.stderr.write(
            "\n  %d messages delivered through the third mount in 12 s, %d "
            "sessions through HAProxy: lost %d, duplicated %d\n" % (
                sum(len(v) for v in delivered.values()), sessions, lost,
                duplicated))
        self.assertEqual((lost, duplicated), (0, 0))


class NodeFailureOnGlusterTest(GlusterCluster):
    """poplard killed with SIGKILL (master and workers) in the middle of a
    RETR and of a QUIT; node b takes the mailbox over."""

    def take_over(self, user, timeout=10):
        """Logs in to @user through node b until it is not [IN-USE];
        returns (connection, seconds waited)."""
        start = time.monotonic()
        while True:
            try:
                p, _ = self.login("via_b", user)
                return p, time.monotonic() - start
            except poplib.error_proto as e:
                if b"[IN-USE]" not in e.args[0] or \
                        time.monotonic() - start > timeout:
                    raise
            time.sleep(0.05)

    def test_killed_mid_retr(self):
        big = unique_message("alice", 99, size=8 * 1024 * 1024)
        user = self.add_user("alice", 3)
        user.maildir.add(big)
        self.messages["alice"].append(big)
        self.start_cluster(lock_timeout="%ds" % test_ha.LOCK_TIMEOUT)
        c = self.conn("via_a")
        c.login("alice", PASSWORD)
        self.assertOk(c.cmd("DELE 1"))
        c.send("RETR 4\r\n")
        c.sock.recv(65536)  # the transfer has begun
        self.a.crash()
        self.assertTrue(c.wait_closed(10))
        c.close()
        p, waited = self.take_over("alice")
        self.retr_all(p, "alice")
        self.assertOk(p.quit())
        self.assertEqual(sorted(user.maildir.contents()),
                         sorted(self.messages["alice"]))
        sys.stderr.write("\n  killed mid-RETR: mailbox served by node b "
                         "after %.2fs\n" % waited)
        self.assertLess(waited, test_ha.LOCK_TIMEOUT + 1)

    def test_killed_mid_quit(self):
        user = self.add_user("alice", 60)
        self.start_cluster(lock_timeout="%ds" % test_ha.LOCK_TIMEOUT)
        # The first login moves 60 messages from new/ to cur/ through
        # FUSE: more than a second.
        c = poplartest.Conn(self.port("via_a"), timeout=60)
        c.login("alice", PASSWORD)
        _, uidls = c.multi("UIDL")
        uidls = dict(l.split() for l in uidls.decode().splitlines())
        marked = set(range(1, 31))
        for n in sorted(marked):
            self.assertOk(c.cmd("DELE %d" % n))
        cur = os.path.join(self.maildir_via("alice", 0), "cur")
        c.send("QUIT\r\n")
        # Killed as soon as the first unlink of the UPDATE state shows.
        deadline = time.monotonic() + 10
        while len(os.listdir(cur)) == 60 and time.monotonic() < deadline:
            pass
        self.a.crash()
        c.close()
        p, waited = self.take_over("alice")
        _, lines, _ = p.uidl()
        left = dict(l.decode().split() for l in lines)
        left_uidls = set(left.values())
        kept = {uidls[str(n)] for n in range(31, 61)}
        # Nothing that was not marked is gone; what the crash left of
        # the marked ones is still whole.
        self.assertLessEqual(kept, left_uidls)
        self.assertLessEqual(left_uidls, set(uidls.values()))
        gone_at_crash = 30 - len(left_uidls - kept)
        self.assertGreater(gone_at_crash, 0, "killed before the UPDATE")
        # The client deletes what is left of its marked messages again:
        # afterwards exactly the unmarked ones remain.
        for n, uidl in left.items():
            _, lines, _ = p.retr(int(n))
            i = int([k for k, v in uidls.items() if v == uidl][0])
            self.assertEqual(b"".join(l + b"\r\n" for l in lines),
                             crlf(self.messages["alice"][i - 1]))
            if uidl not in kept:
                p.dele(int(n))
        self.assertOk(p.quit())
        self.assertEqual(sorted(user.maildir.contents()),
                         sorted(self.messages["alice"][30:]))
        sys.stderr.write("\n  killed mid-QUIT: %d of 30 marked messages "
                         "deleted before the kill, none of the others; "
                         "mailbox served by node b after %.2fs\n" % (
                             gone_at_crash, waited))
        self.assertLess(waited, test_ha.LOCK_TIMEOUT + 1)


class BrickFailureOnGlusterTest(GlusterCluster):
    """One brick's process killed while sessions run on both nodes."""

    def test_brick_killed_during_sessions(self):
        loaders = ["load%d" % i for i in range(4)]
        for u in loaders:
            self.add_user(u, 4)
        fetchers = ["fetch%d" % i for i in range(2)]
        for u in fetchers:
            self.add_user(u, 2)
        self.start_cluster()
        load = test_ha.Load(self, loaders, "balanced")
        port = self.port("balanced")
        clients = [Fetcher(port, u, True) for u in fetchers]
        delivered = {u: list(self.messages[u]) for u in fetchers}
        load.start()
        for c in clients:
            c.thread.start()
        load.wait_for(10, timeout=20)

        def deliver_some(n0, count):
            for n in range(n0, n0 + count):
                for u in fetchers:
                    m = unique_message(u, n, 2000)
                    deliver(self.maildir_via(u, 2), m)
                    delivered[u].append(m)
                time.sleep(0.05)
        deliver_some(1, 20)
        killed_at = time.monotonic()
        VOLUME.kill_brick(0)
        deliver_some(100, 40)
        t = time.monotonic()
        VOLUME.restart_bricks()
        restarted = time.monotonic() - t
        healed = VOLUME.heal()
        deliver_some(200, 20)
        time.sleep(1)
        load.stop()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(
                os.listdir(os.path.join(self.maildir_via(u, 2), sub))
                for u in fetchers for sub in ("new", "cur")):
            time.sleep(0.2)
        for c in clients:
            c.stop.set()
        for c in clients:
            c.thread.join(test_ha.CLIENT_TIMEOUT + 5)
        self.assertEqual(load.wrong, [])
        bad = [r for r in load.results
               if not r.ok and "[SYS/TEMP]" not in (r.error or "")]
        self.assertEqual(bad, [], "sessions failed otherwise than "
                         "[SYS/TEMP]")
        temp = [r for r in load.results if not r.ok]
        self.assertEqual([e for c in clients for e in c.errors], [])
        failed = [e for c in clients for e in c.failed
                  if "[SYS/TEMP]" not in e]
        self.assertEqual(failed, [])
        for u in loaders:
            self.assertEqual(sorted(self.a.users[u].maildir.contents()),
                             sorted(self.messages[u]), "%s lost mail" % u)
        for u in fetchers:
            got = [content for c in clients if c.user == u
                   for _, content in c.committed]
            self.assertEqual(sorted(got),
                             sorted(crlf(m) for m in delivered[u]))
        # Both bricks hold the same files once healed.
        VOLUME.heal()
        rel = os.path.relpath(self.a.dir, VOLUME.mounts[0])
        tree0 = VOLUME.brick_tree(0, rel)
        tree1 = VOLUME.brick_tree(1, rel)
        self.assertEqual(tree0, tree1)
        sys.stderr.write(
            "\n  brick 1 killed under load: %d sessions, %d failed with "
            "[SYS/TEMP], 0 otherwise; brick back after %.1fs, healed in "
            "%.1fs; %d files equal on both bricks\n" % (
                len(load.results) + sum(c.sessions for c in clients),
                len(temp), restarted, healed, len(tree0)))


MBOX_FROM = b"From mta@example.org  Mon Dec  7 16:00:00 2026\n"


def mbox_append(path, content, timeout=30):
    """Appends @content to the mbox at @path as a Debian MTA does: the
    dotlock (a unique file hard-linked to NAME.lock, ours when it has two
    links), then an fcntl lock on the mbox, a From_ line, the message and
    the separating empty line."""
    lock = path + ".lock"
    mine = "%s.%s.%d.%d" % (lock, socket.gethostname(), os.getpid(),
                            threading.get_ident())
    with open(mine, "w") as f:
        f.write("%d\n" % os.getpid())
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                os.link(mine, lock)
            except FileExistsError:
                pass
            if os.stat(mine).st_nlink == 2:
                break
            if time.monotonic() > deadline:
                raise AssertionError("the dotlock of %s stayed taken" % path)
            time.sleep(0.01)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                while True:
                    try:
                        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except OSError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.01)
                os.write(fd, MBOX_FROM + content + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
        finally:
            os.unlink(lock)
    finally:
        os.unlink(mine)


class MboxOnGlusterTest(GlusterCluster):
    """store-mbox on the volume: mbox files of node a's world, read by
    both nodes through their mounts, appended to through the third with
    the MTA's locks (dotlock and fcntl, store-mbox's default).  The session
    lock (an fcntl lock on .NAME.poplar-lock) must exclude the other
    node."""

    LOCKING = "fcntl; dotlock"

    def add_user(self, name, count=3):
        msgs = [test_ha.message(name, i + 1) for i in range(count)]
        self.a.add_user(name, PASSWORD, [])
        os.makedirs(os.path.join(self.a.dir, "mail"), exist_ok=True)
        with open(self.mbox_via(name, 0), "wb") as f:
            for m in msgs:
                f.write(MBOX_FROM + m + b"\n")
        self.messages[name] = msgs
        return self.a.users[name]

    def mbox_via(self, user, index):
        return on_mount(os.path.join(self.a.dir, "mail", user), index)

    def node_config(self, node, port=0, lock_timeout=None):
        cfg = super().node_config(node, port, lock_timeout)
        cfg["load"] = ["auth-passwd-file", "store-mbox", "hook-audit"]
        cfg["server"]["mail"] = "mbox:%s/mail/%%n" % self.world(node)
        del cfg["sections"]["store-maildir"]
        cfg["sections"]["store-mbox"] = {"locking": self.LOCKING}
        return cfg

    def test_mailbox_open_on_one_node_is_in_use_on_the_other(self):
        self.add_user("alice")
        self.start_cluster()
        for holder, other in (("via_a", "via_b"), ("via_b", "via_a")):
            p, _ = self.login(holder, "alice")
            self.assertOk(p.dele(1))
            for frontend in (other, "balanced", "balanced"):
                q, _ = self.pop(frontend)
                q.user("alice")
                self.assertPopError(lambda: q.pass_(PASSWORD),
                                    code="IN-USE")
                q.close()
            p.rset()
            self.assertOk(p.quit())
            q, _ = self.login(other, "alice")
            self.assertEqual(q.stat()[0], 3)
            self.assertOk(q.quit())

    def test_both_nodes_give_the_same_uidls_and_sizes(self):
        self.add_user("alice")
        self.start_cluster()
        on_a = self.uidls("via_a", "alice")
        on_b = self.uidls("via_b", "alice")
        self.assertEqual(on_a, on_b)
        new = test_ha.message("alice", 4)
        self.messages["alice"].append(new)
        mbox_append(self.mbox_via("alice", 2), new)
        on_b2 = self.uidls("via_b", "alice")
        on_a2 = self.uidls("via_a", "alice")
        self.assertEqual(on_a2, on_b2)
        self.assertEqual(on_a2[0][:3], on_a[0])
        # A deletion on node b, then node a lists what is left.
        p, _ = self.login("via_b", "alice")
        self.assertOk(p.dele(2))
        self.assertOk(p.quit())
        del self.messages["alice"][1]
        p, _ = self.login("via_a", "alice")
        self.retr_all(p, "alice")
        _, sizes, _ = p.list()
        self.assertEqual([int(l.split()[1]) for l in sizes],
                         [len(crlf(m)) for m in self.messages["alice"]])
        self.assertOk(p.quit())

    def test_deliveries_and_fetches_lose_and_duplicate_nothing(self):
        users = ["fetch%d" % i for i in range(4)]
        for u in users:
            self.add_user(u, 2)
        self.start_cluster()
        port = self.port("balanced")
        clients = [Fetcher(port, u, True) for u in users for _ in (0, 1)]
        delivered = {u: list(self.messages[u]) for u in users}
        for c in clients:
            c.thread.start()
        start = time.monotonic()
        n = 0
        while time.monotonic() - start < 10:
            n += 1
            for u in users:
                m = unique_message(u, n, random.choice((0, 3000, 40000)))
                mbox_append(self.mbox_via(u, 2), m)
                delivered[u].append(m)
            time.sleep(0.05)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(
                os.path.getsize(self.mbox_via(u, 2)) for u in users):
            time.sleep(0.2)
        for c in clients:
            c.stop.set()
        for c in clients:
            c.thread.join(test_ha.CLIENT_TIMEOUT + 5)
        self.assertEqual([e for c in clients for e in c.errors], [])
        self.assertEqual([e for c in clients for e in c.failed], [])
        lost = duplicated = 0
        for u in users:
            got = [content for c in clients if c.user == u
                   for _, content in c.committed]
            want = [crlf(m) for m in delivered[u]]
            lost += len(set(want) - set(got))
            duplicated += len(got) - len(set(got))
            self.assertEqual(sorted(got), sorted(want))
        sys.stderr.write(
            "\n  mbox: %d messages appended through the third mount in 10 s "
            "(dotlock + fcntl), %d sessions through HAProxy: lost %d, "
            "duplicated %d\n" % (sum(len(v) for v in delivered.values()),
                                 sum(c.sessions for c in clients), lost,
                                 duplicated))

    def test_check_config_warns_about_flock_with_fcntl(self):
        self.add_user("alice")
        poplard = poplartest.POPLARD
        for locking, warned in (("dotlock; flock; fcntl", True),
                                ("fcntl; dotlock", False),
                                ("dotlock; flock", False)):
            for root, network in ((self.world(self.a), True),
                                  (self.localdir, False)):
                conf = os.path.join(self.localdir, "check.conf")
                with open(conf, "w") as f:
                    f.write(self.a.config_text(
                        server={"mail": "mbox:%s/mail/%%n" % root},
                        load=["auth-passwd-file", "store-mbox"],
                        sections={"store-mbox": {"locking": locking}}))
                out = subprocess.run([poplard, "--check-config", "-c", conf],
                                     capture_output=True, text=True,
                                     timeout=30)
                self.assertEqual(out.returncode, 0, out.stderr)
                said = "network filesystem (fuse)" in out.stderr
                self.assertEqual(said, warned and network,
                                 "%s on %s: %s" % (locking, root,
                                                   out.stderr))


class MaildirCachesOnGlusterTest(GlusterCluster):
    """The size cache (poplar-sizes) and the UIDL records (poplar-uidls,
    dovecot-uidlist with uidl-format set) written by one node and read by
    the other through its own mount."""

    def node_config(self, node, port=0, lock_timeout=None):
        cfg = super().node_config(node, port, lock_timeout)
        cfg["sections"]["store-maildir"]["uidl-format"] = "%08Xu%08Xv"
        return cfg

    def listing(self, frontend, user, contents):
        """{uidl: (size, content)} through @frontend; checks every LIST
        size against the octets RETR sends and @contents (what must be
        there, in any order)."""
        p, _ = self.login(frontend, user)
        try:
            _, uidl_lines, _ = p.uidl()
            _, list_lines, _ = p.list()
            sizes = dict(l.decode().split() for l in list_lines)
            out = {}
            for l in uidl_lines:
                n, uidl = l.decode().split()
                _, lines, octets = p.retr(int(n))
                content = b"".join(x + b"\r\n" for x in lines)
                self.assertEqual(int(sizes[n]), octets,
                                 "%s: stale size of message %s" % (
                                     frontend, n))
                out[uidl] = (octets, content)
            self.assertOk(p.quit())
        except Exception:
            p.close()
            raise
        self.assertEqual(sorted(c for _, c in out.values()),
                         sorted(crlf(m) for m in contents))
        return out

    def test_caches_written_by_one_node_are_read_right_by_the_other(self):
        user = self.add_user("alice", 4)
        self.start_cluster()
        msgs = list(self.messages["alice"])
        on_a = self.listing("via_a", "alice", msgs)
        md = self.maildir_via("alice", 1)
        for name in ("poplar-sizes", "dovecot-uidlist", "poplar-uidls"):
            self.assertTrue(os.path.exists(os.path.join(md, name)),
                            "node a wrote no %s" % name)
        self.assertEqual(self.listing("via_b", "alice", msgs), on_a)
        # Node b deletes the second message; a message of another size
        # arrives; node a must not take a size from its own earlier view.
        p, _ = self.login("via_b", "alice")
        self.assertOk(p.dele(2))
        self.assertOk(p.quit())
        del msgs[1]
        big = unique_message("alice", 5, 50000)
        deliver(self.maildir_via("alice", 2), big)
        msgs.append(big)
        on_a2 = self.listing("via_a", "alice", msgs)
        on_b2 = self.listing("via_b", "alice", msgs)
        self.assertEqual(on_a2, on_b2)
        # The UIDLs a client saw before are those it sees now.
        for uidl, entry in on_a2.items():
            if uidl in on_a:
                self.assertEqual(on_a[uidl], entry)
        new = [u for u in on_a2 if u not in on_a]
        self.assertEqual([on_a2[u][1] for u in new], [crlf(big)])
        # Node a deletes the first; node b lists the rest right.
        p, _ = self.login("via_a", "alice")
        self.assertOk(p.dele(1))
        self.assertOk(p.quit())
        del msgs[0]
        on_b3 = self.listing("via_b", "alice", msgs)
        self.assertEqual({u: on_a2[u] for u in on_b3}, on_b3)
        self.assertEqual(sorted(user.maildir.contents()), sorted(msgs))


def load_tests(loader, tests, pattern):
    # GlusterCluster is the base of the cases, not a case of its own.
    # The cases of tests/ha run once, in HAOnGlusterTest; the other
    # classes run only their own.
    suite = unittest.TestSuite()
    suite.addTests(loader.loadTestsFromTestCase(HAOnGlusterTest))
    for case in (ConcurrencyOnGlusterTest, NodeFailureOnGlusterTest,
                 BrickFailureOnGlusterTest, MaildirCachesOnGlusterTest,
                 MboxOnGlusterTest):
        suite.addTests(case(name) for name in sorted(vars(case))
                       if name.startswith("test"))
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
