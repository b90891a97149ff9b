# SPDX-License-Identifier: MIT
"""Smoke run of the SQL rows of `make bench` (run-bench.py --only sql,
quick, one round): PostgreSQL, both poplard and both Dovecot instances
start, every login of every server goes through, and the summary has both
rows.  No timing thresholds: how fast anything is belongs to `make bench`.
Needs root, Dovecot with its PostgreSQL driver and PostgreSQL; skipped
without them."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_sql  # noqa: E402

BUILD = os.environ.get("POPLAR_BUILD", "")


class SqlRowsSmoke(unittest.TestCase):

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (Dovecot's privilege separation)")
        for prog in ("dovecot", "doveconf", "openssl"):
            if not shutil.which(prog):
                self.skipTest("%s is missing" % prog)
        why = bench_sql.missing()
        if why:
            self.skipTest(why)
        if not BUILD or not os.path.exists(os.path.join(
                BUILD, "plugins", "auth-sql-pgsql", "auth-sql-pgsql.so")):
            self.skipTest("auth-sql-pgsql is not built")
        self.out = tempfile.mkdtemp(prefix="bench-sql-smoke-")
        self.addCleanup(shutil.rmtree, self.out, True)

    def test_sql_rows(self):
        r = subprocess.run(
            [sys.executable, os.path.join(HERE, "run-bench.py"), "--build",
             BUILD, "--only", "sql", "--quick", "--rounds", "1", "--out",
             self.out, "--tmp", tempfile.gettempdir()],
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=240)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(os.path.join(self.out, "results.jsonl")) as f:
            results = [json.loads(line) for line in f]
        labels = [label for _, p, d in bench_sql.ROWS for label in (p, d)]
        for label in labels:
            mine = [x for x in results if x.get("label") == label and
                    x.get("scenario") == "rate"]
            # the warm-up and the measured round
            self.assertEqual(len(mine), 2, (label, r.stdout))
            for x in mine:
                self.assertGreater(x["sessions"], 0, x)
                self.assertEqual(x["errors"], 0, x)
        with open(os.path.join(self.out, "summary.json")) as f:
            rows = json.load(f)["sql_rows"]
        self.assertEqual([x["scenario"] for x in rows],
                         [title for title, _, _ in bench_sql.ROWS])
        for x in rows:
            self.assertGreater(x["poplard"], 0, x)
            self.assertGreater(x["dovecot"], 0, x)
        self.assertIn("SQL login rate (PostgreSQL), no verify cache",
                      r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
