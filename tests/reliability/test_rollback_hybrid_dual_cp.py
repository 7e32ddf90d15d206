"""A live rollback (not check mode) of a hybrid upgrade whose control planes went by dual-cluster (issue 5).

Lab: hybrid --dual-cp, X's control plane cp1 on 2.8.4 (database pg_main), the prepared Y control plane cpy1 (its own
empty database pg_y) and 2 data planes behind HAProxy. The chain (one lab, each test needs the previous one):

1. upgrade_hybrid.yml with kong_cp_strategy=dual_cluster to 3.4.2 completes: the data planes run 3.4.2 and their
   kong.conf points at cpy1;
2. rollback.yml named at the control planes' state while the data planes are still recorded on Y is refused before any
   change, naming the data planes (nothing stopped, no state file rewritten);
3. rollback.yml as documented (docs/hybrid.md): the first run takes the data planes back (the newest state file), the
   second rolls the control planes back (X's started if needed, Y's stopped). A paced load runs through HAProxy over
   both runs: no request fails. Then every data plane runs 2.8.4 again with the kong.conf it had before the upgrade,
   X's control plane lists each one as connected since the rollback (last_seen), version 2.8.4, sync normal and the
   config hash it served before the upgrade; cpy1 is stopped; X's database holds the configuration of before; both
   state files say rolled_back; the rollback report says cpy1 stopped;
4. rollback.yml once more changes nothing.

Passed on its own (2026-11-27, shared 2-core machine, load average 8 to 10): 4 passed in 15 min 34 s - the upgrade
about 7 min, the refusal about 1 min, the two rollback runs 134 s + 115 s (4,995 requests at 20/s, 0 failed, longest
gap 0.245 s), the last run about 1 min.
"""

import json
import random
import time
import urllib.request

import pytest

from relkit import Load, run_playbook
from lab import procs  # pylint: disable=wrong-import-order

SOURCE, TARGET = "2.8.4", "3.4.2"
DPS = ("dp1", "dp2")
STATE = {}
DP_STATE = "state-hybrid-dp.json"
CP_STATE = "state-hybrid-cp-dual-hop1.json"


def free_subnet_82():
    """A free 127.82.x prefix (H2's range on the shared machine)."""
    busy = {ip.rsplit(".", 1)[0] for ip, _unused in procs.listening_sockets()}
    for _unused in range(200):
        cand = "127.82.%d" % random.randint(100, 254)
        if cand not in busy:
            return cand
    raise RuntimeError("no free 127.82.x subnet")


@pytest.fixture(scope="module")
def dual(lab_factory, tmp_path_factory):
    lab = lab_factory("hybrid", version=SOURCE, offer=[TARGET], data_planes=len(DPS), dual_cp=True, subnet=free_subnet_82())
    tmp = tmp_path_factory.mktemp("hybrid-dual-cp-rollback")
    # the report directory exists beforehand, as an operator's would (the first state write creates it otherwise)
    (tmp / "reports").mkdir(mode=0o700)
    before = {"versions": lab.versions(), "fingerprint": lab.fingerprint("pg_main"),
              "conf": {dp: conf_text(lab, dp) for dp in DPS}, "dps": wait_listed(lab, since=0)}
    assert sorted(before["dps"]) == sorted(address(lab, dp) for dp in DPS), before
    return {"lab": lab, "tmp": tmp, "reports": tmp / "reports", "before": before,
            "extra": {"kong_target_version": TARGET, "kong_cp_strategy": "dual_cluster",
                      "kong_upgrade_backup_dir": str(tmp / "backups"), "kong_upgrade_report_dir": str(tmp / "reports"),
                      "kong_node_health_retries": 8}}


def conf_text(lab, dp):
    return (lab.node_dir(dp) / "etc" / "kong" / "kong.conf").read_text()


def conf_setting(text, key):
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep and k.strip() == key:
            return v.strip()
    return None


def address(lab, name):
    return lab.node(name)["address"]


def cp_data_planes(lab, cp="cp1"):
    """{ip: row} of a control plane's Admin API /clustering/data-planes."""
    with urllib.request.urlopen(lab.lab.admin_url(lab.node(cp)) + "/clustering/data-planes", timeout=5) as resp:
        return {row["ip"]: row for row in json.load(resp)["data"]}


def wait_listed(lab, since, version=SOURCE, tries=40):
    """X's control plane's rows of the data planes once each is connected (last_seen >= since), on ``version``, in sync.

    A data plane that moved to Y leaves a stale row on X's control plane (same version as before, sync normal): only
    last_seen tells a reconnected data plane from that row."""
    want = {address(lab, dp) for dp in DPS}
    rows = {}
    for _unused in range(tries):
        rows = cp_data_planes(lab)
        fresh = {ip: r for ip, r in rows.items() if ip in want and r.get("last_seen", 0) >= since
                 and r.get("version") == version and r.get("sync_status") == "normal"}
        if set(fresh) == want:
            return fresh
        time.sleep(0.5)
    return rows


def state_files(dual):
    return {p.name: p.read_bytes() for p in sorted(dual["reports"].glob("state-*.json"))}


def recap_changed(run):
    """{host: changed count} of the PLAY RECAP."""
    out = {}
    for line in run.output.splitlines():
        if " : ok=" in line:
            host = line.split()[0]
            out[host] = int(line.split("changed=")[1].split()[0])
    return out


def rollback(dual, run_dir, **extra):
    return run_playbook("rollback.yml", dual["lab"].inventory, run_dir, extra=dict(dual["extra"], **extra))


