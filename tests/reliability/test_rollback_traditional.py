"""Live rollbacks (playbooks/rollback.yml, not check mode) of traditional dual-cluster and blue-green upgrades.

Each case upgrades a 1 X + 1 Y lab (topology ``dual``: x1 on pg_x, y1 prepared) from 2.8.4 to 3.4.2 with
playbooks/upgrade_traditional.yml, then rolls it back with playbooks/rollback.yml, a paced load running through HAProxy
during both. Asserted after the rollback, from the lab itself (never from the playbook's own output alone):

- traffic is back on X: at HAProxy x1 is ready with its full weight, y1 in maintenance; requests through HAProxy are
  answered by Kong 2.8.4 (``Via`` header); zero failed requests during the rollback;
- Y is stopped, X still runs 2.8.4;
- the configuration X serves is the one fingerprinted before the upgrade (pg_x);
- the state file says ``rolled_back``; a second rollback changes nothing.

Lab subnets: 127.81.x (this file's range on the shared machine). The blue-green cases (before finish: traffic back to
X; after finish: the backup restored, downtime measured) run only with KONGOPS_RELIABILITY_FULL=1 (CI's time budget).
"""

import json
import urllib.request

import pytest

from relkit import Load, free_subnet, full_only, run_playbook

FROM, TO = "2.8.4", "3.4.2"
RATE = 20
# The blue-green cases take about 7 and 9 minutes each on the shared 2-core machine (the dual-cluster pair about 6):
# CI's time budget holds only the dual-cluster pair, so the blue-green cases run on request.
FULL = full_only("the dual-cluster upgrade and rollback of this file")


def _lab(lab_factory):
    lab = lab_factory("dual", version=FROM, offer=[TO], nodes=1, subnet=free_subnet("127.81"))
    return {"lab": lab, "fingerprint": lab.fingerprint("pg_x")}


def _weight(lab, name):
    from lab import haproxy  # pylint: disable=import-outside-toplevel
    for row in haproxy.show_servers_state(lab.lab.sock):
        if row.get("srv_name") == name:
            return int(row["srv_uweight"])
    raise KeyError(name)


def _via(lab):
    """The Kong versions answering through HAProxy (Via: kong/<version>) over a few requests."""
    seen = set()
    for _unused in range(6):
        with urllib.request.urlopen(lab.lab.lb_url() + "/echo", timeout=3) as resp:
            assert resp.status == 200
            seen.add((resp.headers.get("Via") or "").split("kong/")[-1].split()[0])
    return seen


def _state(reports):
    return json.loads((reports / "state-traditional.json").read_text())


def _rollback_report(reports):
    """The newest rollback report's nodes: {node: {before, after, ...}}."""
    newest = max(reports.glob("report-rollback-traditional-*.json"), key=lambda f: f.stat().st_mtime)
    return json.loads(newest.read_text())["nodes"]


def _recap_changed(run):
    return {line.split()[0]: int(line.split("changed=")[1].split()[0]) for line in run.output.splitlines() if " : ok=" in line}


def _schema_meta(lab):
    """{subsystem: (executed, pending)} of pg_x's schema_meta."""
    import psycopg  # pylint: disable=import-outside-toplevel
    db = lab.database("pg_x")
    with psycopg.connect(host=db["host"], port=db["port"], dbname=db["database"], user=db["user"],
                         password=lab.lab.pg_password(), connect_timeout=5) as conn:
        rows = conn.execute("SELECT subsystem, executed, pending FROM schema_meta WHERE key = 'schema_meta'").fetchall()
    return {r[0]: (list(r[1] or []), list(r[2] or [])) for r in rows}


def _brief(result):
    return {k: result.get(k) for k in ("total", "ok", "failed", "starved", "errors", "statuses", "longest_gap_s", "missed_windows")}


