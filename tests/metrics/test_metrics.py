#!/usr/bin/env python3
"""The [metrics] endpoint of poplard with two workers: OpenMetrics text
that promtool accepts, counters merged over the workers, a minimal HTTP
server (GET /metrics only, bounded requests), a real Prometheus scraping
it, and the alert rules of docs/monitoring.md under promtool test rules."""
import http.client
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "integration"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tls"))
import poplartest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MONITORING_MD = os.path.join(HERE, "..", "..", "docs", "monitoring.md")
MESSAGES = [b"Subject: one\n\nfirst\n", b"Subject: two\n\nsecond line\n"]
CONTENT_TYPE = ("application/openmetrics-text; version=1.0.0; "
                "charset=utf-8")
PROMETHEUS_DEADLINE = 90


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MetricsTest(poplartest.PoplarTestCase):
    def setUp(self):
        self.srv = self.server(
            users={"alice": MESSAGES, "bob": MESSAGES},
            server={"workers": "2", "threads": "1"},
            sections={"metrics": {"listen": "127.0.0.1:0"}})
        m = self.srv.wait_for_log(r"metrics on http://127\.0\.0\.1:(\d+)/")
        self.port = int(m.group(1))
        self.srv.wait_for_log(r"ready \(2 workers\)")

    def get(self, path="/metrics", method="GET", headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        body = r.read().decode()
        c.close()
        return r.status, r.getheader("Content-Type"), body

    def metrics(self):
        status, ctype, body = self.get()
        self.assertEqual(status, 200, body)
        self.assertEqual(ctype, CONTENT_TYPE)
        return body

    @staticmethod
    def sample(text, name, labels=""):
        wanted = name + ("{%s}" % labels if labels else "")
        for line in text.splitlines():
            if line.startswith(wanted + " "):
                return float(line.split(" ")[-1])
        return None

    def traffic(self):
        """Logins on both workers, a RETR, a TOP, a DELE committed, a
        failed login and an [IN-USE]."""
        for user in ("alice", "bob"):
            p = self.srv.login(user, "pw")
            p.retr(1)
            p.top(2, 0)
            p.dele(2)
            p.quit()
        held = self.srv.login("alice", "pw")
        with self.assertRaises(Exception):
            self.srv.login("alice", "pw")
        held.quit()
        with self.assertRaises(Exception):
            self.srv.login("bob", "wrong")

    def test_counters_after_traffic(self):
        self.traffic()
        text = self.metrics()
        self.assertTrue(text.endswith("# EOF\n"))
        logins = self.sample(text, "poplar_logins_total",
                             'result="success",mechanism="USER"')
        self.assertEqual(logins, 3)
        self.assertEqual(self.sample(text, "poplar_logins_total",
                                     'result="failure",mechanism="USER"'), 1)
        self.assertEqual(self.sample(text, "poplar_logins_total",
                                     'result="refused",mechanism="USER"'), 1)
        self.assertEqual(self.sample(text, "poplar_in_use_refusals_total"),
                         1)
        self.assertEqual(self.sample(text, "poplar_messages_sent_total",
                                     'command="RETR"'), 2)
        self.assertEqual(self.sample(text, "poplar_messages_sent_total",
                                     'command="TOP"'), 2)
        # As on the wire: CRLF line ends and the final ".\r\n".
        self.assertEqual(self.sample(text, "poplar_sent_bytes_total",
                                     'command="RETR"'),
                         2 * (len(poplartest.crlf(MESSAGES[0])) + 3))
        top = poplartest.top_of(MESSAGES[1], 0)
        self.assertEqual(self.sample(text, "poplar_sent_bytes_total",
                                     'command="TOP"'), 2 * (len(top) + 3))
        self.assertEqual(self.sample(text, "poplar_messages_deleted_total"),
                         2)
        self.assertEqual(self.sample(text, "poplar_sessions_ended_total",
                                     'reason="quit"'), 3)
        listener = 'listener="127.0.0.1:%d",tls="no"' % self.srv.port
        self.assertGreaterEqual(
            self.sample(text, "poplar_connections_accepted_total", listener),
            5)
        # Every session has ended: nothing is open any more.
        self.assertTrue(poplartest.wait_until(
            lambda: self.sample(self.metrics(), "poplar_connections",
                                listener) == 0, 5))
        self.assertEqual(self.sample(text, "poplar_workers"), 2)
        self.assertEqual(self.sample(text, "poplar_worker_restarts_total"),
                         0)
        self.assertRegex(text, r'poplar_build_info\{version="[^"]+",'
                               r'abi="1\.\d+"\} 1\n')
        self.assertRegex(
            text, r'poplar_plugin_call_duration_seconds_count\{'
                  r'plugin="auth-passwd-file",operation="passdb_verify"\} 5')
        self.assertEqual(self.sample(
            text, "poplar_plugin_call_duration_seconds_bucket",
            'plugin="store-maildir",operation="store_open",le="+Inf"'), 4)
        self.assertEqual(self.sample(
            text, "poplar_plugin_call_duration_seconds_count",
            'plugin="store-maildir",operation="store_expunge"'), 3)

    def test_promtool_accepts_the_output(self):
        promtool = shutil.which("promtool")
        if not promtool:
            self.skipTest("promtool is not installed (Debian: prometheus)")
        self.traffic()
        # promtool reads the Prometheus text format; a scraper that asks
        # for it gets it (Prometheus itself asks for OpenMetrics: see
        # PrometheusTest).
        status, ctype, text = self.get(
            headers={"Accept": "text/plain; version=0.0.4"})
        self.assertEqual(status, 200)
        self.assertEqual(ctype, "text/plain; version=0.0.4; charset=utf-8")
        p = subprocess.run([promtool, "check", "metrics"], input=text,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        # The same series as in OpenMetrics (values may move meanwhile).
        def series(t):
            return sorted(l.rsplit(" ", 1)[0] for l in t.splitlines()
                          if l[0] != "#")
        self.assertEqual(series(text), series(self.metrics()))

    def test_worker_restart_is_counted(self):
        victim = [p for p in self.srv.pids() if p != self.srv.proc.pid][0]
        os.kill(victim, 9)
        self.srv.wait_for_log(r"worker %d killed by signal 9" % victim)
        self.srv.wait_for_log(r"worker \d+ started")
        self.assertEqual(
            self.sample(self.metrics(), "poplar_worker_restarts_total"), 1)

    def test_only_get_metrics(self):
        self.assertEqual(self.get("/")[0], 404)
        self.assertEqual(self.get("/metrics/x")[0], 404)
        self.assertEqual(self.get(method="POST")[0], 405)
        status, _, body = self.get(method="HEAD")
        self.assertEqual((status, body), (200, ""))
        # A request head without an end, too long: refused, not buffered.
        with socket.create_connection(("127.0.0.1", self.port), 10) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000)
            reply = s.recv(200)
        self.assertTrue(reply.startswith(b"HTTP/1.1 431 "), reply)
        # Not HTTP at all.
        with socket.create_connection(("127.0.0.1", self.port), 10) as s:
            s.sendall(b"hello\r\n\r\n")
            self.assertTrue(s.recv(200).startswith(b"HTTP/1.1 400 "))
        # A client that sends nothing is dropped, and the master still
        # serves mail and metrics meanwhile and after.
        with socket.create_connection(("127.0.0.1", self.port), 10) as s:
            s.settimeout(10)
            self.assertTrue(s.recv(200).startswith(b"HTTP/1.1 408 "))
        self.metrics()
        self.srv.login("alice", "pw").quit()


class TlsMetricsTest(poplartest.PoplarTestCase):
    """Connections by listener and TLS, and TLS handshakes."""

    def test_tls_counters(self):
        if not shutil.which("certtool"):
            self.skipTest("certtool is needed (Debian: gnutls-bin)")
        import tlstest
        srv = tlstest.TlsServer()
        self._servers.append(srv)
        self.addCleanup(self._cleanup_server, srv)
        srv.add_user("alice", "pw", MESSAGES)
        srv.start(sections={"metrics": {"listen": "127.0.0.1:0"}})
        port = int(srv.wait_for_log(
            r"metrics on http://127\.0\.0\.1:(\d+)/").group(1))
        srv.wait_for_log(r"ready \(")
        p = srv.pop3s()
        p.user("alice")
        p.pass_("pw")
        p.quit()
        # Not TLS at all on the implicit-TLS port: a failed handshake.
        with socket.create_connection(("127.0.0.1", srv.tls_port), 10) as s:
            s.sendall(b"USER alice\r\n" * 20)
            s.settimeout(10)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
        srv.wait_for_log(r"TLS handshake failed")
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        c.close()
        sample = MetricsTest.sample
        self.assertEqual(sample(text, "poplar_tls_handshakes_total",
                                'result="success"'), 1)
        self.assertEqual(sample(text, "poplar_tls_handshakes_total",
                                'result="failure"'), 1)
        self.assertEqual(sample(
            text, "poplar_connections_accepted_total",
            'listener="127.0.0.1:%d",tls="yes"' % srv.tls_port), 2)
        self.assertIsNone(sample(
            text, "poplar_connections_accepted_total",
            'listener="127.0.0.1:%d",tls="no"' % srv.port))


class PrometheusTest(poplartest.PoplarTestCase):
    """A real Prometheus, as an unprivileged user, scrapes poplard."""

    def setUp(self):
        self.prometheus = shutil.which("prometheus")
        if not self.prometheus:
            self.skipTest("prometheus is not installed")
        self.srv = self.server(
            users={"alice": MESSAGES},
            server={"workers": "2"},
            sections={"metrics": {"listen": "127.0.0.1:0"}})
        m = self.srv.wait_for_log(r"metrics on http://127\.0\.0\.1:(\d+)/")
        self.metrics_port = int(m.group(1))
        self.dir = tempfile.mkdtemp(prefix="poplar-prometheus-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def start_prometheus(self):
        conf = os.path.join(self.dir, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n"
                    "scrape_configs:\n"
                    "  - job_name: poplar\n"
                    "    scrape_interval: 1s\n"
                    "    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % self.metrics_port)
        data = os.path.join(self.dir, "data")
        os.mkdir(data)
        preexec = None
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            for path in (self.dir, data, conf):
                os.chown(path, nobody.pw_uid, nobody.pw_gid)

            def preexec():
                os.setgid(nobody.pw_gid)
                os.setgroups([])
                os.setuid(nobody.pw_uid)
        self.web_port = free_port()
        log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.addCleanup(log.close)
        proc = subprocess.Popen(
            [self.prometheus, "--config.file=" + conf,
             "--storage.tsdb.path=" + data,
             "--web.listen-address=127.0.0.1:%d" % self.web_port,
             "--storage.tsdb.retention.time=1h"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=preexec, cwd=self.dir)
        self.addCleanup(self.stop_prometheus, proc)
        return proc

    def stop_prometheus(self, proc):
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def query(self, expr):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (
            self.web_port, urllib.parse.urlencode({"query": expr}))
        with urllib.request.urlopen(url, timeout=5) as r:
            answer = json.load(r)
        self.assertEqual(answer["status"], "success")
        return answer["data"]["result"]

    def test_prometheus_scrapes_and_queries(self):
        for _ in range(3):
            self.srv.login("alice", "pw").quit()
        proc = self.start_prometheus()
        deadline = time.monotonic() + PROMETHEUS_DEADLINE
        result = []
        expr = 'poplar_logins_total{result="success",mechanism="USER"}'
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                result = self.query(expr)
            except OSError:
                result = []
            if result:
                break
            time.sleep(0.5)
        if not result:
            with open(os.path.join(self.dir, "prometheus.log")) as f:
                self.fail("no %s from Prometheus; its log:\n%s" % (
                    expr, f.read()[-4000:]))
        self.assertEqual(len(result), 1)
        self.assertEqual(float(result[0]["value"][1]), 3)
        self.assertEqual(result[0]["metric"]["job"], "poplar")
        # The scrape itself was healthy.
        up = self.query('up{job="poplar"}')
        self.assertEqual(float(up[0]["value"][1]), 1)
        info = self.query("poplar_build_info")
        self.assertTrue(info and info[0]["metric"].get("abi"))


class AlertRulesTest(unittest.TestCase):
    """The rules docs/monitoring.md gives, checked and unit-tested."""

    def rules_from_docs(self):
        with open(MONITORING_MD) as f:
            text = f.read()
        m = re.search(r"<!-- alert-rules -->\n```yaml\n(.*?)```", text, re.S)
        self.assertIsNotNone(m, "docs/monitoring.md has no alert-rules block")
        return m.group(1)

    def test_rules(self):
        promtool = shutil.which("promtool")
        if not promtool:
            self.skipTest("promtool is not installed (Debian: prometheus)")
        d = tempfile.mkdtemp(prefix="poplar-rules-")
        self.addCleanup(shutil.rmtree, d, True)
        with open(os.path.join(d, "poplar-alerts.yml"), "w") as f:
            f.write(self.rules_from_docs())
        shutil.copy(os.path.join(HERE, "alerts-test.yml"), d)
        p = subprocess.run([promtool, "check", "rules", "poplar-alerts.yml"],
                           cwd=d, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        p = subprocess.run([promtool, "test", "rules", "alerts-test.yml"],
                           cwd=d, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    poplartest.main()
