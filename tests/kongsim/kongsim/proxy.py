"""The proxy listener: route matching (kongsim.router) and forwarding to real upstream servers.

What a client sees, as with Kong:
- a matched request is forwarded over HTTP/1.1 keep-alive to the service's host:port (or to the
  targets of the upstream of that name, round-robin) with ``X-Forwarded-*`` and ``X-Real-IP``;
  the response comes back with ``Via: kong/<version>``, ``X-Kong-Upstream-Latency`` and
  ``X-Kong-Proxy-Latency``;
- no route: 404 ``{"message":"no Route matched with those values"}``;
- upstream refuses or breaks: 502 ``{"message":"An invalid response was received from the
  upstream server"}``; upstream too slow (``read_timeout``): 504 ``{"message":"The upstream server
  is timed out"}``; responses Kong makes itself carry ``Server: kong/<version>``;
- every response carries ``X-Kong-Node: <node name>`` (simulator-only header, so the lab's load
  generator can tell which node answered; ``KONGSIM_NODE_NAME`` or the hostname).

Plugins simulated on the proxy path: ``request-termination`` and ``key-auth`` (enough to see that
plugins survive an upgrade); other plugins are accepted and ignored.
"""

import http.client
import itertools
import socket
import threading
import time
from urllib.parse import parse_qs

from kongsim.httpserv import NodeHandler

HOP_BY_HOP = frozenset(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                        "upgrade", "proxy-authenticate", "proxy-authorization", "content-length"])
NO_ROUTE = {"message": "no Route matched with those values"}
BAD_GATEWAY = {"message": "An invalid response was received from the upstream server"}
GATEWAY_TIMEOUT = {"message": "The upstream server is timed out"}
# [inferred] what a node made unhealthy by the fault answers: Kong's own 503 text for a balancer
# without a healthy target.
UNAVAILABLE = {"message": "failure to get a peer from the ring-balancer"}

_pool = threading.local()
_rr = itertools.count()


def _conn(host, port, timeout):
    conns = getattr(_pool, "conns", None)
    if conns is None:
        conns = _pool.conns = {}
    key = (host, port)
    c = conns.get(key)
    reused = c is not None
    if c is None:
        c = conns[key] = http.client.HTTPConnection(host, port, timeout=timeout)
    else:
        c.timeout = timeout
        if c.sock is not None:
            c.sock.settimeout(timeout)
    return c, reused


def _drop(host, port):
    conns = getattr(_pool, "conns", None) or {}
    c = conns.pop((host, port), None)
    if c is not None:
        c.close()


def _split_target(target, default_port=8000):
    host, _, port = (target or "").rpartition(":")
    if not host:
        return target, default_port
    try:
        return host, int(port)
    except ValueError:
        return target, default_port


class ProxyHandler(NodeHandler):
    server_version = "kong"

    def dispatch(self):
        node = self.node
        t0 = time.time()
        n = node.count_request(proxy=True)
        try:
            self._proxy(node, t0)
        finally:
            node.after_proxy_request(n)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = dispatch

    def _kong_response(self, status, body, t0, headers=None):
        hdrs = [("X-Kong-Response-Latency", str(int((time.time() - t0) * 1000))),
                ("X-Kong-Node", self.node.hostname)] + list(headers or [])
        self.send_json(status, body, headers=hdrs)

    def _proxy(self, node, t0):
        body = self.read_body()
        if node.faults.get("unhealthy"):
            return self._kong_response(503, UNAVAILABLE, t0)
        snap = node.snapshot
        if snap is None:
            return self._kong_response(404, NO_ROUTE, t0)
        m = snap.router.match(self.command, self.headers.get("Host"), self.path)
        if m is None:
            return self._kong_response(404, NO_ROUTE, t0)
        plugins = snap.plugins_for(m.route, m.service)
        extra_req = []
        if "request-termination" in plugins:
            cfg = plugins["request-termination"].get("config") or {}
            code = int(cfg.get("status_code") or 503)
            if cfg.get("body"):
                self.send_raw(code, cfg["body"], content_type=cfg.get("content_type") or "application/json",
                              headers=[("X-Kong-Node", node.hostname)])
                return
            return self._kong_response(code, {"message": cfg.get("message") or "Service unavailable"}, t0)
        if "key-auth" in plugins:
            cfg = plugins["key-auth"].get("config") or {}
            names = cfg.get("key_names") or ["apikey"]
            key = None
            query = parse_qs(self.path.partition("?")[2])
            for kn in names:
                key = self.headers.get(kn) or (query.get(kn) or [None])[0]
                if key:
                    break
            if not key:
                return self._kong_response(401, {"message": "No API key found in request"}, t0,
                                           headers=[("WWW-Authenticate", 'Key realm="kong"')])
            cred = snap.keyauth.get(key)
            if cred is None:
                return self._kong_response(401, {"message": "Invalid authentication credentials"}, t0)
            consumer_id = (cred.get("consumer") or {}).get("id")
            for c in snap.config.get("consumers") or []:
                if c.get("id") == consumer_id:
                    extra_req += [("X-Consumer-ID", c["id"]), ("X-Consumer-Username", c.get("username") or "")]
        svc = m.service
        if svc is None:
            return self._kong_response(503, {"message": "no Service found with those values"}, t0)
        host = svc.get("host")
        port = int(svc.get("port") or 80)
        targets = snap.upstream_targets.get(host)
        if targets is not None:
            if not targets:
                return self._kong_response(503, UNAVAILABLE, t0)
            host, port = _split_target(targets[next(_rr) % len(targets)])
        timeout = max(int(svc.get("connect_timeout") or 60000), int(svc.get("read_timeout") or 60000)) / 1000.0
        headers = {}
        for k, v in self.headers.items():
            if k.lower() not in HOP_BY_HOP and k.lower() != "host":
                headers[k] = v
        client_ip = self.client_address[0]
        prev = self.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = (prev + ", " + client_ip) if prev else client_ip
        headers["X-Real-IP"] = client_ip
        headers["X-Forwarded-Proto"] = "http"
        headers["X-Forwarded-Host"] = (self.headers.get("Host") or "").split(":")[0]
        headers["X-Forwarded-Port"] = str(self.server.server_port)
        headers["X-Forwarded-Path"] = self.path.partition("?")[0]
        if m.route.get("preserve_host"):
            headers["Host"] = self.headers.get("Host") or host
        else:
            headers["Host"] = host if port in (80, 443) else "%s:%d" % (host, port)
        for k, v in extra_req:
            headers[k] = v
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        t_up = time.time()
        resp = None
        for attempt in (1, 2):
            c, reused = _conn(host, port, timeout)
            try:
                c.request(self.command, m.upstream_uri, body=body or None, headers=headers)
                resp = c.getresponse()
                data = resp.read()
                break
            except socket.timeout:
                _drop(host, port)
                return self._kong_response(504, GATEWAY_TIMEOUT, t0)
            except (http.client.HTTPException, OSError):
                _drop(host, port)
                if reused and attempt == 1:
                    continue  # a stale keep-alive connection: retry once on a fresh one
                return self._kong_response(502, BAD_GATEWAY, t0)
        up_ms = int((time.time() - t_up) * 1000)
        if resp.will_close:
            _drop(host, port)
        self.send_response_only(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Kong-Upstream-Latency", str(up_ms))
        self.send_header("X-Kong-Proxy-Latency", str(max(0, int((t_up - t0) * 1000))))
        self.send_header("Via", self.node.via)
        self.send_header("X-Kong-Node", self.node.hostname)
        if self.server.closing:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.log_request(resp.status)
