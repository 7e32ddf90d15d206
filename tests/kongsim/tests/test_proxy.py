"""Proxy routing: 2.x vs 3.x regex path semantics (unit) and forwarding through a running node."""

import json

import pytest

from kongsim import releases
from kongsim.nodetools import Upstream, http, wait_for
from kongsim.router import Router, path_kind

SVC = {"id": "s1", "name": "svc", "host": "up", "port": 80, "path": None}


def router(version, *routes):
    rs = []
    for i, r in enumerate(routes):
        d = {"id": "r%d" % i, "service": {"id": "s1"}, "strip_path": True, "created_at": i}
        d.update(r)
        rs.append(d)
    return Router({"services": [SVC], "routes": rs}, releases.get(version))


def matched(rt, path, method="GET", host="example.com"):
    m = rt.match(method, host, path)
    return m.route["id"] if m else None


# -- path semantics per release ------------------------------------------------------------------------

@pytest.mark.parametrize("version,path,expected", [
    ("2.8.4", "/users", ("prefix", "/users")),
    ("2.8.4", r"/users/\d+", ("regex", r"/users/\d+")),      # 2.x: non-plain chars make a regex
    ("2.8.4", r"~/users/\d+", ("regex", r"/users/\d+")),     # 2.8.2+: `~` honoured
    ("2.8.0", r"~/users/\d+", ("regex", r"~/users/\d+")),    # 2.8.0: `~` is a literal
    ("2.8.0", "~/plain", ("prefix", "~/plain")),
    ("3.4.2", r"/users/\d+", ("prefix", r"/users/\d+")),     # 3.x: regex only with `~`
    ("3.4.2", r"~/users/\d+$", ("regex", r"/users/\d+$")),
])
def test_path_kind(version, path, expected):
    assert path_kind(path, releases.get(version)) == expected


def test_unprefixed_regex_path_matches_on_2x_but_not_on_3x():
    old = router("2.8.4", {"paths": [r"/users/\d+$"]})
    new = router("3.4.2", {"paths": [r"/users/\d+$"]})
    assert matched(old, "/users/42") == "r0"
    assert matched(old, "/users/abc") is None
    assert matched(new, "/users/42") is None       # the 3.0 breaking change
    assert matched(new, r"/users/\d+$") == "r0"    # now a literal prefix


def test_tilde_path_after_migration_016():
    """016_280_to_300 rewrites stored regex paths to `~...`: 2.8.4 and 3.x still match them,
    2.8.0 does not (blue-green needs 2.8.2+)."""
    for v in ("2.8.4", "3.0.2", "3.4.2", "3.9.1"):
        assert matched(router(v, {"paths": [r"~/users/\d+$"]}), "/users/42") == "r0", v
    assert matched(router("2.8.0", {"paths": [r"~/users/\d+$"]}), "/users/42") is None


def test_regex_is_anchored_at_start():
    rt = router("3.4.2", {"paths": [r"~/v\d/items"]})
    assert matched(rt, "/v1/items/7") == "r0"
    assert matched(rt, "/api/v1/items") is None


def test_strip_path_and_service_path():
    svc = dict(SVC, path="/base")
    rt = Router({"services": [svc], "routes": [
        {"id": "a", "service": {"id": "s1"}, "paths": ["/a"], "strip_path": True},
        {"id": "b", "service": {"id": "s1"}, "paths": ["/b"], "strip_path": False},
        {"id": "c", "service": {"id": "s1"}, "paths": [r"~/c/\d+"], "strip_path": True}]}, releases.get("3.4.2"))
    assert rt.match("GET", "h", "/a/x?q=1").upstream_uri == "/base/x?q=1"
    assert rt.match("GET", "h", "/a").upstream_uri == "/base"
    assert rt.match("GET", "h", "/b/x").upstream_uri == "/base/b/x"
    assert rt.match("GET", "h", "/c/12/rest").upstream_uri == "/base/rest"


def test_hosts_methods_and_priority():
    rt = router("3.4.2",
                {"paths": ["/"]},
                {"paths": ["/api"], "hosts": ["api.example.com"]},
                {"paths": ["/api"], "hosts": ["*.example.org"], "methods": ["POST"]},
                {"paths": ["/api/long"]})
    assert matched(rt, "/api/x", host="api.example.com:8000") == "r1"
    assert matched(rt, "/api/x", host="other.com") == "r0"
    assert matched(rt, "/api/x", method="POST", host="a.example.org") == "r2"
    assert matched(rt, "/api/x", method="GET", host="a.example.org") == "r0"
    assert matched(rt, "/api/long/x", host="other.com") == "r3"   # longer prefix wins


