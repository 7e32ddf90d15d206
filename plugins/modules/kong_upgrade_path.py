#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kong_upgrade_path
short_description: Plan a Kong Gateway upgrade path and check it against Kong's version policy
version_added: 0.1.0
description:
  - Computes the ordered list of Kong Gateway versions to go through from O(current_version) to O(target_version), one hop
    per upgrade, following the version policy of Kong's upgrade guide, for Kong Gateway OSS (three-part versions such as
    C(3.4.2)) and Kong Gateway Enterprise (four-part versions such as C(3.4.3.12)).
  - Guaranteed hops are patch upgrades within a minor, upgrades to the adjacent minor of the same major, upgrades between
    adjacent LTS lines (2.8, 3.4, 3.10), and the crossings that Kong's policy requires (below 1.0 to 1.5 first; 1.x to
    2.1 or later first; hybrid Enterprise 3.1.0.0 and 3.1.1.1 to a 3.1.1.x release that speaks both control plane
    protocols first). Without O(allow_unguaranteed) the path uses guaranteed hops only, with the fewest hops;
    intermediate hops land on the newest known patch release of a line.
  - Refuses downgrades, 3.x from below 2.1, Cassandra beyond 3.3.x (move to PostgreSQL first), and modes a version lacks.
  - Reports which upgrade strategies fit each node role, the breaking changes and risks crossed, and a readable summary.
  - Versions come from a built-in release catalog kept as data, extendable with O(releases). A version missing from the
    catalog is accepted when it parses; its properties are those of the nearest known release below it.
  - Read-only. Never changes anything; C(changed) is always false.
author:
  - kongops.upgrade contributors (@kongops)
requirements:
  - packaging (Python library)
extends_documentation_fragment:
  - kongops.upgrade.attributes.info_module
options:
  current_version:
    description:
      - The version the deployment runs now, for example V(2.8.4) or V(2.8.4.2).
      - A C(Kong ) or C(Kong Enterprise ) prefix and an C(-enterprise-edition) suffix are accepted.
    type: str
    required: true
  target_version:
    description:
      - The version to upgrade to. Must not be older than O(current_version).
    type: str
    required: true
  deployment_mode:
    description:
      - How the nodes run. V(traditional) nodes share a database; V(db_less) nodes each load a declarative file;
        V(hybrid) has control planes with a database and data planes without one.
    type: str
    choices: [traditional, db_less, hybrid]
    default: traditional
  database:
    description:
      - The database of the nodes (of the control planes in hybrid mode).
      - Defaults to V(postgres) for V(traditional) and V(hybrid), V(off) for V(db_less).
    type: str
    choices: [postgres, cassandra, "off"]
  edition:
    description:
      - V(oss) or V(enterprise). Inferred from the number of version parts when omitted (three = OSS, four = Enterprise);
        versions of different editions are then an error.
      - With V(enterprise), a three-part version is read as C(x.y.z.0).
    type: str
    choices: [oss, enterprise]
  allow_unguaranteed:
    description:
      - Allow hops that Kong supports but does not guarantee (skipping minors, crossing majors outside the LTS hop).
        The shortest supported path is returned, and RV(guaranteed) is false when it uses such a hop.
    type: bool
    default: false
  releases:
    description:
      - Extra catalog entries, for releases newer than the built-in catalog or to correct it.
      - An entry for a known version overrides the fields it gives. Omitted fields are inherited from the nearest known
        release below it in the same edition. V(lts=true) makes the entry's whole line LTS.
    type: list
    elements: dict
    default: []
    suboptions:
      version:
        description: The release, three parts (OSS) or four parts (Enterprise).
        type: str
        required: true
      edition:
        description: Must match the number of parts when given.
        type: str
        choices: [oss, enterprise]
      lts:
        description: Whether the release's line is a long-term-support line.
        type: bool
      databases:
        description: Databases the release supports (V(off) = DB-less).
        type: list
        elements: str
        choices: [postgres, cassandra, "off"]
      hybrid_protocols:
        description:
          - Control plane / data plane protocols it speaks. V(legacy) is JSON over WebSocket, V(wrpc) is wRPC.
          - Empty for releases without hybrid mode.
        type: list
        elements: str
        choices: [legacy, wrpc]
      hybrid_dp_minor_window:
        description: As a control plane, how many minors lower a data plane may be (unset = any lower minor).
        type: int
