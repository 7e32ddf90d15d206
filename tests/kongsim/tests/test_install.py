"""kongsim.install: a per-version install location with bin/kong and VERSION."""

import os
import subprocess
import sys

from kongsim import install, releases


def test_install_one(tmp_path):
    path = install.install("3.4.2", str(tmp_path / "kong-3.4.2"))
    assert path == str(tmp_path / "kong-3.4.2" / "bin" / "kong")
    assert os.access(path, os.X_OK)
    assert (tmp_path / "kong-3.4.2" / "VERSION").read_text() == "3.4.2\n"
    r = subprocess.run([path, "version"], capture_output=True, text=True, env={"PATH": os.environ["PATH"]}, check=False)
    assert (r.returncode, r.stdout) == (0, "3.4.2\n")


def test_reinstall_switches_version(tmp_path):
    dest = str(tmp_path / "kong")
    install.install("2.8.4", dest)
    install.install("3.4.3.3", dest)
    r = subprocess.run([os.path.join(dest, "bin", "kong"), "version"], capture_output=True, text=True, check=False)
    assert r.stdout == "Kong Enterprise 3.4.3.3\n"


def test_cli_all_and_errors(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(install.__file__)))
    r = subprocess.run([sys.executable, "-m", "kongsim.install", "--all", "--root", str(tmp_path / "root")],
                       capture_output=True, text=True, env=env, check=False)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(str(tmp_path / "root"))) == sorted(releases.known_versions())
    r = subprocess.run([sys.executable, "-m", "kongsim.install", "--version", "9.9.9", "--dest", str(tmp_path / "x")],
                       capture_output=True, text=True, env=env, check=False)
    assert r.returncode == 2 and "does not simulate" in r.stderr
    r = subprocess.run([sys.executable, "-m", "kongsim.install", "--list"], capture_output=True, text=True, env=env, check=False)
    assert "2.8.4" in r.stdout.split()
