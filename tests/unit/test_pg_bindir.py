"""kong_pg_bindir (the database host's PostgreSQL client tools, as new as the server: pg_dump refuses an older client)
is honoured by every dump and restore the collection runs, not only by playbooks/backup.yml: a task that leaves the
tool path to PATH would run whatever pg_dump the database host has first on PATH."""
import pathlib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOOLS = {"kongops.upgrade.kong_pg_backup": ["pg_dump_path"], "kongops.upgrade.kong_pg_restore": ["pg_restore_path", "psql_path"]}


def _tasks(node):
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        if any(k in node for k in TOOLS):
            yield node
        for key in ("tasks", "pre_tasks", "post_tasks", "block", "rescue", "always", "handlers"):
            if key in node:
                yield from _tasks(node[key])


def test_every_dump_and_restore_uses_kong_pg_bindir():
    found, missing = [], []
    for path in sorted(list((ROOT / "roles").rglob("tasks/*.yml")) + list((ROOT / "playbooks").rglob("*.yml"))):
        doc = yaml.safe_load(path.read_text())
        for task in _tasks(doc):
            module = next(k for k in TOOLS if k in task)
            found.append((path.name, task.get("name")))
            for option in TOOLS[module]:
                if "kong_pg_bindir" not in str(task[module].get(option, "")):
                    missing.append("%s: %s: %s" % (path.relative_to(ROOT), task.get("name"), option))
    # kong_db holds the upgrades' one backup and one restore; playbooks/backup.yml and the preflight's estimate the others.
    assert len(found) >= 4, found
    assert not missing, "dump/restore tasks that ignore kong_pg_bindir:\n" + "\n".join(missing)
