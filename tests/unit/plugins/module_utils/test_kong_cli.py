# -*- coding: utf-8 -*-
"""Parsing of kong CLI output, with the exact texts of contract.md sections 1 and 5."""

import json

import pytest

from ansible_collections.kongops.upgrade.plugins.module_utils import kong_cli
from ansible_collections.kongops.upgrade.plugins.module_utils.kong_cli import KongCli, KongCliError

NEEDS_BOOTSTRAP_MSG = (
    "Database needs bootstrapping or is older than Kong 1.0.\n\n"
    "To start a new installation from scratch, run 'kong migrations bootstrap'.\n\n"
    "To migrate from a version older than 1.0, migrated to Kong 1.5.0 first. \n"
    "If you still have 'apis' entities, you can convert them to Routes and Services\n"
    "using the 'kong migrations migrate-apis' command in Kong 1.5.0.\n"
)
HINT = "\n  Run with --v (verbose) or --vv (debug) for more details\n"


def test_spec_example_new():
    # The example of spec/02-integration/02-cmd/10-migrations_spec.lua quoted in contract.md.
    out = ("Executed migrations:\ncore: 000_base\n\nNew migrations available:\n"
           "with-migrations: 000_base_with_migrations, 001_14_to_15\n\nRun 'kong migrations up' to proceed\n")
    st = kong_cli.parse_migrations_list(5, out, "")
    assert st["needs_bootstrap"] is False
    assert st["executed"] == {"core": ["000_base"]}
    assert st["new"] == {"with-migrations": ["000_base_with_migrations", "001_14_to_15"]}
    assert st["pending"] == {}


def test_right_aligned_subsystems_and_pending():
    out = ("Executed migrations:\n"
           "     core: 000_base, 003_100_to_110, 015_270_to_280\n"
           "      acl: 000_base_acl\n"
           " http-log: \n"
           "\nPending migrations:\n"
           "     core: 016_280_to_300\n"
           " http-log: 001_280_to_300\n"
           "\nRun 'kong migrations finish' when ready\n")
    st = kong_cli.parse_migrations_list(4, out, "")
    assert st["executed"]["core"] == ["000_base", "003_100_to_110", "015_270_to_280"]
    assert st["executed"]["acl"] == ["000_base_acl"]
    assert st["pending"] == {"core": ["016_280_to_300"], "http-log": ["001_280_to_300"]}
    assert st["new"] == {}


def test_pending_and_new_rc4_with_warning():
    out = ("Executed migrations:\ncore: 000_base\n\nPending migrations:\ncore: 009_200_to_210\n\n"
           "New migrations available:\ncore: 016_280_to_300\n\n"
           "Run 'kong migrations finish' when ready to complete pending migrations "
           "(postgres database will be incompatible with the previous Kong version)\n")
    err = ("2024/01/02 03:04:05 [warn] Database has pending migrations from a previous upgrade, "
           "and new migrations from this upgrade (version 3.4.2)\n")
    st = kong_cli.parse_migrations_list(4, out, err)
    assert st["pending"] == {"core": ["009_200_to_210"]}
    assert st["new"] == {"core": ["016_280_to_300"]}


def test_up_to_date_rc0():
    st = kong_cli.parse_migrations_list(0, "Executed migrations:\ncore: 000_base, 001_14_to_15\n", "")
    assert st["executed"] == {"core": ["000_base", "001_14_to_15"]}
    assert not st["pending"] and not st["new"]


def test_needs_bootstrap_rc3():
    st = kong_cli.parse_migrations_list(3, NEEDS_BOOTSTRAP_MSG, "")
    assert st["needs_bootstrap"] is True
    assert st["new_unknown"] is True


def test_db_error_rc1_raises_kong_message():
    err = "Error: [PostgreSQL error] failed to retrieve PostgreSQL server_version_num: connection refused" + HINT
    with pytest.raises(KongCliError) as e:
        kong_cli.parse_migrations_list(1, "", err)
    assert e.value.message == "[PostgreSQL error] failed to retrieve PostgreSQL server_version_num: connection refused"
    assert e.value.rc == 1


def test_rc_text_mismatch_detected():
    with pytest.raises(KongCliError):
        kong_cli.parse_migrations_list(4, "Executed migrations:\ncore: 000_base\n", "")
    with pytest.raises(KongCliError):
        kong_cli.parse_migrations_list(5, "Executed migrations:\ncore: 000_base\n", "")


def test_status_json():
    doc = {"needs_bootstrap": False,
           "executed_migrations": [{"subsystem": "core", "namespace": "kong.db.migrations.core", "migrations": ["000_base", "015_270_to_280"]}],
           "pending_migrations": [{"subsystem": "http-log", "namespace": "kong.plugins.http-log.migrations", "migrations": ["001_280_to_300"]}],
           "new_migrations": [{"subsystem": "core", "namespace": "kong.db.migrations.core", "migrations": ["017_300_to_310"]}]}
    st = kong_cli.parse_migrations_status(0, json.dumps(doc) + "\n", "")
    assert st["executed"] == {"core": ["000_base", "015_270_to_280"]}
    assert st["pending"] == {"http-log": ["001_280_to_300"]}
    assert st["new"] == {"core": ["017_300_to_310"]}
    assert st["missing"] == {}


