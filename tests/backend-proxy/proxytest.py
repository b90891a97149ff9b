# SPDX-License-Identifier: MIT
"""A world for the proxy-mode tests: Poplar backends holding the
mailboxes, Poplar proxies whose password databases route each user to a
backend with the proxy fields (docs/scaling.md).  Every server is a
poplard of the tree on an ephemeral port of 127.0.0.1, stopped by the
test."""


import poplartest
import tlstest
from poplartest import HOST


def route(backend, tls="no", v2=False, **more):
    """The extra fields that send a user to @backend (a started Server)."""
    fields = ["proxy=%s:%d" % (HOST, backend.port), "proxy-tls=" + tls,
              "proxy-v2=" + ("yes" if v2 else "no")]
    fields += ["%s=%s" % (k.replace("_", "-"), v) for k, v in more.items()]
    return " ".join(fields)


def set_extra(server, name, extra):
    """Rewrites @name's passwd line of @server with new extra fields."""
    for i, line in enumerate(server._passwd_lines):
        if line.startswith(name + ":"):
            head = line.split(":")[:7]
            server._passwd_lines[i] = ":".join(head) + ":" + extra
            server._write_passwd()
            return
    raise KeyError(name)


def proxy_sections(ca_file, extra=None):
    sections = {"auth-passwd-file": {"reload-interval": "0"},
                "proxy": {"timeout": "3s"}}
    if ca_file:
        sections["proxy"]["ca-file"] = ca_file
    for name, keys in (extra or {}).items():
        sections.setdefault(name, {}).update(keys)
    return sections


def proc_status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def worker_pids(server):
    """The processes of @server other than its master."""
    return [p for p in poplartest.process_tree(server.proc.pid)
            if p != server.proc.pid]


TlsServer = tlstest.TlsServer
