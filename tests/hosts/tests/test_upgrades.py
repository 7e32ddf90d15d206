"""Whole upgrades on container hosts over SSH, with Kong from packages and systemd, under a paced load through HAProxy:
the collection's default install (apt, pinned, held, the target line's repository added) and service (systemd) paths.

After each upgrade, on every node: the package manager reports the target version installed and held, systemd reports
the unit active, the node serves the target version; the report names every node's real before and after version; a
second run changes nothing.
"""
import json

import pytest

from hostkit import recap

# Short traffic steps and pauses: the shifts are checked under load all the same.
FAST_SHIFT = ("kong_lb_traffic_pause=1", "kong_upgrade_soak=3")


def _node_checks(lab, nodes, version, package="kong"):
    status = lab.status()
    line = "kong-gateway-%s.list" % "".join(version.split(".")[:2])
    for name in nodes:
        row = status[name]
        assert row["package"] == {"name": package, "version": version, "held": True}, (name, row)
        assert row["unit_active"] is True, (name, row)
        assert row["running_version"] == version, (name, row)
        assert line in lab.ssh(name, "ls /etc/apt/sources.list.d/").stdout.split(), "%s: %s not added" % (name, line)


def _second_run_changes_nothing(lab, playbook, *extra, **kw):
    again = lab.playbook(playbook, *extra, **kw)
    counts = recap(again.stdout)
    assert counts and all(c["changed"] == 0 and c["failed"] == 0 for c in counts.values()), (counts, again.stdout[-4000:])


def _both_lbs_carried(lab, load, failed=0):
    """The load went through every HAProxy host (an HA pair: slots alternate between them)."""
    urls = [u + "/echo" for u in lab.lb_urls()]
    assert len(urls) == 2 and sorted(load["targets"]) == sorted(urls), load.get("targets")
    for url in urls:
        assert load["targets"][url]["ok"] > 0, load["targets"]
    if failed == 0:
        assert all(t["failed"] == 0 for t in load["targets"].values()), load["targets"]


@pytest.mark.full_only
def test_in_place_three_nodes(host_lab):
    """In-place 3.3.1 -> 3.4.2 (3 nodes, one PostgreSQL host, two HAProxy hosts carrying the load): downtime by design,
    measured.
    Full matrix only: in CI, test_in_place_five_hops runs in place under load through two HAProxy hosts."""
    lab = host_lab("traditional", "--nodes", "3", "--version", "3.3.1", "--lbs", "2")
    lab.load_start(20)
    run = lab.playbook("upgrade_traditional.yml", "kong_target_version=3.4.2", "kong_upgrade_strategy=in_place")
    load = lab.load_stop()
    counts = recap(run.stdout)
    assert all(c["failed"] == 0 and c["unreachable"] == 0 for c in counts.values()), counts
    report = lab.reports()[-1]
    nodes = ["kong1", "kong2", "kong3"]
    assert report["versions_before"] == {n: "3.3.1" for n in nodes}, report
    assert report["versions_after"] == {n: "3.4.2" for n in nodes}, report
    assert report["point_of_no_return_passed"] is True
    # The window is measured and reported; requests fail only inside it (HAProxy has no node to send them to).
    assert report["downtime_seconds"] and report["downtime_seconds"] > 0, report
    assert load["total"] > 0 and "3.4.2" in load["versions"], load
    assert load["longest_gap_s"] <= report["downtime_seconds"] + 5, (load, report["downtime_seconds"])
    _both_lbs_carried(lab, load, failed=None)
    _node_checks(lab, nodes, "3.4.2")
    _second_run_changes_nothing(lab, "upgrade_traditional.yml", "kong_target_version=3.4.2", "kong_upgrade_strategy=in_place")


