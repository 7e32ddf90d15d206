# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployment mode of an inventory, the one answer every playbook (preflight, rollback) asks for."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pathlib

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.kongops.upgrade.plugins.filter.deployment_mode import deployment_mode

PLAYBOOKS = pathlib.Path(__file__).resolve().parents[4] / "playbooks"


@pytest.mark.parametrize("groups, mode", [
    ({"all": ["cp1", "dp1", "pg"], "kong_control_plane": ["cp1"], "kong_data_plane": ["dp1"], "kong_database": ["pg"]}, "hybrid"),
    ({"kong_dbless": ["k1", "k2"], "kong_load_balancer": ["lb"]}, "db_less"),
    ({"kong_traditional": ["k1"], "kong_database": ["pg"], "kong_traditional_y": ["y1"]}, "traditional"),
    # An empty group counts as absent (a template inventory with every group declared).
    ({"kong_control_plane": [], "kong_dbless": ["k1"]}, "db_less"),
    ({"ungrouped": ["x"]}, "traditional"),
])
def test_mode_from_groups(groups, mode):
    assert deployment_mode(groups) == mode


def test_two_deployments_in_one_inventory_refused():
    with pytest.raises(AnsibleFilterError, match="one deployment per run"):
        deployment_mode({"kong_control_plane": ["cp1"], "kong_dbless": ["k1"]})


def test_not_groups_refused():
    with pytest.raises(AnsibleFilterError, match="groups"):
        deployment_mode(["kong_control_plane"])


def test_playbooks_ask_the_filter():
    """The mode is found in one place: no playbook decides it from the groups by itself."""
    for book in ("preflight.yml", "rollback.yml"):
        text = (PLAYBOOKS / book).read_text()
        assert "kongops.upgrade.deployment_mode" in text, book
        assert "groups['kong_dbless'] | default([]) | length > 0" not in text, book
