"""Shared fixtures of the kongsim test suite (SIM-CORE and SIM-DAEMON tests use them).

- ``pg``: one throwaway PostgreSQL cluster per test session (tests/support/pgcluster.py).
- ``pg_db``: a fresh empty database owned by ``kong`` for one test; a dict with ``name``,
  ``conf`` (kong.conf keys pointing at it), ``host``, ``port``, ``password``, and ``psql(sql)``
  (runs SQL as the superuser in that database, returns stdout).
- ``kong_conf``: a writer of kong.conf files: ``kong_conf(extra_dict, db=pg_db)`` -> path
  (mode 0600, in the test's tmp dir).
- ``installed_kong``: a factory, ``installed_kong("3.4.2")`` -> path of that release's ``kong``
  wrapper (installed once per session).
- ``nodes``: ``nodes.node(version, name, conf_values)`` -> a simulated node (not started), killed at the end.
- ``run_kong``: ``run_kong(kong_path, *args, env=None, input=None, timeout=60)`` ->
  CompletedProcess (text) with a clean environment (no KONG_* leaking from the caller).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
KONGSIM_ROOT = os.path.dirname(HERE)                       # tests/kongsim
REPO = os.path.dirname(os.path.dirname(KONGSIM_ROOT))      # repository root
for p in (KONGSIM_ROOT, os.path.join(REPO, "tests", "support")):
    if p not in sys.path:
        sys.path.insert(0, p)

from pgcluster import PgCluster, KONG_PASSWORD  # noqa: E402
from kongsim import install as kinstall  # noqa: E402


@pytest.fixture(scope="session")
def pg():
    base = tempfile.mkdtemp(prefix="kongsim-pg-")
    os.chmod(base, 0o755)   # the server runs as `postgres` and must reach its directory below
    cluster = None
    try:
        cluster = PgCluster.create(os.path.join(base, "pg"))
        yield cluster
    finally:
        if cluster is not None:
            cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_db(pg):
    name = "kong_" + uuid.uuid4().hex[:12]
    pg.create_database(name, owner="kong")
    info = {
        "name": name,
        "host": pg.host,
        "port": pg.port,
        "password": KONG_PASSWORD,
        "conf": pg.kong_conf(name),
        "psql": lambda q: pg.psql(q, db=name),
        "cluster": pg,
    }
    try:
        yield info
    finally:
        try:
            pg.drop_database(name)
        except RuntimeError:
            pass


@pytest.fixture
def kong_conf(tmp_path):
    counter = [0]

    def write(extra=None, db=None):
        counter[0] += 1
        values = {}
        if db is not None:
            values.update(db["conf"])
        values.update(extra or {})
        path = tmp_path / ("kong-%d.conf" % counter[0])
        fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            for k, v in values.items():
                f.write("%s = %s\n" % (k, v))
        return str(path)
    return write


@pytest.fixture(scope="session")
def _kong_root():
    root = tempfile.mkdtemp(prefix="kongsim-install-")
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def installed_kong(_kong_root):
    cache = {}

    def get(version):
        if version not in cache:
            cache[version] = kinstall.install(version, os.path.join(_kong_root, version), sys.executable)
        return cache[version]
    return get


def clean_env(extra=None):
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("KONG_") and k != "KONGSIM_FAULTS")
    env.update(extra or {})
    return env


@pytest.fixture
def run_kong(tmp_path):
    def run(kong, *args, **kw):
        env = clean_env(kw.pop("env", None))
        cwd = kw.pop("cwd", str(tmp_path))
        return subprocess.run([kong] + [str(a) for a in args], env=env, cwd=cwd, capture_output=True, text=True,
                              input=kw.pop("input", None), timeout=kw.pop("timeout", 60), check=False)
    return run


@pytest.fixture
def kong_subprocess(installed_kong, run_kong):
    """``kong_subprocess("3.4.2", "migrations", "list", "-c", conf)`` -> CompletedProcess of that
    release's installed wrapper (a real process)."""
    def run(version, *args, **kw):
        return run_kong(installed_kong(version), *args, **kw)
    return run


@pytest.fixture
def kong(tmp_path):
    """Like kong_subprocess but runs ``kongsim.cli.main`` in this process (same code path after the
    wrapper, about a second faster per call on this machine).  Only for commands that do not
    spawn daemons.  Returns a CompletedProcess with text stdout/stderr."""
    import contextlib
    import io
    from kongsim import cli

    def run(version, *args, **kw):
        env = clean_env(kw.pop("env", None))
        cwd = kw.pop("cwd", str(tmp_path))
        stdin_text = kw.pop("input", None)
        out, err = io.StringIO(), io.StringIO()
        saved_env, saved_cwd, saved_stdin = dict(os.environ), os.getcwd(), sys.stdin
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        sys.stdin = io.StringIO(stdin_text or "")
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = cli.main([str(a) for a in args], version)
        finally:
            os.environ.clear()
            os.environ.update(saved_env)
            os.chdir(saved_cwd)
            sys.stdin = saved_stdin
        return subprocess.CompletedProcess(["kong"] + list(args), rc, out.getvalue(), err.getvalue())
    return run


@pytest.fixture
def nodes(tmp_path, installed_kong):
    """Factory of simulated nodes in the test's directory (kongsim.nodetools.Nodes); every node still running is
    killed at the end."""
    from kongsim.nodetools import Nodes
    n = Nodes(str(tmp_path), installed_kong)
    yield n
    n.cleanup()


@pytest.fixture
def db_conf(pg_db, kong_conf, tmp_path):
    """A kong.conf path pointing at the test's fresh database (prefix in the test's tmp dir)."""
    return kong_conf({"prefix": str(tmp_path / "prefix")}, db=pg_db)
