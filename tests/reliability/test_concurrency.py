"""Two upgrade runs at once against one cluster, and locks left behind by crashed runs.

- The run lock (kong_db lock / unlock, a row in Kong's database): a second run is refused and
  told who holds the lock; the preflight lists a held lock as a problem; the upgrade playbook itself must stop in
  its preflight while another run holds the lock.
- Kong's own 'migrations' lock left by a crashed 'kong migrations up' (row 'migrations' of table locks): the
  migrations step stops with a message that says what to do, and completes once the row has expired or is removed.
"""

import pytest

from relkit import REPO, assert_refused, run_playbook

LOCK = REPO / "tests" / "reliability" / "files" / "lock.yml"
OWNER_A = "alice@ops-bastion (AWX job 41)"


@pytest.fixture(scope="module")
def hybrid(lab_factory):
    lab = lab_factory("hybrid", version="2.8.4", offer=["3.4.2"], data_planes=1)
    return {"lab": lab, "versions": lab.versions(), "fingerprint": lab.fingerprint()}


def lock(lab, run_dir, action, run_id, owner="", brk=False):
    extra = {"lock_action": action, "lock_run_id": run_id, "lock_owner": owner, "lock_break": brk}
    return run_playbook(LOCK, lab.inventory, run_dir, extra=extra)


@pytest.fixture(scope="module")
def held(hybrid, tmp_path_factory):
    """Run A (AWX job 41) holds the lock for the tests of this module that need it."""
    lab = hybrid["lab"]
    run = lock(lab, tmp_path_factory.mktemp("lock-a"), "acquire", "job-41", OWNER_A)
    assert run.rc == 0, run
    return run


def test_second_run_refused_and_told_who_holds_the_lock(hybrid, held, run_dir):
    run = lock(hybrid["lab"], run_dir, "acquire", "job-42", "bob@laptop")
    assert run.rc != 0, run
    assert OWNER_A in run.text and "job-41" in run.text, run
    # the same run taking it again (a rerun of job 41) is not refused
    again = lock(hybrid["lab"], run_dir, "acquire", "job-41", OWNER_A)
    assert again.rc == 0, again


def test_preflight_lists_a_held_lock(hybrid, held, run_dir):
    run = run_playbook("preflight.yml", hybrid["lab"].inventory, run_dir,
                       extra={"kong_target_version": "3.4.2", "kong_upgrade_backup_dir": str(run_dir / "backups"),
                              "kong_upgrade_run_id": "job-42"})
    problems = assert_refused(run, hybrid["lab"], hybrid["versions"], hybrid["fingerprint"], run_dir / "backups")
    assert "upgrade lock" in problems and OWNER_A in problems


def _past_preflight(output):
    """True once the run reached the first play after its preflight (nothing has changed yet at that point)."""
    return "PLAY [Control planes - hop 1]" in output


def test_upgrade_playbook_refuses_while_another_run_holds_the_lock(hybrid, held, run_dir):
    """upgrade_hybrid.yml's preflight (playbooks/preflight.yml) probes the run lock: the second run stops there."""
    lab = hybrid["lab"]
    run = run_playbook("upgrade_hybrid.yml", lab.inventory, run_dir, kill_when=_past_preflight,
                       extra={"kong_target_version": "3.4.2", "kong_upgrade_backup_dir": str(run_dir / "backups"),
                              "kong_upgrade_report_dir": str(run_dir / "reports"), "kong_upgrade_run_id": "job-42"})
    assert not run.killed, "the second run went past its preflight while job 41 holds the lock"
    problems = assert_refused(run, lab, hybrid["versions"], hybrid["fingerprint"], run_dir / "backups")
    assert "upgrade lock" in problems and OWNER_A in problems


def test_backup_and_rollback_refused_while_another_run_holds_the_lock(hybrid, held, run_dir):
    """A backup or a rollback does not run beside an upgrade: each stops before its first change, naming the holder."""
    lab = hybrid["lab"]
    extra = {"kong_upgrade_backup_dir": str(run_dir / "backups"), "kong_upgrade_report_dir": str(run_dir / "reports")}
    backup = run_playbook("backup.yml", lab.inventory, run_dir, extra=extra)
    assert backup.rc != 0, backup
    assert OWNER_A in backup.text and "job-41" in backup.text, backup
    assert not (run_dir / "backups").exists() or not any((run_dir / "backups").rglob("manifest.json")), backup
    reports = run_dir / "rollback-reports"
    reports.mkdir()
    (reports / "state-hybrid-cp-hop1.json").write_text(
        '{"strategy": "in_place", "from_version": "2.8.4", "version": "3.4.2", "phase": "backed_up", "backup_path": "/nonexistent"}')
    rollback = run_playbook("rollback.yml", lab.inventory, run_dir, extra={"kong_upgrade_report_dir": str(reports)})
    assert rollback.rc != 0, rollback
    assert OWNER_A in rollback.text and "job-41" in rollback.text, rollback
    assert "PLAY [Rollback - cluster X" not in rollback.output, rollback
    assert lab.versions() == hybrid["versions"]


