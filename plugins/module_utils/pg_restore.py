# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restores of a kong_pg_backup backup into Kong's database (rollback) or another one (dual-cluster).

Order of a restore, each step refusing before anything is touched when it finds a problem:

1. read the manifest and verify the sha256 of every file (a corrupted backup is refused);
2. check that pg_restore/psql can handle the server;
3. refuse while other sessions (Kong nodes) are connected to the target database, naming them,
   unless ``force``;
4. with ``create``: drop (``clean``) and create the target database, then restore into it; when the login role may
   not create databases (Kong's own role on most servers), the existing database is kept and emptied instead (``DROP
   OWNED BY`` the role: every object it owns in it), so that a restore never drops what it cannot recreate;
   without ``create``: restore into the existing database, ``clean`` dropping the backup's objects first;
5. compare ``schema_meta``, the set of tables and their row counts (and content checksums when
   the manifest has them) with the manifest; any difference fails the task.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
import time

from ansible_collections.kongops.upgrade.plugins.module_utils import pg_common
from ansible_collections.kongops.upgrade.plugins.module_utils.pg_backup import (
    BackupError, check_tool, compare_state, plain_restore_argv, read_manifest, restore_argv, run_step, safe_dbname,
    tool_version, verify_checksums, MANIFEST_NAME,
)


def resolve_backup_dir(src):
    """``src`` may be a backup directory or its manifest.json."""
    src = os.path.abspath(src)
    if os.path.basename(src) == MANIFEST_NAME and os.path.isfile(src):
        return os.path.dirname(src)
    return src


def plan_restore(manifest, target_db, exists, create, clean):
    """What the restore will do, or a BackupError when the options do not fit the target. Pure."""
    if create:
        if exists and not clean:
            raise BackupError("database %s exists; set clean=true to drop and recreate it, or create=false to restore into it" % target_db)
        return "drop and recreate" if exists else "create"
    if not exists:
        raise BackupError("database %s does not exist; set create=true to create it" % target_db)
    if manifest["format"] == "plain":
        return "restore into (plain dump: drops and recreates the backup's objects)"
    return "clean and restore into" if clean else "restore into"


def _measure(conn, with_sums):
    tables = pg_common.list_tables(conn)
    counts = pg_common.row_counts(conn, tables)
    meta = pg_common.schema_meta_state(conn, tables)
    sums = pg_common.content_checksums(conn, tables) if with_sums else None
    return counts, meta, sums