def _upgrade(lab, run_dir, strategy, **extra):
    # one second per traffic step (default 5): the steps still run, the file stays short
    extra = dict({"kong_target_version": TO, "kong_upgrade_strategy": strategy,
                  "kong_upgrade_backup_dir": str(run_dir / "backups"), "kong_upgrade_report_dir": str(run_dir / "reports"),
                  "kong_lb_traffic_pause": 1, "kong_upgrade_soak": 2}, **extra)
    with Load(lab.lab.lb_url() + "/echo", rate=RATE) as load:
        run = run_playbook("upgrade_traditional.yml", lab.inventory, run_dir, extra=extra)
    assert run.rc == 0, run
    print("upgrade (%s): %.1f s, %s requests, %s failed" % (strategy, run.elapsed, load.result["total"], load.result["failed"]))
    assert load.result["failed"] == 0, _brief(load.result)
    return run


def _rollback(lab, run_dir):
    with Load(lab.lab.lb_url() + "/echo", rate=RATE) as load:
        run = run_playbook("rollback.yml", lab.inventory, run_dir, extra={"kong_upgrade_report_dir": str(run_dir / "reports")})
    print("rollback: %.1f s, %s requests, %s failed, longest gap %s s" % (
        run.elapsed, load.result["total"], load.result["failed"], load.result.get("longest_gap_s")))
    return run, load.result


def _assert_back_on_x(lab, fingerprint):
    assert lab.versions()["x1"] == (FROM, FROM), lab.versions()
    assert lab.versions()["y1"][1] is None, lab.versions()          # Y stopped (nothing answers its Admin API)
    assert lab.kong_service("y1", "status").returncode == 3
    assert lab.lb_admin_state("x1") == "ready" and _weight(lab, "x1") > 0
    assert lab.lb_admin_state("y1") == "maint"
    assert _via(lab) == {FROM}
    assert lab.fingerprint("pg_x") == fingerprint


@pytest.fixture(scope="module")
def dual(lab_factory):
    return _lab(lab_factory)


@pytest.fixture(scope="module")
def dual_run_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("dual-run")


def test_dual_cluster_upgrade_then_rollback(dual, dual_run_dir):
    lab = dual["lab"]
    _upgrade(lab, dual_run_dir, "dual_cluster")
    assert lab.versions()["y1"] == (TO, TO) and lab.lb_admin_state("y1") == "ready"
    assert TO in _via(lab)
    assert _state(dual_run_dir / "reports")["phase"] == "done"

    run, traffic = _rollback(lab, dual_run_dir)
    assert run.rc == 0, run
    assert traffic["failed"] == 0, _brief(traffic)
    _assert_back_on_x(lab, dual["fingerprint"])
    assert _state(dual_run_dir / "reports")["phase"] == "rolled_back"
    nodes = _rollback_report(dual_run_dir / "reports")
    assert nodes["x1"]["before"] == FROM and nodes["x1"]["after"] == FROM, nodes


def test_dual_cluster_second_rollback_changes_nothing(dual, dual_run_dir):
    lab = dual["lab"]
    run, traffic = _rollback(lab, dual_run_dir)
    assert run.rc == 0, run
    assert "Nothing to roll back" in run.text, run
    assert set(_recap_changed(run).values()) == {0}, (_recap_changed(run), run)
    assert traffic["failed"] == 0, _brief(traffic)
    _assert_back_on_x(lab, dual["fingerprint"])


# -- blue-green stopped before finish --------------------------------------------------------------------------------
# Kong offers blue-green only between patch releases of one minor (the preflight refuses 2.8.4 -> 3.4.2), and the only
# patch release that adds migrations (3.6.1) is not one the simulator ships: the case runs 3.4.0 -> 3.4.2 (as the
# blue_green molecule scenario), where `up` finds nothing new. What it proves: the rollback reads the state (finish not
# run: traffic only), leaves the shared database exactly as `up` left it, and X serves it again.
BG_FROM, BG_TO = "3.4.0", "3.4.2"


@pytest.fixture(scope="module")
def bg(lab_factory):
    lab = lab_factory("dual", version=BG_FROM, offer=[BG_TO], nodes=1, subnet=free_subnet("127.81"))
    return {"lab": lab, "fingerprint": lab.fingerprint("pg_x"), "schema_meta": _schema_meta(lab)}


@pytest.fixture(scope="module")
def bg_run_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("bg-run")


