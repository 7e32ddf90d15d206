"""inventories/examples/<mode>/hosts.yml parse with ansible-inventory and have the groups the playbooks need;
the variables they and docs/getting-started.md name exist in the code (no drift)."""
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest
import yaml

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
    try:
        inv = json.loads(proc.stdout)
    except ValueError as e:
        raise AssertionError("ansible-inventory --list: stdout is not JSON (%s)\nstderr:\n%s\nstdout:\n%s" % (e, proc.stderr, proc.stdout[-3000:])) from e
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


def _role_options():
    """Every variable of every role's meta/argument_specs.yml (all entry points)."""
    options = set()
    for spec in sorted((ROOT / "roles").glob("*/meta/argument_specs.yml")):
        for entry in (yaml.safe_load(spec.read_text()).get("argument_specs") or {}).values():
            options |= set((entry or {}).get("options") or {})
    return options


def _code_text():
    parts = []
    for d in ("playbooks", "roles"):
        for path in sorted((ROOT / d).rglob("*")):
            if path.is_file() and path.suffix in (".yml", ".yaml", ".j2") and path.name != "argument_specs.yml":
                parts.append(path.read_text())
    return "\n".join(parts)


def _documented_variables():
    """Variables the example inventories set and the getting-started page names, with where."""
    found = {}
    for path in sorted((ROOT / "inventories" / "examples").rglob("*.yml")):
        for name in re.findall(r"^\s*([a-z][a-z0-9_]*):", path.read_text(), re.M):
            found.setdefault(name, str(path.relative_to(ROOT)))
    page = ROOT / "docs" / "getting-started.md"
    for name in re.findall(r"`([a-z][a-z0-9_]*)`", page.read_text()):
        found.setdefault(name, "docs/getting-started.md")
    return found


def test_documented_variables_exist():
    """No drift: a role-prefixed variable in the examples or docs is in that role's argument specs; any other
    kong_* variable there is read somewhere in playbooks/ or roles/."""
    roles = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file())
    options = _role_options()
    code = _code_text()
    plugins = {p.stem for p in (ROOT / "plugins").glob("*/*.py")} | {p.stem for p in (ROOT / "plugins").glob("*/*.yml")}
    problems = []
    for name, where in sorted(_documented_variables().items()):
        if name in plugins:  # a module or filter named in the page, not a variable
            continue
        role = next((r for r in roles if name.startswith(r + "_")), None)
        if role:
            if name not in options:
                problems.append("%s (%s): not in roles/%s/meta/argument_specs.yml" % (name, where, role))
        elif name.startswith("kong_") and not re.search(r"(?<![\w.])%s(?!\w)" % re.escape(name), code):
            problems.append("%s (%s): not read by any playbook or role" % (name, where))
    assert not problems, "documented variables that the code does not have:\n  " + "\n  ".join(problems)
