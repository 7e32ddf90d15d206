"""Secrets: the database password (kept in an Ansible Vault file) appears in no process argument list, no -vvv
output, no report, and no file the run writes is readable by other users; the vault-encrypted variable works.

One traditional node on 2.8.4 and its PostgreSQL; playbooks/backup.yml (a verified pg_dump, the node's files with
its kong.conf, a report) and playbooks/preflight.yml run with -vvv while /proc/*/cmdline of every process of the
run is sampled (the approach of tests/integration/test_pg_secrets.py, over a whole playbook)."""

import os
import stat
import subprocess

import pytest

from relkit import VENV_BIN, playbook_env, run_playbook, write_private


@pytest.fixture(scope="module")
def vaulted(lab_factory, tmp_path_factory):
    """The lab with its group_vars/all/secrets.yml encrypted by ansible-vault (password in a 0600 file)."""
    lab = lab_factory("traditional", version="2.8.4", offer=["3.4.2"], nodes=1)
    tmp = tmp_path_factory.mktemp("vault")
    vault_pass = write_private(tmp / "vault-pass", "h4-vault-passphrase-%s\n" % os.getpid())
    secrets = lab.dir / "group_vars" / "all" / "secrets.yml"
    subprocess.run([str(VENV_BIN / "ansible-vault"), "encrypt", "--vault-password-file", str(vault_pass), str(secrets)],
                   check=True, capture_output=True, env=playbook_env(tmp))
    return {"lab": lab, "vault_pass": vault_pass, "secrets": secrets, "password": lab.lab.pg_password()}


def _private_files(root):
    """Files and directories under root that group or others can read (or write)."""
    bad = []
    for dirpath, dirnames, filenames in os.walk(str(root)):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            mode = os.lstat(path).st_mode
            if not stat.S_ISLNK(mode) and mode & (stat.S_IRWXG | stat.S_IRWXO):
                bad.append("%s %o" % (path, stat.S_IMODE(mode)))
    return bad


def _grep(root, needle):
    hits = []
    for dirpath, _dirnames, filenames in os.walk(str(root)):
        for name in filenames:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                if needle.encode() in f.read():
                    hits.append(path)
    return hits


def test_vault_secret_stays_out_of_argv_output_reports_and_shared_files(vaulted, run_dir):
    lab, password = vaulted["lab"], vaulted["password"]
    text = vaulted["secrets"].read_text()
    assert text.startswith("$ANSIBLE_VAULT;") and password not in text
    backups, reports = run_dir / "backups", run_dir / "reports"
    run = run_playbook("backup.yml", lab.inventory, run_dir, sample=True,
                       args=["-vvv", "--vault-password-file", str(vaulted["vault_pass"])],
                       extra={"kong_upgrade_backup_dir": str(backups), "kong_upgrade_report_dir": str(reports)})
    # the vaulted password worked: the verified dump connected with it
    assert run.rc == 0, run
    assert list(backups.rglob("manifest.json"))
    # the sampling saw the work (else it would prove nothing): the modules and the PostgreSQL client programs
    progs = {os.path.basename(c.split(" ", 1)[0]) for c in run.cmdlines}
    assert "pg_dump" in progs, sorted(progs)
    assert any("AnsiballZ_kong_pg_backup" in c for c in run.cmdlines)
    assert [c for c in run.cmdlines if password in c] == []
    assert password not in run.output + run.err
    # no report holds it; the backup holds it only where the host holds it too (copies of kong.conf and of the prefix's
    # .kong_env, which Kong writes with the merged configuration), never readable by others
    assert _grep(reports, password) == []
    assert [p for p in _grep(backups, password) if not p.endswith(("/kong.conf", "/.kong_env"))] == []
    assert _private_files(backups) == []
    assert _private_files(reports) == []
    assert list(backups.rglob("*")) and list(reports.glob("*.json"))


def test_preflight_with_vvv_leaks_nothing(vaulted, run_dir):
    lab, password = vaulted["lab"], vaulted["password"]
    run = run_playbook("preflight.yml", lab.inventory, run_dir, sample=True,
                       args=["-vvv", "--vault-password-file", str(vaulted["vault_pass"])],
                       extra={"kong_target_version": "3.4.2", "kong_upgrade_backup_dir": str(run_dir / "backups")})
    assert run.rc == 0, run
    assert any("AnsiballZ_kong_db_fingerprint" in c for c in run.cmdlines)
    assert [c for c in run.cmdlines if password in c] == []
    assert password not in run.output + run.err


def test_without_the_vault_password_nothing_runs(vaulted, run_dir):
    """The control of the two tests above: the secret is really vaulted (no vault password -> the run stops)."""
    run = run_playbook("preflight.yml", vaulted["lab"].inventory, run_dir,
                       extra={"kong_target_version": "3.4.2", "kong_upgrade_backup_dir": str(run_dir / "backups")})
    assert run.rc != 0
    assert "vault" in run.text.lower()
    assert vaulted["password"] not in run.output + run.err
