# SPDX-License-Identifier: MIT
"""bench_charts.py draws SVG that XML parsers read, one polyline per
server where a chart has lines, one bar per server and group where it has
bars, higher values drawn higher; and the charts committed under
docs/performance/ parse."""

import glob
import json
import os
import shutil
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_charts  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


def results():
    """Two rounds of every step the charts draw, as run-bench.py writes
    them to results.jsonl."""
    out = []
    for rnd in range(2):
        for n, p, d in ((1, 900, 300), (16, 3600, 690), (256, 3500, 700)):
            out.append({"kind": "sweep-rate", "server_label": "poplard-sweep",
                        "concurrency": n, "sessions_per_s": p + rnd})
            out.append({"kind": "sweep-rate", "server_label": "dovecot-sweep",
                        "concurrency": n, "sessions_per_s": d + rnd})
        for n in (1000, 10000, 100000):
            for label, per in (("poplard", 0.0004), ("dovecot-tuned", 0.002),
                               ("dovecot-stock", 0.0021)):
                out.append({"kind": "curve-%d" % n, "server_label": label,
                            "warm_session_ms": per * n + 0.5})
        for label, rate in (("poplard", 1200), ("dovecot-tuned", 310),
                            ("dovecot-stock", 300)):
            out.append({"kind": "retr-plain", "server_label": label,
                        "mb_per_s": rate})
            out.append({"kind": "retr-tls", "server_label": label,
                        "mb_per_s": rate / 2})
        out.append({"kind": "ceiling-copy", "server_label": "copy-ceiling",
                    "mb_per_s": 2400})
        # The settling session before the curve: not a point of it.
        out.append({"kind": "curve-settle", "server_label": "poplard",
                    "warm_session_ms": 1e6})
        # A line of an older run, without a kind: left out.
        out.append({"scenario": "rate", "label": "poplard",
                    "sessions_per_s": 1})
    return out


class Charts(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="bench-charts-")
        self.addCleanup(shutil.rmtree, self.dir)
        with open(os.path.join(self.dir, "results.jsonl"), "w") as f:
            for r in results():
                f.write(json.dumps(r) + "\n")
        self.written = bench_charts.write(self.dir,
                                          os.path.join(self.dir, "out"))

    def chart(self, name):
        path = os.path.join(self.dir, "out", name)
        self.assertIn(path, self.written)
        return ET.parse(path).getroot()

    def test_only_charts_with_data(self):
        # No TLS rows in the results: no TLS chart.
        self.assertEqual(sorted(os.path.basename(p) for p in self.written),
                         ["listing-time.svg", "retr-rate.svg",
                          "session-rate-clients.svg"])

    def test_one_polyline_per_server(self):
        root = self.chart("session-rate-clients.svg")
        lines = root.findall(SVG + "polyline")
        self.assertEqual(len(lines), 2)
        poplard, dovecot = ([tuple(map(float, p.split(",")))
                             for p in line.get("points").split()]
                            for line in lines)
        self.assertEqual(len(poplard), 3)
        # More clients further right; poplard's higher rate drawn above
        # (SVG's y grows downwards).
        self.assertEqual(poplard, sorted(poplard))
        for (px, py), (dx, dy) in zip(poplard, dovecot):
            self.assertEqual(px, dx)
            self.assertLess(py, dy)
        texts = [t.text for t in root.iter(SVG + "text")]
        self.assertIn("poplard", texts)
        self.assertIn("Dovecot tuned", texts)

    def test_listing_on_log_axes(self):
        root = self.chart("listing-time.svg")
        lines = root.findall(SVG + "polyline")
        self.assertEqual(len(lines), 3)
        pts = [tuple(map(float, p.split(",")))
               for p in lines[0].get("points").split()]
        # 1k, 10k, 100k equally spaced on a logarithmic axis.
        self.assertAlmostEqual(pts[1][0] - pts[0][0], pts[2][0] - pts[1][0],
                               places=0)

    def test_bars(self):
        root = self.chart("retr-rate.svg")
        bars = {}
        for rect in root.iter(SVG + "rect"):
            title = rect.find(SVG + "title")
            if title is not None:
                bars[title.text.split(":")[0]] = float(rect.get("height"))
        # Three servers plain and TLS, the copy ceiling plain only.
        self.assertEqual(len(bars), 7)
        self.assertGreater(bars["poplard, plain"],
                           bars["Dovecot tuned, plain"])
        self.assertGreater(bars["loopback copy, plain"],
                           bars["poplard, plain"])

    def test_committed_charts_parse(self):
        committed = glob.glob(os.path.join(HERE, "..", "..", "docs",
                                           "performance", "*.svg"))
        for path in committed:
            root = ET.parse(path).getroot()
            self.assertEqual(root.tag, SVG + "svg", path)


if __name__ == "__main__":
    unittest.main()
