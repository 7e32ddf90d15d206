"""Admin API: GET /, /status, CRUD on the database, DB-less /config (contract.md section 6)."""

import json

from kongsim.nodetools import Upstream, http


def traditional(nodes, pg_db, version="3.4.2"):
    n = nodes.node(version, "t-" + version, dict(pg_db["conf"]))
    r = n.inproc("migrations", "bootstrap", "-c", n.conf_path)
    assert r.returncode == 0, r.stderr
    r = n.start()
    assert r.returncode == 0, r.stderr
    return n


def test_root_document(nodes, pg_db):
    n = traditional(nodes, pg_db)
    st, h, doc = http("GET", n.admin + "/")
    assert st == 200
    assert doc["tagline"] == "Welcome to kong"
    assert doc["version"] == "3.4.2"
    assert len(doc["node_id"]) == 36
    conf = doc["configuration"]
    assert conf["role"] == "traditional" and conf["database"] == "postgres" and conf["prefix"] == n.prefix
    assert conf["pg_password"] == "******"
    assert "kong-sandbox-secret" not in json.dumps(doc)
    assert doc["plugins"]["available_on_server"]["key-auth"]["priority"] == 1250
    with open(n.prefix + "/kong.id") as f:
        assert f.read().strip() == doc["node_id"]
    # node id is stable across restarts (kept in the prefix)
    assert n.run("stop", "-p", n.prefix).returncode == 0
    assert n.start().returncode == 0
    assert http("GET", n.admin + "/")[2]["node_id"] == doc["node_id"]


def test_root_document_2x_plugins_shape(nodes, pg_db):
    n = traditional(nodes, pg_db, "2.8.4")
    doc = http("GET", n.admin + "/")[2]
    assert doc["version"] == "2.8.4"
    assert doc["plugins"]["available_on_server"]["key-auth"] is True


def test_status(nodes, pg_db):
    n = traditional(nodes, pg_db)
    st, _unused, doc = http("GET", n.admin + "/status")
    assert st == 200
    assert doc["database"] == {"reachable": True}
    assert doc["server"]["total_requests"] >= 1
    assert "configuration_hash" not in doc


