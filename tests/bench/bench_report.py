# SPDX-License-Identifier: MIT
"""The table `make bench` prints: medians over the rounds, poplard's ratio
to Dovecot tuned and stock, its fraction of the machine's ceilings, and
each target of the performance issue met or missed."""

import os
import platform
import statistics
import subprocess

import bench_like
import bench_proxy
import bench_sql
import bench_sweep
import bench_tls

POPLARD = "poplard"
TUNED = "dovecot-tuned"
STOCK = "dovecot-stock"


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except (OSError, ValueError):
        pass
    dovecot = subprocess.run(["dovecot", "--version"], capture_output=True,
                             text=True).stdout.strip()
    gnutls = subprocess.run(["gnutls-cli", "--version"], capture_output=True,
                            text=True).stdout.splitlines()
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_mib": mem,
            "kernel": platform.release(), "dovecot": dovecot,
            "gnutls": gnutls[0] if gnutls else "?"}


class Report:
    def __init__(self, results, notes, world, args):
        self.results = results
        self.notes = notes
        self.world = world
        self.args = args

    def values(self, kind, server, metric):
        return [r[metric] for r in self.results
                if r.get("kind") == kind and r.get("server_label") == server
                and isinstance(r.get(metric), (int, float))]

    def median(self, kind, server, metric):
        v = self.values(kind, server, metric)
        return statistics.median(v) if v else None

    def rows(self):
        """(scenario, metric, unit, better, poplard, tuned, stock, n)"""
        spec = [
            ("session rate, plain (C=32)", "rate-plain", "sessions_per_s",
             "/s", "higher"),
            ("  p50 latency", "rate-plain", "p50_ms", "ms", "lower"),
            ("  p99 latency", "rate-plain", "p99_ms", "ms", "lower"),
            ("system calls per plain session", "syscalls-plain",
             "syscalls_per_session", "", "lower"),
            ("session rate, TLS full", "rate-tls-full", "sessions_per_s",
             "/s", "higher"),
            ("  p99 latency", "rate-tls-full", "p99_ms", "ms", "lower"),
            ("session rate, TLS resumed", "rate-tls-resumed",
             "sessions_per_s", "/s", "higher"),
            ("UIDL+LIST 10k, cold session", "list-10k", "first_session_ms",
             "ms", "lower"),
            ("UIDL+LIST 10k, warm session", "list-10k", "warm_session_ms",
             "ms", "lower"),
            ("  warm UIDL+LIST only", "list-10k", "warm_uidl_list_ms", "ms",
             "lower"),
            ("UIDL+LIST 10k, settled session", "list-10k-settled",
             "warm_session_ms", "ms", "lower"),
            ("  settled UIDL+LIST only", "list-10k-settled",
             "warm_uidl_list_ms", "ms", "lower"),
        ]
        for n in self.world.list_sizes:
            spec.append(("curve: %dk msgs, warm session" % (n // 1000),
                         "curve-%d" % n, "warm_session_ms", "ms", "lower"))
        spec += [
            ("RETR ~%d MB, plain" % self.world.retr_mb, "retr-plain",
             "mb_per_s", "MB/s", "higher"),
            ("RETR ~%d MB, TLS" % self.world.retr_mb, "retr-tls", "mb_per_s",
             "MB/s", "higher"),
            ("idle session memory, plain", "idle-plain", "kib_per_session",
             "KiB", "lower"),
            ("idle session memory, TLS", "idle-tls", "kib_per_session",
             "KiB", "lower"),
            ("scale: sessions held", "scale", "held", "", "higher"),
            ("scale: sessions served", "scale", "served", "", "higher"),
            ("scale: memory per session", "scale", "kib_per_session", "KiB",
             "lower"),
            ("scale: all logged in", "scale", "login_all_s", "s", "lower"),
            ("scale: all served (STAT)", "scale", "serve_all_s", "s",
             "lower"),
        ]
        out = []
        for title, kind, metric, unit, better in spec:
            p = self.median(kind, POPLARD, metric)
            t = self.median(kind, TUNED, metric)
            s = self.median(kind, STOCK, metric)
            n = len(self.values(kind, POPLARD, metric))
            out.append((title, kind, metric, unit, better, p, t, s, n))
        return out

    def like_rows(self):
        """(title, poplard, dovecot, rounds) of the like-for-like rows that
        ran: sessions/s, medians over the rounds."""
        out = []
        for title, poplard, dovecot, _ in bench_like.ROWS:
            p = self.median(bench_like.KIND, poplard, "sessions_per_s")
            d = self.median(bench_like.KIND, dovecot, "sessions_per_s")
            if p is None and d is None:
                continue
            out.append((title, p, d, len(self.values(
                bench_like.KIND, poplard, "sessions_per_s"))))
        return out

    def sweep_rows(self):
        """(clients, poplard, dovecot, rounds) of the sweep: sessions/s,
        medians over the rounds."""
        out = []
        for n in sorted({r["concurrency"] for r in self.results
                         if r.get("kind") == bench_sweep.KIND}):
            v = [[r["sessions_per_s"] for r in self.results
                  if r.get("kind") == bench_sweep.KIND
                  and r.get("server_label") == label
                  and r.get("concurrency") == n] for label in (
                      bench_sweep.POPLARD, bench_sweep.DOVECOT)]
            out.append((n, statistics.median(v[0]) if v[0] else None,
                        statistics.median(v[1]) if v[1] else None,
                        len(v[0])))
        return out

    def tls_rows(self, metric="sessions_per_s"):
        """(certificate, poplard, dovecot, GnuTLS loop, GnuTLS signatures/s,
        OpenSSL signatures/s, rounds) of the TLS rows: medians of @metric
        (sessions per second, or per second of the server's CPU time)."""
        out = []
        for cert in bench_tls.CERTS:
            m = [self.median(bench_tls.KIND, fmt % cert, metric)
                 for fmt in (bench_tls.POPLARD, bench_tls.DOVECOT,
                             bench_tls.CEILING)]
            m += [self.median(bench_tls.SIGN_KIND, fmt % cert, "signs_per_s")
                  for fmt in (bench_tls.SIGN_GNUTLS, bench_tls.SIGN_OPENSSL)]
            if all(v is None for v in m):
                continue
            out.append(tuple([bench_tls.CERT_TITLE[cert]] + m + [len(
                self.values(bench_tls.KIND, bench_tls.POPLARD % cert,
                            "sessions_per_s"))]))
        return out

    def sql_rows(self):
        """(title, poplard, dovecot, rounds) of the SQL rows that ran:
        sessions/s, medians over the rounds."""
        out = []
        for title, poplard, dovecot in bench_sql.ROWS:
            p = self.median(bench_sql.KIND, poplard, "sessions_per_s")
            d = self.median(bench_sql.KIND, dovecot, "sessions_per_s")
            if p is None and d is None:
                continue
            out.append((title, p, d, len(self.values(
                bench_sql.KIND, poplard, "sessions_per_s"))))
        return out

    def proxy_rows(self):
        """(title, unit, through the proxy, direct, rounds) of the proxy
        rows that ran: medians over the rounds."""
        out = []
        for title, kind, metric, unit in bench_proxy.ROWS:
            p = self.median(kind, bench_proxy.PROXIED, metric)
            d = self.median(kind, bench_proxy.DIRECT, metric)
            if p is None and d is None:
                continue
            out.append((title, unit, p, d, len(self.values(
                kind, bench_proxy.PROXIED, metric))))
        return out

    def rows_ran(self):
        return any(r[5] is not None or r[6] is not None
                   for r in self.rows())

    def ceilings(self):
        return {
            "tls_full": self.median("ceiling-tls-full", "gnutls-ceiling",
                                    "sessions_per_s"),
            "tls_resumed": self.median("ceiling-tls-resumed",
                                       "gnutls-ceiling", "sessions_per_s"),
            "copy": self.median("ceiling-copy", "copy-ceiling", "mb_per_s"),
        }

    def targets(self):
        m = self.median
        c = self.ceilings()
        out = []

        def ratio(a, b):
            return a / b if a is not None and b else None

        def add(name, value, goal, ok_fn, fmt="%.2f"):
            if value is None:
                out.append((name, "n/a", goal, "n/a"))
            else:
                out.append((name, fmt % value, goal,
                            "met" if ok_fn(value) else "MISSED"))

        add("session rate plain / Dovecot tuned",
            ratio(m("rate-plain", POPLARD, "sessions_per_s"),
                  m("rate-plain", TUNED, "sessions_per_s")),
            ">= 5x", lambda v: v >= 5)
        add("session rate TLS full / Dovecot tuned",
            ratio(m("rate-tls-full", POPLARD, "sessions_per_s"),
                  m("rate-tls-full", TUNED, "sessions_per_s")),
            ">= 2x", lambda v: v >= 2)
        add("session rate TLS full / GnuTLS handshake ceiling",
            ratio(m("rate-tls-full", POPLARD, "sessions_per_s"),
                  c["tls_full"]), ">= 0.85", lambda v: v >= 0.85)
        add("session rate TLS resumed / TLS full",
            ratio(m("rate-tls-resumed", POPLARD, "sessions_per_s"),
                  m("rate-tls-full", POPLARD, "sessions_per_s")),
            ">= 2x", lambda v: v >= 2)
        add("UIDL+LIST 10k warm session time / Dovecot tuned",
            ratio(m("list-10k", POPLARD, "warm_session_ms"),
                  m("list-10k", TUNED, "warm_session_ms")),
            "<= 0.3x", lambda v: v <= 0.3)
        add("UIDL+LIST 10k settled session time / Dovecot tuned",
            ratio(m("list-10k-settled", POPLARD, "warm_session_ms"),
                  m("list-10k-settled", TUNED, "warm_session_ms")),
            "<= 0.3x", lambda v: v <= 0.3)
        add("UIDL+LIST 10k cold session time / Dovecot tuned",
            ratio(m("list-10k", POPLARD, "first_session_ms"),
                  m("list-10k", TUNED, "first_session_ms")),
            "<= 1x", lambda v: v <= 1)
        add("RETR plain / Dovecot tuned",
            ratio(m("retr-plain", POPLARD, "mb_per_s"),
                  m("retr-plain", TUNED, "mb_per_s")),
            ">= 1.5x", lambda v: v >= 1.5)
        add("RETR plain / loopback copy ceiling",
            ratio(m("retr-plain", POPLARD, "mb_per_s"), c["copy"]),
            ">= 0.6", lambda v: v >= 0.6)
        add("idle session memory, plain (KiB PSS)",
            m("idle-plain", POPLARD, "kib_per_session"), "<= 32",
            lambda v: v <= 32, "%.1f")
        add("idle session memory, TLS (KiB PSS)",
            m("idle-tls", POPLARD, "kib_per_session"), "<= 64",
            lambda v: v <= 64, "%.1f")
        held = m("scale", POPLARD, "served")
        add("concurrent sessions held and served",
            held, ">= 10000", lambda v: v >= 10000, "%d")
        sizes = self.world.list_sizes
        per = []
        for n in sizes:
            v = m("curve-%d" % n, POPLARD, "warm_session_ms")
            per.append(v / n * 1000 if v is not None else None)
        if None not in per and len(per) >= 2:
            growth = per[-1] / per[1]
            add("LIST/UIDL cost per message, %dk vs %dk" % (
                sizes[-1] // 1000, sizes[1] // 1000), growth,
                "~1 (linear)", lambda v: v <= 1.5)
        else:
            add("LIST/UIDL cost per message", None, "~1 (linear)", None)
        return out

    def summary(self):
        return {
            "machine": machine(),
            "rounds": self.args.rounds,
            "rows": [dict(zip(("scenario", "kind", "metric", "unit",
                               "better", "poplard", "dovecot_tuned",
                               "dovecot_stock", "rounds"), r))
                     for r in self.rows()],
            "like_rows": [dict(zip(("scenario", "poplard", "dovecot",
                                    "rounds"), r)) for r in self.like_rows()],
            "sweep_rows": [dict(zip(("clients", "poplard", "dovecot",
                                     "rounds"), r))
                           for r in self.sweep_rows()],
            "tls_rows": [dict(zip(("certificate", "poplard", "dovecot",
                                   "gnutls_loop", "gnutls_signs_per_s",
                                   "openssl_signs_per_s", "rounds"), r))
                         for r in self.tls_rows()],
            "tls_rows_per_cpu_s": [
                dict(zip(("certificate", "poplard", "dovecot", "gnutls_loop",
                          "gnutls_signs_per_s", "openssl_signs_per_s",
                          "rounds"), r))
                for r in self.tls_rows("sessions_per_cpu_s")],
            "sql_rows": [dict(zip(("scenario", "poplard", "dovecot",
                                   "rounds"), r)) for r in self.sql_rows()],
            "proxy_rows": [dict(zip(("scenario", "unit", "proxied", "direct",
                                     "rounds"), r))
                           for r in self.proxy_rows()],
            "ceilings": self.ceilings(),
            "targets": [dict(zip(("target", "value", "goal", "status"), t))
                        for t in self.targets()],
            "callgrind": next((r for r in self.results
                               if r.get("kind") == "callgrind"), None),
            "notes": self.notes,
        }

    def text(self):
        def f(v):
            if v is None:
                return "n/a"
            if isinstance(v, float) and abs(v) < 10:
                return "%.3g" % v
            return "%.0f" % v

        def ratio(a, b):
            if a is None or not b:
                return "n/a"
            return "%.2fx" % (a / b)

        mach = machine()
        lines = ["Poplar benchmark: poplard vs Dovecot %s on %d CPU(s) "
                 "(%s), %d MiB, kernel %s; medians of %d rounds" % (
                     mach["dovecot"].split()[0] if mach["dovecot"] else "?",
                     mach["cpus"], mach["cpu"], mach["memory_mib"],
                     mach["kernel"], self.args.rounds), ""]
        like = self.like_rows()
        if like:
            lines += [
                "Like for like: the same password scheme, no login cache on "
                "either side, each server pinned to one core and the client "
                "to another; poplard vs Dovecot tuned [sessions/s]:",
                "%-62s %8s %8s %8s" % ("", "poplard", "dovecot", "p/d")]
            for title, p, d, n in like:
                lines.append("%-62s %8s %8s %8s" % (title, f(p), f(d),
                                                   ratio(p, d)))
            lines.append("")
        sweep = self.sweep_rows()
        if sweep:
            lines += [
                "Plain session rate against concurrent clients, like for "
                "like ({PLAIN}, one core per server) [sessions/s]:",
                "%-12s %8s %8s %8s" % ("clients", "poplard", "dovecot",
                                       "p/d")]
            for n, p, d, _ in sweep:
                lines.append("%-12d %8s %8s %8s" % (n, f(p), f(d),
                                                   ratio(p, d)))
            lines.append("")
        for metric, what in (("sessions_per_s", "sessions/s"),
                             ("sessions_per_cpu_s",
                              "sessions per second of the server's CPU")):
            tls = self.tls_rows(metric)
            if not tls or all(r[1] is None for r in tls):
                continue
            lines += [
                "Full TLS 1.3 handshakes, like for like ({PLAIN}, one core "
                "per server) [%s], and signatures per CPU second on that "
                "core:" % what,
                "%-12s %8s %8s %8s %8s %9s %9s %9s" % (
                    "certificate", "poplard", "dovecot", "p/d", "gnutls",
                    "p/gnutls", "sign-gtls", "sign-ossl")]
            for cert, p, d, c, sg, so, _ in tls:
                lines.append("%-12s %8s %8s %8s %8s %9s %9s %9s" % (
                    cert, f(p), f(d), ratio(p, d), f(c),
                    "%.0f%%" % (100 * p / c) if p and c else "n/a",
                    f(sg), f(so)))
            lines.append("")
        head = ("%-34s %11s %11s %11s %9s %9s" % (
            "scenario", "poplard", "dc-tuned", "dc-stock", "p/tuned",
            "p/stock"))
        if self.rows_ran():
            lines += [head, "-" * len(head)]
        for title, kind, metric, unit, better, p, t, s, n in self.rows():
            if p is None and t is None and s is None:
                continue
            u = (" " + unit) if unit else ""
            lines.append("%-34s %11s %11s %11s %9s %9s" % (
                title + (" [%s]" % unit if unit else ""), f(p), f(t), f(s),
                ratio(p, t), ratio(p, s)))
        sql = self.sql_rows()
        if sql:
            lines += ([""] if self.rows_ran() else []) + [
                "Logins through SQL: PostgreSQL, Postfix Admin's mailbox "
                "table, {SHA512-CRYPT} (5000 rounds); poplard auth-sql-pgsql "
                "vs Dovecot tuned's SQL passdb [sessions/s]:",
                "%-70s %8s %8s %8s" % ("", "poplard", "dovecot", "p/d")]
            for title, p, d, n in sql:
                lines.append("%-70s %8s %8s %8s" % (title, f(p), f(d),
                                                   ratio(p, d)))
        proxied = self.proxy_rows()
        if proxied:
            lines += [""] + [
                "Proxy mode: poplard relaying to a poplard backend vs that "
                "backend directly:",
                "%-40s %10s %10s %8s" % ("", "proxied", "direct", "p/d")]
            for title, unit, p, d, n in proxied:
                lines.append("%-40s %10s %10s %8s" % (
                    title + (" [%s]" % unit), f(p), f(d), ratio(p, d)))
        if not self.rows_ran():
            # Only the SQL or proxy rows ran: no ceilings, no targets.
            if self.notes:
                lines += ["", "Notes:"] + ["  - " + n for n in self.notes]
            return "\n".join(lines) + "\n"
        c = self.ceilings()
        p_full = self.median("rate-tls-full", POPLARD, "sessions_per_s")
        p_res = self.median("rate-tls-resumed", POPLARD, "sessions_per_s")
        p_retr = self.median("retr-plain", POPLARD, "mb_per_s")
        lines += ["", "Ceilings of this machine (same client, same "
                  "certificate and priority):"]
        for name, val, unit, mine in (
                ("GnuTLS handshake loop, full", c["tls_full"], "/s", p_full),
                ("GnuTLS handshake loop, resumed", c["tls_resumed"], "/s",
                 p_res),
                ("loopback copy of the RETR mailbox", c["copy"], "MB/s",
                 p_retr)):
            lines.append("  %-36s %9s %-5s poplard: %s of it" % (
                name, f(val), unit,
                "%.0f%%" % (100 * mine / val) if mine and val else "n/a"))
        cg = next((r for r in self.results if r.get("kind") == "callgrind"),
                  None)
        if cg:
            lines.append("  callgrind: %.0f instructions per session "
                         "(USER/PASS/STAT/QUIT, threads=1), %.0f of them "
                         "in the SHA512-CRYPT password check" % (
                             cg["instructions_per_session"],
                             cg.get("password_hash_per_session", 0)))
        lines += ["", "Targets (issue 6):"]
        for name, value, goal, status in self.targets():
            lines.append("  %-52s %8s  goal %-12s %s" % (name, value, goal,
                                                         status))
        if self.notes:
            lines += ["", "Notes:"] + ["  - " + n for n in self.notes]
        return "\n".join(lines) + "\n"
