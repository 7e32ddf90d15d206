# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drive kong_upgrade_path's main() with module arguments, as Ansible would."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json

import pytest

from ansible.module_utils import basic

from ansible_collections.kongops.upgrade.plugins.modules import kong_upgrade_path


class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


@contextlib.contextmanager
def module_args(args, check_mode=False):
    """Hand ``args`` to the next AnsibleModule, the way the controller does (legacy serialization profile)."""
    payload = dict(args)
    if check_mode:
        payload["_ansible_check_mode"] = True
    buffer = json.dumps({"ANSIBLE_MODULE_ARGS": payload}).encode()
    saved = (basic._ANSIBLE_ARGS, getattr(basic, "_ANSIBLE_PROFILE", None))
    basic._ANSIBLE_ARGS = buffer
    if hasattr(basic, "_ANSIBLE_PROFILE"):
        basic._ANSIBLE_PROFILE = "legacy"
    try:
        yield
    finally:
        basic._ANSIBLE_ARGS = saved[0]
        if hasattr(basic, "_ANSIBLE_PROFILE"):
            basic._ANSIBLE_PROFILE = saved[1]


@pytest.fixture
def run(monkeypatch):
    warned = []

    def exit_json(self, **kwargs):
        raise ExitJson(kwargs)

    def fail_json(self, **kwargs):
        raise FailJson(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, msg: warned.append(msg))

    def _run(args, check_mode=False, expect=ExitJson):
        del warned[:]
        with module_args(args, check_mode):
            with pytest.raises((ExitJson, FailJson)) as info:
                kong_upgrade_path.main()
        assert isinstance(info.value, expect), info.value.args[0]
        result = info.value.args[0]
        result["_warned"] = list(warned)
        return result

    return _run


def test_acceptance_lts_hop(run):
    result = run({"current_version": "2.8.4", "target_version": "3.4.3"})
    assert result["changed"] is False
    assert result["path"] == ["2.8.4", "3.4.3"]
    assert [h["kind"] for h in result["hops"]] == ["lts"]
    assert result["guaranteed"] is True
    assert result["strategies"] == {"traditional": ["dual_cluster", "in_place"]}
    assert result["plan_warnings"] and result["plan_warnings"] == result["_warned"]
    assert "warnings" not in result


def test_acceptance_1_5_passes_a_2x(run):
    result = run({"current_version": "1.5.1", "target_version": "3.4.3"})
    middle = result["path"][1:-1]
    assert middle and all(v.startswith("2.") and int(v.split(".")[1]) >= 1 for v in middle)


def test_acceptance_cassandra_fails(run):
    result = run({"current_version": "2.8.4", "target_version": "3.4.0", "database": "cassandra"}, expect=FailJson)
    assert "Cassandra" in result["msg"] and "3.3" in result["msg"] and "PostgreSQL" in result["msg"]


def test_check_mode_gives_the_same_result(run):
    args = {"current_version": "3.1.1.1", "target_version": "3.4.3.12", "deployment_mode": "hybrid"}
    normal = run(args)
    checked = run(args, check_mode=True)
    for key in ("path", "hops", "guaranteed", "strategies", "plan_warnings", "summary", "changed"):
        assert normal[key] == checked[key]
    assert normal["changed"] is False


@pytest.mark.parametrize("args,needle", [
    ({"current_version": "3.4.2", "target_version": "2.8.5"}, "downgrade"),
    ({"current_version": "x.y", "target_version": "3.4.2"}, "current_version 'x.y' is not a valid Kong version"),
    ({"current_version": "2.8.4", "target_version": "3.4.3.12"}, "editions cannot be mixed"),
    ({"current_version": "2.8.4", "target_version": "3.0.0"}, "allow_unguaranteed=true"),
    ({"current_version": "2.8.4", "target_version": "3.4.2", "deployment_mode": "db_less", "database": "postgres"}, "database=off"),
])
def test_clear_failures(run, args, needle):
    result = run(args, expect=FailJson)
    assert needle in result["msg"]


@pytest.mark.parametrize("args,needle", [
    ({"current_version": "2.8.4", "target_version": "3.4.2", "colour": "red"}, "colour"),
    ({"current_version": "2.8.4"}, "target_version"),
    ({"current_version": "2.8.4", "target_version": "3.4.2", "deployment_mode": "cluster"}, "deployment_mode"),
    ({"current_version": "2.8.4", "target_version": "3.4.2", "releases": [{"version": "3.11.0", "flavour": "x"}]}, "flavour"),
])
def test_argument_spec_failures(run, args, needle):
    result = run(args, expect=FailJson)
    assert needle in result["msg"]


def test_releases_option_extends_catalog(run):
    args = {"current_version": "3.10.0.2", "target_version": "3.14.0.0"}
    assert "allow_unguaranteed" in run(args, expect=FailJson)["msg"]
    args["releases"] = [{"version": "3.14.0.0", "lts": True, "databases": ["postgres", "off"]}]
    result = run(args)
    assert [h["kind"] for h in result["hops"]] == ["lts"]


def test_invalid_release_entry_value_fails(run):
    args = {"current_version": "3.10.0.2", "target_version": "3.10.0.2", "releases": [{"version": "3.11.0", "edition": "enterprise"}]}
    assert "oss numbering" in run(args, expect=FailJson)["msg"]


def test_same_version(run):
    result = run({"current_version": "3.4.2", "target_version": "3.4.2", "deployment_mode": "db_less"})
    assert result["path"] == ["3.4.2"] and result["hops"] == [] and result["changed"] is False


def test_allow_unguaranteed(run):
    result = run({"current_version": "3.0.0", "target_version": "3.6.1", "allow_unguaranteed": True})
    assert result["guaranteed"] is False and result["path"] == ["3.0.0", "3.6.1"]
