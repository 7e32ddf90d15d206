# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kong_service: read the state and act in one call, for the systemd, kong_cli and command managers."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.kongops.upgrade.plugins.module_utils import kong_service as ks


def no_process():
    return None


def params(**kw):
    p = dict(action="status", manager="command", name="kong", kong_bin="/usr/local/bin/kong", conf="/etc/kong/kong.conf",
             prefix="/usr/local/kong", quit_timeout=10, commands={a: ["svc", a] for a in ("start", "stop", "quit", "status")})
    p.update(kw)
    return p


def _run(p, runner, check_mode=False, probe=no_process):
    return ks.run_service(p, runner, check_mode=check_mode, probe=probe, sleep=lambda s: None)


class Runner:
    def __init__(self, running, fail=None):
        self.running, self.fail, self.calls = running, fail, []

    def __call__(self, argv):
        self.calls.append(list(argv))
        if argv[-1] == "status" or argv[1:2] in (["health"], ["is-active"]):
            if argv[1:2] == ["is-active"]:
                return 3 if not self.running else 0, "active\n" if self.running else "inactive\n", ""
            return (0 if self.running else 1), "", ""
        if self.fail and self.fail in argv:
            return 1, "", "boom"
        return 0, "", ""


@pytest.mark.parametrize("action,running,expected", [
    ("start", False, ["start"]), ("start", True, []), ("quit", True, ["quit"]), ("quit", False, []),
    ("stop", True, ["stop"]), ("restart", True, ["stop", "start"]), ("restart", False, ["start"]), ("status", True, []),
])
def test_command_manager_acts_only_when_needed(action, running, expected):
    r = Runner(running)
    out = _run(params(action=action), r)
    assert out["steps"] == expected and out["changed"] == bool(expected)
    assert out["was_running"] is running
    assert r.calls == [["svc", "status"]] + [["svc", s] for s in expected]
    assert out["running"] is {"start": True, "restart": True, "stop": False, "quit": False, "status": running}[action]


def test_command_quit_falls_back_to_stop_and_restart_command_is_used():
    cmds = {a: ["svc", a] for a in ("start", "stop", "status", "restart")}
    assert _run(params(action="quit", commands=cmds), Runner(True))["steps"] == ["stop"]
    assert _run(params(action="restart", commands=cmds), Runner(True))["steps"] == ["restart"]


def test_command_manager_missing_commands():
    with pytest.raises(ks.ServiceError, match="lacks start for action start"):
        _run(params(action="start", commands={"status": ["svc", "status"]}), Runner(False))
    with pytest.raises(ks.ServiceError, match="at least a status command"):
        _run(params(commands={}), Runner(False))


def test_kong_cli_argv():
    r = Runner(True)
    out = _run(params(action="quit", manager="kong_cli", quit_timeout=7), r)
    assert out["steps"] == ["quit"]
    assert r.calls == [["/usr/local/bin/kong", "health", "-p", "/usr/local/kong"], ["/usr/local/bin/kong", "quit", "-p", "/usr/local/kong", "-t", "7"]]
    r = Runner(False)
    _run(params(action="restart", manager="kong_cli"), r)
    assert r.calls[1] == ["/usr/local/bin/kong", "start", "-c", "/etc/kong/kong.conf", "-p", "/usr/local/kong"]


def test_systemd_quit_is_stop_and_state_from_is_active():
    r = Runner(True)
    out = _run(params(action="quit", manager="systemd", name="kong-enterprise-edition"), r)
    assert r.calls == [["systemctl", "is-active", "kong-enterprise-edition"], ["systemctl", "stop", "kong-enterprise-edition"]]
    assert out["was_running"] and not out["running"]
    assert _run(params(action="start", manager="systemd"), Runner(True))["steps"] == []


def test_check_mode_reads_but_does_not_act():
    r = Runner(False)
    out = _run(params(action="start"), r, check_mode=True)
    assert out["changed"] and out["steps"] == ["start"] and r.calls == [["svc", "status"]]


def test_a_failing_step_is_reported():
    with pytest.raises(ks.ServiceError, match="start of Kong failed \\(rc 1\\): boom"):
        _run(params(action="start"), Runner(False, fail="start"))


class Process:
    """A Kong process that ends after ``lives`` more looks (None: never)."""

    def __init__(self, pid, lives=None):
        self.pid, self.lives = pid, lives

    def __call__(self):
        if self.lives is not None:
            if self.lives <= 0:
                return None
            self.lives -= 1
        return self.pid


def test_kong_started_outside_systemd_is_seen_and_quit_with_kong():
    r = Runner(False)   # systemd: unit inactive
    out = _run(params(action="quit", manager="systemd"), r, probe=Process(4242, lives=1))
    assert out["was_running"] and out["outside_manager"] and out["pid_before"] == 4242
    assert r.calls == [["systemctl", "is-active", "kong"], ["/usr/local/bin/kong", "quit", "-p", "/usr/local/kong", "-t", "10"]]
    assert not out["running"] and out["steps"] == ["outside_quit"]


def test_a_stop_that_leaves_kong_running_fails():
    clock = iter(range(0, 1000))
    with pytest.raises(ks.ServiceError, match="Kong still runs in /usr/local/kong \\(pid 7\\) after quit"):
        ks.run_service(params(action="quit", manager="systemd"), Runner(True), probe=Process(7), sleep=lambda s: None,
                       clock=lambda: next(clock))


def test_stop_waits_for_the_process_to_end():
    out = _run(params(action="stop", manager="kong_cli"), Runner(True), probe=Process(7, lives=3))
    assert out["steps"] == ["stop"] and not out["running"]


def test_start_does_nothing_when_kong_runs_outside_the_manager():
    r = Runner(False)
    out = _run(params(action="start", manager="systemd"), r, probe=Process(9))
    assert out["steps"] == [] and out["running"] and out["outside_manager"]
    assert r.calls == [["systemctl", "is-active", "kong"]]


def test_prefix_pid(tmp_path):
    import os
    assert ks.prefix_pid(str(tmp_path)) is None
    (tmp_path / "pids").mkdir()
    (tmp_path / "pids" / "nginx.pid").write_text("%d\n" % os.getpid())
    assert ks.prefix_pid(str(tmp_path)) == os.getpid()
    (tmp_path / "pids" / "nginx.pid").write_text("999999999\n")
    assert ks.prefix_pid(str(tmp_path)) is None
