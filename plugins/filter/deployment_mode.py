# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter deployment_mode: the deployment mode an inventory describes, from its groups (documentation in the adjacent
deployment_mode.yml). Every playbook that has to find the mode asks this one filter."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

# Checked in this order: a hybrid inventory may also have a kong_database group, a traditional one never has control
# planes or DB-less nodes.
MODE_GROUPS = (("hybrid", "kong_control_plane"), ("db_less", "kong_dbless"), ("traditional", "kong_traditional"))


def deployment_mode(groups, default="traditional"):
    """'hybrid', 'db_less' or 'traditional' from an inventory's groups (Ansible's ``groups``): the first mode whose
    group has a host. An inventory with both control planes and DB-less nodes is refused: it holds two deployments,
    each upgraded (and rolled back) by its own run."""
    if not isinstance(groups, dict):
        raise AnsibleFilterError("deployment_mode expects the inventory's groups (a dictionary), not %r" % (groups,))
    found = [mode for mode, group in MODE_GROUPS if groups.get(group)]
    if "hybrid" in found and "db_less" in found:
        raise AnsibleFilterError(
            "the inventory has control planes (kong_control_plane) and DB-less nodes (kong_dbless): upgrade or roll back "
            "one deployment per run, with an inventory (or --limit and kong_rollback_mode) of that deployment only")
    return found[0] if found else default


class FilterModule:
    def filters(self):
        return {"deployment_mode": deployment_mode}
