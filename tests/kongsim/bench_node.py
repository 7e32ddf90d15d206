"""Benchmark of one simulated node: start time and proxy requests/s (direct, keep-alive).

    .venv/bin/python tests/kongsim/bench_node.py [--version 3.4.2] [--seconds 5] [--clients 4] [--json]

Starts a DB-less node (no PostgreSQL needed) routing ``/`` to an in-process upstream, measures
``kong start`` wall time (command start to ``Kong started``), then drives the proxy with
``--clients`` keep-alive client threads for ``--seconds`` and prints requests/s, errors and
p50/p99 latency.  Also measures the upstream alone, side by side, so the result reads as a ratio
on a noisy shared machine (conventions.md).  Everything it starts is stopped at the end.
"""

import argparse
import http.client
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from kongsim import install  # noqa: E402
from kongsim.nodetools import Nodes, Upstream, free_address  # noqa: E402


def proc_cpu(pid):
    """utime + stime of ``pid`` in seconds (from /proc)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / float(os.sysconf("SC_CLK_TCK"))


def drive(host, port, path, seconds, clients):
    stop = time.time() + seconds
    lat = []
    errors = [0]
    lock = threading.Lock()

    def worker():
        c = http.client.HTTPConnection(host, port, timeout=10)
        mine = []
        errs = 0
        while time.time() < stop:
            t0 = time.perf_counter()
            try:
                c.request("GET", path)
                r = c.getresponse()
                r.read()
                if r.status != 200:
                    errs += 1
                mine.append(time.perf_counter() - t0)
            except (OSError, http.client.HTTPException):
                errs += 1
                c.close()
                c = http.client.HTTPConnection(host, port, timeout=10)
        c.close()
        with lock:
            lat.extend(mine)
            errors[0] += errs

    t0 = time.time()
    ts = [threading.Thread(target=worker) for _unused in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.time() - t0
    lat.sort()

    def pct(p):
        return round(lat[min(len(lat) - 1, int(len(lat) * p))] * 1000, 2) if lat else None
    return {"requests": len(lat), "errors": errors[0], "rps": round(len(lat) / elapsed, 1), "p50_ms": pct(0.5), "p99_ms": pct(0.99)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--version", default="3.4.2")
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    base = tempfile.mkdtemp(prefix="kongsim-bench-")
    # The upstream runs in its own process, so it does not share this process's GIL with the clients.
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    up_proc = subprocess.Popen([sys.executable, "-m", "kongsim.nodetools", "upstream", "--name", "bench"],
                               stdout=subprocess.PIPE, env=env, text=True)
    up = Upstream.__new__(Upstream)
    up.host, up.port = "127.0.0.1", int(up_proc.stdout.readline())
    up.url = "http://%s:%d" % (up.host, up.port)
    nodes = None
    try:
        kong = install.install(a.version, os.path.join(base, "kong-" + a.version), sys.executable)
        nodes = Nodes(base, lambda v: kong)
        decl = os.path.join(base, "kong.json")
        with open(decl, "w") as f:
            json.dump({"_format_version": "3.0" if a.version.startswith("3") else "2.1",
                       "services": [{"name": "bench", "url": up.url, "routes": [{"name": "all", "paths": ["/"]}]}]}, f)
        host = free_address()
        n = nodes.node(a.version, "node", {"database": "off", "declarative_config": decl}, host=host)
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.time()
        r = n.start()
        start_s = time.time() - t0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        # CPU of the `kong start` process (the node it forks is not our child): on a loaded machine
        # wall time mostly measures waiting for a core.
        start_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        if r.returncode != 0:
            sys.stderr.write(r.stderr)
            return 1
        drive(host, 8000, "/", 0.5, a.clients)   # warm-up
        cpu0 = proc_cpu(n.pid())
        proxy = drive(host, 8000, "/", a.seconds, a.clients)
        cpu1 = proc_cpu(n.pid())
        # The node's own CPU per proxied request: independent of how busy the machine is.
        proxy["node_cpu_ms_per_request"] = round((cpu1 - cpu0) * 1000.0 / max(1, proxy["requests"]), 3)
        proxy["node_capacity_rps_one_core"] = round(1000.0 / proxy["node_cpu_ms_per_request"]) \
            if proxy["node_cpu_ms_per_request"] else None
        direct = drive(up.host, up.port, "/", a.seconds, a.clients)
        t0 = time.time()
        q = n.run("quit", "-p", n.prefix)
        quit_s = time.time() - t0
        result = {"version": a.version, "start_seconds": round(start_s, 3), "start_cpu_seconds": round(start_cpu, 3),
                  "load_average": os.getloadavg()[0], "quit_seconds": round(quit_s, 3),
                  "proxy": proxy, "upstream_direct": direct,
                  "proxy_to_direct_ratio": round(proxy["rps"] / direct["rps"], 3) if direct["rps"] else None,
                  "quit_ok": q.returncode == 0}
        if a.json:
            print(json.dumps(result, indent=2))
        else:
            print("kong %s: start %.2f s (CPU %.2f s, load average %.1f), quit %.2f s"
                  % (a.version, start_s, start_cpu, result["load_average"], quit_s))
            print("proxy (keep-alive, %d clients): %.0f req/s, %d errors, p50 %s ms, p99 %s ms"
                  % (a.clients, proxy["rps"], proxy["errors"], proxy["p50_ms"], proxy["p99_ms"]))
            print("upstream direct (same clients):  %.0f req/s  -> proxy/direct ratio %.2f"
                  % (direct["rps"], result["proxy_to_direct_ratio"] or 0))
            print("node CPU per proxied request: %.3f ms (about %s req/s on one free core)"
                  % (proxy["node_cpu_ms_per_request"], proxy["node_capacity_rps_one_core"]))
        return 0
    finally:
        if nodes is not None:
            nodes.cleanup()
        up_proc.terminate()
        up_proc.wait(10)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
