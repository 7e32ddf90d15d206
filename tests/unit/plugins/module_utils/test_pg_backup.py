"""Unit tests of plugins/module_utils/pg_backup.py and pg_restore.py pure functions (no database)."""

import datetime
import gzip
import json
import os
import stat

import pytest

from ansible_collections.kongops.upgrade.plugins.module_utils import pg_backup
from ansible_collections.kongops.upgrade.plugins.module_utils import pg_restore
from ansible_collections.kongops.upgrade.plugins.module_utils.pg_backup import BackupError

UTC = datetime.timezone.utc
META = [dict(key="schema_meta", subsystem="core", last_executed="015_270_to_280", executed=["000_base", "015_270_to_280"], pending=[])]


def make_backup(root, files):
    for rel, content in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)


def manifest_for(root, counts=None, meta=None, **kw):
    start = datetime.datetime(2026, 11, 27, 6, 0, 0, tzinfo=UTC)
    end = start + datetime.timedelta(seconds=12.5)
    params = dict(login_db="kong", login_host="127.0.0.1", login_port=5432, login_user="kong", login_password="hunter2")
    return pg_backup.build_manifest("kong-x", "kong", params, "directory", None, 2, "dump", (15, 18), "/usr/bin/pg_dump", (15, 18),
                                    1000, counts or {"public.services": 3, "public.routes": 5}, META if meta is None else meta,
                                    pg_backup.collect_files(root), start, end, **kw)


def test_manifest_records_what_the_issue_asks(tmp_path):
    make_backup(str(tmp_path), {"dump/toc.dat": b"toc", "dump/1.dat.gz": b"data" * 10})
    m = manifest_for(str(tmp_path), kong_version="2.8.4")
    assert m["kong"]["version"] == "2.8.4" and m["kong"]["schema_meta"] == META and m["kong"]["schema_release_hint"] == "2.8"
    assert m["tables"]["public.routes"]["rows"] == 5 and m["row_count_total"] == 8
    assert m["database"]["server_version"] == "15.18" and m["pg_dump"]["version"] == "15.18"
    assert m["files"]["dump/1.dat.gz"]["size"] == 40 and m["total_bytes"] == 43
    assert len(m["files"]["dump/toc.dat"]["sha256"]) == 64
    assert m["started_at"] == "2026-11-27T06:00:00.000000Z" and m["duration_seconds"] == 12.5
    assert "hunter2" not in json.dumps(m)


def test_collect_files_excludes_the_manifest(tmp_path):
    make_backup(str(tmp_path), {"kong.dump": b"x", "manifest.json": b"{}"})
    assert list(pg_backup.collect_files(str(tmp_path))) == ["kong.dump"]


def test_verify_checksums_accepts_intact_and_reports_each_kind_of_damage(tmp_path):
    root = str(tmp_path)
    make_backup(root, {"dump/toc.dat": b"toc", "dump/1.dat.gz": b"abcdef", "dump/2.dat.gz": b"zz"})
    m = manifest_for(root)
    assert pg_backup.verify_checksums(root, m) == []
    # same size, different bytes
    with open(os.path.join(root, "dump/1.dat.gz"), "wb") as f:
        f.write(b"abcdeX")
    # truncated, missing and unexpected files
    with open(os.path.join(root, "dump/toc.dat"), "wb") as f:
        f.write(b"to")
    os.unlink(os.path.join(root, "dump/2.dat.gz"))
    make_backup(root, {"dump/9.dat.gz": b"new"})
    problems = pg_backup.verify_checksums(root, m)
    assert any(p.startswith("dump/1.dat.gz: sha256") for p in problems)
    assert any(p.startswith("dump/toc.dat: size 2") for p in problems)
    assert "dump/2.dat.gz: missing" in problems
    assert "dump/9.dat.gz: not in the manifest" in problems


def test_verify_checksums_refuses_an_empty_file_list(tmp_path):
    assert pg_backup.verify_checksums(str(tmp_path), {"files": {}}) == ["the manifest lists no files"]