def test_in_place_five_hops(host_lab):
    """In place OSS 3.4.2 -> 3.9.1 on two nodes behind two HAProxy hosts carrying a load: every hop of the path (3.5.0,
    3.6.1, 3.7.1, 3.8.0, 3.9.1), each line's repository added, the report true for every hop (its phase, point of no
    return and downtime; the total downtime is their sum, the backup the first hop's); requests fail only inside a
    measured window. The playbooks once ran three in-place hops and reported success."""
    lab = host_lab("traditional", "--nodes", "2", "--version", "3.4.2", "--lbs", "2")
    extra = ("kong_target_version=3.9.1", "kong_upgrade_strategy=in_place")
    lab.load_start(20)
    run = lab.playbook("upgrade_traditional.yml", *extra)
    load = lab.load_stop()
    assert all(c["failed"] == 0 and c["unreachable"] == 0 for c in recap(run.stdout).values()), run.stdout[-3000:]
    report = lab.reports()[-1]
    path = ["3.4.2", "3.5.0", "3.6.1", "3.7.1", "3.8.0", "3.9.1"]
    assert report["path"] == path and report["versions_after"] == {"kong1": "3.9.1", "kong2": "3.9.1"}, report
    assert [(h["to"], h["phase"]) for h in report["hop_results"]] == [(v, "done") for v in path[1:]], report
    assert all(h["point_of_no_return_passed"] and h["downtime_seconds"] > 0 for h in report["hop_results"]), report
    assert report["point_of_no_return_passed"] is True and "hop1-3.4.2-to-3.5.0" in report["backup_path"], report
    assert abs(report["downtime_seconds"] - sum(h["downtime_seconds"] for h in report["hop_results"])) < 0.1, report
    assert load["total"] > 0 and "3.9.1" in load["versions"], load
    assert load["longest_gap_s"] <= max(h["downtime_seconds"] for h in report["hop_results"]) + 5, (load, report["hop_results"])
    _both_lbs_carried(lab, load, failed=None)
    for number, version in enumerate(path[1:], 1):
        state = json.loads((lab.dir / "reports" / ("state-traditional-hop%d.json" % number)).read_text())
        assert (state["version"], state["phase"]) == (version, "done"), state
    _node_checks(lab, ["kong1", "kong2"], "3.9.1")
    for name in ("kong1", "kong2"):
        lists = set(lab.ssh(name, "ls /etc/apt/sources.list.d/").stdout.split())
        assert {"kong-gateway-%s.list" % line for line in ("35", "36", "37", "38", "39")} <= lists, (name, lists)
    _second_run_changes_nothing(lab, "upgrade_traditional.yml", *extra)


@pytest.mark.full_only
def test_hybrid_one_cp_three_dps(host_lab):
    """Hybrid 2.8.4 -> 3.4.2: the control plane in place, then the data planes rolled behind HAProxy: no failed request.
    The same upgrade runs in CI on container hosts as the molecule scenario hybrid and as the demo stage."""
    lab = host_lab("hybrid", "--data-planes", "3", "--version", "2.8.4")
    lab.load_start(20)
    run = lab.playbook("upgrade_hybrid.yml", "kong_target_version=3.4.2")
    load = lab.load_stop()
    counts = recap(run.stdout)
    assert all(c["failed"] == 0 and c["unreachable"] == 0 for c in counts.values()), counts
    report = lab.reports()[-1]
    nodes = ["cp1", "dp1", "dp2", "dp3"]
    assert {n: (v["before"], v["after"]) for n, v in report["nodes"].items()} == {n: ("2.8.4", "3.4.2") for n in nodes}, report
    assert report["all_on_target"] is True
    assert load["total"] > 0 and load["failed"] == 0, load
    assert "3.4.2" in load["versions"], load
    _node_checks(lab, nodes, "3.4.2")
    _second_run_changes_nothing(lab, "upgrade_hybrid.yml", "kong_target_version=3.4.2")


