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


def test_lock_pins_every_line_and_every_requirement():
    lines = [ln for ln in LOCK.read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines, "requirements-dev.lock is empty"
    loose = [ln for ln in lines if not PINNED.match(ln)]
    assert not loose, "not pinned to one version: %s" % loose
    locked = {ln.split("==")[0].split("[")[0].lower().replace("_", "-") for ln in lines}
    wanted = _requirement_names(ROOT / "requirements-dev.txt") | _requirement_names(ROOT / "requirements.txt")
    assert not wanted - locked, "in requirements*.txt but not in the lock (run scripts/lock): %s" % sorted(wanted - locked)


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
