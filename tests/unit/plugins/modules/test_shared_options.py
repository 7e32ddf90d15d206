# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One name, type and default per shared option across the modules: the kong CLI options (doc fragment kong_cli,
kong_cli.cli_argument_spec), the Admin and Status API options (doc fragment kong_api, kong_admin.admin_argument_spec),
and one way to hand a KONG_* environment to a child process (kong_cli.cli_environment)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pathlib

import pytest
import yaml

from ansible_collections.kongops.upgrade.plugins.module_utils.kong_admin import admin_argument_spec, client_kwargs
from ansible_collections.kongops.upgrade.plugins.module_utils.kong_cli import cli_argument_spec, cli_environment

MODULES = pathlib.Path(__file__).resolve().parents[4] / "plugins" / "modules"


def _doc(path):
    text = path.read_text()
    start = text.index('DOCUMENTATION = r"""') + len('DOCUMENTATION = r"""')
    return text, yaml.safe_load(text[start:text.index('"""', start)])


@pytest.mark.parametrize("path", sorted(MODULES.glob("*.py")), ids=lambda p: p.stem)
def test_module_uses_the_shared_names(path):
    text, doc = _doc(path)
    options = doc.get("options") or {}
    fragments = doc.get("extends_documentation_fragment") or []
    # kong.conf is `conf` everywhere (conf_path is only an alias).
    assert "conf_path" not in options, "%s: the kong.conf option is named conf (alias conf_path)" % path.stem
    if "conf" in options:
        assert options["conf"].get("aliases") == ["conf_path"], path.stem
    # A module that reads the Admin or Status API takes the shared options.
    if "admin_url" in text:
        assert "kongops.upgrade.kong_api" in fragments and "admin_argument_spec(" in text, path.stem
        assert not set(options) & set(admin_argument_spec()), "%s redefines shared API options" % path.stem
    # A module with an environment hides every value the same way.
    if "environment=dict" in text or "cli_argument_spec(" in text:
        assert "cli_environment(module" in text, "%s: pass environment through cli_environment" % path.stem


class FakeModule:
    def __init__(self, environment):
        self.params = {"environment": environment}
        self.no_log_values = set()
        self.failed = None

    def fail_json(self, **kwargs):
        self.failed = kwargs
        raise RuntimeError(kwargs["msg"])


def test_environment_values_hidden_and_stringified():
    module = FakeModule({"KONG_PG_PASSWORD": "s3cret", "KONG_PG_PORT": 5432, "KONG_EMPTY": "", "KONG_UNSET": None})
    env = cli_environment(module)
    assert env == {"KONG_PG_PASSWORD": "s3cret", "KONG_PG_PORT": "5432", "KONG_EMPTY": ""}
    assert module.no_log_values == {"s3cret", "5432"}


def test_environment_refuses_other_names_unless_asked():
    module = FakeModule({"KONG_PG_USER": "kong", "PG_PASSWORD": "x"})
    with pytest.raises(RuntimeError, match="only KONG_"):
        cli_environment(module)
    assert "PG_PASSWORD" in module.failed["msg"] and "x" not in module.failed["msg"].split(": ")[-1].split(", ")
    assert cli_environment(FakeModule({"HTTPS_PROXY": "http://proxy:3128"}), kong_only=False) == {"HTTPS_PROXY": "http://proxy:3128"}


def test_specs_take_a_module_default_without_changing_the_shared_one():
    service = cli_argument_spec(conf="/etc/kong/kong.conf", prefix="/usr/local/kong")
    assert service["conf"] == {"type": "path", "aliases": ["conf_path"], "default": "/etc/kong/kong.conf"}
    assert "default" not in cli_argument_spec()["conf"] and "default" not in cli_argument_spec()["prefix"]
    assert cli_argument_spec()["environment"]["no_log"] is True
    assert admin_argument_spec()["timeout"]["default"] == 10 and admin_argument_spec()["admin_token"]["no_log"] is True


def test_client_kwargs_from_partial_params():
    assert client_kwargs({"validate_certs": False, "timeout": 3}) == {
        "validate_certs": False, "ca_path": None, "client_cert": None, "client_key": None, "timeout": 3}
