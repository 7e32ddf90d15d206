"""Fixtures for the integration-target runner (tests/integration/test_targets.py).

Each target in ``tests/integration/targets/<name>/`` runs as an Ansible play on localhost with the
``kit_*`` extra variables described in README.md: a fresh PostgreSQL cluster and ``kong`` database
per target, a fresh work directory, and ``kit_kong_root`` with the Kong simulator's ``kong``
command for every release the simulator knows (prepared once per session, shared by xdist workers).
"""

import contextlib
import fcntl
import hashlib
import importlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
TARGETS_DIR = REPO / "tests" / "integration" / "targets"
KONGSIM_DIR = REPO / "tests" / "kongsim"
# Prepared simulator installs are kept here between runs (gitignored), keyed by a hash of the
# simulator's sources, so a second run does not reinstall them.
KONG_ROOT_CACHE = REPO / "tests" / "output" / "kongsim-root"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.pgcluster import PgCluster  # noqa: E402  pylint: disable=wrong-import-position


@contextlib.contextmanager
def _file_lock(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _kongsim_versions():
    """Return (versions, None) from kongsim.releases, or (None, reason) when the simulator is absent."""
    if not (KONGSIM_DIR / "kongsim" / "install.py").exists() and not (KONGSIM_DIR / "kongsim" / "install").is_dir():
        return None, "Kong simulator not available yet (tests/kongsim/kongsim/install.py is missing)"
    if str(KONGSIM_DIR) not in sys.path:
        sys.path.insert(0, str(KONGSIM_DIR))
    try:
        releases = importlib.import_module("kongsim.releases")
    except Exception as exc:  # pylint: disable=broad-exception-caught
        return None, "Kong simulator not importable (kongsim.releases): %s" % exc
    versions = _versions_from(releases)
    if not versions:
        return None, "kongsim.releases lists no releases"
    return versions, None


def _versions_from(releases):
    """Find the list of release versions in kongsim.releases, whatever its exact shape."""
    for name in ("versions", "all_versions", "known_versions", "release_versions"):
        func = getattr(releases, name, None)
        if callable(func):
            return [str(v) for v in func()]
    for name in ("RELEASES", "VERSIONS", "KNOWN_RELEASES", "CATALOG", "releases"):
        data = getattr(releases, name, None)
        if data is None or callable(data):
            continue
        if isinstance(data, dict):
            return [str(v) for v in data]
        out = []
        for item in data:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, dict) and "version" in item:
                out.append(str(item["version"]))
            elif hasattr(item, "version"):
                out.append(str(item.version))
        if out:
            return out
    return []


def _kongsim_source_hash():
    digest = hashlib.sha256()
    for path in sorted((KONGSIM_DIR / "kongsim").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(KONGSIM_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _prepare_kong_root(versions):
    """Install the simulator's kong command for every version under one cached root; returns it."""
    root = KONG_ROOT_CACHE / _kongsim_source_hash()
    done = root / ".complete"
    with _file_lock(KONG_ROOT_CACHE / ".lock"):
        if done.exists():
            return root
        # Installs made from older simulator sources are of no further use.
        for stale in KONG_ROOT_CACHE.iterdir():
            if stale.is_dir() and stale != root:
                shutil.rmtree(str(stale), ignore_errors=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(KONGSIM_DIR)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        for version in versions:
            dest = root / version
            proc = subprocess.run([sys.executable, "-m", "kongsim.install", "--version", version, "--dest", str(dest)],
                                  cwd=str(KONGSIM_DIR), env=env, capture_output=True, text=True, timeout=300, check=False)
            if proc.returncode != 0:
                raise RuntimeError("kongsim.install --version %s failed (exit %d):\n%s%s"
                                   % (version, proc.returncode, proc.stdout, proc.stderr))
            if not os.access(str(dest / "bin" / "kong"), os.X_OK):
                raise RuntimeError("kongsim.install --version %s did not create %s" % (version, dest / "bin" / "kong"))
        done.write_text("\n".join(versions) + "\n")
    return root


@pytest.fixture(scope="session")
def kong_sim():
    """``(kong_root, versions, None)`` or ``(None, [], reason)`` when the simulator is not there."""
    versions, reason = _kongsim_versions()
    if versions is None:
        return None, [], reason
    return _prepare_kong_root(versions), versions, None


@pytest.fixture(scope="session")
def collections_dir(tmp_path_factory):
    """A collections path where ``kongops.upgrade`` resolves to this working tree."""
    base = tmp_path_factory.mktemp("collections")
    link = base / "ansible_collections" / "kongops" / "upgrade"
    link.parent.mkdir(parents=True)
    link.symlink_to(REPO, target_is_directory=True)
    return base


@pytest.fixture
def pg_cluster():
    """A fresh PostgreSQL cluster with an empty ``kong`` database owned by ``kong``."""
    # Its own directory directly under the temp dir: the server runs as postgres (when we are
    # root), which must be able to traverse every parent, and pytest's tmp_path is private.
    base = tempfile.mkdtemp(prefix="kongops-pg-")
    cluster = None
    try:
        cluster = PgCluster.create(base)
        cluster.create_database("kong", owner="kong")
        yield cluster
    finally:
        if cluster is not None:
            cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)
