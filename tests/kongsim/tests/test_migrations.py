"""`kong migrations` on a real PostgreSQL: contract.md sections 1, 2 and 3 (exact output, exit codes,
schema_meta rows, the lock, table changes, fault injection)."""

import json
import subprocess
import threading
import time

import pytest

from kongsim.releases import NEEDS_BOOTSTRAP_MSG

HINT = "\n\n  Run with --v (verbose) or --vv (debug) for more details\n"


def meta(pg_db):
    rows = pg_db["psql"]("SELECT subsystem, last_executed, array_to_string(executed, ','), "
                         "array_to_string(pending, ',') FROM schema_meta ORDER BY subsystem")
    out = {}
    for line in rows.strip().splitlines():
        sub, last, ex, pe = line.split("|")
        out[sub] = {"last": last, "executed": [x for x in ex.split(",") if x], "pending": [x for x in pe.split(",") if x]}
    return out


def test_fresh_bootstrap(kong, db_conf, pg_db):
    r = kong("2.8.4", "migrations", "bootstrap", "-c", db_conf)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "Bootstrapping database..."
    assert lines[1] == "migrating core on database '%s'..." % pg_db["name"]
    assert lines[2] == "core migrated up to: 000_base (executed)"
    # teardowns run at bootstrap: nothing pending
    assert "core migrated up to: 008_150_to_200 (executed)" in lines
    assert lines[-3:] == ["43 migrations processed", "43 executed", "Database is up-to-date"]
    m = meta(pg_db)
    assert m["core"]["last"] == "015_270_to_280" and m["core"]["pending"] == []
    assert len(m["core"]["executed"]) == 14
    tables = pg_db["psql"]("SELECT tablename FROM pg_tables WHERE schemaname='public'").split()
    for t in ("schema_meta", "locks", "services", "routes", "plugins", "consumers", "keyauth_credentials", "vaults_beta"):
        assert t in tables
    r = kong("2.8.4", "migrations", "bootstrap", "-c", db_conf)
    assert (r.returncode, r.stdout) == (0, "Database already bootstrapped\n")


def test_bootstrap_force_resets_first(kong, db_conf, pg_db):
    assert kong("3.4.2", "migrations", "bootstrap", "-c", db_conf).returncode == 0
    pg_db["psql"]("INSERT INTO services (id, name, host) VALUES (gen_random_uuid(), 'gone', 'h')")
    r = kong("3.4.2", "migrations", "bootstrap", "-f", "-c", db_conf)
    assert r.returncode == 0
    assert r.stdout.startswith("Resetting database...\nDatabase successfully reset\nBootstrapping database...\n")
    assert pg_db["psql"]("SELECT count(*) FROM services").strip() == "0"


def test_list_exit_codes(kong, db_conf):
    r = kong("3.4.2", "migrations", "list", "-c", db_conf)
    assert (r.returncode, r.stdout) == (3, NEEDS_BOOTSTRAP_MSG + "\n")
    kong("2.8.4", "migrations", "bootstrap", "-c", db_conf)
    r = kong("2.8.4", "migrations", "list", "-c", db_conf)
    assert r.returncode == 0
    assert r.stdout.startswith("Executed migrations:\n                 core: 000_base, 003_100_to_110")
    assert "Pending" not in r.stdout and "up-to-date" not in r.stdout
    r = kong("3.4.2", "migrations", "list", "-c", db_conf)
    assert r.returncode == 5
    assert "\nNew migrations available:\n" in r.stdout
    assert "\n         core: 016_280_to_300, 017_300_to_310, 018_310_to_320, 019_320_to_330, 020_330_to_340\n" in r.stdout
    assert r.stdout.endswith("\n\nRun 'kong migrations up' to proceed\n")
    kong("3.0.2", "migrations", "up", "-c", db_conf)
    r = kong("3.0.2", "migrations", "list", "-c", db_conf)
    assert r.returncode == 4
    assert "\nPending migrations:\n    core: 016_280_to_300\nhttp-log: 001_280_to_300\n" in r.stdout
    assert r.stdout.endswith("\n\nRun 'kong migrations finish' when ready\n")
    # pending (from 3.0) and new (3.4)
    r = kong("3.4.2", "migrations", "list", "-c", db_conf)
    assert r.returncode == 4
    assert "[warn] Database has pending migrations from a previous upgrade, and new migrations from this upgrade " \
           "(version 3.4.2)" in r.stderr
    assert r.stdout.endswith("\nRun 'kong migrations finish' when ready to complete pending migrations "
                             "(postgres database will be incompatible with the previous Kong version)\n")


