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
  generator can tell which node answered; ``KONGSIM_NODE_NAME``, else the node's proxy address).

Plugins simulated on the proxy path: ``request-termination`` and ``key-auth`` (enough to see that
plugins survive an upgrade); other plugins are accepted and ignored.
"""

import itertools
import socket
import threading
import time
from urllib.parse import parse_qs

from kongsim.httpserv import Headers, NodeHandler, read_headers

HOP_BY_HOP = frozenset(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                        "upgrade", "proxy-authenticate", "proxy-authorization", "content-length"])
REPLACED = frozenset(["host", "x-forwarded-for", "x-real-ip", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port",
                      "x-forwarded-path"])
NO_ROUTE = {"message": "no Route matched with those values"}
BAD_GATEWAY = {"message": "An invalid response was received from the upstream server"}
GATEWAY_TIMEOUT = {"message": "The upstream server is timed out"}
# [inferred] what a node made unhealthy by the fault answers: Kong's own 503 text for a balancer
# without a healthy target.
UNAVAILABLE = {"message": "failure to get a peer from the ring-balancer"}

_pool = threading.local()
_rr = itertools.count()


class UpstreamError(Exception):
    pass


class UpstreamConn(object):
    """One keep-alive HTTP/1.1 connection to an upstream, with a light response parser."""

    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = self.sock.makefile("rb")

    def close(self):
        try:
            self.rfile.close()
            self.sock.close()
        except OSError:
            pass

    def exchange(self, method, uri, headers, body, timeout):
        """Send one request, read one response: (status, reason, [(k, v)], body, will_close)."""
        self.sock.settimeout(timeout)
        head = ["%s %s HTTP/1.1\r\n" % (method, uri)]
        for k, v in headers:
            head.append("%s: %s\r\n" % (k, v))
        head.append("\r\n")
        self.sock.sendall("".join(head).encode("iso-8859-1") + (body or b""))
        line = self.rfile.readline(65537)
        if not line:
            raise UpstreamError("upstream prematurely closed connection")
        parts = line.decode("iso-8859-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise UpstreamError("upstream sent an invalid status line")
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        try:
            pairs = read_headers(self.rfile)
        except ValueError as e:
            raise UpstreamError(str(e))
        h = Headers(pairs)
        will_close = (h.get("Connection") or "").lower() == "close" or parts[0] == "HTTP/1.0"
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            data = b""
        elif "chunked" in (h.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            data = b"".join(chunks)
        elif h.get("Content-Length") is not None:
            n = int(h.get("Content-Length"))
            data = self.rfile.read(n)
            if len(data) != n:
                raise UpstreamError("upstream prematurely closed connection while reading the body")
        else:
            data = self.rfile.read()
            will_close = True
        return status, reason, pairs, data, will_close


def _conn(host, port, timeout):
    conns = getattr(_pool, "conns", None)
    if conns is None:
        conns = _pool.conns = {}
    key = (host, port)
    c = conns.get(key)
    if c is not None:
        return c, True
    c = conns[key] = UpstreamConn(host, port, timeout)
    return c, False


def _drop(host, port):
    conns = getattr(_pool, "conns", None) or {}
    c = conns.pop((host, port), None)
    if c is not None:
        c.close()


def _split_target(target, default_port=8000):
    host, _unused, port = (target or "").rpartition(":")
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
                ("X-Kong-Node", self.node.node_name)] + list(headers or [])
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
                              headers=[("X-Kong-Node", node.node_name)])
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
        client_ip = self.client_address[0]
        hdrs = []
        for k, v in self.headers.items():
            lk = k.lower()
            if lk not in HOP_BY_HOP and lk not in REPLACED:
                hdrs.append((k, v))
        prev = self.headers.get("X-Forwarded-For")
        hdrs.append(("X-Forwarded-For", (prev + ", " + client_ip) if prev else client_ip))
        hdrs.append(("X-Real-IP", client_ip))
        hdrs.append(("X-Forwarded-Proto", "http"))
        hdrs.append(("X-Forwarded-Host", (self.headers.get("Host") or "").split(":")[0]))
        hdrs.append(("X-Forwarded-Port", str(self.server.server_port)))
        hdrs.append(("X-Forwarded-Path", self.path.partition("?")[0]))
        if m.route.get("preserve_host"):
            hdrs.append(("Host", self.headers.get("Host") or host))
        else:
            hdrs.append(("Host", host if port in (80, 443) else "%s:%d" % (host, port)))
        hdrs.extend(extra_req)
        if body or self.command in ("POST", "PUT", "PATCH"):
            hdrs.append(("Content-Length", str(len(body))))
        t_up = time.time()
        result = None
        for attempt in (1, 2):
            try:
                c, reused = _conn(host, port, timeout)
            except socket.timeout:
                return self._kong_response(504, GATEWAY_TIMEOUT, t0)
            except OSError:
                return self._kong_response(502, BAD_GATEWAY, t0)
            try:
                result = c.exchange(self.command, m.upstream_uri, hdrs, body, timeout)
                break
            except socket.timeout:
                _drop(host, port)
                return self._kong_response(504, GATEWAY_TIMEOUT, t0)
            except (UpstreamError, OSError, ValueError):
                _drop(host, port)
                if reused and attempt == 1:
                    continue  # a stale keep-alive connection: retry once on a fresh one
                return self._kong_response(502, BAD_GATEWAY, t0)
        status, reason, up_headers, data, will_close = result
        up_ms = int((time.time() - t_up) * 1000)
        if will_close:
            _drop(host, port)
        out = ["HTTP/1.1 %d %s\r\n" % (status, reason)]
        for k, v in up_headers:
            if k.lower() not in HOP_BY_HOP:
                out.append("%s: %s\r\n" % (k, v))
        out.append("Content-Length: %d\r\n" % len(data))
        out.append("X-Kong-Upstream-Latency: %d\r\n" % up_ms)
        out.append("X-Kong-Proxy-Latency: %d\r\n" % max(0, int((t_up - t0) * 1000)))
        out.append("Via: %s\r\n" % node.via)
        out.append("X-Kong-Node: %s\r\n" % node.node_name)
        if self.server.closing or self.close_connection:
            out.append("Connection: close\r\n")
            self.close_connection = True
        out.append("\r\n")
        payload = "".join(out).encode("iso-8859-1")
        if self.command != "HEAD":
            payload += data
        self.wfile.write(payload)
        self.log_request(status)