def _x_read_on_x(stdout):
    """The task reading X's version ran on an X node: 'ok: [y1 -> x1(...)]' (a Y node asking X's URL would ask itself)."""
    block = stdout.split("Read X's version from an X node", 1)[-1].split("TASK [", 1)[0]
    return "-> x1(" in block


def _lb_states(lab):
    return [row["servers"] for row in lab.status().values() if row["kind"] == "haproxy"]


def test_dual_cluster_two_plus_two(host_lab):
    """Dual-cluster 2.8.4 -> 3.4.2 (2 X + 2 Y nodes, X and Y on separate PostgreSQL hosts, two HAProxy hosts): X's
    backup is carried to Y's database host and restored there, Y migrated, started and given all traffic on both load
    balancers under load: no failed request. X's version is read on an X node (its Admin API URL is that host's)."""
    lab = host_lab("dual", "--nodes", "2", "--version", "2.8.4", "--lbs", "2")
    lab.load_start(20)
    extra = ("kong_target_version=3.4.2", "kong_upgrade_strategy=dual_cluster") + FAST_SHIFT
    run = lab.playbook("upgrade_traditional.yml", *extra)
    load = lab.load_stop()
    assert all(c["failed"] == 0 for c in recap(run.stdout).values()), run.stdout[-3000:]
    report = lab.reports()[-1]
    assert report["versions_before"] == {"x1": "2.8.4", "x2": "2.8.4"}, report
    assert report["versions_after"] == {"x1": "2.8.4", "x2": "2.8.4", "y1": "3.4.2", "y2": "3.4.2"}, report
    assert report["traffic_on_y"] == 100, report
    assert load["total"] > 0 and load["failed"] == 0 and "3.4.2" in load["versions"], load
    _both_lbs_carried(lab, load)
    assert _x_read_on_x(run.stdout), "X's version was not read on an X node"
    _node_checks(lab, ["y1", "y2"], "3.4.2")
    # X keeps running on its own database as the rollback; the backup exists on both database hosts, each its own copy.
    assert lab.status()["x1"]["running_version"] == "2.8.4"
    backup = lab.ssh("pg-x", "sudo -n find /var/backups/kong -name manifest.json").stdout.split()
    assert backup and lab.ssh("pg-y", "sudo -n find /var/backups/kong -name manifest.json").stdout.split() == backup
    assert lab.ssh("pg-x", "sudo -n find /var/backups/kong -name '*.tar.gz'").stdout.strip() == ""
    assert _lb_states(lab) == [{"x1": "UP", "x2": "UP", "y1": "UP", "y2": "UP"}] * 2
    _second_run_changes_nothing(lab, "upgrade_traditional.yml", *extra)


def test_dbless_rolling_two_load_balancers(host_lab):
    """DB-less rolling 2.8.4 -> 3.4.2 (3 nodes behind two HAProxy hosts): each node drained on both load balancers,
    its declarative file converted, no failed request."""
    lab = host_lab("dbless", "--nodes", "3", "--version", "2.8.4", "--lbs", "2")
    lab.load_start(20)
    # No kong of 3.4.2 exists on these hosts before the roll: validating the files first is impossible here, and the
    # operator accepts that explicitly (without it the preflight refuses, test_bad_inputs_dbless shows).
    dbless_vars = ("kong_target_version=3.4.2", "kong_upgrade_accept_unvalidated_declarative=true")
    run = lab.playbook("upgrade_dbless.yml", *dbless_vars)
    load = lab.load_stop()
    assert "converted but not validated with Kong 3.4.2 before the roll" in run.stdout, run.stdout[-3000:]
    assert all(c["failed"] == 0 for c in recap(run.stdout).values()), run.stdout[-3000:]
    assert "changed: [dbless1 -> lb2(" in run.stdout, "the second load balancer was not driven"
    _both_lbs_carried(lab, load)
    report = lab.reports()[-1]
    nodes = ["dbless1", "dbless2", "dbless3"]
    assert {n: (v["before"], v["after"]) for n, v in report["nodes"].items()} == {n: ("2.8.4", "3.4.2") for n in nodes}, report
    assert load["total"] > 0 and load["failed"] == 0 and "3.4.2" in load["versions"], load
    _node_checks(lab, nodes, "3.4.2")
    for name in nodes:
        assert '_format_version: "3.0"' in lab.ssh(name, "sudo -n cat /etc/kong/kong.yml").stdout.replace("'", '"'), name
    assert _lb_states(lab) == [{n: "UP" for n in nodes}] * 2
    _second_run_changes_nothing(lab, "upgrade_dbless.yml", *dbless_vars)


