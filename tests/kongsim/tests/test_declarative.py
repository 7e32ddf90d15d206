"""Declarative configuration rules (contract.md section 8) and the configuration hash."""

import json

import pytest
import yaml

from kongsim import db, declarative, releases

R28 = releases.get("2.8.4")
R34 = releases.get("3.4.2")


def doc(fv="2.1", **extra):
    d = {"_format_version": fv,
         "services": [{"name": "echo", "host": "127.0.0.1", "port": 9000,
                       "routes": [{"name": "plain", "paths": ["/plain"]},
                                  {"name": "rx", "paths": ["/users/\\d+$", "~/x"]}],
                       "plugins": [{"name": "key-auth", "config": {"key_names": ["apikey"]}}]}],
         "routes": [{"name": "top", "service": "echo", "paths": ["/v[0-9]/items"]}],
         "consumers": [{"username": "alice", "keyauth_credentials": [{"key": "k1"}]}],
         "upstreams": [{"name": "up", "targets": [{"target": "127.0.0.1:9000"}]}]}
    d.update(extra)
    return d


def routes_by_name(cfg):
    return dict((r["name"], r) for r in cfg["routes"])


def test_3x_converts_old_formats_silently():
    for fv in ("1.1", "2.1"):
        cfg = declarative.parse(doc(fv), R34)
        rs = routes_by_name(cfg)
        assert rs["plain"]["paths"] == ["/plain"]
        assert rs["rx"]["paths"] == ["~/users/\\d+$", "~/x"]
        assert rs["top"]["paths"] == ["~/v[0-9]/items"]           # top-level routes too
        assert cfg["_format_version"] == "3.0"


def test_3x_keeps_30_files_as_written():
    cfg = declarative.parse(doc("3.0"), R34)
    assert routes_by_name(cfg)["rx"]["paths"] == ["/users/\\d+$", "~/x"]


def test_2x_keeps_regex_and_rejects_30():
    d = doc("2.1")
    d["services"][0]["routes"][1]["paths"] = ["/users/\\d+$"]
    cfg = declarative.parse(d, R28)
    assert routes_by_name(cfg)["rx"]["paths"] == ["/users/\\d+$"]
    with pytest.raises(declarative.DeclarativeError) as e:
        declarative.parse(doc("3.0"), R28)
    assert str(e.value) == "in '_format_version': expected one of: 1.1, 2.1"
    with pytest.raises(declarative.DeclarativeError) as e:
        declarative.parse(doc("2.1"), R28)   # "~/x" is not a 2.x path
    assert "should start with: /" in str(e.value)


def test_format_version_required_and_known():
    d = doc()
    del d["_format_version"]
    with pytest.raises(declarative.DeclarativeError) as e:
        declarative.parse(d, R34)
    assert str(e.value) == "in '_format_version': required field missing"
    with pytest.raises(declarative.DeclarativeError) as e:
        declarative.parse(doc("4.0"), R34)
    assert str(e.value) == "in '_format_version': expected one of: 1.1, 2.1, 3.0"
    with pytest.raises(declarative.DeclarativeError):
        declarative.parse(["not", "a", "map"], R34)


def test_flattening_and_references():
    cfg = declarative.parse(doc("3.0"), R34)
    svc = cfg["services"][0]
    assert all(r["service"] == {"id": svc["id"]} for r in cfg["routes"])
    assert cfg["plugins"][0]["service"] == {"id": svc["id"]}
    assert cfg["keyauth_credentials"][0]["consumer"] == {"id": cfg["consumers"][0]["id"]}
    assert cfg["targets"][0]["upstream"] == {"id": cfg["upstreams"][0]["id"]}
    # Kong's defaults are filled in
    assert svc["protocol"] == "http" and svc["retries"] == 5
    assert cfg["routes"][0]["strip_path"] is True


