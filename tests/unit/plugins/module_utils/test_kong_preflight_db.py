# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kong_preflight_db against a throwaway PostgreSQL: fingerprint, comparison and the run lock."""

from __future__ import annotations

import os
import pathlib
import sys
import tempfile

import pytest

from ansible_collections.kongops.upgrade.plugins.module_utils import kong_preflight_db as kp
from ansible_collections.kongops.upgrade.plugins.module_utils import pg_common

REPO = pathlib.Path(__file__).resolve().parents[4]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.pgcluster import KONG_PASSWORD, PgCluster  # noqa: E402  pylint: disable=wrong-import-position


def test_compare_detects_writes_and_ignores_migration_additions():
    before = {"routes": {"rows": 2, "max_updated_at": "t1", "max_created_at": "t0"},
              "plugins": {"rows": 1, "max_updated_at": None, "max_created_at": "t0"}}
    same_plus_migration = dict(before, keys={"rows": 0, "max_updated_at": None, "max_created_at": None},
                               plugins={"rows": 1, "max_updated_at": "t9", "max_created_at": "t0"})
    assert kp.compare_fingerprints(before, same_plus_migration) == []
    written = dict(before, routes={"rows": 2, "max_updated_at": "t2", "max_created_at": "t0"},
                   services={"rows": 1, "max_updated_at": "t2", "max_created_at": "t2"})
    diffs = kp.compare_fingerprints(before, written)
    assert any(d.startswith("routes: latest updated_at") for d in diffs)
    assert any(d.startswith("services: new table with 1 rows") for d in diffs)
    assert kp.compare_fingerprints(before, {"routes": before["routes"]}) == ["plugins: table no longer exists"]


def test_volatile_tables():
    assert kp.is_volatile("schema_meta") and kp.is_volatile("vitals_stats_seconds") and kp.is_volatile(kp.LOCK_TABLE)
    assert not kp.is_volatile("routes")
    assert kp.is_volatile("routes", ("routes",))


@pytest.fixture(scope="module")
def pg():
    base = tempfile.mkdtemp(prefix="kongops-preflight-unit-", dir="/tmp")
    os.chmod(base, 0o755)
    try:
        cluster = PgCluster.create(base)
    except Exception as exc:  # pragma: no cover - machine without PostgreSQL server binaries
        pytest.skip("no PostgreSQL cluster: %s" % exc)
    try:
        cluster.create_database("kong")
        yield cluster
    finally:
        cluster.destroy()


def _conn(pg):
    return pg_common.connect(dict(login_host="127.0.0.1", login_port=pg.port, login_user="kong",
                                  login_password=KONG_PASSWORD, login_db="kong", ssl_mode="disable"))


def test_fingerprint_sees_inserts_and_updates_not_volatile_tables(pg):
    conn = _conn(pg)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE routes (id int PRIMARY KEY, created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now())")
            cur.execute("CREATE TABLE cluster_events (id int)")
            cur.execute("INSERT INTO routes (id) VALUES (1), (2)")
        first = kp.fingerprint(conn)
        assert first["routes"]["rows"] == 2 and first["routes"]["max_updated_at"]
        assert "cluster_events" not in first
        with conn.cursor() as cur:
            cur.execute("INSERT INTO cluster_events VALUES (1)")
        assert kp.compare_fingerprints(first, kp.fingerprint(conn)) == []
        with conn.cursor() as cur:
            cur.execute("UPDATE routes SET updated_at = now() + interval '1 second' WHERE id = 1")
        diffs = kp.compare_fingerprints(first, kp.fingerprint(conn))
        assert len(diffs) == 1 and diffs[0].startswith("routes: latest updated_at")
        facts = kp.server_facts(conn, "kong")
        assert facts["server_version"].split(".", 1)[0] == "15"
        assert facts["password_encryption"] in ("md5", "scram-sha-256")
    finally:
        conn.close()


