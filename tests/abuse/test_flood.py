# SPDX-License-Identifier: MIT
"""Floods: a client pipelines 100,000 commands and does not read the
replies.  poplard stops reading from it once its output queue is full
(back-pressure), so its memory stays bounded, and other clients are served
meanwhile.  When the client finally reads, every command gets its reply,
in order."""

import threading
import time

import abusetest
from abusetest import Conn, figure, server_rss_kb

COMMANDS = 100000
MESSAGE = b"Subject: flood\r\n\r\n" + b"x" * 1000 + b"\r\n"
CYCLE = ["NOOP", "STAT", "LIST", "RETR 1"]


class FloodTest(abusetest.PoplarTestCase):

    def test_pipelined_flood_is_bounded(self):
        srv = self.server(users={"fred": [MESSAGE], "gina": [MESSAGE]})
        # Small socket buffers: the replies back up into poplard, and the
        # commands it does not read stay with the client.
        flood = abusetest.small_window_conn(srv.port)
        flood.login("fred", "pw")
        base = server_rss_kb(srv)

        payload = "".join(CYCLE[i % len(CYCLE)] + "\r\n"
                          for i in range(COMMANDS)).encode()
        sent = [0]
        done = threading.Event()

        def sender():
            view = memoryview(payload)
            try:
                while sent[0] < len(payload):
                    n = flood.sock.send(view[sent[0]:sent[0] + 65536])
                    sent[0] += n
            except OSError:
                pass
            done.set()

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        # Wait until the sender is stuck: poplard no longer reads.
        last, still = -1, 0
        while still < 10 and not done.is_set():
            time.sleep(0.1)
            still = still + 1 if sent[0] == last else 0
            last = sent[0]
        self.assertFalse(done.is_set(),
                         "all %d commands were taken without the client "
                         "reading a reply: no back-pressure" % COMMANDS)
        figure("flood.octets_taken_before_back_pressure", sent[0], "octets")

        # Memory while the flood is held, and other clients meanwhile.
        peak = base
        logins = []
        for _ in range(10):
            t0 = time.monotonic()
            with Conn(srv.port, timeout=10) as other:
                other.login("gina", "pw")
                status, body = other.multi("RETR 1")
                self.assertEqual(body, MESSAGE)
                other.cmd("QUIT")
            logins.append(time.monotonic() - t0)
            peak = max(peak, server_rss_kb(srv))
            time.sleep(0.1)
        figure("flood.rss_growth_while_held_kb", peak - base, "KiB")
        figure("flood.other_client_session_max_ms",
               "%.0f" % (max(logins) * 1000))
        self.assertLess(max(logins), abusetest.time_limit_s(1.0),
                        "another client waited %.2fs" % max(logins))
        self.assertLess(peak - base, abusetest.memory_limit_kb(4 * 1024),
                        "poplard grew by %d KiB under the flood" %
                        (peak - base))

        # Now read: every command answered, in order.
        t0 = time.monotonic()
        for i in range(COMMANDS):
            cmd = CYCLE[i % len(CYCLE)]
            status = flood.reply()
            self.assertTrue(status.startswith("+OK"),
                            "reply %d (%s): %r" % (i, cmd, status))
            if cmd in ("LIST", "RETR 1"):
                body = flood.body()
                if cmd == "RETR 1":
                    self.assertEqual(body, MESSAGE)
            peak = max(peak, server_rss_kb(srv)) if i % 5000 == 0 else peak
        t.join(10)
        self.assertTrue(done.is_set())
        elapsed = time.monotonic() - t0
        figure("flood.commands_answered_per_s", "%.0f" % (COMMANDS / elapsed))
        figure("flood.rss_growth_peak_kb", peak - base, "KiB")
        self.assertOk(flood.cmd("QUIT"))
        flood.close()
        self.assertTrue(srv.alive())


if __name__ == "__main__":
    abusetest.main()
