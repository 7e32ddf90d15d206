"""The fact gate before `kong migrations finish` (the point of no return), in a real run of each strategy that has it.

A node reverted to X while the run migrates (an operator, or configuration management, reinstalling the old package)
must stop the run before `finish`: finish is refused, naming the node, and the cluster goes back to X as the strategy's
failure path says. Asserted from the lab: the finish never ran (the database as before, or restored), every node on X
and serving, the state file short of the point of no return.

- in-place, traditional (2 nodes): kong2 reverted while `kong migrations up` runs on kong1;
- in-place, hybrid control plane (1 control plane + 1 data plane): the control plane reverted while `up` runs;
  the data plane is never touched;
- blue-green: stopped before finish (blue_green_finish=false), y1 reverted, then the run resumed with finish (full
  matrix only, KONGOPS_RELIABILITY_FULL=1: CI's time budget).
"""

import json
import re
import time

from relkit import Load, free_subnet, full_only, run_playbook

REFUSED = "Refusing kong migrations finish (the point of no return): not every node of the cluster reports"


def _at_task(pattern, action):
    """A hook: run action() once the task header matching pattern has appeared."""
    rx = re.compile(r"^TASK \[[^\]]*(?:" + pattern + ")", re.M)
    return (lambda out: bool(rx.search(out)), action)


def _schema_meta(lab, db=None):
    import psycopg  # pylint: disable=import-outside-toplevel
    d = lab.database(db)
    with psycopg.connect(host=d["host"], port=d["port"], dbname=d["database"], user=d["user"],
                         password=lab.lab.pg_password(), connect_timeout=5) as conn:
        rows = conn.execute("SELECT subsystem, executed, pending FROM schema_meta WHERE key = 'schema_meta'").fetchall()
    return {r[0]: (list(r[1] or []), list(r[2] or [])) for r in rows}


def _revert(lab, node, version):
    def act():
        res = lab.kong_install(node, version)
        assert res.returncode == 0, res.stderr
    return act


def _states(reports):
    return {p.name: json.loads(p.read_text()) for p in reports.glob("state-*.json")}


def _extra(run_dir, **kw):
    return dict({"kong_target_version": "3.4.2", "kong_upgrade_backup_dir": str(run_dir / "backups"),
                 "kong_upgrade_report_dir": str(run_dir / "reports")}, **kw)


def test_in_place_traditional_refuses_finish_while_a_node_is_on_x(lab_factory, run_dir):
    lab = lab_factory("traditional", version="2.8.4", offer=["3.4.2"], nodes=2)
    fingerprint, schema = lab.fingerprint(), _schema_meta(lab)
    run = run_playbook("upgrade_traditional.yml", lab.inventory, run_dir,
                       extra=_extra(run_dir, kong_upgrade_strategy="in_place"),
                       hooks=[_at_task("Run kong migrations up with the target release", _revert(lab, "kong2", "2.8.4"))])
    assert run.rc != 0, run
    assert REFUSED in run.text and "'kong2', '2.8.4'" in run.text, run
    assert "TASK [kongops.upgrade.kong_db : Run kong migrations finish (point of no return)]" not in run.text
    # step 10: the database restored from the backup, every node back on X and serving
    assert _schema_meta(lab) == schema and lab.fingerprint() == fingerprint
    assert lab.versions() == {"kong1": ("2.8.4", "2.8.4"), "kong2": ("2.8.4", "2.8.4")}, lab.versions()
    assert lab.serving()
    for state in _states(run_dir / "reports").values():
        assert not state.get("point_of_no_return_passed"), state


def test_in_place_control_plane_refuses_finish_while_it_is_on_x(lab_factory, run_dir):
    lab = lab_factory("hybrid", version="2.8.4", offer=["3.4.2"], data_planes=1)
    fingerprint, schema = lab.fingerprint(), _schema_meta(lab)
    with Load(lab.lab.lb_url() + "/echo", rate=20) as load:
        run = run_playbook("upgrade_hybrid.yml", lab.inventory, run_dir, extra=_extra(run_dir),
                           hooks=[_at_task("Run kong migrations up with the target release", _revert(lab, "cp1", "2.8.4"))])
    assert run.rc != 0, run
    assert REFUSED in run.text and "'cp1', '2.8.4'" in run.text, run
    assert "TASK [kongops.upgrade.kong_db : Run kong migrations finish (point of no return)]" not in run.text
    assert _schema_meta(lab) == schema and lab.fingerprint() == fingerprint
    assert lab.versions() == {"cp1": ("2.8.4", "2.8.4"), "dp1": ("2.8.4", "2.8.4")}, lab.versions()
    # the data plane kept serving its cached configuration while the control plane was down
    assert load.result["failed"] == 0, load.result
    for state in _states(run_dir / "reports").values():
        assert not state.get("point_of_no_return_passed"), state


