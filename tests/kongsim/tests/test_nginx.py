"""The systemd start path of Kong's package (contract.md sections 4 and 10): ``kong prepare -p PREFIX`` writes the
prefix, then ``nginx -p PREFIX -c nginx.conf`` runs the node in the foreground; nginx's init_by_lua runs the same schema
check as ``kong start`` (new migrations: init_by_lua error, exit 1; pending: starts); ``-s quit`` signals the node."""

import os
import subprocess
import signal
import sys

from kongsim.nodetools import http, pid_alive, wait_for

UTILS = "/usr/local/share/lua/5.1/kong/cmd/utils/migrations.lua"


def nginx(version, *args, **kw):
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("KONG_"))
    env.update(KONGSIM_RELEASE=version, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return [sys.executable, "-m", "kongsim.nginx"] + list(args), env


def run_nginx(version, *args):
    argv, env = nginx(version, *args)
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


def prepare(node):
    r = node.run("prepare", "-c", node.conf_path, "-p", node.prefix, env={"KONG_NGINX_DAEMON": "off"})
    assert r.returncode == 0, r.stderr


def test_new_migrations_fail_in_init_by_lua_then_pending_start(nodes, pg_db):
    old = nodes.node("2.8.4", "old", dict(pg_db["conf"]))
    assert old.inproc("migrations", "bootstrap", "-c", old.conf_path).returncode == 0
    new = nodes.node("3.4.2", "new", dict(pg_db["conf"]))
    prepare(new)
    r = run_nginx("3.4.2", "-p", new.prefix, "-c", "nginx.conf")
    assert r.returncode == 1
    assert r.stderr == "nginx: [error] init_by_lua error: %s:20: New migrations available; run 'kong migrations up' to proceed\n" % UTILS
    assert new.pid() is None
    assert new.inproc("migrations", "up", "-c", new.conf_path).returncode == 0
    argv, env = nginx("3.4.2", "-p", new.prefix, "-c", "nginx.conf")
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: http("GET", new.admin + "/")[0] == 200, 30), proc.stderr
        assert http("GET", new.admin + "/")[2]["version"] == "3.4.2"
        # The foreground process is the node (systemd's main pid), and -s quit ends it gracefully.
        assert new.pid() == proc.pid
        assert run_nginx("3.4.2", "-p", new.prefix, "-c", "nginx.conf", "-s", "quit").returncode == 0
        assert proc.wait(timeout=30) == 0
        assert not pid_alive(proc.pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_unprepared_prefix_and_bad_options(tmp_path):
    r = run_nginx("3.4.2", "-p", str(tmp_path), "-c", "nginx.conf")
    assert r.returncode == 1 and r.stderr.startswith('nginx: [emerg] open() "%s/nginx.conf" failed' % tmp_path)
    (tmp_path / "nginx.conf").write_text("daemon off;\n")
    r = run_nginx("3.4.2", "-p", str(tmp_path), "-c", "nginx.conf")
    assert r.returncode == 1 and "run \"kong prepare\" first" in r.stderr
    r = run_nginx("3.4.2", "-p", str(tmp_path), "-c", "nginx.conf", "-s", "quit")
    assert r.returncode == 1 and "invalid PID number" in r.stderr
    r = run_nginx("3.4.2", "-x")
    assert r.returncode == 1 and r.stderr == 'nginx: [emerg] invalid option: "x"\n'


def test_dbless_node_starts_without_schema_check(nodes, tmp_path):
    decl = tmp_path / "kong.yml"
    decl.write_text('_format_version: "3.0"\nservices: []\n')
    node = nodes.node("3.4.2", "dbless", {"database": "off", "declarative_config": str(decl)})
    prepare(node)
    argv, env = nginx("3.4.2", "-p", node.prefix, "-c", "nginx.conf")
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: http("GET", node.status + "/status")[0] == 200, 30)
        os.kill(proc.pid, signal.SIGQUIT)   # systemd's ExecStop: kill -s QUIT $MAINPID
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
