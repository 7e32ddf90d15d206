#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kong_pg_restore
short_description: Restore a kong_pg_backup backup into Kong's PostgreSQL database and prove it matches
version_added: 0.1.0
description:
  - Restores a backup written by M(kongops.upgrade.kong_pg_backup) into the same database (a rollback)
    or into another one, for example the new cluster's database in a dual-cluster upgrade.
  - First verifies the size and sha256 of every file against the backup's manifest; a corrupted or
    incomplete backup is refused before anything is touched.
  - Refuses while other sessions (Kong nodes) are connected to the target database, naming each one
    (pid, user, client address, C(application_name)), unless O(force=true).
  - After the restore, compares C(schema_meta), the set of tables and every table's row count (and the
    content checksums when the backup recorded them) with the manifest, and fails if anything differs.
  - With O(jobs=1) the restore runs in a single transaction, so a failed restore leaves the database as it was.
  - The password is given to C(pg_restore)/C(psql) through a temporary password file, never on its command line.
  - In check mode, verifies the checksums and the target, and reports what would be restored.
author:
  - kongops.upgrade contributors (@kongops)
extends_documentation_fragment:
  - kongops.upgrade.attributes.actiongroup_change
  - kongops.upgrade.postgres
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying the target.
    support: full
    details: Verifies the backup's checksums and the target, and reports what would be restored; changes nothing.
  diff_mode:
    description: Returns details on what has changed (or would change in check mode) when in diff mode.
    support: none
    details: The result reports what was (or would be) done instead of a diff.
options:
  src:
    description: The backup directory (the one holding C(manifest.json)), or the path of its C(manifest.json).
    type: path
    required: true
  login_db:
    description:
      - The target database; it need not be the one the backup came from.
    type: str
    default: kong
    aliases: [db, database]
  clean:
    description:
      - Without O(create), drop the backup's objects before recreating them (C(pg_restore --clean --if-exists)).
        Tables that are not in the backup (for example created by a newer Kong's migrations) remain and make
        the final comparison fail; use O(create=true) for a full rollback.
      - With O(create), drop the existing target database first.
    type: bool
    default: true
  create:
    description:
      - Create the target database (from O(maintenance_db)) and restore into it. If it exists, O(clean=true) drops it first.
      - When the login role may not drop the existing database and create it again (neither superuser nor C(CREATEDB)
        and its owner, as Kong's role usually is), it is never dropped; it is emptied instead (C(DROP OWNED BY) the login
        role, every object it owns there) and the backup restored into it, as RV(action) says.
    type: bool
    default: false
  owner:
    description: Owner of a database created by O(create). Default is O(login_user).
    type: str
  no_owner:
    description: Do not restore ownership and privileges (C(--no-owner --no-privileges)), for a target with other roles.
    type: bool
    default: false
  jobs:
    description: Parallel C(pg_restore) jobs (not for V(plain) backups). Above 1, the restore is not a single transaction.
    type: int
    default: 1
  force:
    description:
      - Restore even while other sessions are connected to the target database.
      - With O(create) and O(clean), those sessions are terminated by C(DROP DATABASE ... WITH (FORCE)).
    type: bool
    default: false
  skip_if_identical:
    description:
      - Restore nothing (and report no change) when the target already matches the manifest
        (content checksums when the backup has them, otherwise row counts and C(schema_meta)).
    type: bool
    default: false
  maintenance_db:
    description: Database to connect to for creating or dropping the target and listing its sessions.
    type: str
    default: postgres
  pg_restore_path:
    description: The C(pg_restore) to run. Default is C(pg_restore) from E(PATH).
    type: path
  psql_path:
    description: The C(psql) that restores a V(plain) backup. Default is C(psql) from E(PATH).
    type: path
seealso:
  - module: kongops.upgrade.kong_pg_backup
"""

EXAMPLES = r"""
- name: Roll Kong's database back to the pre-upgrade backup (Kong nodes stopped)
  kongops.upgrade.kong_pg_restore:
    src: "{{ kong_backup.backup_path }}"
    login_host: db.example.internal
    login_password: "{{ kong_pg_password }}"
    login_db: kong
    create: true
    clean: true

- name: Seed the new cluster's database for a dual-cluster upgrade
  kongops.upgrade.kong_pg_restore:
    src: /var/backups/kong/pre-3.4-upgrade-20261127T063500Z
    login_host: db-new.example.internal
    login_password: "{{ kong_pg_password }}"
    login_db: kong_y
    create: true
    jobs: 2
"""

RETURN = r"""
backup_path:
  description: The backup directory restored from.
  returned: always
  type: str
target_db:
  description: The database restored into.
  returned: always
  type: str
action:
  description: What was (or would be) done to the target, for example V(create) or V(clean and restore into).
  returned: always
  type: str
restored:
  description: Whether a restore ran.
  returned: always
  type: bool
checksums_verified:
  description: Every file matched the manifest's size and sha256 before anything was restored.
  returned: always
  type: bool
sessions:
  description: Other sessions connected to the target database (pid, user, client_addr, application_name, state).
  returned: always
  type: list
  elements: dict
differences:
  description: Differences between the restored database and the manifest (empty on success).
  returned: when compared
  type: list
  elements: str
row_counts:
  description: Row count of every table after the restore.
  returned: changed
  type: dict
schema_meta:
  description: Kong's C(schema_meta) rows after the restore.
  returned: changed
  type: list
  elements: dict
manifest:
  description: The backup's manifest.
  returned: always
  type: dict
durations:
  description: Seconds spent verifying checksums, restoring, comparing and in total.
  returned: changed
  type: dict
commands:
  description: The commands run (argument lists; they never contain the password).
  returned: changed
  type: list
  elements: list
"""

from ansible_collections.kongops.upgrade.plugins.module_utils import pg_module  # noqa: E402
from ansible_collections.kongops.upgrade.plugins.module_utils.pg_backup import BackupError  # noqa: E402
from ansible_collections.kongops.upgrade.plugins.module_utils.pg_restore import run_restore  # noqa: E402


def main():
    module = pg_module.pg_module(dict(
        src=dict(type="path", required=True),
        clean=dict(type="bool", default=True),
        create=dict(type="bool", default=False),
        owner=dict(type="str"),
        no_owner=dict(type="bool", default=False),
        jobs=dict(type="int", default=1),
        force=dict(type="bool", default=False),
        skip_if_identical=dict(type="bool", default=False),
        maintenance_db=dict(type="str", default="postgres"),
        pg_restore_path=dict(type="path"),
        psql_path=dict(type="path"),
    ))
    if module.params["login_db"] == module.params["maintenance_db"]:
        module.fail_json(msg="login_db (the target) and maintenance_db must differ")

    params = dict(module.params)
    params["pg_restore_path"] = params["pg_restore_path"] or module.get_bin_path("pg_restore", required=True)
    params["psql_path"] = params["psql_path"] or module.get_bin_path("psql")

    try:
        result = run_restore(params, pg_module.runner(module), check_mode=module.check_mode)
    except BackupError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    except Exception as exc:  # psycopg errors and OS errors, reported with context
        module.fail_json(msg="restore into %s failed: %s" % (params["login_db"], exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