def test_up_and_finish_28_to_34(kong, db_conf, pg_db):
    kong("2.8.4", "migrations", "bootstrap", "-c", db_conf)
    r = kong("3.4.2", "migrations", "up", "-c", db_conf)
    assert r.returncode == 0, r.stderr
    assert "core migrated up to: 016_280_to_300 (pending)\n" in r.stdout
    assert "http-log migrated up to: 001_280_to_300 (pending)\n" in r.stdout
    assert "core migrated up to: 020_330_to_340 (executed)\n" in r.stdout
    assert r.stdout.endswith("15 migrations processed\n13 executed\n2 pending\n\n"
                             "Database has pending migrations; run 'kong migrations finish' when ready\n")
    m = meta(pg_db)
    assert m["core"]["pending"] == ["016_280_to_300"] and m["http-log"]["pending"] == ["001_280_to_300"]
    assert m["core"]["last"] == "020_330_to_340"          # pending does not move last_executed
    assert "016_280_to_300" not in m["core"]["executed"]
    # up refuses while pending
    r = kong("3.4.2", "migrations", "up", "-c", db_conf)
    assert r.returncode == 1
    assert r.stderr == "Error: Database has pending migrations; run 'kong migrations finish'" + HINT
    # the old node's tables survive until finish
    assert "vaults_beta" in pg_db["psql"]("SELECT tablename FROM pg_tables")
    r = kong("3.4.2", "migrations", "finish", "-c", db_conf)
    assert r.returncode == 0
    assert r.stdout == ("migrating core on database '%s'...\ncore migrated up to: 016_280_to_300 (executed)\n"
                        "migrating http-log on database '%s'...\nhttp-log migrated up to: 001_280_to_300 (executed)\n"
                        "2 migrations processed\n2 executed\nNo pending migrations to finish\n") % (pg_db["name"], pg_db["name"])
    m = meta(pg_db)
    assert m["core"]["pending"] == [] and m["core"]["executed"][-1] == "016_280_to_300"
    assert m["core"]["last"] == "016_280_to_300"
    assert "vaults_beta" not in pg_db["psql"]("SELECT tablename FROM pg_tables")
    r = kong("3.4.2", "migrations", "up", "-c", db_conf)
    assert (r.returncode, r.stdout) == (0, "Database is already up-to-date\n")
    r = kong("3.4.2", "migrations", "finish", "-c", db_conf)
    assert (r.returncode, r.stdout) == (0, "No pending migrations to finish\n")
    assert kong("3.4.2", "migrations", "list", "-c", db_conf).returncode == 0


def test_up_rewrites_regex_paths_during_up(kong, db_conf, pg_db):
    kong("2.8.4", "migrations", "bootstrap", "-c", db_conf)
    pg_db["psql"]("INSERT INTO services (id, name, host) VALUES ('11111111-1111-1111-1111-111111111111', 's', 'h');"
                  "INSERT INTO routes (id, name, service_id, paths) VALUES "
                  "('22222222-2222-2222-2222-222222222222', 'rx', '11111111-1111-1111-1111-111111111111', "
                  "ARRAY['/plain', '/users/\\d+$', '~/already'])")
    assert kong("3.4.2", "migrations", "up", "-c", db_conf).returncode == 0
    paths = pg_db["psql"]("SELECT array_to_string(paths, ' ') FROM routes").strip()
    assert paths == "/plain ~/users/\\d+$ ~/already"