def run_restore(params, runner, check_mode=False):
    """Restore (or, in check mode, describe the restore of) the backup ``params['src']``."""
    t0 = time.monotonic()
    durations = {}
    commands = []
    backup_dir = resolve_backup_dir(params["src"])
    target = safe_dbname(params.get("login_db") or "kong")
    create = bool(params.get("create"))
    clean = bool(params.get("clean"))
    force = bool(params.get("force"))
    jobs = int(params.get("jobs") or 1)
    maintenance_db = params.get("maintenance_db") or "postgres"

    manifest = read_manifest(backup_dir)
    t = time.monotonic()
    problems = verify_checksums(backup_dir, manifest)
    durations["checksum"] = round(time.monotonic() - t, 3)
    if problems:
        raise BackupError("backup %s is corrupted or incomplete; nothing was restored: %s" % (backup_dir, "; ".join(problems)),
                          problems=problems)
    archive = os.path.join(backup_dir, manifest["dump"])
    plain = manifest["format"] == "plain"
    tool = params["psql_path"] if plain else params["pg_restore_path"]
    tool_ver = tool_version(runner, tool)

    # Without create, the target itself is enough (some servers do not let Kong's role into maintenance_db).
    try:
        conn = pg_common.connect(params, dbname=maintenance_db if create else target)
    except pg_common.psycopg.OperationalError as exc:
        if not create and "does not exist" in str(exc):
            raise BackupError("database %s does not exist; set create=true to create it" % target)
        raise
    try:
        server_ver = pg_common.server_version(conn)
        check_tool("psql" if plain else "pg_restore", tool, tool_ver, server_ver)
        exists = pg_common.database_exists(conn, target)
        sessions = pg_common.other_sessions(conn, target) if exists else []
        can_replace = pg_common.can_replace_database(conn, target) if exists else pg_common.can_create_databases(conn)
    finally:
        conn.close()
    action = plan_restore(manifest, target, exists, create, clean)
    # Dropping a database the role cannot drop, or cannot create again, would fail or lose it: empty it in place.
    empty_in_place = create and exists and not can_replace
    if empty_in_place:
        action = "empty (every object of the login role: it may not drop and create the database) and restore into"
    if sessions and not force:
        raise BackupError("%d other session(s) are connected to database %s (Kong nodes?): %s. Stop them first, or set force=true."
                          % (len(sessions), target, pg_common.describe_sessions(sessions)), sessions=sessions)

    with_sums = any((t or {}).get("checksum") for t in manifest["tables"].values())
    result = {
        "backup_path": backup_dir,
        "target_db": target,
        "action": action,
        "sessions": sessions,
        "manifest": manifest,
        "checksums_verified": True,
    }
    if exists and params.get("skip_if_identical"):
        tconn = pg_common.connect(params, dbname=target)
        try:
            counts, meta, sums = _measure(tconn, with_sums)
        finally:
            tconn.close()
        if not compare_state(manifest, counts, meta, sums):
            result.update(changed=False, restored=False, differences=[],
                          msg="database %s already matches backup %s (%s); nothing restored"
                          % (target, manifest["name"], "content checksums" if with_sums else "row counts and schema_meta"))
            return result
    if check_mode:
        result.update(changed=True, restored=False,
                      msg="would %s database %s from backup %s (%s format, %d tables, %d rows)%s"
                      % (action, target, manifest["name"], manifest["format"], len(manifest["tables"]), manifest.get("row_count_total", 0),
                         ", ignoring %d connected session(s)" % len(sessions) if sessions else ""))
        return result

    t = time.monotonic()
    if empty_in_place:
        conn = pg_common.connect(params, dbname=target, autocommit=False)
        try:
            pg_common.drop_owned_objects(conn, force=force)
        finally:
            conn.close()
    elif create:
        conn = pg_common.connect(params, dbname=maintenance_db)
        try:
            if exists:
                pg_common.drop_database(conn, target, force=force)
            with conn.cursor() as cur:
                ident = pg_common.pgsql.Identifier(target)
                stmt = pg_common.pgsql.SQL("CREATE DATABASE {}").format(ident)
                if params.get("owner"):
                    stmt = pg_common.pgsql.SQL("CREATE DATABASE {} OWNER {}").format(ident, pg_common.pgsql.Identifier(params["owner"]))
                cur.execute(stmt)
        finally:
            conn.close()

    tmpdir = None
    try:
        with pg_common.libpq_env(params, dbname=target, application_name=pg_common.APPLICATION_NAME + "/kong_pg_restore") as env:
            if plain:
                path = archive
                if archive.endswith(".gz"):
                    tmpdir = tempfile.mkdtemp(prefix="kongops-restore-")
                    path = os.path.join(tmpdir, "kong.sql")
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with gzip.open(archive, "rb") as src, os.fdopen(fd, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1024 * 1024)
                argv = plain_restore_argv(tool, path, target)
            else:
                argv = restore_argv(tool, archive, target, jobs=jobs, clean=clean and not create,
                                    no_owner=params.get("no_owner"), single_transaction=True)
            run_step(runner, argv, env, "restore of %s into %s" % (manifest["name"], target), commands)
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)
    durations["restore"] = round(time.monotonic() - t, 3)

    t = time.monotonic()
    tconn = pg_common.connect(params, dbname=target)
    try:
        counts, meta, sums = _measure(tconn, with_sums)
    finally:
        tconn.close()
    diffs = compare_state(manifest, counts, meta, sums)
    durations["compare"] = round(time.monotonic() - t, 3)
    durations["total"] = round(time.monotonic() - t0, 3)
    result.update(changed=True, restored=True, differences=diffs, row_counts=counts, schema_meta=meta,
                  durations=durations, commands=commands)
    if diffs:
        hint = ""
        if any("is not in the backup" in d for d in diffs):
            hint = " Tables created after the backup remain; restore with create=true and clean=true to replace the whole database."
        raise BackupError("database %s was restored from %s but does not match the backup: %s.%s"
                          % (target, manifest["name"], "; ".join(diffs), hint), **result)
    result["msg"] = "restored backup %s into database %s (%s); schema_meta and %d tables match the manifest" % (
        manifest["name"], target, action, len(counts))
    return result
