"""Faults during a hybrid upgrade 2.8.4 -> 3.4.2 (1 control plane in place + 1 data plane behind HAProxy), in the
order an unlucky operator meets them, each followed by the rerun that is the right answer:

1. ansible-playbook SIGKILLed while the control plane is being stopped (point A);
2. the rerun meets PostgreSQL stopped during 'kong migrations up' (it fails and says so; PostgreSQL comes back);
3. the next rerun starts the control plane on 3.4.2, which fails its health gate (kongsim fault 'unhealthy', armed
   when Y starts, cleared when the run rolls back);
4. the next rerun is SIGKILLed while the data plane is being replaced (point B);
5. the last rerun completes: every node on 3.4.2, the configuration intact, the report written, and no process
   argument list of the run held the database password.

A paced load runs through HAProxy during every run: with the control plane down the data plane keeps serving its
cached configuration (no failed request expected); while the only data plane is replaced, requests fail, and the
longest gap is measured and printed. Each test depends on the previous one (one lab, one upgrade).
"""

import re
import time

import pytest

from relkit import Load, run_playbook

TARGET = "3.4.2"
STATE = {}


@pytest.fixture(scope="module")
def hybrid(lab_factory, tmp_path_factory):
    lab = lab_factory("hybrid", version="2.8.4", offer=[TARGET], data_planes=1)
    tmp = tmp_path_factory.mktemp("hybrid-faults")
    # One run id for the chain: a run killed with SIGKILL keeps the run lock, and the operator resumes it as that run.
    return {"lab": lab, "versions": lab.versions(), "fingerprint": lab.fingerprint(), "tmp": tmp,
            "extra": {"kong_target_version": TARGET, "kong_upgrade_backup_dir": str(tmp / "backups"),
                      "kong_upgrade_report_dir": str(tmp / "reports"), "kong_node_health_retries": 8,
                      "kong_upgrade_run_id": "faults-1"}}


def after(pattern, delay=0.0):
    """A predicate on the run's output: true ``delay`` seconds after a task header matching ``pattern`` (a regular
    expression over the task's name, role prefix included) first appeared."""
    seen = []
    rx = re.compile(r"^TASK \[[^\]]*(?:" + pattern + ")", re.M)

    def pred(output):
        if not seen and rx.search(output):
            seen.append(time.monotonic())
        return bool(seen) and time.monotonic() - seen[0] >= delay
    return pred


def upgrade(hybrid, run_dir, **kw):
    lab = hybrid["lab"]
    with Load(lab.lab.lb_url() + "/echo", rate=20) as load:
        run = run_playbook("upgrade_hybrid.yml", lab.inventory, run_dir, extra=hybrid["extra"], **kw)
    traffic = load.result or {}
    print("traffic during the run: total %s, failed %s, longest gap %ss"
          % (traffic.get("total"), traffic.get("failed"), traffic.get("longest_gap_s")))
    return run, traffic


def needs(step):
    if step not in STATE:
        pytest.skip("needs the previous step of the chain (%s)" % step)


def test_1_sigkill_while_stopping_the_control_plane(hybrid, run_dir):
    lab = hybrid["lab"]
    # As the quit task starts: a fixed delay after the step's header raced the quit itself on a quiet machine.
    run, traffic = upgrade(hybrid, run_dir, kill_when=after(r"Read the service state, then act: quit", 0.0))
    assert run.killed, run
    # the data plane keeps serving its cached configuration (no request lost) and the data is intact
    assert traffic["failed"] == 0, traffic
    assert lab.serving()
    assert lab.fingerprint() == hybrid["fingerprint"]
    # dp1 still has 2.8.4 and answered every request with it. Whether the control plane still lists it depends on whether
    # the kill came before or after the control plane's quit was sent: both happen, and the reruns must cope with both.
    assert lab.versions()["dp1"][0] == "2.8.4"
    assert set(traffic["versions"]) == {"2.8.4"}, traffic
    STATE["1"] = True


def test_1b_killed_run_keeps_the_lock_another_run_is_told_how_to_resume(hybrid, run_dir):
    """The killed run still holds the run lock: a run with another id stops in its preflight, before any change, and
    is told which run holds it and how to resume or break it."""
    needs("1")
    lab = hybrid["lab"]
    # installed releases: whether a node runs depends on how far the killed run's quit had gone, not on this run
    before = {n: v[0] for n, v in lab.versions().items()}
    run = run_playbook("upgrade_hybrid.yml", lab.inventory, run_dir, extra=dict(hybrid["extra"], kong_upgrade_run_id="other-2"))
    assert run.rc != 0, run
    assert "faults-1" in run.text and "kong_upgrade_run_id=faults-1" in run.text and "kong_upgrade_lock_break=true" in run.text, run
    assert "PLAY [Control planes in place, hop by hop]" not in run.output, run
    assert {n: v[0] for n, v in lab.versions().items()} == before


