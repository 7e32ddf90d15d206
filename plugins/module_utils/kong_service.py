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

Plain Python: the module passes ``runner(argv) -> (rc, stdout, stderr)``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

ACTIONS = ("start", "stop", "quit", "restart", "status")
MANAGERS = ("systemd", "kong_cli", "command")


class ServiceError(Exception):
    def __init__(self, msg, **details):
        super(ServiceError, self).__init__(msg)
        self.msg = msg
        self.details = details


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
    if p["manager"] == "systemd":
        return ["systemctl", {"quit": "stop"}.get(step, step), p["name"]]
    if p["manager"] == "kong_cli":
        if step == "start":
            return [p["kong_bin"], "start", "-c", p["conf_path"], "-p", p["prefix"]]
        if step == "restart":
            return [p["kong_bin"], "restart", "-c", p["conf_path"], "-p", p["prefix"]]
        if step == "quit":
            return [p["kong_bin"], "quit", "-p", p["prefix"], "-t", str(p["quit_timeout"])]
        return [p["kong_bin"], "stop", "-p", p["prefix"]]
    return list(p["commands"][step])


def check_request(p):
    if p["action"] not in ACTIONS or p["manager"] not in MANAGERS:
        raise ServiceError("action must be one of %s and manager one of %s" % (", ".join(ACTIONS), ", ".join(MANAGERS)))
    if p["manager"] == "command" and "status" not in (p.get("commands") or {}):
        raise ServiceError("the command manager needs at least a status command (commands.status)")


def run_service(p, runner, check_mode=False):
    """Read the state, run the steps; returns {changed, was_running, running, steps, commands}."""
    check_request(p)
    argv = status_argv(p)
    rc, out, _err = runner(argv)
    was_running = is_running(p, rc, out)
    todo = steps(p["action"], was_running, p["manager"], p.get("commands"))
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
    if p["action"] in ("start", "restart"):
        running = True
    elif p["action"] in ("stop", "quit"):
        running = False
    else:
        running = was_running
    return {"changed": bool(todo), "was_running": was_running, "running": running, "steps": todo, "ran": ran}
