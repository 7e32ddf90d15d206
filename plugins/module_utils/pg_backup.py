# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backups of Kong's PostgreSQL database with ``pg_dump``, a manifest and verification.

Layout of one backup (``<dest>/<label>-<UTC timestamp>/``, directories 0700, files 0600)::

    manifest.json     what was dumped: Kong schema state, row counts, versions, sha256 of every file
    dump/             directory format (default), or kong.dump (custom) or kong.sql[.gz] (plain)

The row counts in the manifest and the dump come from the same exported snapshot, so they
describe exactly the same data even while Kong nodes write.  A backup is written under a
hidden ``.<name>.partial`` name and renamed only once it is complete and verified.

Everything here is plain Python; the module passes a ``runner(argv, env) -> (rc, out, err)``.
"""

from __future__ import annotations

import datetime
import gzip
import json
import os
import re
import shutil
import stat
import time

from ansible_collections.kongops.upgrade.plugins.module_utils import checksum
from ansible_collections.kongops.upgrade.plugins.module_utils import pg_common

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
TOOL = "kongops.upgrade.kong_pg_backup"
FORMATS = {"directory": "d", "custom": "c", "plain": "p"}
PLAIN_TRAILER = b"-- PostgreSQL database dump complete"


class BackupError(Exception):
    """A failure with a message meant for the operator and optional details for the result."""

    def __init__(self, msg, **details):
        super(BackupError, self).__init__(msg)
        self.msg = msg
        self.details = details


# --------------------------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------------------------

def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def isotime(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_label(label):
    if not _LABEL_RE.match(label or ""):
        raise BackupError("label %r must be 1-100 characters of letters, digits, '.', '_' and '-', starting with a letter or digit" % (label,))
    return label


def backup_name(label, when):
    """``kong-20261127T063500Z``: the label and the UTC start time, which sorts chronologically."""
    return "%s-%s" % (label, when.strftime("%Y%m%dT%H%M%SZ"))


def compression_suffix(compression):
    """File suffix of a compressed plain dump for pg_dump's ``--compress`` value, '' when uncompressed."""
    if compression in (None, ""):
        return ""
    value = str(compression).strip().lower()
    method = value.split(":", 1)[0]
    level = value.split(":", 1)[1] if ":" in value else ""
    if method.isdigit():
        return ".gz" if int(method) > 0 else ""
    if method == "none" or (level.isdigit() and int(level) == 0 and method == "gzip"):
        return ""
    return {"gzip": ".gz", "lz4": ".lz4", "zstd": ".zst"}.get(method, "." + method)


def dump_relpath(fmt, compression=None):
    if fmt == "directory":
        return "dump"
    if fmt == "custom":
        return "kong.dump"
    if fmt == "plain":
        return "kong.sql" + compression_suffix(compression)
    raise BackupError("unknown format %r" % (fmt,))


def build_pg_dump_argv(pg_dump, fmt, out_path, dbname, jobs=1, compression=None, snapshot=None):
    """pg_dump's argument list.  Connection settings and the password come from the environment."""
    if fmt not in FORMATS:
        raise BackupError("unknown format %r" % (fmt,))
    argv = [pg_dump, "--no-password", "--format=" + FORMATS[fmt], "--file=" + out_path]
    if fmt == "directory" and jobs and int(jobs) > 1:
        argv.append("--jobs=%d" % int(jobs))
    if compression not in (None, ""):
        argv.append("--compress=%s" % compression)
    if snapshot:
        argv.append("--snapshot=" + snapshot)
    if fmt == "plain":
        # A plain dump is restored with psql, which cannot add --clean afterwards.
        argv += ["--clean", "--if-exists"]
    argv.append("--dbname=" + safe_dbname(dbname))
    return argv


def safe_dbname(dbname):
    """libpq reads a ``--dbname`` containing ``=`` or a URI prefix as a connection string: refuse those."""
    if "=" in dbname or dbname.startswith(("postgres://", "postgresql://")):
        raise BackupError("database name %r looks like a connection string; refusing it" % (dbname,))
    return dbname


