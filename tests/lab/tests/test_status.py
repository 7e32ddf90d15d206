"""labctl status after a data plane moved to another control plane (hybrid dual-cluster CP upgrade): the data plane's
row comes from the control plane its conf points at; the row X's control plane still keeps is marked stale."""

import json
import os
import subprocess
import time

from lab.topology import CLUSTER_PORT, conf_value, data_plane_view, get_json

LABCTL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "labctl")


def test_conf_value(tmp_path):
    conf = tmp_path / "kong.conf"
    conf.write_text("# a comment\nrole = data_plane  # inline\nCLUSTER_CONTROL_PLANE=127.0.1.1:8005\n"
                    "pg_password = a\\#b\nempty =\n")
    assert conf_value(str(conf), "role") == "data_plane"
    assert conf_value(str(conf), "cluster_control_plane") == "127.0.1.1:8005"
    assert conf_value(str(conf), "pg_password") == "a#b"
    assert conf_value(str(conf), "empty") == ""
    assert conf_value(str(conf), "cluster_listen") is None
    assert conf_value(str(tmp_path / "absent.conf"), "role") is None


def test_data_plane_view_picks_the_connected_control_plane():
    endpoints = {"10.0.0.1:8005": "cp1", "10.0.0.101:8005": "cpy1"}
    lists = {"cp1": {"10.0.0.2": {"version": "2.8.4", "sync_status": "normal", "last_seen": 100}},
             "cpy1": {"10.0.0.2": {"version": "3.4.2", "sync_status": "normal", "last_seen": 200}}}
    view = data_plane_view("10.0.0.2", "10.0.0.101:8005", endpoints, lists)
    assert view["control_plane"] == "cpy1" and view["row"]["version"] == "3.4.2"
    assert view["stale"] == [{"control_plane": "cp1", "version": "2.8.4", "sync_status": "normal", "last_seen": 100}]
    # not moved: X's row, nothing stale
    view = data_plane_view("10.0.0.2", "10.0.0.1:8005", endpoints, {"cp1": lists["cp1"]})
    assert view["control_plane"] == "cp1" and view["row"]["version"] == "2.8.4" and view["stale"] == []
    # its control plane is down (no list): no row, never the other control plane's
    view = data_plane_view("10.0.0.2", "10.0.0.101:8005", endpoints, {"cp1": lists["cp1"]})
    assert view["row"] is None and view["stale"][0]["control_plane"] == "cp1"
    # an endpoint no lab control plane listens on is shown as it is
    view = data_plane_view("10.0.0.2", "10.9.9.9:8005", endpoints, lists)
    assert view["control_plane"] == "10.9.9.9:8005" and view["row"] is None and len(view["stale"]) == 2


def test_status_after_a_data_plane_moved_to_y(lab_factory):
    """1 CP + 1 DP on 2.8.4 and a Y CP: Y's control plane gets its own database on 3.4.2, dp1 is upgraded to 3.4.2 and
    pointed at it (what the dual-cluster CP upgrade does); X's control plane keeps its row of dp1 (2.8.4)."""
    lab = lab_factory("hybrid", data_planes=1, dual_cp=True, offer=["3.4.2"], subnet="127.84.7")
    cpy, dp = lab.node("cpy1"), lab.node("dp1")
    lab.install("cpy1", "3.4.2")
    conf_y = os.path.join(lab.node_dir("cpy1"), "etc", "kong", "kong.conf")
    r = lab.kong("cpy1", ["migrations", "bootstrap", "-c", conf_y])
    assert r.returncode == 0, r.stderr
    lab.service("cpy1", "start")
    # dp1 moves: Y installed, cluster_control_plane -> Y's control plane, restarted
    conf_dp = os.path.join(lab.node_dir("dp1"), "etc", "kong", "kong.conf")
    with open(conf_dp) as f:
        text = f.read()
    old = "%s:%d" % (lab.node("cp1")["address"], CLUSTER_PORT)
    new = "%s:%d" % (cpy["address"], CLUSTER_PORT)
    assert old in text
    with open(conf_dp, "w") as f:
        f.write(text.replace(old, new))
    lab.install("dp1", "3.4.2")
    lab.service("dp1", "restart")
    rows = {}
    for _unused in range(100):
        st, doc = get_json(lab.admin_url(cpy) + "/clustering/data-planes")
        rows = {d["ip"]: d for d in (doc or {}).get("data", [])} if st == 200 else {}
        if dp["address"] in rows:
            break
        time.sleep(0.1)
    assert dp["address"] in rows, "dp1 never reached Y's control plane"
    # X's control plane still lists dp1 on 2.8.4: the stale row the old status showed
    _unused, doc = get_json(lab.admin_url(lab.node("cp1")) + "/clustering/data-planes")
    assert [d["version"] for d in doc["data"] if d["ip"] == dp["address"]] == ["2.8.4"]

    r = subprocess.run([LABCTL, "--dir", lab.dir, "status", "--json"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        doc = json.loads(r.stdout)
    except ValueError as e:
        raise AssertionError("labctl status --json: stdout is not JSON (%s)\nstderr:\n%s\nstdout:\n%s" % (e, r.stderr, r.stdout[-3000:])) from e
    row = {c["component"]: c for c in doc["components"]}["dp1"]
    assert row["version"] == "3.4.2", row
    assert row["control_plane"] == "cpy1", row
    assert [(s["control_plane"], s["version"]) for s in row["stale_rows"]] == [("cp1", "2.8.4")], row
    # the table says it too
    r = subprocess.run([LABCTL, "--dir", lab.dir, "status"], capture_output=True, text=True, check=False)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("dp1 ")]
    assert lines, "no dp1 row in labctl status (exit %d)\nstderr:\n%s\nstdout:\n%s" % (r.returncode, r.stderr, r.stdout[-3000:])
    line = lines[0]
    assert "3.4.2" in line and "cp cpy1" in line and "stale row on cp1 (2.8.4)" in line, line
