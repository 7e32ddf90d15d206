"""The kong command outside migrations: version, errors, check, config (contract.md sections 1, 5, 8, 9).

Tests marked "wrapper" run the installed shell wrapper as a real process."""

import json
import os
import stat

import yaml

HINT = "\n\n  Run with --v (verbose) or --vv (debug) for more details\n"


def test_version_wrapper(kong_subprocess):
    r = kong_subprocess("3.4.2", "version")
    assert (r.returncode, r.stdout, r.stderr) == (0, "3.4.2\n", "")
    r = kong_subprocess("3.4.3.3", "version")
    assert r.stdout == "Kong Enterprise 3.4.3.3\n"
    r = kong_subprocess("2.8.4", "version", "-a")
    lines = r.stdout.splitlines()
    assert lines[0] == "Kong: 2.8.4"
    assert lines[1].startswith("ngx_lua: ") and lines[2].startswith("nginx: ") and lines[3].startswith("Lua: LuaJIT")


def test_error_format_wrapper(kong_subprocess, kong_conf, tmp_path):
    r = kong_subprocess("3.4.2", "migrations", "list", "-c", str(tmp_path / "missing.conf"))
    assert r.returncode == 1
    assert r.stderr == "Error: no file at: %s" % (tmp_path / "missing.conf") + HINT
    r = kong_subprocess("3.4.2", "migrations", "list", "--v", "-c", str(tmp_path / "missing.conf"))
    assert r.returncode == 1 and r.stderr.startswith("Error: \n")


def test_unknown_commands(kong):
    r = kong("3.4.2", "frobnicate")
    assert r.returncode == 1 and r.stderr.rstrip().endswith("No such command: frobnicate")
    r = kong("3.4.2", "migrations", "frobnicate")
    assert r.returncode == 1 and "No such command for migrations: frobnicate" in r.stderr
    r = kong("3.4.2", "migrations", "list", "--no-such-option")
    assert r.returncode == 1
    r = kong("3.4.2", "drain")
    assert r.returncode == 1 and "No such command: drain" in r.stderr   # 3.9+ only


def test_cassandra_refused_from_34(kong, kong_conf):
    path = kong_conf({"database": "cassandra"})
    r = kong("3.4.2", "migrations", "list", "-c", path)
    assert r.returncode == 1
    assert r.stderr == ("Error: Cassandra as a datastore for Kong is not supported in versions 3.4 and above. "
                        "Please use Postgres." + HINT)
    r = kong("3.3.1", "migrations", "list", "-c", path)
    assert "[warn] Support for Cassandra is deprecated. Please refer to " \
           "https://konghq.com/blog/cassandra-support-deprecated" in r.stderr


def test_check(kong, kong_conf, tmp_path):
    good = kong_conf({"pg_host": "127.0.0.2"})
    r = kong("3.4.2", "check", good)
    assert (r.returncode, r.stdout) == (0, "configuration at %s is valid\n" % good)
    bad = kong_conf({"role": "data_plane"})
    r = kong("3.4.2", "check", bad)
    assert r.returncode == 1 and r.stdout == ""
    errs = [ln for ln in r.stderr.splitlines() if "[error]" in ln]
    assert errs[0].endswith('[error] only in-memory storage can be used when role = "data_plane"')
    assert any(ln.endswith("[error] cluster certificate and key must be provided to use Hybrid mode") for ln in errs)
    r = kong("3.4.2", "check", str(tmp_path / "nope.conf"))
    assert r.returncode == 1 and "no file at: " in r.stderr


def write_yaml(tmp_path, name, data):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(p)


SAMPLE = {
    "_format_version": "2.1",
    "services": [{"name": "echo", "url": "http://127.0.0.1:9000/", "routes": [
        {"name": "plain", "paths": ["/plain"]}, {"name": "rx", "paths": ["/users/\\d+$"]}],
        "plugins": [{"name": "key-auth"}]}],
    "consumers": [{"username": "alice", "keyauth_credentials": [{"key": "k1"}]}],
}


def test_config_parse(kong, kong_conf, tmp_path):
    off = kong_conf({"database": "off", "prefix": str(tmp_path / "p")})
    f21 = write_yaml(tmp_path, "old.yml", SAMPLE)
    f30 = write_yaml(tmp_path, "new.yml", dict(SAMPLE, _format_version="3.0"))
    assert kong("3.4.2", "config", "parse", f21, "-c", off).stdout == "parse successful\n"
    assert kong("2.8.4", "config", "parse", f21, "-c", off).returncode == 0
    r = kong("2.8.4", "config", "parse", f30, "-c", off)
    assert r.returncode == 1
    assert r.stderr == "Error: Failed parsing:\nin '_format_version': expected one of: 1.1, 2.1" + HINT
    r = kong("3.4.2", "config", "parse", str(tmp_path / "absent.yml"), "-c", off)
    assert r.returncode == 1 and r.stderr.startswith("Error: Failed parsing:\n")
    r = kong("3.4.2", "config", "parse", "-c", off)
    assert r.returncode == 1 and "expected a declarative configuration file" in r.stderr