@full_only("the in-place cases of this file (the same gate, in the kong_db building block)")
def test_blue_green_resumed_with_finish_refuses_while_a_y_node_runs_x(lab_factory, run_dir):
    frm, to = "3.4.0", "3.4.2"
    lab = lab_factory("dual", version=frm, offer=[to], nodes=1, subnet=free_subnet("127.82"))
    db = lab.database("pg_x")
    extra = _extra(run_dir, kong_target_version=to, kong_upgrade_strategy="blue_green", kong_lb_traffic_pause=1, kong_upgrade_soak=2,
                   kong_upgrade_y_conf_overrides={"pg_host": db["host"], "pg_port": db["port"], "pg_database": db["database"]},
                   kong_upgrade_run_id="bg-gate")
    first = run_playbook("upgrade_traditional.yml", lab.inventory, run_dir, extra=dict(extra, blue_green_finish=False))
    assert first.rc == 0, first
    assert lab.versions()["y1"] == (to, to)
    schema = _schema_meta(lab, "pg_x")
    # y1 reverted to X and restarted on it, then the run resumed with finish
    assert lab.kong_install("y1", frm).returncode == 0
    assert lab.kong_service("y1", "restart").returncode == 0
    deadline = time.monotonic() + 30
    while lab.versions()["y1"][1] != frm and time.monotonic() < deadline:
        time.sleep(0.5)
    resumed = run_playbook("upgrade_traditional.yml", lab.inventory, run_dir, extra=extra)
    assert resumed.rc != 0, resumed
    assert REFUSED in resumed.text and "'y1', '%s'" % frm in resumed.text, resumed
    assert _schema_meta(lab, "pg_x") == schema     # not finished
    assert lab.versions()["x1"] == (frm, frm)      # X not decommissioned
    assert lab.serving()
    for state in _states(run_dir / "reports").values():
        assert not state.get("point_of_no_return_passed"), state


def test_blue_green_soak_over_the_error_budget_sends_traffic_back_to_x(lab_factory, run_dir):
    """The promotion gate: Y has all the traffic and starts answering 503 during the soak (kongsim fault 'unhealthy',
    armed and reloaded when the soak starts). Y's failed requests at the load balancer exceed the error budget: every
    share goes back to X, `finish` never runs, X is not decommissioned."""
    frm, to = "3.4.0", "3.4.2"
    lab = lab_factory("dual", version=frm, offer=[to], nodes=1, subnet=free_subnet("127.82"))
    db = lab.database("pg_x")
    schema = _schema_meta(lab, "pg_x")
    extra = _extra(run_dir, kong_target_version=to, kong_upgrade_strategy="blue_green", kong_lb_traffic_pause=1,
                   kong_upgrade_soak=6,
                   kong_upgrade_y_conf_overrides={"pg_host": db["host"], "pg_port": db["port"], "pg_database": db["database"]})

    def break_y():
        lab.set_faults("y1", {"unhealthy": True})
        assert lab.kong_service("y1", "reload").returncode == 0

    try:
        with Load(lab.lab.lb_url() + "/echo", rate=20) as load:
            run = run_playbook("upgrade_traditional.yml", lab.inventory, run_dir, extra=extra,
                               hooks=[_at_task("Soak - Y serves all the traffic", break_y)])
    finally:
        lab.set_faults("y1", {})
        lab.kong_service("y1", "reload")
    print("traffic during the soak failure: %s" % {k: load.result.get(k) for k in ("total", "failed", "longest_gap_s")})
    assert run.rc != 0, run
    assert "over the error budget (1.0 %)" in run.text and "All traffic is back on X" in run.text, run
    assert "TASK [kongops.upgrade.kong_db : Run kong migrations finish (point of no return)]" not in run.text
    assert _schema_meta(lab, "pg_x") == schema
    assert lab.versions()["x1"] == (frm, frm)
    assert lab.lb_admin_state("x1") == "ready"
    assert lab.serving()
    states = _states(run_dir / "reports")
    assert any(s.get("phase") == "traffic_back_on_x" and s.get("traffic_on_y") == 0 for s in states.values()), states
