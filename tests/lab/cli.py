"""labctl: the upgrade sandbox's command line (see tests/lab/README.md)."""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

from lab import DEFAULT_LAB_DIR, haproxy, load, procs
from lab.topology import BACKEND, DEFAULT_TARGET, DEFAULT_VERSION, TOPOLOGIES, Lab, LabError, lab_env, lab_python


def _versions(text):
    return [v.strip() for v in text.split(",") if v.strip()] if text else None


def cmd_up(a):
    lab = Lab(a.dir)
    try:
        st = lab.up(a.topology, subnet=a.subnet, version=a.version, nodes=a.nodes, data_planes=a.data_planes,
                    offer=_versions(a.offer), seed_config=not a.no_seed, strict_lb=a.strict_lb,
                    dual_cp=a.dual_cp)
    except Exception as e:
        if lab.state and "already up" not in str(e):
            print("labctl: the lab in %s is partly up; 'labctl --dir %s down' ends what was started" % (lab.dir, lab.dir),
                  file=sys.stderr)
        if isinstance(e, subprocess.CalledProcessError):
            raise LabError("%s failed (exit %d): %s" % (" ".join(e.cmd), e.returncode, (e.stderr or "").strip())) from e
        raise
    print("lab %s is up in %s (%.2f s): %d Kong nodes on %s, HAProxy %s" % (
        st["topology"], lab.dir, st.get("up_seconds", 0), sum(1 for n in st["nodes"] if n["start"]), st["version"], lab.lb_url()))
    print("inventory: %s" % lab.p("inventory.yml"))
    print("timings: %s" % ", ".join("%s %.2fs" % kv for kv in st.get("up_timings", {}).items()))
    return 0


def cmd_down(a):
    lab = Lab(a.dir)
    problems = lab.down()
    for p in problems:
        print("labctl: %s" % p, file=sys.stderr)
    print("lab in %s is down" % lab.dir if not problems else "lab down with problems")
    return 1 if problems else 0


def cmd_status(a):
    lab = Lab(a.dir)
    rows = lab.status()
    if a.json:
        print(json.dumps({"topology": lab.state["topology"], "dir": lab.dir, "components": rows}, indent=2))
        return 0
    print("lab %s (%s) in %s, load balancer %s" % (lab.state["topology"], lab.state["version"], lab.dir, lab.lb_url()))
    cols = ("component", "kind", "address", "pid", "alive", "installed", "version", "health", "lb")
    table = [[str(r.get(c, "") if r.get(c) is not None else "-") for c in cols] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in table)) for i, c in enumerate(cols)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(cols, widths)))
    for t in table:
        print("  ".join(v.ljust(w) for v, w in zip(t, widths)))
    # components expected to run: the infrastructure, and every node that has a release installed
    expected = [r for r in rows if r["kind"] in ("postgresql", "upstream", "load_balancer", "load_generator") or r.get("installed")]
    return 0 if all(r["alive"] for r in expected) else 1


def cmd_repo(a):
    lab = Lab(a.dir)
    lab.add_to_repo(_versions(a.versions))
    print("repository %s offers: %s" % (lab.p("repo"), ", ".join(lab.state["offer"])))
    return 0


def cmd_lb_stats(a):
    lab = Lab(a.dir)
    if not lab.state:
        raise LabError("no lab in %s" % lab.dir)
    doc = haproxy.backend_stats(lab.sock, BACKEND)
    if a.json:
        print(json.dumps(doc, indent=2, sort_keys=True))
        return 0
    b = doc["backend"]
    print("backend %s: %s, down %ss, most queued %s, longest total time %s ms, 5xx %s" % (
        BACKEND, b.get("status"), b.get("downtime"), b.get("qmax"), b.get("ttime_max"), b.get("hrsp_5xx")))
    for name, v in sorted(doc["servers"].items()):
        print("  %-12s %-6s down %ss (%s times), retries %s, redispatches %s, conn errors %s, resp errors %s" % (
            name, v.get("status"), v.get("downtime"), v.get("chkdown"), v.get("wretr"), v.get("wredis"), v.get("econ"), v.get("eresp")))
    return 0


def _load_urls(lab, a):
    """--url as given, else every load balancer of the lab (hostctl labs may have two: both carry the load)."""
    if a.url:
        return a.url
    if not lab.state:
        raise LabError("no lab in %s and no --url given" % lab.dir)
    return [u + "/echo" for u in (lab.lb_urls() if hasattr(lab, "lb_urls") else [lab.lb_url()])]


