"""Where a playbook run spends its time, from a bench_timer file: the slowest tasks and the sums per role and module.

    .venv/bin/python bench/timer_top.py TIMER_JSON [--play REGEX] [--top 15] [--from REGEX --until REGEX]

--play keeps the plays whose name matches (a `serial` play has one row per batch: all matching batches are summed).
--from/--until keep the tasks from the first task whose name matches --from up to (not including) the next task that
matches --until, e.g. the in-place window between the node's stop and its start. A task's seconds are its wall time
over all hosts of its batch (bench/callback_plugins/bench_timer.py). Module tasks are those whose action is not run in
the controller (the same list as bench/module_calls.py).
"""

import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from module_calls import CONTROLLER, short  # noqa: E402


def play_of(plays, start):
    for p in plays:
        if p["start"] <= start < p["start"] + p["seconds"] + 1e-6:
            return p
    return None


def select(timer, play=None, first=None, until=None):
    tasks = timer.get("tasks", [])
    plays = timer.get("plays", [])
    if play:
        tasks = [t for t in tasks if re.search(play, (play_of(plays, t["start"]) or {}).get("name", ""))]
    if first:
        out, inside = [], False
        for t in tasks:
            if not inside and re.search(first, t["name"]):
                inside = True
            elif inside and until and re.search(until, t["name"]):
                break
            if inside:
                out.append(t)
        tasks = out
    return tasks


def summary(tasks, top):
    total = sum(t["seconds"] for t in tasks)
    module = [t for t in tasks if short(t["action"]) not in CONTROLLER]
    lines = ["%d tasks, %.1f s; %d module tasks %.1f s, controller tasks %.1f s" % (
        len(tasks), total, len(module), sum(t["seconds"] for t in module), total - sum(t["seconds"] for t in module))]
    by = {}
    for t in tasks:
        key = short(t["action"])
        n, s = by.get(key, (0, 0.0))
        by[key] = (n + 1, s + t["seconds"])
    lines += ["", "| action | tasks | s | s per task |", "|---|---|---|---|"]
    for key, (n, s) in sorted(by.items(), key=lambda kv: -kv[1][1])[:top]:
        lines.append("| %s | %d | %.1f | %.2f |" % (key, n, s, s / n))
    lines += ["", "| slowest tasks | action | s |", "|---|---|---|"]
    for t in sorted(tasks, key=lambda t: -t["seconds"])[:top]:
        lines.append("| %s | %s | %.1f |" % (t["name"], short(t["action"]), t["seconds"]))
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("timer")
    ap.add_argument("--play", help="regex on the play name")
    ap.add_argument("--from", dest="first", help="regex on the task name where the window starts")
    ap.add_argument("--until", help="regex on the task name where the window ends (not included)")
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args(argv)
    with open(args.timer) as f:
        timer = json.load(f)
    print(summary(select(timer, args.play, args.first, args.until), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
