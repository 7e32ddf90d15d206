"""inventories/examples/<mode>/hosts.yml parse with ansible-inventory and have the groups the playbooks need."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
# The groups each mode's playbook requires (playbooks/preflight.yml preflight_required_groups, plus the load balancer).
REQUIRED = {
    "traditional": ["kong_traditional", "kong_database", "kong_load_balancer"],
    "dbless": ["kong_dbless", "kong_load_balancer"],
    "hybrid": ["kong_control_plane", "kong_data_plane", "kong_database", "kong_load_balancer"],
}


@pytest.mark.parametrize("mode", sorted(REQUIRED))
def test_example_inventory(mode, tmp_path):
    path = ROOT / "inventories" / "examples" / mode / "hosts.yml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(HOME=str(tmp_path), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_INVENTORY_UNPARSED_FAILED="true")
    proc = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(path), "--list"], env=env, cwd=str(tmp_path),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    inv = json.loads(proc.stdout)
    hostvars = inv["_meta"]["hostvars"]
    for group in REQUIRED[mode]:
        assert inv.get(group, {}).get("hosts"), "group %s has no hosts in %s" % (group, path)
    for host, hv in hostvars.items():
        assert "kong_pg_password" not in hv, "%s: the database password belongs in a vault or credential" % host
    if mode == "hybrid":
        assert {hostvars[h]["kong_node_role"] for h in inv["kong_control_plane"]["hosts"]} == {"control_plane"}
        assert {hostvars[h]["kong_node_role"] for h in inv["kong_data_plane"]["hosts"]} == {"data_plane"}
    if mode in ("traditional", "hybrid"):
        db_hosts = inv["kong_database"]["hosts"]
        for host in inv["kong_traditional" if mode == "traditional" else "kong_control_plane"]["hosts"]:
            assert hostvars[host]["kong_database_host"] in db_hosts
        for host in db_hosts:
            assert {"kong_pg_host", "kong_pg_port"} <= set(hostvars[host])