def test_blue_green_two_load_balancers(host_lab):
    """Blue-green 3.4.0 -> 3.4.2 (2 X + 2 Y nodes on X's database, two HAProxy hosts): traffic shifted on both load
    balancers, finish only then, X taken out of both; no failed request."""
    lab = host_lab("dual", "--nodes", "2", "--version", "3.4.0", "--lbs", "2")
    pg_x = next(h for h in lab.state["hosts"] if h["name"] == "pg-x")["address"]
    lab.load_start(20)
    extra = ("kong_target_version=3.4.2", "kong_upgrade_strategy=blue_green") + FAST_SHIFT
    run = lab.playbook("upgrade_traditional.yml", *extra, conf_overrides={"pg_host": pg_x})
    load = lab.load_stop()
    assert all(c["failed"] == 0 for c in recap(run.stdout).values()), run.stdout[-3000:]
    report = lab.reports()[-1]
    assert report["versions_before"] == {"x1": "3.4.0", "x2": "3.4.0"}, report
    assert {n: report["versions_after"][n] for n in ("y1", "y2")} == {"y1": "3.4.2", "y2": "3.4.2"}, report
    assert report["point_of_no_return_passed"] is True and report["traffic_on_y"] == 100, report
    assert load["total"] > 0 and load["failed"] == 0 and "3.4.2" in load["versions"], load
    _both_lbs_carried(lab, load)
    assert _x_read_on_x(run.stdout), "X's version was not read on an X node"
    _node_checks(lab, ["y1", "y2"], "3.4.2")
    assert _lb_states(lab) == [{"x1": "MAINT", "x2": "MAINT", "y1": "UP", "y2": "UP"}] * 2
    _second_run_changes_nothing(lab, "upgrade_traditional.yml", *extra, conf_overrides={"pg_host": pg_x})


@pytest.mark.full_only
def test_enterprise_in_place_across_lines(host_lab):
    """Kong Enterprise in place, 3.3.1.1 -> 3.4.3.3 (2 nodes): the package is kong-enterprise-edition (preflight and
    install), its unit kong-enterprise-edition, and the 3.4 line's repository is added for the install.
    Full matrix only: in CI, test_enterprise_multihop_hybrid installs the Enterprise package across lines and checks
    its unit."""
    lab = host_lab("traditional", "--nodes", "2", "--version", "3.3.1.1")
    extra = ("kong_target_version=3.4.3.3", "kong_upgrade_strategy=in_place")
    run = lab.playbook("upgrade_traditional.yml", *extra)
    assert all(c["failed"] == 0 for c in recap(run.stdout).values()), run.stdout[-3000:]
    report = lab.reports()[-1]
    assert report["versions_after"] == {"kong1": "3.4.3.3", "kong2": "3.4.3.3"}, report
    _node_checks(lab, ["kong1", "kong2"], "3.4.3.3", package="kong-enterprise-edition")
    assert lab.ssh("kong1", "systemctl is-active kong-enterprise-edition").stdout.strip() == "active"
    _second_run_changes_nothing(lab, "upgrade_traditional.yml", *extra)


