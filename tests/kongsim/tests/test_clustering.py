"""Hybrid mode: version rules of the control plane's release, config push with hash, DP cache
(contract.md section 7)."""

import os

import pytest

from kongsim.nodetools import Upstream, http, pid_alive, wait_for


@pytest.fixture
def upstream():
    u = Upstream(name="hybrid-up")
    yield u
    u.close()


@pytest.fixture
def certs(tmp_path):
    crt, key = tmp_path / "cluster.crt", tmp_path / "cluster.key"
    crt.write_text("-----BEGIN CERTIFICATE-----\nkongsim-shared\n-----END CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\nkongsim-shared\n-----END PRIVATE KEY-----\n")
    os.chmod(str(key), 0o600)
    return {"cluster_cert": str(crt), "cluster_cert_key": str(key)}


def control_plane(nodes, pg_db, certs, version, upstream=None):
    cp = nodes.node(version, "cp-" + version, dict(pg_db["conf"], role="control_plane", proxy_listen="off", **certs))
    r = cp.inproc("migrations", "bootstrap", "-c", cp.conf_path)
    assert r.returncode == 0, r.stderr
    r = cp.start()
    assert r.returncode == 0, r.stderr
    if upstream is not None:
        assert http("POST", cp.admin + "/services", {"name": "s", "url": upstream.url})[0] == 201
        assert http("POST", cp.admin + "/services/s/routes", {"name": "r", "paths": [r"~/items/\d+$"]})[0] == 201
    return cp


def data_plane(nodes, cp, certs, version, name):
    dp = nodes.node(version, name, dict(role="data_plane", database="off", admin_listen="off",
                                        cluster_control_plane="%s:8005" % cp.host, **certs))
    r = dp.start()
    assert r.returncode == 0, r.stderr
    return dp


def log_of(node):
    with open(os.path.join(node.prefix, "logs", "error.log")) as f:
        return f.read()


def dp_row(cp, dp_version):
    rows = http("GET", cp.admin + "/clustering/data-planes")[2]["data"]
    found = [r for r in rows if r["version"] == dp_version]
    return found[0] if found else None


def dp_hash(dp):
    return http("GET", dp.status + "/status")[2]["configuration_hash"]


def test_3_3_cp_rejects_3_4_dp(nodes, pg_db, certs, upstream):
    cp = control_plane(nodes, pg_db, certs, "3.3.1", upstream)
    dp = data_plane(nodes, cp, certs, "3.4.2", "dp34")
    row = wait_for(lambda: dp_row(cp, "3.4.2"), 10)
    assert row is not None, "a rejected data plane still shows in /clustering/data-planes"
    assert row["sync_status"] == "kong_version_incompatible"
    assert row["ip"] == dp.host
    assert set(row) == {"id", "ip", "hostname", "version", "sync_status", "last_seen", "config_hash", "ttl", "updated_at"}
    # no configuration reached the data plane
    assert dp_hash(dp) == "0" * 32
    assert http("GET", dp.proxy + "/items/1")[0] == 404
    st, _unused, doc = http("GET", dp.status + "/status/ready")
    assert (st, doc) == (503, {"message": "no configuration available (configuration hash is not initialized)"})
    assert wait_for(lambda: "data plane version 3.4.2 is incompatible with older control plane version 3.3.1" in log_of(dp), 10)


def test_3_4_cp_rejects_2_8_dp_and_accepts_3_3_dp(nodes, pg_db, certs, upstream):
    cp = control_plane(nodes, pg_db, certs, "3.4.2", upstream)
    old = data_plane(nodes, cp, certs, "2.8.4", "dp28")
    ok = data_plane(nodes, cp, certs, "3.3.1", "dp33")
    row28 = wait_for(lambda: dp_row(cp, "2.8.4"), 10)
    assert row28["sync_status"] == "kong_version_incompatible"
    row33 = wait_for(lambda: (dp_row(cp, "3.3.1") or {}).get("config_hash", "0" * 32) != "0" * 32 and dp_row(cp, "3.3.1"), 10)
    assert row33 and row33["sync_status"] == "normal"
    # the DP got the CP's configuration: same hash on both sides, and it routes the regex route
    assert dp_hash(ok) == row33["config_hash"]
    st, h, doc = http("GET", ok.proxy + "/items/42")
    assert st == 200 and h["via"] == "kong/3.3.1" and doc["upstream"] == "hybrid-up"
    assert http("GET", old.proxy + "/items/42")[0] == 404
    status = http("GET", cp.admin + "/clustering/status")
    assert status[1]["deprecation"] == "true"
    assert status[2][row33["id"]]["config_hash"] == row33["config_hash"]
    st, _unused, doc = http("GET", ok.status + "/status/ready")
    assert (st, doc) == (200, {"message": "ready"})


def test_config_changes_are_pushed_and_dp_survives_cp_loss_and_restart(nodes, pg_db, certs, upstream):
    cp = control_plane(nodes, pg_db, certs, "3.4.2", upstream)
    dp = data_plane(nodes, cp, certs, "3.4.2", "dp")
    assert wait_for(lambda: http("GET", dp.proxy + "/items/1")[0] == 200, 10)
    first = dp_hash(dp)
    # a change on the CP reaches the DP with a new hash equal to the CP's
    assert http("POST", cp.admin + "/services/s/routes", {"name": "r2", "paths": ["/more"]})[0] == 201
    assert wait_for(lambda: http("GET", dp.proxy + "/more")[0] == 200, 10)
    second = dp_hash(dp)
    assert second != first
    assert wait_for(lambda: dp_row(cp, "3.4.2")["config_hash"] == second, 10)
    # the CP goes away: the DP keeps serving its last configuration
    assert cp.run("stop", "-p", cp.prefix).returncode == 0
    assert http("GET", dp.proxy + "/more")[0] == 200
    assert os.path.isfile(os.path.join(dp.prefix, "config.cache.json.gz"))
    # ... and after its own restart, from the cache in its prefix
    assert dp.run("stop", "-p", dp.prefix).returncode == 0
    r = dp.start()
    assert r.returncode == 0, r.stderr
    assert http("GET", dp.proxy + "/more")[0] == 200
    assert http("GET", dp.proxy + "/items/9")[0] == 200
    assert dp_hash(dp) == second


