"""Upstream echo server: answers every request with JSON describing it.

    python -m lab.echo --host 127.0.0.1 --port 9000 [--name echo] [--pidfile F]

Standard-library server tuned as conventions.md says (no Nagle delay, a deep accept queue,
HTTP/1.1 keep-alive), so it is never the bottleneck of the lab.
"""

import argparse
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "lab-echo/1"

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body_in = self.rfile.read(length) if length > 0 else b""
        doc = {
            "echo": self.server.echo_name,
            "method": self.command,
            "path": self.path,
            "host": self.headers.get("Host"),
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body_bytes": len(body_in),
        }
        out = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer

    def log_message(self, fmt, *args):  # quiet: a lab under load would fill the disk
        pass


class EchoServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, addr, name="echo"):
        super().__init__(addr, EchoHandler)
        self.echo_name = name


def main(argv=None):
    p = argparse.ArgumentParser(description="lab upstream echo server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--name", default="echo")
    p.add_argument("--pidfile")
    a = p.parse_args(argv)
    srv = EchoServer((a.host, a.port), a.name)
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())

    def _stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    try:
        srv.serve_forever(poll_interval=0.2)
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        srv.server_close()
        if a.pidfile:
            try:
                os.unlink(a.pidfile)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