def test_regex_priority():
    rt = router("3.4.2", {"paths": [r"~/p/\d+"], "regex_priority": 0}, {"paths": [r"~/p/1\d*"], "regex_priority": 10})
    assert matched(rt, "/p/123") == "r1"


def test_no_route():
    assert router("3.4.2").match("GET", "h", "/") is None


# -- forwarding through a running node ------------------------------------------------------------------

@pytest.fixture
def upstream():
    u = Upstream(name="up1")
    yield u
    u.close()


def dbless(nodes, tmp_path, version, doc, name="p"):
    path = tmp_path / ("%s.json" % name)
    path.write_text(json.dumps(doc))
    n = nodes.node(version, name, {"database": "off", "declarative_config": str(path)})
    r = n.start()
    assert r.returncode == 0, r.stderr
    return n


def test_proxy_forwards_with_kong_headers(nodes, tmp_path, upstream):
    n = dbless(nodes, tmp_path, "3.4.2", {"_format_version": "3.0", "services": [
        {"name": "svc", "url": upstream.url + "/base", "routes": [
            {"name": "r", "paths": ["/api"]}, {"name": "rx", "paths": [r"~/users/\d+$"]}]}]})
    st, h, doc = http("POST", n.proxy + "/api/items?x=1", body={"a": 1}, headers={"X-Test": "yes"})
    assert st == 200
    assert h["via"] == "kong/3.4.2"
    assert h["x-kong-node"] == n.host   # the node's own address when KONGSIM_NODE_NAME is unset
    assert "x-kong-upstream-latency" in h and "x-kong-proxy-latency" in h
    assert doc["upstream"] == "up1" and doc["method"] == "POST" and doc["path"] == "/base/items?x=1"
    assert doc["headers"]["x-test"] == "yes"
    assert doc["headers"]["x-forwarded-host"] == n.host
    assert doc["headers"]["x-forwarded-path"] == "/api/items"
    assert json.loads(doc["body"]) == {"a": 1}
    assert http("GET", n.proxy + "/users/7")[0] == 200
    st, h, doc = http("GET", n.proxy + "/nothing")
    assert (st, doc) == (404, {"message": "no Route matched with those values"})
    assert h["server"] == "kong/3.4.2"


def test_old_format_file_is_converted_on_3x_and_routes_regex(nodes, tmp_path, upstream):
    """A 2.1 declarative file loaded by 3.x: regex paths get `~` silently and keep matching."""
    doc = {"_format_version": "2.1", "services": [{"name": "svc", "url": upstream.url, "routes": [
        {"name": "rx", "paths": [r"/users/\d+$"]}]}]}
    old = dbless(nodes, tmp_path, "2.8.4", doc, name="old")
    new = dbless(nodes, tmp_path, "3.4.2", doc, name="new")
    assert http("GET", old.proxy + "/users/1")[0] == 200
    assert http("GET", new.proxy + "/users/1")[0] == 200
    assert http("GET", new.proxy + "/users/x")[0] == 404


def test_3x_file_with_unprefixed_regex_stops_matching(nodes, tmp_path, upstream):
    doc = {"_format_version": "3.0", "services": [{"name": "svc", "url": upstream.url, "routes": [
        {"name": "rx", "paths": [r"/users/\d+$"]}]}]}
    n = dbless(nodes, tmp_path, "3.4.2", doc)
    assert http("GET", n.proxy + "/users/1")[0] == 404


def test_upstream_down_gives_502(nodes, tmp_path):
    dead = Upstream()
    url = dead.url
    dead.close()
    n = dbless(nodes, tmp_path, "3.4.2", {"_format_version": "3.0", "services": [
        {"name": "svc", "url": url, "routes": [{"name": "r", "paths": ["/"]}]}]})
    st, _unused, doc = http("GET", n.proxy + "/")
    assert (st, doc) == (502, {"message": "An invalid response was received from the upstream server"})


def test_upstream_targets_round_robin(nodes, tmp_path):
    a, b = Upstream(name="a"), Upstream(name="b")
    try:
        n = dbless(nodes, tmp_path, "3.4.2", {
            "_format_version": "3.0",
            "upstreams": [{"name": "pool", "targets": [{"target": "%s:%d" % (a.host, a.port)},
                                                       {"target": "%s:%d" % (b.host, b.port)}]}],
            "services": [{"name": "svc", "host": "pool", "port": 80, "routes": [{"name": "r", "paths": ["/"]}]}]})
        seen = set(http("GET", n.proxy + "/")[2]["upstream"] for _unused in range(6))
        assert seen == {"a", "b"}
    finally:
        a.close()
        b.close()


