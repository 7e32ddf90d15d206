#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done by the action plugin of the same name (plugins/action/kong_state.py), in the controller.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kong_state
short_description: Read an upgrade's state file on the controller and merge an update into it
version_added: 0.1.0
description:
  - Reads the JSON state file of an upgrade (phase markers, backup path, point of no return, per-node entries) from
    the Ansible controller, merges O(update) into it (top-level keys replace those of the file, like the
    C(combine) filter) and writes it back when that changes it.
  - Runs entirely in the controller, with no module started on any host, so an update inside a downtime window costs
    milliseconds. The strategy roles write the file through the C(state) entry point of the C(in_place) role.
  - The write is atomic (a temporary file in the same directory, then a rename). The file is mode C(0600); a missing
    directory is created with mode C(0700).
  - A file that is not a JSON object stops the task with the path and what to do; nothing is written then.
author:
  - kongops.upgrade contributors (@kongops)
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reads the file and reports whether the update would change it; writes nothing.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
options:
  path:
    description: The state file on the controller.
    type: path
    required: true
  update:
    description: Keys to set in the file. An empty dictionary only reads it.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Record that kong migrations up has started (a rerun then knows the schema may be half-way)
  kongops.upgrade.kong_state:
    path: /var/log/kongops-upgrade/state-kong.json
    update:
      phase: migrating
      up_started: true
  register: state
  run_once: true

- name: Read the state only
  kongops.upgrade.kong_state:
    path: /var/log/kongops-upgrade/state-kong.json
  register: state
  run_once: true
"""

RETURN = r"""
state:
  description: The state after the merge (what the file holds now, or would hold in check mode).
  returned: always
  type: dict
  sample: {"phase": "migrating", "up_started": true, "from_version": "2.8.4", "version": "3.4.2"}
found:
  description: Whether the file existed before this task.
  returned: always
  type: bool
path:
  description: The state file.
  returned: always
  type: str
"""
