"""Each topology comes up, serves through HAProxy, has a valid inventory, and 'down' leaves nothing."""

import json
import os
import stat
import subprocess
import sys
import urllib.request

import pytest

from lab import haproxy, procs
from lab.tests.conftest import assert_nothing_left, lab_pids_and_sockets

ANSIBLE_INVENTORY = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers, json.loads(r.read() or b"null")


def inventory_list(lab):
    r = subprocess.run([ANSIBLE_INVENTORY, "-i", lab.p("inventory.yml"), "--list"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert "[WARNING]" not in r.stderr, r.stderr
    try:
        return json.loads(r.stdout)
    except ValueError as e:
        raise AssertionError("ansible-inventory --list: stdout is not JSON (%s)\nstderr:\n%s\nstdout:\n%s" % (e, r.stderr, r.stdout[-3000:])) from e


def check_common(lab, groups):
    st = lab.state
    # every started node runs the asked version and is UP in HAProxy
    for n in st["nodes"]:
        if not n["start"]:
            continue
        assert lab.node_pid(n["name"]), n["name"]
        if n["role"] == "data_plane":  # no Admin API: the version answering on its proxy
            code, headers, _unused = get(lab.proxy_url(n) + "/echo")
            assert code == 200 and headers["Via"].endswith("kong/%s" % st["version"])
            continue
        code, _unused, doc = get(lab.admin_url(n) + "/")
        assert code == 200 and doc["version"] == st["version"]
    # proxy through HAProxy reaches the echo server and says which version answered
    code, headers, doc = get(lab.lb_url() + "/echo/abc")
    assert code == 200 and doc["echo"] == "echo"
    assert "kong/%s" % st["version"] in headers.get("Via", "")
    # the 2.x-style regex route of the seed works
    code, _unused, doc = get(lab.lb_url() + "/users/42/profile")
    assert code == 200 and doc["path"] == "/users/42/profile"
    # inventory: valid for ansible-inventory, documented groups, password only in the 0600 vars file
    inv = inventory_list(lab)
    for g, hosts in groups.items():
        assert sorted(inv.get(g, {}).get("hosts", [])) == sorted(hosts), g
    text = open(lab.p("inventory.yml")).read()
    assert lab.pg_password() not in text
    secrets = lab.p("group_vars", "all", "secrets.yml")
    assert stat.S_IMODE(os.stat(secrets).st_mode) == 0o600
    for n in st["nodes"]:
        assert stat.S_IMODE(os.stat(os.path.join(lab.node_dir(n["name"]), "etc", "kong", "kong.conf")).st_mode) == 0o600
    hv = inv["_meta"]["hostvars"]
    if st["databases"]:
        assert hv[sorted(st["databases"])[0]]["kong_pg_password"] == lab.pg_password()
    return inv


PLAY = """
- name: The lab inventory drives real tasks
  hosts: kong_data_plane:kong_control_plane
  gather_facts: false
  tasks:
    - name: Service status through the inventory's hook command
      ansible.builtin.command:
        argv: "{{ kong_node_service_commands.status }}"
      changed_when: false
    - name: Status API of each node
      ansible.builtin.uri:
        url: "{{ kong_node_status_url }}/status"
    - name: Database password comes from the 0600 vars file
      ansible.builtin.assert:
        that: kong_pg_password | length > 0
"""


def run_play_on_inventory(lab):
    play = lab.p("check-inventory.yml")
    with open(play, "w") as f:
        f.write(PLAY)
    r = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", lab.p("inventory.yml"), play],
                       capture_output=True, text=True, env=dict(os.environ, ANSIBLE_NOCOLOR="1"), check=False)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "failed=0" in r.stdout and "ok=3" in r.stdout, r.stdout[-3000:] + r.stderr[-2000:]


def test_hybrid_up_idempotent_down(lab_factory):
    lab = lab_factory("hybrid", data_planes=3, dual_cp=True)
    inv = check_common(lab, {"kong_control_plane": ["cp1"], "kong_data_plane": ["dp1", "dp2", "dp3"],
                             "kong_control_plane_y": ["cpy1"], "kong_database": ["pg_main", "pg_y"],
                             "kong_load_balancer": ["haproxy"], "kong_traditional": []})
    assert not os.path.exists(os.path.join(lab.node_dir("cpy1"), "current"))
    assert inv["_meta"]["hostvars"]["cpy1"]["kong_database_host"] == "pg_y"
    hv = inv["_meta"]["hostvars"]["dp2"]
    assert hv["kong_cluster_control_plane"] == "%s:8005" % lab.node("cp1")["address"]
    assert hv["kong_lb_server"] == "dp2" and hv["kong_lb_backend"] == "kong_proxy"
    assert hv["kong_node_dp_identity"] == lab.node("dp2")["address"] and hv["kong_node_admin_url"] == ""
    assert hv["kong_lb_haproxy_socket"] == lab.sock
    run_play_on_inventory(lab)
    _unused, _unused, doc = get(lab.admin_url(lab.node("cp1")) + "/clustering/data-planes")
    assert sorted(d["ip"] for d in doc["data"]) == sorted(n["address"] for n in lab.state["nodes"] if n["role"] == "data_plane")
    assert {d["sync_status"] for d in doc["data"]} == {"normal"}
    # up again: same processes, nothing restarted or duplicated
    before = {r["component"]: r["pid"] for r in lab.status()}
    lab.up("hybrid", subnet=lab.state["subnet"], data_planes=3, dual_cp=True)
    assert {r["component"]: r["pid"] for r in lab.status()} == before
    # the default HAProxy config repairs a node killed under load (retry-on + redispatch): no client error,
    # but HAProxy's own counters show the retries (why test_drain uses a strict load balancer)
    import signal
    import threading
    import time
    from lab.load import LoadGenerator
    gen = LoadGenerator(lab.lb_url() + "/echo", rate=100, duration=4, max_lag=1.0)
    res = {}
    t = threading.Thread(target=lambda: res.update(gen.run()))
    t.start()
    time.sleep(1.5)
    os.kill(lab.node_pid("dp3"), signal.SIGKILL)
    t.join()
    assert res["failed"] == 0, res["errors"]
    be = [r for r in haproxy.show_stat(lab.sock) if r["pxname"] == "kong_proxy" and r["svname"] == "BACKEND"][0]
    assert int(be["wretr"] or 0) + int(be["wredis"] or 0) > 0, be
    # a node that died is brought back by 'up'
    lab.up("hybrid", subnet=lab.state["subnet"], data_planes=3, dual_cp=True)
    assert lab.node_pid("dp3") and lab.node_pid("dp3") != before["dp3"]
    # a different topology on a lab that is up is refused
    from lab.topology import LabError
    with pytest.raises(LabError, match="already up"):
        lab.up("traditional", subnet=lab.state["subnet"])


def test_traditional_up_down(lab_factory):
    lab = lab_factory("traditional", nodes=3)
    check_common(lab, {"kong_traditional": ["kong1", "kong2", "kong3"], "kong_database": ["pg_main"],
                       "kong_data_plane": []})
    rows = {r["svname"]: r["status"] for r in haproxy.show_stat(lab.sock) if r["pxname"] == "kong_proxy"}
    assert all(rows[n].startswith("UP") for n in ("kong1", "kong2", "kong3"))


def test_dbless_up_down(lab_factory):
    lab = lab_factory("dbless", nodes=2)
    check_common(lab, {"kong_dbless": ["dbless1", "dbless2"], "kong_database": []})
    decl = open(os.path.join(lab.node_dir("dbless1"), "etc", "kong", "kong.yml")).read()
    assert "_format_version: '2.1'" in decl and "/users/\\d+/profile" in decl and "~/users" not in decl


def test_dual_up_down(lab_factory):
    lab = lab_factory("dual", nodes=2)
    inv = check_common(lab, {"kong_traditional": ["x1", "x2"], "kong_traditional_y": ["y1", "y2"],
                             "kong_database": ["pg_x", "pg_y"]})
    # Y: database server up with an empty, not bootstrapped database; nodes prepared, not installed, in maint
    y = lab.state["databases"]["pg_y"]
    assert procs.port_open(y["host"], y["port"])
    assert not inv["_meta"]["hostvars"]["pg_y"]["kong_pg_bootstrapped"]
    from support.pgcluster import PgCluster
    tables = PgCluster.load(y["base"]).psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", db="kong")
    assert tables.strip() == "0"
    assert not os.path.exists(os.path.join(lab.node_dir("y1"), "current"))
    assert haproxy.server_stats(lab.sock, "kong_proxy", "y1")["status"] == "MAINT"
    assert inv["_meta"]["hostvars"]["y1"]["kong_database_host"] == "pg_y"


def test_down_without_state_and_twice(tmp_path):
    from lab.topology import Lab
    assert Lab(str(tmp_path / "nothing")).down() == []


def test_labctl_cli_up_status_load_down(lab_parent):
    """The command line end to end on the smallest topology."""
    from lab.tests.conftest import free_subnet
    labctl = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "labctl")
    d = os.path.join(lab_parent, "cli-lab")

    def run(*a):
        return subprocess.run([labctl, "--dir", d] + list(a), capture_output=True, text=True, check=False)

    r = run("up", "dbless", "--nodes", "1", "--subnet", free_subnet())
    try:
        assert r.returncode == 0, r.stderr
        r = run("status")
        assert r.returncode == 0 and "dbless1" in r.stdout and "2.8.4" in r.stdout, r.stdout + r.stderr
        r = run("load", "start", "--rate", "50")
        assert r.returncode == 0, r.stderr
        r = run("load", "stop", "--json")
        assert r.returncode == 0, r.stderr
        try:
            doc = json.loads(r.stdout)
        except ValueError as e:
            raise AssertionError("labctl load stop --json: stdout is not JSON (%s)\nstderr:\n%s\nstdout:\n%s" % (e, r.stderr, r.stdout[-3000:])) from e
        assert doc["running"] is False and doc["total"] > 0 and doc["failed"] == 0
        assert list(doc["versions"]) == ["2.8.4"]
        from lab.topology import Lab
        pids, addrs, ports = lab_pids_and_sockets(Lab(d))
    finally:
        r = run("down")
    assert r.returncode == 0, r.stderr
    assert_nothing_left(d, pids, addrs, ports)
