# SPDX-License-Identifier: MIT
"""Smoke run of poplar-bench against poplard: every scenario once, briefly,
checking that the tool works and that its numbers are sane.  No timing
thresholds: how fast anything is belongs to `make bench`."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

from poplartest import PoplarTestCase, require_environment, main

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_syscalls  # noqa: E402

BENCH = os.environ.get("POPLAR_BENCH", "")
MESSAGE = (b"From: a@example.org\nTo: b@example.org\nSubject: smoke\n\n" +
           b"line of a message body\n" * 40 + b".starts with a dot\n")


class BenchSmoke(PoplarTestCase):

    def setUp(self):
        if not BENCH or not os.access(BENCH, os.X_OK):
            self.skipTest("POPLAR_BENCH is not set")
        self.srv = self.server(start=False)
        self.srv.add_users("bench", 8, "pw", [MESSAGE] * 5)
        self.srv.start(server={"log-level": "info",
                               "max-connections-per-ip": "1000"})
        fd, self.json = tempfile.mkstemp(prefix="bench-smoke-",
                                         suffix=".json")
        os.close(fd)
        self.addCleanup(os.unlink, self.json)

    def bench(self, *args):
        cmd = [BENCH, "--port", str(self.srv.port), "--user-prefix", "bench",
               "--user-count", "8", "--password", "pw", "--json", self.json,
               "--quiet", "--timeout", "10"] + list(args)
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=40)
        self.assertEqual(r.returncode, 0, "%s failed: %s" % (
            " ".join(cmd), r.stderr.decode(errors="replace")))
        with open(self.json) as f:
            lines = [l for l in f.read().splitlines() if l.strip()]
        return json.loads(lines[-1])

    def test_rate(self):
        r = self.bench("--scenario", "rate", "--concurrency", "4",
                       "--duration", "2")
        self.assertEqual(r["scenario"], "rate")
        self.assertEqual(r["errors"], 0, r.get("first_error"))
        self.assertGreater(r["sessions"], 0)
        self.assertGreater(r["sessions_per_s"], 0)
        self.assertLessEqual(r["p50_ms"], r["p99_ms"])
        self.assertGreater(r["p50_ms"], 0)

    def test_rate_fixed_count(self):
        r = self.bench("--scenario", "rate", "--concurrency", "1",
                       "--threads", "1", "--sessions", "10")
        self.assertEqual(r["sessions"], 10)
        self.assertEqual(r["errors"], 0, r.get("first_error"))

    def test_syscalls_per_session(self):
        """The count of make bench's system-calls row: strace on master and
        worker while a fixed number of sessions runs.  The figure must be
        plausible for a login, a STAT and a QUIT (a few dozen calls), not
        zero and not the sum of idle polling."""
        if not shutil.which("strace"):
            self.skipTest("strace is not installed")
        out = os.path.join(self.srv.dir, "strace.txt")
        # The worker must exist before strace attaches to the process tree.
        self.srv.wait_for_log(r"poplard \S+ ready \(\d+ workers?\)")

        def run():
            r = self.bench("--scenario", "rate", "--concurrency", "4",
                           "--sessions", "100")
            self.assertEqual(r["errors"], 0, r.get("first_error"))
            return r["sessions"]
        res = bench_syscalls.per_session(self.srv.pids()[0], out, run)
        self.assertEqual(res["sessions"], 100)
        self.assertGreater(res["syscalls_per_session"], 15, res)
        self.assertLess(res["syscalls_per_session"], 400, res)
        with open(out) as f:
            self.assertIn("accept4", f.read())

    def test_list(self):
        r = self.bench("--scenario", "list", "--repeat", "3")
        self.assertEqual(r["messages"], 5)
        self.assertEqual(r["sessions"], 3)
        self.assertGreater(r["warm_uidl_list_ms"], 0)
        # LIST: "n size\r\n" per message; UIDL: "n uid\r\n".
        self.assertGreaterEqual(r["list_octets"], 5 * 6)
        self.assertGreaterEqual(r["uidl_octets"], 5 * 6)

    def test_retr(self):
        r = self.bench("--scenario", "retr", "--pipeline", "3")
        self.assertEqual(r["messages"], 5)
        # Bodies arrive in CRLF form, dot-stuffed, with the final ".\r\n".
        self.assertGreaterEqual(r["received_octets"], r["octets"])
        self.assertGreater(r["mb_per_s"], 0)

    def test_hold(self):
        r = self.bench("--scenario", "hold", "--count", "8",
                       "--concurrency", "4", "--hold", "0.2",
                       "--server-pid", str(self.srv.proc.pid))
        self.assertEqual(r["held"], 8)
        self.assertEqual(r["served"], 8)
        self.assertEqual(r["closed"], 8)
        self.assertGreater(r["server_pss_held_kib"], 0)
        # Sane, not a target: less than 10 MiB per idle session.
        self.assertLess(abs(r["kib_per_session"]), 10 * 1024)


if __name__ == "__main__":
    require_environment()
    main()
