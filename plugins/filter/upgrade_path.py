# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ``kongops.upgrade.upgrade_path``: the kong_upgrade_path planner for inline use.

Documentation: upgrade_path.yml beside this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.kongops.upgrade.plugins.module_utils.upgrade_path import UpgradePathError, plan_upgrade


def upgrade_path(current_version, target_version, deployment_mode="traditional", database=None, edition=None,
                 allow_unguaranteed=False, releases=None):
    """Return the plan dict for ``current_version | kongops.upgrade.upgrade_path(target_version, ...)``."""
    try:
        return plan_upgrade(
            current_version,
            target_version,
            deployment_mode=deployment_mode,
            database=database,
            edition=edition,
            allow_unguaranteed=allow_unguaranteed,
            releases=releases,
        )
    except UpgradePathError as exc:
        raise AnsibleFilterError("kongops.upgrade.upgrade_path: %s" % exc)


class FilterModule:
    """Kong upgrade path filters."""

    def filters(self):
        return {"upgrade_path": upgrade_path}
