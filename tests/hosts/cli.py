"""hostctl: labs of container hosts (see tests/hosts/README.md)."""

import argparse
import json
import os
import sys

from hosts.hostlab import DEFAULT_VERSION, TOPOLOGIES, HostLab, HostLabError
from lab import cli as lab_cli
from lab.topology import LabError

DEFAULT_DIR = "/tmp/kongops-hosts"


def cmd_up(a):
    lab = HostLab(a.dir)
    try:
        st = lab.up(a.topology, a.subnet, version=a.version, nodes=a.nodes, data_planes=a.data_planes, dual_cp=a.dual_cp,
                    lbs=a.lbs, seed_config=not a.no_seed)
    except Exception:
        if lab.state:
            print("hostctl: the lab in %s is partly up; 'hostctl --dir %s down' removes what was started" % (lab.dir, lab.dir),
                  file=sys.stderr)
        raise
    print("lab %s is up in %s (%.1f s): %d hosts, Kong %s, load balancer %s" % (
        st["topology"], lab.dir, st["up_seconds"], len(st["hosts"]), st["version"], lab.lb_url()))
    print("inventory: %s" % lab.p("inventory.yml"))
    print("timings: %s" % ", ".join("%s %.1fs" % kv for kv in st["up_timings"].items()))
    return 0


def cmd_down(a):
    problems = HostLab(a.dir).down()
    for p in problems:
        print("hostctl: %s" % p, file=sys.stderr)
    print("lab in %s is down" % a.dir if not problems else "lab down with problems")
    return 1 if problems else 0


def cmd_status(a):
    lab = HostLab(a.dir)
    if not lab.state:
        raise HostLabError("no lab in %s" % lab.dir)
    rows = lab.status()
    if a.json:
        print(json.dumps({"topology": lab.state["topology"], "dir": lab.dir, "hosts": rows}, indent=2))
        return 0
    for r in rows:
        pkg = r.get("package")
        print("%-8s %-10s %-15s %-8s %s" % (r["host"], r["kind"], r["address"], r["container"], "" if r["kind"] != "kong" else
              "%s %s%s, unit %s, running %s" % (r["role"], "%s=%s" % (pkg["name"], pkg["version"]) if pkg else "no package",
                                                " (held)" if pkg and pkg["held"] else "", "active" if r["unit_active"] else "inactive",
                                                r["running_version"])))
    return 0


def _worst(docs):
    """Counters of several load balancers as one: each number the largest any of them saw, the status the first's."""
    out = dict(docs[0])
    for doc in docs[1:]:
        for k, v in doc.items():
            if isinstance(v, int) and isinstance(out.get(k), int):
                out[k] = max(out[k], v)
    return out


def cmd_lb_stats(a):
    lab = HostLab(a.dir)
    if not lab.state:
        raise HostLabError("no lab in %s" % lab.dir)
    per_lb = {lb["name"]: lab.lb_stats(lb) for lb in lab.hosts("haproxy")}
    docs = list(per_lb.values())
    doc = {"backend": _worst([d["backend"] for d in docs]),
           "servers": {name: _worst([d["servers"][name] for d in docs if name in d["servers"]]) for name in docs[0]["servers"]},
           "load_balancers": per_lb}
    if a.json:
        print(json.dumps(doc, indent=2, sort_keys=True))
        return 0
    for name, d in sorted(per_lb.items()):
        b = d["backend"]
        print("%s: backend %s, down %ss, most queued %s, longest total time %s ms, 5xx %s" % (
            name, b.get("status"), b.get("downtime"), b.get("qmax"), b.get("ttime_max"), b.get("hrsp_5xx")))
    return 0


def cmd_load(a):
    lab = HostLab(a.dir)
    if not lab.state:
        raise HostLabError("no lab in %s" % lab.dir)
    return lab_cli.cmd_load(a, lab)


def build_parser():
    p = argparse.ArgumentParser(prog="hostctl", description="kongops.upgrade: labs of container hosts over SSH")
    p.add_argument("--dir", default=os.environ.get("KONGOPS_HOSTS_DIR", DEFAULT_DIR), help="lab directory (default %(default)s)")
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="bring a topology up on container hosts")
    up.add_argument("topology", choices=TOPOLOGIES)
    up.add_argument("--version", default=DEFAULT_VERSION)
    up.add_argument("--nodes", type=int, default=3)
    up.add_argument("--data-planes", type=int, default=3)
    up.add_argument("--dual-cp", action="store_true")
    up.add_argument("--lbs", type=int, default=1, choices=(1, 2), help="HAProxy hosts in front of the proxies")
    up.add_argument("--subnet", default=os.environ.get("KONGOPS_HOSTS_SUBNET", "127.90.1"))
    up.add_argument("--no-seed", action="store_true")
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="remove the lab's containers and processes, and its directory").set_defaults(func=cmd_down)
    st = sub.add_parser("status", help="each host: container, package (held?), unit, running version")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)
    lbs = sub.add_parser("lb-stats", help="outage counters of the Kong backend on every HAProxy host (JSON: the worst of them, "
                                          "and each)")
    lbs.add_argument("--json", action="store_true")
    lbs.set_defaults(func=cmd_lb_stats)
    lab_cli.add_load_parser(sub, cmd_load, 50.0)
    return p


def main(argv=None):
    a = build_parser().parse_args(argv)
    if a.cmd == "load" and a.action == "run" and a.duration is None:
        a.duration = 30.0
    try:
        return a.func(a)
    except (HostLabError, LabError) as e:
        print("hostctl: %s" % e, file=sys.stderr)
        return 1
