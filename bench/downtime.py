"""Downtime per upgrade strategy: failed requests, latency and the longest gap under a steady rate through HAProxy.

    .venv/bin/python bench/downtime.py [--strategies in_place,blue_green,dual_cluster,rolling,hybrid] [--rate 50]

For each strategy: a fresh lab (tests/lab) of its topology, the load generator started through HAProxy
(`labctl load start`), the collection's playbook for that strategy, the load stopped 2 s after the playbook ends, the
lab torn down (also on Ctrl-C). One row per strategy: requests sent, failed, p50/p99 latency, the longest time without
a successful response, the window (playbook wall time) and the load average. A strategy whose playbook fails prints
"FAILED: <reason>" in its row instead of stopping the table.

In-place stops every node, so it has downtime by design; its row compares the longest gap with the bound the issue
sets, measured in the same run: `kong migrations up` + `finish` (task wall times) + the node start (the start task)
+ one HAProxy health interval (`inter` x `rise` of the lab's backend check).

  strategy      topology                  versions          playbook
  in_place      traditional, --nodes      2.8.4 -> 3.4.2    upgrade_traditional.yml  kong_upgrade_strategy=in_place
  blue_green    dual (Y on X's database)  3.4.0 -> 3.4.2    upgrade_traditional.yml  kong_upgrade_strategy=blue_green
  dual_cluster  dual, --nodes per cluster 2.8.4 -> 3.4.2    upgrade_traditional.yml  kong_upgrade_strategy=dual_cluster
  rolling       dbless, --nodes           2.8.4 -> 3.4.2    upgrade_dbless.yml
  hybrid        hybrid, --nodes DPs       2.8.4 -> 3.4.2    upgrade_hybrid.yml       (kong_cp_strategy=in_place)
Blue-green runs between patch releases: Kong recommends it only there, and the playbook's preflight refuses more.
"""

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib as bl  # noqa: E402

STRATEGIES = {
    "in_place": {"topology": "traditional", "size_opt": "--nodes", "from": "2.8.4", "to": "3.4.2",
                 "playbook": "playbooks/upgrade_traditional.yml", "vars": {"kong_upgrade_strategy": "in_place"}},
    "blue_green": {"topology": "dual", "size_opt": "--nodes", "from": "3.4.0", "to": "3.4.2",
                   "playbook": "playbooks/upgrade_traditional.yml", "vars": {"kong_upgrade_strategy": "blue_green"}, "y_on_x": True},
    "dual_cluster": {"topology": "dual", "size_opt": "--nodes", "from": "2.8.4", "to": "3.4.2",
                     "playbook": "playbooks/upgrade_traditional.yml", "vars": {"kong_upgrade_strategy": "dual_cluster"}},
    "rolling": {"topology": "dbless", "size_opt": "--nodes", "from": "2.8.4", "to": "3.4.2",
                "playbook": "playbooks/upgrade_dbless.yml", "vars": {}},
    "hybrid": {"topology": "hybrid", "size_opt": "--data-planes", "from": "2.8.4", "to": "3.4.2",
               "playbook": "playbooks/upgrade_hybrid.yml", "vars": {"kong_cp_strategy": "in_place"}},
}


def in_place_bound(lab, timer):
    """(migrations s, node start s, health interval s) of an in-place run, from the timer's task rows."""
    migrations = bl.tasks_seconds(timer, r"^(kongops\.upgrade\.in_place : )?Run kong migrations (up|finish)")
    # "Start Kong on the node" is an include_role task: the timer names it without the role prefix
    start = bl.task_window(timer, r"^(kongops\.upgrade\.in_place : )?Start Kong on the node$", r"in_place : Record the step on the node")
    return migrations, start, lab.haproxy_health_interval()