def test_bad_reference_and_unknown_fields():
    d = doc("3.0")
    d["routes"][0]["service"] = "missing"
    with pytest.raises(declarative.DeclarativeError) as e:
        declarative.parse(d, R34)
    assert "in 'service': invalid reference 'missing'" in str(e.value)
    with pytest.raises(declarative.DeclarativeError) as e:
        declarative.parse(doc("3.0", bogus=[1]), R34)
    assert "in 'bogus': unknown field" in str(e.value)


def test_plugins_must_be_enabled():
    with pytest.raises(declarative.DeclarativeError) as e:
        declarative.parse(doc("3.0"), R34, plugins=["acl"])
    assert "plugin 'key-auth' not enabled" in str(e.value)


def test_ids_are_deterministic_and_hash_is_stable():
    a = declarative.parse(doc("3.0"), R34)
    b = declarative.parse(doc("3.0"), R34)
    assert [s["id"] for s in a["services"]] == [s["id"] for s in b["services"]]
    assert db.config_hash(a) == db.config_hash(b)
    assert len(db.config_hash(a)) == 32 and int(db.config_hash(a), 16) > 0
    # the same entities parsed by 2.8 (from 2.1) and 3.4 (from 3.0, same paths) hash the same
    d21 = doc("2.1")
    d21["services"][0]["routes"][1]["paths"] = ["/users"]
    d21["routes"][0]["paths"] = ["/v1"]
    d30 = json.loads(json.dumps(d21))
    d30["_format_version"] = "3.0"
    assert db.config_hash(declarative.parse(d21, R28)) == db.config_hash(declarative.parse(d30, R34))
    c = declarative.parse(doc("3.0"), R34)
    c["services"][0]["port"] = 9001
    assert db.config_hash(c) != db.config_hash(a)


def test_empty_config_hash():
    assert db.config_hash({}) == "0" * 32
    assert db.config_hash(declarative.parse({"_format_version": "3.0"}, R34)) == "0" * 32


def test_export_roundtrip(tmp_path):
    cfg = declarative.parse(doc("3.0"), R34)
    text = declarative.export(cfg, R34)
    assert text.startswith('_format_version: "3.0"\n_transform: false\n')
    p = tmp_path / "kong.yml"
    p.write_text(text)
    back = declarative.load_file(str(p), R34)
    assert db.config_hash(back) == db.config_hash(cfg)
    assert declarative.export(cfg, R28).startswith('_format_version: "2.1"\n')
    assert yaml.safe_load(text)["routes"][0]["service"] == cfg["services"][0]["id"]


def test_load_file_formats(tmp_path):
    j = tmp_path / "c.json"
    j.write_text(json.dumps(doc("3.0")))
    assert declarative.load_file(str(j), R34)["services"][0]["name"] == "echo"
    t = tmp_path / "c.txt"
    t.write_text("x")
    with pytest.raises(declarative.DeclarativeError) as e:
        declarative.load_file(str(t), R34)
    assert "unknown file extension" in str(e.value)
    y = tmp_path / "broken.yml"
    y.write_text("services: [\n")
    with pytest.raises(declarative.DeclarativeError):
        declarative.load_file(str(y), R34)


def test_db_and_file_give_the_same_hash(kong, db_conf, tmp_path):
    """A CP reading its DB and a DB-less node reading the same file agree on the hash."""
    from kongsim import conf as confmod
    assert kong("3.4.2", "migrations", "bootstrap", "-c", db_conf).returncode == 0
    p = tmp_path / "k.yml"
    p.write_text(yaml.safe_dump(doc("3.0")))
    assert kong("3.4.2", "config", "db_import", str(p), "-c", db_conf).returncode == 0
    conn = db.connect(confmod.load(db_conf, env={}, release=R34))
    try:
        from_db = db.load_config(conn)
    finally:
        conn.close()
    assert db.config_hash(from_db) == db.config_hash(declarative.load_file(str(p), R34))