def test_2_postgresql_stopped_during_migrations_up(hybrid, run_dir):
    needs("1")
    lab = hybrid["lab"]
    pg = lab.pg()
    try:
        # As the task starts: a second later, `up` had already finished on a quiet machine.
        run, traffic = upgrade(hybrid, run_dir, hooks=[(after(r"Run kong migrations up", 0.0),
                                                        lambda: pg.stop(mode="immediate"))])
        assert run.rc != 0 and not run.killed, run
        # the operator is told that the migrations step failed on the database
        assert "migrations" in run.text and ("PostgreSQL" in run.text or "connection" in run.text.lower()), run
        assert traffic["failed"] == 0, traffic
        assert lab.serving()
    finally:
        if not pg.running():
            pg.start()
    assert lab.fingerprint() == hybrid["fingerprint"]
    STATE["2"] = True


def test_3_control_plane_fails_its_health_gate(hybrid, run_dir):
    """The fault is armed when Y starts and cleared as soon as the run rolls back, so X comes back healthy."""
    needs("2")
    lab = hybrid["lab"]
    armed = []
    rollback = re.compile(r"^TASK \[[^\]]*(?:Step 10|[Rr]oll ?back)", re.M)

    def arm():
        lab.set_faults("cp1", {"unhealthy": True})
        armed.append(True)

    def rolling_back(output):
        start = output.find("Step 8 - start Y")
        return bool(armed) and bool(rollback.search(output, start))

    try:
        run, traffic = upgrade(hybrid, run_dir, hooks=[(after(r"Step 8 - start Y"), arm),
                                                       (rolling_back, lambda: lab.set_faults("cp1", None))])
        assert armed, "the fault was not armed"
        assert run.rc != 0, run
        assert "cp1" in run.text and ("ready" in run.text or "health" in run.text.lower()), run
        # data planes are not touched when the control plane is not healthy: dp1 still has and serves 2.8.4 (the control
        # plane, just rolled back and restarted, may not list it again yet)
        assert lab.versions()["dp1"][0] == "2.8.4"
        assert set(traffic["versions"]) == {"2.8.4"}, traffic
        assert traffic["failed"] == 0, traffic
    finally:
        lab.set_faults("cp1", None)
    # whatever the role did (rolled back after finish by restoring the verified backup, or stopped on Y), the
    # configuration in the database is the one from before
    assert lab.fingerprint() == hybrid["fingerprint"]
    print("after the failed health gate: %s" % lab.versions())
    STATE["3"] = True


def test_4_sigkill_while_replacing_the_data_plane(hybrid, run_dir):
    """Runs after the steps above or on a fresh lab: either way the control plane is upgraded first."""
    lab = hybrid["lab"]
    run, traffic = upgrade(hybrid, run_dir, kill_when=after(r"Stop X gracefully", 0.5))
    assert run.killed, run
    assert lab.versions()["cp1"] == (TARGET, TARGET)
    assert lab.fingerprint() == hybrid["fingerprint"]
    print("killed while replacing dp1: %s" % lab.versions())
    # with a single data plane drained, the gateway has a gap: measured, reported (printed), and closed by the rerun
    STATE["4"] = traffic


def test_5_rerun_completes(hybrid, run_dir):
    needs("4")
    lab = hybrid["lab"]
    password = lab.lab.pg_password()
    run, traffic = upgrade(hybrid, run_dir, sample=True)
    assert run.rc == 0, run
    assert lab.versions() == {"cp1": (TARGET, TARGET), "dp1": (TARGET, TARGET)}
    assert lab.fingerprint() == hybrid["fingerprint"]
    assert lab.serving()
    reports = list((hybrid["tmp"] / "reports").glob("*.json"))
    assert reports, "no report written"
    assert [c for c in run.cmdlines if password in c] == []
    assert any("AnsiballZ_kong_migrations" in c or "AnsiballZ_kong_facts" in c for c in run.cmdlines)
    print("downtime while the only data plane was replaced (killed run): longest gap %ss, failed %s; rerun: gap %ss, failed %s"
          % (STATE["4"].get("longest_gap_s"), STATE["4"].get("failed"), traffic.get("longest_gap_s"), traffic.get("failed")))


def test_6_control_planes_not_rolled_back_under_data_planes_on_y(hybrid, run_dir):
    """After the completed upgrade, a rollback named at the in-place control planes' state while the data plane still
    runs Y is refused before any change (a 2.8 control plane cannot serve a 3.4 data plane): the data planes first."""
    lab = hybrid["lab"]
    before = lab.versions()
    reports = hybrid["tmp"] / "reports"
    if not (reports / "state-hybrid-cp-hop1.json").exists() or before.get("dp1", (None,))[0] != TARGET:
        pytest.skip("needs the completed upgrade of the chain")
    states = {p.name: p.read_text() for p in reports.glob("state-*.json")}
    run = run_playbook("rollback.yml", lab.inventory, run_dir,
                       extra=dict(hybrid["extra"], kong_rollback_state="state-hybrid-cp-hop1.json", kong_upgrade_run_id="rollback-6"))
    assert run.rc != 0, run
    assert "Refusing to roll back" in run.text and "Data planes dp1 are still recorded on Y" in run.text, run
    assert "PLAY [Rollback - cluster X" not in run.output, run
    assert lab.versions() == before
    assert {p.name: p.read_text() for p in reports.glob("state-*.json")} == states
