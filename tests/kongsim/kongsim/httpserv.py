"""Standard-library HTTP servers of a simulated node, with nginx-like graceful shutdown.

Every listener of a node (proxy, Admin API, Status API, cluster) is a :class:`NodeHTTPServer`:
a threading server that

- sets ``disable_nagle_algorithm`` and a deep accept queue (conventions.md: without them each
  keep-alive response stalls about 40 ms);
- keeps track of its open connections and whether each one is in the middle of a request, so
  that :meth:`NodeHTTPServer.graceful_close` can behave like nginx on SIGQUIT: stop accepting,
  close idle keep-alive connections, let requests in flight finish (their response carries
  ``Connection: close``), and report when the last one is done.
"""

import email.utils
import json
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEEPALIVE_TIMEOUT = 60  # nginx keepalive_timeout default (seconds)
MAX_HEADERS = 100

_date_cache = [0, ""]


def http_date():
    """RFC 7231 date, formatted once per second (email.utils is slow on the hot path)."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[1] = email.utils.formatdate(now, usegmt=True)
        _date_cache[0] = now
    return _date_cache[1]


class Headers(object):
    """A light, case-insensitive header map (http.client.parse_headers costs ~0.1-0.3 ms per
    message through the email package: too slow for a proxy hot path)."""

    __slots__ = ("_pairs", "_map")

    def __init__(self, pairs):
        self._pairs = pairs
        m = {}
        for k, v in pairs:
            lk = k.lower()
            m[lk] = (m[lk] + ", " + v) if lk in m else v
        self._map = m

    def get(self, name, default=None):
        return self._map.get(name.lower(), default)

    def __getitem__(self, name):
        return self._map.get(name.lower())

    def __contains__(self, name):
        return name.lower() in self._map

    def items(self):
        return list(self._pairs)

    def keys(self):
        return [k for k, _unused in self._pairs]


def read_headers(rfile):
    """Header lines up to the blank line -> [(name, value)]; ValueError on a bad message."""
    pairs = []
    while True:
        line = rfile.readline(65537)
        if not line:
            raise ValueError("connection closed in headers")
        if line in (b"\r\n", b"\n"):
            return pairs
        if len(line) > 65536 or len(pairs) >= MAX_HEADERS:
            raise ValueError("header too long")
        if line[:1] in (b" ", b"\t") and pairs:   # obsolete folding
            k, v = pairs[-1]
            pairs[-1] = (k, v + " " + line.strip().decode("iso-8859-1"))
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise ValueError("bad header line")
        pairs.append((name.strip().decode("iso-8859-1"), value.strip().decode("iso-8859-1")))


class NodeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 2048

    def __init__(self, addr, handler, node, name):
        self.node = node
        self.listener_name = name
        self.closing = False
        self._conns = {}          # handler -> busy (bool)
        self._lock = threading.Lock()
        self._idle_cv = threading.Condition(self._lock)
        ThreadingHTTPServer.__init__(self, addr, handler)

    def server_bind(self):
        # Like nginx without `reuseport`: a second node on the same address:port must fail.
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(self.server_address)
        host, port = self.socket.getsockname()[:2]
        self.server_name = host
        self.server_port = port

    # -- connection bookkeeping (called by NodeHandler) ------------------------------------------
    def conn_open(self, h):
        with self._lock:
            self._conns[h] = False

    def conn_busy(self, h, busy):
        """Mark ``h`` busy/idle; returns False when the server is closing and ``h`` was idle."""
        with self._lock:
            if busy and self.closing:
                return False
            self._conns[h] = busy
            if not busy:
                self._idle_cv.notify_all()
            return True

    def conn_close(self, h):
        with self._lock:
            self._conns.pop(h, None)
            self._idle_cv.notify_all()

    def busy_count(self):
        with self._lock:
            return sum(1 for b in self._conns.values() if b)

    def connection_count(self):
        with self._lock:
            return len(self._conns)

    def start(self):
        t = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1},
                             name="srv-%s" % self.listener_name, daemon=True)
        t.start()
        self._thread = t
        return t

    def stop_accepting(self):
        """Stop the accept loop and close the listening socket (nginx closes listeners on QUIT)."""
        with self._lock:
            self.closing = True
        self.shutdown()
        self.server_close()

    def close_idle(self):
        """Shut down every idle keep-alive connection (nginx does this on graceful shutdown)."""
        with self._lock:
            idle = [h for h, busy in self._conns.items() if not busy]
        for h in idle:
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def wait_drained(self, timeout):
        """Wait until no request is in flight; True when drained within ``timeout`` seconds."""
        deadline = time.time() + timeout
        with self._lock:
            while any(self._conns.values()):
                left = deadline - time.time()
                if left <= 0:
                    return False
                self._idle_cv.wait(min(left, 0.2))
        return True

    def handle_error(self, request, client_address):  # a reset client is not worth a traceback
        pass


class NodeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = KEEPALIVE_TIMEOUT

    def setup(self):
        BaseHTTPRequestHandler.setup(self)
        self.server.conn_open(self)

    def finish(self):
        try:
            BaseHTTPRequestHandler.finish(self)
        finally:
            self.server.conn_close(self)

    def handle_one_request(self):
        # Read the request line while idle; mark busy as soon as a request arrives.
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except (socket.timeout, OSError):
            self.close_connection = True
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        if not self.server.conn_busy(self, True):
            # closing and this request raced the shutdown: nginx would have closed the socket
            self.close_connection = True
            return
        try:
            if len(self.raw_requestline) > 65536:
                self.send_error(414)
                return
            if not self.parse_request():
                return
            self.dispatch()
            try:
                self.wfile.flush()
            except OSError:
                self.close_connection = True
        finally:
            if self.server.closing:
                self.close_connection = True
            self.server.conn_busy(self, False)

    def dispatch(self):
        raise NotImplementedError

    def parse_request(self):
        """BaseHTTPRequestHandler.parse_request with a light header parser."""
        self.command = None
        self.request_version = version = self.default_request_version
        self.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        words = requestline.split()
        if len(words) != 3 or not words[2].startswith("HTTP/"):
            self.send_error(HTTPStatus.BAD_REQUEST, "Bad request syntax (%r)" % requestline)
            return False
        command, path, version = words
        try:
            major, minor = version.split("/", 1)[1].split(".", 1)
            vt = (int(major), int(minor))
        except ValueError:
            self.send_error(HTTPStatus.BAD_REQUEST, "Bad request version (%r)" % version)
            return False
        if vt >= (2, 0):
            self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "Invalid HTTP version (%s)" % version)
            return False
        self.command, self.path, self.request_version = command, path, version
        try:
            self.headers = Headers(read_headers(self.rfile))
        except ValueError:
            self.send_error(HTTPStatus.BAD_REQUEST, "Bad header")
            return False
        conntype = (self.headers.get("Connection") or "").lower()
        if vt >= (1, 1):
            self.close_connection = conntype == "close"
        else:
            self.close_connection = conntype != "keep-alive"
        if (self.headers.get("Expect") or "").lower() == "100-continue" and vt >= (1, 1):
            if not self.handle_expect_100():
                return False
        return True

    def date_time_string(self, timestamp=None):
        if timestamp is None:
            return http_date()
        return BaseHTTPRequestHandler.date_time_string(self, timestamp)

    # -- helpers ----------------------------------------------------------------------------------
    @property
    def node(self):
        return self.server.node

    def version_string(self):
        return self.node.server_header

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 0:
            return self.rfile.read(n)
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        return b""

    def send_raw(self, status, body, content_type="application/json; charset=utf-8", headers=None):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or []):
            self.send_header(k, v)
        if self.server.closing:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, obj, headers=None):
        self.send_raw(status, json.dumps(obj), headers=headers)

    def send_empty(self, status, headers=None):
        self.send_response(status)
        for k, v in (headers or []):
            self.send_header(k, v)
        if status not in (204, 304):
            self.send_header("Content-Length", "0")
        if self.server.closing:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

    def log_message(self, fmt, *args):
        self.node.access_log(self.server.listener_name, self, fmt % args)

    def log_request(self, code="-", size="-"):
        self.node.access_log(self.server.listener_name, self, '"%s" %s' % (self.requestline, code))
