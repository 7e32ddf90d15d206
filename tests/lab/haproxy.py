"""HAProxy for the lab: configuration, process, and the runtime API (stats socket, level admin).

The runtime-API helpers are what the roles' load-balancer driver mirrors:

    set_server_state(sock, "kong_proxy", "dp1", "drain")   # no new requests, in-flight ones finish
    wait_server_idle(sock, "kong_proxy", "dp1")            # until no session is left on it
    set_server_state(sock, "kong_proxy", "dp1", "ready")
    show_servers_state(sock)                               # [{be_name, srv_name, srv_op_state, ...}]
    server_stats(sock, "kong_proxy", "dp1")                # {status: UP|DOWN|DRAIN|MAINT, scur: ..}

Facts (HAProxy 2.6, conventions.md): ``set server B/S state drain|ready|maint`` moves traffic with
zero errors; ``option redispatch`` plus ``retry-on conn-failure empty-response response-timeout``
send a request that failed on one server to another.
"""

import csv
import io
import os
import socket
import subprocess
import time

from lab import procs

HAPROXY_BIN = "/usr/sbin/haproxy"
STATES = ("ready", "drain", "maint")


def render_config(frontend_host, frontend_port, servers, socket_path, pid_path, backend="kong_proxy",
                  check_interval_ms=500, retry=True):
    """HAProxy configuration text.

    ``retry=False`` ("strict" load balancer): no retry, no redispatch, so every request that a
    careless rollout sends to a dead node reaches the client as an error instead of being repaired.

    ``servers``: list of dicts {name, host, port, check_port, check_path, disabled}. The health check
    asks the node's Status API (``check_port``/``check_path``, e.g. 8007 ``/status``) when it has one,
    else the proxy port.
    """
    lines = [
        "# written by tests/lab (kongops.upgrade sandbox); do not edit, 'labctl up' rewrites it",
        "global",
        "    daemon",
        "    pidfile %s" % pid_path,
        "    stats socket %s mode 600 level admin" % socket_path,
        "    stats timeout 30s",
        "    maxconn 8192",
        "",
        "defaults",
        "    mode http",
    ]
    if retry:
        lines += [
            "    option redispatch 1",
            "    retries 3",
            "    retry-on conn-failure empty-response response-timeout",
        ]
    else:
        lines += ["    retries 0"]
    lines += [
        "    timeout connect 1s",
        "    timeout client 30s",
        "    timeout server 10s",
        "    timeout http-request 10s",
        "    timeout http-keep-alive 30s",
        "    timeout queue 5s",
        "    timeout check 1s",
        "",
        "frontend kong_proxy_in",
        "    bind %s:%d" % (frontend_host, frontend_port),
        "    default_backend %s" % backend,
        "",
        "backend %s" % backend,
        "    balance roundrobin",
        "    option httpchk",
        "    http-check send meth GET uri /status",
        "    http-check expect status 200",
        "    default-server inter %dms fastinter %dms downinter %dms fall 2 rise 2" % (
            check_interval_ms, max(100, check_interval_ms // 2), check_interval_ms),
    ]
    for s in servers:
        parts = ["    server %s %s:%d check" % (s["name"], s["host"], s["port"])]
        if s.get("check_port") and s["check_port"] != s["port"]:
            parts.append("port %d" % s["check_port"])
        if s.get("disabled"):
            parts.append("disabled")
        lines.append(" ".join(parts))
    lines.append("")
    return "\n".join(lines)


def check_config(cfg_path):
    """``haproxy -c``: returns (ok, output)."""
    r = subprocess.run([HAPROXY_BIN, "-c", "-q", "-f", cfg_path], capture_output=True, text=True, check=False)
    return r.returncode == 0, (r.stdout + r.stderr).strip()


def start(cfg_path, pid_path, timeout=5.0):
    """Start HAProxy as a daemon; returns its PID."""
    ok, out = check_config(cfg_path)
    if not ok:
        raise RuntimeError("haproxy configuration %s is invalid: %s" % (cfg_path, out))
    r = subprocess.run([HAPROXY_BIN, "-D", "-f", cfg_path, "-p", pid_path], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError("haproxy failed to start: %s" % (r.stdout + r.stderr).strip())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = procs.read_pid(pid_path)
        if pid and procs.pid_alive(pid):
            return pid
        time.sleep(0.02)
    raise RuntimeError("haproxy did not write its pid file %s" % pid_path)


def stop(pid_path):
    pid = procs.read_pid(pid_path)
    gone = procs.terminate(pid, marker="haproxy", timeout=3.0)
    if gone and os.path.exists(pid_path):
        os.unlink(pid_path)
    return gone


# -- runtime API -----------------------------------------------------------------------------
def runtime(sock_path, command, timeout=5.0):
    """Send one command to the runtime API socket and return the answer text."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
        s.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    finally:
        s.close()
    return b"".join(chunks).decode()


def set_server_state(sock_path, backend, server, state):
    """Put ``backend/server`` in ``ready``, ``drain`` or ``maint``; raises on an error answer."""
    if state not in STATES:
        raise ValueError("state must be one of %s" % ", ".join(STATES))
    out = runtime(sock_path, "set server %s/%s state %s" % (backend, server, state)).strip()
    if out:  # HAProxy answers nothing on success
        raise RuntimeError("haproxy: set server %s/%s state %s: %s" % (backend, server, state, out))


def set_server_weight(sock_path, backend, server, weight):
    out = runtime(sock_path, "set server %s/%s weight %s" % (backend, server, weight)).strip()
    if out:
        raise RuntimeError("haproxy: set weight %s/%s: %s" % (backend, server, out))


def show_servers_state(sock_path, backend=None):
    """Parsed ``show servers state``: a list of dicts keyed by HAProxy's column names."""
    text = runtime(sock_path, "show servers state" + (" %s" % backend if backend else ""))
    rows, header = [], None
    for line in text.splitlines():
        if not line.strip() or line.strip() == "1":
            continue
        if line.startswith("#"):
            header = line.lstrip("# ").split()
            continue
        if header:
            rows.append(dict(zip(header, line.split())))
    return rows


def show_stat(sock_path):
    """Parsed ``show stat`` CSV: a list of dicts (pxname, svname, status, scur, ...)."""
    return parse_stat(runtime(sock_path, "show stat"))


def parse_stat(text):
    """``show stat`` CSV text (as the runtime API answers it) as a list of dicts."""
    if text.startswith("# "):
        text = text[2:]
    return [dict(r) for r in csv.DictReader(io.StringIO(text)) if r.get("pxname")]


def server_stats(sock_path, backend, server):
    for row in show_stat(sock_path):
        if row["pxname"] == backend and row["svname"] == server:
            return row
    raise KeyError("no server %s/%s in haproxy" % (backend, server))


# Counters of ``show stat`` that tell whether clients saw an outage at the load balancer: ``downtime`` (seconds with the
# backend or server DOWN), ``chkdown`` (UP->DOWN transitions), ``qmax`` (most requests queued waiting for a server),
# ``econ``/``eresp`` (connection / response errors), ``wretr``/``wredis`` (retries / redispatches that hid them),
# ``hrsp_5xx``, and the longest queue / connect / response / total times in ms (``*_max``, HAProxy 2.3+).
OUTAGE_COUNTERS = ("status", "downtime", "chkdown", "lastchg", "qmax", "scur", "stot", "econ", "eresp", "wretr", "wredis",
                   "hrsp_2xx", "hrsp_5xx", "qtime_max", "ctime_max", "rtime_max", "ttime_max")


def backend_stats(sock_path, backend, rows=None):
    """The outage counters of a backend and of each of its servers: {"backend": {...}, "servers": {name: {...}}}.
    ``rows``: an already parsed ``show stat`` (a load balancer read over SSH) instead of the socket."""
    out = {"backend": {}, "servers": {}}
    for row in show_stat(sock_path) if rows is None else rows:
        if row["pxname"] != backend:
            continue
        vals = {k: (int(row[k]) if row.get(k, "").isdigit() else row.get(k) or None) for k in OUTAGE_COUNTERS if k in row}
        if row["svname"] == "BACKEND":
            out["backend"] = vals
        elif row["svname"] != "FRONTEND":
            out["servers"][row["svname"]] = vals
    return out


def wait_server_idle(sock_path, backend, server, timeout=30.0, interval=0.05):
    """Wait until the server has no current session (after a drain). Returns True when idle."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if int(server_stats(sock_path, backend, server).get("scur") or 0) == 0:
            return True
        time.sleep(interval)
    return False


def wait_server_status(sock_path, backend, server, prefixes=("UP",), timeout=30.0, interval=0.1):
    """Wait until the server's health status starts with one of ``prefixes`` (e.g. UP, DOWN)."""
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = server_stats(sock_path, backend, server).get("status", "")
        if any(status.startswith(p) for p in prefixes):
            return status
        time.sleep(interval)
    raise TimeoutError("haproxy %s/%s stayed %s (wanted %s)" % (backend, server, status, "/".join(prefixes)))
