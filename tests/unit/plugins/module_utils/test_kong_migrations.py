# -*- coding: utf-8 -*-
"""The kong_migrations state machine, driven against a small fake of the kong CLI (contract.md section 1)."""

import json

import pytest

from ansible_collections.kongops.upgrade.plugins.module_utils.kong_cli import KongCli
from ansible_collections.kongops.upgrade.plugins.module_utils.kong_migrations import (
    MigrationsFailed,
    PlanError,
    converge,
    plan,
)

# (subsystem, name, has_postgres_teardown)
R28 = [("core", "000_base", False), ("core", "009_200_to_210", True), ("core", "015_270_to_280", False),
       ("http-log", "000_base_http_log", False)]
R34 = R28 + [("core", "016_280_to_300", True), ("core", "020_330_to_340", False), ("http-log", "001_280_to_300", True)]


class FakeKong:
    """Just enough of `kong migrations` for the state machine: one shared 'database' dict."""

    def __init__(self, db, version, migrations, lock_aborts=0, fail=None):
        self.db = db
        self.version = version
        self.migrations = migrations
        self.lock_aborts = lock_aborts
        self.fail = fail
        self.calls = []

    def state(self):
        if self.db.get("meta") is None:
            return None
        st = {"executed": {}, "pending": {}, "new": {}}
        for sub, name, _unused in self.migrations:
            row = self.db["meta"].get(sub, {"executed": [], "pending": []})
            kind = "executed" if name in row["executed"] else "pending" if name in row["pending"] else "new"
            st[kind].setdefault(sub, []).append(name)
        return st

    def __call__(self, argv, environ_update=None):
        self.calls.append((list(argv), dict(environ_update or {})))
        cmd = argv[1:3]
        if cmd == ["version"]:
            return 0, self.version + "\n", ""
        sub = cmd[1]
        st = self.state()
        if sub == "status":
            if st is None:
                return 0, json.dumps({"needs_bootstrap": True, "new_migrations": [{"subsystem": "core", "namespace": "x", "migrations": ["000_base"]}]}), ""
            doc = {"needs_bootstrap": False}
            for kind in ("executed", "pending", "new"):
                if st[kind]:
                    doc[kind + "_migrations"] = [{"subsystem": s, "namespace": "x", "migrations": n} for s, n in st[kind].items()]
            return 0, json.dumps(doc), ""
        if sub == "list":
            if st is None:
                return 3, "Database needs bootstrapping or is older than Kong 1.0.\n", ""
            out = ""
            for kind, title in (("executed", "Executed migrations:"), ("pending", "Pending migrations:"), ("new", "New migrations available:")):
                if st[kind]:
                    width = max(len(s) for s in st[kind])
                    out += title + "\n" + "".join("%*s: %s\n" % (width, s, ", ".join(n)) for s, n in st[kind].items()) + "\n"
            return (4 if st["pending"] else 5 if st["new"] else 0), out, ""
        if sub in ("up", "finish", "bootstrap") and self.lock_aborts:
            self.lock_aborts -= 1
            return 0, "aborted: another node is performing database changes\n", ""
        if sub == "bootstrap":
            if st is not None:
                return 0, "Database already bootstrapped\n", ""
            self.db["meta"] = {}
            for s, n, _unused in self.migrations:
                self.db["meta"].setdefault(s, {"executed": [], "pending": []})["executed"].append(n)
            return 0, "Bootstrapping database...\nDatabase is up-to-date\n", ""
        if sub == "up":
            if st["pending"] and "--force" not in argv:
                return 1, "", "Error: Database has pending migrations; run 'kong migrations finish'\n"
            out = ""
            for s, n, td in self.migrations:
                if n in st["new"].get(s, []):
                    if n == self.fail:
                        return 1, out, "Error: [PostgreSQL error] cluster_mutex callback threw an error: boom\n"
                    row = self.db["meta"].setdefault(s, {"executed": [], "pending": []})
                    row["pending" if td else "executed"].append(n)
                    out += "%s migrated up to: %s (%s)\n" % (s, n, "pending" if td else "executed")
            return 0, out or "Database is already up-to-date\n", ""
        if sub == "finish":
            for s, names in st["pending"].items():
                row = self.db["meta"][s]
                for n in names:
                    row["pending"].remove(n)
                    row["executed"].append(n)
            return 0, "No pending migrations to finish\n", ""
        if sub == "reset":
            if st is None:
                return 1, "Database not bootstrapped, nothing to reset\n", ""
            self.db["meta"] = None
            return 0, "Resetting database...\nDatabase successfully reset\n", ""
        raise AssertionError(argv)


