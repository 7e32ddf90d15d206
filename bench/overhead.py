"""Orchestration overhead: the same hybrid upgrade by playbooks/upgrade_hybrid.yml and by bench/hybrid_by_hand.sh.

    .venv/bin/python bench/overhead.py [--sizes 3,10,30] [--batch 1,25%] [--batch 50%] [--rate 20]

For every data-plane count N (and every --batch, Ansible's `serial` list, passed as kong_upgrade_batch_size): a fresh
lab (tests/lab hybrid: 1 control plane + N data planes on --from, offering --to) upgraded by the plain shell script,
then a fresh lab upgraded by the playbook, one after the other in this run, under the same steady load through HAProxy.
Prints wall times, the ratio playbook/script, seconds per data plane, module results, the playbook's time per phase
and batch (from bench/callback_plugins/bench_timer.py) and the load result of each run. Every lab is torn down, also
on Ctrl-C. Wrap it in the machine's heavy-run semaphore on shared machines: /tmp/s2/heavy .venv/bin/python ...
--json FILE keeps every figure (the timer's per-task rows included) for docs/performance.md.
"""

import argparse
import json
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib as bl  # noqa: E402


def parse_batch(text):
    """'1,25%' -> [1, '25%'] (Ansible's serial list)."""
    out = []
    for part in text.split(","):
        part = part.strip()
        out.append(part if part.endswith("%") else int(part))
    return out


def batch_sizes(spec, n):
    """The batch sizes Ansible's serial gives for n hosts (ansible.utils.helpers.pct_to_int, last item repeats)."""
    sizes, left, i = [], n, 0
    while left > 0:
        item = spec[min(i, len(spec) - 1)]
        size = (int(int(item[:-1]) / 100.0 * n) or 1) if isinstance(item, str) else int(item)
        sizes.append(min(size, left))
        left -= size
        i += 1
    return sizes


def script_phases(text):
    return [(m.group(1), float(m.group(2))) for m in re.finditer(r"^phase (\S+(?: \(\d+ nodes\))?)\s+([0-9.]+) s", text, re.M)]


def playbook_phases(timer):
    """(name, seconds) per play run; a `serial` play gives one row per batch (with its host count)."""
    rows = []
    for p in timer.get("plays", []):
        if p["seconds"] < 2.5:
            continue
        name = p["name"]
        if "Data planes" in name:
            name = "dp batch (%d nodes)" % len(p["hosts"])
        rows.append((name, p["seconds"]))
    return rows


def cell(r):
    if r is None:
        return "-"
    return bl.fmt(r["seconds"]) if r["rc"] == 0 else "FAILED: %s" % r.get("error")


