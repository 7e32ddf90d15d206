"""Benchmark of the upgrade sandbox: node start time and requests/s through HAProxy.

    .venv/bin/python bench/lab_bench.py [--nodes 3] [--seconds 5] [--clients 16] [--starts 3]

Brings up a throwaway traditional lab (its own directory and 127.x.y subnet), measures, tears it
down. Aims (issue 3): a node starts in < 1 s, > 1,000 requests/s through HAProxy. The machine is
shared and noisy, so the same run also measures references side by side: `kong version` (the cost
of one simulated CLI call) and requests/s straight to the echo server, and prints the ratios.
"""

import argparse
import http.client
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from urllib.parse import urlsplit

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(REPO, "tests"), os.path.join(REPO, "tests", "kongsim")]
os.environ["PYTHONPATH"] = os.pathsep.join([os.path.join(REPO, "tests"), os.path.join(REPO, "tests", "kongsim")])

from lab import procs  # noqa: E402
from lab.topology import Lab  # noqa: E402


def _client_proc(url, seconds, threads, out_q):
    parts = urlsplit(url)
    counts = [0] * threads
    errors = [0] * threads
    stop_at = time.monotonic() + seconds

    def worker(i):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        while time.monotonic() < stop_at:
            try:
                conn.request("GET", parts.path or "/")
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    counts[i] += 1
                else:
                    errors[i] += 1
            except (OSError, http.client.HTTPException):
                errors[i] += 1
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        conn.close()

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out_q.put((sum(counts), sum(errors)))


def throughput(url, seconds, clients, procs_n=2):
    """Closed-loop keep-alive clients in ``procs_n`` processes; returns (ok requests/s, errors)."""
    q = multiprocessing.Queue()
    per = max(1, clients // procs_n)
    ps = [multiprocessing.Process(target=_client_proc, args=(url, seconds, per, q)) for _unused in range(procs_n)]
    t0 = time.monotonic()
    for p in ps:
        p.start()
    res = [q.get() for _unused in ps]
    for p in ps:
        p.join()
    elapsed = time.monotonic() - t0
    return sum(r[0] for r in res) / elapsed, sum(r[1] for r in res)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--starts", type=int, default=3)
    ap.add_argument("--version", default="2.8.4")
    a = ap.parse_args()
    parent = tempfile.mkdtemp(prefix="kongops-bench-", dir="/tmp")
    os.chmod(parent, 0o755)
    busy = {ip.rsplit(".", 1)[0] for ip, _unused in procs.listening_sockets()}
    subnet = next(s for s in ("127.%d.%d" % (random.randint(200, 254), random.randint(1, 254)) for _unused in range(100))
                  if s not in busy)
    lab = Lab(os.path.join(parent, "lab"))
    try:
        t0 = time.monotonic()
        lab.up("traditional", subnet=subnet, version=a.version, nodes=a.nodes)
        up_s = time.monotonic() - t0
        node = lab.state["nodes"][-1]["name"]
        starts, stops, cli = [], [], []
        for _unused in range(a.starts):
            t = time.monotonic()
            lab.service(node, "stop")
            stops.append(time.monotonic() - t)
            t = time.monotonic()
            lab.service(node, "start")
            starts.append(time.monotonic() - t)
            t = time.monotonic()
            lab.kong(node, ["version"])
            cli.append(time.monotonic() - t)
        lab.wait_ready()
        direct_rps, direct_err = throughput("http://%s:%d/echo" % (lab.state["echo"]["host"], lab.state["echo"]["port"]),
                                            a.seconds, a.clients)
        lb_rps, lb_err = throughput(lab.lb_url() + "/echo", a.seconds, a.clients)
        start_med, cli_med = statistics.median(starts), statistics.median(cli)
        print("lab bench (traditional, %d nodes, Kong %s, load average %.1f)" % (a.nodes, a.version, os.getloadavg()[0]))
        print("  lab up (PostgreSQL, bootstrap, nodes, seed, HAProxy) %6.2f s" % up_s)
        print("  node start (kong start, median of %d)                %6.3f s   aim < 1 s   %s" % (
            len(starts), start_med, "OK" if start_med < 1 else "SLOW"))
        print("  node stop (kong stop, median)                        %6.3f s" % statistics.median(stops))
        print("  reference: 'kong version' (one CLI call, median)      %6.3f s   start/version = %.1fx" % (
            cli_med, start_med / cli_med if cli_med else 0))
        print("  requests/s through HAProxy (%d clients, %.0f s)       %8.0f   aim > 1000  %s  errors %d" % (
            a.clients, a.seconds, lb_rps, "OK" if lb_rps > 1000 else "LOW", lb_err))
        print("  reference: requests/s straight to the echo server    %8.0f   HAProxy+Kong/direct = %.2f  errors %d" % (
            direct_rps, lb_rps / direct_rps if direct_rps else 0, direct_err))
    finally:
        lab.down()
        os.rmdir(parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
