"""`scripts/setup --controller` makes what an operator's controller needs, and nothing of the sandbox: a venv with
ansible-core and the modules' libraries at the lock's versions (no test, lint or molecule package), which plans an
upgrade with the collection's own playbook."""
import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _run(args, env, timeout=600):
    proc = subprocess.run([str(a) for a in args], env=env, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout, check=False)
    assert proc.returncode == 0, "%s failed (exit %d)\nstdout:\n%s\nstderr:\n%s" % (
        " ".join(str(a) for a in args), proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


def test_controller_setup_has_what_a_controller_needs_and_plans(tmp_path):
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "VIRTUAL_ENV", "PYTHON"))}
    # the Debian packages of a controller (python3, ssh) are this machine's already
    env.update(KONGOPS_VENV=str(venv), KONGOPS_SKIP_APT="1", KONGOPS_QUIET="1")
    _run([ROOT / "scripts" / "setup", "--controller"], env)
    installed = {line.split("==")[0].lower().replace("_", "-"): line.split("==")[1]
                 for line in _run([venv / "bin" / "python", "-m", "pip", "freeze"], env).stdout.split()}
    lock = {line.split("==")[0].lower().replace("_", "-"): line.split("==")[1]
            for line in (ROOT / "requirements-dev.lock").read_text().split() if "==" in line}
    assert {"ansible-core", "packaging", "psycopg", "psycopg-binary"} <= set(installed), installed
    assert not {"pytest", "molecule", "ansible-lint", "antsibull-changelog"} & set(installed), installed
    assert all(lock[name] == version for name, version in installed.items()), (installed, lock)
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    plan = _run([venv / "bin" / "ansible-playbook", "kongops.upgrade.plan", "-i", ROOT / "inventories" / "sample" / "hosts.yml"], env)
    assert "kong_traditional (2 host(s): kong-node-1, kong-node-2) 3.2.2 -> 3.4.2" in plan.stdout, plan.stdout[-3000:]
