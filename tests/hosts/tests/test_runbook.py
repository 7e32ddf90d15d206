"""Every command of docs/runbook-2.8-to-3.4.md, in the page's order, against container hosts on Kong 2.8.4.

The commands are read from the page's ```sh <scenario>``` blocks and run as written, with two substitutions: the
inventory's path for `inventory`, and `--vault-password-file` for `--ask-vault-pass` (the database password is in an
ansible-vault file). The lab's inventory gets `kong_upgrade_report_dir` in its group_vars, as the page says to keep
it. After each command, what the page says it does is checked on the hosts.

Full matrix only (scripts/test full): each upgrade it runs also runs in CI in the hosts stage (in-place 3.3.1 ->
3.4.2, dual-cluster 2.8.4 -> 3.4.2), the molecule stage (hybrid 2.8.4 -> 3.4.2, the in-place rollback of
failure_migration) and the quick-start test (plan and preflight from a hand-written inventory).
"""
import os
import re
import secrets
import shlex

import pytest

from hostkit import BIN, ROOT, recap, run

RUNBOOK = ROOT / "docs" / "runbook-2.8-to-3.4.md"


def commands(scenario):
    """The page's commands of one scenario, in order."""
    blocks = re.findall(r"^```sh %s\n(.*?)^```" % re.escape(scenario), RUNBOOK.read_text(), re.M | re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def _prepare(lab, tmp_path):
    """Vault the lab's database password, and keep the reports in the lab's directory."""
    password = tmp_path / "vault-pass"
    fd = os.open(str(password), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(16))
    run([BIN / "ansible-vault", "encrypt", "--vault-password-file", password, lab.dir / "group_vars" / "all" / "secrets.yml"])
    (lab.dir / "group_vars" / "all" / "reports.yml").write_text("kong_upgrade_report_dir: %s\n" % (lab.dir / "reports"))
    return password


def _run(lab, line, password):
    argv = shlex.split(line)
    assert argv[0] == "ansible-playbook" and argv[argv.index("-i") + 1] == "inventory", line
    argv[argv.index("-i") + 1] = str(lab.inventory)
    argv = ["--vault-password-file=%s" % password if a == "--ask-vault-pass" else a for a in argv]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    proc = run([BIN / "ansible-playbook"] + argv[1:], env=env, timeout=1800, check=False)
    assert proc.returncode == 0, "%s\nexit %d\n%s\n%s" % (line, proc.returncode, proc.stderr[-2000:], proc.stdout[-4000:])
    counts = recap(proc.stdout)
    assert counts and all(c["failed"] == 0 and c["unreachable"] == 0 for c in counts.values()), (line, counts)
    return proc.stdout


def _versions(lab, nodes):
    status = lab.status()
    return {n: status[n]["running_version"] for n in nodes}


def _walk(lab, scenario, nodes, tmp_path):
    """Each command in turn; yields (command, output, versions after it)."""
    password = _prepare(lab, tmp_path)
    lines = commands(scenario)
    assert lines, "no ```sh %s``` block in %s" % (scenario, RUNBOOK)
    for line in lines:
        out = _run(lab, line, password)
        yield line, out, _versions(lab, nodes)


def _expected(line, before, x, y):
    """The versions the page says a command leaves: --check changes nothing, the upgrade gives Y, the rollback X."""
    playbook = line.split()[1].rsplit(".", 1)[-1]
    if "--check" in line:
        return before
    return y if playbook.startswith("upgrade_") else x if playbook == "rollback" else before


@pytest.mark.full_only
def test_runbook_traditional(host_lab, tmp_path):
    lab = host_lab("traditional", "--nodes", "2", "--version", "2.8.4")
    nodes = ["kong1", "kong2"]
    x, y = {n: "2.8.4" for n in nodes}, {n: "3.4.2" for n in nodes}
    pg = next(h["name"] for h in lab.state["hosts"] if h["kind"] == "postgresql")
    expected, ran = x, []
    for line, out, versions in _walk(lab, "traditional", nodes, tmp_path):
        playbook = line.split()[1].rsplit(".", 1)[-1]
        ran.append(playbook + (" --check" if "--check" in line else ""))
        if playbook == "plan" and expected == x:
            assert "path 2.8.4 -> 3.4.2, guaranteed" in out and "Crossing 3.0" in out, out[-3000:]
        elif playbook == "plan":
            assert "(no hops: already at the target)" in out, out[-3000:]
        elif playbook == "preflight":
            assert "Preflight passed: 2 node(s), path 2.8.4 -> 3.4.2" in out, out[-3000:]
        elif playbook == "backup":
            assert lab.ssh(pg, "sudo -n find /var/backups/kong -name manifest.json").stdout.split(), out[-3000:]
        expected = _expected(line, expected, x, y)
        assert versions == expected, (line, versions)
    assert ran == ["plan", "preflight", "backup", "upgrade_traditional --check", "upgrade_traditional", "plan",
                   "rollback --check", "rollback"], ran


@pytest.mark.full_only
def test_runbook_hybrid(host_lab, tmp_path):
    lab = host_lab("hybrid", "--data-planes", "2", "--version", "2.8.4")
    nodes = ["cp1", "dp1", "dp2"]
    x, y = {n: "2.8.4" for n in nodes}, {n: "3.4.2" for n in nodes}
    expected, ran = x, []
    for line, out, versions in _walk(lab, "hybrid", nodes, tmp_path):
        playbook = line.split()[1].rsplit(".", 1)[-1]
        ran.append(playbook + (" --check" if "--check" in line else ""))
        if playbook == "plan":
            assert "kong_control_plane (1 host(s): cp1) 2.8.4 -> 3.4.2" in out and "Crossing 3.0" in out, out[-3000:]
        elif playbook == "preflight":
            assert "Preflight passed: 3 node(s), path 2.8.4 -> 3.4.2" in out, out[-3000:]
        expected = _expected(line, expected, x, y)
        assert versions == expected, (line, versions)
    assert ran == ["plan", "preflight", "backup", "upgrade_hybrid --check", "upgrade_hybrid", "rollback --check"], ran
