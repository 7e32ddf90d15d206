"""The Admin API token (Kong-Admin-Token, Enterprise RBAC) is sent only to the configured Admin API URL, over its
scheme: a redirect elsewhere (for example from https:// to an http:// address) is not followed with the token. It
appears in no argument list and no -vvv output either. Two tiny HTTP servers on 127.0.0.1 stand in for the Admin
API (which redirects) and for the redirect's target (which records what it receives)."""

import http.server
import json
import threading

import pytest

from relkit import REPO, run_playbook

TOKEN = "h4-rbac-token-5f1d0c"
PLAY = REPO / "tests" / "reliability" / "files" / "token.yml"


class _Recorder(http.server.BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    seen = None
    redirect_to = None

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.seen.append({"path": self.path, "token": self.headers.get("Kong-Admin-Token")})
        if self.redirect_to:
            self.send_response(302)
            self.send_header("Location", self.redirect_to + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps({"version": "3.4.3.3", "tagline": "Welcome to kong", "configuration": {"role": "traditional"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _server(redirect_to=None):
    handler = type("Handler", (_Recorder,), {"seen": [], "redirect_to": redirect_to})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, handler.seen


@pytest.fixture
def servers():
    elsewhere, elsewhere_seen = _server()
    admin, admin_seen = _server(redirect_to="http://127.0.0.1:%d" % elsewhere.server_address[1])
    yield admin, admin_seen, elsewhere_seen
    for srv in (admin, elsewhere):
        srv.shutdown()
        srv.server_close()


def test_token_not_sent_to_a_redirect_target(servers, run_dir):
    admin, admin_seen, elsewhere_seen = servers
    run = run_playbook(PLAY, "localhost,", run_dir, sample=True, args=["-vvv"],
                       extra={"admin_url": "http://127.0.0.1:%d" % admin.server_address[1], "admin_token": TOKEN})
    # the configured Admin API got the token (so the header is really sent) ...
    assert admin_seen and all(r["token"] == TOKEN for r in admin_seen), admin_seen
    # ... and nothing else did: the redirect was not followed with it
    assert [r for r in elsewhere_seen if r["token"]] == []
    assert TOKEN not in run.output + run.err
    assert [c for c in run.cmdlines if TOKEN in c] == []
    assert any("AnsiballZ_kong_facts" in c for c in run.cmdlines)
