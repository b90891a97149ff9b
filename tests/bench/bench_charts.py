#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The charts of `make bench`, drawn as plain SVG from results.jsonl: no
plotting library, so a fresh machine needs nothing new.

  python3 tests/bench/bench_charts.py RESULTS_DIR OUT_DIR

- session-rate-clients.svg: plain sessions per second against concurrent
  clients (the sweep step), poplard and Dovecot tuned;
  session-cpu-clients.svg: the same per second of the server's CPU time,
  which other work on a shared machine does not lower;
- listing-time.svg: a warm UIDL+LIST session against the number of
  messages (the curve step), on logarithmic axes, where a straight line
  of slope one is a cost linear in the message count;
- retr-rate.svg: RETR throughput of each server, plain and TLS, beside
  the loopback copy ceiling (the retr step);
- tls-rate.svg: full TLS handshakes per second of the server's CPU time
  (per second, from results without it) with an ECDSA and an RSA
  certificate, poplard, Dovecot tuned and the bare GnuTLS loop (the tls
  step).

A chart whose step did not run is not written.  Each point is the median
of the rounds."""

import json
import math
import os
import statistics
import sys
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 640, 400
# Plot area inside the picture: room for tick labels, axis titles and the
# legend on the right.
LEFT, RIGHT, TOP, BOTTOM = 72, 170, 44, 56
FONT = 'font-family="sans-serif" font-size="%d"'
# One colour per server, the same in every chart.
COLOURS = {"poplard": "#1f6fb4", "Dovecot tuned": "#d9541e",
           "Dovecot stock": "#8c8c8c", "GnuTLS loop": "#2a9d3a",
           "loopback copy": "#2a9d3a"}
FALLBACK = ("#7b3fa0", "#b58900", "#268bd2")


# -- numbers on axes

def nice_step(span, ticks=5):
    """A step of 1, 2 or 5 times a power of ten giving about @ticks."""
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def linear_ticks(top):
    """Ticks from 0 to at least @top."""
    step = nice_step(top or 1)
    n = math.ceil((top or 1) / step - 1e-9)
    return [i * step for i in range(n + 1)]


def log_ticks(lo, hi):
    """Powers of ten covering [@lo, @hi], with 2 and 5 between them when
    the range spans fewer than three decades."""
    a = math.floor(math.log10(lo))
    b = math.ceil(math.log10(hi))
    steps = (1,) if b - a > 2 else (1, 2, 5)
    out = [m * 10 ** e for e in range(a, b + 1) for m in steps]
    first = max(t for t in out if t <= lo)
    last = min(t for t in out if t >= hi)
    return [t for t in out if first <= t <= last]


def label(v):
    """A tick label: 1k for 1000, no needless decimals."""
    if v >= 1000:
        return "%gk" % (v / 1000)
    if v == int(v):
        return "%d" % v
    return "%g" % v


class Axis:
    """Maps data values to pixels, linearly or logarithmically."""

    def __init__(self, ticks, lo_px, hi_px, log=False):
        self.ticks = ticks
        self.log = log
        self.lo, self.hi = ticks[0], ticks[-1]
        self.lo_px, self.hi_px = lo_px, hi_px

    def __call__(self, v):
        f = (lambda x: math.log(x)) if self.log else (lambda x: x)
        if self.hi == self.lo:
            return self.lo_px
        frac = (f(v) - f(self.lo)) / (f(self.hi) - f(self.lo))
        return self.lo_px + frac * (self.hi_px - self.lo_px)


# -- SVG

class Svg:
    def __init__(self, title):
        self.parts = []
        self.title = title

    def add(self, text):
        self.parts.append(text)

    def text(self, x, y, s, anchor="middle", extra="", size=12):
        self.add('<text x="%.1f" y="%.1f" text-anchor="%s" %s%s>%s</text>' % (
            x, y, anchor, FONT % size, extra, escape(s)))

    def line(self, x1, y1, x2, y2, stroke="#000", extra=""):
        self.add('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" '
                 'stroke="%s"%s/>' % (x1, y1, x2, y2, stroke, extra))

    def finish(self):
        head = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<svg xmlns="http://www.w3.org/2000/svg" width="%d" '
                'height="%d" viewBox="0 0 %d %d">\n<title>%s</title>\n'
                '<rect width="100%%" height="100%%" fill="#fff"/>\n' % (
                    WIDTH, HEIGHT, WIDTH, HEIGHT, escape(self.title)))
        return head + "\n".join(self.parts) + "\n</svg>\n"


def frame(svg, title, xtitle, ytitle, x, y, xlabels=None):
    """Title, grid, axes, ticks and their labels."""
    left, right = LEFT, WIDTH - RIGHT
    top, bottom = TOP, HEIGHT - BOTTOM
    svg.text(WIDTH / 2, 22, title, extra=' font-weight="bold"')
    for t in y.ticks:
        py = y(t)
        svg.line(left, py, right, py, "#e4e4e4")
        svg.text(left - 6, py + 4, label(t), anchor="end")
    for i, t in enumerate(x.ticks):
        px = x(t)
        svg.line(px, bottom, px, bottom + 5)
        svg.text(px, bottom + 18, xlabels[i] if xlabels else label(t))
    svg.line(left, bottom, right, bottom)
    svg.line(left, top, left, bottom)
    svg.text((left + right) / 2, HEIGHT - 14, xtitle)
    svg.text(16, (top + bottom) / 2, ytitle,
             extra=' transform="rotate(-90 16 %.1f)"' % ((top + bottom) / 2))


def legend(svg, names, dashed=()):
    x = WIDTH - RIGHT + 16
    for i, name in enumerate(names):
        y = TOP + 10 + 20 * i
        svg.line(x, y, x + 22, y, colour(name, i),
                 ' stroke-width="3"' + (' stroke-dasharray="6 4"'
                                        if name in dashed else ""))
        svg.text(x + 28, y + 4, name, anchor="start")


def colour(name, i):
    return COLOURS.get(name, FALLBACK[i % len(FALLBACK)])


def line_chart(title, xtitle, ytitle, series, log_x=False, log_y=False):
    """@series: [(name, [(x, y), ...])], one polyline each."""
    xs = sorted({p[0] for _, pts in series for p in pts})
    ys = [p[1] for _, pts in series for p in pts]
    x = Axis(xs if log_x else linear_ticks(max(xs)), LEFT, WIDTH - RIGHT,
             log=log_x)
    ytk = log_ticks(min(ys), max(ys)) if log_y else linear_ticks(max(ys))
    y = Axis(ytk, HEIGHT - BOTTOM, TOP, log=log_y)
    svg = Svg(title)
    frame(svg, title, xtitle, ytitle, x, y)
    for i, (name, pts) in enumerate(series):
        pts = sorted(pts)
        c = colour(name, i)
        svg.add('<polyline fill="none" stroke="%s" stroke-width="2.5" '
                'points="%s"/>' % (c, " ".join(
                    "%.1f,%.1f" % (x(px), y(py)) for px, py in pts)))
        for px, py in pts:
            svg.add('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s">'
                    '<title>%s: %s</title></circle>' % (
                        x(px), y(py), c, escape(name),
                        escape("%s, %s" % (label(px), "%.3g" % py))))
    legend(svg, [n for n, _ in series])
    return svg.finish()


def bar_chart(title, ytitle, groups, series):
    """@groups: names along the x axis; @series: [(name, [value or None
    per group])], one bar per series in each group."""
    values = [v for _, vs in series for v in vs if v is not None]
    y = Axis(linear_ticks(max(values)), HEIGHT - BOTTOM, TOP)
    width = (WIDTH - RIGHT - LEFT) / len(groups)
    centres = [LEFT + width * (i + 0.5) for i in range(len(groups))]
    x = Axis([0, len(groups)], LEFT, WIDTH - RIGHT)
    x.ticks = []  # the groups are labelled below instead
    svg = Svg(title)
    frame(svg, title, "", ytitle, x, y)
    bar = width * 0.8 / len(series)
    for g, cx in enumerate(centres):
        svg.text(cx, HEIGHT - BOTTOM + 18, groups[g])
        for i, (name, vs) in enumerate(series):
            v = vs[g]
            if v is None:
                continue
            bx = cx - width * 0.4 + i * bar
            top = y(v)
            svg.add('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" '
                    'fill="%s"><title>%s, %s: %.4g</title></rect>' % (
                        bx + 1, top, bar - 2, HEIGHT - BOTTOM - top,
                        colour(name, i), escape(name), escape(groups[g]), v))
            svg.text(bx + bar / 2, top - 4, "%.0f" % v, size=10)
    legend(svg, [n for n, _ in series])
    return svg.finish()


# -- from results to charts

def load(results_dir):
    """The results of results.jsonl that say what they measured."""
    out = []
    with open(os.path.join(results_dir, "results.jsonl")) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            if "kind" in r and "server_label" in r:
                out.append(r)
    return out


def median(results, kind, server, metric, **match):
    v = [r[metric] for r in results
         if r["kind"] == kind and r["server_label"] == server
         and isinstance(r.get(metric), (int, float))
         and all(r.get(k) == m for k, m in match.items())]
    return statistics.median(v) if v else None


def points(results, kind, server, metric, key):
    """[(x, median y)] over the values of @key."""
    xs = sorted({r[key] for r in results if r["kind"] == kind
                 and r["server_label"] == server and key in r})
    out = [(x, median(results, kind, server, metric, **{key: x}))
           for x in xs]
    return [(x, y) for x, y in out if y is not None]


def sweep_chart(results, metric="sessions_per_s"):
    series = [(name, points(results, "sweep-rate", label, metric,
                            "concurrency"))
              for name, label in (("poplard", "poplard-sweep"),
                                  ("Dovecot tuned", "dovecot-sweep"))]
    series = [s for s in series if s[1]]
    if not series:
        return None
    if metric == "sessions_per_s":
        return line_chart("Plain session rate against concurrent clients",
                          "concurrent clients (one core per server)",
                          "sessions/s", series, log_x=True)
    return line_chart("Plain sessions per CPU second of the server",
                      "concurrent clients (one core per server)",
                      "sessions per second of CPU time", series, log_x=True)


def listing_chart(results):
    servers = (("poplard", "poplard"), ("Dovecot tuned", "dovecot-tuned"),
               ("Dovecot stock", "dovecot-stock"))
    series = []
    for name, lbl in servers:
        pts = []
        for kind in sorted({r["kind"] for r in results
                            if r["kind"].startswith("curve-")
                            and r["kind"][6:].isdigit()}):
            n = int(kind.split("-", 1)[1])
            v = median(results, kind, lbl, "warm_session_ms")
            if v is not None:
                pts.append((n, v))
        if pts:
            series.append((name, pts))
    if not series:
        return None
    return line_chart("UIDL+LIST session time against messages (settled)",
                      "messages in the mailbox", "ms per whole session",
                      series, log_x=True, log_y=True)


def retr_chart(results):
    groups = ["plain", "TLS"]
    kinds = ["retr-plain", "retr-tls"]
    series = []
    for name, lbl in (("poplard", "poplard"), ("Dovecot tuned",
                                               "dovecot-tuned"),
                      ("Dovecot stock", "dovecot-stock")):
        vs = [median(results, k, lbl, "mb_per_s") for k in kinds]
        if any(v is not None for v in vs):
            series.append((name, vs))
    copy = median(results, "ceiling-copy", "copy-ceiling", "mb_per_s")
    if copy is not None:
        series.append(("loopback copy", [copy, None]))
    if not series:
        return None
    return bar_chart("RETR of a whole mailbox", "MB/s", groups, series)


def tls_chart(results):
    """Per second of the server's CPU time where the run measured it: on
    a shared machine the sessions per second of wall time swing with how
    much of its core each server got."""
    certs = (("ECDSA P-256", "ecdsa"), ("RSA-2048", "rsa"))
    metric, title, unit = (
        "sessions_per_cpu_s",
        "Full TLS 1.3 sessions per CPU second, one core",
        "sessions per second of CPU time")
    if not any("sessions_per_cpu_s" in r for r in results
               if r["kind"] == "tls-like-full"):
        metric, title, unit = ("sessions_per_s",
                               "Sessions with a full TLS 1.3 handshake, "
                               "one core", "sessions/s")
    series = []
    for name, fmt in (("poplard", "poplard-tls-%s"),
                      ("Dovecot tuned", "dovecot-tls-%s"),
                      ("GnuTLS loop", "gnutls-ceiling-tls-%s")):
        vs = [median(results, "tls-like-full", fmt % c, metric)
              for _, c in certs]
        if any(v is not None for v in vs):
            series.append((name, vs))
    if not series:
        return None
    return bar_chart(title, unit, [n for n, _ in certs], series)


CHARTS = (("session-rate-clients.svg", sweep_chart),
          ("session-cpu-clients.svg",
           lambda r: sweep_chart(r, "sessions_per_cpu_s")),
          ("listing-time.svg", listing_chart),
          ("retr-rate.svg", retr_chart),
          ("tls-rate.svg", tls_chart))


def write(results_dir, out_dir):
    """Writes every chart the results allow; returns their paths."""
    results = load(results_dir)
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name, draw in CHARTS:
        svg = draw(results)
        if svg is None:
            continue
        path = os.path.join(out_dir, name)
        with open(path, "w") as f:
            f.write(svg)
        written.append(path)
    return written


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: bench_charts.py RESULTS_DIR OUT_DIR")
    for path in write(argv[1], argv[2]):
        print(path)


if __name__ == "__main__":
    main(sys.argv)