def test_lock_refuses_second_run_and_can_be_broken(pg):
    conn = _conn(pg)
    try:
        assert kp.lock_read(conn, "c1") is None
        changed, lock, broken = kp.lock_acquire(conn, "c1", "alice@host pid 1", "run-1", check_mode=True)
        assert changed and broken is None and kp.lock_read(conn, "c1") is None
        changed, lock, broken = kp.lock_acquire(conn, "c1", "alice@host pid 1", "run-1")
        assert changed and lock["run_id"] == "run-1" and lock["started_at"]
        assert kp.lock_acquire(conn, "c1", "alice@host pid 1", "run-1")[0] is False
        with pytest.raises(kp.PreflightDbError, match="alice@host pid 1"):
            kp.lock_acquire(conn, "c1", "bob@other", "run-2")
        with pytest.raises(kp.PreflightDbError, match="another run"):
            kp.lock_release(conn, "c1", "run-2")
        # another cluster is independent
        assert kp.lock_acquire(conn, "c2", "bob@other", "run-2")[0]
        changed, lock, broken = kp.lock_acquire(conn, "c1", "bob@other", "run-2", break_stale=True)
        assert changed and lock["run_id"] == "run-2" and broken["run_id"] == "run-1"
        assert kp.lock_release(conn, "c1", "run-2")[0] is True
        assert kp.lock_read(conn, "c1") is None
        assert kp.lock_release(conn, "c1", "run-2") == (False, None)
    finally:
        conn.close()


def test_lock_survives_an_immediate_stop_of_a_server_with_asynchronous_commit(pg):
    """The test cluster runs with synchronous_commit = off, as some tuned servers do: a commit is acknowledged before
    its WAL is flushed. The lock must still be there after the server is killed right after it was taken or released
    (otherwise a second run proceeds beside a run whose database went down)."""
    assert pg.psql("SHOW synchronous_commit").strip() == "off"

    def on_a_connection(fn):
        conn = _conn(pg)
        try:
            return fn(conn)
        finally:
            conn.close()

    def killed_and_restarted():
        pg.stop("immediate")
        pg.start()

    for attempt in range(3):
        run_id = "run-durable-%d" % attempt
        on_a_connection(lambda conn, rid=run_id: kp.lock_acquire(conn, "durable", "alice@host", rid))
        killed_and_restarted()
        assert (on_a_connection(lambda conn: kp.lock_read(conn, "durable")) or {}).get("run_id") == run_id
        assert on_a_connection(lambda conn, rid=run_id: kp.lock_release(conn, "durable", rid))[0] is True
        killed_and_restarted()
        assert on_a_connection(lambda conn: kp.lock_read(conn, "durable")) is None


def test_privileges_and_what_a_role_without_createdb_may_do(pg, tmp_path):
    """Kong's role owns its database and may create databases (as the lab sets it up); then, as Kong's docs create it,
    without CREATEDB and beside a table of another role: the privileges say so, a restore may not replace the
    database, and a backup verified by a test restore stops before dumping, saying what to grant."""
    import subprocess  # pylint: disable=import-outside-toplevel
    from ansible_collections.kongops.upgrade.plugins.module_utils import pg_backup  # pylint: disable=import-outside-toplevel
    conn = _conn(pg)
    try:
        priv = pg_common.privileges(conn)
        assert priv["createdb"] and priv["owns_database"] and not priv["superuser"], priv
        assert pg_common.can_replace_database(conn, "kong")
    finally:
        conn.close()
    pg.psql("ALTER ROLE kong NOCREATEDB")
    pg.psql("CREATE TABLE public.site_audit (id int)", db="kong")
    try:
        conn = _conn(pg)
        try:
            priv = pg_common.privileges(conn)
            assert not priv["createdb"] and priv["foreign_objects"] == ["public.site_audit"], priv
            assert priv["unreadable_objects"] == ["public.site_audit"] and priv["foreign_object_count"] == 1
            assert not pg_common.can_replace_database(conn, "kong")
            assert "site_audit" not in kp.fingerprint(conn)
        finally:
            conn.close()

        def runner(argv, env):
            res = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
            return res.returncode, res.stdout, res.stderr

        dest = tmp_path / "backups"
        params = dict(login_host="127.0.0.1", login_port=pg.port, login_user="kong", login_password=KONG_PASSWORD,
                      login_db="kong", ssl_mode="disable", dest=str(dest), verify="restore", label="kong",
                      pg_dump_path=os.path.join(pg.bindir, "pg_dump"))
        with pytest.raises(pg_backup.BackupError, match="role kong may not create databases: grant it CREATEDB"):
            pg_backup.run_backup(params, runner)
        assert not dest.exists()
    finally:
        pg.psql("ALTER ROLE kong CREATEDB")
        pg.psql("DROP TABLE public.site_audit", db="kong")