def one(args, name, work, subnet):
    spec = STRATEGIES[name]
    lab_dir = "%s-%s" % (args.dir, name)
    log = os.path.join(work, name + ".log")
    row = {"strategy": name, "from": spec["from"], "to": spec["to"], "log": log}
    bl.say("%s: lab up (%s %s %d)" % (name, spec["topology"], spec["size_opt"], args.nodes))
    try:
        with bl.Lab(lab_dir, spec["topology"], spec["from"], spec["to"], subnet, spec["size_opt"], args.nodes) as lab:
            extra = {"kong_target_version": spec["to"],
                     "kong_upgrade_report_dir": os.path.join(lab_dir, "reports"),
                     "kong_upgrade_backup_dir": os.path.join(lab_dir, "backups")}
            extra.update(spec["vars"])
            if spec.get("y_on_x"):
                db = lab.state["databases"]["pg_x"]
                extra["kong_upgrade_y_conf_overrides"] = {"pg_host": db["host"], "pg_port": db["port"], "pg_database": db["database"]}
            lab.load_start(args.rate)
            time.sleep(2)
            row["loadavg"] = bl.loadavg()
            bl.say("%s: playbook under %s req/s (load average %s)" % (name, args.rate, row["loadavg"]))
            timer_out = os.path.join(work, name + ".timer.json")
            rc, seconds, timer = bl.ansible_playbook(lab, spec["playbook"], extra, timer_out, log)
            time.sleep(2)
            row["load"] = lab.load_stop()
            row.update(rc=rc, window_s=seconds, timer=timer_out)
            if rc != 0:
                row["error"] = bl.last_failure(log)
            if name == "in_place" and rc == 0:
                row["bound"] = in_place_bound(lab, timer)
    except bl.BenchError as e:
        row.update(rc=-1, error="lab: %s" % str(e)[:200])
    bl.say("%s: %s" % (name, "ok" if row.get("rc") == 0 else "FAILED: %s" % row.get("error")))
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated (default %(default)s)")
    ap.add_argument("--nodes", type=int, default=2, help="nodes per cluster / data planes (default %(default)s)")
    ap.add_argument("--rate", type=float, default=50.0, help="requests/s through HAProxy (default %(default)s)")
    ap.add_argument("--subnet", default="127.65.20", help="lab node addresses (default %(default)s)")
    ap.add_argument("--dir", default="/tmp/kongops-bench-downtime", help="lab directory prefix (default %(default)s)")
    ap.add_argument("--json", help="write every figure to this JSON file")
    args = ap.parse_args(argv)
    names = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = [s for s in names if s not in STRATEGIES]
    if unknown:
        ap.error("unknown strategies: %s (known: %s)" % (", ".join(unknown), ", ".join(STRATEGIES)))
    bl.install_signal_handlers()
    work = tempfile.mkdtemp(prefix="kongops-bench-downtime-")
    rows = []
    try:
        for name in names:
            rows.append(one(args, name, work, args.subnet))
    except KeyboardInterrupt:
        bl.say("interrupted: the labs are down; partial results follow")
    finally:
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"args": vars(args), "rows": rows, "logs": work}, f, indent=1)

    out = []
    for r in rows:
        ld = r.get("load") or {}
        lat = ld.get("latency_ms") or {}
        cells = [r["strategy"], "%s -> %s" % (r["from"], r["to"])]
        if ld:
            cells += [ld.get("total"), ld.get("failed"), bl.fmt(lat.get("p50")), bl.fmt(lat.get("p99")), bl.fmt(ld.get("longest_gap_s"), 2)]
        else:
            cells += ["-"] * 5
        cells += [bl.fmt(r.get("window_s")), r.get("loadavg", "-")]
        cells.append("ok" if r.get("rc") == 0 else "FAILED: %s" % r.get("error"))
        out.append(cells)
    print(bl.table(["strategy", "versions", "requests", "failed", "p50 ms", "p99 ms", "longest gap s", "window s", "load avg",
                    "result"], out))
    for r in rows:
        if r.get("bound"):
            mig, start, health = r["bound"]
            total = mig + (start or 0) + health
            gap = r["load"]["longest_gap_s"]
            verdict = "within" if gap <= total else "EXCEEDED"
            print("\nin_place: longest gap %.1f s; bound = migrations up+finish %.1f s + node start %s s + health interval %.1f s"
                  " = %.1f s: %s (gap/bound %.2f)" % (gap, mig, bl.fmt(start), health, total, verdict, gap / total if total else 0))
    print("\nlogs and timer files: %s" % work)
    return 0 if rows and all(r.get("rc") == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
