# SPDX-License-Identifier: MIT
"""A worker gives its heap back after a burst of sessions.

Each plugin thread allocates from its own glibc arena, and glibc returns
only the top of the main arena to the kernel by itself; before poplard
trimmed the arenas, a worker that had held a few hundred sessions at once
kept their memory after they had all gone.  Memory, not time, is checked:
the worker is given up to a minute (it checks every few seconds)."""

import socket

import poplartest
from poplartest import wait_until

M1 = b"Subject: one\n\nfirst\n"
M2 = b"Subject: two\n\n" + b"second line of text\n" * 200
SESSIONS = 300


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def read_reply(f):
    line = f.readline()
    if not line.startswith(b"+OK"):
        raise AssertionError("unexpected reply %r" % line)
    return line


def read_multi(f):
    read_reply(f)
    while True:
        line = f.readline()
        if not line:
            raise AssertionError("connection closed in a multi-line reply")
        if line == b".\r\n":
            return


class MemoryTest(poplartest.PoplarTestCase):

    def test_heap_returned_after_burst(self):
        if poplartest.under_sanitizer():
            self.skipTest("AddressSanitizer replaces glibc's allocator, "
                          "whose arenas this test measures")
        srv = self.server(start=False)
        users = srv.add_users("burst", SESSIONS, "pw", [M1, M2])
        srv.start(server={"max-connections-per-ip": str(SESSIONS + 10),
                          "max-connections": str(SESSIONS + 10)})
        srv.wait_for_log(r"poplard \S+ ready \(1 worker\)")
        worker = srv.pids()[1]
        # Warm: what every worker has once it has served anyone.
        p = srv.login(users[0].name, "pw")
        p.quit()
        warm = rss_kib(worker)

        socks = []
        try:
            for u in users:
                s = socket.create_connection((poplartest.HOST, srv.port),
                                             timeout=30)
                f = s.makefile("rb")
                socks.append((s, f))
                read_reply(f)
                s.sendall(b"USER %s\r\nPASS pw\r\n" % u.name.encode())
            for s, f in socks:
                read_reply(f)  # USER
                read_reply(f)  # PASS
                s.sendall(b"LIST\r\nUIDL\r\nRETR 2\r\n")
            for s, f in socks:
                for _ in range(3):
                    read_multi(f)
            held = rss_kib(worker)
            for s, f in socks:
                s.sendall(b"QUIT\r\n")
                read_reply(f)
        finally:
            for s, f in socks:
                f.close()
                s.close()
        self.assertGreater(held, warm * 2,
                           "the burst grew the worker from %d to only %d "
                           "KiB: nothing to give back" % (warm, held))
        ok = wait_until(lambda: rss_kib(worker) <= 2 * warm, 60)
        self.assertTrue(ok, "worker RSS %d KiB a minute after the burst "
                        "(warm %d KiB, %d KiB with %d sessions)" % (
                            rss_kib(worker), warm, held, SESSIONS))


if __name__ == "__main__":
    poplartest.main()
