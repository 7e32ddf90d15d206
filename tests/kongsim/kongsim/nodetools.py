"""Helpers for tests and benchmarks that run simulated nodes (not part of the `kong` command).

- :func:`free_address`: a 127.x.y.z address nobody listens on at the given ports;
- :class:`Upstream`: an in-process upstream HTTP server (``/slow?s=1.5`` sleeps; everything else
  echoes method, path and headers as JSON);
- :class:`Nodes`: starts nodes with an installed ``kong`` wrapper and a kong.conf it writes, and
  at teardown kills whatever is still running in every prefix it created (by the PID in
  ``pids/nginx.pid``, after checking the process is still ours).
"""

import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from kongsim import pids
from kongsim.httpserv import NodeHandler
from kongsim.pids import pid_alive  # noqa: F401  (re-exported for the tests)


def _bindable(host, port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_address(ports=(8000, 8001, 8005, 8007), rng=random):
    """A random 127.x.y.z (x in 100..199) where every one of ``ports`` can be bound."""
    for _unused in range(200):
        host = "127.%d.%d.%d" % (rng.randint(100, 199), rng.randint(0, 255), rng.randint(2, 254))
        if all(_bindable(host, p) for p in ports):
            return host
    raise RuntimeError("no free 127.x.y.z address found")


class _UpstreamHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    parse_request = NodeHandler.parse_request        # the light header parser
    date_time_string = NodeHandler.date_time_string

    def _answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        body_in = self.rfile.read(n) if n else b""
        u = urlsplit(self.path)
        self.server.started += 1
        if u.path.endswith("/slow"):
            time.sleep(float((parse_qs(u.query).get("s") or ["1"])[0]))
        self.server.hits += 1
        doc = {"upstream": self.server.name, "method": self.command, "path": self.path,
               "headers": dict((k.lower(), v) for k, v in self.headers.items()), "body": body_in.decode("utf-8", "replace")}
        out = json.dumps(doc).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, *a):
        pass


class Upstream(object):
    def __init__(self, host="127.0.0.1", port=0, name="upstream"):
        self.srv = ThreadingHTTPServer((host, port), _UpstreamHandler)
        self.srv.daemon_threads = True
        self.srv.name = name
        self.srv.hits = 0
        self.srv.started = 0
        self.host, self.port = self.srv.server_address[:2]
        self.url = "http://%s:%d" % (self.host, self.port)
        self._t = threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._t.start()

    @property
    def hits(self):
        """Requests answered."""
        return self.srv.hits

    @property
    def started(self):
        """Requests received (a /slow one counts here before it is answered)."""
        return self.srv.started

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def clean_env(extra=None):
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("KONG_") and k != "KONGSIM_FAULTS")
    env.update(extra or {})
    return env


def _ours(pid):
    """A simulated node (kongsim in its command line or environment), not a recycled PID of something else."""
    return "kongsim" in pids.cmdline(pid) + pids.environ(pid)


class Node(object):
    def __init__(self, nodes, name, kong, conf_path, prefix, host, version=None):
        self.nodes, self.name, self.kong, self.conf_path, self.prefix, self.host = nodes, name, kong, conf_path, prefix, host
        self.version = version
        self.proxy = "http://%s:8000" % host
        self.admin = "http://%s:8001" % host
        self.status = "http://%s:8007" % host

    def run(self, *args, **kw):
        return self.nodes.run(self.kong, *args, **kw)

    def inproc(self, *args):
        """Run a `kong` command that starts no node (e.g. ``migrations bootstrap``) in this process
        with this node's release: same code path as the wrapper, without a new interpreter."""
        import contextlib
        import io
        from kongsim import cli
        out, err = io.StringIO(), io.StringIO()
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(clean_env())
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = cli.main([str(a) for a in args], self.version)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return subprocess.CompletedProcess(["kong"] + list(args), rc, out.getvalue(), err.getvalue())

    def start(self, *extra, **kw):
        return self.run("start", "-c", self.conf_path, *extra, **kw)

    def pid(self):
        return pids.nginx_pid(self.prefix)


class Nodes(object):
    """Factory of nodes for one test; :meth:`cleanup` kills every node still running."""

    def __init__(self, base_dir, installed_kong):
        self.base = base_dir
        self.installed_kong = installed_kong
        self.prefixes = []

    def run(self, kong, *args, **kw):
        env = clean_env(kw.pop("env", None))
        return subprocess.run([kong] + [str(a) for a in args], env=env, cwd=self.base, capture_output=True, text=True,
                              timeout=kw.pop("timeout", 60), check=kw.pop("check", False), **kw)

    def node(self, version, name, values, host=None, kong=None):
        """Write ``<base>/<name>.conf`` (mode 0600) from ``values`` plus per-node prefix and
        listeners on a free address; return a :class:`Node` (not started)."""
        host = host or free_address()
        prefix = os.path.join(self.base, name)
        conf = {"prefix": prefix, "proxy_listen": "%s:8000" % host, "admin_listen": "%s:8001" % host,
                "status_listen": "%s:8007" % host, "db_update_frequency": "1"}
        if values.get("role") == "control_plane":
            conf["cluster_listen"] = "%s:8005" % host
        conf.update(values)
        path = os.path.join(self.base, name + ".conf")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            for k, v in conf.items():
                if v is not None:
                    f.write("%s = %s\n" % (k, v))
        self.prefixes.append(prefix)
        return Node(self, name, kong or self.installed_kong(version), path, prefix, host, version)

    def cleanup(self):
        for prefix in self.prefixes:
            pid = pids.nginx_pid(prefix)
            if pid and pid_alive(pid) and _ours(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
                pids.wait_gone(pid, 1.0)


def http(method, url, body=None, headers=None, timeout=10):
    """(status, headers dict lower-cased, parsed JSON or text) with http.client."""
    import http.client
    u = urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        data = None
        hdrs = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode("utf-8") if not isinstance(body, (bytes, str)) else body
            hdrs.setdefault("Content-Type", "application/json")
        c.request(method, u.path + ("?" + u.query if u.query else ""), body=data, headers=hdrs)
        r = c.getresponse()
        raw = r.read()
        h = dict((k.lower(), v) for k, v in r.getheaders())
    finally:
        c.close()
    try:
        doc = json.loads(raw.decode("utf-8")) if raw else None
    except ValueError:
        doc = raw.decode("utf-8", "replace")
    return r.status, h, doc


def wait_for(pred, timeout=10.0, interval=0.1):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception:
            last = None
        time.sleep(interval)
    return last


def main(argv=None):
    """``python -m kongsim.nodetools upstream --host H --port P``: run an Upstream until SIGTERM."""
    import argparse
    import sys
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["upstream"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--name", default="upstream")
    a = p.parse_args(argv)
    u = Upstream(a.host, a.port, a.name)
    sys.stdout.write("%d\n" % u.port)
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_args: stop.set())
    stop.wait()
    u.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
