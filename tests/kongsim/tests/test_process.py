"""kong start/stop/quit/restart/reload/health/prepare against real PostgreSQL (contract.md sections 4-5)."""

import json
import os
import stat
import threading
import time

import pytest

from kongsim import releases
from kongsim.nodetools import Upstream, http, pid_alive, wait_for

HINT = "\n\n  Run with --v (verbose) or --vv (debug) for more details\n"
UTILS = "/usr/local/share/lua/5.1/kong/cmd/utils/migrations.lua"


@pytest.fixture
def upstream():
    u = Upstream()
    yield u
    u.close()


def bootstrap(nodes, version, pg_db):
    n = nodes.node(version, "boot-" + version, dict(pg_db["conf"]))
    r = n.inproc("migrations", "bootstrap", "-c", n.conf_path)
    assert r.returncode == 0, r.stderr
    return n


def seed_route(node, upstream, path="/echo", name="echo"):
    st, _unused, svc = http("POST", node.admin + "/services", {"name": name, "url": upstream.url + "/base"})
    assert st == 201, svc
    st, _unused, rt = http("POST", node.admin + "/services/%s/routes" % name, {"name": name, "paths": [path]})
    assert st == 201, rt
    return svc, rt


# -- start versus schema state (section 4) ---------------------------------------------------------

def test_start_refuses_database_that_needs_bootstrap(nodes, pg_db):
    n = nodes.node("3.4.2", "n1", dict(pg_db["conf"]))
    r = n.start()
    assert r.returncode == 1
    assert r.stderr == "Error: %s:16: %s%s" % (UTILS, releases.NEEDS_BOOTSTRAP_MSG, HINT)
    assert "Kong started" not in r.stdout
    assert n.pid() is None


def test_start_refuses_new_migrations_then_starts_with_pending(nodes, pg_db, upstream):
    bootstrap(nodes, "2.8.4", pg_db)
    new = nodes.node("3.4.2", "new", dict(pg_db["conf"]))
    r = new.start()
    assert r.returncode == 1
    assert r.stderr == "Error: %s:20: New migrations available; run 'kong migrations up' to proceed%s" % (UTILS, HINT)
    assert new.pid() is None
    up = new.inproc("migrations", "up", "-c", new.conf_path)
    assert up.returncode == 0, up.stderr
    r = new.start()
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Database has pending migrations:\n    core: 016_280_to_300\nhttp-log: 001_280_to_300\nKong started\n"
    with open(os.path.join(new.prefix, "logs", "error.log")) as f:
        log = f.read()
    assert "[warn]" in log and "database has pending migrations:" in log
    assert "starting with pending migrations: core (016_280_to_300) http-log (001_280_to_300)" in log
    st, h, doc = http("GET", new.admin + "/")
    assert st == 200 and doc["version"] == "3.4.2"


def test_old_node_starts_after_newer_finish(nodes, pg_db):
    """Unknown migration names in the DB are ignored: a 2.8 node starts on a finished 3.4 DB."""
    bootstrap(nodes, "3.4.2", pg_db)
    old = nodes.node("2.8.4", "old", dict(pg_db["conf"]))
    r = old.start()
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Kong started\n"


def test_start_with_run_migrations_runs_up_but_not_finish(nodes, pg_db):
    bootstrap(nodes, "2.8.4", pg_db)
    n = nodes.node("3.4.2", "n", dict(pg_db["conf"]))
    r = n.start("--run-migrations")
    assert r.returncode == 0, r.stderr
    assert "core migrated up to: 016_280_to_300 (pending)" in r.stdout
    assert r.stdout.endswith("Database has pending migrations:\n    core: 016_280_to_300\nhttp-log: 001_280_to_300\nKong started\n")
    lst = n.run("migrations", "list", "-c", n.conf_path)
    assert lst.returncode == 4


def test_start_with_unreachable_database(nodes, pg_db):
    dead = dict(pg_db["conf"], pg_port="1")
    n = nodes.node("3.4.2", "nodb", dead)
    r = n.start()
    assert r.returncode == 1
    assert r.stderr.startswith("Error: [PostgreSQL error] failed to retrieve PostgreSQL server_version_num: ")
    assert pg_db["password"] not in r.stderr + r.stdout
    assert n.pid() is None
    assert not os.path.exists(os.path.join(n.prefix, ".kong_env"))   # start.lua reads the DB before the prefix


# -- prefix, health, stop ------------------------------------------------------------------------

