"""Whole upgrades on container hosts over SSH, with Kong from packages and systemd, under a paced load through HAProxy:
the collection's default install (apt, pinned, held, the target line's repository added) and service (systemd) paths.

After each upgrade, on every node: the package manager reports the target version installed and held, systemd reports
the unit active, the node serves the target version; the report names every node's real before and after version; a
second run changes nothing.
"""
from hostkit import recap


def _node_checks(lab, nodes, version, package="kong"):
    status = lab.status()
    line = "kong-gateway-%s.list" % "".join(version.split(".")[:2])
    for name in nodes:
        row = status[name]
        assert row["package"] == {"name": package, "version": version, "held": True}, (name, row)
        assert row["unit_active"] is True, (name, row)
        assert row["running_version"] == version, (name, row)
        assert line in lab.ssh(name, "ls /etc/apt/sources.list.d/").stdout.split(), "%s: %s not added" % (name, line)


def _second_run_changes_nothing(lab, playbook, *extra):
    again = lab.playbook(playbook, *extra)
    counts = recap(again.stdout)
    assert counts and all(c["changed"] == 0 and c["failed"] == 0 for c in counts.values()), (counts, again.stdout[-4000:])


def test_in_place_three_nodes(host_lab):
    """In-place 3.3.1 -> 3.4.2 (3 nodes, one PostgreSQL host, one HAProxy host): downtime by design, measured."""
    lab = host_lab("traditional", "--nodes", "3", "--version", "3.3.1")
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
    _node_checks(lab, nodes, "3.4.2")
    _second_run_changes_nothing(lab, "upgrade_traditional.yml", "kong_target_version=3.4.2", "kong_upgrade_strategy=in_place")


def test_hybrid_one_cp_three_dps(host_lab):
    """Hybrid 2.8.4 -> 3.4.2: the control plane in place, then the data planes rolled behind HAProxy: no failed request."""
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