def walk_files(root, exclude=(MANIFEST_NAME,)):
    """Relative paths (with '/') of every regular file under ``root``, sorted; ``exclude`` at the top only."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            if rel in exclude:
                continue
            found.append(rel)
    return sorted(found)


def collect_files(root):
    """``{relpath: {"size": n, "sha256": hex}}`` for every file of a backup except the manifest."""
    return dict((rel, {"size": os.path.getsize(os.path.join(root, rel)), "sha256": checksum.sha256_file(os.path.join(root, rel))})
                for rel in walk_files(root))


def verify_checksums(root, manifest):
    """Problems between the files under ``root`` and the manifest's list: [] when every file matches.

    Checks that each listed file exists with its size and sha256 and that no unlisted file was added.
    """
    problems = []
    listed = manifest.get("files") or {}
    if not listed:
        problems.append("the manifest lists no files")
    for rel in sorted(listed):
        info = listed[rel]
        path = os.path.join(root, rel)
        if not os.path.isfile(path):
            problems.append("%s: missing" % rel)
            continue
        size = os.path.getsize(path)
        if size != info.get("size"):
            problems.append("%s: size %d, manifest says %s" % (rel, size, info.get("size")))
            continue
        digest = checksum.sha256_file(path)
        if digest != info.get("sha256"):
            problems.append("%s: sha256 %s, manifest says %s" % (rel, digest, info.get("sha256")))
    for rel in walk_files(root):
        if rel not in listed:
            problems.append("%s: not in the manifest" % rel)
    return problems


def secure_tree(root):
    """Directories 0700 and files 0600 under (and including) ``root``."""
    os.chmod(root, stat.S_IRWXU)
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), stat.S_IRWXU)
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), stat.S_IRUSR | stat.S_IWUSR)


def build_manifest(name, label, params, fmt, compression, jobs, dump_path, server_version, pg_dump_path, pg_dump_version,
                   database_size, counts, schema_meta, files, started, finished, kong_version=None, checksums=None,
                   snapshot=None):
    """The manifest written beside a dump (a plain dict; see docs/backup-restore.md)."""
    return {
        "manifest_format": MANIFEST_FORMAT,
        "tool": TOOL,
        "name": name,
        "label": label,
        "format": fmt,
        "compression": compression,
        "jobs": jobs,
        "dump": dump_path,
        "database": {
            "name": params.get("login_db"),
            "host": params.get("login_host"),
            "port": params.get("login_port"),
            "user": params.get("login_user"),
            "server_version": pg_common.version_str(server_version),
            "size_bytes": database_size,
        },
        "pg_dump": {"path": pg_dump_path, "version": pg_common.version_str(pg_dump_version)},
        "kong": {
            "version": kong_version,
            "bootstrapped": schema_meta is not None,
            "schema_release_hint": pg_common.schema_release_hint(schema_meta),
            "schema_meta": schema_meta,
        },
        "snapshot": snapshot,
        "tables": dict((k, {"rows": counts[k], "checksum": (checksums or {}).get(k)}) for k in sorted(counts)),
        "row_count_total": sum(counts.values()),
        "files": files,
        "total_bytes": sum(f["size"] for f in files.values()),
        "started_at": isotime(started),
        "finished_at": isotime(finished),
        "duration_seconds": round((finished - started).total_seconds(), 3),
    }


def write_json_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, 0o600)


def read_manifest(backup_dir):
    path = os.path.join(backup_dir, MANIFEST_NAME)
    try:
        with open(path) as f:
            data = json.load(f)
    except (IOError, OSError) as exc:
        raise BackupError("cannot read the manifest %s: %s" % (path, exc))
    except ValueError as exc:
        raise BackupError("the manifest %s is not valid JSON: %s" % (path, exc))
    if not isinstance(data, dict) or data.get("tool") != TOOL or "files" not in data:
        raise BackupError("%s is not a kong_pg_backup manifest" % path)
    return data


def compare_state(manifest, counts, schema_meta, checksums=None):
    """Differences between a database's state and a manifest, as readable strings ([] = identical).

    Compares the set of tables, each table's row count, ``schema_meta`` and, when both sides have
    them, the content checksums.
    """
    diffs = []
    expected = manifest.get("tables") or {}
    for key in sorted(set(expected) - set(counts)):
        diffs.append("table %s is missing" % key)
    for key in sorted(set(counts) - set(expected)):
        diffs.append("table %s is not in the backup (%d rows)" % (key, counts[key]))
    for key in sorted(set(expected) & set(counts)):
        if expected[key].get("rows") != counts[key]:
            diffs.append("table %s has %d rows, the backup has %s" % (key, counts[key], expected[key].get("rows")))
        want = expected[key].get("checksum")
        if want and checksums is not None and checksums.get(key) != want:
            diffs.append("table %s content checksum %s differs from the backup's %s" % (key, checksums.get(key), want))
    want_meta = (manifest.get("kong") or {}).get("schema_meta")
    if _norm_meta(want_meta) != _norm_meta(schema_meta):
        diffs.append("schema_meta differs: backup %s, database %s" % (json.dumps(want_meta), json.dumps(schema_meta)))
    return diffs


def _norm_meta(rows):
    if rows is None:
        return None
    return sorted((r.get("key"), r.get("subsystem"), r.get("last_executed"), tuple(r.get("executed") or ()),
                   tuple(r.get("pending") or ())) for r in rows)


def select_for_removal(backups, keep):
    """The backups to delete so that only the newest ``keep`` remain (``keep`` None or 0: keep all).

    ``backups`` are dicts with ``name`` and ``started_at`` (ISO UTC, sortable); ties sort by name.
    """
    if not keep or keep < 0:
        return []
    ordered = sorted(backups, key=lambda b: (b.get("started_at") or "", b.get("name") or ""), reverse=True)
    return ordered[keep:]


def find_backups(dest, label):
    """Complete backups under ``dest`` written by this module with ``label`` (partial ones are skipped)."""
    found = []
    if not os.path.isdir(dest):
        return found
    for entry in sorted(os.listdir(dest)):
        path = os.path.join(dest, entry)
        if entry.startswith(".") or not os.path.isdir(path):
            continue
        try:
            manifest = read_manifest(path)
        except BackupError:
            continue
        if manifest.get("label") != label:
            continue
        found.append({"name": manifest.get("name") or entry, "path": path, "started_at": manifest.get("started_at")})
    return found


def list_table_data(listing):
    """Tables whose data ``pg_restore --list`` shows (``schema.table``)."""
    tables = set()
    for line in listing.splitlines():
        if line.startswith(";") or " TABLE DATA " not in line:
            continue
        # "3365; 0 16390 TABLE DATA public services kong"
        rest = line.split(" TABLE DATA ", 1)[1].split()
        if len(rest) >= 2:
            tables.add("%s.%s" % (rest[0], rest[1]))
    return tables


def plain_dump_complete(path):
    """Whether a plain dump (optionally gzip-compressed) ends with pg_dump's completion comment."""
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        tail = b""
        with gzip.open(path, "rb") as f:
            while True:
                chunk = f.read(1024 * 1024)
                if not chunk:
                    break
                tail = (tail + chunk)[-4096:]
        return PLAIN_TRAILER in tail
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 4096))
        return PLAIN_TRAILER in f.read()


