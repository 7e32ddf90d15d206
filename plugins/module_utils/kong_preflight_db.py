# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Database side of the upgrade preflight: server facts, the write-freeze fingerprint and the run lock.

Plain Python on top of ``pg_common`` (no AnsibleModule here), unit-tested against a real PostgreSQL.

* ``server_facts``: server version, ``password_encryption`` and whether the login role's password is
  SCRAM (when the role may read it), for the "PG version and auth method against the target" check.
* ``fingerprint`` / ``compare_fingerprints``: row count and latest ``updated_at`` / ``created_at`` of
  every Kong configuration table, so that writes made during the upgrade window are detected
  (Kong/kong#6172).  Tables that Kong itself writes while running are left out.
* ``lock_acquire`` / ``lock_release``: a row in ``kongops_upgrade_lock`` (one row per cluster) that
  survives between tasks, unlike an advisory lock.
"""

from __future__ import annotations

import datetime

from ansible_collections.kongops.upgrade.plugins.module_utils.pg_common import (
    list_tables,
    pgsql,
    privileges,
    server_version,
    version_str,
)

LOCK_TABLE = "kongops_upgrade_lock"

# Tables that a running Kong (or this collection) writes by itself: not configuration.
VOLATILE_TABLES = frozenset([
    "schema_meta", "locks", "cluster_events", "ratelimiting_metrics", "response_ratelimiting_metrics",
    "clustering_data_planes", "clustering_rpc_requests", "clustering_sync_version", "clustering_sync_delta",
    "sessions", "session_metadatas", "oauth2_tokens", "oauth2_authorization_codes", "acme_storage",
    "login_attempts", "workspace_entity_counters", "keyring_meta", "event_hooks", "license_data",
    "konnect_applications", LOCK_TABLE,
])
VOLATILE_PREFIXES = ("vitals_", "rl_counters")


class PreflightDbError(Exception):
    pass


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _iso(value):
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return str(value)


def is_volatile(name, extra_excludes=()):
    return name in VOLATILE_TABLES or name in extra_excludes or name.startswith(VOLATILE_PREFIXES)


def server_facts(conn, login_user):
    """Server version and authentication facts a preflight checks against the target release."""
    facts = dict(server_version=version_str(server_version(conn)))
    with conn.cursor() as cur:
        cur.execute("SHOW password_encryption")
        facts["password_encryption"] = cur.fetchone()[0]
        facts["role_password_scram"] = None
        try:
            cur.execute("SELECT rolpassword LIKE 'SCRAM-SHA-256$%%' FROM pg_authid WHERE rolname = %s", (login_user,))
            row = cur.fetchone()
            facts["role_password_scram"] = None if row is None or row[0] is None else bool(row[0])
        except Exception:  # pylint: disable=broad-except  # pg_authid is superuser-only: the fact stays unknown
            if not conn.autocommit:
                conn.rollback()
    facts["privileges"] = privileges(conn)
    return facts


def _columns(conn, schema, name):
    with conn.cursor() as cur:
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                    (schema, name))
        return set(r[0] for r in cur.fetchall())


def fingerprint(conn, exclude=()):
    """``{table: {"rows": n, "max_updated_at": iso|None, "max_created_at": iso|None}}`` of Kong's configuration tables."""
    result = {}
    unreadable = set(privileges(conn)["unreadable_objects"])
    for schema, name in list_tables(conn):
        # a table the role may not read is the privileges check's finding, not a reason to fail the fingerprint
        if is_volatile(name, exclude) or "%s.%s" % (schema, name) in unreadable:
            continue
        cols = _columns(conn, schema, name)
        parts = [pgsql.SQL("count(*)")]
        for col in ("updated_at", "created_at"):
            parts.append(pgsql.SQL("max({})").format(pgsql.Identifier(col)) if col in cols else pgsql.SQL("NULL"))
        query = pgsql.SQL("SELECT {} FROM {}").format(pgsql.SQL(", ").join(parts), pgsql.Identifier(schema, name))
        with conn.cursor() as cur:
            cur.execute(query)
            row = cur.fetchone()
        result[name] = dict(rows=int(row[0]), max_updated_at=_iso(row[1]), max_created_at=_iso(row[2]))
    return result


def compare_fingerprints(before, after):
    """Differences that mean configuration was written between two fingerprints.

    Tables that exist only in ``after`` with no rows are what a migration adds (ignored); a table that
    appears with rows, a changed row count, or a later ``updated_at``/``created_at`` than before are
    writes.  A timestamp column that did not exist before (added by a migration) is not compared.
    """
    diffs = []
    for name in sorted(set(before) | set(after)):
        b = before.get(name)
        a = after.get(name)
        if b is None:
            if a and a.get("rows"):
                diffs.append("%s: new table with %d rows" % (name, a["rows"]))
            continue
        if a is None:
            diffs.append("%s: table no longer exists" % name)
            continue
        if b.get("rows") != a.get("rows"):
            diffs.append("%s: %s rows at the preflight, %s now" % (name, b.get("rows"), a.get("rows")))
        for col in ("max_updated_at", "max_created_at"):
            if b.get(col) is not None and a.get(col) is not None and a[col] != b[col]:
                diffs.append("%s: latest %s %s at the preflight, %s now" % (name, col[4:], b[col], a[col]))
    return diffs


# --------------------------------------------------------------------------------------------
# Run lock
# --------------------------------------------------------------------------------------------

_LOCK_DDL = (
    "CREATE TABLE IF NOT EXISTS {} (cluster text PRIMARY KEY, owner text NOT NULL, run_id text NOT NULL,"
    " started_at timestamptz NOT NULL DEFAULT now())"
)

# A server tuned with synchronous_commit = off acknowledges a commit before its WAL is flushed: a crash or an immediate
# stop right after would forget the lock, and a second run would proceed beside the first. The lock's own transactions
# wait for the flush, whatever the server's setting.
_DURABLE = "SET LOCAL synchronous_commit = on"


def _lock_ident(schema):
    return pgsql.Identifier(schema, LOCK_TABLE) if schema else pgsql.Identifier(LOCK_TABLE)


def lock_read(conn, cluster, schema=None):
    """The lock row of ``cluster`` as a dict, or None (also when the table does not exist)."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (("%s.%s" % (schema, LOCK_TABLE)) if schema else LOCK_TABLE,))
        if cur.fetchone()[0] is None:
            return None
        cur.execute(pgsql.SQL("SELECT cluster, owner, run_id, started_at FROM {} WHERE cluster = %s").format(_lock_ident(schema)),
                    (cluster,))
        row = cur.fetchone()
    if row is None:
        return None
    return dict(cluster=row[0], owner=row[1], run_id=row[2], started_at=_iso(row[3]))


def describe_lock(lock):
    return "run %s by %s, started %s" % (lock["run_id"], lock["owner"], lock["started_at"])


def lock_acquire(conn, cluster, owner, run_id, schema=None, break_stale=False, check_mode=False):
    """Take the cluster's lock.  Returns ``(changed, lock, broken)``; raises PreflightDbError if another run holds it.

    The same ``run_id`` re-acquires its own lock without change (a rerun of one job, or a second play of it).
    ``break_stale`` replaces a lock held by another run (the operator asserts that run is gone).
    """
    held = lock_read(conn, cluster, schema)
    if held and held["run_id"] == run_id:
        return False, held, None
    if held and not break_stale:
        raise PreflightDbError(
            "Another upgrade run holds the lock of cluster %r: %s. Wait for it to end. If it is gone (killed, host lost), "
            "resume it with -e kong_upgrade_run_id=%s (its run id), or rerun with -e kong_upgrade_lock_break=true "
            "(break_stale=true) to replace its lock." % (cluster, describe_lock(held), held["run_id"]))
    if check_mode:
        return True, dict(cluster=cluster, owner=owner, run_id=run_id, started_at=None), held
    with conn.transaction():
        with conn.cursor() as cur:
            cur.execute(_DURABLE)
            cur.execute(pgsql.SQL(_LOCK_DDL).format(_lock_ident(schema)))
            if held:
                cur.execute(pgsql.SQL("DELETE FROM {} WHERE cluster = %s AND run_id = %s").format(_lock_ident(schema)),
                            (cluster, held["run_id"]))
            cur.execute(pgsql.SQL("INSERT INTO {} (cluster, owner, run_id) VALUES (%s, %s, %s) ON CONFLICT (cluster) DO NOTHING"
                                  " RETURNING started_at").format(_lock_ident(schema)), (cluster, owner, run_id))
            inserted = cur.fetchone()
    if inserted is None:  # another run took it between our read and our insert
        now_held = lock_read(conn, cluster, schema)
        raise PreflightDbError("Another upgrade run took the lock of cluster %r first: %s." % (cluster, describe_lock(now_held)))
    return True, lock_read(conn, cluster, schema), held


def lock_release(conn, cluster, run_id, schema=None, force=False, check_mode=False):
    """Release the cluster's lock held by ``run_id`` (any holder with ``force``).  Returns ``(changed, released)``.

    Refuses (PreflightDbError) to release another run's lock without ``force``.
    """
    held = lock_read(conn, cluster, schema)
    if held is None:
        return False, None
    if held["run_id"] != run_id and not force:
        raise PreflightDbError("The lock of cluster %r belongs to another run (%s); not releasing it." % (cluster, describe_lock(held)))
    if not check_mode:
        with conn.transaction():
            with conn.cursor() as cur:
                cur.execute(_DURABLE)
                cur.execute(pgsql.SQL("DELETE FROM {} WHERE cluster = %s AND run_id = %s").format(_lock_ident(schema)),
                            (cluster, held["run_id"]))
    return True, held
