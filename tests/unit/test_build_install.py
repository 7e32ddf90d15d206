"""The collection artifact: built without development leftovers, installable offline, usable from the installed copy.

Every ansible command runs from a temporary directory (so the clone's ansible.cfg is not read) with
ANSIBLE_COLLECTIONS_PATH set to the fresh install only, so nothing can resolve to the clone.
"""
import fnmatch
import json
import os
import pathlib
import subprocess
import sys
import tarfile
import tempfile

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))  # the lab's helpers (tests/kongsim is on pytest.ini's pythonpath)

from lab import procs  # noqa: E402  pylint: disable=wrong-import-position
BIN = pathlib.Path(sys.executable).parent
LABCTL = ROOT / "tests" / "lab" / "labctl"
# The hybrid upgrade from the installed copy needs the sandbox (a few minutes): scripts/test's `package` stage sets
# this; a plain `pytest tests/unit` skips it.
SANDBOX = os.environ.get("KONGOPS_SANDBOX_TESTS") == "1"

# Names that must never be in the artifact (any path component), and path prefixes.
FORBIDDEN_NAMES = (".venv", ".git", "__pycache__", ".pytest_cache", ".hypothesis", ".ansible", "ansible.cfg", "lab-state", ".ci",
                   ".cache", ".molecule", ".tox")
FORBIDDEN_PREFIXES = ("collections/", "tests/output/", "bench/", "build/")
FORBIDDEN_GLOBS = ("*.tar.gz", "*.pyc", "*.log")


def _streams(proc):
    """stderr and the tail of stdout, for a failure message."""
    return "stderr:\n%s\nstdout (tail):\n%s" % (proc.stderr[-4000:], proc.stdout[-4000:])


def _run_proc(args, env, cwd, timeout=300):
    """Run args; stdout and stderr apart (a warning on stderr must not break what is parsed from stdout)."""
    proc = subprocess.run([str(a) for a in args], env=env, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout, check=False)
    assert proc.returncode == 0, "%s failed (exit %d):\n%s" % (" ".join(str(a) for a in args), proc.returncode, _streams(proc))
    return proc


def _run(args, env, cwd, timeout=300):
    """stdout of args (stderr only in the failure message)."""
    return _run_proc(args, env, cwd, timeout).stdout