def test_status_not_bootstrapped():
    doc = {"needs_bootstrap": True, "new_migrations": [{"subsystem": "core", "namespace": "x", "migrations": ["000_base"]}]}
    st = kong_cli.parse_migrations_status(0, json.dumps(doc), "")
    assert st["needs_bootstrap"] is True and st["new"] == {"core": ["000_base"]}


def test_status_error():
    with pytest.raises(KongCliError) as e:
        kong_cli.parse_migrations_status(1, "", "Error: [PostgreSQL error] timeout" + HINT)
    assert "timeout" in e.value.message


@pytest.mark.parametrize("text,version,edition,build", [
    ("3.4.0\n", "3.4.0", "oss", None),
    ("Kong Enterprise 3.9.0.0\n", "3.9.0.0", "enterprise", 0),
    ("Kong: 3.4.0\nngx_lua: 10025\nnginx: 1021004\nLua: LuaJIT 2.1.0-20220411\n", "3.4.0", "oss", None),
    ("3.4.3.3\n", "3.4.3.3", "enterprise", 3),
    ("2.8.4\n", "2.8.4", "oss", None),
])
def test_parse_version(text, version, edition, build):
    v = kong_cli.parse_version(text)
    assert v["version"] == version and v["edition"] == edition and v["build"] == build


def test_parse_version_garbage():
    with pytest.raises(ValueError):
        kong_cli.parse_version("command not found")


def test_run_output():
    out = ("migrating core on database 'kong'...\ncore migrated up to: 016_280_to_300 (pending)\n"
           "migrating http-log on database 'kong'...\nhttp-log migrated up to: 001_280_to_300 (pending)\n"
           "core migrated up to: 017_300_to_310 (executed)\n"
           "3 migrations processed\n1 executed\n2 pending\n\nDatabase has pending migrations; run 'kong migrations finish' when ready\n")
    r = kong_cli.parse_run_output(out)
    assert r["ran"]["core"] == [{"name": "016_280_to_300", "result": "pending"}, {"name": "017_300_to_310", "result": "executed"}]
    assert not r["lock_aborted"]
    assert kong_cli.parse_run_output("aborted: another node is performing database changes\n")["lock_aborted"]


def test_error_message_strips_hint():
    assert kong_cli.kong_error_message("Error: Database has pending migrations; run 'kong migrations finish'" + HINT) == \
        "Database has pending migrations; run 'kong migrations finish'"
    assert kong_cli.kong_error_message("all good") is None


class Recorder:
    def __init__(self, responses):
        self.responses = responses
        self.calls = []

    def __call__(self, argv, environ_update=None):
        self.calls.append((list(argv), dict(environ_update or {})))
        key = " ".join(argv[1:3])
        return self.responses[key]


def test_cli_passes_secret_only_in_env_and_uses_status_on_3x():
    rec = Recorder({"version": (0, "3.4.2\n", ""), "migrations status": (0, '{"needs_bootstrap":false}', "")})
    cli = KongCli(rec, "/k/bin/kong", conf="/etc/kong/kong.conf", prefix="/p", environment={"KONG_PG_PASSWORD": "s3cret"})
    st = cli.migrations_state()
    assert st["source"] == "status"
    argv, env = rec.calls[-1]
    assert argv == ["/k/bin/kong", "migrations", "status", "-c", "/etc/kong/kong.conf", "-p", "/p"]
    assert env["KONG_PG_PASSWORD"] == "s3cret"
    assert all("s3cret" not in a for call in rec.calls for a in call[0])
    assert all("s3cret" not in a for c in cli.commands for a in c)


def test_cli_uses_list_before_3_and_kong_prefix_before_2_4():
    rec = Recorder({"version": (0, "2.3.3\n", ""), "migrations list": (0, "Executed migrations:\ncore: 000_base\n", "")})
    cli = KongCli(rec, "kong", prefix="/p")
    st = cli.migrations_state()
    assert st["source"] == "list"
    argv, env = rec.calls[-1]
    assert "-p" not in argv and env["KONG_PREFIX"] == "/p"


def test_migrations_options():
    rec = Recorder({"version": (0, "3.4.2\n", ""), "migrations up": (0, "", "")})
    cli = KongCli(rec, "kong")
    cli.version()
    cli.migrations("up", db_timeout=300, lock_timeout=30, force=True)
    assert rec.calls[-1][0] == ["kong", "migrations", "up", "--force", "--db-timeout", "300", "--lock-timeout", "30"]