def test_finish_with_new_migrations_message(kong, db_conf):
    kong("2.8.4", "migrations", "bootstrap", "-c", db_conf)
    kong("3.0.2", "migrations", "up", "-c", db_conf)
    r = kong("3.4.2", "migrations", "finish", "-c", db_conf)
    assert r.returncode == 0
    assert r.stdout.endswith("\nNew migrations available; run 'kong migrations up' to proceed\n")


def test_not_bootstrapped_errors(kong, db_conf):
    for sub in ("up", "finish"):
        r = kong("3.4.2", "migrations", sub, "-c", db_conf)
        assert r.returncode == 1
        assert r.stderr == "Error: Cannot run migrations: " + NEEDS_BOOTSTRAP_MSG + HINT
    r = kong("3.4.2", "migrations", "reset", "-y", "-c", db_conf)
    assert (r.returncode, r.stdout) == (1, "Database not bootstrapped, nothing to reset\n")


def test_status_json(kong, db_conf):
    r = kong("3.4.2", "migrations", "status", "-c", db_conf)
    assert r.returncode == 0
    st = json.loads(r.stdout)
    assert st["needs_bootstrap"] is True and st["new_migrations"][0]["subsystem"] == "core"
    assert "executed_migrations" not in st
    kong("2.8.4", "migrations", "bootstrap", "-c", db_conf)
    kong("3.4.2", "migrations", "up", "-c", db_conf)
    st = json.loads(kong("3.4.2", "migrations", "status", "-c", db_conf).stdout)
    assert st["needs_bootstrap"] is False
    assert st["pending_migrations"] == [
        {"subsystem": "core", "namespace": "kong.db.migrations.core", "migrations": ["016_280_to_300"]},
        {"subsystem": "http-log", "namespace": "kong.plugins.http-log.migrations", "migrations": ["001_280_to_300"]}]
    assert "new_migrations" not in st
    r = kong("2.8.4", "migrations", "status", "-c", db_conf)
    assert r.returncode == 1 and "No such command for migrations: status" in r.stderr


def test_reset(kong, db_conf, pg_db):
    kong("3.4.2", "migrations", "bootstrap", "-c", db_conf)
    r = kong("3.4.2", "migrations", "reset", "-c", db_conf, input="y\n")
    assert r.returncode == 1
    assert r.stderr == "Error: not a tty: invoke 'reset' non-interactively with the --yes flag" + HINT
    r = kong("3.4.2", "migrations", "reset", "--yes", "-c", db_conf)
    assert (r.returncode, r.stdout) == (0, "Resetting database...\nDatabase successfully reset\n")
    assert pg_db["psql"]("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").strip() == "0"
    assert kong("3.4.2", "migrations", "list", "-c", db_conf).returncode == 3


@pytest.mark.parametrize("version,answer,expect_reset", [("3.4.2", "n", False), ("2.8.4", "y", True)])
def test_reset_prompt_on_a_tty(installed_kong, db_conf, pg_db, version, answer, expect_reset):
    # a real process on a pseudo-terminal: the only way to see the prompt
    import os
    import pty
    from conftest import clean_env
    assert subprocess.run([installed_kong(version), "migrations", "bootstrap", "-c", db_conf], env=clean_env(),
                          capture_output=True, check=False).returncode == 0
    pid, fd = pty.fork()
    if pid == 0:  # child
        os.execve(installed_kong(version), [installed_kong(version), "migrations", "reset", "-c", db_conf], clean_env())
    out = b""
    deadline = time.time() + 30
    sent = False
    while time.time() < deadline:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        if not sent and b"irreversible" in out and out.rstrip().endswith(b"]"):
            os.write(fd, answer.encode() + b"\n")
            sent = True
    _unused, status = os.waitpid(pid, 0)
    os.close(fd)
    text = out.decode()
    prompt = "[Y/n]" if version.startswith("2.") else "[y/n]"
    assert "> Are you sure? This operation is irreversible. %s " % prompt in text
    assert os.waitstatus_to_exitcode(status) == 0
    if expect_reset:
        assert "Database successfully reset" in text
        assert pg_db["psql"]("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").strip() == "0"
    else:
        assert "cancelled" in text
        assert pg_db["psql"]("SELECT count(*) FROM schema_meta").strip() != "0"


