"""Callback for the benchmarks: wall time per play, per task and per batch, written as JSON.

Enable it for one run (it is not part of the collection):

    ANSIBLE_CALLBACK_PLUGINS=bench/callback_plugins ANSIBLE_CALLBACKS_ENABLED=bench_timer \
    BENCH_TIMER_OUT=/tmp/timer.json ansible-playbook ...

ansible-core 2.19 ships no profile_tasks (that is ansible.posix, not installed here). This one records, for each
task start, the time until the next task (or play) starts, i.e. the task's wall time over all hosts of its batch,
keyed by "role : task name", and one row per play with its hosts (a `serial` play gives one row per batch).
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_timer
type: aggregate
short_description: wall time per play, batch and task as JSON (benchmarks only)
description:
  - Writes the JSON file named by the BENCH_TIMER_OUT environment variable at the end of the run.
requirements:
  - enabled in ANSIBLE_CALLBACKS_ENABLED
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.t0 = time.time()
        self.plays = []
        self.tasks = []
        self.current_task = None
        self.current_play = None
        self.host_calls = 0

    def _close_task(self, now):
        if self.current_task is not None:
            self.current_task["seconds"] = round(now - self.current_task["start"], 3)
            self.current_task["start"] = round(self.current_task["start"] - self.t0, 3)
            self.tasks.append(self.current_task)
            self.current_task = None

    def _close_play(self, now):
        self._close_task(now)
        if self.current_play is not None:
            self.current_play["seconds"] = round(now - self.current_play["start"], 3)
            self.current_play["start"] = round(self.current_play["start"] - self.t0, 3)
            self.plays.append(self.current_play)
            self.current_play = None

    def v2_playbook_on_play_start(self, play):
        now = time.time()
        self._close_play(now)
        if self.plays:
            self._write(now, False)  # partial figures survive an interrupted run
        self.current_play = {"name": play.get_name().strip(), "start": now, "hosts": [], "tasks": 0}

    def _task_start(self, task):
        now = time.time()
        self._close_task(now)
        role = task._role.get_name() if task._role else ""
        name = task.get_name().strip()
        self.current_task = {"name": name, "role": role, "action": task.action, "start": now, "hosts": 0}
        if self.current_play is not None:
            self.current_play["tasks"] += 1

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_start(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._task_start(task)

    def _host_result(self, result):
        self.host_calls += 1
        if self.current_task is not None:
            self.current_task["hosts"] += 1
        host = result._host.get_name()
        if self.current_play is not None and host not in self.current_play["hosts"]:
            self.current_play["hosts"].append(host)

    def v2_runner_on_ok(self, result):
        self._host_result(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._host_result(result)

    def v2_runner_on_skipped(self, result):
        self._host_result(result)

    def v2_runner_on_unreachable(self, result):
        self._host_result(result)

    def _write(self, now, final):
        out = os.environ.get("BENCH_TIMER_OUT")
        if not out:
            return
        doc = {"seconds": round(now - self.t0, 3), "final": final, "host_results": self.host_calls, "plays": self.plays, "tasks": self.tasks}
        with open(out + ".tmp", "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(out + ".tmp", out)

    def v2_playbook_on_stats(self, stats):
        now = time.time()
        self._close_play(now)
        self._write(now, True)