def _run_json(args, env, cwd, timeout=300):
    """args' stdout parsed as JSON."""
    proc = _run_proc(args, env, cwd, timeout)
    try:
        return json.loads(proc.stdout)
    except ValueError as e:
        raise AssertionError("%s: stdout is not JSON (%s)\n%s" % (" ".join(str(a) for a in args), e, _streams(proc))) from e


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Build the artifact, install it offline into a fresh collections path; yield (artifact, collections path, env, workdir)."""
    work = tmp_path_factory.mktemp("build-install")
    home = work / "home"
    home.mkdir()
    colls = work / "collections"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(HOME=str(home), ANSIBLE_COLLECTIONS_PATH=str(colls), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="False",
               ANSIBLE_LOCAL_TEMP=str(work / "tmp"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PATH="%s:%s" % (BIN, os.environ.get("PATH", "")))
    env.pop("PYTHONPATH", None)
    out_dir = work / "dist"
    _run([BIN / "ansible-galaxy", "collection", "build", "--output-path", out_dir, ROOT], env, work)
    artifacts = sorted(out_dir.glob("kongops-upgrade-*.tar.gz"))
    assert len(artifacts) == 1, artifacts
    _run([BIN / "ansible-galaxy", "collection", "install", "--offline", "-p", colls, artifacts[0]], env, work)
    yield artifacts[0], colls, env, work


def test_build_ignore_lists_development_leftovers():
    ignore = yaml.safe_load((ROOT / "galaxy.yml").read_text()).get("build_ignore") or []
    for entry in (".venv", "collections", "tests/output", "bench", "ansible.cfg", "*.tar.gz", "__pycache__", ".hypothesis", "*.log", ".molecule"):
        assert entry in ignore, "galaxy.yml build_ignore lacks %r" % entry


def test_artifact_has_no_development_leftovers(installed):
    artifact = installed[0]
    with tarfile.open(str(artifact)) as tar:
        names = [m.name[2:] if m.name.startswith("./") else m.name for m in tar.getmembers()]
    assert "MANIFEST.json" in names and "FILES.json" in names
    assert "plugins/modules/kong_migrations.py" in names and "playbooks/plan.yml" in names
    bad = []
    for name in names:
        parts = name.split("/")
        if any(p in FORBIDDEN_NAMES for p in parts) or any((name + "/").startswith(p) for p in FORBIDDEN_PREFIXES) \
                or any(fnmatch.fnmatch(parts[-1], g) for g in FORBIDDEN_GLOBS):
            bad.append(name)
    assert not bad, "development leftovers in %s (add them to galaxy.yml build_ignore):\n  %s" % (artifact.name, "\n  ".join(sorted(bad)[:40]))


def test_installed_copy_is_the_artifact(installed):
    _artifact, colls, _env, _work = installed
    target = colls / "ansible_collections" / "kongops" / "upgrade"
    assert target.is_dir() and not target.is_symlink()
    manifest = json.loads((target / "MANIFEST.json").read_text())
    assert manifest["collection_info"]["namespace"] == "kongops" and manifest["collection_info"]["name"] == "upgrade"
    assert manifest["collection_info"]["version"] == yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]


def test_ansible_doc_from_installed_copy(installed):
    _artifact, colls, env, work = installed
    docs = _run_json([BIN / "ansible-doc", "--json", "-t", "module", "kongops.upgrade.kong_migrations"], env, work)
    doc = docs["kongops.upgrade.kong_migrations"]["doc"]
    assert doc["filename"].startswith(str(colls)), "ansible-doc read %s, not the installed copy" % doc["filename"]
    assert doc["options"], "no options documented"


def test_plan_playbook_from_installed_copy(installed):
    _artifact, colls, env, work = installed
    # The inventory may be excluded from the artifact; the clone's sample inventory is used.
    proc = _run_proc([BIN / "ansible-playbook", "kongops.upgrade.plan", "-i", ROOT / "inventories" / "sample" / "hosts.yml"], env, work)
    out = proc.stdout
    assert "== kong_control_plane" in out and "path 2.8.4 -> " in out, _streams(proc)
    assert "== kong_traditional" in out and "path 3.2.2 -> " in out, _streams(proc)
    assert "failed=0" in out, _streams(proc)


@pytest.fixture
def hybrid_lab():
    """A sandbox hybrid topology (1 control plane + 2 data planes on 2.8.4, offering 3.4.2) on a free 127.66.x subnet.

    Two data planes, not one: the rolling upgrade drains each in turn, and with a single one HAProxy has no server
    left while it is upgraded (measured: 784 of 6,388 requests answered 503).
    """
    subnet = procs.free_subnet(66, 100, 199)
    parent = tempfile.mkdtemp(prefix="kongops-h6-pkg-", dir="/tmp")
    os.chmod(parent, 0o755)  # PostgreSQL runs as postgres: every ancestor of the lab must be searchable
    lab_dir = pathlib.Path(parent) / "lab"
    labctl = [LABCTL, "--dir", lab_dir]
    env = dict(os.environ)
    try:
        _run(labctl + ["up", "hybrid", "--data-planes", "2", "--version", "2.8.4", "--offer", "3.4.2", "--subnet", subnet], env, ROOT, 600)
        lab_state = json.loads((lab_dir / "lab.json").read_text())
        yield lab_dir, labctl, env, subnet, lab_state
    finally:
        subprocess.run([str(a) for a in labctl + ["load", "stop"]], cwd=str(ROOT), check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        down = subprocess.run([str(a) for a in labctl + ["down"]], cwd=str(ROOT), check=False, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
        subprocess.run(["rm", "-rf", parent], check=False)
    assert down.returncode == 0, down.stdout
    left = sorted((a, p) for a, p in procs.listening_sockets() if a.startswith(subnet + "."))
    assert not left, "still listening on the lab's addresses after labctl down: %s" % left


@pytest.mark.skipif(not SANDBOX, reason="needs the sandbox: scripts/test package (KONGOPS_SANDBOX_TESTS=1)")
def test_hybrid_upgrade_from_installed_copy(installed, hybrid_lab):
    """ansible-playbook kongops.upgrade.upgrade_hybrid from the installed artifact: every node on 3.4.2, no failed request."""
    _artifact, colls, env, work = installed
    lab_dir, labctl, lab_env, _subnet, _state = hybrid_lab
    report_dir = work / "reports"
    _run(labctl + ["load", "start", "--rate", "20"], lab_env, ROOT)
    proc = _run_proc([BIN / "ansible-playbook", "kongops.upgrade.upgrade_hybrid", "-i", lab_dir / "inventory.yml",
                      "-e", "kong_target_version=3.4.2", "-e", "kong_upgrade_report_dir=%s" % report_dir,
                      "-e", "kong_upgrade_backup_dir=%s" % (lab_dir / "backups")], env, work, 1500)
    out = proc.stdout
    load = _run_json(labctl + ["load", "stop", "--json"], lab_env, ROOT)
    # Every task came from the installed copy, never from the clone (warnings on stderr included).
    assert str(ROOT / "roles") not in out + proc.stderr and str(ROOT / "playbooks") not in out + proc.stderr
    assert "failed=0" in out and "unreachable=0" in out, _streams(proc)
    reports = sorted(report_dir.glob("report-*.json"))
    assert len(reports) == 1, reports
    report = json.loads(reports[0].read_text())
    assert report["all_on_target"] is True and report["target_version"] == "3.4.2"
    assert {n: (v["before"], v["after"]) for n, v in report["nodes"].items()} == {n: ("2.8.4", "3.4.2") for n in ("cp1", "dp1", "dp2")}
    # The nodes themselves, not the report: the control plane's Admin API and the data plane as the control plane sees it.
    status = _run_json(labctl + ["status", "--json"], lab_env, ROOT)
    versions = {c["component"]: c["version"] for c in status["components"] if c["kind"] in ("control_plane", "data_plane")}
    assert versions == {"cp1": "3.4.2", "dp1": "3.4.2", "dp2": "3.4.2"}, status
    assert load["total"] > 0 and load["failed"] == 0, load
    assert "3.4.2" in load["versions"], "no request answered by the upgraded data plane: %s" % load["versions"]
