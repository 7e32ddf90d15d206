"""Status API: /status everywhere, /status/ready only from 3.3 (contract.md section 6)."""

import pytest

from kongsim.nodetools import http


def dbless(nodes, tmp_path, version, text, name="s", extra=None):
    decl = tmp_path / ("%s.yml" % name)
    decl.write_text(text)
    values = {"database": "off", "declarative_config": str(decl)}
    values.update(extra or {})
    n = nodes.node(version, name, values)
    r = n.start()
    assert r.returncode == 0, r.stderr
    return n


CFG = '_format_version: "%s"\nservices:\n- name: s\n  url: http://127.0.0.1:9\n  routes:\n  - name: r\n    paths: [/r]\n'


@pytest.mark.parametrize("version,has_ready", [("3.2.2", False), ("3.3.1", True), ("3.4.2", True), ("2.8.4", False)])
def test_ready_endpoint_exists_from_3_3(nodes, tmp_path, version, has_ready):
    fmt = "3.0" if version.startswith("3") else "2.1"
    n = dbless(nodes, tmp_path, version, CFG % fmt)
    st, _unused, doc = http("GET", n.status + "/status/ready")
    if has_ready:
        assert (st, doc) == (200, {"message": "ready"})
    else:
        assert (st, doc) == (404, {"message": "Not found"})
    st, _unused, doc = http("GET", n.status + "/status")
    assert st == 200 and len(doc["configuration_hash"]) == 32 and "database" not in doc


def test_ready_says_empty_configuration(nodes, tmp_path):
    n = dbless(nodes, tmp_path, "3.4.2", '_format_version: "3.0"\n')
    st, _unused, doc = http("GET", n.status + "/status/ready")
    assert (st, doc) == (503, {"message": "no configuration available (empty configuration present)"})
    assert http("GET", n.status + "/status")[2]["configuration_hash"] == "0" * 32


def test_ready_traditional_and_database_loss(nodes, pg_db, pg):
    n = nodes.node("3.4.2", "t", dict(pg_db["conf"]))
    assert n.inproc("migrations", "bootstrap", "-c", n.conf_path).returncode == 0
    assert n.start().returncode == 0
    st, _unused, doc = http("GET", n.status + "/status/ready")
    assert (st, doc) == (200, {"message": "ready"})
    assert http("GET", n.status + "/status")[2]["database"] == {"reachable": True}
    # the database goes away: ready turns 503 with Kong's reason, /status says unreachable
    pg.psql("ALTER DATABASE %s ALLOW_CONNECTIONS false" % pg_db["name"])
    pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'" % pg_db["name"])
    try:
        st, _unused, doc = http("GET", n.status + "/status/ready")
        assert (st, doc) == (503, {"message": "failed to connect to database"})
        assert http("GET", n.status + "/status")[2]["database"] == {"reachable": False}
    finally:
        pg.psql("ALTER DATABASE %s ALLOW_CONNECTIONS true" % pg_db["name"])


def test_status_listen_default_changes_in_3_6(nodes, tmp_path):
    """status_listen is off before 3.6 and 127.0.0.1:8007 from 3.6: a node with no status_listen
    line has no Status API on its address before 3.6."""
    n = nodes.node("3.5.0", "old", {"database": "off", "status_listen": None})
    # nodes.node writes status_listen unless given None: drop it to get the release default
    assert n.start().returncode == 0
    with pytest.raises(OSError):
        http("GET", n.status + "/status", timeout=2)


def test_drain_on_3_9(nodes, tmp_path):
    n = dbless(nodes, tmp_path, "3.9.1", CFG % "3.0")
    assert http("GET", n.status + "/status/ready")[0] == 200
    r = n.run("drain", "-p", n.prefix)
    assert (r.returncode, r.stdout) == (0, "Kong's status successfully changed to 'draining'\n"), r.stderr
    st, _unused, doc = http("GET", n.status + "/status/ready")
    assert (st, doc) == (503, {"message": "draining"})
    old = dbless(nodes, tmp_path, "3.4.2", CFG % "3.0", name="old34")
    r = old.run("drain", "-p", old.prefix)
    assert r.returncode == 1
