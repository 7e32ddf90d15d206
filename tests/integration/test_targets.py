"""Run every integration target in tests/integration/targets as an Ansible play on localhost.

A target is a role-shaped directory ``targets/<name>/`` with ``tasks/main.yml`` (and optionally
``defaults/``, ``handlers/``, ``files/``, ``meta/main.yml`` with dependencies on other targets).
The play gets these extra variables (from a 0600 file, never the command line):

  kit_repo, kit_workdir, kit_python,
  kit_pg_host, kit_pg_port, kit_pg_user, kit_pg_password, kit_pg_database,
  kit_pg_superuser, kit_pg_socket_dir,
  kit_kong_root (``<root>/<version>/bin/kong`` per simulator release), kit_kong_versions.

An ``aliases`` file in the target may hold ``disabled`` (skip it, with the rest of the line as the
reason) and ``needs/kongsim`` (skip it while the simulator is missing; a target that mentions
``kit_kong_root`` anywhere needs it too). Nothing else skips a target: the play failing fails it.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
TARGETS_DIR = REPO / "tests" / "integration" / "targets"

PLAY_TIMEOUT = int(os.environ.get("KONGOPS_TARGET_TIMEOUT", "900"))


def discover_targets():
    if not TARGETS_DIR.is_dir():
        return []
    return sorted(p.name for p in TARGETS_DIR.iterdir() if (p / "tasks" / "main.yml").is_file())


def read_aliases(target):
    path = TARGETS_DIR / target / "aliases"
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def needs_kongsim(target):
    if "needs/kongsim" in read_aliases(target):
        return True
    for path in (TARGETS_DIR / target).rglob("*"):
        if path.is_file() and path.suffix in (".yml", ".yaml", ".j2", ".json"):
            if "kit_kong_root" in path.read_text(errors="replace"):
                return True
    return False


def write_private(path, text):
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def run_play(target, workdir, extra_vars, collections_dir):
    """Run the target's play; returns (returncode, combined output)."""
    python = sys.executable
    inventory = workdir / "inventory.ini"
    inventory.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n" % python)
    playbook = workdir / "play.yml"
    playbook.write_text(
        "---\n"
        "- name: Integration target %s\n"
        "  hosts: localhost\n"
        "  gather_facts: true\n"
        "  gather_subset: [min]\n"
        "  roles:\n"
        "    - role: %s\n" % (target, target))
    vars_file = workdir / "kit_vars.json"
    write_private(vars_file, json.dumps(extra_vars, indent=2))

    env = dict(os.environ)
    venv_bin = str(pathlib.Path(python).parent)
    env.update({
        "PATH": venv_bin + os.pathsep + env.get("PATH", ""),
        "ANSIBLE_CONFIG": str(workdir / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(collections_dir),
        "ANSIBLE_ROLES_PATH": str(TARGETS_DIR),
        "ANSIBLE_LOCAL_TEMP": str(workdir / ".ansible-local"),
        "ANSIBLE_REMOTE_TEMP": str(workdir / ".ansible-remote"),
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default",
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "yaml",
        "ANSIBLE_SHOW_TASK_PATH_ON_FAILURE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    (workdir / "ansible.cfg").write_text("[defaults]\n")
    cmd = [os.path.join(venv_bin, "ansible-playbook"), "-i", str(inventory), str(playbook), "-e", "@" + str(vars_file)]
    try:
        proc = subprocess.run(cmd, cwd=str(workdir), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=PLAY_TIMEOUT, check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or ""
        if isinstance(out, bytes):
            out = out.decode(errors="replace")
        return -1, out + "\n[runner] play timed out after %ds" % PLAY_TIMEOUT
    return proc.returncode, proc.stdout


@pytest.mark.parametrize("target", discover_targets())
def test_target(target, tmp_path, request, pg_cluster, kong_sim, collections_dir):
    aliases = read_aliases(target)
    disabled = [a for a in aliases if a.split()[0] == "disabled"]
    if disabled:
        pytest.skip("target %s disabled in its aliases file: %s" % (target, disabled[0]))
    kong_root, versions, reason = kong_sim
    if kong_root is None and needs_kongsim(target):
        pytest.skip("target %s needs the Kong simulator: %s" % (target, reason))

    # A short path directly under the temp dir: targets put unix sockets in it (HAProxy allows 97
    # characters, the kernel 107), and pytest's tmp_path is far too deep for that.
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="kit-"))
    request.addfinalizer(lambda: shutil.rmtree(str(workdir), ignore_errors=True))
    info = pg_cluster.info()
    extra_vars = {
        "kit_repo": str(REPO),
        "kit_workdir": str(workdir),
        "kit_python": sys.executable,
        "kit_pg_host": info["host"],
        "kit_pg_port": info["port"],
        "kit_pg_user": info["user"],
        "kit_pg_password": info["password"],
        "kit_pg_database": "kong",
        "kit_pg_superuser": info["superuser"],
        "kit_pg_socket_dir": info["socket_dir"],
        "kit_kong_root": str(kong_root) if kong_root else "",
        "kit_kong_versions": list(versions),
    }
    rc, output = run_play(target, workdir, extra_vars, collections_dir)
    # The play's output outlives the work directory: pytest keeps tmp_path of the last runs.
    (tmp_path / "ansible-playbook.log").write_text(output)
    if rc != 0:
        pytest.fail("integration target %s: ansible-playbook exited %d\n%s" % (target, rc, output), pytrace=False)