def test_config_parse_connects_to_the_database_first(kong, kong_conf, tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    f21 = write_yaml(tmp_path, "old.yml", SAMPLE)
    r = kong("3.4.2", "config", "parse", f21, "-c", kong_conf({"pg_port": port, "prefix": str(tmp_path / "p")}))
    assert r.returncode == 1 and "connection refused" in r.stderr


def test_config_db_import_export(kong, db_conf, pg_db, tmp_path):
    assert kong("3.4.2", "migrations", "bootstrap", "-c", db_conf).returncode == 0
    f21 = write_yaml(tmp_path, "old.yml", SAMPLE)
    r = kong("3.4.2", "config", "db_import", f21, "-c", db_conf)
    assert (r.returncode, r.stdout) == (0, "parse successful, beginning import\nimport successful\n")
    assert pg_db["psql"]("SELECT array_to_string(paths, ',') FROM routes ORDER BY name").split() == ["/plain", "~/users/\\d+$"]
    r = kong("3.4.2", "config", "db_export", "-c", db_conf)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    text = (tmp_path / "kong.yml").read_text()
    assert text.startswith('_format_version: "3.0"\n_transform: false\n')
    doc = yaml.safe_load(text)
    assert [s["name"] for s in doc["services"]] == ["echo"]
    assert doc["routes"][0]["service"] == doc["services"][0]["id"]
    r = kong("3.4.2", "config", "db_export", "-c", db_conf)
    assert r.returncode == 1 and r.stderr == "Error: kong.yml already exists. Will not overwrite it." + HINT
    r = kong("3.4.2", "config", "db_export", str(tmp_path / "other.yml"), "-c", db_conf)
    assert r.returncode == 0 and (tmp_path / "other.yml").exists()
    # bad import
    bad = write_yaml(tmp_path, "bad.yml", {"_format_version": "3.0", "routes": [{"name": "x", "paths": ["nope"]}]})
    r = kong("3.4.2", "config", "db_import", bad, "-c", db_conf)
    assert r.returncode == 1 and r.stderr.startswith("Error: Failed parsing:\nin 'routes':\n  - in entry 1 of 'routes':\n")


def test_config_2x_export_header(kong, db_conf, tmp_path):
    kong("2.8.4", "migrations", "bootstrap", "-c", db_conf)
    assert kong("2.8.4", "config", "db_export", "out.yml", "-c", db_conf).returncode == 0
    assert (tmp_path / "out.yml").read_text().startswith('_format_version: "2.1"\n')


def test_config_dbless_refusals(kong, kong_conf, tmp_path):
    off = kong_conf({"database": "off", "prefix": str(tmp_path / "p")})
    r = kong("3.4.2", "config", "db_export", "-c", off)
    assert r.returncode == 1 and r.stderr == "Error: 'kong config db_export' only works with a database." + HINT
    r = kong("3.4.2", "config", "db_import", write_yaml(tmp_path, "x.yml", SAMPLE), "-c", off)
    assert r.returncode == 1
    assert r.stderr.startswith("Error: 'kong config db_import' only works with a database.\n"
                               "When using database=off, reload your declarative configuration\nusing the /config endpoint.")


def test_config_prefers_kong_env_of_the_prefix(kong, kong_conf, db_conf, pg_db, tmp_path):
    """contract.md section 5: if <prefix>/.kong_env exists it overrides the conf."""
    from kongsim import conf as confmod
    kong("3.4.2", "migrations", "bootstrap", "-c", db_conf)
    prefix = tmp_path / "running"
    prefix.mkdir()
    confmod.write_kong_env(str(prefix), confmod.load(db_conf, prefix=str(prefix), env={}, release="3.4.2"))
    off = kong_conf({"database": "off"})
    r = kong("3.4.2", "config", "db_export", "-c", off, "-p", str(prefix))
    assert r.returncode == 0, r.stderr       # used the database of .kong_env, not database=off


def test_config_init(kong, tmp_path):
    r = kong("3.4.2", "config", "init")
    assert r.returncode == 0
    assert '_format_version: "3.0"' in (tmp_path / "kong.yml").read_text()
    assert kong("3.4.2", "config", "init").returncode == 1
    r = kong("2.8.4", "config", "init", "k28.yml")
    assert '_format_version: "2.1"' in (tmp_path / "k28.yml").read_text()


def test_hybrid_gen_cert(kong, tmp_path):
    r = kong("3.4.2", "hybrid", "gen_cert", "c.crt", "c.key")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "c.crt").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert stat.S_IMODE(os.stat(tmp_path / "c.key").st_mode) == 0o600
    assert kong("3.4.2", "hybrid", "gen_cert", "c.crt", "c.key").returncode == 1


def test_migrations_status_is_json_wrapper(kong_subprocess, db_conf):
    r = kong_subprocess("3.4.2", "migrations", "status", "-c", db_conf)
    assert r.returncode == 0 and json.loads(r.stdout)["needs_bootstrap"] is True