def test_select_for_removal_keeps_the_newest():
    backups = [dict(name="kong-%d" % i, started_at="2026-11-2%dT00:00:00.000000Z" % i) for i in (3, 1, 5, 2, 4)]
    removed = pg_backup.select_for_removal(backups, 2)
    assert sorted(b["name"] for b in removed) == ["kong-1", "kong-2", "kong-3"]
    assert pg_backup.select_for_removal(backups, 0) == []
    assert pg_backup.select_for_removal(backups, None) == []
    assert pg_backup.select_for_removal(backups, 10) == []


def test_find_backups_only_counts_complete_backups_of_the_label(tmp_path):
    dest = str(tmp_path)
    for name, label in (("kong-a", "kong"), ("other-b", "other"), ("kong-c", "kong")):
        os.mkdir(os.path.join(dest, name))
        pg_backup.write_json_private(os.path.join(dest, name, "manifest.json"),
                                     dict(tool=pg_backup.TOOL, files={}, label=label, name=name, started_at=name))
    os.mkdir(os.path.join(dest, ".kong-d.partial"))
    os.mkdir(os.path.join(dest, "unrelated"))
    found = pg_backup.find_backups(dest, "kong")
    assert [b["name"] for b in found] == ["kong-a", "kong-c"]


def test_write_json_private_is_0600(tmp_path):
    path = str(tmp_path / "m.json")
    pg_backup.write_json_private(path, {"a": 1})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_secure_tree(tmp_path):
    make_backup(str(tmp_path), {"d/e/f": b"1"})
    os.chmod(str(tmp_path / "d/e/f"), 0o644)
    os.chmod(str(tmp_path / "d"), 0o755)
    pg_backup.secure_tree(str(tmp_path))
    assert stat.S_IMODE(os.stat(str(tmp_path / "d")).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(str(tmp_path / "d/e/f")).st_mode) == 0o600


def test_compare_state():
    m = {"tables": {"public.services": {"rows": 3, "checksum": "aa"}, "public.routes": {"rows": 5, "checksum": None}},
         "kong": {"schema_meta": META}}
    assert pg_backup.compare_state(m, {"public.services": 3, "public.routes": 5}, META, {"public.services": "aa"}) == []
    diffs = pg_backup.compare_state(m, {"public.services": 4, "public.new": 1}, [], {"public.services": "bb"})
    assert "table public.routes is missing" in diffs
    assert "table public.new is not in the backup (1 rows)" in diffs
    assert any("public.services has 4 rows" in d for d in diffs)
    assert any("content checksum bb" in d for d in diffs)
    assert any(d.startswith("schema_meta differs") for d in diffs)


def test_compare_state_schema_meta_pending_order_and_null():
    m = {"tables": {}, "kong": {"schema_meta": [dict(key="schema_meta", subsystem="core", last_executed="x", executed=["a"], pending=None)]}}
    assert pg_backup.compare_state(m, {}, [dict(key="schema_meta", subsystem="core", last_executed="x", executed=["a"], pending=[])]) == []
    assert pg_backup.compare_state(m, {}, None) != []


def test_pg_dump_argv_has_no_secret_and_honours_options():
    argv = pg_backup.build_pg_dump_argv("/usr/bin/pg_dump", "directory", "/b/dump", "kong", jobs=2, compression="6", snapshot="0003-1")
    assert argv == ["/usr/bin/pg_dump", "--no-password", "--format=d", "--file=/b/dump", "--jobs=2", "--compress=6",
                    "--snapshot=0003-1", "--dbname=kong"]
    assert "--jobs=2" not in pg_backup.build_pg_dump_argv("pg_dump", "custom", "/b/k.dump", "kong", jobs=2)
    assert "--clean" in pg_backup.build_pg_dump_argv("pg_dump", "plain", "/b/k.sql", "kong")
    with pytest.raises(BackupError):
        pg_backup.build_pg_dump_argv("pg_dump", "custom", "/b/k.dump", "host=evil password=x")


@pytest.mark.parametrize("comp,suffix", [(None, ""), ("0", ""), ("6", ".gz"), ("gzip:4", ".gz"), ("zstd:3", ".zst"), ("lz4", ".lz4"),
                                         ("none", "")])
def test_compression_suffix(comp, suffix):
    assert pg_backup.compression_suffix(comp) == suffix
    assert pg_backup.dump_relpath("plain", comp) == "kong.sql" + suffix


