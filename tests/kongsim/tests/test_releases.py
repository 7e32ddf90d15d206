"""The release data table against contract.md sections 1, 3, 6, 7, 8, 9, 10."""

import pytest

from kongsim import releases


def total(version):
    return sum(len(v) for v in releases.get(version).migrations.values())


@pytest.mark.parametrize("version,expected", [("2.8.0", 43), ("3.0.0", 48), ("3.4.0", 58), ("3.9.0", 67)])
def test_bootstrap_totals_match_contract(version, expected):
    # contract.md section 1: "Totals with bundled plugins"
    assert total(version) == expected


def test_patch_releases_add_no_migrations_except_361():
    assert releases.get("2.8.4").migrations == releases.get("2.8.0").migrations
    assert releases.get("3.4.2").migrations == releases.get("3.4.0").migrations
    assert total("3.6.1") == total("3.6.0") + 1
    assert "001_331_to_332" in releases.get("3.6.1").migrations["opentelemetry"]
    assert "opentelemetry" not in releases.get("3.6.0").migrations


def test_core_migration_added_per_minor():
    core = releases.get("3.4.2").migrations["core"]
    assert core[0] == "000_base" and core[-1] == "020_330_to_340"
    assert "016_280_to_300" in core
    assert "016_280_to_300" not in releases.get("2.8.4").migrations["core"]
    assert releases.get("2.8.4").migrations["core"][-1] == "015_270_to_280"
    # 2.4, 2.5 and 3.8 add nothing
    assert releases.get("2.5.1").migrations == releases.get("2.4.1").migrations == releases.get("2.3.3").migrations
    assert releases.get("3.8.0").migrations == releases.get("3.7.1").migrations


def test_teardowns_postgres():
    r = releases.get("3.9.1")
    for name in ("005_120_to_130", "008_150_to_200", "009_200_to_210", "012_213_to_220", "016_280_to_300"):
        assert r.has_teardown("core", name)
    for name in ("007_140_to_150", "010_210_to_211", "013_220_to_230", "017_300_to_310", "024_380_to_390"):
        assert not r.has_teardown("core", name)   # none, or Cassandra-only
    assert r.has_teardown("http-log", "001_280_to_300")
    assert not r.has_teardown("oauth2", "005_210_to_211")   # Cassandra-only teardown
    assert r.has_teardown("ai-proxy", "001_360_to_370")


def test_upgrade_28_to_34_new_migrations_with_teardown():
    old, new = releases.get("2.8.4"), releases.get("3.4.2")
    pending = [(s, n) for s, names in new.migrations.items() for n in names
               if n not in old.migrations.get(s, []) and new.has_teardown(s, n)]
    assert pending == [("core", "016_280_to_300"), ("http-log", "001_280_to_300")]


def test_migrations_for_orders_core_then_plugins_alphabetically_and_filters():
    r = releases.get("3.4.2")
    subs = list(r.migrations_for(None))
    assert subs[0] == "core" and subs[1:] == sorted(subs[1:])
    assert list(r.migrations_for(["key-auth"])) == ["core", "key-auth"]
    assert list(r.migrations_for([])) == ["core"]


@pytest.mark.parametrize("version,status,prefix,dbt,status_listen,ready", [
    ("2.3.3", False, False, 60, "off", False),
    ("2.8.4", False, True, 60, "off", False),
    ("3.0.2", True, True, 60, "off", False),
    ("3.3.1", True, True, 60, "off", True),
    ("3.6.1", True, True, 60, "127.0.0.1:8007", True),
    ("3.7.1", True, True, None, "127.0.0.1:8007", True),
])
def test_cli_flags(version, status, prefix, dbt, status_listen, ready):
    r = releases.get(version)
    assert r.has_status_subcommand is status
    assert r.has_prefix_option is prefix
    assert r.db_timeout_default == dbt
    assert r.status_listen_default == status_listen
    assert r.has_ready_endpoint is ready


def test_declarative_formats_and_cassandra():
    assert releases.get("2.8.4").format_versions == ("1.1", "2.1")
    assert releases.get("3.4.2").format_versions == ("1.1", "2.1", "3.0")
    assert releases.get("2.8.4").export_format_version == "2.1"
    assert releases.get("3.0.2").export_format_version == "3.0"
    assert releases.get("2.6.1").cassandra == "supported"
    assert releases.get("2.8.4").cassandra == "deprecated"
    assert releases.get("3.3.1").cassandra == "deprecated"
    assert releases.get("3.4.0").cassandra == "removed"


@pytest.mark.parametrize("version,protocols", [
    ("2.8.4", ("outlet",)), ("3.0.2", ("outlet", "wrpc")), ("3.0.0.0", ("outlet", "wrpc")),
    ("3.1.1", ("wrpc",)), ("3.1.0.0", ("wrpc",)), ("3.1.1.1", ("wrpc",)), ("3.1.1.2", ("outlet", "wrpc")),
    ("3.1.1.3", ("outlet", "wrpc")), ("3.2.2", ("outlet",)), ("3.4.2", ("outlet",)),
])
def test_hybrid_protocols(version, protocols):
    assert releases.get(version).hybrid_protocols == protocols


def test_hybrid_rules():
    cp = releases.get("3.3.1")
    ok, msg = cp.hybrid_compatible("3.4.2")
    assert not ok and msg == "data plane version 3.4.2 is incompatible with older control plane version 3.3.1"
    ok, msg = releases.get("3.4.2").hybrid_compatible("2.8.4")
    assert not ok and msg == "data plane version 2.8.4 is incompatible with control plane version 3.4.2 (3.x.y are accepted)"
    assert releases.get("3.4.2").hybrid_compatible("3.0.2") == (True, None)     # no lower bound from 2.5
    assert releases.get("3.4.3.3").hybrid_compatible("3.4.2") == (True, None)   # four-part versions parse
    ok, msg = releases.get("3.4.2").hybrid_compatible("garbage")
    assert not ok and msg.startswith("data plane version is incompatible")
    assert releases.get("2.3.3").hybrid_compatible("2.2.2")[0] is False          # 2.3: exact minor
    assert releases.get("2.4.1").hybrid_compatible("2.2.2")[0] is True           # 2.4: minus 2
    assert releases.get("2.4.1").hybrid_compatible("2.1.4")[0] is False


def test_versions_and_editions():
    known = releases.known_versions()
    for v in ("2.8.4", "3.4.2", "3.9.1", "3.4.3.3", "3.1.1.2", "2.1.4"):
        assert v in known
    assert releases.get("3.4.2").version_string == "3.4.2"
    assert releases.get("3.4.3.3").version_string == "Kong Enterprise 3.4.3.3"
    assert releases.get("3.4.3.3").edition == "enterprise"
    assert releases.get("2.8.4").reset_prompt.endswith("[Y/n] ")
    assert releases.get("3.4.2").reset_prompt.endswith("[y/n] ")
    with pytest.raises(releases.UnknownRelease):
        releases.get("1.5.0")
    with pytest.raises(releases.UnknownRelease):
        releases.get("latest")


def test_pg_ssl_tlsv1_cutoff():
    assert releases.get("3.2.2").pg_ssl_tlsv1_allowed
    assert not releases.get("3.2.2.5").pg_ssl_tlsv1_allowed
    assert not releases.get("3.3.1").pg_ssl_tlsv1_allowed
    assert releases.get("2.8.4").pg_ssl_tlsv1_allowed
