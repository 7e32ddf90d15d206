"""Each shared default is defined once, in the settings role (roles/settings/defaults/main.yml).

Roles and playbooks read those settings by name; a task that reads another host's value through hostvars falls back to
the settings' dicts (kong_node_defaults, kong_pg_defaults), never to a literal of its own. Argument specs and READMEs
document the defaults and are not scanned; comments are not code.
"""
import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
SETTINGS = ROOT / "roles" / "settings" / "defaults" / "main.yml"
LITERAL = r"""(?:'[^']*'|"[^"]*"|\d+)"""


def _code_files():
    for base in (ROOT / "roles", ROOT / "playbooks"):
        for path in sorted(base.rglob("*.yml")):
            if path == SETTINGS or path.name == "argument_specs.yml":
                continue
            yield path


def _code(path):
    """The file without its comment lines and trailing comments (a '#' after a space, outside a Jinja block)."""
    out = []
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        out.append(re.sub(r"\s+#(?![^{]*\}\}).*$", "", line))
    return "\n".join(out)


def _settings():
    return yaml.safe_load(SETTINGS.read_text())


def test_settings_define_the_shared_defaults():
    settings = _settings()
    assert set(settings["kong_node_defaults"]) == {"bin", "conf_path", "prefix", "admin_url"}, settings
    assert set(settings["kong_pg_defaults"]) == {"host", "port", "user", "database"}, settings
    for name in ("kong_node_role", "kong_cluster_name", "kong_upgrade_backup_dir", "kong_upgrade_report_dir"):
        assert settings.get(name), name


@pytest.mark.parametrize("path", list(_code_files()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_literal_fallback_for_a_setting(path):
    names = [n for n in _settings() if not n.endswith("_defaults")] + ["kong_pg_host", "kong_pg_port", "kong_pg_user", "kong_pg_database"]
    reads = r"\b(?:%s)\b(?:['\]]*)\s*\|\s*default\(\s*%s\s*\)" % ("|".join(map(re.escape, names)), LITERAL)
    found = re.findall(reads, _code(path))
    assert not found, "%s: a literal fallback for a setting the settings role defines: %s" % (path.relative_to(ROOT), found)


@pytest.mark.parametrize("path", list(_code_files()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_copy_of_a_default_path(path):
    settings = _settings()
    paths = list(settings["kong_node_defaults"].values()) + [settings["kong_upgrade_backup_dir"], settings["kong_upgrade_report_dir"]]
    code = _code(path)
    copies = [p for p in paths if re.search(re.escape(p) + r"(?![\w/.-])", code)]
    assert not copies, "%s repeats %s: read the setting instead" % (path.relative_to(ROOT), copies)