def test_prefix_files_health_stop(nodes, pg_db):
    bootstrap(nodes, "3.4.2", pg_db)
    n = nodes.node("3.4.2", "n1", dict(pg_db["conf"]))
    assert n.start().returncode == 0
    env = os.path.join(n.prefix, ".kong_env")
    assert stat.S_IMODE(os.stat(env).st_mode) == 0o600
    with open(env) as f:
        text = f.read()
    assert "prefix = %s" % n.prefix in text and "pg_database = %s" % pg_db["name"] in text
    for rel in ("nginx.conf", "nginx-kong.conf", "logs/error.log", "logs/access.log", "logs/admin_access.log"):
        assert os.path.isfile(os.path.join(n.prefix, rel)), rel
    pid = n.pid()
    assert pid_alive(pid)
    h = n.run("health", "-p", n.prefix)
    assert (h.returncode, h.stdout) == (0, "nginx.......running\n\nKong is healthy at %s\n" % n.prefix)
    again = n.start()
    assert again.returncode == 1
    assert again.stderr == "Error: Kong is already running in %s%s" % (n.prefix, HINT)
    s = n.run("stop", "-p", n.prefix)
    assert (s.returncode, s.stdout) == (0, "Kong stopped\n")
    assert not pid_alive(pid)
    assert not os.path.exists(os.path.join(n.prefix, "pids", "nginx.pid"))
    s2 = n.run("stop", "-p", n.prefix)
    assert s2.returncode == 1 and s2.stderr == "Error: nginx not running in prefix: %s%s" % (n.prefix, HINT)
    h2 = n.run("health", "-p", n.prefix)
    assert h2.returncode == 1
    assert h2.stdout == "nginx.......not running\n\n"
    assert h2.stderr == "Error: Kong is not running at %s%s" % (n.prefix, HINT)
    missing = n.run("health", "-p", n.prefix + "-nope")
    assert missing.returncode == 1 and "Error: no such prefix: %s-nope" % n.prefix in missing.stderr


def test_prepare_writes_prefix_without_database(nodes, tmp_path):
    # pg_port points nowhere: prepare must not touch the database
    n = nodes.node("3.4.2", "prep", {"pg_port": "1", "pg_password": "x"})
    r = n.run("prepare", "-c", n.conf_path)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert os.path.isfile(os.path.join(n.prefix, ".kong_env"))
    assert os.path.isfile(os.path.join(n.prefix, "nginx.conf"))
    assert n.pid() is None


def test_start_reports_conf_errors_and_missing_conf(nodes, tmp_path):
    n = nodes.node("3.4.2", "bad", {"role": "data_plane", "database": "postgres"})
    r = n.start()
    assert r.returncode == 1
    assert r.stderr.startswith('Error: only in-memory storage can be used when role = "data_plane"\n'
                               'Hint: set database = off in your kong.conf')
    r2 = n.run("start", "-c", str(tmp_path / "nope.conf"))
    assert r2.stderr == "Error: no file at: %s%s" % (tmp_path / "nope.conf", HINT)


def test_second_node_on_same_address_fails_like_nginx(nodes, tmp_path):
    decl = tmp_path / "kong.yml"
    decl.write_text('_format_version: "3.0"\n')
    a = nodes.node("3.4.2", "a", {"database": "off", "declarative_config": str(decl)})
    assert a.start().returncode == 0
    b = nodes.node("3.4.2", "b", {"database": "off", "declarative_config": str(decl)}, host=a.host)
    r = b.start()
    assert r.returncode == 1
    assert "bind() to %s:8000 failed (98: Address already in use)" % a.host in r.stderr
    assert b.pid() is None


# -- quit drains in-flight requests --------------------------------------------------------------

def _dbless(nodes, tmp_path, upstream, version="3.4.2", name="q", faults=None, extra=None):
    decl = tmp_path / ("%s.yml" % name)
    decl.write_text(json.dumps({"_format_version": "3.0", "services": [
        {"name": "svc", "url": upstream.url, "routes": [{"name": "r", "paths": ["/"]}]}]}))
    values = {"database": "off", "declarative_config": str(decl)}
    values.update(extra or {})
    n = nodes.node(version, name, values)
    if faults is not None:
        os.makedirs(n.prefix, exist_ok=True)
        with open(os.path.join(n.prefix, "kongsim_faults.json"), "w") as f:
            json.dump(faults, f)
    return n


def test_quit_lets_in_flight_request_finish(nodes, tmp_path, upstream):
    n = _dbless(nodes, tmp_path, upstream)
    assert n.start().returncode == 0
    pid = n.pid()
    result = {}

    def slow():
        result["r"] = http("GET", n.proxy + "/slow?s=1.5", timeout=20)

    t = threading.Thread(target=slow)
    t.start()
    assert wait_for(lambda: upstream.started == 1, 10)  # the request is in flight (the upstream sleeps 1.5 s)
    assert upstream.hits == 0
    t0 = time.time()
    q = n.run("quit", "-p", n.prefix)
    t.join(20)
    assert q.returncode == 0, q.stderr
    assert q.stdout == "Kong stopped (gracefully)\n"
    st, h, doc = result["r"]
    assert st == 200 and doc["path"] == "/slow?s=1.5"
    assert h["connection"] == "close"
    assert time.time() - t0 >= 0.8          # quit waited for the slow request
    assert not pid_alive(pid)
    with pytest.raises(OSError):
        http("GET", n.proxy + "/", timeout=2)