notes:
  - Each warning of the plan is emitted as an Ansible warning, so it is displayed and appears in the registered result's
    standard C(warnings) list (which Ansible may extend with its own warnings). The exact list is returned as
    RV(plan_warnings), because Ansible reserves the C(warnings) key of a module result. The filter
    P(kongops.upgrade.upgrade_path#filter) returns it as C(warnings).
  - Same planner as the filter P(kongops.upgrade.upgrade_path#filter). See C(docs/upgrade-paths.md) in the collection.
seealso:
  - name: Upgrading Kong Gateway
    description: Kong's upgrade guide, whose version policy this module enforces.
    link: https://docs.konghq.com/gateway/latest/upgrade/
"""

EXAMPLES = r"""
- name: Plan an LTS upgrade of a hybrid deployment
  kongops.upgrade.kong_upgrade_path:
    current_version: 2.8.4
    target_version: 3.4.3
    deployment_mode: hybrid
  register: plan

- name: Show the hops
  ansible.builtin.debug:
    msg: "{{ plan.path | join(' -> ') }}"

- name: Enterprise, Cassandra, up to the last line that supports it
  kongops.upgrade.kong_upgrade_path:
    current_version: 2.8.4.2
    target_version: 3.3.1.1
    database: cassandra

- name: Accept the shortest supported path even when Kong does not guarantee it
  kongops.upgrade.kong_upgrade_path:
    current_version: 3.0.0
    target_version: 3.6.1
    allow_unguaranteed: true

- name: Plan towards a release newer than the built-in catalog
  kongops.upgrade.kong_upgrade_path:
    current_version: 3.10.0.2
    target_version: 3.11.0.0
    releases:
      - version: 3.11.0.0
        databases: [postgres, "off"]
        hybrid_protocols: [legacy]
"""

RETURN = r"""
current_version:
  description: The current version as planned (normalised; Enterprise three-part input padded to four parts).
  returned: success
  type: str
  sample: 2.8.4
target_version:
  description: The target version as planned.
  returned: success
  type: str
  sample: 3.4.3
edition:
  description: The edition planned for, given or inferred.
  returned: success
  type: str
  sample: oss
deployment_mode:
  description: The deployment mode planned for.
  returned: success
  type: str
  sample: hybrid
database:
  description: The database planned for (the control planes' database in hybrid mode).
  returned: success
  type: str
  sample: postgres
path:
  description: Ordered versions from the current to the target version, both included. Only the current version when they are equal.
  returned: success
  type: list
  elements: str
  sample: ["1.5.1", "2.8.5", "3.4.3"]
hops:
  description: One entry per upgrade step.
  returned: success
  type: list
  elements: dict
  contains:
    from:
      description: Version before the hop.
      type: str
    to:
      description: Version after the hop.
      type: str
    kind:
      description: >-
        V(patch), V(minor) (adjacent minor), V(lts) (adjacent LTS lines), V(required) (a crossing Kong's policy requires),
        or the unguaranteed V(minor_skip) and V(major).
      type: str
    guaranteed:
      description: Whether Kong's policy guarantees this hop.
      type: bool
    reason:
      description: Why this hop is allowed or needed.
      type: str
  sample:
    - {from: 2.8.4, to: 3.4.3, kind: lts, guaranteed: true, reason: adjacent LTS releases (2.8 -> 3.4)}
guaranteed:
  description: True when every hop is guaranteed by Kong's policy.
  returned: success
  type: bool
  sample: true
strategies:
  description: >-
    Upgrade strategies that fit each node role, in the order roles are upgraded. Keys are C(traditional), C(db_less),
    or C(control_plane) then C(data_plane). C(blue_green) is offered only for a single patch hop from 2.8.2 or later.
    Empty lists when there is nothing to upgrade.
  returned: success
  type: dict
  sample: {control_plane: [dual_cluster, in_place], data_plane: [rolling]}
plan_warnings:
  description: Breaking changes and risks crossed on the way (also emitted as Ansible warnings).
  returned: success
  type: list
  elements: str
summary:
  description: A readable paragraph describing the plan.
  returned: success
  type: str
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kongops.upgrade.plugins.module_utils.release_catalog import HAS_PACKAGING, PACKAGING_IMPORT_ERROR
from ansible_collections.kongops.upgrade.plugins.module_utils.upgrade_path import UpgradePathError, plan_upgrade


def _argument_spec():
    return dict(
        current_version=dict(type="str", required=True),
        target_version=dict(type="str", required=True),
        deployment_mode=dict(type="str", default="traditional", choices=["traditional", "db_less", "hybrid"]),
        database=dict(type="str", choices=["postgres", "cassandra", "off"]),
        edition=dict(type="str", choices=["oss", "enterprise"]),
        allow_unguaranteed=dict(type="bool", default=False),
        releases=dict(
            type="list", elements="dict", default=[],
            options=dict(
                version=dict(type="str", required=True),
                edition=dict(type="str", choices=["oss", "enterprise"]),
                lts=dict(type="bool"),
                databases=dict(type="list", elements="str", choices=["postgres", "cassandra", "off"]),
                hybrid_protocols=dict(type="list", elements="str", choices=["legacy", "wrpc"]),
                hybrid_dp_minor_window=dict(type="int"),
            ),
        ),
    )


def main():
    module = AnsibleModule(argument_spec=_argument_spec(), supports_check_mode=True)
    if not HAS_PACKAGING:
        detail = "".join(traceback.format_exception_only(type(PACKAGING_IMPORT_ERROR), PACKAGING_IMPORT_ERROR))
        module.fail_json(msg=missing_required_lib("packaging"), exception=detail)
    params = module.params
    # Suboptions left unset come back as None: drop them so the catalog inherits them.
    releases = [dict((k, v) for k, v in entry.items() if v is not None) for entry in params["releases"] or []]
    try:
        plan = plan_upgrade(
            params["current_version"],
            params["target_version"],
            deployment_mode=params["deployment_mode"],
            database=params["database"],
            edition=params["edition"],
            allow_unguaranteed=params["allow_unguaranteed"],
            releases=releases,
        )
    except UpgradePathError as exc:
        module.fail_json(msg=str(exc))
    plan_warnings = plan.pop("warnings")
    for warning in plan_warnings:
        module.warn(warning)
    module.exit_json(changed=False, plan_warnings=plan_warnings, **plan)


if __name__ == "__main__":
    main()