def tool_version(runner, path):
    rc, out, err = runner([path, "--version"], None)
    if rc != 0:
        raise BackupError("%s --version failed (rc %s): %s" % (path, rc, (err or out).strip()))
    try:
        return pg_common.parse_tool_version(out)
    except ValueError as exc:
        raise BackupError(str(exc))


def check_tool(tool_name, tool_path, tool_ver, server_ver):
    if not pg_common.tool_can_handle_server(tool_ver, server_ver):
        raise BackupError(
            "%s %s (%s) is older than the PostgreSQL server %s: it cannot dump or restore a newer server reliably. "
            "Install the PostgreSQL %s client programs and point the module at them (pg_dump_path / pg_restore_path)."
            % (tool_name, pg_common.version_str(tool_ver), tool_path, pg_common.version_str(server_ver),
               pg_common.version_str(pg_common.major_of(server_ver))),
            tool_version=pg_common.version_str(tool_ver), server_version=pg_common.version_str(server_ver))


def scratch_db_name(dbname, when):
    base = "%s_kongops_verify_%s_%d" % (dbname, when.strftime("%Y%m%d%H%M%S"), os.getpid())
    return base[-63:] if len(base) > 63 else base


def restore_argv(pg_restore, archive, dbname, jobs=1, clean=False, no_owner=False, single_transaction=False):
    argv = [pg_restore, "--no-password", "--exit-on-error", "--dbname=" + safe_dbname(dbname)]
    if clean:
        argv += ["--clean", "--if-exists"]
    if no_owner:
        argv += ["--no-owner", "--no-privileges"]
    if jobs and int(jobs) > 1:
        argv.append("--jobs=%d" % int(jobs))
    elif single_transaction:
        argv.append("--single-transaction")
    argv.append(archive)
    return argv


# --------------------------------------------------------------------------------------------
# The backup itself
# --------------------------------------------------------------------------------------------

