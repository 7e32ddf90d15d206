# -*- coding: utf-8 -*-
"""Admin/Status API client and facts, against a real local HTTP server answering like Kong (contract.md section 6)."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.kongops.upgrade.plugins.module_utils import kong_admin as ka


class FakeKongHandler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    routes = {}
    seen_tokens = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        self.seen_tokens.append(self.headers.get("Kong-Admin-Token"))
        path = self.path
        entry = self.routes.get(path) or self.routes.get(path.split("?")[0])
        if entry is None:
            entry = (404, {"message": "Not found"})
        status, body = entry
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeKongHandler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    FakeKongHandler.seen_tokens = []
    yield "http://127.0.0.1:%d" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def cp_routes(base):
    return {
        "/": (200, {"version": "3.4.2", "node_id": "n-1", "hostname": "cp1",
                    "configuration": {"role": "control_plane", "database": "postgres", "prefix": "/usr/local/kong", "pg_password": "******"},
                    "plugins": {"enabled_in_cluster": ["key-auth"]}}),
        "/status": (200, {"database": {"reachable": True}, "server": {"total_requests": 3}}),
        "/services": (200, {"data": [{"id": "s1"}, {"id": "s2"}], "next": "/services?offset=abc"}),
        "/services?offset=abc": (200, {"data": [{"id": "s3"}], "next": None}),
        "/routes": (200, {"data": [{"id": "r1"}], "next": None}),
        "/plugins": (200, {"data": [], "next": None}),
        "/consumers": (200, {"data": [], "next": None}),
        "/upstreams": (200, {"data": [], "next": None}),
        "/certificates": (200, {"data": [], "next": None}),
        "/snis": (200, {"data": [], "next": None}),
        "/clustering/data-planes": (200, {"data": [{"id": "dp1", "hostname": "dp1", "ip": "127.0.0.5", "version": "3.4.2",
                                                    "sync_status": "normal", "config_hash": "a" * 32, "last_seen": 1, "ttl": 9}],
                                          "next": None}),
    }


def test_facts_control_plane(server):
    FakeKongHandler.routes = cp_routes(server)
    admin = ka.KongApiClient(server, token="tok-123")
    f = ka.gather_facts(admin, None)
    assert f["version"] == "3.4.2" and f["edition"] == "oss" and f["role"] == "control_plane" and f["node_id"] == "n-1"
    assert f["entities"]["services"] == 3 and f["entities"]["routes"] == 1
    assert f["entities"]["ca_certificates"] is None  # 404 -> not available
    assert f["data_planes"] == [{"id": "dp1", "hostname": "dp1", "ip": "127.0.0.5", "version": "3.4.2", "sync_status": "normal",
                                 "config_hash": "a" * 32, "last_seen": 1}]
    assert set(FakeKongHandler.seen_tokens) == {"tok-123"}


def test_readiness_status_api(server):
    FakeKongHandler.routes = {"/status/ready": (503, {"message": "no configuration available (empty configuration present)"})}
    assert ka.readiness(ka.KongApiClient(server)) == (False, "no configuration available (empty configuration present)", True)
    FakeKongHandler.routes = {"/status/ready": (200, {"message": "ready"})}
    assert ka.readiness(ka.KongApiClient(server)) == (True, "ready", True)
    FakeKongHandler.routes = {}
    assert ka.readiness(ka.KongApiClient(server))[2] is False


def test_dbless_hash_and_pre_33_readiness(server):
    routes = cp_routes(server)
    routes["/"] = (200, {"version": "2.8.4", "node_id": "n-2", "configuration": {"role": "traditional", "database": "off"}})
    routes["/status"] = (200, {"configuration_hash": "b" * 32, "server": {}})
    FakeKongHandler.routes = routes
    f = ka.gather_facts(ka.KongApiClient(server), ka.KongApiClient(server), count_entities=False)
    assert f["configuration_hash"] == "b" * 32 and f["ready"] is True and f["ready_endpoint"] is False
    assert f["data_planes"] is None and "entities" not in f


def test_unreachable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ka.KongApiUnreachable):
        ka.KongApiClient("http://127.0.0.1:%d" % port, timeout=2).get("/")


def test_edition():
    assert ka.edition_of("3.8.0.0-enterprise-edition") == "enterprise"
    assert ka.edition_of("3.4.3.3") == "enterprise"
    assert ka.edition_of("3.4.2") == "oss"


@pytest.mark.parametrize("raw,plain", [
    ("3.8.0.0-enterprise-edition", "3.8.0.0"), ("3.4.3.3-enterprise", "3.4.3.3"), ("3.4.3.3", "3.4.3.3"), ("3.4.2", "3.4.2"),
    ("3.4.2-rc1", "3.4.2-rc1"), (None, None),
])
def test_release_of(raw, plain):
    assert ka.release_of(raw) == plain


def test_prefix_facts(tmp_path):
    import os
    (tmp_path / "pids").mkdir()
    (tmp_path / "pids" / "nginx.pid").write_text("%d\n" % os.getpid())
    f = ka.prefix_facts(str(tmp_path))
    assert f["pid"] == os.getpid() and f["pid_running"] is True
    (tmp_path / "pids" / "nginx.pid").write_text("999999999\n")
    assert ka.prefix_facts(str(tmp_path))["pid_running"] is False


def test_status_facts_data_plane(server):
    FakeKongHandler.routes = {"/status": (200, {"configuration_hash": "c" * 32, "server": {"total_requests": 1}}),
                              "/status/ready": (503, {"message": "no configuration available (configuration hash is not initialized)"})}
    f = ka.status_facts(ka.KongApiClient(server))
    assert f["source"] == "status_api" and f["configuration_hash"] == "c" * 32
    assert f["ready"] is False and "not initialized" in f["ready_reason"]
