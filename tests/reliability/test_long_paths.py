"""Paths of any length: the upgrade playbooks loop over the plan's hops (they once had fixed hop slots, and a longer
path stopped part-way with exit 0 and a report that said it had succeeded). In place, OSS 3.4.2 -> 3.9.1 (5 hops)
runs on the container hosts (tests/hosts/tests/test_upgrades.py::test_in_place_five_hops).

- Hybrid, OSS 3.0.2 -> 3.9.1 (9 hops, more than the six slots there were; 1 control plane, 2 data planes) under a
  paced load through HAProxy: the control plane goes through every hop, each data plane is replaced once, straight to
  the target; no failed request; a second run changes nothing.

Full matrix only (KONGOPS_RELIABILITY_FULL=1): CI runs the hop loop on the container hosts (the two tests above and
test_enterprise_multihop_hybrid).

Versions are read from the lab (the simulator's nodes), never from the playbook's output alone.
"""

import json

from relkit import Load, free_subnet, full_only, run_playbook

HYBRID_PATH = ["3.0.2", "3.1.1", "3.2.2", "3.3.1", "3.4.2", "3.5.0", "3.6.1", "3.7.1", "3.8.0", "3.9.1"]


def _report(reports, pattern):
    return json.loads(max(reports.glob(pattern), key=lambda f: f.stat().st_mtime).read_text())


def _changed(output):
    """{host: changed} from the play recap."""
    out = {}
    for line in output.split("PLAY RECAP")[-1].splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[1] == ":":
            out[parts[0]] = int(parts[3].split("=")[1])
    return out


@full_only("tests/hosts/tests/test_upgrades.py::test_enterprise_multihop_hybrid (4 control-plane hops) and ::test_in_place_five_hops")
def test_hybrid_nine_hops(lab_factory, run_dir):
    lab = lab_factory("hybrid", version=HYBRID_PATH[0], offer=HYBRID_PATH[1:], data_planes=2, subnet=free_subnet("127.84"))
    extra = {"kong_target_version": HYBRID_PATH[-1], "kong_upgrade_backup_dir": str(run_dir / "backups"),
             "kong_upgrade_report_dir": str(run_dir / "reports")}
    with Load(lab.lab.lb_url() + "/echo", rate=20) as load:
        run = run_playbook("upgrade_hybrid.yml", lab.inventory, run_dir, extra=extra)
    assert run.rc == 0, run
    traffic = load.result
    print("traffic during the run: total %s, failed %s" % (traffic["total"], traffic["failed"]))
    assert traffic["total"] > 0 and traffic["failed"] == 0, traffic
    assert lab.versions() == {n: ("3.9.1", "3.9.1") for n in ("cp1", "dp1", "dp2")}, lab.versions()

    report = _report(run_dir / "reports", "report-hybrid-*.json")
    assert report["hops"] == HYBRID_PATH, report
    hops = report["hop_results"]
    assert [(h["to"], h["phase"]) for h in hops] == [(v, "done") for v in HYBRID_PATH[1:]], hops
    assert report["point_of_no_return_passed"] is True and len(report["backup_location"]) == 9, report
    assert {n: (v["before"], v["after"]) for n, v in report["nodes"].items()} == \
        {n: ("3.0.2", "3.9.1") for n in ("cp1", "dp1", "dp2")}, report
    # Each data plane was replaced once, straight to the target.
    dp_state = json.loads((run_dir / "reports" / "state-hybrid-dp.json").read_text())
    assert {n: (s["from_version"], s["version"]) for n, s in dp_state["nodes"].items()} == \
        {"dp1": ("3.0.2", "3.9.1"), "dp2": ("3.0.2", "3.9.1")}, dp_state

    again = run_playbook("upgrade_hybrid.yml", lab.inventory, run_dir, extra=extra)
    assert again.rc == 0 and set(_changed(again.output).values()) == {0}, again