def _bg_extra(lab):
    db = lab.database("pg_x")
    return {"kong_upgrade_y_conf_overrides": {"pg_host": db["host"], "pg_port": db["port"], "pg_database": db["database"]},
            "blue_green_finish": False}


@FULL
def test_blue_green_before_finish_rollback(bg, bg_run_dir):
    lab = bg["lab"]
    _upgrade(lab, bg_run_dir, "blue_green", kong_target_version=BG_TO, **_bg_extra(lab))
    state = _state(bg_run_dir / "reports")
    assert state["strategy"] == "blue_green" and state["phase"] == "shifted", state
    assert not state.get("point_of_no_return_passed"), state
    assert lab.versions()["y1"] == (BG_TO, BG_TO) and lab.versions()["x1"] == (BG_FROM, BG_FROM)
    assert BG_TO in _via(lab)
    after_up = _schema_meta(lab)

    run, traffic = _rollback(lab, bg_run_dir)
    assert run.rc == 0, run
    assert traffic["failed"] == 0, _brief(traffic)
    assert lab.versions()["x1"] == (BG_FROM, BG_FROM), lab.versions()
    assert lab.versions()["y1"][1] is None and lab.kong_service("y1", "status").returncode == 3
    assert lab.lb_admin_state("x1") == "ready" and _weight(lab, "x1") > 0
    assert lab.lb_admin_state("y1") == "maint"
    assert _via(lab) == {BG_FROM}
    # the shared database is left as `up` left it: not finished, not restored
    assert _schema_meta(lab) == after_up
    assert lab.fingerprint("pg_x") == bg["fingerprint"]
    state = _state(bg_run_dir / "reports")
    assert state["phase"] == "rolled_back" and not state.get("point_of_no_return_passed"), state
    nodes = _rollback_report(bg_run_dir / "reports")
    assert nodes["x1"]["before"] == BG_FROM and nodes["x1"]["after"] == BG_FROM, nodes


# -- blue-green after finish: the restore path ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bg_done(lab_factory):
    lab = lab_factory("dual", version=BG_FROM, offer=[BG_TO], nodes=1, subnet=free_subnet("127.81"))
    return {"lab": lab, "fingerprint": lab.fingerprint("pg_x")}


@FULL
def test_blue_green_after_finish_rollback_restores_the_backup(bg_done, tmp_path):
    lab = bg_done["lab"]
    extra = _bg_extra(lab)
    extra.pop("blue_green_finish")
    _upgrade(lab, tmp_path, "blue_green", kong_target_version=BG_TO, **extra)
    state = _state(tmp_path / "reports")
    assert state["point_of_no_return_passed"] and state["phase"] == "done", state
    assert lab.versions()["y1"] == (BG_TO, BG_TO) and lab.versions()["x1"][1] is None   # X decommissioned
    # configuration written on Y after the point of no return: the restore must take the database back before it
    req = urllib.request.Request(lab.lab.admin_url(lab.node("y1")) + "/services", method="POST",
                                 data=json.dumps({"name": "written-after-finish", "url": "http://127.0.0.1:9"}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 201
    assert lab.fingerprint("pg_x") != bg_done["fingerprint"]

    run, traffic = _rollback(lab, tmp_path)
    assert run.rc == 0, run
    # downtime is allowed here (Y stops before the restore, X starts after it): measured and printed
    print("restore rollback: %s failed requests, longest gap %s s" % (traffic["failed"], traffic.get("longest_gap_s")))
    assert lab.versions()["x1"] == (BG_FROM, BG_FROM), lab.versions()
    assert lab.versions()["y1"][1] is None and lab.kong_service("y1", "status").returncode == 3
    assert lab.lb_admin_state("x1") == "ready" and _weight(lab, "x1") > 0
    assert lab.lb_admin_state("y1") == "maint"
    assert _via(lab) == {BG_FROM}
    assert lab.fingerprint("pg_x") == bg_done["fingerprint"]
    state = _state(tmp_path / "reports")
    assert state["phase"] == "rolled_back" and state.get("restored"), state
