"""Lab parts that need no Kong: load generator maths and behaviour, echo server, HAProxy config and runtime API."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from lab import haproxy, procs
from lab.echo import EchoServer
from lab.load import LoadGenerator, longest_gap, percentile, via_version
from lab.topology import Lab, LabError


def test_percentile_nearest_rank():
    vals = list(range(1, 101))
    assert percentile(vals, 50) == 50
    assert percentile(vals, 99) == 99
    assert percentile(vals, 100) == 100
    assert percentile([], 50) is None


def test_longest_gap_counts_start_and_end():
    assert longest_gap([1.0, 1.5, 4.0], 0.0, 5.0) == pytest.approx(2.5)
    assert longest_gap([], 0.0, 3.0) == pytest.approx(3.0)
    assert longest_gap([0.1, 0.2], 0.0, 2.0) == pytest.approx(1.8)


def test_via_version():
    assert via_version("kong/2.8.4") == "2.8.4"
    assert via_version("1.1 kong/3.4.2") == "3.4.2"
    assert via_version("kong/3.4.3.3-enterprise-edition") == "3.4.3.3-enterprise-edition"
    assert via_version(None) is None


@pytest.fixture
def echo():
    srv = EchoServer(("127.0.0.1", 0), "t-echo")
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_echo_answers_json_with_path(echo):
    port = echo.server_address[1]
    with urllib.request.urlopen("http://127.0.0.1:%d/some/path?x=1" % port, timeout=5) as r:
        doc = json.loads(r.read())
    assert doc["path"] == "/some/path?x=1"
    assert doc["echo"] == "t-echo"
    assert doc["method"] == "GET"


def test_load_paced_rate_all_ok(echo):
    # max_lag 1 s: this checks pacing and counting, not how busy the shared machine is
    g = LoadGenerator("http://127.0.0.1:%d/x" % echo.server_address[1], rate=100, duration=1.0, max_lag=1.0)
    doc = g.run()
    assert doc["failed"] == 0
    assert 95 <= doc["total"] <= 101, doc
    assert doc["ok"] == doc["total"]
    assert doc["latency_ms"]["p50"] is not None
    assert doc["longest_gap_s"] < 0.5


def test_load_counts_refused_connections_as_failed():
    port = procs.free_port()
    doc = LoadGenerator("http://127.0.0.1:%d/x" % port, rate=50, duration=0.5).run()
    assert doc["ok"] == 0
    assert doc["failed"] == doc["total"] > 0
    assert doc["longest_gap_s"] == pytest.approx(doc["elapsed_s"], abs=0.05)


def test_load_counts_missed_slots_instead_of_bursting(echo):
    """One worker and a slow server: slots that cannot be sent in time are failures (stalled slots), not a burst later."""
    # a server that sleeps 0.3 s per request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Slow(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            time.sleep(0.3)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        doc = LoadGenerator("http://127.0.0.1:%d/" % srv.server_address[1], rate=20, duration=1.0, workers=1,
                            max_lag=0.1).run()
    finally:
        srv.shutdown()
        srv.server_close()
    # the one worker was inside a slow request each time: the gateway's stall, not the generator's starvation
    stalled = sum(v for k, v in doc["errors"].items() if k.startswith("stalled slot"))
    assert stalled > 5, doc
    assert not any(k.startswith("missed slot") for k in doc["errors"]), doc
    assert doc["starved"] == 0 and doc["gateway_failed"] == doc["failed"] >= stalled, doc
    assert doc["ok"] + doc["failed"] == doc["total"]
    assert doc["missed_windows"] and doc["missed_windows"][0]["slots"] >= 2, doc


def test_load_slow_progress_reports_do_not_hold_up_the_pacing(echo):
    """Progress documents are written from their own thread: a report that takes 1.5 s (a long run's summary on a starved
    machine once did) makes no slot late. Before, the pacing thread wrote them itself and missed its own slots."""
    gen = LoadGenerator("http://127.0.0.1:%d/x" % echo.server_address[1], rate=50, duration=2.5, max_lag=0.25)
    reports = []

    def slow_report(doc):
        reports.append(doc)
        time.sleep(1.5)

    doc = gen.run(progress=slow_report, progress_interval=0.2)
    assert reports and reports[0]["running"] is True
    assert doc["failed"] == 0 and doc["starved"] == 0, doc
    assert doc["longest_gap_s"] < 0.5, doc


def test_load_tells_generator_starvation_from_gateway_failures(tmp_path, echo):
    """The generator process stopped for 1.5 s (SIGSTOP: no CPU at all, as on a starved machine): the slots due
    meanwhile are starved slots, counted apart; they make a raw gap but no gateway gap; the gateway answered the rest."""
    out = tmp_path / "r.json"
    proc = subprocess.Popen([sys.executable, "-m", "lab.load", "--url", "http://127.0.0.1:%d/" % echo.server_address[1],
                             "--rate", "50", "--duration", "3", "--max-lag", "0.25", "--out", str(out), "--quiet"])
    try:
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(1.5)
        os.kill(proc.pid, signal.SIGCONT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    doc = json.loads(out.read_text())
    starved = sum(v for k, v in doc["errors"].items() if k.startswith("missed slot (generator starved"))
    assert starved >= 40, doc  # about 1.5 s - 0.25 s of slots at 50/s
    assert doc["starved"] == starved, doc
    assert doc["gateway_failed"] == doc["failed"] - starved == 0, doc
    assert doc["longest_gap_s"] > 1.2, doc
    assert doc["longest_gateway_gap_s"] < 0.5, doc
    assert doc["generator_starved_s"] == pytest.approx(starved / 50.0)
    window = doc["missed_windows"][0]
    assert window["slots"] >= starved - 2 and 1.0 < window["length_s"] < 1.8, doc


def test_load_running_gaps_match_the_final_ones(echo):
    """The running (O(1)) gaps of progress documents agree with the exact final computation."""
    gen = LoadGenerator("http://127.0.0.1:%d/x" % echo.server_address[1], rate=50, duration=1.0, max_lag=1.0)
    doc = gen.run()
    running = gen.summary(running=True)
    assert running["longest_gap_s"] == pytest.approx(doc["longest_gap_s"], abs=0.01)
    assert running["longest_gateway_gap_s"] == pytest.approx(doc["longest_gateway_gap_s"], abs=0.01)


def test_load_alternates_between_urls_and_counts_each(echo):
    """Two load balancers: slots alternate between them; a dead one shows as its own failures, the live one unaffected."""
    live = "http://127.0.0.1:%d/x" % echo.server_address[1]
    dead = "http://127.0.0.1:%d/x" % procs.free_port()
    doc = LoadGenerator([live, dead], rate=40, duration=1.0, max_lag=1.0).run()
    assert doc["url"] == "%s, %s" % (live, dead)
    assert set(doc["targets"]) == {live, dead}, doc["targets"]
    assert doc["targets"][live]["failed"] == 0 and doc["targets"][live]["ok"] >= 15, doc["targets"]
    assert doc["targets"][dead]["ok"] == 0 and doc["targets"][dead]["failed"] >= 15, doc["targets"]
    assert doc["ok"] + doc["failed"] == doc["total"]


def test_load_non_200_is_failure(echo):
    doc = LoadGenerator("http://127.0.0.1:%d/x" % echo.server_address[1], rate=50, duration=0.3, ok_statuses=(204,)).run()
    assert doc["ok"] == 0 and doc["failed"] == doc["total"] > 0
    assert doc["errors"] == {"status 200": doc["total"]}


def test_load_cli_writes_json(tmp_path, echo):
    out = tmp_path / "r.json"
    r = subprocess.run([sys.executable, "-m", "lab.load", "--url", "http://127.0.0.1:%d/" % echo.server_address[1],
                        "--rate", "50", "--duration", "0.5", "--out", str(out), "--quiet"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert doc["running"] is False and doc["total"] >= 20


def test_haproxy_config_is_valid_and_has_the_required_directives(tmp_path):
    servers = [{"name": "n1", "host": "127.0.0.1", "port": 18000, "check_port": 18007},
               {"name": "n2", "host": "127.0.0.1", "port": 18001, "disabled": True}]
    text = haproxy.render_config("127.0.0.1", 18080, servers, str(tmp_path / "s.sock"), str(tmp_path / "p.pid"))
    for needle in ("option redispatch", "retry-on conn-failure empty-response response-timeout", "retries 3",
                   "level admin", "server n1 127.0.0.1:18000 check port 18007", "server n2 127.0.0.1:18001 check disabled"):
        assert needle in text
    cfg = tmp_path / "h.cfg"
    cfg.write_text(text)
    ok, out = haproxy.check_config(str(cfg))
    assert ok, out
    strict = haproxy.render_config("127.0.0.1", 18080, servers, "/x.sock", "/x.pid", retry=False)
    assert "retry-on" not in strict and "redispatch" not in strict


def test_haproxy_runtime_api_drain_ready_maint(tmp_path, echo):
    port = procs.free_port()
    sock, pid_path, cfg = str(tmp_path / "h.sock"), str(tmp_path / "h.pid"), str(tmp_path / "h.cfg")
    with open(cfg, "w") as f:
        f.write(haproxy.render_config("127.0.0.1", port, [{"name": "e1", "host": "127.0.0.1", "port": echo.server_address[1]}],
                                      sock, pid_path, backend="b"))
    pid = haproxy.start(cfg, pid_path)
    try:
        assert haproxy.wait_server_status(sock, "b", "e1", ("UP",), timeout=10)
        haproxy.set_server_state(sock, "b", "e1", "drain")
        assert haproxy.server_stats(sock, "b", "e1")["status"].startswith("DRAIN")
        state = [r for r in haproxy.show_servers_state(sock) if r["srv_name"] == "e1"][0]
        assert state["be_name"] == "b" and int(state["srv_admin_state"]) & 0x08  # SRV_ADMF_DRAIN
        haproxy.set_server_state(sock, "b", "e1", "maint")
        assert haproxy.server_stats(sock, "b", "e1")["status"] == "MAINT"
        haproxy.set_server_state(sock, "b", "e1", "ready")
        assert haproxy.wait_server_status(sock, "b", "e1", ("UP",), timeout=10)
        with pytest.raises(RuntimeError):
            haproxy.set_server_state(sock, "b", "nope", "drain")
        with pytest.raises(ValueError):
            haproxy.set_server_state(sock, "b", "e1", "up")
    finally:
        assert haproxy.stop(pid_path)
    assert not procs.pid_alive(pid)


@pytest.mark.parametrize("kw,msg", [
    ({"topology": "mesh"}, "unknown topology"),
    ({"topology": "hybrid", "data_planes": 51}, "between 1 and 50"),
    ({"topology": "traditional", "subnet": "10.0.0"}, "127.0.0.0/8"),
    ({"topology": "traditional", "subnet": "127.0.0"}, "reserved"),
])
def test_plan_refuses_bad_input(kw, msg):
    with pytest.raises(LabError, match=msg):
        Lab.plan(**kw)


def test_plan_hybrid_addresses_and_groups():
    plan = Lab.plan("hybrid", subnet="127.9.9", data_planes=50)
    cp = plan["nodes"][0]
    assert (cp["name"], cp["address"], cp["in_lb"]) == ("cp1", "127.9.9.1", False)
    dps = plan["nodes"][1:]
    assert len(dps) == 50 and len({d["address"] for d in dps}) == 50
    assert all(d["group"] == "kong_data_plane" and d["in_lb"] for d in dps)
    assert plan["offer"][0] == "2.8.4"


def test_install_hook(tmp_path):
    """kong-install: per-version install location, 'current' switch, idempotent, unknown version refused."""
    lab = tmp_path / "lab"
    for v in ("1.0.0", "2.0.0"):
        (lab / "repo" / v / "bin").mkdir(parents=True)
        k = lab / "repo" / v / "bin" / "kong"
        k.write_text("#!/bin/sh\necho %s\n" % v)
        k.chmod(0o755)
    (lab / "bin").mkdir()
    hook = lab / "bin" / "kong-install"
    hook.write_bytes(open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "bin", "kong-install"), "rb").read())
    hook.chmod(0o755)
    node = tmp_path / "node"
    node.mkdir()

    def run(*a):
        return subprocess.run([str(hook)] + list(a), capture_output=True, text=True, check=False)

    r = run(str(node), "1.0.0")
    assert r.returncode == 0 and r.stdout.startswith("installed kong 1.0.0"), r
    assert subprocess.run([str(node / "bin" / "kong")], capture_output=True, text=True, check=False).stdout.strip() == "1.0.0"
    assert run(str(node), "1.0.0").stdout.startswith("kong 1.0.0 already installed")
    assert run(str(node), "2.0.0").returncode == 0
    assert subprocess.run([str(node / "bin" / "kong")], capture_output=True, text=True, check=False).stdout.strip() == "2.0.0"
    assert (node / "releases" / "1.0.0").is_dir()  # the old release stays installed for rollback
    r = run(str(node), "9.9.9")
    assert r.returncode == 4 and "not found in repository" in r.stderr
