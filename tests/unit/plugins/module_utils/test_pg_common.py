"""Unit tests of plugins/module_utils/pg_common.py (pure functions, no database)."""

import os
import stat

import pytest

from ansible_collections.kongops.upgrade.plugins.module_utils import pg_common

PARAMS = dict(login_host="db.internal", login_port=6543, login_user="kong", login_password="s3cr:et\\pw",
              login_db="kong", ssl_mode="require", passfile=None)


def test_argument_spec_marks_password_no_log_and_is_a_fresh_copy():
    spec = pg_common.pg_argument_spec()
    assert spec["login_password"]["no_log"] is True
    assert set(spec) == {"login_host", "login_port", "login_user", "login_password", "login_db", "ssl_mode", "passfile"}
    spec["login_host"]["default"] = "changed"
    assert pg_common.pg_argument_spec()["login_host"]["default"] == "localhost"


def test_env_never_holds_the_password():
    env = pg_common.build_libpq_env(PARAMS, "/tmp/x/pgpass")
    assert env["PGHOST"] == "db.internal" and env["PGPORT"] == "6543" and env["PGSSLMODE"] == "require"
    assert env["PGPASSFILE"] == "/tmp/x/pgpass"
    assert "PGPASSWORD" not in env
    assert all(PARAMS["login_password"] not in v for v in env.values())


def test_env_uses_the_users_passfile_without_password():
    env = pg_common.build_libpq_env(dict(PARAMS, login_password=None, passfile="/root/.pgpass"))
    assert env["PGPASSFILE"] == "/root/.pgpass"
    env = pg_common.build_libpq_env(dict(PARAMS, login_password=None), dbname="other")
    assert "PGPASSFILE" not in env and env["PGDATABASE"] == "other"


def test_passfile_line_escapes_colons_and_backslashes():
    assert pg_common.passfile_line("kong", "a:b\\c") == "*:*:*:kong:a\\:b\\\\c\n"
    with pytest.raises(ValueError):
        pg_common.passfile_line("kong", "two\nlines")


def test_libpq_env_writes_a_private_passfile_and_removes_it(tmp_path):
    with pg_common.libpq_env(PARAMS, tmpdir=str(tmp_path)) as env:
        path = env["PGPASSFILE"]
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
        with open(path) as f:
            assert f.read() == pg_common.passfile_line("kong", PARAMS["login_password"])
    assert not os.path.exists(path)
    assert os.listdir(str(tmp_path)) == []


def test_libpq_env_removes_the_passfile_on_error(tmp_path):
    with pytest.raises(RuntimeError):
        with pg_common.libpq_env(PARAMS, tmpdir=str(tmp_path)):
            raise RuntimeError("child failed")
    assert os.listdir(str(tmp_path)) == []


@pytest.mark.parametrize("text,expected", [
    ("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)", (15, 18)),
    ("pg_restore (PostgreSQL) 9.6.24", (9, 6, 24)),
    ("pg_dump (PostgreSQL) 17devel", (17,)),
])
def test_parse_tool_version(text, expected):
    assert pg_common.parse_tool_version(text) == expected


def test_parse_tool_version_rejects_garbage():
    with pytest.raises(ValueError):
        pg_common.parse_tool_version("bash: pg_dump: not found")


@pytest.mark.parametrize("num,expected", [(150018, (15, 18)), ("160002", (16, 2)), (90624, (9, 6, 24)), (100000, (10, 0))])
def test_version_from_num(num, expected):
    assert pg_common.version_from_num(num) == expected


@pytest.mark.parametrize("tool,server,ok", [
    ((15, 18), (15, 2), True),       # same major, older minor: fine
    ((16, 1), (15, 18), True),       # newer client
    ((14, 9), (15, 0), False),       # older major
    ((9, 6, 24), (10, 1), False),
    ((9, 6, 1), (9, 5, 20), True),
    ((9, 5, 9), (9, 6, 0), False),   # before 10 the major is two parts
])
def test_tool_can_handle_server(tool, server, ok):
    assert pg_common.tool_can_handle_server(tool, server) is ok


@pytest.mark.parametrize("last,hint", [("015_270_to_280", "2.8"), ("020_330_to_340", "3.4"), ("024_380_to_390", "3.9"),
                                       ("000_base", "<1.0"), ("weird", None)])
def test_schema_release_hint(last, hint):
    meta = [dict(subsystem="acl", last_executed="004_212_to_213"), dict(subsystem="core", last_executed=last)]
    assert pg_common.schema_release_hint(meta) == hint


def test_schema_release_hint_without_schema_meta():
    assert pg_common.schema_release_hint(None) is None


def test_describe_sessions_names_who():
    text = pg_common.describe_sessions([dict(pid=42, user="kong", client_addr="127.0.0.5", application_name="kong", state="idle")])
    assert "pid 42" in text and "127.0.0.5" in text and "'kong'" in text
