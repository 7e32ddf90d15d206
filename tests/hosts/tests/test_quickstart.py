"""README's quick start against real hosts (steps 2 and 3): an inventory written by hand from the shipped example
(inventories/examples/hybrid/hosts.yml, the way README and docs/getting-started.md say to adapt it, not the lab's own
inventory), then plan.yml and preflight.yml. The plan reads each node's version from the node; nothing is changed."""
import os

import yaml

from hostkit import ROOT, recap
from hosts.image import LOGIN_USER
from lab.topology import ADMIN_PORT, PROXY_PORT, STATUS_PORT


def _hand_written_inventory(lab, directory):
    """The example inventory with this fleet's names, addresses, login and package repository filled in."""
    inv = yaml.safe_load((ROOT / "inventories" / "examples" / "hybrid" / "hosts.yml").read_text())
    hosts = lab.state["hosts"]
    kong = [h for h in hosts if h["kind"] == "kong"]
    cps = [h for h in kong if h["role"] == "control_plane"]
    dps = [h for h in kong if h["role"] == "data_plane"]
    pgs = [h for h in hosts if h["kind"] == "postgresql"]
    lbs = [h for h in hosts if h["kind"] == "haproxy"]
    ssh = lab.dir / "ssh"
    top = inv["all"]
    top["vars"].update({
        "ansible_user": LOGIN_USER,
        "ansible_ssh_private_key_file": str(ssh / "id_ed25519"),
        "ansible_ssh_common_args": "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes" % (ssh / "known_hosts"),
        "kong_node_repository_url": lab._lab().repo_url().replace("{line}", "{{ kong_node_repository_line }}"),
        "kong_node_repository_key_url": lab._lab().repo_key_url().replace("{line}", "{{ kong_node_repository_line }}"),
    })
    groups = top["children"]
    # Kong listens on each host's own address here, not on 127.0.0.1 as in the example
    groups["kong_control_plane"]["vars"]["kong_database_host"] = pgs[0]["name"]
    groups["kong_control_plane"]["hosts"] = {h["name"]: {"ansible_host": h["address"],
                                                         "kong_node_admin_url": "http://%s:%d" % (h["address"], ADMIN_PORT)}
                                             for h in cps}
    groups["kong_data_plane"]["vars"]["kong_node_cp_host"] = cps[0]["name"]
    groups["kong_data_plane"]["hosts"] = {h["name"]: {"ansible_host": h["address"],
                                                      "kong_node_status_url": "http://%s:%d" % (h["address"], STATUS_PORT),
                                                      "kong_node_proxy_url": "http://%s:%d" % (h["address"], PROXY_PORT)}
                                          for h in dps}
    example_db = next(iter(groups["kong_database"]["hosts"].values()))
    groups["kong_database"]["hosts"] = {h["name"]: dict(example_db, ansible_host=h["address"], kong_pg_host=h["address"])
                                        for h in pgs}
    groups["kong_load_balancer"]["hosts"] = {h["name"]: {"ansible_host": h["address"]} for h in lbs}
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "hosts.yml"
    path.write_text(yaml.safe_dump(inv, sort_keys=False))
    # the database password beside the inventory, readable by its owner only (README: a vault file or a credential)
    secrets = directory / "group_vars" / "all"
    secrets.mkdir(parents=True)
    fd = os.open(str(secrets / "secrets.yml"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump({"kong_pg_password": lab.state["pg_password"]}, f)
    return path


def test_quick_start_plan_and_preflight_from_the_example_inventory(host_lab, tmp_path):
    lab = host_lab("hybrid", "--data-planes", "1", "--version", "2.8.4")
    before = {n: (r.get("package"), r.get("running_version")) for n, r in lab.status().items()}
    inventory = _hand_written_inventory(lab, tmp_path / "inventory")
    plan = lab.playbook("plan.yml", "kong_target_version=3.4.2", inventory=inventory)
    assert "kong_control_plane (1 host(s): cp1) 2.8.4 -> 3.4.2" in plan.stdout, plan.stdout[-4000:]
    assert "kong_data_plane (1 host(s): dp1) 2.8.4 -> 3.4.2" in plan.stdout, plan.stdout[-4000:]
    preflight = lab.playbook("preflight.yml", "kong_target_version=3.4.2", inventory=inventory)
    assert "Preflight passed: 2 node(s), path 2.8.4 -> 3.4.2" in preflight.stdout, preflight.stdout[-4000:]
    for out in (plan.stdout, preflight.stdout):
        assert all(c["changed"] == 0 and c["failed"] == 0 for c in recap(out).values()), out[-3000:]
    assert {n: (r.get("package"), r.get("running_version")) for n, r in lab.status().items()} == before