def needs(step):
    if step not in STATE:
        pytest.skip("needs the previous step of the chain (%s)" % step)


def test_1_upgrade_with_dual_cluster_control_planes(dual, run_dir):
    lab = dual["lab"]
    run = run_playbook("upgrade_hybrid.yml", lab.inventory, run_dir, extra=dual["extra"])
    assert run.rc == 0, run
    versions = lab.versions()
    for dp in DPS:
        assert versions[dp] == (TARGET, TARGET), versions
        assert conf_setting(conf_text(lab, dp), "cluster_control_plane") == "%s:8005" % address(lab, "cpy1")
    assert versions["cp1"] == (SOURCE, SOURCE) and versions["cpy1"] == (TARGET, TARGET), versions
    assert set(state_files(dual)) == {DP_STATE, CP_STATE}
    STATE["1"] = True


def test_2_control_planes_refused_while_data_planes_on_y(dual, run_dir):
    needs("1")
    lab = dual["lab"]
    versions, states = lab.versions(), state_files(dual)
    run = rollback(dual, run_dir, kong_rollback_state=CP_STATE)
    assert run.rc != 0, run
    assert "Refusing to roll back" in run.text, run
    assert "Data planes %s are still recorded on Y" % ", ".join(DPS) in run.text, run
    assert set(recap_changed(run).values()) == {0}, run
    assert lab.versions() == versions
    assert lab.kong_service("cpy1", "status").returncode == 0, "the refused rollback stopped cpy1"
    assert state_files(dual) == states
    STATE["2"] = True


def test_3_rollback_data_planes_then_control_planes(dual, run_dir):
    needs("1")
    lab = dual["lab"]
    before = dual["before"]
    t0 = time.time()
    with Load(lab.lab.lb_url() + "/echo", rate=20) as load:
        run_dp = rollback(dual, run_dir)
        run_cp = rollback(dual, run_dir) if run_dp.rc == 0 else None
    traffic = load.result or {}
    print("traffic during the rollback: total %s, failed %s (generator starved %s), longest gap %ss; runs %.0f s + %.0f s"
          % (traffic.get("total"), traffic.get("failed"), traffic.get("starved"), traffic.get("longest_gap_s"),
             run_dp.elapsed, run_cp.elapsed if run_cp else 0))
    assert run_dp.rc == 0, run_dp
    assert "Roll back hybrid-dp (rolling" in run_dp.text, run_dp
    assert run_cp.rc == 0, run_cp
    assert "Roll back hybrid-cp-dual-hop1 (dual_cluster" in run_cp.text, run_cp

    # every data plane on X again, with the kong.conf it had before the upgrade (pointing at X's control plane)
    versions = lab.versions()
    for dp in DPS:
        assert versions[dp] == (SOURCE, SOURCE), versions
        text = conf_text(lab, dp)
        assert conf_setting(text, "cluster_control_plane") == "%s:8005" % address(lab, "cp1")
        assert conf_setting(text, "cluster_telemetry_endpoint") == conf_setting(before["conf"][dp], "cluster_telemetry_endpoint")
        assert text == before["conf"][dp]
    # X's control plane: each data plane connected since the rollback began, on X, in sync, serving the same config
    rows = wait_listed(lab, since=int(t0))
    assert sorted(rows) == sorted(address(lab, dp) for dp in DPS), rows
    for ip, row in rows.items():
        assert row["config_hash"] == before["dps"][ip]["config_hash"], (row, before["dps"][ip])
    assert versions["cp1"] == (SOURCE, SOURCE), versions
    # Y's control plane stopped
    assert lab.kong_service("cpy1", "status").returncode == 3, "cpy1 still running"
    assert not lab.rows()["cpy1"]["alive"]
    # no failed request through HAProxy (slots the starved generator never sent are not requests)
    assert traffic.get("total", 0) > 0, traffic
    assert traffic["gateway_failed"] == 0, traffic
    assert lab.lb_get("/users/42/profile") == 200
    # the configuration of before, and the state says rolled back
    assert lab.fingerprint("pg_main") == before["fingerprint"]
    dp_state = json.loads((dual["reports"] / DP_STATE).read_text())
    assert {n: e["phase"] for n, e in dp_state["nodes"].items()} == {dp: "rolled_back" for dp in DPS}, dp_state
    cp_state = json.loads((dual["reports"] / CP_STATE).read_text())
    assert cp_state["phase"] == "rolled_back", cp_state
    report = json.loads(sorted(dual["reports"].glob("report-rollback-hybrid-cp-dual-hop1-*.json"))[-1].read_text())
    assert report["nodes"]["cpy1"]["after"].startswith("stopped"), report["nodes"]
    assert report["nodes"]["cp1"] == {"before": SOURCE, "after": SOURCE}, report["nodes"]
    STATE["3"] = True


def test_4_rollback_again_changes_nothing(dual, run_dir):
    needs("3")
    lab = dual["lab"]
    versions, states = lab.versions(), state_files(dual)
    confs = {dp: conf_text(lab, dp) for dp in DPS}
    run = rollback(dual, run_dir)
    assert run.rc == 0, run
    assert "Nothing to roll back" in run.text, run
    assert set(recap_changed(run).values()) == {0}, run
    assert lab.versions() == versions
    assert {dp: conf_text(lab, dp) for dp in DPS} == confs
    assert state_files(dual) == states
    assert lab.kong_service("cpy1", "status").returncode == 3
