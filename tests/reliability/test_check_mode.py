"""Check mode is a plan: `--check` of every upgrade, backup and rollback playbook prints what it would do and changes
nothing. Asserted from the lab after each run: versions installed and running, the database (schema_meta and the
configuration fingerprint), the declarative files, HAProxy's server states and weights, no backup, no state file, no
run lock left.
"""

import json

import pytest

from relkit import run_playbook


def _weights(lab):
    from lab import haproxy  # pylint: disable=import-outside-toplevel
    return {row["srv_name"]: (row["srv_admin_state"], row["srv_uweight"]) for row in haproxy.show_servers_state(lab.lab.sock)}


def _schema_meta(lab, name):
    import psycopg  # pylint: disable=import-outside-toplevel
    d = lab.database(name)
    with psycopg.connect(host=d["host"], port=d["port"], dbname=d["database"], user=d["user"],
                         password=lab.lab.pg_password(), connect_timeout=5) as conn:
        meta = conn.execute("SELECT to_regclass('schema_meta')").fetchone()[0]
        rows = conn.execute("SELECT subsystem, executed, pending FROM schema_meta WHERE key = 'schema_meta'").fetchall() if meta else []
        lock = conn.execute("SELECT to_regclass('kongops_upgrade_lock')").fetchone()[0]
        held = conn.execute("SELECT count(*) FROM kongops_upgrade_lock").fetchone()[0] if lock else 0
    return {"schema_meta": sorted(rows), "locks_held": held}


def _snapshot(lab, with_db):
    snap = {"versions": lab.versions(), "lb": _weights(lab)}
    if with_db:
        # every database of the lab: a dual-cluster lab has Y's too, which a real run would fill
        for name in sorted(lab.lab.state["databases"]):
            snap["db " + name] = _schema_meta(lab, name)
            snap["fingerprint " + name] = lab.fingerprint(name) if snap["db " + name]["schema_meta"] else None
    else:
        snap["files"] = {n: lab.declarative_sha256(n) for n in lab.versions()}
    return snap


def _check(lab, playbook, run_dir, with_db, **extra):
    before = _snapshot(lab, with_db)
    extra = dict({"kong_target_version": "3.4.2", "kong_upgrade_backup_dir": str(run_dir / "backups"),
                  "kong_upgrade_report_dir": str(run_dir / "reports")}, **extra)
    run = run_playbook(playbook, lab.inventory, run_dir, extra=extra, args=("--check",))
    assert run.rc == 0, run
    assert _snapshot(lab, with_db) == before
    backups = run_dir / "backups"
    assert not backups.exists() or not any(p.is_file() for p in backups.rglob("*")), sorted(backups.rglob("*"))
    assert not list((run_dir / "reports").glob("state-*.json")) if (run_dir / "reports").exists() else True
    assert lab.serving()
    return run


@pytest.fixture(scope="module")
def trad(lab_factory):
    return lab_factory("traditional", version="2.8.4", offer=["3.4.2"], nodes=2)


@pytest.fixture(scope="module")
def hybrid(lab_factory):
    return lab_factory("hybrid", version="2.8.4", offer=["3.4.2"], data_planes=2)


@pytest.fixture(scope="module")
def dual(lab_factory):
    return lab_factory("dual", version="3.4.0", offer=["3.4.2"], nodes=1)


@pytest.fixture(scope="module")
def dbless(lab_factory):
    return lab_factory("dbless", version="2.8.4", offer=["3.4.2"], nodes=2)


def test_upgrade_traditional_in_place(trad, run_dir):
    run = _check(trad, "upgrade_traditional.yml", run_dir, True)
    assert "in place 2.8.4 -> 3.4.2" in run.text and "kong migrations up" in run.text, run


def test_backup(trad, run_dir):
    run = _check(trad, "backup.yml", run_dir, True)
    assert "would dump database kong" in run.text, run


def test_zz_rollback_of_a_finished_upgrade(trad, tmp_path):
    """A real in-place upgrade first (last test of the module: it changes the lab), then the rollback in check mode:
    its plan (restore the backup, reinstall X) and nothing changed: the nodes stay on 3.4.2, the database finished."""
    run_dir = tmp_path / "run"
    extra = {"kong_target_version": "3.4.2", "kong_upgrade_backup_dir": str(run_dir / "backups"),
             "kong_upgrade_report_dir": str(run_dir / "reports")}
    up = run_playbook("upgrade_traditional.yml", trad.inventory, run_dir, extra=extra)
    assert up.rc == 0, up
    states = {p.name: p.read_text() for p in (run_dir / "reports").glob("state-*.json")}
    backups = sorted(str(p) for p in (run_dir / "backups").rglob("*"))
    before = _snapshot(trad, True)
    run = run_playbook("rollback.yml", trad.inventory, run_dir, extra=extra, args=("--check",))
    assert run.rc == 0, run
    assert "Check mode: nothing is changed." in run.text and "2.8.4" in run.text, run
    assert _snapshot(trad, True) == before
    assert {p.name: p.read_text() for p in (run_dir / "reports").glob("state-*.json")} == states
    assert sorted(str(p) for p in (run_dir / "backups").rglob("*")) == backups
    assert json.loads(next(iter(states.values())))["phase"] != "rolled_back"


def test_upgrade_traditional_dual_cluster(dual, run_dir):
    run = _check(dual, "upgrade_traditional.yml", run_dir, True, kong_upgrade_strategy="dual_cluster")
    assert "restore the backup into Y's database" in run.text and "decommission X" in run.text, run


def test_upgrade_traditional_blue_green(dual, run_dir):
    db = dual.database("pg_x")
    run = _check(dual, "upgrade_traditional.yml", run_dir, True, kong_upgrade_strategy="blue_green",
                 kong_upgrade_y_conf_overrides={"pg_host": db["host"], "pg_port": db["port"], "pg_database": db["database"]})
    assert "kong migrations finish (point of no return)" in run.text and "decommission X" in run.text, run


def test_upgrade_hybrid(hybrid, run_dir):
    run = _check(hybrid, "upgrade_hybrid.yml", run_dir, True)
    assert "in place 2.8.4 -> 3.4.2" in run.text, run
    assert "dp1" in run.text and "dp2" in run.text


def test_upgrade_dbless(dbless, run_dir):
    run = _check(dbless, "upgrade_dbless.yml", run_dir, False)
    assert "dbless1" in run.text and "roll to 3.4.2" in run.text, run
