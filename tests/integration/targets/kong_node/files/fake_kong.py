"""Test double for the kong_node target: installs fake releases and runs a fake Kong node.

  fake_kong.py install <release_root> <version>   create <root>/<version>/bin/kong (prints the version)
  fake_kong.py <node_dir> start|stop|quit|status   control a fake node described by <node_dir>/fake.json
  fake_kong.py <node_dir> serve                    (internal) the node's Admin, Status and proxy listeners
  fake_kong.py ports <n>                           print n free TCP ports on 127.0.0.1 as a JSON list

fake.json: {"version", "admin_port", "status_port", "proxy_port", "admin_token", "data_planes": [...]}.
Every action is appended to <node_dir>/actions.log so the test can see what the role ran.
"""
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time


def install(root, version):
    bindir = os.path.join(root, version, "bin")
    os.makedirs(bindir, exist_ok=True)
    path = os.path.join(bindir, "kong")
    with open(path, "w") as f:
        f.write("#!/bin/sh\necho %s\n" % version)
    os.chmod(path, 0o755)
    with open(os.path.join(root, "install.log"), "a") as f:
        f.write(version + "\n")


def pid_of(node):
    try:
        with open(os.path.join(node, "fake.pid")) as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def handler_for(kind, conf):
    class Handler(http.server.BaseHTTPRequestHandler):
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def reply(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if kind == "proxy":
                return self.reply(404, {"message": "no Route matched with those values"})
            if kind == "status":
                if self.path == "/status/ready":
                    return self.reply(200, {"message": "ready"})
                return self.reply(200, {"server": {"connections_active": 1}})
            if conf.get("admin_token") and self.headers.get("Kong-Admin-Token") != conf["admin_token"]:
                return self.reply(401, {"message": "Invalid credentials. Token or User credentials required"})
            if self.path == "/":
                return self.reply(200, {"tagline": "Welcome to kong", "version": conf["version"]})
            if self.path == "/status":
                return self.reply(200, {"database": {"reachable": True}})
            if self.path.split("?", 1)[0] == "/clustering/data-planes":  # Kong pages it (?size=, &offset=)
                return self.reply(200, {"data": conf.get("data_planes", []), "next": None})
            return self.reply(404, {"message": "Not found"})
    return Handler


def serve(node):
    with open(os.path.join(node, "fake.json")) as f:
        conf = json.load(f)
    servers = []
    for kind in ("admin", "status", "proxy"):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", conf[kind + "_port"]), handler_for(kind, conf))
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGQUIT, lambda *a: stop.set())
    while not stop.wait(0.2):
        pass
    for srv in servers:
        srv.shutdown()


def free_ports(count):
    import socket
    socks = [socket.socket() for _unused in range(count)]
    for sock in socks:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in socks]
    for sock in socks:
        sock.close()
    print(json.dumps(ports))


def main():
    if sys.argv[1] == "ports":
        return free_ports(int(sys.argv[2]))
    if sys.argv[1] == "install":
        return install(sys.argv[2], sys.argv[3])
    node, action = sys.argv[1], sys.argv[2]
    if action == "serve":
        return serve(node)
    with open(os.path.join(node, "actions.log"), "a") as f:
        f.write(action + "\n")
    pid = pid_of(node)
    if action == "status":
        return 0 if pid else 3
    if action == "start":
        if pid:
            print("Kong is already running", file=sys.stderr)
            return 1
        proc = subprocess.Popen([sys.executable, __file__, node, "serve"], start_new_session=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(node, "fake.pid"), "w") as f:
            f.write(str(proc.pid))
        time.sleep(0.3)
        return 0
    if action in ("stop", "quit"):
        if not pid:
            print("Kong is not running", file=sys.stderr)
            return 1
        os.kill(pid, signal.SIGQUIT if action == "quit" else signal.SIGTERM)
        for _unused in range(50):
            if pid_of(node) is None:
                break
            time.sleep(0.1)
        os.unlink(os.path.join(node, "fake.pid"))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
