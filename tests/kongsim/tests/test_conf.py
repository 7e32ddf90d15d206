"""conf.load / validation / .kong_env against contract.md section 10 (and 9 for Cassandra)."""

import os
import stat

import pytest

from kongsim import conf


def write(tmp_path, text, name="kong.conf"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_defaults_per_release(tmp_path):
    c = conf.load(write(tmp_path, ""), env={}, release="2.8.4")
    assert c["role"] == "traditional" and c["database"] == "postgres"
    assert (c["pg_host"], c["pg_port"], c["pg_database"], c["pg_user"]) == ("127.0.0.1", 5432, "kong", "kong")
    assert c["prefix"] == "/usr/local/kong"
    assert c["status_listen"] == []
    assert [(x.host, x.port) for x in c["admin_listen"]] == [("127.0.0.1", 8001), ("127.0.0.1", 8444)]
    assert "ssl" in c["admin_listen"][1].flags and "http2" in c["admin_listen"][1].flags
    assert [(x.host, x.port) for x in c["proxy_listen"]] == [("0.0.0.0", 8000), ("0.0.0.0", 8443)]
    assert c["cluster_listen"][0][:2] == ("0.0.0.0", 8005)
    assert c["cluster_control_plane"] == "127.0.0.1:8005"
    assert "admin_gui_listen" not in c
    c36 = conf.load(write(tmp_path, ""), env={}, release="3.6.1")
    assert [(x.host, x.port) for x in c36["status_listen"]] == [("127.0.0.1", 8007)]
    assert [(x.host, x.port) for x in c36["admin_gui_listen"]] == [("0.0.0.0", 8002), ("0.0.0.0", 8445)]
    assert conf.load(write(tmp_path, ""), env={}, release="3.5.0")["status_listen"] == []


def test_precedence_defaults_file_env_prefix(tmp_path):
    path = write(tmp_path, "pg_host = 10.0.0.1  # comment\npg_port = 6000\nlog_level = debug\n")
    c = conf.load(path, env={"KONG_PG_PORT": "7000"}, release="3.4.2")
    assert c["pg_host"] == "10.0.0.1" and c["pg_port"] == 7000 and c["log_level"] == "debug"
    c = conf.load(path, env={"KONG_PREFIX": str(tmp_path / "p")}, release="3.4.2")
    assert c["prefix"] == str(tmp_path / "p")
    c = conf.load(path, prefix=str(tmp_path / "q"), env={"KONG_PREFIX": str(tmp_path / "p")}, release="3.4.2")
    assert c["prefix"] == str(tmp_path / "q")
    assert c["conf_path"] == path


def test_missing_conf_file_message(tmp_path):
    with pytest.raises(conf.ConfError) as e:
        conf.load(str(tmp_path / "nope.conf"), env={}, release="3.4.2")
    assert str(e.value) == "no file at: %s" % (tmp_path / "nope.conf")


def test_unknown_keys_ignored(tmp_path):
    c = conf.load(write(tmp_path, "no_such_key = 1\n"), env={"KONG_ALSO_UNKNOWN": "x"}, release="3.4.2")
    assert c["no_such_key"] == "1"
    assert "also_unknown" not in c


def test_role_validation_messages(tmp_path):
    with pytest.raises(conf.ConfError) as e:
        conf.load(write(tmp_path, "role = data_plane\n"), env={}, release="3.4.2")
    assert e.value.errors[0] == 'only in-memory storage can be used when role = "data_plane"\nHint: set database = off in your kong.conf'
    assert "cluster certificate and key must be provided to use Hybrid mode" in e.value.errors
    with pytest.raises(conf.ConfError) as e:
        conf.load(write(tmp_path, "role = control_plane\ndatabase = off\n"), env={}, release="3.4.2")
    assert 'in-memory storage can not be used when role = "control_plane"' in e.value.errors
    with pytest.raises(conf.ConfError) as e:
        conf.load(write(tmp_path, "role = control_plane\nadmin_listen = off\ncluster_listen = off\n"), env={}, release="3.4.2")
    assert e.value.errors[:2] == ['admin_listen must be specified when role = "control_plane"',
                                  'cluster_listen must be specified when role = "control_plane"']
    with pytest.raises(conf.ConfError) as e:
        conf.load(write(tmp_path, "role = data_plane\ndatabase = off\nproxy_listen = off\n"), env={}, release="3.4.2")
    assert str(e.value) == 'proxy_listen must be specified when role = "data_plane"'
    with pytest.raises(conf.ConfError) as e:
        conf.load(write(tmp_path, "role = nope\n"), env={}, release="3.4.2")
    assert str(e.value) == "role has an invalid value: 'nope' (traditional, control_plane, data_plane)"


def test_hybrid_prerequisites(tmp_path):
    cert = write(tmp_path, "x", "c.crt")
    key = write(tmp_path, "x", "c.key")
    text = "role = data_plane\ndatabase = off\ncluster_cert = %s\ncluster_cert_key = %s\n" % (cert, key)
    c = conf.load(write(tmp_path, text), env={}, release="3.4.2")
    assert c["role"] == "data_plane" and c["database"] == "off"
    with pytest.raises(conf.ConfError) as e:
        conf.load(write(tmp_path, text + "cluster_mtls = pki\n"), env={}, release="3.4.2")
    assert str(e.value) == 'cluster_ca_cert must be specified when cluster_mtls = "pki"'
    with pytest.raises(conf.ConfError) as e:
        conf.load(write(tmp_path, text.replace(cert, str(tmp_path / "missing.crt"))), env={}, release="3.4.2")
    assert "missing.crt" in str(e.value)


def test_cassandra(tmp_path):
    p = write(tmp_path, "database = cassandra\n")
    assert conf.load(p, env={}, release="3.3.1")["database"] == "cassandra"
    with pytest.raises(conf.ConfError) as e:
        conf.load(p, env={}, release="3.4.0")
    assert str(e.value) == "Cassandra as a datastore for Kong is not supported in versions 3.4 and above. Please use Postgres."


def test_pg_ssl_version_tlsv1(tmp_path):
    p = write(tmp_path, "pg_ssl_version = tlsv1\n")
    assert conf.load(p, env={}, release="3.2.2")["pg_ssl_version"] == "tlsv1"
    for v in ("3.2.2.5", "3.4.2"):
        with pytest.raises(conf.ConfError) as e:
            conf.load(p, env={}, release=v)
        assert str(e.value).startswith("pg_ssl_version has an invalid value: 'tlsv1'")


def test_listeners_and_types(tmp_path):
    c = conf.load(write(tmp_path, "admin_listen = 127.0.0.5:8001 reuseport, [::1]:8444 ssl\nstatus_listen = off\n"
                                  "db_update_frequency = 1\npg_ssl = on\nplugins = bundled, my-plugin\n"),
                  env={}, release="3.4.2")
    assert c["admin_listen"] == [conf.Listener("127.0.0.5", 8001, ("reuseport",)), conf.Listener("::1", 8444, ("ssl",))]
    assert c["status_listen"] == []
    assert c["db_update_frequency"] == 1.0 and c["pg_ssl"] is True
    assert c["loaded_plugins"][-1] == "my-plugin" and "key-auth" in c["loaded_plugins"]
    with pytest.raises(conf.ConfError):
        conf.load(write(tmp_path, "admin_listen = nonsense\n"), env={}, release="3.4.2")


def test_kong_env_roundtrip_and_secrets(tmp_path):
    prefix = tmp_path / "prefix"
    prefix.mkdir()
    c = conf.load(write(tmp_path, "pg_password = s3cr\\#t\nadmin_listen = 127.0.0.9:8001\n"), prefix=str(prefix),
                  env={}, release="3.4.2")
    path = conf.write_kong_env(str(prefix), c)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    back = conf.read_kong_env(str(prefix), "3.4.2")
    assert back["pg_password"] == "s3cr#t"
    assert back["admin_listen"] == [conf.Listener("127.0.0.9", 8001, ())]
    assert back["prefix"] == str(prefix)
    red = conf.redacted(back)
    assert red["pg_password"] == "******" and "s3cr#t" not in repr(red)
    assert conf.read_kong_env(str(tmp_path / "absent"), "3.4.2") is None


def test_check_lists_every_error(tmp_path):
    errs = conf.check(write(tmp_path, "role = data_plane\ndatabase = cassandra\n"), "3.4.2", env={})
    assert len(errs) >= 3
    assert errs[0].startswith("Cassandra as a datastore")