def hold_lock(pg_db, seconds=60):
    pg_db["psql"]("INSERT INTO locks (key, owner, ttl) VALUES ('migrations', 'other-node', "
                  "CURRENT_TIMESTAMP + interval '%d seconds')" % seconds)


def test_lock_no_wait_commands_abort(kong, db_conf, pg_db):
    kong("2.8.4", "migrations", "bootstrap", "-c", db_conf)
    kong("3.4.2", "migrations", "up", "-c", db_conf)
    hold_lock(pg_db)
    r = kong("3.4.2", "migrations", "finish", "-c", db_conf)
    assert (r.returncode, r.stdout) == (0, "aborted: another node is performing database changes\n")
    assert meta(pg_db)["core"]["pending"] == ["016_280_to_300"]     # nothing ran
    r = kong("3.4.2", "migrations", "reset", "-y", "-c", db_conf)
    assert (r.returncode, r.stdout) == (1, "aborted: another node is performing database changes\n")


def test_lock_up_times_out(kong, db_conf, pg_db):
    kong("2.8.4", "migrations", "bootstrap", "-c", db_conf)
    hold_lock(pg_db)
    t0 = time.time()
    r = kong("3.4.2", "migrations", "up", "--lock-timeout", "1", "-c", db_conf)
    assert r.returncode == 1
    assert r.stderr == "Error: [PostgreSQL error] timeout" + HINT
    assert time.time() - t0 >= 1
    assert "016_280_to_300" not in meta(pg_db)["core"]["executed"] + meta(pg_db)["core"]["pending"]


def test_lock_up_aborts_when_released(kong, db_conf, pg_db):
    kong("2.8.4", "migrations", "bootstrap", "-c", db_conf)
    hold_lock(pg_db)

    def release_when_waiting():
        # delete the lock once the `up` below is polling it (seen in pg_stat_activity)
        deadline = time.time() + 30
        while time.time() < deadline:
            q = pg_db["psql"]("SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' "
                              "AND query LIKE 'SELECT count(*) FROM locks%%'" % pg_db["name"]).strip()
            if q != "0":
                break
            time.sleep(0.05)
        pg_db["psql"]("DELETE FROM locks")
    t = threading.Thread(target=release_when_waiting)
    t.start()
    try:
        r = kong("3.4.2", "migrations", "up", "-c", db_conf)
    finally:
        t.join()
    assert (r.returncode, r.stdout) == (0, "aborted: another node is performing database changes\n")


def test_expired_lock_is_taken_over(kong, db_conf, pg_db):
    kong("2.8.4", "migrations", "bootstrap", "-c", db_conf)
    pg_db["psql"]("INSERT INTO locks (key, owner, ttl) VALUES ('migrations', 'dead', CURRENT_TIMESTAMP - interval '1 second')")
    r = kong("3.4.2", "migrations", "up", "-c", db_conf)
    assert r.returncode == 0 and "2 pending" in r.stdout
    assert pg_db["psql"]("SELECT count(*) FROM locks").strip() == "0"


