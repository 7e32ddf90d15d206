"""requirements-dev.lock alone makes a working, quiet development environment.

A fresh venv gets exactly the lock's versions (--no-deps, so a package the lock forgot fails pip check instead of
being fetched at today's newest), and Ansible started from it prints no warning: a newer cryptography once made
every ansible command print a CryptographyDeprecationWarning on stderr, which broke tests parsing output.
"""
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements-dev.lock"
PINNED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[0-9][^\s;]*$")


def _requirement_names(path):
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        names.add(re.split(r"[\[<>=!~;\s]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def _normalised(freeze_text):
    return sorted(ln.lower().replace("_", "-") for ln in freeze_text.splitlines() if ln and not ln.startswith("#"))


def _run(args, env, cwd, timeout=600):
    proc = subprocess.run([str(a) for a in args], env=env, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout, check=False)
    assert proc.returncode == 0, "%s failed (exit %d)\nstdout:\n%s\nstderr:\n%s" % (
        " ".join(str(a) for a in args), proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


# Each lock with the requirements files it resolves: the development lock, and one per ansible-core line of the matrix.
LOCKS = [(LOCK, ["requirements-dev.txt", "requirements.txt"])] + [
    (core, ["tests/cores/requirements.txt", "requirements.txt"]) for core in sorted((ROOT / "tests" / "cores").glob("ansible-core-*.lock"))]


@pytest.mark.parametrize("lock,inputs", LOCKS, ids=[pair[0].name for pair in LOCKS])
def test_lock_pins_every_line_and_every_requirement(lock, inputs):
    lines = [ln for ln in lock.read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines, "%s is empty" % lock.name
    loose = [ln for ln in lines if not PINNED.match(ln)]
    assert not loose, "not pinned to one version: %s" % loose
    locked = {ln.split("==")[0].split("[")[0].lower().replace("_", "-") for ln in lines}
    wanted = set().union(*(_requirement_names(ROOT / i) for i in inputs))
    assert not wanted - locked, "in %s but not in %s (run scripts/lock): %s" % (inputs, lock.name, sorted(wanted - locked))


def test_core_locks_cover_requires_ansible_to_the_development_line():
    """The matrix starts at galaxy.yml's requires_ansible and ends at the line .venv runs, without a gap."""
    import yaml  # pylint: disable=import-outside-toplevel
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    oldest = re.match(r">=\s*(\d+)\.(\d+)", runtime["requires_ansible"]).groups()
    dev = re.search(r"^ansible-core==(\d+)\.(\d+)\.", LOCK.read_text(), re.M).groups()
    lines = []
    for core in (pair[0] for pair in LOCKS[1:]):
        pinned = re.search(r"^ansible-core==(\d+)\.(\d+)\.", core.read_text(), re.M).groups()
        assert core.name == "ansible-core-%s.%s.lock" % pinned, (core.name, pinned)
        lines.append(int(pinned[1]))
    assert lines == list(range(int(oldest[1]), int(dev[1]) + 1)), (oldest, dev, lines)


@pytest.fixture(scope="module")
def lock_venv(tmp_path_factory):
    """A venv made from requirements-dev.lock alone."""
    work = tmp_path_factory.mktemp("lockvenv")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PYTHON", "VIRTUAL_ENV"))}
    _run([sys.executable, "-m", "venv", work / "venv"], env, work)
    py = work / "venv" / "bin" / "python"
    _run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps", "-r", LOCK], env, work)
    _run([py, "-m", "pip", "check"], env, work)
    home = work / "home"
    home.mkdir()
    # Outside the clone (no ansible.cfg of the project) with a private HOME: Ansible's own defaults.
    env.update(HOME=str(home), ANSIBLE_LOCAL_TEMP=str(work / "tmp"), NO_COLOR="1")
    return work, work / "venv" / "bin", env


def test_lock_venv_matches_lock(lock_venv):
    work, vbin, env = lock_venv
    frozen = _run([vbin / "python", "-m", "pip", "freeze", "--exclude", "pip", "--exclude", "setuptools", "--exclude", "wheel"],
                  env, work).stdout
    assert _normalised(frozen) == _normalised(LOCK.read_text())


def test_ansible_ping_prints_no_warning(lock_venv):
    work, vbin, env = lock_venv
    # The command as an operator types it: implicit localhost. Ansible's own notice about the missing inventory is
    # expected; any Python warning (a library's DeprecationWarning and the like) is not.
    proc = _run([vbin / "ansible", "localhost", "-m", "ansible.builtin.ping"], env, work)
    assert "pong" in proc.stdout, proc.stdout
    python_warnings = [ln for ln in proc.stderr.splitlines() if re.search(r"\w+Warning:", ln)]
    assert not python_warnings, proc.stderr
    # With an inventory and the venv's interpreter, stderr is empty.
    proc = _run([vbin / "ansible", "localhost", "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=%s" % (vbin / "python"),
                 "-m", "ansible.builtin.ping"], env, work)
    assert "pong" in proc.stdout and proc.stderr == "", (proc.stdout, proc.stderr)
