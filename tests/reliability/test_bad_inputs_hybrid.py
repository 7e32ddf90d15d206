"""Bad inputs against a hybrid cluster (1 control plane + 1 data plane on 2.8.4): the preflight refuses each one
before anything changes, and lists every problem of the run at once.

One lab for the module; each test runs playbooks/preflight.yml (what every upgrade playbook starts with) and
checks: exit status non-zero, the problem named in the operator's message with what to do, nothing changed
(versions installed and running, the database's configuration fingerprint, no backup written), and the gateway
still serving through HAProxy.
"""

import pathlib
import socket
import time

import pytest

from relkit import assert_refused, run_playbook


@pytest.fixture(scope="module")
def hybrid(lab_factory):
    lab = lab_factory("hybrid", version="2.8.4", offer=["3.4.2"], data_planes=1)
    return {"lab": lab, "versions": lab.versions(), "fingerprint": lab.fingerprint()}


def refused(hybrid, run, tmp):
    return assert_refused(run, hybrid["lab"], hybrid["versions"], hybrid["fingerprint"], tmp / "backups")


def base_vars(tmp, **kw):
    out = {"kong_upgrade_backup_dir": str(tmp / "backups")}
    out.update(kw)
    return out


def test_unparseable_target_bad_strategy_wrong_password_listed_at_once(hybrid, run_dir):
    """Three independent problems in one run: all three are listed (not only the first)."""
    lab = hybrid["lab"]
    run = run_playbook("preflight.yml", lab.inventory, run_dir,
                       extra=base_vars(run_dir, kong_target_version="3.4.x", kong_cp_strategy="blue_green",
                                       kong_pg_password="not-the-password"))
    problems = refused(hybrid, run, run_dir)
    assert 'target version "3.4.x" is not a Kong version' in problems
    assert "strategy blue_green is not allowed for a hybrid deployment (allowed: in_place, dual_cluster)" in problems
    assert "cannot use the Kong database" in problems and "wrong credentials?" in problems
    assert "not-the-password" not in run.output + run.err


def test_hybrid_run_without_a_target_names_the_variable(hybrid, run_dir):
    run = run_playbook("upgrade_hybrid.yml", hybrid["lab"].inventory, run_dir, extra=base_vars(run_dir))
    problems = refused(hybrid, run, run_dir)
    assert "kong_target_version is not set" in problems and "-e kong_target_version=" in problems


def test_hybrid_cassandra_to_3_4_refused(hybrid, run_dir):
    run = run_playbook("upgrade_hybrid.yml", hybrid["lab"].inventory, run_dir,
                       extra=base_vars(run_dir, kong_target_version="3.4.2", kong_database="cassandra"))
    problems = refused(hybrid, run, run_dir)
    assert "Cassandra is not supported by Kong 3.4" in problems, problems


def test_data_plane_matched_by_the_host_name_kong_reports(hybrid, run_dir):
    """A data plane whose inventory name is not its host name (and no facts gathered): the health gate finds it in the
    control plane's list under the host name read on the node itself, as Kong reports it. (Lab data planes all share
    this machine's host name; with one data plane the match is unambiguous.)"""
    lab = hybrid["lab"]

    def edit(doc):
        dps = doc["all"]["children"]["kong_data_plane"]["hosts"]
        hv = dps.pop("dp1")
        hv.pop("kong_node_dp_identity", None)
        hv.pop("kong_node_dp_identity_field", None)
        dps["edge-dp-7"] = hv

    inventory = lab.bad_inventory("inventory-renamed-dp.yml", edit)
    play = pathlib.Path(__file__).parent / "files" / "dp_health.yml"
    run = run_playbook(play, inventory, run_dir, extra={"expected_version": "2.8.4", "kong_node_health_retries": 2})
    assert run.rc == 0, run
    assert "listed as %s (inventory name edge-dp-7)" % socket.gethostname() in run.text, run


def test_downgrade_refused(hybrid, run_dir):
    lab = hybrid["lab"]
    run = run_playbook("preflight.yml", lab.inventory, run_dir, extra=base_vars(run_dir, kong_target_version="2.8.0"))
    problems = refused(hybrid, run, run_dir)
    assert "no upgrade path from 2.8.4 to 2.8.0" in problems
    assert "downgrades are not supported" in problems


def test_missing_group_missing_password_and_target_not_installable(hybrid, run_dir):
    """An inventory without data planes and without the database password (no group_vars beside it), and a target
    release the package repository does not offer: all three listed."""
    lab = hybrid["lab"]

    def edit(doc):
        doc["all"]["children"]["kong_data_plane"] = {}

    (lab.dir / "bad").mkdir(exist_ok=True)
    inventory = lab.bad_inventory("bad/inventory-no-dp.yml", edit)
    check = [str(lab.dir / "bin" / "kong-install-check"), "{{ preflight_install_version }}"]
    (lab.dir / "bin" / "kong-install-check").write_text(
        "#!/bin/sh\n# exit 0 when the lab's package repository offers Kong $1\ntest -x '%s'/\"$1\"/bin/kong\n" % (lab.dir / "repo"))
    (lab.dir / "bin" / "kong-install-check").chmod(0o755)
    run = run_playbook("preflight.yml", inventory, run_dir,
                       extra=base_vars(run_dir, kong_target_version="3.4.1", kong_install_check_command=check))
    problems = refused(hybrid, run, run_dir)
    assert "inventory group kong_data_plane has no host" in problems
    assert "kong_pg_password" in problems and "not set" in problems
    assert "release 3.4.1 is not installable" in problems


def test_installable_target_passes(hybrid, run_dir):
    """The control case of the one above: the same check command accepts a release the repository offers, and the
    whole preflight passes (so the refusals above are about the inputs, not a broken lab)."""
    lab = hybrid["lab"]
    check = [str(lab.dir / "bin" / "kong-install-check"), "{{ preflight_install_version }}"]
    if not (lab.dir / "bin" / "kong-install-check").exists():
        pytest.skip("needs the check command of the test above")
    run = run_playbook("preflight.yml", lab.inventory, run_dir,
                       extra=base_vars(run_dir, kong_target_version="3.4.2", kong_install_check_command=check))
    assert run.rc == 0, run
    assert "Preflight passed: 2 node(s), path 2.8.4 -> 3.4.2" in run.text
    assert lab.versions() == hybrid["versions"]


def test_data_plane_newer_than_control_plane(hybrid, run_dir):
    """dp1 runs 3.4.2 under a 2.8.4 control plane (rejected by it, serving its cache). Last test: it changes the lab."""
    lab = hybrid["lab"]
    assert lab.kong_install("dp1", "3.4.2").returncode == 0
    assert lab.kong_service("dp1", "restart").returncode == 0
    # the control plane's row for dp1 says 2.8.4 until the restarted node has connected (and been rejected): wait for
    # it, so that "nothing changed" compares with the state the preflight saw, not with a row about to be updated
    deadline = time.monotonic() + 60
    while lab.versions()["dp1"] != ("3.4.2", "3.4.2") and time.monotonic() < deadline:
        time.sleep(1)
    hybrid["versions"] = lab.versions()
    assert hybrid["versions"]["dp1"] == ("3.4.2", "3.4.2"), hybrid["versions"]
    run = run_playbook("preflight.yml", lab.inventory, run_dir, extra=base_vars(run_dir, kong_target_version="3.4.2"))
    problems = refused(hybrid, run, run_dir)
    assert "data plane dp1 runs 3.4.2, newer than (or another major than) its control plane 2.8.4" in problems
    assert "a control plane must be at least as new as its data planes" in problems