def run_step(runner, argv, env, what, commands):
    """Run one pg tool, record its argv, raise BackupError with its output when it fails."""
    commands.append(list(argv))
    rc, out, err = runner(argv, env)
    if rc != 0:
        raise BackupError("%s failed (rc %s): %s" % (what, rc, (err or out or "").strip()[-2000:]), rc=rc, cmd=argv)
    return out


def _measure(params, conn, tables, with_checksums):
    counts = pg_common.row_counts(conn, tables)
    meta = pg_common.schema_meta_state(conn, tables)
    sums = pg_common.content_checksums(conn, tables) if with_checksums else None
    return counts, meta, sums


def verify_by_restore(params, runner, backup_dir, manifest, pg_restore, jobs, commands, when=None):
    """Restore a backup into a scratch database, compare it with the manifest, drop the scratch database."""
    when = when or utcnow()
    scratch = scratch_db_name(params["login_db"], when)
    conn = pg_common.connect(params)
    try:
        with conn.cursor() as cur:
            cur.execute(pg_common.pgsql.SQL("CREATE DATABASE {}").format(pg_common.pgsql.Identifier(scratch)))
        try:
            archive = os.path.join(backup_dir, manifest["dump"])
            with pg_common.libpq_env(params, dbname=scratch) as env:
                if manifest["format"] == "plain":
                    argv = plain_restore_argv(params.get("psql_path") or "psql", archive, scratch)
                    if archive.endswith(".gz"):
                        raise BackupError("verify=restore of a compressed plain dump is not supported; use verify=checksums")
                else:
                    argv = restore_argv(pg_restore, archive, scratch, jobs=jobs, no_owner=True, single_transaction=True)
                run_step(runner, argv, env, "restoring into the scratch database %s" % scratch, commands)
            sconn = pg_common.connect(params, dbname=scratch)
            try:
                tables = pg_common.list_tables(sconn)
                with_sums = any(t.get("checksum") for t in manifest["tables"].values())
                counts, meta, sums = _measure(params, sconn, tables, with_sums)
            finally:
                sconn.close()
            return compare_state(manifest, counts, meta, sums)
        finally:
            pg_common.drop_database(conn, scratch, force=True)
    finally:
        conn.close()


def plain_restore_argv(psql, path, dbname):
    return [psql, "-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", path,
            "--dbname=" + safe_dbname(dbname)]


