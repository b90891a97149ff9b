# SPDX-License-Identifier: MIT
"""Smoke run of the proxy rows of `make bench` (run-bench.py --only proxy,
quick, one round): a poplard backend and a poplard proxy in front of it
start, every session and every RETR through either of them succeeds, and
the summary has the rows.  No timing thresholds: how fast anything is
belongs to `make bench`.  Needs root (the servers drop to nobody)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_proxy  # noqa: E402

BUILD = os.environ.get("POPLAR_BUILD", "")


class ProxyRowsSmoke(unittest.TestCase):

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (the servers drop to user nobody)")
        if not shutil.which("openssl"):
            self.skipTest("openssl is missing")
        self.out = tempfile.mkdtemp(prefix="bench-proxy-smoke-")
        self.addCleanup(shutil.rmtree, self.out, True)

    def test_proxy_rows(self):
        r = subprocess.run(
            [sys.executable, os.path.join(HERE, "run-bench.py"), "--build",
             BUILD, "--only", "proxy", "--quick", "--rounds", "1", "--out",
             self.out, "--tmp", tempfile.gettempdir()],
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=240)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(os.path.join(self.out, "results.jsonl")) as f:
            results = [json.loads(line) for line in f]
        for label in (bench_proxy.DIRECT, bench_proxy.PROXIED):
            for scenario, kind in (("rate", "proxy-rate"),
                                   ("retr", "proxy-retr")):
                mine = [x for x in results if x.get("label") == label and
                        x.get("scenario") == scenario and
                        x.get("errors") is not None]
                self.assertTrue(mine, (label, kind, r.stdout))
                for x in mine:
                    self.assertEqual(x["errors"], 0, x)
        with open(os.path.join(self.out, "summary.json")) as f:
            rows = json.load(f)["proxy_rows"]
        self.assertEqual([x["scenario"] for x in rows],
                         [title for title, _, _, _ in bench_proxy.ROWS])
        for x in rows:
            self.assertGreater(x["proxied"], 0, x)
            self.assertGreater(x["direct"], 0, x)
        self.assertIn("Proxy mode: poplard relaying", r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