def test_failing_migration_leaves_kong_state(kong, db_conf, pg_db):
    kong("2.8.4", "migrations", "bootstrap", "-c", db_conf)
    pg_db["psql"]("INSERT INTO services (id, name, host) VALUES ('11111111-1111-1111-1111-111111111111', 's', 'h');"
                  "INSERT INTO routes (id, service_id, paths) VALUES "
                  "('22222222-2222-2222-2222-222222222222', '11111111-1111-1111-1111-111111111111', ARRAY['/a/\\d+'])")
    faults = json.dumps({"migration_fail": "core:018_310_to_320"})
    r = kong("3.4.2", "migrations", "up", "-c", db_conf, env={"KONGSIM_FAULTS": faults})
    assert r.returncode == 1
    assert r.stderr.startswith("Error: [PostgreSQL error] cluster_mutex callback threw an error: "
                               "[PostgreSQL error] failed to run migration '018_310_to_320' up: ERROR: ")
    assert r.stderr.endswith(HINT)
    assert "core migrated up to: 017_300_to_310 (executed)" in r.stdout
    assert "018_310_to_320" not in r.stdout
    m = meta(pg_db)
    assert m["core"]["pending"] == ["016_280_to_300"]
    assert m["core"]["executed"][-1] == "017_300_to_310" and m["core"]["last"] == "017_300_to_310"
    assert "018_310_to_320" not in m["core"]["executed"]
    assert "http-log" not in m          # later subsystems never ran
    assert pg_db["psql"]("SELECT count(*) FROM locks").strip() == "0"      # lock released
    # what real Kong then requires: the recorded pending migration blocks a plain `up`
    r = kong("3.4.2", "migrations", "up", "-c", db_conf)
    assert r.returncode == 1 and "Database has pending migrations" in r.stderr
    r = kong("3.4.2", "migrations", "list", "-c", db_conf)
    assert r.returncode == 4 and "018_310_to_320" in r.stdout.split("New migrations available:")[1]
    assert kong("3.4.2", "migrations", "finish", "-c", db_conf).returncode == 0
    r = kong("3.4.2", "migrations", "up", "-c", db_conf)
    assert r.returncode == 0 and "core migrated up to: 018_310_to_320 (executed)" in r.stdout


def test_failing_migration_rolls_back_its_own_changes(kong, db_conf, pg_db, tmp_path):
    kong("2.8.4", "migrations", "bootstrap", "-c", db_conf)
    pg_db["psql"]("INSERT INTO services (id, name, host) VALUES ('11111111-1111-1111-1111-111111111111', 's', 'h');"
                  "INSERT INTO routes (id, service_id, paths) VALUES "
                  "('22222222-2222-2222-2222-222222222222', '11111111-1111-1111-1111-111111111111', ARRAY['/a/\\d+'])")
    # fault through the prefix file this time
    prefix = tmp_path / "prefix"
    prefix.mkdir(exist_ok=True)
    (prefix / "kongsim_faults.json").write_text(json.dumps({"migration_fail": "core:016_280_to_300"}))
    r = kong("3.4.2", "migrations", "up", "-c", db_conf)
    assert r.returncode == 1 and "failed to run migration '016_280_to_300' up" in r.stderr
    assert pg_db["psql"]("SELECT array_to_string(paths, ' ') FROM routes").strip() == "/a/\\d+"
    assert "016_280_to_300" not in str(meta(pg_db)["core"])