def run_backup(params, runner, check_mode=False, now=utcnow):
    """Make (or, in check mode, describe) one backup.  Returns the module result (without ``changed``'s caller logic).

    ``params``: the module parameters (connection options plus dest, format, jobs, compression,
    label, keep, pg_dump_path, pg_restore_path, verify, kong_version, table_checksums).
    """
    t0 = time.monotonic()
    fmt = params.get("format") or "directory"
    label = check_label(params.get("label") or "kong")
    dest = os.path.abspath(params["dest"])
    jobs = int(params.get("jobs") or 1)
    compression = params.get("compression")
    keep = params.get("keep")
    verify = params.get("verify") or "checksums"
    pg_dump = params["pg_dump_path"]
    pg_restore = params.get("pg_restore_path") or os.path.join(os.path.dirname(pg_dump), "pg_restore")
    commands = []
    durations = {}

    dump_ver = tool_version(runner, pg_dump)
    conn = pg_common.connect(params)
    try:
        server_ver = pg_common.server_version(conn)
        check_tool("pg_dump", pg_dump, dump_ver, server_ver)
        if verify != "none" and fmt != "plain":
            check_tool("pg_restore", pg_restore, tool_version(runner, pg_restore), server_ver)
        dbsize = pg_common.database_size(conn, params["login_db"])
        tables = pg_common.list_tables(conn)
        may_create = pg_common.can_create_databases(conn)
    finally:
        conn.close()
    if verify == "restore" and not may_create:
        # Said before the dump, not after it: the test restore needs a scratch database.
        raise BackupError("verify=restore restores the backup into a scratch database, but role %s may not create databases: "
                          "grant it CREATEDB (ALTER ROLE %s CREATEDB) or verify with checksums (kong_backup_verify=checksums)"
                          % (params["login_user"], params["login_user"]))

    started = now()
    name = backup_name(label, started)
    final = os.path.join(dest, name)
    if os.path.exists(final):
        # Two backups in the same second: add a counter rather than overwrite.
        n = 1
        while os.path.exists("%s.%d" % (final, n)):
            n += 1
        name = "%s.%d" % (name, n)
        final = os.path.join(dest, name)
    existing = find_backups(dest, label)
    to_remove = select_for_removal(existing + [{"name": name, "path": final, "started_at": isotime(started)}], keep)
    result = {
        "backup_path": final,
        "format": fmt,
        "tables": [pg_common.table_key(s, t) for s, t in tables],
        "database_size_bytes": dbsize,
        "server_version": pg_common.version_str(server_ver),
        "pg_dump_version": pg_common.version_str(dump_ver),
        "removed_backups": [b["path"] for b in to_remove],
    }
    if check_mode:
        result.update(changed=True, verified=False, estimated_size_bytes=dbsize, manifest=None,
                      msg="would dump database %s (%d bytes, %d tables) to %s" % (params["login_db"], dbsize, len(tables), final))
        return result

    if not os.path.isdir(dest):
        os.makedirs(dest, 0o700)
        os.chmod(dest, 0o700)
    partial = os.path.join(dest, "." + name + ".partial")
    os.mkdir(partial, 0o700)
    try:
        dump_rel = dump_relpath(fmt, compression)
        out_path = os.path.join(partial, dump_rel)
        # One REPEATABLE READ transaction exports its snapshot to pg_dump: the counts below and the
        # dump see exactly the same rows even if Kong writes meanwhile.
        sconn = pg_common.connect(params, autocommit=False)
        try:
            with sconn.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cur.execute("SELECT pg_export_snapshot()")
                snapshot = cur.fetchone()[0]
            t = time.monotonic()
            counts, meta, sums = _measure(params, sconn, tables, params.get("table_checksums"))
            durations["count"] = round(time.monotonic() - t, 3)
            t = time.monotonic()
            with pg_common.libpq_env(params, application_name=pg_common.APPLICATION_NAME + "/kong_pg_backup") as env:
                run_step(runner, build_pg_dump_argv(pg_dump, fmt, out_path, params["login_db"], jobs, compression, snapshot),
                         env, "pg_dump", commands)
            durations["dump"] = round(time.monotonic() - t, 3)
        finally:
            sconn.rollback()
            sconn.close()
        finished = now()
        secure_tree(partial)
        t = time.monotonic()
        files = collect_files(partial)
        durations["checksum"] = round(time.monotonic() - t, 3)
        manifest = build_manifest(name, label, params, fmt, compression, jobs, dump_rel, server_ver, pg_dump, dump_ver, dbsize,
                                  counts, meta, files, started, finished, kong_version=params.get("kong_version"),
                                  checksums=sums, snapshot=snapshot)
        write_json_private(os.path.join(partial, MANIFEST_NAME), manifest)

        t = time.monotonic()
        verified = _verify(params, runner, partial, manifest, verify, pg_restore, jobs, commands)
        durations["verify"] = round(time.monotonic() - t, 3)
        os.rename(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise

    removed = []
    for b in to_remove:
        if b["path"] != final:
            shutil.rmtree(b["path"])
            removed.append(b["path"])
    durations["total"] = round(time.monotonic() - t0, 3)
    result.update(changed=True, verified=verified, manifest=manifest, manifest_path=os.path.join(final, MANIFEST_NAME),
                  dump_path=os.path.join(final, dump_rel), size_bytes=manifest["total_bytes"], removed_backups=removed,
                  durations=durations, commands=commands,
                  msg="backup of %s written to %s (%d bytes, verified: %s)" % (params["login_db"], final, manifest["total_bytes"], verified))
    return result


def _verify(params, runner, root, manifest, verify, pg_restore, jobs, commands):
    """Runs the verification asked for; raises BackupError on a problem; returns what was verified."""
    if verify == "none":
        return "none"
    problems = verify_checksums(root, manifest)
    if problems:
        raise BackupError("the backup's files do not match their checksums just after writing: %s" % "; ".join(problems))
    archive = os.path.join(root, manifest["dump"])
    if manifest["format"] == "plain":
        if not plain_dump_complete(archive):
            raise BackupError("the plain dump %s lacks pg_dump's completion line" % archive)
    else:
        listing = run_step(runner, [pg_restore, "--list", archive], None, "pg_restore --list", commands)
        missing = sorted(set(manifest["tables"]) - list_table_data(listing))
        if missing:
            raise BackupError("pg_restore --list does not show the data of: %s" % ", ".join(missing))
    if verify == "restore":
        diffs = verify_by_restore(params, runner, root, manifest, pg_restore, jobs, commands)
        if diffs:
            raise BackupError("restoring the backup into a scratch database gave a different state: %s" % "; ".join(diffs),
                              differences=diffs)
    return verify