def test_backup_name_and_label():
    when = datetime.datetime(2026, 11, 27, 6, 35, 0, tzinfo=UTC)
    assert pg_backup.backup_name("pre-3.4", when) == "pre-3.4-20261127T063500Z"
    for bad in ("", "../x", "a/b", ".hidden", "x" * 101):
        with pytest.raises(BackupError):
            pg_backup.check_label(bad)


def test_list_table_data():
    listing = (";\n; Archive created at 2026-11-27\n;\n"
               "215; 1259 16390 TABLE public services kong\n"
               "3365; 0 16390 TABLE DATA public services kong\n"
               "3366; 0 16400 TABLE DATA public routes kong\n")
    assert pg_backup.list_table_data(listing) == {"public.services", "public.routes"}


def test_plain_dump_complete(tmp_path):
    good = b"SET x;\n--\n-- PostgreSQL database dump complete\n--\n"
    (tmp_path / "a.sql").write_bytes(b"x" * 10000 + good)
    (tmp_path / "b.sql").write_bytes(b"x" * 10000)
    with gzip.open(str(tmp_path / "c.sql.gz"), "wb") as f:
        f.write(b"y" * 100000 + good)
    assert pg_backup.plain_dump_complete(str(tmp_path / "a.sql"))
    assert not pg_backup.plain_dump_complete(str(tmp_path / "b.sql"))
    assert pg_backup.plain_dump_complete(str(tmp_path / "c.sql.gz"))


def test_check_tool_refuses_an_older_pg_dump_clearly():
    pg_backup.check_tool("pg_dump", "/usr/bin/pg_dump", (15, 18), (15, 2))
    with pytest.raises(BackupError) as exc:
        pg_backup.check_tool("pg_dump", "/usr/lib/postgresql/14/bin/pg_dump", (14, 9), (15, 4))
    assert "older than the PostgreSQL server 15.4" in exc.value.msg and "PostgreSQL 15 client" in exc.value.msg


def test_tool_version_uses_the_runner():
    assert pg_backup.tool_version(lambda argv, env: (0, "pg_dump (PostgreSQL) 16.2\n", ""), "pg_dump") == (16, 2)
    with pytest.raises(BackupError):
        pg_backup.tool_version(lambda argv, env: (127, "", "not found"), "pg_dump")


def test_restore_argv():
    argv = pg_backup.restore_argv("pg_restore", "/b/dump", "kong", jobs=1, clean=True, single_transaction=True)
    assert argv == ["pg_restore", "--no-password", "--exit-on-error", "--dbname=kong", "--clean", "--if-exists",
                    "--single-transaction", "/b/dump"]
    argv = pg_backup.restore_argv("pg_restore", "/b/dump", "kong", jobs=3, no_owner=True, single_transaction=True)
    assert "--jobs=3" in argv and "--single-transaction" not in argv and "--no-owner" in argv


def test_plan_restore():
    m = {"format": "directory"}
    assert pg_restore.plan_restore(m, "kong", exists=False, create=True, clean=True) == "create"
    assert pg_restore.plan_restore(m, "kong", exists=True, create=True, clean=True) == "drop and recreate"
    assert pg_restore.plan_restore(m, "kong", exists=True, create=False, clean=True) == "clean and restore into"
    with pytest.raises(BackupError):
        pg_restore.plan_restore(m, "kong", exists=True, create=True, clean=False)
    with pytest.raises(BackupError):
        pg_restore.plan_restore(m, "kong", exists=False, create=False, clean=True)


def test_resolve_backup_dir(tmp_path):
    (tmp_path / "manifest.json").write_text("{}")
    assert pg_restore.resolve_backup_dir(str(tmp_path / "manifest.json")) == str(tmp_path)
    assert pg_restore.resolve_backup_dir(str(tmp_path)) == str(tmp_path)


def test_read_manifest_rejects_foreign_json(tmp_path):
    (tmp_path / "manifest.json").write_text('{"hello": 1}')
    with pytest.raises(BackupError):
        pg_backup.read_manifest(str(tmp_path))
    (tmp_path / "manifest.json").write_text('{not json')
    with pytest.raises(BackupError):
        pg_backup.read_manifest(str(tmp_path))