def test_db_errors(kong, kong_conf, pg_db, tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    path = kong_conf({"pg_port": port, "pg_password": "x", "prefix": str(tmp_path / "p")})
    r = kong("3.4.2", "migrations", "list", "-c", path)
    assert r.returncode == 1
    assert r.stderr == "Error: [PostgreSQL error] failed to retrieve PostgreSQL server_version_num: connection refused" + HINT
    path = kong_conf(dict(pg_db["conf"], pg_password="wrong", prefix=str(tmp_path / "p")))
    r = kong("3.4.2", "migrations", "bootstrap", "-c", path)
    assert r.returncode == 1
    assert "failed to retrieve PostgreSQL server_version_num: FATAL: password authentication failed" in r.stderr
    assert "wrong" not in r.stderr + r.stdout


def test_quiet_and_db_timeout_options(kong, db_conf):
    r = kong("3.4.2", "migrations", "bootstrap", "-q", "--db-timeout", "30", "-c", db_conf)
    assert (r.returncode, r.stdout) == (0, "")
    r = kong("2.3.3", "migrations", "list", "-p", "/tmp", "-c", db_conf)
    assert r.returncode == 1      # -p only from 2.4.0
    r = kong("3.4.2", "migrations", "list", "-p", "/tmp/kongsim-x", "-c", db_conf)
    assert r.returncode == 0


def test_plugins_setting_limits_subsystems(kong, kong_conf, pg_db, tmp_path):
    path = kong_conf(dict(pg_db["conf"], plugins="key-auth", prefix=str(tmp_path / "p")))
    r = kong("3.4.2", "migrations", "bootstrap", "-c", path)
    assert r.returncode == 0
    subs = [ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("migrating ")]
    assert subs == ["core", "key-auth"]
    # enabling a bundled plugin later makes its migrations "new" (start would refuse)
    r = kong("3.4.2", "migrations", "list", "-c", kong_conf(dict(pg_db["conf"], prefix=str(tmp_path / "p"))))
    assert r.returncode == 5 and "acl: 000_base_acl" in r.stdout


def test_state_algorithm_missing_and_unknown_names(kong, db_conf, pg_db):
    """contract.md section 2: names before last_executed that are neither executed nor pending are
    missing; names the node does not know are ignored."""
    from kongsim import conf as confmod, db, releases
    kong("3.4.2", "migrations", "bootstrap", "-c", db_conf)
    pg_db["psql"]("UPDATE schema_meta SET executed = array_remove(executed, '017_300_to_310') WHERE subsystem = 'core';"
                  "UPDATE schema_meta SET executed = array_append(executed, '099_future') WHERE subsystem = 'core';"
                  "INSERT INTO schema_meta (key, subsystem, last_executed, executed) "
                  "VALUES ('schema_meta', 'custom-plugin', '000_base', ARRAY['000_base'])")
    conn = db.connect(confmod.load(db_conf, env={}, release="3.4.2"))
    try:
        st = db.schema_state(conn, releases.get("3.4.2"))
    finally:
        conn.close()
    assert not st.needs_bootstrap
    assert dict(st.missing_migrations) == {"core": ["017_300_to_310"]}
    assert not st.new_migrations and not st.pending_migrations
    assert "099_future" not in st.executed_migrations["core"] and "custom-plugin" not in st.executed_migrations
    r = kong("3.4.2", "migrations", "list", "-c", db_conf)
    assert r.returncode == 0                       # missing does not count against up-to-date
    assert json.loads(kong("3.4.2", "migrations", "status", "-c", db_conf).stdout)["missing_migrations"] == [
        {"subsystem": "core", "namespace": "kong.db.migrations.core", "migrations": ["017_300_to_310"]}]


def test_up_force_reruns_executed_but_keeps_pending(kong, db_conf, pg_db):
    kong("2.8.4", "migrations", "bootstrap", "-c", db_conf)
    kong("3.4.2", "migrations", "up", "-c", db_conf)
    r = kong("3.4.2", "migrations", "up", "-f", "-c", db_conf)
    assert r.returncode == 0, r.stderr
    assert "core migrated up to: 000_base (executed)" in r.stdout            # re-run
    assert "016_280_to_300" not in r.stdout                                   # pending ones are not re-run
    m = meta(pg_db)
    assert m["core"]["pending"] == ["016_280_to_300"]                          # still pending: teardown skipped
    assert "vaults_beta" in pg_db["psql"]("SELECT tablename FROM pg_tables")
    r = kong("3.4.2", "migrations", "finish", "-f", "-c", db_conf)
    assert r.returncode == 0
    assert "No pending migrations to finish" not in r.stdout                   # -f suppresses it
    assert meta(pg_db)["core"]["pending"] == []


def test_two_nodes_run_up_at_once(installed_kong, db_conf, pg_db):
    """Two real processes race for the migrations lock: exactly one runs the migrations; the other
    aborts (lock seen) or is refused by the pending migrations the winner recorded."""
    from conftest import clean_env
    kong28, kong34 = installed_kong("2.8.4"), installed_kong("3.4.2")
    assert subprocess.run([kong28, "migrations", "bootstrap", "-c", db_conf], env=clean_env(),
                          capture_output=True, check=False).returncode == 0
    procs = [subprocess.Popen([kong34, "migrations", "up", "-c", db_conf], env=clean_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _unused in range(2)]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    ran = [r for r in results if "15 migrations processed" in r[1]]
    assert len(ran) == 1 and ran[0][0] == 0
    other = [r for r in results if r is not ran[0]][0]
    assert (other[0], other[1]) == (0, "aborted: another node is performing database changes\n") or \
        (other[0] == 1 and "Database has pending migrations; run 'kong migrations finish'" in other[2])
    m = meta(pg_db)
    assert m["core"]["executed"].count("020_330_to_340") == 1 and m["core"]["pending"] == ["016_280_to_300"]
    assert pg_db["psql"]("SELECT count(*) FROM locks").strip() == "0"


def test_up_with_pending_on_21_runs_anyway(kong, kong_conf, pg_db, tmp_path):
    """The pending-migrations refusal of `up` exists since 2.2.0: 2.1 runs new migrations anyway."""
    path = kong_conf(dict(pg_db["conf"], prefix=str(tmp_path / "p")))
    assert kong("2.0.5", "migrations", "bootstrap", "-c", path).returncode == 0
    # as if a 2.1 `up` had recorded core 009 as pending; the plugins' 2.1 migrations are still new
    pg_db["psql"]("UPDATE schema_meta SET pending = ARRAY['009_200_to_210'] WHERE subsystem = 'core'")
    r = kong("2.2.2", "migrations", "up", "-c", path)
    assert r.returncode == 1 and "Database has pending migrations; run 'kong migrations finish'" in r.stderr
    r = kong("2.1.4", "migrations", "up", "-c", path)
    assert r.returncode == 0, r.stderr
    assert "basic-auth migrated up to: 003_200_to_210 (executed)" in r.stdout
    assert "acl migrated up to: 003_200_to_210 (pending)" in r.stdout


def test_reset_without_locks_table_retries_without_lock(kong, db_conf, pg_db):
    kong("3.4.2", "migrations", "bootstrap", "-c", db_conf)
    pg_db["psql"]("DROP TABLE locks")
    r = kong("3.4.2", "migrations", "reset", "-y", "-c", db_conf)
    assert r.returncode == 0
    assert " - retrying without cluster lock" in r.stderr and "[error] [PostgreSQL error]" in r.stderr
    assert r.stdout == "Resetting database...\nDatabase successfully reset\n"
    assert kong("3.4.2", "migrations", "list", "-c", db_conf).returncode == 3


def test_postgres_version_floor():
    from kongsim import db
    db.check_server_version(150004)
    db.check_server_version(90500)
    with pytest.raises(db.DbError) as e:
        db.check_server_version(90412)
    assert str(e.value) == "Kong requires postgres 9.5 or greater (currently using 9.4)"


def test_fault_switches_merge_env_and_prefix_file(tmp_path):
    from kongsim import faults
    assert faults.load(str(tmp_path), env={}) == {}
    env = {"KONGSIM_FAULTS": json.dumps({"start_delay": 2, "unhealthy": True})}
    (tmp_path / "kongsim_faults.json").write_text(json.dumps({"start_delay": 5, "migration_fail": ["core:000_base"]}))
    f = faults.load(str(tmp_path), env=env)
    assert f == {"start_delay": 5, "unhealthy": True, "migration_fail": ["core:000_base"]}   # the file wins
    assert faults.migration_fails(f, "core", "000_base") and not faults.migration_fails(f, "core", "003_100_to_110")
    with pytest.raises(faults.FaultConfigError):
        faults.load(None, env={"KONGSIM_FAULTS": "{not json"})
    with pytest.raises(faults.FaultConfigError):
        faults.load(None, env={"KONGSIM_FAULTS": json.dumps({"no_such_fault": 1})})
