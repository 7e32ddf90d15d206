"""Issue 3's acceptance with the lab: Kong's blue-green contract, and the hybrid version rules."""

import json
import time
import urllib.error
import urllib.request

from lab import haproxy


def get(url, timeout=3):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.headers, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, None


def eventually(fn, timeout=10.0, interval=0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    return last


def serves(lab, node, version):
    """The node answers the plain and the regex route, with its version in Via."""
    base = lab.proxy_url(lab.node(node))
    for path, upstream_path in (("/echo/x", "/x"), ("/users/7/profile", "/users/7/profile")):
        code, headers, doc = get(base + path)
        if code != 200 or doc["path"] != upstream_path or "kong/%s" % version not in (headers.get("Via") or ""):
            return False
    return True


def test_blue_green_contract_28_to_34(lab_factory):
    lab = lab_factory("traditional", nodes=2, version="2.8.4", offer=["3.4.2"])

    def conf(n):
        return lab.node_dir(n) + "/etc/kong/kong.conf"

    assert serves(lab, "kong1", "2.8.4") and serves(lab, "kong2", "2.8.4")

    # kong2 becomes the first Y node: out of the load balancer, stopped, 3.4.2 installed
    haproxy.set_server_state(lab.sock, "kong_proxy", "kong2", "drain")
    lab.service("kong2", "quit")
    lab.install("kong2", "3.4.2")
    assert lab.kong("kong2", ["version"]).stdout.strip() == "3.4.2"

    # a 3.4 node cannot start before 'up': new migrations
    r = lab.service("kong2", "start", check=False)
    assert r.returncode == 1 and "New migrations available; run 'kong migrations up' to proceed" in r.stderr

    # migrations up with the 3.4.2 binary
    r = lab.kong("kong2", ["migrations", "up", "-c", conf("kong2")])
    assert r.returncode == 0, r.stderr
    assert "Database has pending migrations; run 'kong migrations finish' when ready" in r.stdout
    r = lab.kong("kong2", ["migrations", "list", "-c", conf("kong2")])
    assert r.returncode == 4 and "016_280_to_300" in r.stdout

    # the 2.8 node still serves (its regex route, now stored with '~', too)
    time.sleep(1.5)  # one db_update_frequency: kong1 has reloaded the rewritten routes
    assert eventually(lambda: serves(lab, "kong1", "2.8.4"), 5)

    # a 3.4 node started on the same database serves, with pending migrations
    r = lab.service("kong2", "start")
    assert "Database has pending migrations" in r.stdout and "Kong started" in r.stdout
    assert eventually(lambda: serves(lab, "kong2", "3.4.2"), 10)
    haproxy.set_server_state(lab.sock, "kong_proxy", "kong2", "ready")
    haproxy.wait_server_status(lab.sock, "kong_proxy", "kong2", ("UP",), timeout=10)
    seen = set()
    for _unused in range(20):
        _unused, headers, _unused = get(lab.lb_url() + "/echo")
        seen.add(headers.get("Via"))
    assert {"kong/2.8.4", "kong/3.4.2"} <= {v.split(" ")[-1] for v in seen if v}, seen

    # finish: the point of no return; the 3.4 node still serves
    r = lab.kong("kong2", ["migrations", "finish", "-c", conf("kong2")])
    assert r.returncode == 0, r.stderr
    r = lab.kong("kong2", ["migrations", "list", "-c", conf("kong2")])
    assert r.returncode == 0, r.stdout
    time.sleep(1.5)
    assert eventually(lambda: serves(lab, "kong2", "3.4.2"), 5)


def test_hybrid_34_dp_rejected_by_33_cp(lab_factory):
    lab = lab_factory("hybrid", data_planes=2, version="3.3.1", offer=["3.4.2"])
    cp = lab.admin_url(lab.node("cp1"))
    _unused, _unused, doc = get(cp + "/clustering/data-planes")
    assert {d["sync_status"] for d in doc["data"]} == {"normal"} and len(doc["data"]) == 2

    lab.service("dp2", "quit")
    lab.install("dp2", "3.4.2")
    lab.service("dp2", "start")
    dp2 = lab.node("dp2")["address"]

    def rejected():
        _unused, _unused, d = get(cp + "/clustering/data-planes")
        rows = [x for x in d["data"] if x["ip"] == dp2 and x["version"] == "3.4.2"]
        return rows if rows and rows[0]["sync_status"] == "kong_version_incompatible" else None

    rows = eventually(rejected, 15)
    assert rows, get(cp + "/clustering/data-planes")[2]
    # the 3.3 data plane keeps its normal status
    _unused, _unused, d = get(cp + "/clustering/data-planes")
    dp1 = lab.node("dp1")["address"]
    assert [x["sync_status"] for x in d["data"] if x["ip"] == dp1] == ["normal"]
