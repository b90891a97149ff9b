#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Scale-out: a real HAProxy (mode tcp, send-proxy-v2, health checks) in
front of two poplard nodes that share one mail root and one passwd file,
each with proxy-protocol = yes and hook-audit writing its own JSON Lines
file.

HAProxy has three frontends: "balanced" (round robin over both nodes, with
the health check of docs/scaling.md: a PROXY header, "+OK" expected, QUIT
sent) and "via_a", "via_b", each pinned to one node (a bare connect
check, no PROXY header; node b's headers carry TLVs too), so that a
test can reach the node it means to.

The client's own source port is what proves the PROXY header was used:
HAProxy puts it in the header, and without the header a node would see
HAProxy's outgoing port instead."""

import datetime
import json
import os
import poplib
import re
import shutil
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import poplartest  # noqa: E402
from poplartest import crlf  # noqa: E402
import haproxytest  # noqa: E402

HOST = "127.0.0.1"
LOAD = ["auth-passwd-file", "store-maildir", "hook-audit"]
PASSWORD = "Sekr1t-ha"
CLIENT_TIMEOUT = 10
# Short enough that a dead node leaves the pool within a fraction of a
# second; one failed check takes a node out, one good check puts it back.
CHECK = "inter 200ms fall 1 rise 1"
# store-maildir's shortest lock-timeout, in seconds.
LOCK_TIMEOUT = 2


def message(user, n):
    return ("From: sender@example.org\nTo: %s@example.org\n"
            "Subject: message %d for %s\n\nbody %d of %s\n.a line with a dot\n"
            "last line\n" % (user, n, user, n, user)).encode()


def wall_time(ts):
    """Seconds since the epoch of an audit timestamp."""
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def dead_takers_file(name):
    """True for poplar-lock.new.BOOT.PID.RANDOM of a process that is gone."""
    parts = name.split(".")
    if not name.startswith("poplar-lock.new.") or len(parts) < 5:
        return False
    try:
        pid = int(parts[-2])
    except ValueError:
        return False
    return not os.path.exists("/proc/%d" % pid)


def unique_part(path):
    return os.path.basename(path).split(":", 1)[0]


class HATest(poplartest.PoplarTestCase):

    def run(self, result=None):
        # PoplarTestCase prints the nodes' logs on failure; HAProxy's
        # follows.
        self.haproxy = None
        before = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > before \
                and getattr(self, "haproxy_log", ""):
            sys.stderr.write("\n--- haproxy log ---\n%s\n" % self.haproxy_log)
        return out

    def setUp(self):
        self.haproxy_log = ""
        self.executable = haproxytest.find_haproxy()
        # Node a's temporary world holds the users, the passwd file and the
        # Maildirs; node b has only its own configuration and reads a's.
        self.a = self.server(start=False)
        self.b = self.server(start=False)
        self.a.node, self.b.node = "a", "b"
        self.messages = {}
        # Wall-clock time each client connected, by source port: source
        # ports come back in a long run, audit events are told apart by time.
        self.connected_at = {}

    # -- the cluster

    def add_user(self, name, count=3):
        msgs = [message(name, i + 1) for i in range(count)]
        user = self.a.add_user(name, PASSWORD, msgs)
        self.messages[name] = msgs
        return user

    def node_config(self, node, port=0, lock_timeout=None):
        node.audit_path = os.path.join(node.dir, "audit-%s.jsonl" % node.node)
        store = {"lock-timeout": lock_timeout} if lock_timeout else {}
        return {
            "load": LOAD,
            "server": {
                "listen": "%s:%d" % (HOST, port),
                "proxy-protocol": "yes",
                "trusted-proxies": "127.0.0.0/8",
                "workers": "2",
                "log-level": "info",
            },
            "sections": {
                "auth-passwd-file": {"path": self.a.passwd},
                "hook-audit": {"sinks": "file", "file": node.audit_path},
                "store-maildir": store,
            },
        }

    def start_node(self, node, port=0, env=None):
        """Starts @node with the variables of @env added to its
        environment."""
        saved = {k: os.environ.get(k) for k in env or {}}
        os.environ.update(env or {})
        try:
            return node.start(**self.node_config(node, port,
                                                 self.lock_timeout))
        finally:
            for k, v in saved.items():
                if v is None:
                    del os.environ[k]
                else:
                    os.environ[k] = v

    def start_cluster(self, lock_timeout=None, env_a=None):
        self.lock_timeout = lock_timeout
        self.start_node(self.a, env=env_a)
        self.start_node(self.b)
        self.hadir = tempfile.mkdtemp(prefix="poplartest-haproxy-")
        if not os.environ.get("POPLAR_KEEP_TMP"):
            self.addCleanup(shutil.rmtree, self.hadir, True)
        pinned = "    server %%s %s:%%d send-proxy-v2 check %s\n" % (HOST, CHECK)
        self.haproxy = haproxytest.HAProxy(
            self.hadir, self.executable,
            frontends={"balanced": "pool", "via_a": "only_a",
                       "via_b": "only_b"},
            backends={
                # As in docs/scaling.md, with quicker checks.
                "pool": (
                    "    balance roundrobin\n"
                    "    option tcp-check\n"
                    "    tcp-check expect string +OK\n"
                    "    tcp-check send QUIT\\r\\n\n"
                    "    default-server send-proxy-v2 check check-send-proxy "
                    "%s\n"
                    "    server a %s:%d\n"
                    "    server b %s:%d\n" % (CHECK, HOST, self.a.port, HOST,
                                              self.b.port)),
                "only_a": pinned % ("a", self.a.port),
                # Node b gets headers with TLVs after the addresses, as
                # HAProxy sends them when asked: poplard skips them.
                "only_b": (pinned % ("b", self.b.port)).replace(
                    "\n", " proxy-v2-options crc32c,unique-id\n"),
            },
            defaults=(
                # A connection refused by a node that is stopping goes to
                # the other one instead of failing the client.
                "    retries 2\n"
                "    option redispatch\n"
                "    unique-id-format %{+X}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid\n"))
        self.addCleanup(self._stop_haproxy)
        self.haproxy.start()
        self.haproxy.wait_status({("pool", "a"): "UP", ("pool", "b"): "UP",
                                  ("only_a", "a"): "UP",
                                  ("only_b", "b"): "UP"})

    def _stop_haproxy(self):
        if self.haproxy is not None:
            self.haproxy.stop()
            self.haproxy_log = self.haproxy.log_text()

    def port(self, frontend):
        return self.haproxy.ports[frontend]

    # -- clients

    def pop(self, frontend):
        """A poplib connection through @frontend and its source port."""
        at = time.time()
        p = poplib.POP3(HOST, self.port(frontend), timeout=CLIENT_TIMEOUT)
        sport = p.sock.getsockname()[1]
        self.connected_at[sport] = at
        return p, sport

    def login(self, frontend, user):
        p, sport = self.pop(frontend)
        try:
            p.user(user)
            p.pass_(PASSWORD)
        except Exception:
            p.close()
            raise
        return p, sport

    def conn(self, frontend):
        return poplartest.Conn(self.port(frontend), timeout=CLIENT_TIMEOUT)

    def retr_all(self, p, user):
        """RETRs every message of @user and checks it is the one stored."""
        count, _ = p.stat()
        self.assertEqual(count, len(self.messages[user]))
        for i, m in enumerate(self.messages[user]):
            _, lines, _ = p.retr(i + 1)
            self.assertEqual(b"".join(l + b"\r\n" for l in lines), crlf(m))

    # -- the audit files

    def events(self, node):
        try:
            with open(node.audit_path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return []
        # Two worker processes append to one file: every line must still
        # be whole.
        self.assertTrue(data == b"" or data.endswith(b"\n"),
                        "%s ends in a partial line" % node.audit_path)
        return [json.loads(l) for l in data.decode("utf-8").splitlines()]

    def connects(self, frontend):
        """[(node, connect event)] of every connection that came through
        @frontend, from both audit files: the header's destination (the
        audit's local_port) is the frontend's port, which tells client
        sessions from health checks."""
        return [(node, e) for node in (self.a, self.b)
                for e in self.events(node)
                if e["event"] == "connect" and
                e["local_port"] == self.port(frontend)]

    def served_by(self, frontend, sport, timeout=5.0):
        """The node and the audit connect event of the session whose client
        had source port @sport."""
        since = self.connected_at.get(sport, 0) - 0.5
        deadline = time.monotonic() + timeout
        while True:
            for node, e in self.connects(frontend):
                if e["client_port"] == sport and wall_time(e["ts"]) >= since:
                    return node, e
            if time.monotonic() > deadline:
                self.fail("no audit connect event from port %d through %s" % (
                    sport, frontend))
            time.sleep(0.05)

    def session_events(self, node, session, timeout=5.0, until="disconnect"):
        deadline = time.monotonic() + timeout
        while True:
            evs = [e for e in self.events(node) if e["session"] == session]
            if any(e["event"] == until for e in evs) or \
                    time.monotonic() > deadline:
                return evs
            time.sleep(0.05)

    # ==== 1. logins and RETR through HAProxy, on both nodes ================

    def test_clients_served_through_haproxy_on_both_nodes(self):
        self.add_user("alice")
        self.start_cluster()
        nodes = []
        for _ in range(4):
            p, sport = self.login("balanced", "alice")
            self.retr_all(p, "alice")
            self.assertOk(p.quit())
            nodes.append(self.served_by("balanced", sport)[0].node)
        self.assertEqual(sorted(set(nodes)), ["a", "b"],
                         "round robin reached only %s" % nodes)
        for frontend, want in (("via_a", "a"), ("via_b", "b")):
            p, sport = self.login(frontend, "alice")
            self.retr_all(p, "alice")
            self.assertOk(p.quit())
            self.assertEqual(self.served_by(frontend, sport)[0].node, want)
            # curl, through the same node.
            for i, m in enumerate(self.messages["alice"]):
                self.assertEqual(poplartest.curl_retr(
                    self.port(frontend), "alice", PASSWORD, i + 1), crlf(m))
        self.assertEqual(len(self.a.users["alice"].maildir.files()), 3)

    # ==== 2. the client's address from the PROXY header ======================

    def test_logs_and_audit_show_the_client_address_from_the_header(self):
        self.add_user("alice")
        self.start_cluster()
        seen = set()
        for frontend in ("via_a", "via_b", "balanced", "balanced"):
            mark = {n.node: n.log_mark() for n in (self.a, self.b)}
            p, sport = self.login(frontend, "alice")
            self.assertOk(p.quit())
            node, connect = self.served_by(frontend, sport)
            seen.add(node.node)
            # The source port of this client, not HAProxy's outgoing port,
            # and the frontend HAProxy accepted it on as the local end.
            self.assertEqual(connect["client_address"], "127.0.0.1")
            self.assertEqual(connect["client_port"], sport)
            self.assertEqual(connect["local_port"], self.port(frontend))
            m = node.wait_for_log(
                r": (\w+): connect from 127\.0\.0\.1 port %d via 127\.0\.0\.1"
                % sport, start=mark[node.node])
            self.assertEqual(m.group(1), connect["session"],
                             "log line and audit event of another session")
            evs = self.session_events(node, connect["session"])
            attempts = [e for e in evs if e["event"] == "auth_attempt"]
            self.assertEqual([e["client_address"] for e in attempts],
                             ["127.0.0.1"])
            results = [e["result"] for e in evs if e["event"] == "auth_result"]
            self.assertEqual(results, ["success"])
            self.assertEqual([e["reason"] for e in evs
                              if e["event"] == "disconnect"], ["quit"])
        self.assertEqual(seen, {"a", "b"})
        # Nobody reaches a node around HAProxy: no PROXY header, no POP3.
        for node in (self.a, self.b):
            mark = node.log_mark()
            c = poplartest.Conn(node.port, timeout=5)
            c.send("USER alice\r\n")
            self.assertTrue(c.wait_closed(5), "a node served a client "
                            "without a PROXY header: %r" % c.tail)
            self.assertNotIn(b"+OK", c.tail)
            c.close()
            node.wait_for_log(r"bad PROXY header from 127\.0\.0\.1: the "
                              r"connection does not start with a PROXY header",
                              start=mark)

    # ==== 3. [IN-USE] across nodes ===========================================

    def lock_pid(self, user):
        path = os.path.join(self.a.users[user].maildir.path, "poplar-lock")
        with open(path) as f:
            m = re.search(r"\bpid=(\d+)\b", f.read())
        self.assertTrue(m, "no pid in %s" % path)
        return int(m.group(1))

    def test_mailbox_open_on_one_node_is_in_use_on_the_other(self):
        self.add_user("alice")
        self.start_cluster()
        for holder, other in (("via_a", "via_b"), ("via_b", "via_a")):
            node = self.a if holder == "via_a" else self.b
            p, _ = self.login(holder, "alice")
            self.assertOk(p.dele(1))
            # The lock is the file in the Maildir, owned by a worker of the
            # node holding the session.
            self.assertIn(self.lock_pid("alice"), node.pids()[1:])
            for frontend in (other, "balanced", "balanced", holder):
                q, sport = self.pop(frontend)
                q.user("alice")
                reply = self.assertPopError(lambda: q.pass_(PASSWORD),
                                            code="IN-USE")
                self.assertIn("IN-USE", reply)
                q.close()
            # RSET, so nothing is deleted; free on the other node at once.
            p.rset()
            self.assertOk(p.quit())
            q, _ = self.login(other, "alice")
            self.assertEqual(q.stat()[0], 3)
            self.assertOk(q.quit())
        self.assertEqual(len(self.a.users["alice"].maildir.files()), 3)

    # ==== 4. the same UIDLs on both nodes ====================================

    def uidls(self, frontend, user):
        p, _ = self.login(frontend, user)
        _, lines, _ = p.uidl()
        _, sizes, _ = p.list()
        self.assertOk(p.quit())
        return ([l.decode() for l in lines], [l.decode() for l in sizes])

    def test_both_nodes_give_the_same_uidls(self):
        user = self.add_user("alice")
        self.start_cluster()
        expected = [unique_part(f) for f in user.maildir.files()]
        # The first login (node a) moves the messages from new/ to cur/;
        # node b then lists them from cur/.
        on_a = self.uidls("via_a", "alice")
        on_b = self.uidls("via_b", "alice")
        self.assertEqual(on_a, on_b)
        self.assertEqual([l.split()[1] for l in on_a[0]], expected)
        self.assertTrue(all(":2," in f for f in user.maildir.files()))
        # A message delivered now is in new/ for node b first.
        new = message("alice", 4)
        self.messages["alice"].append(new)
        delivered = user.maildir.add(new)
        on_b2 = self.uidls("via_b", "alice")
        on_a2 = self.uidls("via_a", "alice")
        self.assertEqual(on_a2, on_b2)
        self.assertEqual(on_b2[0][:3], on_a[0])
        self.assertEqual(on_b2[0][3], "4 " + unique_part(delivered))
        # And through the balanced frontend, whichever node it lands on.
        for _ in range(2):
            self.assertEqual(self.uidls("balanced", "alice"), on_a2)

    # ==== 5. node a stopped in the middle of a run ===========================

    def test_node_stopped_mid_run_leaves_clients_on_the_other(self):
        self.stop_mid_run(crash=False)

    def test_node_crashed_mid_run_loses_nothing(self):
        self.stop_mid_run(crash=True)

    # store-maildir writes the owner line to a private file and links it to
    # poplar-lock.  A worker killed right after creating that file must
    # leave the mailbox free for the next login (a lock without an owner
    # would be stale only after lock-timeout).
    def test_crash_while_taking_the_lock_leaves_the_mailbox_free(self):
        shim = os.environ.get("POPLAR_HA_CRASH_SHIM")
        if not shim:
            self.skipTest("POPLAR_HA_CRASH_SHIM is not set")
        user = self.add_user("alice")
        trigger = os.path.join(self.a.dir, "crash-once")
        preload = ":".join(filter(None, [shim,
                                         os.environ.get("LD_PRELOAD")]))
        self.start_cluster(env_a={"LD_PRELOAD": preload,
                                  "POPLAR_CRASH_ONCE": trigger})
        open(trigger, "w").close()
        try:
            p, _ = self.login("via_a", "alice")
        except (OSError, EOFError, poplib.error_proto):
            pass
        else:
            self.fail("the worker was not killed while taking the lock")
        self.a.wait_for_log(r"worker \d+ killed by signal 9")
        # Killed while writing its owner line: that line was in a private
        # file, so no lock without an owner exists.
        lock = os.path.join(user.maildir.path, "poplar-lock")
        if os.path.exists(lock):
            with open(lock, "rb") as f:
                self.assertNotEqual(f.read(), b"")
        # Its process is gone: the next login, on either node, gets the
        # mailbox.
        p, _ = self.login("via_b", "alice")
        self.assertEqual(p.stat()[0], 3)
        self.assertOk(p.quit())

    def stop_mid_run(self, crash):
        loaders = ["load%d" % i for i in range(6)]
        for name in loaders:
            self.add_user(name)
        victim = self.add_user("victim")
        committer = self.add_user("committer", 4)
        # The shortest lock-timeout: see the crash case below.
        self.start_cluster(lock_timeout="%ds" % LOCK_TIMEOUT if crash else None)
        a_port = self.a.port
        b_mark = self.b.log_mark()

        # A session on node a with two messages marked deleted, never
        # committed; a session on node b that will commit one deletion.
        held = self.conn("via_a")
        held.login("victim", PASSWORD)
        held_port = held.sock.getsockname()[1]
        _, held_uidls = held.multi("UIDL")
        for n in (1, 2):
            self.assertOk(held.cmd("DELE %d" % n))
        held_node, held_connect = self.served_by("via_a", held_port)
        self.assertEqual(held_node.node, "a")
        keeper = self.conn("via_b")
        keeper.login("committer", PASSWORD)
        self.assertOk(keeper.cmd("DELE 1"))

        load = Load(self, loaders, "balanced")
        load.start()
        load.wait_for(20, timeout=20)
        stopped_at = time.monotonic()
        if crash:
            self.a.crash()
        else:
            # SIGTERM; the node exits once its live sessions are done or
            # after shutdown-timeout (1s), while HAProxy is watched here.
            stop = threading.Thread(target=self._stop_node, args=(self.a,))
            stop.start()
        self.haproxy.wait_status(
            {("pool", "a"): "DOWN", ("only_a", "a"): "DOWN",
             ("pool", "b"): "UP"}, timeout=5)
        down_at = time.monotonic()
        if not crash:
            stop.join(poplartest.STOP_TIMEOUT + 5)
            self.assertEqual(self.stop_rc, 0)
        # A client that was on node a sees its session end.
        self.assertTrue(held.wait_closed(10),
                        "the session on the stopped node goes on")
        held.close()
        # Clients keep being served, by node b alone.
        time.sleep(LOCK_TIMEOUT + 1.0 if crash else 2.0)
        load.stop()
        # A little after HAProxy marked node a down, every session is
        # served, by node b.
        settled = down_at + 0.3
        before = [r for r in load.results if r.end < stopped_at]
        after = [r for r in load.results if r.start > settled]
        self.find_nodes(load.results, "balanced",
                        [r for r in after if r.ok])
        window = [r for r in load.results
                  if r.end >= stopped_at and r.start <= settled]
        self.assertEqual(load.wrong, [], "a client got the wrong mail")
        self.assertTrue(before and after)
        self.assertEqual([r for r in before if not r.ok], [])
        # Round robin used both nodes.  (A node killed with SIGKILL may not
        # have written the audit events of its last few milliseconds.)
        self.assertLessEqual({"a", "b"}, {r.node for r in before})
        bad = [r for r in after if not r.ok or r.node != "b"]
        empty_locks = {}
        if crash:
            bad, empty_locks = self.empty_lock_victims(bad, b_mark, down_at)
        self.assertEqual(bad, [], "sessions after node a left the pool "
                         "failed or did not land on node b")
        for user, (count, last) in sorted(empty_locks.items()):
            sys.stderr.write(
                "\n  store-maildir: the crash left %s's poplar-lock without "
                "an owner line; %d logins got [IN-USE] for %.1fs, until "
                "lock-timeout (%ds)\n" % (user, count, last - down_at,
                                           LOCK_TIMEOUT))
        self.assertGreater(len(after), 20)
        failed = [r for r in window if not r.ok]
        sys.stderr.write(
            "\n  node a %s; HAProxy marked it down after %.3fs; "
            "sessions: %d before, %d in the window (%d failed: %s), "
            "%d after, all on node b\n" % (
                "killed (SIGKILL)" if crash else "stopped (SIGTERM)",
                down_at - stopped_at, len(before), len(window), len(failed),
                sorted({r.error for r in failed}), len(after)))

        # The victim's mailbox is free on node b at once (a crashed
        # process's lock is stale), and nothing it marked was deleted.
        start = time.monotonic()
        in_use = 0
        while True:
            try:
                p, sport = self.login("balanced", "victim")
                break
            except poplib.error_proto as e:
                if b"[IN-USE]" not in e.args[0] or \
                        time.monotonic() - start > 5:
                    raise
                in_use += 1
                time.sleep(0.1)
        self.assertEqual(in_use, 0, "the mailbox of the session on the "
                         "stopped node stayed [IN-USE] for %.1fs" % (
                             time.monotonic() - start))
        self.assertEqual(self.served_by("balanced", sport)[0].node, "b")
        _, lines, _ = p.uidl()
        self.assertEqual(b"".join(l + b"\r\n" for l in lines), held_uidls)
        self.retr_all(p, "victim")
        self.assertOk(p.quit())
        self.assertEqual(sorted(victim.maildir.contents()),
                         sorted(self.messages["victim"]))
        if not crash:
            evs = self.session_events(self.a, held_connect["session"])
            self.assertEqual([e["reason"] for e in evs
                              if e["event"] == "disconnect"], ["shutdown"])
            self.assertEqual([e for e in evs if e["event"] == "update"], [])
            self.a.wait_for_log(r"end: user=victim reason=shutdown .*"
                                r"deleted=0 ")

        # The session on node b commits its deletion: exactly that one.
        self.assertOk(keeper.cmd("QUIT"))
        keeper.close()
        self.assertEqual(sorted(committer.maildir.contents()),
                         sorted(self.messages["committer"][1:]))
        for name in loaders:
            self.assertEqual(
                sorted(self.a.users[name].maildir.contents()),
                sorted(self.messages[name]), "%s lost mail" % name)
        for name in loaders + ["victim", "committer"]:
            d = self.a.users[name].maildir.path
            left = [f for f in os.listdir(d) if f.startswith("poplar-lock")]
            if crash:
                # A taker killed between creating its private file and
                # linking it as the lock leaves that file behind; it is no
                # lock, and a later taker sweeps it once its process is
                # gone.
                left = [f for f in left if not dead_takers_file(f)]
            self.assertEqual(left, [], "%s still locked" % name)

        # Node a comes back on its port: HAProxy puts it back in the pool.
        self.start_node(self.a, a_port)
        self.haproxy.wait_status({("pool", "a"): "UP", ("only_a", "a"): "UP"},
                                 timeout=5)
        nodes = set()
        for _ in range(4):
            p, sport = self.login("balanced", "load0")
            self.retr_all(p, "load0")
            self.assertOk(p.quit())
            nodes.add(self.served_by("balanced", sport)[0].node)
        self.assertEqual(nodes, {"a", "b"})

    def empty_lock_victims(self, failed, mark, down_at):
        """store-maildir creates poplar-lock with O_CREAT|O_EXCL and writes
        the owner line after it: a node killed in between leaves a lock
        with no owner, stale only after lock-timeout even on the same host
        (test_crash_while_taking_the_lock_leaves_the_mailbox_free).  A
        crash at a random moment hits that now and then.  Of @failed, the
        [IN-USE] answers for such a lock within lock-timeout of the crash
        are set apart: returns the others, and {user: (count, time of the
        last)}."""
        rx = re.compile(r"cannot open mailbox \S+ of (\w+): .*locked by "
                        r"another session \(an unreadable owner\)")
        unreadable = {m.group(1) for m in map(rx.search,
                                              self.b.log_lines()[mark:]) if m}
        others, victims = [], {}
        for r in failed:
            if r.user in unreadable and "[IN-USE]" in (r.error or "") and \
                    r.start < down_at + LOCK_TIMEOUT + 0.5:
                count, _ = victims.get(r.user, (0, 0))
                victims[r.user] = (count + 1, r.end)
            else:
                others.append(r)
        return others, victims

    def find_nodes(self, results, frontend, needed, timeout=5.0):
        """Sets the node of each session in @results from the audit
        files, waiting until every one of @needed has one (the audit
        writer runs behind the sessions)."""
        deadline = time.monotonic() + timeout
        while True:
            by_port = {}
            for node, e in self.connects(frontend):
                by_port.setdefault(e["client_port"], []).append(
                    (wall_time(e["ts"]), node.node))
            for r in results:
                nodes = {n for t, n in by_port.get(r.port, ())
                         if r.wall_start - 0.5 <= t <= r.wall_end + 0.5}
                r.node = nodes.pop() if len(nodes) == 1 else "?"
            if all(r.node != "?" for r in needed) or \
                    time.monotonic() > deadline:
                return
            time.sleep(0.1)

    def _stop_node(self, node):
        self.stop_rc = None
        self.stop_rc = node.stop()

    # ==== health checks ======================================================

    def test_health_checks_are_handled_quietly(self):
        self.add_user("alice")
        self.start_cluster()
        marks = {n.node: n.log_mark() for n in (self.a, self.b)}
        audit_marks = {n.node: len(self.events(n)) for n in (self.a, self.b)}
        quiet = 2.0
        time.sleep(quiet)
        for node in (self.a, self.b):
            lines = node.log_lines()[marks[node.node]:]
            levels = {}
            for line in lines:
                m = re.search(r"poplard\[\d+\]: (\w+): ", line)
                levels[m.group(1) if m else "?"] = \
                    levels.get(m.group(1) if m else "?", 0) + 1
            noisy = [l for l in lines
                     if re.search(r"poplard\[\d+\]: (warning|error): ", l)]
            checks = [l for l in lines if "connect from" in l or
                      "end: no login" in l]
            audit = self.events(node)[audit_marks[node.node]:]
            shapes = sorted({re.sub(r"\b[0-9a-f]{12}\b|\d+", "N",
                                    l.split(": ", 1)[-1]) for l in lines})
            sys.stderr.write(
                "\n  node %s, %.0fs of health checks (2 checkers, every "
                "200ms): log lines by level %s; audit events %d:\n%s\n" % (
                    node.node, quiet, levels, len(audit),
                    "\n".join("    " + l for l in shapes)))
            self.assertEqual(noisy, [], "health checks logged as warnings "
                             "or errors on node %s" % node.node)
            self.assertTrue(checks, "no sign of the health checks")
        # The checks did not disturb a client.
        p, _ = self.login("balanced", "alice")
        self.retr_all(p, "alice")
        self.assertOk(p.quit())


class Result:
    def __init__(self, user, start):
        self.user = user
        self.start = start
        self.wall_start = time.time()
        self.wall_end = None
        self.end = None
        self.port = None
        self.ok = False
        self.error = None
        self.node = "?"

    def __repr__(self):
        return "<session %s port=%s node=%s ok=%s error=%s>" % (
            self.user, self.port, self.node, self.ok, self.error)


class Load:
    """One thread per user, each logging in through @frontend again and
    again: STAT, UIDL, RETR of every message (checked against what was
    stored), QUIT without deleting."""

    def __init__(self, test, users, frontend):
        self.test = test
        self.users = users
        self.port = test.port(frontend)
        self.results = []
        self.wrong = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(u,),
                                          daemon=True) for u in users]

    def start(self):
        for t in self._threads:
            t.start()

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(CLIENT_TIMEOUT + 5)

    def wait_for(self, count, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if sum(r.ok for r in self.results) >= count:
                    return
            time.sleep(0.02)
        raise AssertionError("fewer than %d sessions within %.0fs: %s" % (
            count, timeout, self.results[-5:]))

    def _loop(self, user):
        messages = self.test.messages[user]
        while not self._stop.is_set():
            r = Result(user, time.monotonic())
            p = None
            try:
                p = poplib.POP3(HOST, self.port, timeout=CLIENT_TIMEOUT)
                r.port = p.sock.getsockname()[1]
                p.user(user)
                p.pass_(PASSWORD)
                count, _ = p.stat()
                for i in range(count):
                    _, lines, _ = p.retr(i + 1)
                    got = b"".join(l + b"\r\n" for l in lines)
                    if i >= len(messages) or got != crlf(messages[i]):
                        with self._lock:
                            self.wrong.append((user, i + 1, got[:200]))
                if count != len(messages):
                    with self._lock:
                        self.wrong.append((user, "count", count))
                p.quit()
                r.ok = True
            except (OSError, EOFError, poplib.error_proto) as e:
                r.error = "%s: %s" % (type(e).__name__, e)
                if p is not None:
                    try:
                        p.close()
                    except OSError:
                        pass
            r.end = time.monotonic()
            r.wall_end = time.time()
            with self._lock:
                self.results.append(r)
            if not r.ok:
                time.sleep(0.02)


if __name__ == "__main__":
    if not haproxytest.find_haproxy():
        sys.stderr.write("haproxy is not installed (Debian package haproxy; "
                         "`make check` installs it): skipped\n")
        sys.exit(77)
    poplartest.main()
