"""Two upgrade runs at once against one cluster, and locks left behind by crashed runs.

- The run lock (roles/preflight lock_acquire / lock_release, a row in Kong's database): a second run is refused and
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


def test_lock_released_then_taken_by_the_next_run(hybrid, held, run_dir):
    lab = hybrid["lab"]
    # someone else cannot release job 41's lock without break
    other = lock(lab, run_dir, "release", "job-42")
    assert other.rc != 0, other
    assert lock(lab, run_dir, "release", "job-41").rc == 0
    nxt = lock(lab, run_dir, "acquire", "job-42", "bob@laptop")
    assert nxt.rc == 0, nxt
    assert lock(lab, run_dir, "release", "job-42").rc == 0