def one(args, n, batch, mode, work):
    lab_dir = "%s-%s-%d" % (args.dir, mode, n)
    log = os.path.join(work, "%s-%d-%s.log" % (mode, n, "_".join(str(b) for b in batch).replace("%", "pct")))
    res = {"mode": mode, "n": n, "batch": batch, "log": log}
    bl.say("N=%d batch=%s %s: lab up" % (n, batch, mode))
    with bl.Lab(lab_dir, "hybrid", args.from_version, args.to_version, args.subnet, "--data-planes", n) as lab:
        res["lab_up_s"] = lab.up_seconds
        if args.rate > 0:
            lab.load_start(args.rate)
            time.sleep(2)
        res["load_before"] = bl.loadavg()
        bl.say("N=%d %s: upgrading (load average %s)" % (n, mode, res["load_before"]))
        if mode == "script":
            env = dict(os.environ, KONGOPS_BENCH_PYTHON=os.path.join(bl.VENV_BIN, "python"))
            rc, seconds, text = bl.run([os.path.join(bl.REPO, "bench", "hybrid_by_hand.sh"), lab_dir, args.to_version]
                                       + [str(b) for b in batch], env=env, log=log, check=False, timeout=7200)
            res["phases"] = script_phases(text)
        else:
            timer_out = os.path.join(work, "timer-%d-%s.json" % (n, "_".join(str(b) for b in batch).replace("%", "pct")))
            extra = {"kong_target_version": args.to_version, "kong_upgrade_batch_size": batch,
                     "kong_upgrade_report_dir": os.path.join(lab_dir, "reports"),
                     "kong_upgrade_backup_dir": os.path.join(lab_dir, "backups")}
            rc, seconds, timer = bl.ansible_playbook(lab, "playbooks/upgrade_hybrid.yml", extra, timer_out, log)
            res["phases"] = playbook_phases(timer)
            res["host_results"] = timer.get("host_results")
            res["timer"] = timer_out
        res["load_after"] = bl.loadavg()
        res.update(rc=rc, seconds=seconds)
        if rc != 0:
            res["error"] = bl.last_failure(log) if mode == "playbook" else bl.last_lines(log)
        if args.rate > 0:
            time.sleep(1)
            res["load"] = lab.load_stop()
    bl.say("N=%d %s: %s in %.1f s" % (n, mode, "ok" if rc == 0 else "FAILED", seconds))
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="3,10,30", help="data-plane counts N (default %(default)s)")
    ap.add_argument("--batch", action="append", help="kong_upgrade_batch_size as Ansible's serial list, e.g. 1,25%% "
                    "(repeat for several; default 1,25%%, the playbook's default)")
    ap.add_argument("--modes", default="script,playbook", help="which runs (default %(default)s)")
    ap.add_argument("--from", dest="from_version", default="2.8.4")
    ap.add_argument("--to", dest="to_version", default="3.4.2")
    ap.add_argument("--rate", type=float, default=20.0, help="steady load through HAProxy during each run, req/s (0: none)")
    ap.add_argument("--subnet", default="127.65.10", help="lab node addresses (default %(default)s)")
    ap.add_argument("--dir", default="/tmp/kongops-bench-overhead", help="lab directory prefix (default %(default)s)")
    ap.add_argument("--json", help="write every figure to this JSON file")
    args = ap.parse_args(argv)
    bl.install_signal_handlers()
    sizes = [int(s) for s in args.sizes.split(",")]
    batches = [parse_batch(b) for b in (args.batch or ["1,25%"])]
    modes = args.modes.split(",")
    work = tempfile.mkdtemp(prefix="kongops-bench-overhead-")
    results = []
    t0 = time.time()
    try:
        for n in sizes:
            for batch in batches:
                for mode in modes:
                    results.append(one(args, n, batch, mode, work))
    except KeyboardInterrupt:
        bl.say("interrupted: the labs are down; partial results follow")
    finally:
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"args": vars(args), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
                           "results": results, "logs": work}, f, indent=1)

    rows = []
    by_key = {}
    for r in results:
        by_key[(r["n"], json.dumps(r["batch"]), r["mode"])] = r
    for n in sizes:
        for batch in batches:
            key = (n, json.dumps(batch))
            s, p = by_key.get(key + ("script",)), by_key.get(key + ("playbook",))
            ratio = (p["seconds"] / s["seconds"]) if (s and p and s["rc"] == 0 and p["rc"] == 0) else None
            failed = "/".join(str(r["load"]["failed"]) if r and "load" in r else "-" for r in (s, p))
            rows.append([n, ",".join(str(b) for b in batch), "+".join(str(x) for x in batch_sizes(batch, n)), cell(s), cell(p),
                         bl.fmt(ratio, 2), bl.fmt(p["seconds"] / n if p and p["rc"] == 0 else None),
                         p.get("host_results") if p else "-", failed,
                         "%s / %s" % (s["load_before"], p["load_before"]) if s and p else "-"])
    print(bl.table(["N", "batch size", "batches", "script s", "playbook s", "playbook/script", "playbook s per DP",
                    "module results", "failed req (script/pb)", "load avg at start (script / pb)"], rows))
    print()
    for r in results:
        print("%s N=%d batch=%s: %s" % (r["mode"], r["n"], r["batch"], ", ".join("%s %.1f s" % ph for ph in r.get("phases", []))))
    print("\nlogs and timer files: %s" % work)
    return 0 if results and all(r["rc"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