def test_lock_released_then_taken_by_the_next_run(hybrid, held, run_dir):
    lab = hybrid["lab"]
    # someone else cannot release job 41's lock: told so (not fatal: a failed run's release must not hide its error),
    # and the lock stays job 41's
    other = lock(lab, run_dir, "release", "job-42")
    assert "was not released" in other.text and "job-41" in other.text, other
    assert lock(lab, run_dir, "acquire", "job-42", "bob@laptop").rc != 0
    assert lock(lab, run_dir, "release", "job-41").rc == 0
    nxt = lock(lab, run_dir, "acquire", "job-42", "bob@laptop")
    assert nxt.rc == 0, nxt
    assert lock(lab, run_dir, "release", "job-42").rc == 0


@pytest.fixture(scope="module")
def two_nodes(lab_factory):
    return lab_factory("traditional", version="2.8.4", offer=["3.4.2"], nodes=2)


def test_two_upgrades_started_together_exactly_one_proceeds(two_nodes, tmp_path):
    """Two operators (or a re-launched AWX job) start an in-place upgrade of the same 2-node cluster at the same time,
    each from its own controller directory: the run lock lets exactly one through; the other stops before any change,
    naming the holder's run id, and the cluster ends on the target once. The lock is free afterwards."""
    import threading  # pylint: disable=import-outside-toplevel

    lab = two_nodes
    runs = {}

    def upgrade(run_id):
        d = tmp_path / run_id
        runs[run_id] = run_playbook("upgrade_traditional.yml", lab.inventory, d,
                                    extra={"kong_target_version": "3.4.2", "kong_upgrade_strategy": "in_place",
                                           "kong_upgrade_run_id": run_id,
                                           "kong_upgrade_backup_dir": str(d / "backups"),
                                           "kong_upgrade_report_dir": str(d / "reports")})

    threads = [threading.Thread(target=upgrade, args=(r,)) for r in ("run-a", "run-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = [r for r, run in runs.items() if run.rc == 0]
    assert len(done) == 1, runs
    winner, loser = done[0], ({"run-a", "run-b"} - set(done)).pop()
    lost = runs[loser]
    assert "holds the lock" in lost.text or "took the lock" in lost.text, lost
    assert winner in lost.text, lost
    # refused in its preflight: it never reached a play that changes anything, and wrote no state file
    assert "PLAY [In place, hop by hop]" not in lost.output, lost
    assert not list((tmp_path / loser / "reports").glob("state-*.json")), lost
    assert all(v == ("3.4.2", "3.4.2") for v in lab.versions().values()), lab.versions()
    # released at the end of the winner's run: the next run takes it
    assert lock(lab, tmp_path / "after", "acquire", "run-c", "carol").rc == 0
    assert lock(lab, tmp_path / "after", "release", "run-c").rc == 0


@pytest.fixture(scope="module")
def dbless_pair(lab_factory):
    return lab_factory("dbless", version="2.8.4", offer=["3.4.2"], nodes=2)


def test_two_dbless_upgrades_started_together_exactly_one_proceeds(dbless_pair, tmp_path):
    """DB-less nodes share no database: their run lock is a directory on the first node. Two rolling upgrades started
    together: exactly one rolls the nodes; the other stops before draining any, naming the holder; the lock directory
    is gone afterwards."""
    import threading  # pylint: disable=import-outside-toplevel

    lab = dbless_pair
    runs = {}

    def upgrade(run_id):
        d = tmp_path / run_id
        runs[run_id] = run_playbook("upgrade_dbless.yml", lab.inventory, d,
                                    extra={"kong_target_version": "3.4.2", "kong_upgrade_run_id": run_id,
                                           "kong_upgrade_backup_dir": str(d / "backups"),
                                           "kong_upgrade_report_dir": str(d / "reports")})

    threads = [threading.Thread(target=upgrade, args=(r,)) for r in ("dbless-a", "dbless-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = [r for r, run in runs.items() if run.rc == 0]
    assert len(done) == 1, runs
    winner, loser = done[0], ({"dbless-a", "dbless-b"} - set(done)).pop()
    lost = runs[loser]
    assert "Another upgrade run holds the lock of" in lost.text and "run %s by" % winner in lost.text, lost
    assert "PLAY [Rolling upgrade of the DB-less nodes, batch by batch]" not in lost.output, lost
    assert all(v == ("3.4.2", "3.4.2") for v in lab.versions().values()), lab.versions()
    assert not list((lab.node_dir("dbless1") / "var" / "lib" / "kongops").glob("run-lock-*"))