def test_quit_closes_idle_keepalive_connections(nodes, tmp_path, upstream):
    """An idle keep-alive client does not hold the node up (nginx closes idle connections on QUIT)."""
    import http.client
    n = _dbless(nodes, tmp_path, upstream, name="ka")
    assert n.start().returncode == 0
    pid = n.pid()
    c = http.client.HTTPConnection(n.host, 8000, timeout=10)
    c.request("GET", "/a")
    r = c.getresponse()
    r.read()
    assert r.status == 200 and r.getheader("Connection") is None   # kept alive
    t0 = time.time()
    q = n.run("quit", "-p", n.prefix, "-t", "8")
    assert q.stdout == "Kong stopped (gracefully)\n", q.stderr
    assert time.time() - t0 < 6
    assert not pid_alive(pid)
    with pytest.raises((OSError, http.client.HTTPException)):
        c.request("GET", "/a")
        c.getresponse()
    c.close()


def test_quit_timeout_stops_forcefully(nodes, tmp_path, upstream):
    n = _dbless(nodes, tmp_path, upstream)
    assert n.start().returncode == 0
    pid = n.pid()
    t = threading.Thread(target=lambda: _swallow(lambda: http("GET", n.proxy + "/slow?s=6", timeout=20)))
    t.start()
    assert wait_for(lambda: upstream.started == 1, 10)
    q = n.run("quit", "-p", n.prefix, "-t", "1")
    assert q.returncode == 0, q.stderr
    assert q.stdout == "Timeout, Kong stopped forcefully\n"
    assert not pid_alive(pid)
    t.join(20)


def _swallow(fn):
    try:
        fn()
    except Exception:
        pass


def test_restart_and_reload_pick_up_new_declarative_file(nodes, tmp_path, upstream):
    n = _dbless(nodes, tmp_path, upstream, name="rl")
    assert n.start().returncode == 0
    st, _unused, _unused = http("GET", n.proxy + "/x")
    assert st == 200
    (tmp_path / "rl.yml").write_text('_format_version: "3.0"\n')
    r = n.run("reload", "-c", n.conf_path)
    assert (r.returncode, r.stdout) == (0, "Kong reloaded\n"), r.stderr
    assert wait_for(lambda: http("GET", n.proxy + "/x")[0] == 404, 5)
    pid = n.pid()
    r = n.run("restart", "-c", n.conf_path)
    assert (r.returncode, r.stdout) == (0, "Kong started\n"), r.stderr
    assert n.pid() != pid and pid_alive(n.pid()) and not pid_alive(pid)


# -- faults --------------------------------------------------------------------------------------------

def test_fault_start_fail(nodes, tmp_path, upstream):
    n = _dbless(nodes, tmp_path, upstream, faults={"start_fail": True})
    r = n.start()
    assert r.returncode == 1
    assert r.stderr.startswith("Error: nginx: [emerg]")
    assert n.pid() is None


def test_fault_start_fail_from_environment(nodes, tmp_path, upstream):
    n = _dbless(nodes, tmp_path, upstream)
    r = n.start(env={"KONGSIM_FAULTS": '{"start_fail": true}'})
    assert r.returncode == 1 and n.pid() is None


def test_fault_start_delay(nodes, tmp_path, upstream):
    slow = _dbless(nodes, tmp_path, upstream, name="slow", faults={"start_delay": 2})
    t0 = time.time()
    assert slow.start().returncode == 0
    assert time.time() - t0 >= 2.0
    assert http("GET", slow.proxy + "/a")[0] == 200


def test_fault_die_after_requests(nodes, tmp_path, upstream):
    n = _dbless(nodes, tmp_path, upstream, faults={"die_after_requests": 3})
    assert n.start().returncode == 0
    pid = n.pid()
    for _unused in range(3):
        assert http("GET", n.proxy + "/a")[0] == 200
    assert wait_for(lambda: not pid_alive(pid), 5)
    h = n.run("health", "-p", n.prefix)
    assert h.returncode == 1 and "Kong is not running at" in h.stderr


def test_fault_unhealthy(nodes, tmp_path, upstream):
    n = _dbless(nodes, tmp_path, upstream, faults={"unhealthy": True})
    assert n.start().returncode == 0
    st, _unused, doc = http("GET", n.proxy + "/a")
    assert st == 503
    st, _unused, doc = http("GET", n.status + "/status/ready")
    assert st == 503
    assert upstream.hits == 0


def test_run_migrations_does_not_bootstrap(nodes, pg_db):
    n = nodes.node("3.4.2", "fresh", dict(pg_db["conf"]))
    r = n.start("--run-migrations")
    assert r.returncode == 1
    assert r.stderr.startswith("Error: ") and "Cannot run migrations: Database needs bootstrapping" in r.stderr
    assert n.pid() is None
