#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The systemd units agree with poplard and with the example configuration.

- poplar.socket listens on exactly the addresses of [server] listen in
  data/poplar.conf.example, poplar-pop3s.socket on those of its
  listen-tls line: poplard matches inherited sockets to those entries by
  address, and a socket that matches none would hold a port nobody serves.
- poplar.service is Type=notify, reloads with SIGHUP to the master, stops
  with SIGTERM to the master only (KillMode=mixed) and waits longer than
  the default shutdown-timeout, and keeps the hardening the admin guide
  describes.
- `systemd-analyze verify` accepts the three units (with ExecStart pointed
  at the poplard of this build), when systemd-analyze is installed.

  test-units.py --service build/data/poplar.service --socket-dir data/systemd
      --example data/poplar.conf.example --poplard build/core/poplard
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

CAPS_ALLOWED = {"CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID", "CAP_KILL",
                "CAP_DAC_READ_SEARCH"}


def read_unit(path):
    """{section: {key: [values]}}."""
    unit, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            m = re.match(r"^\[(\w+)\]$", line)
            if m:
                section = unit.setdefault(m.group(1), {})
                continue
            key, _, value = line.partition("=")
            section.setdefault(key.strip(), []).append(value.strip())
    return unit


def example_value(path, key, commented):
    """The value of [server] @key in the example (of its "#key =" line when
    @commented)."""
    prefix = ("#" if commented else "") + key
    section = None
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            m = re.match(r"^#?\[([^\]]+)\]$", line)
            if m:
                section = m.group(1)
                continue
            m = re.match(r"^%s\s*=\s*(.*)$" % re.escape(prefix), line)
            if m and section == "server":
                return m.group(1)
    return None


def seconds(text):
    m = re.match(r"^(\d+)\s*(ms|s|min|m|h)?$", text)
    if not m:
        raise ValueError("not a duration: %r" % text)
    scale = {"ms": 0.001, "s": 1, None: 1, "m": 60, "min": 60, "h": 3600}
    return int(m.group(1)) * scale[m.group(2)]


def one(unit, section, key):
    values = unit.get(section, {}).get(key, [])
    return values[-1] if values else None


def check_socket(path, example, key, commented, fdname, problems):
    unit = read_unit(path)
    name = os.path.basename(path)
    wanted = example_value(example, key, commented)
    if wanted is None:
        problems.append("the example has no %s%s line" % (
            "#" if commented else "", key))
        return
    wanted = sorted(a.strip() for a in wanted.split(";") if a.strip())
    have = sorted(unit.get("Socket", {}).get("ListenStream", []))
    if have != wanted:
        problems.append("%s listens on %s but the example's %s is %s" % (
            name, have, key, wanted))
    expect = {"FileDescriptorName": fdname, "Accept": "no",
              "Service": "poplar.service", "BindIPv6Only": "ipv6-only"}
    for k, v in expect.items():
        if one(unit, "Socket", k) != v:
            problems.append("%s: %s=%s, expected %s" % (
                name, k, one(unit, "Socket", k), v))


def check_service(path, example, problems):
    unit = read_unit(path)
    svc = unit.get("Service", {})
    expect = {"Type": "notify", "KillMode": "mixed", "NoNewPrivileges": "yes",
              "ProtectSystem": "strict", "PrivateTmp": "yes",
              "SystemCallFilter": "@system-service"}
    for k, v in expect.items():
        if one(unit, "Service", k) != v:
            problems.append("poplar.service: %s=%s, expected %s" % (
                k, one(unit, "Service", k), v))
    reload_cmd = one(unit, "Service", "ExecReload") or ""
    if not re.search(r"kill -HUP \$MAINPID$", reload_cmd):
        problems.append("poplar.service: ExecReload=%s does not send SIGHUP "
                        "to $MAINPID" % reload_cmd)
    start = (one(unit, "Service", "ExecStart") or "").split()
    if not start or os.path.basename(start[0]) != "poplard" or "-c" not in start:
        problems.append("poplar.service: ExecStart=%s" % " ".join(start))
    caps = set(" ".join(svc.get("CapabilityBoundingSet", [])).split())
    if not caps or caps - CAPS_ALLOWED:
        problems.append("poplar.service: CapabilityBoundingSet %s (allowed, "
                        "each justified in the unit: %s)" % (
                            sorted(caps), sorted(CAPS_ALLOWED)))
    families = set(" ".join(svc.get("RestrictAddressFamilies", [])).split())
    if families != {"AF_UNIX", "AF_INET", "AF_INET6"}:
        problems.append("poplar.service: RestrictAddressFamilies %s" %
                        sorted(families))
    default_stop = example_value(example, "shutdown-timeout", True)
    timeout = one(unit, "Service", "TimeoutStopSec")
    if default_stop and timeout and seconds(timeout) <= seconds(default_stop):
        problems.append("poplar.service: TimeoutStopSec=%s is not longer than "
                        "the default shutdown-timeout %s" % (timeout,
                                                            default_stop))


def verify(service, socket_dir, poplard, problems):
    tool = shutil.which("systemd-analyze")
    if not tool:
        print("systemd-analyze not installed: verify skipped")
        return
    with tempfile.TemporaryDirectory(prefix="poplar-units-") as tmp:
        with open(service) as f:
            text = f.read()
        # The installed path does not exist here; the built binary does.
        text = re.sub(r"^ExecStart=\S+", "ExecStart=" + poplard, text,
                      flags=re.M)
        units = [os.path.join(tmp, "poplar.service")]
        with open(units[0], "w") as f:
            f.write(text)
        for name in ("poplar.socket", "poplar-pop3s.socket"):
            shutil.copy(os.path.join(socket_dir, name), tmp)
            units.append(os.path.join(tmp, name))
        res = subprocess.run([tool, "verify", "--man=no"] + units,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=60, cwd=tmp)
        # Lines about the host's own units are not ours to judge.
        ours = [l for l in res.stdout.splitlines() if "poplar" in l]
        if res.returncode != 0 or ours:
            problems.append("systemd-analyze verify (status %d):\n%s" % (
                res.returncode, res.stdout))
        else:
            print("systemd-analyze verify: the three units are valid")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--service", required=True)
    ap.add_argument("--socket-dir", required=True)
    ap.add_argument("--example", required=True)
    ap.add_argument("--poplard", required=True)
    args = ap.parse_args()
    problems = []
    check_socket(os.path.join(args.socket_dir, "poplar.socket"), args.example,
                 "listen", False, "pop3", problems)
    check_socket(os.path.join(args.socket_dir, "poplar-pop3s.socket"),
                 args.example, "listen-tls", True, "pop3s", problems)
    check_service(args.service, args.example, problems)
    verify(args.service, args.socket_dir, args.poplard, problems)
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("units agree with poplard and the example configuration")


if __name__ == "__main__":
    main()