def test_crud_services_routes_plugins(nodes, pg_db):
    n = traditional(nodes, pg_db)
    A = n.admin
    st, _unused, svc = http("POST", A + "/services", {"name": "billing", "url": "http://127.0.0.1:9/api"})
    assert st == 201
    assert (svc["host"], svc["port"], svc["path"], svc["protocol"]) == ("127.0.0.1", 9, "/api", "http")
    assert http("GET", A + "/services/billing")[2]["id"] == svc["id"]
    assert http("GET", A + "/services/" + svc["id"])[2]["name"] == "billing"
    st, _unused, dup = http("POST", A + "/services", {"name": "billing", "host": "x"})
    assert st == 409 and dup["name"] == "unique constraint violation"
    st, _unused, rt = http("POST", A + "/services/billing/routes", {"name": "r1", "paths": [r"~/inv/\d+"]})
    assert st == 201 and rt["service"] == {"id": svc["id"]}
    lst = http("GET", A + "/routes")[2]
    assert lst["next"] is None and [r["name"] for r in lst["data"]] == ["r1"]
    assert [r["name"] for r in http("GET", A + "/services/billing/routes")[2]["data"]] == ["r1"]
    st, _unused, p = http("PATCH", A + "/routes/r1", {"strip_path": False})
    assert st == 200 and p["strip_path"] is False and p["paths"] == [r"~/inv/\d+"]
    st, _unused, pl = http("POST", A + "/routes/r1/plugins", {"name": "key-auth"})
    assert st == 201 and pl["route"] == {"id": rt["id"]}
    st, _unused, bad = http("POST", A + "/plugins", {"name": "no-such-plugin"})
    assert st == 400 and "plugin 'no-such-plugin' not enabled" in bad["message"]
    st, _unused, put = http("PUT", A + "/services/other", {"host": "example.com"})
    assert st == 200 and put["name"] == "other"
    assert http("DELETE", A + "/routes/r1")[0] == 204
    assert http("GET", A + "/routes/r1")[0] == 404
    # the route's plugin went with it (cascade)
    assert http("GET", A + "/plugins")[2]["data"] == []
    # rows are in the real table
    assert pg_db["psql"]("SELECT name FROM services ORDER BY name").split() == ["billing", "other"]
    # form-encoded bodies, like curl -d
    st, _unused, f = http("POST", A + "/services/billing/routes", "name=r2&paths[]=/form&methods=GET",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 201 and f["paths"] == ["/form"] and f["methods"] == ["GET"]


def test_route_path_validation_2x_vs_3x(nodes, pg_db, pg):
    new = traditional(nodes, pg_db)
    st, _unused, doc = http("POST", new.admin + "/routes", {"paths": ["users"]})
    assert st == 400
    assert doc["message"] == "schema violation (paths.1: should start with: / (fixed path) or ~/ (regex path))"
    pg.create_database(pg_db["name"] + "_b", owner="kong")
    try:
        conf = dict(pg_db["conf"], pg_database=pg_db["name"] + "_b")
        old = nodes.node("2.8.4", "old", conf)
        assert old.inproc("migrations", "bootstrap", "-c", old.conf_path).returncode == 0
        assert old.start().returncode == 0
        st, _unused, doc = http("POST", old.admin + "/routes", {"paths": [r"~/users/\d+"]})
        assert st == 400 and doc["message"] == "schema violation (paths.1: should start with: /)"
        assert old.run("stop", "-p", old.prefix).returncode == 0
    finally:
        pg.drop_database(pg_db["name"] + "_b")


def test_dbless_admin_is_read_only_and_config_endpoint(nodes, tmp_path):
    up = Upstream()
    try:
        decl = tmp_path / "kong.yml"
        decl.write_text('_format_version: "3.0"\nservices:\n- name: s\n  url: %s\n  routes:\n  - name: r\n    paths: [/r]\n' % up.url)
        n = nodes.node("3.4.2", "dbless", {"database": "off", "declarative_config": str(decl)})
        assert n.start().returncode == 0
        assert [s["name"] for s in http("GET", n.admin + "/services")[2]["data"]] == ["s"]
        st, _unused, doc = http("POST", n.admin + "/services", {"name": "x", "host": "h"})
        assert st == 405 and "when not using a database" in doc["message"]
        status = http("GET", n.admin + "/status")[2]
        assert "database" not in status and len(status["configuration_hash"]) == 32
        old_hash = status["configuration_hash"]
        new_cfg = {"_format_version": "3.0", "services": [{"name": "s2", "url": up.url, "routes": [{"name": "r2", "paths": ["/r2"]}]}]}
        st, _unused, doc = http("POST", n.admin + "/config", new_cfg)
        assert st == 201
        assert http("GET", n.proxy + "/r2")[0] == 200
        assert http("GET", n.proxy + "/r")[0] == 404
        new_hash = http("GET", n.admin + "/status")[2]["configuration_hash"]
        assert new_hash != old_hash
        assert http("POST", n.admin + "/config?check_hash=1", new_cfg)[0] == 304
        st, _unused, doc = http("POST", n.admin + "/config", {"_format_version": "9.9"})
        assert st == 400
        st, _unused, doc = http("GET", n.admin + "/config")
        assert st == 200 and "s2" in doc["config"]
        st, _unused, doc = http("GET", n.admin + "/clustering/data-planes")
        assert st == 400
        assert doc["message"] == ("this endpoint is only available when Kong is configured to run as "
                                  "Control Plane for the cluster")
    finally:
        up.close()


def test_config_endpoint_refused_with_database(nodes, pg_db):
    n = traditional(nodes, pg_db)
    st, _unused, doc = http("POST", n.admin + "/config", {"_format_version": "3.0"})
    assert st == 400 and "not use a database" in doc["message"]


def test_pagination(nodes, pg_db):
    n = traditional(nodes, pg_db)
    for i in range(5):
        assert http("POST", n.admin + "/consumers", {"username": "u%d" % i})[0] == 201
    first = http("GET", n.admin + "/consumers?size=2")[2]
    assert len(first["data"]) == 2 and first["next"].startswith("/consumers?offset=")
    seen = [c["username"] for c in first["data"]]
    nxt = first["next"]
    while nxt:
        page = http("GET", n.admin + nxt)[2]
        seen += [c["username"] for c in page["data"]]
        nxt = page["next"]
    assert sorted(seen) == ["u0", "u1", "u2", "u3", "u4"]
    assert http("GET", n.admin + "/consumers")[2]["next"] is None
    assert http("GET", n.admin + "/consumers?size=0")[0] == 400


def test_route_needs_a_matching_attribute(nodes, pg_db):
    n = traditional(nodes, pg_db)
    st, _unused, doc = http("POST", n.admin + "/routes", {"name": "empty"})
    assert st == 400
    assert doc["message"] == ("schema violation (must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' "
                              "when 'protocols' is 'https')")
    st, _unused, doc = http("POST", n.admin + "/services", {"name": "nohost", "bogus": 1})
    assert st == 400 and doc["message"] == "2 schema violations (bogus: unknown field; host: required field missing)"
