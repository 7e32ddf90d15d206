#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kong_migrations
short_description: Run Kong's database migrations (bootstrap, up, finish, reset) idempotently
version_added: 0.1.0
description:
  - Wraps C(kong migrations) of a given Kong binary (the B(target) version's C(kong)) with the node's real
    configuration (C(-c), C(-p) and C(KONG_*) environment variables), so custom plugins and database settings
    are the node's own.
  - Reads the schema state before and after (C(kong migrations status) JSON on Kong 3.0 and later,
    C(kong migrations list) text and exit codes 0/3/4/5 before) and returns executed, pending and new
    migrations per subsystem.
  - Runs one subcommand at a time and re-reads the state after each, so a second run changes nothing.
  - C(kong migrations finish) is the point of no return of an upgrade; after it, nodes of the previous
    version are no longer compatible with the database and rollback means restoring a backup.
author:
  - kongops.upgrade contributors (@kongops)
extends_documentation_fragment:
  - kongops.upgrade.attributes.actiongroup_change
  - kongops.upgrade.kong_cli
options:
  kong_bin:
    description:
      - Path of the C(kong) command of the version whose migrations must run (the upgrade target).
    type: path
    default: /usr/local/bin/kong
  state:
    description:
      - C(status) only reads the state.
      - C(bootstrapped) runs C(kong migrations bootstrap) on a database that has no Kong schema; an existing
        schema is left alone.
      - C(up) runs C(kong migrations up) until no new migrations are left (pending ones are expected).
      - C(finished) runs C(kong migrations finish) until nothing is pending; with new migrations it fails
        unless O(run_up=true).
      - C(reset) runs C(kong migrations reset --yes) (drops every Kong table); requires O(confirm_reset=true).
    type: str
    choices: [status, bootstrapped, up, finished, reset]
    default: status
  finish_pending:
    description:
      - When the database has pending migrations from a B(previous) upgrade and new migrations from this one,
        Kong refuses C(up). With V(true), run C(kong migrations finish) first (nodes of the version before that
        previous upgrade stop being compatible). With V(false) the module fails and says so.
    type: bool
    default: false
  run_up:
    description:
      - Allow O(state=finished) to run C(kong migrations up) first when new migrations exist.
    type: bool
    default: false
  confirm_reset:
    description:
      - Must be V(true) for O(state=reset).
    type: bool
    default: false
  force:
    description:
      - Pass C(--force) to C(up) and C(finish). Kong then re-runs migrations already executed, and C(up) runs even
        with pending migrations. Never needed for a normal upgrade; it does not make an up-to-date database run
        anything (the module only runs a subcommand that has work to do).
    type: bool
    default: false
  db_timeout:
    description:
      - C(--db-timeout) in seconds for the commands that change the database.
    type: int
  lock_timeout:
    description:
      - C(--lock-timeout) in seconds. Also how long the module waits for another node's C(migrations) lock
        before failing (default 60, Kong's default).
    type: int
  wait_for_lock:
    description:
      - When another node holds Kong's C(migrations) lock, wait up to O(lock_timeout) for it (re-reading the
        state, since the other node may do the work), then fail clearly. With V(false), fail at once.
    type: bool
    default: true
notes:
  - Run it once per database (C(run_once) or a single host), with the target version's C(kong).
seealso:
  - module: kongops.upgrade.kong_facts
"""

EXAMPLES = r"""
- name: Read the schema state with the target version's kong
  kongops.upgrade.kong_migrations:
    kong_bin: /usr/local/bin/kong
    conf: /etc/kong/kong.conf
    state: status
  register: kong_schema

- name: Run the up phase (expand) of an upgrade
  kongops.upgrade.kong_migrations:
    kong_bin: /opt/kong-3.4.2/bin/kong
    conf: /etc/kong/kong.conf
    environment:
      KONG_PG_PASSWORD: "{{ vault_kong_pg_password }}"
    state: up
    db_timeout: 300
    lock_timeout: 120

- name: Finish the upgrade (point of no return)
  kongops.upgrade.kong_migrations:
    kong_bin: /opt/kong-3.4.2/bin/kong
    conf: /etc/kong/kong.conf
    environment:
      KONG_PG_PASSWORD: "{{ vault_kong_pg_password }}"
    state: finished
"""

RETURN = r"""
kong_version:
  description: Version of O(kong_bin).
  returned: always
  type: str
  sample: 3.4.2
edition:
  description: V(oss) or V(enterprise).
  returned: always
  type: str
before:
  description: Schema state before; C(executed), C(pending), C(new) and C(missing) map a subsystem to migration names.
  returned: always
  type: dict
  sample: {"needs_bootstrap": false, "executed": {"core": ["000_base"]}, "pending": {}, "new": {"core": ["016_280_to_300"]}, "missing": {}}
after:
  description: Schema state after (the same as RV(before) in check mode). After a failure, the partial state left.
  returned: always
  type: dict
changes:
  description: Per kind (executed, pending, new), the migrations added and removed between before and after.
  returned: always
  type: dict
planned:
  description: The subcommands planned from the state read before.
  returned: always
  type: list
  elements: str
  sample: [up, finish]
migrations_to_run:
  description: For each planned subcommand, the migrations it runs (check mode reports exactly these).
  returned: always
  type: dict
  sample: {"up": {"core": ["016_280_to_300"], "http-log": ["001_280_to_300"]}}
runs:
  description: Each C(kong migrations) command that changed or tried to change the database, with rc, stdout, stderr.
  returned: always
  type: list
  elements: dict
commands:
  description: Every command run (argument lists; secrets are never on them).
  returned: always
  type: list
  elements: list
rc:
  description: Exit code of the last changing command (0 if none ran).
  returned: always
  type: int
stdout:
  description: Standard output of the last changing command.
  returned: always
  type: str
stderr:
  description: Standard error of the last changing command.
  returned: always
  type: str
needs_bootstrap:
  description: Whether the database has no Kong schema after the run.
  returned: always
  type: bool
pending_count:
  description: Number of pending migrations after the run.
  returned: always
  type: int
new_count:
  description: Number of new migrations after the run.
  returned: always
  type: int
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kongops.upgrade.plugins.module_utils.kong_cli import KongCli, KongCliError, cli_argument_spec, cli_environment
from ansible_collections.kongops.upgrade.plugins.module_utils.kong_migrations import (
    MigrationsFailed,
    PlanError,
    converge,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", default="status", choices=["status", "bootstrapped", "up", "finished", "reset"]),
            finish_pending=dict(type="bool", default=False),
            run_up=dict(type="bool", default=False),
            confirm_reset=dict(type="bool", default=False),
            force=dict(type="bool", default=False),
            db_timeout=dict(type="int"),
            lock_timeout=dict(type="int", no_log=False),
            wait_for_lock=dict(type="bool", default=True),
            **cli_argument_spec()
        ),
        supports_check_mode=True,
    )
    p = module.params
    env = cli_environment(module)

    if os.sep in p["kong_bin"] and not os.access(p["kong_bin"], os.X_OK):
        module.fail_json(msg="no executable kong at %s (kong_bin must be the target version's kong)" % p["kong_bin"])
    cli = KongCli(module.run_command, p["kong_bin"], conf=p["conf"], prefix=p["prefix"], environment=env)
    try:
        result = converge(
            cli, p["state"], finish_pending=p["finish_pending"], run_up=p["run_up"], confirm_reset=p["confirm_reset"],
            force=p["force"], db_timeout=p["db_timeout"], lock_timeout=p["lock_timeout"], wait_for_lock=p["wait_for_lock"],
            check_mode=module.check_mode,
        )
    except PlanError as e:
        module.fail_json(msg=str(e), commands=cli.commands, before=getattr(e, "before", None), after=getattr(e, "before", None),
                         kong_version=getattr(e, "kong_version", None), changed=False)
    except MigrationsFailed as e:
        module.fail_json(msg=e.message, **e.result)
    except KongCliError as e:
        module.fail_json(msg=e.message, rc=e.rc, stdout=e.stdout, stderr=e.stderr, commands=cli.commands)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