def test_plugins_key_auth_and_request_termination(nodes, tmp_path, upstream):
    n = dbless(nodes, tmp_path, "3.4.2", {
        "_format_version": "3.0",
        "consumers": [{"username": "alice", "keyauth_credentials": [{"key": "secret-key"}]}],
        "services": [{"name": "svc", "url": upstream.url, "routes": [
            {"name": "auth", "paths": ["/auth"], "plugins": [{"name": "key-auth"}]},
            {"name": "closed", "paths": ["/closed"], "plugins": [
                {"name": "request-termination", "config": {"status_code": 403, "message": "closed"}}]}]}]})
    st, _unused, doc = http("GET", n.proxy + "/auth")
    assert (st, doc) == (401, {"message": "No API key found in request"})
    st, _unused, doc = http("GET", n.proxy + "/auth", headers={"apikey": "wrong"})
    assert (st, doc) == (401, {"message": "Invalid authentication credentials"})
    st, _unused, doc = http("GET", n.proxy + "/auth", headers={"apikey": "secret-key"})
    assert st == 200 and doc["headers"]["x-consumer-username"] == "alice"
    st, _unused, doc = http("GET", n.proxy + "/closed")
    assert (st, doc) == (403, {"message": "closed"})
    assert upstream.hits == 1


def test_traditional_node_follows_database_changes(nodes, pg_db, upstream):
    boot = nodes.node("3.4.2", "boot", dict(pg_db["conf"]))
    assert boot.inproc("migrations", "bootstrap", "-c", boot.conf_path).returncode == 0
    a = nodes.node("3.4.2", "a", dict(pg_db["conf"]))
    b = nodes.node("3.4.2", "b", dict(pg_db["conf"]))
    assert a.start().returncode == 0 and b.start().returncode == 0
    assert http("POST", a.admin + "/services", {"name": "s", "url": upstream.url})[0] == 201
    assert http("POST", a.admin + "/services/s/routes", {"name": "r", "paths": ["/r"]})[0] == 201
    assert http("GET", a.proxy + "/r")[0] == 200          # the writer's router is rebuilt at once
    assert wait_for(lambda: http("GET", b.proxy + "/r")[0] == 200, 5)   # the other after db_update_frequency


def test_blue_green_contract_on_the_proxy_path(nodes, pg_db, upstream):
    """Kong's own upgrade test: the 2.8 node works after `up` (016 rewrote its regex route to
    `~`), the 3.4 node works after `up` and after `finish`; a 2.8.0 node (router without `~`
    support) stops matching the rewritten regex route."""
    blue = nodes.node("2.8.4", "blue", dict(pg_db["conf"]))
    assert blue.inproc("migrations", "bootstrap", "-c", blue.conf_path).returncode == 0
    assert blue.start().returncode == 0
    old280 = nodes.node("2.8.0", "old280", dict(pg_db["conf"]))
    assert old280.start().returncode == 0
    assert http("POST", blue.admin + "/services", {"name": "s", "url": upstream.url})[0] == 201
    assert http("POST", blue.admin + "/services/s/routes", {"name": "rx", "paths": [r"/users/\d+$"]})[0] == 201
    assert wait_for(lambda: http("GET", old280.proxy + "/users/1")[0] == 200, 5)
    green = nodes.node("3.4.2", "green", dict(pg_db["conf"]))
    assert green.inproc("migrations", "up", "-c", green.conf_path).returncode == 0
    assert green.start().returncode == 0
    assert http("GET", green.proxy + "/users/1")[0] == 200
    assert http("GET", green.proxy + "/users/x")[0] == 404
    # the blue node re-reads the rewritten route (`~/users/\d+$`) and keeps serving it
    assert wait_for(lambda: http("GET", blue.admin + "/routes/rx")[2]["paths"] == [r"~/users/\d+$"], 5)
    assert wait_for(lambda: http("GET", old280.proxy + "/users/1")[0] == 404, 5)
    assert http("GET", blue.proxy + "/users/1")[0] == 200
    assert green.inproc("migrations", "finish", "-c", green.conf_path).returncode == 0
    assert http("GET", green.proxy + "/users/2")[0] == 200