def make(db, version, migrations, **kw):
    fake = FakeKong(db, version, migrations, **kw)
    return fake, KongCli(fake, "/opt/kong/bin/kong", environment={"KONG_PG_PASSWORD": "pw-xyz"})


def boot28():
    db = {"meta": None}
    fake, cli = make(db, "2.8.4", R28)
    fake("kong migrations bootstrap".split())
    return db


def changing(fake):
    return [c[0][2] for c in fake.calls if c[0][1] == "migrations" and c[0][2] not in ("status", "list")]


def test_bootstrap_check_then_real_then_idempotent():
    db = {"meta": None}
    fake, cli = make(db, "3.4.2", R34)
    r = converge(cli, "bootstrapped", check_mode=True)
    assert r["changed"] and r["planned"] == ["bootstrap"] and db["meta"] is None
    fake, cli = make(db, "3.4.2", R34)
    r = converge(cli, "bootstrapped")
    assert r["changed"] and r["after"]["needs_bootstrap"] is False and changing(fake) == ["bootstrap"]
    fake, cli = make(db, "3.4.2", R34)
    r = converge(cli, "bootstrapped")
    assert not r["changed"] and changing(fake) == []


def test_upgrade_28_to_34_up_then_finish():
    db = boot28()
    fake, cli = make(db, "3.4.2", R34)
    r = converge(cli, "up", check_mode=True)
    assert r["changed"] and r["migrations_to_run"] == {"up": {"core": ["016_280_to_300", "020_330_to_340"], "http-log": ["001_280_to_300"]}}
    assert changing(fake) == []
    assert "up (executed, or pending until finish):\n  core: 016_280_to_300, 020_330_to_340" in r["diff"]["after"]
    fake, cli = make(db, "3.4.2", R34)
    r = converge(cli, "up")
    assert r["changed"] and r["after"]["pending"] == {"core": ["016_280_to_300"], "http-log": ["001_280_to_300"]}
    assert r["after"]["new"] == {}
    assert r["changes"]["new"]["removed"]["core"] == ["016_280_to_300", "020_330_to_340"]
    fake, cli = make(db, "3.4.2", R34)
    assert not converge(cli, "up")["changed"] and changing(fake) == []
    fake, cli = make(db, "3.4.2", R34)
    r = converge(cli, "finished", check_mode=True)
    assert r["changed"] and r["migrations_to_run"] == {"finish": {"core": ["016_280_to_300"], "http-log": ["001_280_to_300"]}}
    assert "pending:\n" in r["diff"]["after"] and "016_280_to_300" not in r["diff"]["after"].split("pending:")[1].split("new:")[0]
    fake, cli = make(db, "3.4.2", R34)
    r = converge(cli, "finished")
    assert r["changed"] and r["after"]["pending"] == {} and changing(fake) == ["finish"]
    fake, cli = make(db, "3.4.2", R34)
    assert not converge(cli, "finished")["changed"]


def test_finished_with_new_requires_run_up():
    db = boot28()
    fake, cli = make(db, "3.4.2", R34)
    with pytest.raises(PlanError) as e:
        converge(cli, "finished")
    assert "run_up" in str(e.value) and e.value.before["new"]
    fake, cli = make(db, "3.4.2", R34)
    r = converge(cli, "finished", run_up=True)
    assert changing(fake) == ["up", "finish"] and r["after"]["pending"] == {} and r["after"]["new"] == {}


