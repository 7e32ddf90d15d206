#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kong_pg_backup
short_description: Back up Kong's PostgreSQL database with pg_dump, a manifest and verification
version_added: 0.1.0
description:
  - Dumps Kong's database with C(pg_dump) into a new directory under O(dest) named after O(label)
    and the UTC start time, and writes C(manifest.json) beside the dump.
  - The manifest records the Kong version (O(kong_version)) and the C(schema_meta) state, the row count
    of every table (taken in the same snapshot as the dump), the server and C(pg_dump) versions, the
    size and sha256 of every file, and the start and end times.
  - The backup is verified before it is kept (O(verify)); a backup that fails verification is removed and
    the task fails.  Files are created 0600 and directories 0700.
  - Refuses a C(pg_dump) older than the server, with a message saying which client to install.
  - O(keep) removes the oldest backups with the same label, keeping the newest O(keep) ones.
  - In check mode, reports what would be dumped, its estimated size (C(pg_database_size)) and which
    old backups would be removed, and writes nothing.
  - The password is given to C(pg_dump) through a temporary password file, never on its command line.
author:
  - kongops.upgrade contributors (@kongops)
extends_documentation_fragment:
  - kongops.upgrade.attributes.actiongroup_change
  - kongops.upgrade.postgres
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying the target.
    support: full
    details: Reports what would be dumped, its estimated size and what retention would remove; writes nothing.
  diff_mode:
    description: Returns details on what has changed (or would change in check mode) when in diff mode.
    support: none
    details: The result reports what was (or would be) done instead of a diff.
