"""playbooks/plan.yml reads the version each node runs from the node itself (the inventory's kong_current_version
overrides it), and names every host it cannot plan, with the reason. It changes nothing."""

import pytest
import yaml

from relkit import run_playbook


@pytest.fixture(scope="module")
def hybrid(lab_factory):
    return lab_factory("hybrid", version="2.8.4", offer=["3.4.2"], data_planes=2)


def _plan(lab, run_dir, inventory=None, **extra):
    before = lab.versions()
    run = run_playbook("plan.yml", inventory or lab.inventory, run_dir, extra=extra)
    assert lab.versions() == before
    return run


def test_versions_read_from_the_nodes(hybrid, run_dir):
    run = _plan(hybrid, run_dir, kong_target_version="3.4.2")
    assert run.rc == 0, run
    assert "kong_control_plane (1 host(s): cp1) 2.8.4 -> 3.4.2" in run.text, run
    assert "kong_data_plane (2 host(s): dp1, dp2) 2.8.4 -> 3.4.2" in run.text, run
    assert "path 2.8.4 -> 3.4.2" in run.text, run


def test_inventory_version_overrides_the_node(hybrid, run_dir):
    run = _plan(hybrid, run_dir, kong_target_version="3.4.2", kong_current_version="3.0.2")
    assert run.rc == 0, run
    assert "kong_control_plane (1 host(s): cp1) 3.0.2 -> 3.4.2" in run.text, run
    assert "2.8.4 ->" not in run.text, run


def test_every_host_without_a_plan_is_named_with_the_reason(hybrid, run_dir, tmp_path):
    inventory = yaml.safe_load(hybrid.inventory.read_text())
    dp2 = inventory["all"]["children"]["kong_data_plane"]["hosts"]["dp2"]
    dp2.update({"kong_node_status_url": "http://127.0.0.1:9", "kong_node_bin": str(tmp_path / "no-kong")})
    broken = tmp_path / "inventory.yml"
    broken.write_text(yaml.safe_dump(inventory))
    run = _plan(hybrid, run_dir, inventory=broken, kong_target_version="3.4.2")
    assert run.rc != 0, run
    assert "No plan for 1 host(s): dp2: its version could not be read from the node" in run.text, run
    run = _plan(hybrid, run_dir)
    assert run.rc != 0, run
    assert "cp1: no kong_target_version (set it with -e kong_target_version=...)" in run.text, run
