# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start, stop, quit, restart or read a Kong node's service in one call (the kong_service module).

The running state is read first, so start/stop/quit act only when needed (restart always acts):

- systemd: ``systemctl is-active <unit>``; start/stop/restart with ``systemctl``. quit is ``systemctl stop``: Kong's
  packaged units stop with ExecStop sending QUIT, Kong's graceful shutdown.
- kong_cli: ``kong health -p <prefix>``; ``kong start -c <conf> -p <prefix>``, ``kong quit -p <prefix> -t <timeout>``,
  ``kong stop -p <prefix>``, ``kong restart -c <conf> -p <prefix>`` (``start`` when it was not running).
- command: argv lists per action; ``status`` exits 0 when Kong runs; quit falls back to stop, restart to stop + start.

Whatever the manager says, the node itself is asked too: a live process in ``<prefix>/pids/nginx.pid`` is a running
Kong. One started outside systemd (``kong start`` by hand) is stopped with ``kong quit -p <prefix>``; after a stop or a
quit the process must be gone within the quit timeout, or the call fails (installing Y under a live X, or running
``finish`` while X serves, must not follow a stop that did not happen).

Plain Python: the module passes ``runner(argv) -> (rc, stdout, stderr)`` and ``probe() -> pid or None``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import time

ACTIONS = ("start", "stop", "quit", "restart", "status")
MANAGERS = ("systemd", "kong_cli", "command")


class ServiceError(Exception):
    def __init__(self, msg, **details):
        super(ServiceError, self).__init__(msg)
        self.msg = msg
        self.details = details


def prefix_pid(prefix):
    """The pid in ``<prefix>/pids/nginx.pid`` when that process is alive, else None."""
    try:
        with open(os.path.join(prefix, "pids", "nginx.pid")) as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        return None
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except OSError as e:
        return pid if e.errno == errno.EPERM else None   # EPERM: alive, owned by another user
    return pid


def status_argv(p):
    if p["manager"] == "systemd":
        return ["systemctl", "is-active", p["name"]]
    if p["manager"] == "kong_cli":
        return [p["kong_bin"], "health", "-p", p["prefix"]]
    return list(p["commands"]["status"])


def is_running(p, rc, out):
    if p["manager"] == "systemd":
        return (out or "").strip() == "active"
    return rc == 0


def steps(action, running, manager, commands=None):
    """The step names to run for ``action`` given the state read first."""
    commands = commands or {}
    if action == "status":
        return []
    if action == "start":
        return [] if running else ["start"]
    if action in ("stop", "quit"):
        if not running:
            return []
        if action == "quit" and (manager != "command" or "quit" in commands):
            return ["quit"]
        return ["stop"]
    # restart
    if manager == "command":
        if running and "restart" in commands:
            return ["restart"]
        return (["stop"] if running else []) + ["start"]
    return ["restart"] if running else ["start"]


def step_argv(p, step):
    if step == "outside_quit":
        return [p["kong_bin"], "quit", "-p", p["prefix"], "-t", str(p["quit_timeout"])]
    if p["manager"] == "systemd":
        return ["systemctl", {"quit": "stop"}.get(step, step), p["name"]]
    if p["manager"] == "kong_cli":
        if step == "start":
            return [p["kong_bin"], "start", "-c", p["conf"], "-p", p["prefix"]]
        if step == "restart":
            return [p["kong_bin"], "restart", "-c", p["conf"], "-p", p["prefix"]]
        if step == "quit":
            return [p["kong_bin"], "quit", "-p", p["prefix"], "-t", str(p["quit_timeout"])]
        return [p["kong_bin"], "stop", "-p", p["prefix"]]
    return list(p["commands"][step])


def check_request(p):
    if p["action"] not in ACTIONS or p["manager"] not in MANAGERS:
        raise ServiceError("action must be one of %s and manager one of %s" % (", ".join(ACTIONS), ", ".join(MANAGERS)))
    if p["manager"] == "command" and "status" not in (p.get("commands") or {}):
        raise ServiceError("the command manager needs at least a status command (commands.status)")


def run_service(p, runner, check_mode=False, probe=None, sleep=time.sleep, clock=time.monotonic):
    """Read the state, run the steps, check a stop on the node; returns {changed, was_running, running, steps, ran,
    pid_before, outside_manager}."""
    check_request(p)
    probe = probe or (lambda: prefix_pid(p["prefix"]))
    argv = status_argv(p)
    rc, out, _err = runner(argv)
    managed = is_running(p, rc, out)
    pid_before = probe()
    was_running = managed or pid_before is not None
    # Running, but not as the manager knows it: only systemd has a state of its own to disagree with the node's.
    outside = p["manager"] == "systemd" and not managed and pid_before is not None
    todo = steps(p["action"], was_running, p["manager"], p.get("commands"))
    if outside:
        todo = ["outside_quit" if s in ("quit", "stop") else s for s in todo]
    if p["manager"] == "command":
        lacking = [s for s in todo if s not in p["commands"]]
        if lacking:
            raise ServiceError("commands lacks %s for action %s." % (", ".join(lacking), p["action"]), was_running=was_running)
    ran = []
    if not check_mode:
        for step in todo:
            argv = step_argv(p, step)
            rc, out, err = runner(argv)
            ran.append({"step": step, "rc": rc})
            if rc != 0:
                raise ServiceError("%s of Kong failed (rc %s): %s" % (step, rc, (err or out or "").strip()[-2000:]),
                                   was_running=was_running, steps=todo, ran=ran)
    if todo and p["action"] in ("stop", "quit") and not check_mode:
        deadline = clock() + float(p["quit_timeout"]) + 5.0
        pid = probe()
        while pid is not None and clock() < deadline:
            sleep(0.2)
            pid = probe()
        if pid is not None:
            raise ServiceError("Kong still runs in %s (pid %d) after %s: nothing that depends on it being stopped may run "
                               "(installing the new release, kong migrations finish). Stop it, then rerun." % (p["prefix"], pid, p["action"]),
                               was_running=was_running, steps=todo, ran=ran)
    if p["action"] in ("start", "restart"):
        running = True
    elif p["action"] in ("stop", "quit"):
        running = False
    else:
        running = was_running
    return {"changed": bool(todo), "was_running": was_running, "running": running, "steps": todo, "ran": ran,
            "pid_before": pid_before, "outside_manager": outside}
