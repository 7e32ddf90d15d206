"""Count the module calls of a playbook run, per play (per `serial` batch), from its log and bench_timer file.

    .venv/bin/python bench/module_calls.py PLAYBOOK_LOG TIMER_JSON [-v]

A module call is one host result ("ok:", "changed:", "failed:", "fatal:", loop items counted one by one) of a task
whose action starts a module on a host; controller-side actions (set_fact, assert, debug, include_*/import_*, meta,
fail, set_stats, add_host, group_by, the role argument validation) and skipped results are not counted. The log is
the default callback's output (bench/overhead.py keeps one per run, with the timer file, in the directory it prints).
"""

import json
import re
import sys

CONTROLLER = {"set_fact", "assert", "debug", "include_role", "import_role", "include_tasks", "import_tasks", "meta", "fail",
              "set_stats", "add_host", "group_by", "validate_argument_spec", "include_vars", "pause"}
RESULT = re.compile(r"^(ok|changed|failed|fatal): \[")
TASK = re.compile(r"^TASK \[(.*)\] \**$")
PLAY = re.compile(r"^PLAY \[(.*)\] \**$")


def short(action):
    return action.rsplit(".", 1)[-1]


def count(log_path, timer_path):
    timer = json.load(open(timer_path))
    actions = {}
    for t in timer["tasks"]:
        actions.setdefault(t["name"], short(t["action"]))  # the timer's name is the log's ("role : task")
    plays, current, action = [], None, None
    for line in open(log_path, errors="replace"):
        line = line.rstrip("\n")
        m = PLAY.match(line)
        if m:
            current = {"play": m.group(1), "calls": 0, "hosts": set(), "by_task": {}}
            plays.append(current)
            continue
        m = TASK.match(line)
        if m:
            task_name = m.group(1)
            action = actions.get(task_name, "?")
            continue
        m = RESULT.match(line)
        if m and current is not None and action not in CONTROLLER:
            host = line.split("[", 1)[1].split("]", 1)[0].split(" -> ")[0]
            current["calls"] += 1
            current["hosts"].add(host)
            current["by_task"][task_name] = current["by_task"].get(task_name, 0) + 1
    return plays


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__)
        return 2
    plays = count(argv[1], argv[2])
    print("| play | hosts | module calls | per host |\n|---|---|---|---|")
    for p in plays:
        if p["calls"]:
            n = len(p["hosts"]) or 1
            print("| %s | %d | %d | %.1f |" % (p["play"], n, p["calls"], p["calls"] / float(n)))
            if argv[3:] == ["-v"]:
                for task, calls in p["by_task"].items():
                    print("|   %s | | %d | |" % (task, calls))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
