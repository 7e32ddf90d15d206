"""Tasks that run on the controller (delegate_to: localhost, plays on localhost) say become: false: an inventory with
ansible_become: true on 'all' (as the example inventories have it) would otherwise make them sudo on the controller,
which needs no root and may have no sudo at all, and would leave the report and state files with mixed owners."""
import pathlib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
NESTED = ("tasks", "pre_tasks", "post_tasks", "handlers", "block", "rescue", "always")


def _walk(node, found):
    if isinstance(node, list):
        for item in node:
            _walk(item, found)
    elif isinstance(node, dict):
        if node.get("delegate_to") == "localhost" or node.get("hosts") == "localhost":
            found.append(node)
        for key in NESTED:
            if key in node:
                _walk(node[key], found)


def test_controller_tasks_never_become():
    found, offenders = [], []
    for path in sorted(list((ROOT / "roles").rglob("tasks/*.yml")) + list((ROOT / "playbooks").rglob("*.yml"))):
        nodes = []
        _walk(yaml.safe_load(path.read_text()), nodes)
        found += nodes
        offenders += ["%s: %s" % (path.relative_to(ROOT), n.get("name")) for n in nodes if n.get("become") is not False]
    assert len(found) >= 15, len(found)
    assert not offenders, "controller tasks without become: false:\n" + "\n".join(offenders)
