# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the HAProxy runtime API helpers.

The fixtures are real answers of HAProxy 2.6.12 (Debian 12), recorded with
``stats socket ... level admin`` after ``set server kong_nodes/node2 state drain``
and ``set server kong_nodes/node2 weight 10``; server ``other/x1`` is
``disabled`` in the configuration.
"""

from __future__ import absolute_import, division, print_function

import os
import socket
import tempfile
import threading

import pytest

from ansible_collections.kongops.upgrade.plugins.module_utils import haproxy_runtime as hr

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


STATE = fixture("haproxy26_show_servers_state.txt")
STAT = fixture("haproxy26_show_stat_kong_nodes.csv")


class FakeHAProxy:
    """Answers like the runtime API for backend ``kong_nodes``, keeping state between commands."""

    def __init__(self, sessions=None):
        self.rows = {row["srv_name"]: row for row in hr.parse_servers_state(STATE) if row["be_name"] == "kong_nodes"}
        self.sessions = list(sessions or [0])
        self.sent = []

    def execute(self, command):
        self.sent.append(command)
        if command == "show servers state kong_nodes":
            header = STATE.splitlines()[:2]
            lines = []
            for row in self.rows.values():
                lines.append("3 kong_nodes %d %s 127.0.0.1 %d %d %d %d 0 1 0 2 0 0 0 0 - %d - 0 0 - - 0" % (
                    row["srv_id"], row["srv_name"], row["srv_op_state"], row["srv_admin_state"], row["srv_uweight"],
                    row["srv_iweight"], row["srv_port"]))
            return "\n".join(header + lines) + "\n\n"
        if command == "show stat kong_nodes 4 -1":
            scur = self.sessions.pop(0) if len(self.sessions) > 1 else self.sessions[0]
            head, node1, node2 = [line for line in STAT.splitlines() if line.strip()]
            fields = node2.split(",")
            fields[4] = str(scur)
            return "\n".join([head, node1, ",".join(fields)]) + "\n\n"
        parts = command.split()
        if parts[:2] == ["set", "server"]:
            backend, _unused, name = parts[2].partition("/")
            if name not in self.rows:
                return "No such server.\n\n"
            row = self.rows[name]
            if parts[3] == "weight":
                row["srv_uweight"] = int(parts[4])
            elif parts[4] == "ready":
                row["srv_admin_state"] &= ~(hr.ADMF_FMAINT | hr.ADMF_FDRAIN)
            elif parts[4] == "drain":
                row["srv_admin_state"] = (row["srv_admin_state"] & ~hr.ADMF_FMAINT) | hr.ADMF_FDRAIN
            elif parts[4] == "maint":
                row["srv_admin_state"] = (row["srv_admin_state"] & ~hr.ADMF_FDRAIN) | hr.ADMF_FMAINT
            return "\n"
        return "Unknown command.\n\n"


def test_parse_real_show_servers_state():
    rows = hr.parse_servers_state(STATE)
    assert [(r["be_name"], r["srv_name"]) for r in rows] == [("kong_nodes", "node1"), ("kong_nodes", "node2"), ("other", "x1")]
    node2 = rows[1]
    assert node2["srv_admin_state"] == 8
    assert node2["srv_uweight"] == 10 and node2["srv_iweight"] == 50
    assert node2["srv_port"] == 18082
    assert node2["srv_fqdn"] == "-"
    assert len(node2) == 25


def test_describe_real_rows():
    described = {r["srv_name"]: hr.describe_server(r) for r in hr.parse_servers_state(STATE)}
    assert described["node1"]["state"] == "ready"
    assert described["node1"]["operational_state"] == "stopped"  # health check fails: nothing listens
    assert described["node2"]["state"] == "drain"
    assert described["node2"]["operational_state"] == "running"
    assert described["x1"]["state"] == "maint"  # "disabled" in the configuration: flags 0x05


@pytest.mark.parametrize("flags,state", [
    (0, "ready"), (hr.ADMF_CMAINT, "ready"), (hr.ADMF_FDRAIN, "drain"), (hr.ADMF_IDRAIN, "drain"),
    (hr.ADMF_CMAINT | hr.ADMF_FDRAIN, "drain"), (hr.ADMF_FMAINT, "maint"), (hr.ADMF_FMAINT | hr.ADMF_FDRAIN, "maint"),
    (hr.ADMF_RMAINT, "maint"), (hr.ADMF_IMAINT, "maint"), (hr.ADMF_HMAINT, "maint"),
])
def test_admin_state_flags(flags, state):
    assert hr.admin_state(flags) == state


@pytest.mark.parametrize("answer", ["Can't find backend.\n\n", "", "1\n3 kong_nodes 1 node1\n"])
def test_parse_servers_state_rejects_errors(answer):
    with pytest.raises(hr.HAProxyRuntimeError):
        hr.parse_servers_state(answer)


def test_parse_real_show_stat():
    rows = hr.parse_stat_csv(STAT)
    assert [r["svname"] for r in rows] == ["node1", "node2"]
    assert rows[1]["status"] == "DRAIN"
    assert rows[1]["scur"] == "0"
    assert rows[0]["check_desc"] == "Layer4 connection problem"


def test_plan_commands():
    current = {"state": "drain", "weight": 10}
    assert hr.plan_commands(current, "b", "s", state="drain", weight=10) == []
    assert hr.plan_commands(current, "b", "s", state="ready") == ["set server b/s state ready"]
    assert hr.plan_commands(current, "b", "s", state="ready", weight=100) == ["set server b/s weight 100", "set server b/s state ready"]
    assert hr.plan_commands(current, "b", "s") == []
    with pytest.raises(hr.HAProxyRuntimeError):
        hr.plan_commands(current, "b", "s", weight=257)
    with pytest.raises(hr.HAProxyRuntimeError):
        hr.plan_commands(current, "b", "s", state="down")


def test_ensure_server_check_mode_sends_only_reads():
    fake = FakeHAProxy()
    result = hr.ensure_server(fake, "kong_nodes", "node2", state="ready", check_mode=True)
    assert result["changed"] is True
    assert result["commands"] == ["set server kong_nodes/node2 state ready"]
    assert result["server"]["state"] == "ready"
    assert all(cmd.startswith("show ") for cmd in fake.sent)
    assert fake.rows["node2"]["srv_admin_state"] == hr.ADMF_FDRAIN


def test_ensure_server_changes_then_is_idempotent():
    fake = FakeHAProxy()
    first = hr.ensure_server(fake, "kong_nodes", "node2", state="ready", weight=50)
    assert first["changed"] is True
    assert first["before"]["state"] == "drain" and first["server"]["state"] == "ready"
    assert first["server"]["weight"] == 50
    second = hr.ensure_server(fake, "kong_nodes", "node2", state="ready", weight=50)
    assert second["changed"] is False and second["commands"] == []


def test_ensure_server_unknown_server():
    with pytest.raises(hr.HAProxyRuntimeError, match="no server 'node9'"):
        hr.ensure_server(FakeHAProxy(), "kong_nodes", "node9", state="drain")


def test_refused_command_raises():
    srv = hr.HAProxyServer(FakeHAProxy(), "kong_nodes", "ghost")
    with pytest.raises(hr.HAProxyRuntimeError, match="No such server"):
        srv.run("set server kong_nodes/ghost state drain")


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_wait_drained_until_sessions_reach_zero():
    fake = FakeHAProxy(sessions=[3, 2, 0])
    clock = FakeClock()
    result = hr.ensure_server(fake, "kong_nodes", "node2", state="maint", wait_drained=True, drain_timeout=10,
                              sleep=clock.sleep, clock=clock)
    assert result["commands"] == ["set server kong_nodes/node2 state maint"]
    assert result["server"]["state"] == "maint"
    assert result["drained"] is True and result["sessions"] == 0
    assert result["drain_wait_seconds"] == 1.0


def test_wait_drained_times_out():
    fake = FakeHAProxy(sessions=[5])
    clock = FakeClock()
    result = hr.ensure_server(fake, "kong_nodes", "node2", state="drain", wait_drained=True, drain_timeout=2,
                              sleep=clock.sleep, clock=clock)
    assert result["changed"] is False
    assert result["drained"] is False and result["sessions"] == 5
    assert result["drain_wait_seconds"] == 2.0


def test_unreachable_socket_names_it():
    path = os.path.join(tempfile.mkdtemp(), "missing.sock")
    client = hr.RuntimeClient(path, timeout=0.5)
    with pytest.raises(hr.HAProxyRuntimeError) as err:
        client.execute("show servers state")
    assert path in str(err.value)


def test_bad_address():
    with pytest.raises(hr.HAProxyRuntimeError, match="neither a socket path"):
        hr.RuntimeClient("localhost").execute("show info")


def test_command_injection_refused():
    with pytest.raises(hr.HAProxyRuntimeError):
        hr.RuntimeClient("/nonexistent").execute("show info; shutdown frontend fe")


def test_client_round_trip_over_unix_socket():
    path = os.path.join(tempfile.mkdtemp(), "rt.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    received = []

    def serve():
        conn, _unused = server.accept()
        received.append(conn.recv(1024))
        conn.sendall(STATE.encode())
        conn.close()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        answer = hr.RuntimeClient(path, timeout=2).execute("show servers state")
    finally:
        thread.join(5)
        server.close()
    assert received == [b"show servers state\n"]
    assert answer == STATE


def test_counters_of_a_real_row_and_of_a_row_with_traffic():
    node2 = [r for r in hr.parse_stat_csv(STAT) if r.get("svname") == "node2"][0]
    assert hr.counters(node2) == dict(responses=0, errors_5xx=0, response_errors=0, connection_errors=0, failed=0, requests=0)
    busy = dict(node2, hrsp_2xx="90", hrsp_4xx="4", hrsp_5xx="3", eresp="1", econ="2")
    c = hr.counters(busy)
    assert c["responses"] == 97 and c["failed"] == 6 and c["requests"] == 100, c


def test_ensure_server_returns_the_counters_with_one_more_show_stat():
    fake = FakeHAProxy(sessions=[0])
    result = hr.ensure_server(fake, "kong_nodes", "node2")
    assert result["counters"]["requests"] == 0 and result["sessions"] == 0
    assert fake.sent.count("show stat kong_nodes 4 -1") == 1