def test_cp_serves_dp_with_wrong_certificate_nothing(nodes, pg_db, certs, upstream, tmp_path):
    cp = control_plane(nodes, pg_db, certs, "3.4.2", upstream)
    other = tmp_path / "other.crt"
    other.write_text("-----BEGIN CERTIFICATE-----\nanother\n-----END CERTIFICATE-----\n")
    dp = nodes.node("3.4.2", "badcert", dict(role="data_plane", database="off", admin_listen="off",
                                             cluster_control_plane="%s:8005" % cp.host,
                                             cluster_cert=str(other), cluster_cert_key=certs["cluster_cert_key"]))
    assert dp.start().returncode == 0
    assert wait_for(lambda: "incorrect client certificate" in log_of(dp), 10)
    assert dp_row(cp, "3.4.2") is None
    assert dp_hash(dp) == "0" * 32


@pytest.mark.parametrize("cp_version,dp_version,connects", [
    ("3.2.2", "3.1.1", False),   # OSS 3.1 speaks only wRPC; 3.2 serves only the legacy protocol
    ("3.1.1", "3.0.2", True),    # 3.0 negotiates wRPC with a 3.1 CP
    ("3.2.2", "3.0.2", True),    # ... and falls back to the legacy protocol with 3.2
    ("3.2.2.5", "3.1.1.2", True),  # Enterprise 3.1.1.2 speaks both
    ("3.2.2.5", "3.1.1.3", True),  # ... and so does its next patch, 3.1.1.3
])
def test_protocol_table(nodes, pg_db, certs, cp_version, dp_version, connects):
    cp = control_plane(nodes, pg_db, certs, cp_version)
    dp = data_plane(nodes, cp, certs, dp_version, "dp")
    if connects:
        row = wait_for(lambda: dp_row(cp, dp_version), 10)
        assert row is not None and row["sync_status"] == "normal"
    else:
        assert wait_for(lambda: "bad handshake status 404 on /v1/wrpc" in log_of(dp), 10)
        assert dp_row(cp, dp_version) is None


def test_cp_with_pending_migrations_pushes_its_database_configuration(nodes, pg_db, certs, upstream):
    """A 3.4 CP started after `up` from 2.8 (pending migrations) pushes what the database holds:
    the route rewritten to `~` by 016's up is served by a 3.4 DP."""
    boot = nodes.node("2.8.4", "boot", dict(pg_db["conf"]))
    assert boot.inproc("migrations", "bootstrap", "-c", boot.conf_path).returncode == 0
    assert boot.start().returncode == 0
    assert http("POST", boot.admin + "/services", {"name": "s", "url": upstream.url})[0] == 201
    assert http("POST", boot.admin + "/services/s/routes", {"name": "r", "paths": [r"/items/\d+$"]})[0] == 201
    assert boot.run("stop", "-p", boot.prefix).returncode == 0
    cp = nodes.node("3.4.2", "cp", dict(pg_db["conf"], role="control_plane", proxy_listen="off", **certs))
    assert cp.inproc("migrations", "up", "-c", cp.conf_path).returncode == 0
    r = cp.start()
    assert r.returncode == 0 and "Database has pending migrations:" in r.stdout
    dp = data_plane(nodes, cp, certs, "3.4.2", "dp")
    assert wait_for(lambda: http("GET", dp.proxy + "/items/5")[0] == 200, 10)
    assert pid_alive(cp.pid())


def test_cp_has_no_proxy_and_dp_has_no_admin_api(nodes, pg_db, certs):
    """Kong's nginx template: no proxy server on a control plane, no Admin API on a data plane,
    whatever proxy_listen / admin_listen say."""
    cp = nodes.node("3.4.2", "cpx", dict(pg_db["conf"], role="control_plane", **certs))
    assert cp.inproc("migrations", "bootstrap", "-c", cp.conf_path).returncode == 0
    assert cp.start().returncode == 0
    assert http("GET", cp.admin + "/")[0] == 200
    with pytest.raises(OSError):
        http("GET", cp.proxy + "/", timeout=2)
    dp = nodes.node("3.4.2", "dpx", dict(role="data_plane", database="off", cluster_control_plane="%s:8005" % cp.host, **certs))
    assert dp.start().returncode == 0
    assert http("GET", dp.status + "/status")[0] == 200
    assert wait_for(lambda: http("GET", dp.proxy + "/")[0] == 404, 5)
    with pytest.raises(OSError):
        http("GET", dp.admin + "/", timeout=2)


def test_plugin_missing_on_dp_withholds_configuration(nodes, pg_db, certs, upstream):
    cp = control_plane(nodes, pg_db, certs, "3.4.2", upstream)
    assert http("POST", cp.admin + "/plugins", {"name": "key-auth"})[0] == 201
    dp = nodes.node("3.4.2", "dpp", dict(role="data_plane", database="off", plugins="cors",
                                         cluster_control_plane="%s:8005" % cp.host, **certs))
    assert dp.start().returncode == 0
    row = wait_for(lambda: dp_row(cp, "3.4.2"), 10)
    assert row["sync_status"] == "plugin_set_incompatible"
    assert dp_hash(dp) == "0" * 32
    assert http("GET", dp.proxy + "/items/1")[0] == 404
