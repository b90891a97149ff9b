#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`make bench`: poplard against Dovecot (tuned and stock) on this machine,
scenario by scenario, the servers taking turns (A B C A B C ...), with the
machine's two ceilings (a bare GnuTLS handshake loop, a plain loopback
copy), an instruction count per session from callgrind and a CPU profile
of poplard from perf.

  tests/bench/run-bench.py --build BUILD [--rounds 3] [--out DIR] [--quick]
                           [--only STEP,...]   (e.g. --only sql)

Results: DIR/results.jsonl (every result, with its kind and server label),
DIR/summary.txt (the table), DIR/summary.json, DIR/*.svg (the charts of
bench_charts.py), DIR/callgrind-*.txt and DIR/perf-*.txt (profiles).
Needs root (Dovecot runs its own privilege separation)."""

import argparse
import glob
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_servers import (Dovecot, Poplard, cpu_seconds, free_port,  # noqa
                           process_tree, wait_greeting)
from bench_world import World  # noqa
import bench_report  # noqa
import bench_proxy  # noqa
import bench_sql  # noqa
import bench_syscalls  # noqa
import bench_like  # noqa
import bench_sweep  # noqa
import bench_tls  # noqa
import bench_charts  # noqa


# Steps with worlds and servers of their own: they need none of the big
# world (10,000 users, the listing and RETR mailboxes) and its servers.
STANDALONE = {"like", "sweep", "tls", "sql", "proxy"}
# Longer than the two seconds a Maildir's directories must have stood
# still before store-maildir keeps its listing.
SETTLE_S = 2.5


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.tool = os.path.join(self.build, "tests", "bench", "poplar-bench")
        self.out = os.path.abspath(args.out or os.path.join(
            self.build, "bench-results"))
        os.makedirs(self.out, exist_ok=True)
        self.jsonl = os.path.join(self.out, "results.jsonl")
        if os.path.exists(self.jsonl):
            os.unlink(self.jsonl)
        self.results = []   # every result, with "server" replaced by a label
        self.notes = []
        q = args.quick
        self.rate_s = 1.0 if q else 4.0
        self.rounds = args.rounds
        self.hold_k = 200 if q else 1000
        self.scale_k = 500 if q else 10000
        self.concurrency = 32
        self.started = time.monotonic()
        self.world = None
        self.sql_world = None
        self.proxy_world = None
        self.like_world = None
        self.sweep_world = None
        self.tls_world = None

    def log(self, text):
        sys.stdout.write("[%6.1fs] %s\n" % (time.monotonic() - self.started,
                                             text))
        sys.stdout.flush()

    # -- running poplar-bench

    def bench(self, server, scenario, tls=None, resume=False, label=None,
              extra=(), users=None, timeout=300, kind=None, world=None,
              prefix=(), cpu=False):
        """Runs one poplar-bench scenario; returns its result (a dict), or
        None when it failed (the reason is kept as a note).  @cpu: also
        the CPU time the server used meanwhile, as a share of one core
        (server_cpu_share) and sessions per second of it
        (sessions_per_cpu_s): a figure that other work on a shared
        machine, which takes the server's core away, does not lower.  The
        CPU time is read around the whole run, warm-up included, over
        which the server is as busy as while the sessions are counted."""
        world = world or self.world
        port = server.tls_port if tls else server.port
        cmd = list(prefix) + [self.tool, "--scenario", scenario, "--port", str(port),
               "--json", self.jsonl, "--quiet",
               "--label", label or server.label]
        if tls:
            cmd += ["--tls", "--priority", world.priority,
                    "--ca-file", getattr(server, "cert", None) or world.cert]
            if resume:
                cmd.append("--resume")
        if users is None:
            users = ["--user-prefix", "bench", "--user-count",
                     str(world.rate_users)]
        if users:
            cmd += users + ["--password", world.password]
        cmd += list(extra)
        cpu0 = cpu_seconds(server.pid()) if cpu else None
        t0 = time.monotonic()
        try:
            r = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            self.notes.append("%s %s on %s: no result within %ds" % (
                scenario, kind or "", server.label, timeout))
            return None
        with open(self.jsonl) as f:
            last = f.read().splitlines()
        res = json.loads(last[-1]) if last else None
        if r.returncode != 0 or res is None or res.get("label") != (
                label or server.label):
            self.notes.append("%s %s on %s failed (exit %d): %s" % (
                scenario, kind or "", server.label, r.returncode,
                (r.stderr.strip() or (res or {}).get("first_error", ""))[:300]))
            if res is None or res.get("label") != (label or server.label):
                return None
        res["server_label"] = server.label
        res["kind"] = kind or scenario
        if cpu0 is not None:
            share = (cpu_seconds(server.pid()) - cpu0) / (
                time.monotonic() - t0)
            res["server_cpu_share"] = share
            if share > 0 and "sessions_per_s" in res:
                res["sessions_per_cpu_s"] = res["sessions_per_s"] / share
        self.keep(res, replace_last=True)
        return res

    def keep(self, res, replace_last=False):
        """Keeps a result, and writes it to results.jsonl with its kind and
        server label (over the line the measuring program wrote, when
        @replace_last), so that the file alone tells what each line is."""
        self.results.append(res)
        with open(self.jsonl) as f:
            lines = f.read().splitlines()
        if replace_last and lines:
            lines.pop()
        lines.append(json.dumps(res))
        with open(self.jsonl, "w") as f:
            f.write("\n".join(lines) + "\n")

    # -- the servers

    def setup(self):
        a = self.args
        self.log("generating users, mail and a certificate")
        self.world = World(root_parent=a.tmp,
                           hold_users=self.scale_k,
                           list_sizes=(1000, 10000, 100000) if not a.quick
                           else (100, 1000, 3000),
                           retr_mb=20 if a.quick else 200)
        self.world.make_credentials()
        self.world.make_templates()
        # One worker process per core, one loop thread each: the same loops
        # as one process with a loop per core, and each process has its own
        # open-files limit, which bounds the sessions it can hold (the
        # container caps it at 20,000 here).
        self.poplard = Poplard(self.world, self.build, tls=True, threads=1,
                               extra_server={
                                   "workers": str(os.cpu_count() or 1)})
        self.dovecot_tuned = Dovecot(self.world, "tuned")
        self.dovecot_stock = Dovecot(self.world, "stock")
        self.servers = [self.poplard, self.dovecot_tuned, self.dovecot_stock]
        for s in self.servers:
            self.world.make_instance(
                s.label, reader_group="dovecot" if s.name == "dovecot"
                else None)
        note = self.poplard.configure()
        if note:
            self.notes.append("poplard has no implicit TLS in this build "
                              "(--check-config: %s): its TLS figures are "
                              "n/a" % note.splitlines()[-1][:200])
        for s in self.servers[1:]:
            s.configure()
        for s in self.servers:
            self.log("starting %s (port %d%s)" % (
                s.label, s.port,
                ", TLS %d" % s.tls_port if s.tls_port else ""))
            s.start()

    def stop(self):
        for s in getattr(self, "servers", []):
            s.stop()

    def each_round(self, what, fn, servers=None):
        for r in range(self.rounds):
            for s in servers or self.servers:
                self.log("%s, round %d: %s" % (what, r + 1, s.label))
                fn(s)

    # -- scenarios

    def warm_up(self):
        # First logins move new/ to cur/ and fill the servers' caches.
        for s in self.servers:
            self.bench(s, "rate", extra=["--concurrency", str(self.world.rate_users),
                                         "--sessions", str(self.world.rate_users * 2)],
                       kind="warm-up")

    def rate(self):
        base = ["--concurrency", str(self.concurrency), "--threads", "2",
                "--duration", str(self.rate_s), "--warmup", "0.5"]
        self.each_round("session rate, plain", lambda s: self.bench(
            s, "rate", extra=base, kind="rate-plain"))
        tls_servers = [s for s in self.servers if s.tls_port]
        for resume in (False, True):
            kind = "rate-tls-resumed" if resume else "rate-tls-full"
            self.each_round("session rate, TLS %s" % (
                "resumed" if resume else "full"),
                lambda s: self.bench(s, "rate", tls=True, resume=resume,
                                     extra=base, kind=kind),
                tls_servers)
            self.each_round("TLS ceiling %s" % kind, lambda s: self.bench(
                s, "handshake", tls=True, resume=resume, users=[],
                label="gnutls-ceiling", extra=base,
                kind=kind.replace("rate", "ceiling")), [self.ceiling])

    def list_cold_warm(self):
        """A freshly delivered Maildir: the first session (cold) and the
        five right after it (warm); then, once nothing has moved in it for
        longer than SETTLE_S, six more (settled), as a client polling
        every few minutes finds it.  poplard keeps a listing only of a
        Maildir whose directories are over two seconds old."""
        user = self.world.list_user(self.world.list_sizes[1])

        def one(s):
            self.world.reset_maildir(s.label, user, user)
            self.bench(s, "list", users=["--user", user],
                       extra=["--repeat", "6"], kind="list-10k")
            time.sleep(SETTLE_S)
            self.bench(s, "list", users=["--user", user],
                       extra=["--repeat", "6"], kind="list-10k-settled")
        self.each_round("UIDL+LIST cold, warm and settled", one)

    def curve(self):
        # The first login moves the new messages to cur/: let that settle
        # before the rounds, so that every round measures a Maildir that
        # has not moved for a while, as a polling client finds it.
        for s in self.servers:
            for n in self.world.list_sizes:
                self.bench(s, "list", users=["--user",
                                             self.world.list_user(n)],
                           extra=["--repeat", "1"], kind="curve-settle")
        time.sleep(SETTLE_S)

        def one(s):
            for n in self.world.list_sizes:
                user = self.world.list_user(n)
                self.bench(s, "list", users=["--user", user],
                           extra=["--repeat", "3"], kind="curve-%d" % n)
        self.each_round("LIST/UIDL curve", one)

    def syscalls(self):
        """System calls per plain session on every process of each server
        (strace -c): counts, so one round is enough."""
        n = 200 if self.args.quick else 1000

        def one(s):
            out = os.path.join(self.out, "strace-%s.txt" % s.label)

            def run():
                r = self.bench(s, "rate", kind="syscalls-run", extra=[
                    "--concurrency", "8", "--threads", "1",
                    "--sessions", str(n)])
                return r["sessions"] - r["errors"] if r else 0
            self.log("system calls per session: %s" % s.label)
            try:
                res = bench_syscalls.per_session(s.pid(), out, run)
            except (RuntimeError, ValueError, OSError) as e:
                self.notes.append("system calls on %s: %s" % (s.label, e))
                return
            res.update(server_label=s.label, kind="syscalls-plain")
            self.keep(res)
            self.notes.append("system calls per plain session on %s: %.1f "
                              "(%s)" % (s.label, res["syscalls_per_session"],
                                        res["top"]))
        for s in self.servers:
            one(s)

    def retr(self):
        args = ["--pipeline", "8", "--timeout", "120"]
        users = ["--user", "retr"]
        self.each_round("RETR plain", lambda s: self.bench(
            s, "retr", users=users, extra=args, kind="retr-plain"))
        self.each_round("RETR TLS", lambda s: self.bench(
            s, "retr", tls=True, users=users, extra=args, kind="retr-tls"),
            [s for s in self.servers if s.tls_port])
        for r in range(self.rounds):
            self.log("copy ceiling, round %d" % (r + 1))
            subprocess.run([os.path.join(self.build, "tests", "bench",
                                         "copy-ceiling"),
                            "--repeat", "3", "--json", self.jsonl,
                            "--label", "copy-ceiling",
                            self.world.template_dir("retr")],
                           check=True, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=120)
            with open(self.jsonl) as f:
                res = json.loads(f.read().splitlines()[-1])
            res["server_label"] = "copy-ceiling"
            res["kind"] = "ceiling-copy"
            self.keep(res, replace_last=True)

    def hold(self, k, tls, kind):
        def one(s):
            if s is self.dovecot_stock:
                return  # stock: at most 100 pop3 processes
            # A fresh server: Dovecot keeps idle pop3 processes of earlier
            # sessions, which would hide in the baseline.
            s.stop()
            s.start()
            self.bench(s, "hold", tls=tls,
                       users=["--user-prefix", "bench", "--user-count",
                              str(k)],
                       extra=["--count", str(k), "--concurrency", "200",
                              "--threads", "2", "--hold", "2",
                              "--timeout", "120",
                              "--server-pid", str(s.pid())],
                       timeout=600, kind=kind)
        servers = [s for s in self.servers if not tls or s.tls_port]
        self.each_round("%d held sessions%s" % (k, ", TLS" if tls else ""),
                        one, servers)

    def ceiling_start(self):
        self.ceiling = type("Ceiling", (), {})()
        self.ceiling.label = "gnutls-ceiling"
        self.ceiling.tls_port = free_port()
        self.ceiling.port = self.ceiling.tls_port
        self.ceiling.proc = subprocess.Popen(
            [os.path.join(self.build, "tests", "bench", "tls-ceiling-server"),
             "--cert", self.world.cert, "--key", self.world.key,
             "--priority", self.world.priority,
             "--port", str(self.ceiling.tls_port), "--threads", "8"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        wait_greeting(self.ceiling.tls_port, 10, self.ceiling.proc, tls=True)

    def ceiling_stop(self):
        self.ceiling.proc.terminate()
        self.ceiling.proc.wait(10)

    # -- logins through SQL

    def sql(self):
        """Session rate with the users in PostgreSQL: poplard's
        auth-sql-pgsql against Dovecot's SQL passdb, without and with
        their caches of logins (bench_sql.py).  A world of its own: the
        rate users' mail only."""
        why = bench_sql.missing()
        if why:
            self.notes.append("no SQL rows: %s" % why)
            return
        world = World(root_parent=self.args.tmp, hold_users=0,
                      list_sizes=(), retr_mb=0)
        self.sql_world = world
        db = None
        servers = []
        try:
            world.make_credentials()
            world.make_templates()
            self.log("SQL: starting PostgreSQL")
            db = bench_sql.Database(world)
            db.start()
            servers = bench_sql.servers(world, self.build, db)
            for s in servers:
                s.configure()
                self.log("SQL: starting %s (port %d)" % (s.label, s.port))
                s.start()
            for s in servers:
                # Moves new/ to cur/ and fills the caches that are on.
                self.bench(s, "rate", world=world,
                           extra=["--concurrency", str(world.rate_users),
                                  "--sessions", str(world.rate_users * 2)],
                           kind="sql-warm-up")
            base = ["--concurrency", str(self.concurrency), "--threads", "2",
                    "--duration", str(self.rate_s), "--warmup", "0.5"]
            self.each_round("SQL login rate", lambda s: self.bench(
                s, "rate", world=world, extra=base, kind=bench_sql.KIND),
                servers)
        finally:
            for s in servers:
                s.stop()
            if db:
                db.cleanup()
            if not self.args.keep:
                world.cleanup()

    def like(self):
        """Like for like: the same password scheme on both servers and one
        core each (bench_like.py).  A world of its own: the rate users'
        mail only."""
        why = bench_like.missing()
        if why:
            self.notes.append("no like-for-like rows: %s" % why)
            return
        world = World(root_parent=self.args.tmp, hold_users=0,
                      list_sizes=(), retr_mb=0)
        self.like_world = world
        servers = []
        try:
            world.make_credentials()
            world.make_templates()
            servers = bench_like.servers(world, self.build)
            for s in servers:
                s.configure()
                self.log("like for like: starting %s (port %d)" % (
                    s.label, s.port))
                s.start()
            prefix = bench_like.client_prefix()
            for s in servers:
                self.bench(s, "rate", world=world, prefix=prefix,
                           extra=["--concurrency", str(world.rate_users),
                                  "--sessions", str(world.rate_users * 2)],
                           kind="like-warm-up")
            # One load generator thread: it has one core of its own.
            base = ["--concurrency", "50", "--threads", "1",
                    "--duration", str(self.rate_s), "--warmup", "0.5"]
            self.each_round("like-for-like session rate", lambda s: self.bench(
                s, "rate", world=world, prefix=prefix, extra=base,
                kind=bench_like.KIND), servers)
        finally:
            for s in servers:
                s.stop()
            if not self.args.keep:
                world.cleanup()

    def sweep(self):
        """Plain session rate against the number of concurrent clients,
        like for like (bench_sweep.py).  A world of its own: as many
        session-rate users as the most clients."""
        why = bench_like.missing()
        if why:
            self.notes.append("no session-rate sweep: %s" % why)
            return
        counts = (bench_sweep.QUICK_CLIENTS if self.args.quick
                  else bench_sweep.CLIENTS)
        world = World(root_parent=self.args.tmp, rate_users=max(counts),
                      hold_users=0, list_sizes=(), retr_mb=0)
        self.sweep_world = world
        servers = []
        try:
            world.make_credentials()
            world.make_templates()
            servers = bench_sweep.servers(world, self.build)
            prefix = bench_like.client_prefix()
            for s in servers:
                s.configure()
                self.log("sweep: starting %s (port %d)" % (s.label, s.port))
                s.start()
                self.bench(s, "rate", world=world, prefix=prefix,
                           extra=["--concurrency", str(world.rate_users),
                                  "--sessions", str(world.rate_users * 2)],
                           kind="sweep-warm-up")
            for r in range(self.rounds):
                for n in counts:
                    for s in servers:
                        self.log("sweep, round %d: %d clients, %s" % (
                            r + 1, n, s.label))
                        self.bench(s, "rate", world=world, prefix=prefix,
                                   kind=bench_sweep.KIND, cpu=True, extra=[
                                       "--concurrency", str(n),
                                       "--threads", "1",
                                       "--duration", str(self.rate_s),
                                       "--warmup", "0.5"])
        finally:
            for s in servers:
                s.stop()
            if not self.args.keep:
                world.cleanup()

    def tls(self):
        """Full TLS handshakes with an ECDSA and an RSA certificate: poplard,
        Dovecot tuned and the bare GnuTLS loop on one core each, and each
        key's signing speed through GnuTLS and OpenSSL (bench_tls.py)."""
        why = bench_like.missing()
        if why:
            self.notes.append("no TLS rows: %s" % why)
            return
        world = World(root_parent=self.args.tmp, hold_users=0,
                      list_sizes=(), retr_mb=0)
        self.tls_world = world
        started = []
        try:
            world.make_credentials()
            world.make_rsa_credentials()
            world.make_templates()
            by_cert = bench_tls.servers(world, self.build)
            prefix = bench_like.client_prefix()
            for cert, servers in by_cert.items():
                for s in servers:
                    note = s.configure()
                    if note or not s.tls_port:
                        self.notes.append("TLS rows: %s has no TLS: %s" % (
                            s.label, note))
                        continue
                    self.log("TLS: starting %s (TLS port %d)" % (
                        s.label, s.tls_port))
                    s.start()
                    started.append(s)
            base = ["--concurrency", str(bench_tls.CLIENTS), "--threads",
                    "1", "--duration", str(self.rate_s), "--warmup", "0.5"]
            for s in started:
                self.bench(s, "rate" if s.name != "ceiling" else "handshake",
                           tls=True, world=world, prefix=prefix,
                           users=[] if s.name == "ceiling" else None,
                           extra=["--concurrency", str(world.rate_users),
                                  "--sessions", str(world.rate_users * 2)],
                           kind="tls-warm-up")
            sign_s = 0.5 if self.args.quick else 2
            for r in range(self.rounds):
                for cert in bench_tls.CERTS:
                    for s in by_cert[cert]:
                        if s not in started:
                            continue
                        self.log("TLS %s, round %d: %s" % (
                            cert, r + 1, s.label))
                        ceiling = s.name == "ceiling"
                        self.bench(s, "handshake" if ceiling else "rate",
                                   tls=True, world=world, prefix=prefix,
                                   users=[] if ceiling else None, extra=base,
                                   kind=bench_tls.KIND, cpu=True)
                    self.log("signing speed %s, round %d" % (cert, r + 1))
                    try:
                        self.keep(bench_tls.sign_gnutls(self.build, world,
                                                        cert, sign_s))
                        self.keep(bench_tls.sign_openssl(cert, sign_s))
                    except (subprocess.SubprocessError, RuntimeError,
                            ValueError) as e:
                        self.notes.append("signing speed %s: %s" % (cert, e))
        finally:
            for s in started:
                s.stop()
            if not self.args.keep:
                world.cleanup()

    def proxy(self):
        """Session rate and RETR through a poplard proxy against the same
        backend directly (bench_proxy.py).  A world of its own: the rate
        users and the RETR mailbox."""
        retr_mb = 20 if self.args.quick else 200
        world = World(root_parent=self.args.tmp, hold_users=0,
                      list_sizes=(), retr_mb=retr_mb)
        self.proxy_world = world
        servers = []
        try:
            world.make_credentials()
            world.make_templates()
            servers = list(bench_proxy.servers(world, self.build))
            for s in servers:
                s.configure()
                self.log("proxy: starting %s (port %d)" % (s.label, s.port))
                s.start()
            # Moves new/ to cur/ on the backend (through either door).
            self.bench(servers[0], "rate", world=world,
                       extra=["--concurrency", str(world.rate_users),
                              "--sessions", str(world.rate_users * 2)],
                       kind="proxy-warm-up")
            base = ["--concurrency", str(self.concurrency), "--threads", "2",
                    "--duration", str(self.rate_s), "--warmup", "0.5"]
            self.each_round("proxy: session rate", lambda s: self.bench(
                s, "rate", world=world, extra=base, kind="proxy-rate"),
                servers)
            self.each_round("proxy: RETR", lambda s: self.bench(
                s, "retr", world=world, users=["--user", "retr"],
                extra=["--pipeline", "8", "--timeout", "120"],
                kind="proxy-retr"), servers)
        finally:
            for s in servers:
                s.stop()
            if not self.args.keep:
                world.cleanup()

    # -- profiles

    def callgrind(self):
        """Instructions per session: two runs of N1 and N2 sessions on a
        one-thread poplard under callgrind; the difference over N2 - N1
        leaves start-up and shutdown out."""
        if not shutil.which("valgrind"):
            self.notes.append("valgrind is missing: no instruction count")
            return
        n1, n2 = (5, 25) if self.args.quick else (10, 60)
        totals = {}
        hashing = {}
        for n in (n1, n2):
            # One file per process: poplard's master forks its worker,
            # which writes its file after dropping privileges.
            drop = os.path.join(self.world.root, "callgrind")
            os.makedirs(drop, exist_ok=True)
            os.chmod(drop, 0o1777)
            prefix = os.path.join(drop, "callgrind.out.%d" % n)
            for old in glob.glob(os.path.join(self.out,
                                              "callgrind.out.%d.*" % n)):
                os.unlink(old)
            p = Poplard(self.world, self.build, tls=False,
                        label="poplard-callgrind-%d" % n, threads=1,
                        extra_server={"plugin-threads": "1",
                                      "log-level": "warning"},
                        valgrind=["valgrind", "--tool=callgrind",
                                  "--trace-children=yes",
                                  "--callgrind-out-file=" + prefix + ".%p"])
            p.write_config(tls=False)
            self.log("callgrind: %d sessions" % n)
            p.start()
            try:
                self.bench(p, "rate", extra=["--concurrency", "1",
                                             "--threads", "1",
                                             "--sessions", str(n),
                                             "--timeout", "120"],
                           kind="callgrind-%d" % n, timeout=600)
            finally:
                p.stop(timeout=120)
            files = []
            for f in glob.glob(prefix + ".*"):
                files.append(shutil.copy(f, self.out))
            counts = [callgrind_total(f) for f in files]
            totals[n] = None if None in counts or not counts else sum(counts)
            hashing[n] = sum(callgrind_inclusive(f, "crypt_rn") for f in files)
            # The worker, where the sessions run, has the most.
            out = max(files, key=lambda f: callgrind_total(f) or 0,
                      default=None)
            if n == n2 and out:
                with open(os.path.join(self.out, "callgrind-top.txt"),
                          "w") as f:
                    r = subprocess.run(["callgrind_annotate", out],
                                       capture_output=True, text=True,
                                       stdin=subprocess.DEVNULL, timeout=120)
                    f.write(r.stdout)
                r2 = subprocess.run(["callgrind_annotate", "--inclusive=yes",
                                     out], capture_output=True, text=True,
                                    stdin=subprocess.DEVNULL, timeout=120)
                with open(os.path.join(self.out,
                                       "callgrind-inclusive.txt"), "w") as f:
                    f.write(r2.stdout)
        if None not in totals.values():
            per = (totals[n2] - totals[n1]) / (n2 - n1)
            res = {"scenario": "callgrind", "kind": "callgrind",
                   "server_label": "poplard", "sessions": [n1, n2],
                   "instructions": [totals[n1], totals[n2]],
                   "instructions_per_session": per,
                   "password_hash_per_session":
                       (hashing[n2] - hashing[n1]) / (n2 - n1)}
            self.keep(res)

    def perf(self):
        if not shutil.which("perf"):
            self.notes.append("perf is missing: no CPU profile")
            return
        base = ["--concurrency", str(self.concurrency), "--threads", "2",
                "--duration", "4"]
        runs = [("rate-plain", False, "rate")]
        if self.poplard.tls_port:
            runs.append(("rate-tls-full", True, "rate"))
        runs.append(("retr-plain", False, "retr"))
        for kind, tls, scenario in runs:
            data = os.path.join(self.out, "perf-%s.data" % kind)
            self.log("perf: poplard %s" % kind)
            rec = subprocess.Popen(
                ["perf", "record", "-e", "cpu-clock", "-F", "1999", "-g",
                 "-o", data, "-p",
                 ",".join(str(p) for p in process_tree(self.poplard.pid())),
                 "--",
                 "sleep", "4.5"], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if scenario == "rate":
                self.bench(self.poplard, "rate", tls=tls, extra=base,
                           kind="perf-" + kind)
            else:
                end = time.monotonic() + 4
                while time.monotonic() < end:
                    self.bench(self.poplard, "retr", users=["--user", "retr"],
                               extra=["--pipeline", "8"], kind="perf-" + kind)
            _, err = rec.communicate(timeout=60)
            if rec.returncode != 0:
                self.notes.append("perf record failed: %s" %
                                  err.decode(errors="replace")[-300:])
                return
            for mode, extra in (
                    ("self", ["--no-children", "--sort", "dso,symbol"]),
                    ("children", ["--children", "--sort", "dso,symbol"]),
                    ("dso", ["--no-children", "--sort", "dso"])):
                r = subprocess.run(
                    ["perf", "report", "--stdio", "-i", data, "-g", "none",
                     "--percent-limit", "0.5"] + extra,
                    capture_output=True, text=True, stdin=subprocess.DEVNULL,
                    timeout=120)
                with open(os.path.join(self.out, "perf-%s-%s.txt" % (
                        kind, mode)), "w") as f:
                    f.write(r.stdout)
            os.unlink(data)

    # -- the whole run

    def against_dovecot(self, wanted):
        """The scenarios of the shared world: poplard, Dovecot tuned and
        stock, the ceilings and the profiles."""
        self.setup()
        self.ceiling_start()
        self.warm_up()
        if wanted("rate"):
            self.rate()
        self.ceiling_stop()
        if wanted("syscalls"):
            self.syscalls()
        if wanted("list"):
            self.list_cold_warm()
        if wanted("curve"):
            self.curve()
        if wanted("retr"):
            self.retr()
        if wanted("idle"):
            self.hold(self.hold_k, False, "idle-plain")
            if self.poplard.tls_port:
                self.hold(self.hold_k, True, "idle-tls")
        if wanted("scale"):
            self.hold(self.scale_k, False, "scale")
        if wanted("profile") and not self.args.no_profile:
            self.perf()
            self.stop()
            self.callgrind()
        # The SQL rows come next, on their own servers.
        self.stop()

    def run(self):
        load_start = loadavg()
        try:
            want = self.args.only.split(",") if self.args.only else None

            def wanted(step):
                return want is None or step in want
            # The like-for-like rows first, on a quiet machine; they, sql
            # and proxy need none of the big world and its servers.
            if wanted("like"):
                self.like()
            if wanted("sweep"):
                self.sweep()
            if wanted("tls"):
                self.tls()
            if want is None or set(want) - STANDALONE:
                self.against_dovecot(wanted)
            if wanted("sql"):
                self.sql()
            if wanted("proxy"):
                self.proxy()
        finally:
            self.stop()
            if getattr(self, "ceiling", None) and self.ceiling.proc.poll() is None:
                self.ceiling_stop()
            if self.world and not self.args.keep:
                self.world.cleanup()
        self.report(load_start)

    def report(self, load_start):
        # Other work on the machine shows in every figure: say how much.
        self.notes.append("load average (1, 5, 15 min) at the start: %s, at "
                          "the end: %s" % (load_start, loadavg()))
        report = bench_report.Report(
            self.results, self.notes,
            self.world or self.like_world or self.sweep_world or
            self.tls_world or self.sql_world or self.proxy_world, self.args)
        text = report.text()
        with open(os.path.join(self.out, "summary.txt"), "w") as f:
            f.write(text)
        with open(os.path.join(self.out, "summary.json"), "w") as f:
            json.dump(report.summary(), f, indent=1)
        sys.stdout.write("\n" + text)
        for name in bench_charts.write(self.out, self.out):
            self.log("chart: %s" % name)
        self.log("done; results in %s" % self.out)
        if self.args.keep:
            for w in (self.world, self.like_world, self.sweep_world,
                      self.tls_world, self.sql_world, self.proxy_world):
                if w:
                    self.log("kept %s" % w.root)


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def default_tmp():
    """/dev/shm when it has room: the benchmark measures the servers, not
    this machine's disk (the world is about 3 GB: four copies of the mail,
    each with a 100,000-message Maildir)."""
    try:
        st = os.statvfs("/dev/shm")
        if st.f_bavail * st.f_frsize > 8 * 1024 ** 3:
            return "/dev/shm"
    except OSError:
        pass
    return None


def callgrind_inclusive(path, symbol):
    """Instructions spent in @symbol and what it calls."""
    r = subprocess.run(["callgrind_annotate", "--inclusive=yes", path],
                       capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=120)
    for line in r.stdout.splitlines():
        if (":%s " % symbol) in line:
            return int(line.split()[0].replace(",", ""))
    return 0


def callgrind_total(path):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("summary:") or line.startswith("totals:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True, help="meson build directory")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", help="results directory (BUILD/bench-results)")
    ap.add_argument("--tmp", help="where the temporary world goes "
                    "(/dev/shm when it has 8 GB free, else /tmp)")
    ap.add_argument("--quick", action="store_true",
                    help="small data and short runs, to try the benchmark")
    ap.add_argument("--no-profile", action="store_true",
                    help="skip perf and callgrind")
    ap.add_argument("--only", help="comma-separated steps: like, sweep, "
                    "tls, rate, syscalls, list, curve, retr, idle, scale, "
                    "sql, proxy, profile (default: all); --only with like, "
                    "sweep, tls, sql and proxy alone starts only those "
                    "rows' servers")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary world")
    args = ap.parse_args()
    if args.tmp is None:
        args.tmp = default_tmp()
    if os.geteuid() != 0:
        sys.exit("run-bench: needs root (Dovecot's privilege separation "
                 "and chown of the test mail)")
    for prog in ("dovecot", "doveconf", "openssl"):
        if not shutil.which(prog):
            sys.exit("run-bench: %s is missing (make bench installs it)" %
                     prog)
    # SIGTERM ends the run like ^C: the servers are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit("run-bench: terminated"))
    Bench(args).run()


if __name__ == "__main__":
    main()