@pytest.mark.full_only
def test_hybrid_dual_cluster_control_planes(host_lab):
    """Hybrid 2.8.4 -> 3.4.2 with dual-cluster control planes (X: cp1 on pg; Y: cpy1 on its own PostgreSQL host pg-y):
    X's backup restored on pg-y, Y's control plane migrated and started, then each data plane rolled onto Y; no failed
    request. X's control plane is left running on X, its database unmigrated.
    Full matrix only: in CI, test_dual_cluster_two_plus_two carries a backup to another database host, and
    tests/reliability/test_rollback_hybrid_dual_cp.py runs this upgrade (then its rollback) on the local lab."""
    lab = host_lab("hybrid", "--dual-cp", "--data-planes", "2", "--version", "2.8.4")
    lab.load_start(20)
    extra = ("kong_target_version=3.4.2", "kong_cp_strategy=dual_cluster")
    run = lab.playbook("upgrade_hybrid.yml", *extra)
    load = lab.load_stop()
    assert all(c["failed"] == 0 and c["unreachable"] == 0 for c in recap(run.stdout).values()), run.stdout[-3000:]
    assert load["total"] > 0 and load["failed"] == 0 and "3.4.2" in load["versions"], load
    report = lab.reports()[-1]
    after = {n: v["after"] for n, v in report["nodes"].items()}
    assert {n: after[n] for n in ("cpy1", "dp1", "dp2")} == {"cpy1": "3.4.2", "dp1": "3.4.2", "dp2": "3.4.2"}, report
    _node_checks(lab, ["cpy1", "dp1", "dp2"], "3.4.2")
    status = lab.status()
    assert status["cp1"]["running_version"] == "2.8.4", status["cp1"]
    cpy = lab.state["hosts"][[h["name"] for h in lab.state["hosts"]].index("cpy1")]["address"]
    for dp in ("dp1", "dp2"):
        conf = lab.ssh(dp, "sudo -n grep ^cluster_control_plane /etc/kong/kong.conf").stdout
        assert cpy in conf, (dp, conf)
    _second_run_changes_nothing(lab, "upgrade_hybrid.yml", *extra)


def test_enterprise_multihop_hybrid(host_lab):
    """Kong Enterprise hybrid 3.1.0.0 -> 3.4.3.3: the control plane hop by hop (3.1.1.3, 3.2.2.5, 3.3.1.1, 3.4.3.3), each
    hop's release-line repository added as the path needs it; then each data plane replaced once, straight to 3.4.3.3
    (only the 3.4 line's repository added there); no failed request."""
    lab = host_lab("hybrid", "--data-planes", "2", "--version", "3.1.0.0")
    lab.load_start(20)
    run = lab.playbook("upgrade_hybrid.yml", "kong_target_version=3.4.3.3")
    load = lab.load_stop()
    assert all(c["failed"] == 0 and c["unreachable"] == 0 for c in recap(run.stdout).values()), run.stdout[-3000:]
    assert load["total"] > 0 and load["failed"] == 0, load
    assert any(v.startswith("3.4.3.3") for v in load["versions"]), load
    report = lab.reports()[-1]
    nodes = ["cp1", "dp1", "dp2"]
    assert {n: (v["before"], v["after"]) for n, v in report["nodes"].items()} == {n: ("3.1.0.0", "3.4.3.3") for n in nodes}, report
    _node_checks(lab, nodes, "3.4.3.3", package="kong-enterprise-edition")
    repos = {name: set(lab.ssh(name, "ls /etc/apt/sources.list.d/").stdout.split()) for name in nodes}
    assert {"kong-gateway-%s.list" % line for line in ("31", "32", "33", "34")} <= repos["cp1"], repos
    for name in ("dp1", "dp2"):
        assert {r for r in repos[name] if r.startswith("kong-gateway-")} == {"kong-gateway-31.list", "kong-gateway-34.list"}, repos
    assert [h["phase"] for h in report["hop_results"]] == ["done"] * 4, report
    _second_run_changes_nothing(lab, "upgrade_hybrid.yml", "kong_target_version=3.4.3.3")