options:
  dest:
    description: Directory that holds the backups (created 0700 if missing).
    type: path
    required: true
  format:
    description:
      - C(pg_dump) output format. V(directory) (Kong's documented choice) allows parallel dumps with O(jobs).
    type: str
    default: directory
    choices: [directory, custom, plain]
  jobs:
    description:
      - Parallel C(pg_dump) jobs for the V(directory) format; also used by the V(restore) verification.
    type: int
    default: 1
  compression:
    description:
      - Passed to C(pg_dump --compress), for example V(0) (none), V(6) or (C(pg_dump) 16+) V(zstd:3).
      - Default is C(pg_dump)'s own (gzip for V(directory) and V(custom), none for V(plain)).
    type: str
  label:
    description:
      - First part of the backup's name (C(<label>-<YYYYmmddTHHMMSSZ>)); retention counts backups per label.
    type: str
    default: kong
  keep:
    description:
      - Keep only the newest O(keep) backups with this label in O(dest) (the new one included).
      - V(0) keeps everything.
    type: int
    default: 0
  pg_dump_path:
    description: The C(pg_dump) to run. Default is C(pg_dump) from E(PATH).
    type: path
  pg_restore_path:
    description: The C(pg_restore) used for verification. Default is the one beside O(pg_dump_path).
    type: path
  psql_path:
    description: The C(psql) used to verify a V(plain) dump by restoring it. Default is C(psql) from E(PATH).
    type: path
  verify:
    description:
      - V(checksums) re-reads every file and compares it with the manifest, and checks that the dump is readable
        (C(pg_restore --list) shows every table's data; for V(plain), the dump is complete).
      - V(restore) does that and also restores the dump into a scratch database (the login role needs C(CREATEDB)),
        compares the row counts and C(schema_meta) with the manifest, and drops the scratch database.
      - V(none) skips verification.
    type: str
    default: checksums
    choices: [none, checksums, restore]
  kong_version:
    description: Version of Kong that uses the database, recorded in the manifest (the database cannot tell it exactly).
    type: str
  table_checksums:
    description:
      - Also record a content checksum of every table (slower, as it reads every row).
      - M(kongops.upgrade.kong_pg_restore) then compares contents, not only row counts, after a restore.
    type: bool
    default: false
notes:
  - The row counts and the dump come from one exported snapshot, so they match even while Kong nodes write.
    Writes made after the snapshot are not in the backup; stop writes (admin changes) first.
seealso:
  - module: kongops.upgrade.kong_pg_restore
"""

EXAMPLES = r"""
- name: Back up Kong's database before the upgrade
  kongops.upgrade.kong_pg_backup:
    login_host: db.example.internal
    login_password: "{{ kong_pg_password }}"
    dest: /var/backups/kong
    label: pre-3.4-upgrade
    kong_version: 2.8.4
    jobs: 2
    keep: 5
    verify: restore
  register: kong_backup

- name: Custom-format dump with a chosen pg_dump
  kongops.upgrade.kong_pg_backup:
    login_user: kong
    passfile: /root/.pgpass
    dest: /var/backups/kong
    format: custom
    pg_dump_path: /usr/lib/postgresql/15/bin/pg_dump
"""

RETURN = r"""
backup_path:
  description: Directory of the backup (in check mode, the one that would be written).
  returned: always
  type: str
  sample: /var/backups/kong/pre-3.4-upgrade-20261127T063500Z
dump_path:
  description: The dump inside RV(backup_path) (a directory for the V(directory) format).
  returned: changed
  type: str
manifest_path:
  description: Path of C(manifest.json).
  returned: changed
  type: str
manifest:
  description: The manifest written (see docs/backup-restore.md); null in check mode.
  returned: always
  type: dict
verified:
  description: What was verified (V(none), V(checksums), V(restore)); false in check mode.
  returned: always
  type: raw
size_bytes:
  description: Total size of the dump files.
  returned: changed
  type: int
estimated_size_bytes:
  description: C(pg_database_size) of the database (an upper bound of the dump size).
  returned: check mode
  type: int
database_size_bytes:
  description: C(pg_database_size) of the database.
  returned: always
  type: int
tables:
  description: The tables that are (or would be) dumped.
  returned: always
  type: list
  elements: str
removed_backups:
  description: Old backups removed (or that would be removed) by O(keep).
  returned: always
  type: list
  elements: str
durations:
  description: Seconds spent counting rows, dumping, checksumming, verifying and in total.
  returned: changed
  type: dict
server_version:
  description: PostgreSQL server version.
  returned: always
  type: str
pg_dump_version:
  description: Version of C(pg_dump).
  returned: always
  type: str
commands:
  description: The commands run (argument lists; they never contain the password).
  returned: changed
  type: list
  elements: list
"""

import os  # noqa: E402

from ansible_collections.kongops.upgrade.plugins.module_utils import pg_module  # noqa: E402
from ansible_collections.kongops.upgrade.plugins.module_utils.pg_backup import BackupError, run_backup  # noqa: E402


def main():
    module = pg_module.pg_module(dict(
        dest=dict(type="path", required=True),
        format=dict(type="str", default="directory", choices=["directory", "custom", "plain"]),
        jobs=dict(type="int", default=1),
        compression=dict(type="str"),
        label=dict(type="str", default="kong"),
        keep=dict(type="int", default=0),
        pg_dump_path=dict(type="path"),
        pg_restore_path=dict(type="path"),
        psql_path=dict(type="path"),
        verify=dict(type="str", default="checksums", choices=["none", "checksums", "restore"]),
        kong_version=dict(type="str"),
        table_checksums=dict(type="bool", default=False),
    ))
    if module.params["keep"] < 0:
        module.fail_json(msg="keep must be 0 (keep all) or more")

    params = dict(module.params)
    params["pg_dump_path"] = params["pg_dump_path"] or module.get_bin_path("pg_dump", required=True)
    if not params["pg_restore_path"]:
        beside = os.path.join(os.path.dirname(params["pg_dump_path"]), "pg_restore")
        params["pg_restore_path"] = beside if os.path.exists(beside) else module.get_bin_path("pg_restore")
    params["psql_path"] = params["psql_path"] or module.get_bin_path("psql")

    try:
        result = run_backup(params, pg_module.runner(module), check_mode=module.check_mode)
    except BackupError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    except Exception as exc:  # psycopg errors and OS errors, reported with context
        module.fail_json(msg="backup of %s failed: %s" % (params["login_db"], exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