def cmd_load(a, lab=None):
    """labctl load; hostctl passes its own lab (anything with dir, state, p() and lb_url())."""
    lab = lab or Lab(a.dir)
    urls = _load_urls(lab, a) if a.action in ("run", "start") else []
    url_args = [arg for u in urls for arg in ("--url", u)]
    pidfile = lab.p("load.pid")
    out = a.out or lab.p("load.json")
    if a.action == "run":
        argv = url_args + ["--rate", str(a.rate), "--duration", str(a.duration), "--max-lag", str(a.max_lag)]
        if a.out:
            argv += ["--out", a.out]
        return load.main(argv)
    if a.action == "start":
        if procs.owned(procs.read_pid(pidfile), "lab.load"):
            raise LabError("a load generator is already running (pid %s); 'labctl load stop' first" % procs.read_pid(pidfile))
        os.makedirs(lab.dir, exist_ok=True)
        argv = [lab_python(), "-m", "lab.load"] + url_args
        argv += ["--rate", str(a.rate), "--max-lag", str(a.max_lag), "--out", out, "--pidfile", pidfile, "--quiet"]
        if a.duration:
            argv += ["--duration", str(a.duration)]
        if os.path.exists(out):
            os.unlink(out)
        p = procs.spawn_detached(argv, os.path.join(lab.dir, "load.log"), env=lab_env())
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not os.path.exists(pidfile):
            time.sleep(0.02)
        print("load generator started (pid %d): %s at %s req/s, results in %s" % (p.pid, ", ".join(urls), a.rate, out))
        return 0
    if a.action == "stop":
        pid = procs.read_pid(pidfile)
        if procs.owned(pid, "lab.load"):
            os.kill(pid, signal.SIGTERM)
            procs.wait_gone(pid, 15)
    if a.action in ("stop", "show"):
        if not os.path.exists(out):
            raise LabError("no load results at %s" % out)
        with open(out) as f:
            doc = json.load(f)
        print(json.dumps(doc, indent=2) if a.json else load.format_summary(doc))
        return 0
    return 2


def build_parser():
    p = argparse.ArgumentParser(prog="labctl", description="kongops.upgrade sandbox: Kong nodes (kongsim), PostgreSQL, HAProxy, load")
    p.add_argument("--dir", default=os.environ.get("KONGOPS_LAB_DIR", DEFAULT_LAB_DIR), help="lab directory (default %(default)s)")
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="bring a topology up (safe to repeat)")
    up.add_argument("topology", choices=TOPOLOGIES)
    up.add_argument("--version", default=DEFAULT_VERSION, help="Kong version of the nodes (default %(default)s)")
    up.add_argument("--offer", help="comma-separated versions for the lab's package repository (default %s)" % DEFAULT_TARGET)
    up.add_argument("--nodes", type=int, default=3, help="traditional / dbless / dual: nodes per cluster")
    up.add_argument("--data-planes", type=int, default=3, help="hybrid: number of data planes (1-50)")
    up.add_argument("--subnet", default=os.environ.get("KONGOPS_LAB_SUBNET", "127.0.1"),
                    help="first three octets of the nodes' addresses (default %(default)s)")
    up.add_argument("--no-seed", action="store_true", help="do not seed the configuration")
    up.add_argument("--dual-cp", action="store_true",
                    help="hybrid: also a Y control plane host (cpy1, not installed) and an empty Y database server (pg_y)")
    up.add_argument("--strict-lb", action="store_true",
                    help="HAProxy without retries/redispatch: requests sent to a dead node fail visibly")
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="end everything the lab started and remove its directory").set_defaults(func=cmd_down)
    st = sub.add_parser("status", help="table of components, pids, versions, health")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)
    repo = sub.add_parser("repo", help="add versions to the lab's package repository")
    repo.add_argument("versions", help="comma-separated versions")
    repo.set_defaults(func=cmd_repo)
    lbs = sub.add_parser("lb-stats", help="HAProxy's outage counters of the Kong backend and its servers (downtime, queue, retries)")
    lbs.add_argument("--json", action="store_true")
    lbs.set_defaults(func=cmd_lb_stats)
    add_load_parser(sub, cmd_load, 200.0)
    return p


def add_load_parser(sub, func, rate):
    """The ``load`` subcommand (labctl and hostctl): paced load through the lab's load balancers."""
    ld = sub.add_parser("load", help="paced load through HAProxy: run (foreground), start/stop/show (background)")
    ld.add_argument("action", nargs="?", default="run", choices=("run", "start", "stop", "show"))
    ld.add_argument("--rate", type=float, default=rate)
    ld.add_argument("--duration", type=float, help="seconds (run: default 30; start: until 'load stop')")
    ld.add_argument("--url", action="append", help="repeatable; default: every HAProxy frontend of the lab + /echo")
    ld.add_argument("--max-lag", type=float, default=0.25)
    ld.add_argument("--out", help="JSON results file (background default: <lab>/load.json)")
    ld.add_argument("--json", action="store_true")
    ld.set_defaults(func=func)


def main(argv=None):
    a = build_parser().parse_args(argv)
    if a.cmd == "load" and a.action == "run" and a.duration is None:
        a.duration = 30.0
    try:
        return a.func(a)
    except LabError as e:
        print("labctl: %s" % e, file=sys.stderr)
        return 1
