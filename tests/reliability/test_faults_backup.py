"""Faults around the backup (one traditional node on 2.8.4 and its PostgreSQL):

- disk full: a tiny tmpfs as the backup directory. The preflight refuses when the free space is below its margin;
  a backup that runs out of space fails with a message, leaves no backup that claims to be good, and a rerun to a
  directory with room completes and verifies;
- PostgreSQL stopped during the backup: the backup fails and says so; once PostgreSQL is back, the rerun completes.

Throughout: the node keeps serving through HAProxy (a traditional Kong node serves from memory while its database
is down) and the configuration in the database is unchanged.
"""

import os
import pathlib
import subprocess
import time

import pytest

from relkit import assert_refused, run_playbook


@pytest.fixture(scope="module")
def trad(lab_factory):
    lab = lab_factory("traditional", version="2.8.4", offer=["3.4.2"], nodes=1)
    return {"lab": lab, "versions": lab.versions(), "fingerprint": lab.fingerprint()}


@pytest.fixture
def tiny_fs(tmp_path):
    """A 64 KiB tmpfs (root in this container can mount; elsewhere the disk-full cases are skipped, with the reason)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "kongops-h4-tiny", str(mnt)],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (%s): the disk-full cases need root or a prepared small filesystem"
                    % res.stderr.strip())
    yield mnt
    subprocess.run(["umount", str(mnt)], capture_output=True, check=False)


def _complete_backups(root):
    """Backups under root that look complete: a manifest.json outside a hidden (".<name>.partial") directory. The
    module renames a backup to its final name only once it is complete and verified; a failed one must not look so."""
    found = []
    for dirpath, _dirnames, filenames in os.walk(str(root)):
        rel = os.path.relpath(dirpath, str(root))
        if "manifest.json" in filenames and not any(part.startswith(".") for part in rel.split(os.sep)):
            found.append(dirpath)
    return found


def test_preflight_refuses_a_backup_directory_without_room(trad, tiny_fs, run_dir):
    run = run_playbook("preflight.yml", trad["lab"].inventory, run_dir,
                       extra={"kong_target_version": "3.4.2", "kong_upgrade_backup_dir": str(tiny_fs)})
    problems = assert_refused(run, trad["lab"], trad["versions"], trad["fingerprint"])
    assert "not enough free space in %s" % tiny_fs in problems
    assert "bytes free" in problems and "needed" in problems


def test_backup_running_out_of_space_fails_cleanly_and_rerun_completes(trad, tiny_fs, run_dir):
    lab = trad["lab"]
    run = run_playbook("backup.yml", lab.inventory, run_dir,
                       extra={"kong_upgrade_backup_dir": str(tiny_fs), "kong_upgrade_report_dir": str(run_dir / "reports")})
    assert run.rc != 0, run
    assert "No space left on device" in run.text or "no space" in run.text.lower(), run
    assert _complete_backups(tiny_fs) == []
    assert lab.fingerprint() == trad["fingerprint"] and lab.serving()
    # the rerun with room completes and its backup is verified
    roomy = run_dir / "backups"
    rerun = run_playbook("backup.yml", lab.inventory, run_dir,
                         extra={"kong_upgrade_backup_dir": str(roomy), "kong_upgrade_report_dir": str(run_dir / "reports")})
    assert rerun.rc == 0, rerun
    assert _complete_backups(roomy)
    assert lab.fingerprint() == trad["fingerprint"] and lab.serving()


def test_postgresql_stopped_during_backup_then_rerun(trad, run_dir):
    lab = trad["lab"]
    pg = lab.pg()
    stopped = []

    def stop_pg():
        pg.stop(mode="immediate")
        stopped.append(time.monotonic())

    backups = run_dir / "backups"
    extra = {"kong_upgrade_backup_dir": str(backups), "kong_upgrade_report_dir": str(run_dir / "reports"),
             "kong_upgrade_run_id": "backup-1"}
    try:
        run = run_playbook("backup.yml", lab.inventory, run_dir, extra=extra,
                           hooks=[(lambda out: "TASK [Dump and verify the database]" in out, stop_pg)])
        assert stopped, "the fault was not injected"
        assert run.rc != 0, run
        # the operator's message names the database that could not be dumped
        assert "pg_dump" in run.text or "connection" in run.text.lower(), run
        assert _complete_backups(backups) == []
        # the gateway keeps serving from memory while its database is down
        assert lab.serving()
    finally:
        if not pg.running():
            pg.start()
    assert lab.fingerprint() == trad["fingerprint"]
    # The failed run could not release its run lock (its database was down): another run is refused and told how to
    # resume that run; resuming it as that run (its run id) completes.
    other = run_playbook("backup.yml", lab.inventory, run_dir, extra=dict(extra, kong_upgrade_run_id="backup-2"))
    assert other.rc != 0 and "kong_upgrade_run_id=backup-1" in other.text, other
    assert _complete_backups(backups) == []
    rerun = run_playbook("backup.yml", lab.inventory, run_dir, extra=extra)
    assert rerun.rc == 0, rerun
    assert _complete_backups(backups)
    assert lab.serving()


def test_migration_lock_left_by_a_crashed_run(trad, run_dir):
    """Kong's own 'migrations' lock (row of table locks) left by a 'kong migrations up' that crashed: the migrations
    step (kong_migrations, as the in-place and blue-green strategies call it) waits lock_timeout, then stops without
    running anything and says what to do; once the row is gone, the rerun migrates. Last test of the module: it
    migrates the lab's database to 3.4.2."""
    import psycopg  # pylint: disable=import-outside-toplevel
    lab = trad["lab"]
    db = lab.database()
    kong34 = str(lab.dir / "repo" / "3.4.2" / "bin" / "kong")
    play = pathlib.Path(__file__).parent / "files" / "migrations.yml"

    def sql(statement):
        with psycopg.connect(host=db["host"], port=db["port"], dbname=db["database"], user=db["user"],
                             password=lab.lab.pg_password(), connect_timeout=5) as conn:
            rows = conn.execute(statement)
            return rows.fetchall() if rows.description else None

    executed_before = sql("SELECT subsystem, executed FROM schema_meta ORDER BY subsystem")
    sql("INSERT INTO locks (key, owner, ttl) VALUES ('migrations', 'crashed-run-on-kong1', CURRENT_TIMESTAMP + interval '1 hour')")
    run = run_playbook(play, lab.inventory, run_dir, extra={"target_kong_bin": kong34, "lock_timeout": 5})
    assert run.rc != 0, run
    assert "'migrations' lock" in run.text and "(a crashed run left the row)" in run.text and "then rerun" in run.text, run
    # nothing ran: the migrations state and the configuration are as before, and the node serves
    assert sql("SELECT subsystem, executed FROM schema_meta ORDER BY subsystem") == executed_before
    assert lab.fingerprint() == trad["fingerprint"] and lab.serving()
    # the operator checks that no node runs migrations and removes the row; the rerun migrates
    sql("DELETE FROM locks WHERE key = 'migrations'")
    rerun = run_playbook(play, lab.inventory, run_dir, extra={"target_kong_bin": kong34, "lock_timeout": 5})
    assert rerun.rc == 0, rerun
    assert sql("SELECT subsystem, executed FROM schema_meta ORDER BY subsystem") != executed_before
    assert lab.fingerprint() == trad["fingerprint"]
    assert sql("SELECT count(*) FROM locks WHERE key = 'migrations'") == [(0,)]