def test_pending_from_previous_upgrade():
    db = boot28()
    db["meta"]["core"]["executed"].remove("009_200_to_210")
    db["meta"]["core"]["pending"].append("009_200_to_210")
    fake, cli = make(db, "3.4.2", R34)
    with pytest.raises(PlanError) as e:
        converge(cli, "up")
    assert "previous upgrade" in str(e.value) and "009_200_to_210" in str(e.value)
    assert changing(fake) == []
    fake, cli = make(db, "3.4.2", R34)
    r = converge(cli, "up", finish_pending=True, check_mode=True)
    assert r["planned"] == ["finish", "up"] and r["migrations_to_run"]["finish"] == {"core": ["009_200_to_210"]}
    fake, cli = make(db, "3.4.2", R34)
    r = converge(cli, "up", finish_pending=True)
    assert changing(fake) == ["finish", "up"]
    assert "009_200_to_210" in r["after"]["executed"]["core"] and r["after"]["pending"]["core"] == ["016_280_to_300"]


def test_lock_held_then_released_other_node_did_the_work():
    db = boot28()
    sleeps = []
    fake, cli = make(db, "3.4.2", R34, lock_aborts=2)
    r = converge(cli, "up", sleep=sleeps.append)
    assert len(sleeps) == 2 and r["after"]["new"] == {}


def test_lock_held_too_long_fails_clearly():
    db = boot28()
    now = [0.0]

    def sleep(s):
        now[0] += s

    fake, cli = make(db, "3.4.2", R34, lock_aborts=1000)
    with pytest.raises(MigrationsFailed) as e:
        converge(cli, "finished", run_up=True, lock_timeout=10, sleep=sleep, clock=lambda: now[0])
    assert "lock" in e.value.message and "lock_timeout=10" in e.value.message
    assert 10 <= now[0] < 20


def test_lock_no_wait():
    db = boot28()
    fake, cli = make(db, "3.4.2", R34, lock_aborts=1)
    with pytest.raises(MigrationsFailed) as e:
        converge(cli, "up", wait_for_lock=False, sleep=lambda s: None)
    assert "wait_for_lock=false" in e.value.message


def test_failing_migration_reports_partial_state():
    db = boot28()
    fake, cli = make(db, "3.4.2", R34, fail="020_330_to_340")
    with pytest.raises(MigrationsFailed) as e:
        converge(cli, "up")
    res = e.value.result
    assert "boom" in e.value.message
    assert res["after"]["pending"]["core"] == ["016_280_to_300"]
    assert res["after"]["new"]["core"] == ["020_330_to_340"]
    assert res["changed"] is True
    assert res["runs"][-1]["ran"]["core"][0]["name"] == "016_280_to_300"


def test_reset_needs_confirmation_and_is_idempotent():
    db = boot28()
    fake, cli = make(db, "2.8.4", R28)
    with pytest.raises(PlanError):
        converge(cli, "reset")
    fake, cli = make(db, "2.8.4", R28)
    r = converge(cli, "reset", confirm_reset=True)
    assert r["changed"] and db["meta"] is None
    assert any("--yes" in c for c in r["commands"])
    fake, cli = make(db, "2.8.4", R28)
    r = converge(cli, "reset", confirm_reset=True)
    assert not r["changed"] and r["before"]["needs_bootstrap"] is True


def test_list_based_state_on_2x():
    db = boot28()
    db["meta"]["core"]["executed"].remove("009_200_to_210")
    db["meta"]["core"]["pending"].append("009_200_to_210")
    fake, cli = make(db, "2.8.4", R28)
    r = converge(cli, "finished")
    assert [c[0][2] for c in fake.calls if len(c[0]) > 2][0] == "list"
    assert r["before"]["pending"] == {"core": ["009_200_to_210"]} and r["after"]["pending"] == {}
    assert r["changed"]


def test_up_on_empty_database_refused():
    with pytest.raises(PlanError) as e:
        plan("up", {"needs_bootstrap": True, "pending": {}, "new": {}})
    assert "not bootstrapped" in str(e.value)


def test_status_is_read_only_and_secret_not_in_commands():
    db = boot28()
    fake, cli = make(db, "3.4.2", R34)
    r = converge(cli, "status")
    assert not r["changed"] and changing(fake) == []
    assert "pw-xyz" not in json.dumps(r)
    assert all(c[1]["KONG_PG_PASSWORD"] == "pw-xyz" for c in fake.calls)
