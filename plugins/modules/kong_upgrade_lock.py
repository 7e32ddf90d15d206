#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kong_upgrade_lock
short_description: Take or release the upgrade run lock of a Kong cluster (a row in Kong's database)
version_added: 0.1.0
description:
  - Keeps two upgrade runs from working on one Kong cluster at the same time. The lock is a row of the table
    C(kongops_upgrade_lock) (created on first use) in Kong's database, keyed by O(cluster), with the holder's
    O(owner) (AWX job, user@host, pid), O(run_id) and start time. A PostgreSQL advisory lock would not survive
    from one task to the next.
  - V(present) takes the lock; it fails, naming the holder, when another run holds it. The same O(run_id)
    taking it again changes nothing (a rerun of the same job). O(break_stale) replaces another run's lock.
  - V(absent) releases the lock of O(run_id) (any run's with O(break_stale)); releasing a lock that is not
    held changes nothing.
author:
  - kongops.upgrade contributors (@kongops)
extends_documentation_fragment:
  - kongops.upgrade.attributes.actiongroup_change
  - kongops.upgrade.postgres
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  cluster:
    description: Name of the cluster the lock protects.
    type: str
    required: true
  state:
    description: V(present) takes the lock, V(absent) releases it.
    type: str
    default: present
    choices: [present, absent]
  run_id:
    description: Identifier of this run (AWX job id, or a value the playbook generates once per run).
    type: str
    required: true
  owner:
    description: Who runs it, shown to a second run that is refused.
    type: str
    default: ''
  break_stale:
    description: Take or release the lock even when another run holds it (that run must be gone).
    type: bool
    default: false
  schema:
    description: Schema of the lock table; default the login role's C(search_path).
    type: str
requirements:
  - psycopg (version 3) on the managed host.
seealso:
  - module: kongops.upgrade.kong_db_fingerprint
"""

EXAMPLES = r"""
- name: Take the upgrade lock
  kongops.upgrade.kong_upgrade_lock:
    login_host: db.example.internal
    login_password: "{{ kong_pg_password }}"
    cluster: prod
    run_id: "{{ tower_job_id | default(lookup('ansible.builtin.pipe', 'date +%s')) }}"
    owner: "{{ lookup('ansible.builtin.env', 'USER') }}@{{ ansible_host }}"

- name: Release it at the end
  kongops.upgrade.kong_upgrade_lock:
    login_host: db.example.internal
    login_password: "{{ kong_pg_password }}"
    cluster: prod
    run_id: "{{ my_run_id }}"
    state: absent
"""

RETURN = r"""
lock:
  description: The lock held after the task (C(cluster), C(owner), C(run_id), C(started_at)); null when released.
  returned: always
  type: dict
broken:
  description: Another run's lock that was replaced or released with O(break_stale).
  returned: when a lock was broken
  type: dict
"""

from ansible_collections.kongops.upgrade.plugins.module_utils import pg_module  # noqa: E402
from ansible_collections.kongops.upgrade.plugins.module_utils.kong_preflight_db import (  # noqa: E402
    PreflightDbError,
    lock_acquire,
    lock_release,
)


def main():
    module = pg_module.pg_module(dict(
        cluster=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        run_id=dict(type="str", required=True),
        owner=dict(type="str", default=""),
        break_stale=dict(type="bool", default=False),
        schema=dict(type="str"),
    ))
    p = module.params
    conn = pg_module.connect_or_fail(module)
    result = dict(changed=False)
    try:
        if p["state"] == "present":
            changed, lock, broken = lock_acquire(conn, p["cluster"], p["owner"] or p["run_id"], p["run_id"], schema=p["schema"],
                                                 break_stale=p["break_stale"], check_mode=module.check_mode)
            result.update(changed=changed, lock=lock)
            if broken:
                result["broken"] = broken
        else:
            changed, released = lock_release(conn, p["cluster"], p["run_id"], schema=p["schema"], force=p["break_stale"],
                                             check_mode=module.check_mode)
            result.update(changed=changed, lock=None)
            if released and released["run_id"] != p["run_id"]:
                result["broken"] = released
    except PreflightDbError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # reported with context
        module.fail_json(msg="upgrade lock of cluster %s failed: %s" % (p["cluster"], exc))
    finally:
        conn.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
