#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kong_db_fingerprint
short_description: Read Kong's PostgreSQL server facts and a write-freeze fingerprint of its configuration
version_added: 0.1.0
description:
  - Connects to Kong's database and returns the server version, C(password_encryption) and (when the login role
    may read C(pg_authid)) whether the role's password is stored as SCRAM, for the preflight's check of the
    PostgreSQL version and authentication method against the target release.
  - Returns a fingerprint of Kong's configuration tables, the row count and the latest C(updated_at) and
    C(created_at) of each, so that configuration written during the upgrade window can be detected (writes made
    between C(kong migrations up) and C(finish) are silently ignored by the new version, Kong/kong#6172).
  - Tables that a running Kong writes by itself (C(schema_meta), C(locks), C(cluster_events), rate-limiting
    counters, C(clustering_data_planes), sessions, Vitals and this collection's C(kongops_upgrade_lock)) are
    left out.
  - With O(compare_to), compares the fingerprint with an earlier one and lists the differences. Tables added by
    a migration (empty) and timestamp columns that did not exist before are not counted as writes.
  - Read-only; C(changed) is always false.
author:
  - kongops.upgrade contributors (@kongops)
extends_documentation_fragment:
  - kongops.upgrade.attributes.info_module
  - kongops.upgrade.postgres
options:
  compare_to:
    description: An earlier RV(fingerprint) (its C(tables) dict or the whole returned fingerprint).
    type: dict
  exclude_tables:
    description: More tables to leave out of the fingerprint.
    type: list
    elements: str
    default: []
requirements:
  - psycopg (version 3) on the managed host.
seealso:
  - module: kongops.upgrade.kong_upgrade_lock
"""

EXAMPLES = r"""
- name: Fingerprint Kong's configuration at the preflight
  kongops.upgrade.kong_db_fingerprint:
    login_host: db.example.internal
    login_password: "{{ kong_pg_password }}"
  register: kong_fp

- name: Before finish, check that nothing was written since
  kongops.upgrade.kong_db_fingerprint:
    login_host: db.example.internal
    login_password: "{{ kong_pg_password }}"
    compare_to: "{{ kong_fp.fingerprint }}"
  register: kong_fp_now
  failed_when: kong_fp_now.differences | length > 0
"""

RETURN = r"""
server_version:
  description: PostgreSQL server version.
  returned: always
  type: str
  sample: "15.8"
password_encryption:
  description: The server's C(password_encryption) setting (V(md5) or V(scram-sha-256)).
  returned: always
  type: str
role_password_scram:
  description: Whether the login role's password is a SCRAM secret; null when it cannot be read (not a superuser).
  returned: always
  type: bool
privileges:
  description:
    - What the login role may do to the database, for the preflight's check of the backup's test restore (a scratch
      database needs C(CREATEDB)) and of a rollback (dropping and creating the database needs C(CREATEDB) and its
      ownership; otherwise only the role's own objects can be replaced).
    - C(superuser), C(createdb), C(owns_database) (bools), C(foreign_objects) (up to 10 objects that other roles own),
      C(foreign_object_count) and C(unreadable_objects) (tables the role may not read, which C(pg_dump) would fail on;
      the fingerprint leaves them out).
  returned: always
  type: dict
fingerprint:
  description: C(database) (host, port, name; no credentials), C(taken_at) and C(tables), per table C(rows),
    C(max_updated_at) and C(max_created_at).
  returned: always
  type: dict
differences:
  description: The writes detected against O(compare_to); empty when nothing was written or no comparison was asked.
  returned: always
  type: list
  elements: str
"""

import datetime  # noqa: E402

from ansible_collections.kongops.upgrade.plugins.module_utils import pg_module  # noqa: E402
from ansible_collections.kongops.upgrade.plugins.module_utils.kong_preflight_db import (  # noqa: E402
    compare_fingerprints,
    fingerprint,
    server_facts,
)


def main():
    module = pg_module.pg_module(dict(
        compare_to=dict(type="dict"),
        exclude_tables=dict(type="list", elements="str", default=[]),
    ))
    p = module.params
    conn = pg_module.connect_or_fail(module)
    try:
        facts = server_facts(conn, p["login_user"])
        tables = fingerprint(conn, exclude=tuple(p["exclude_tables"]))
    except Exception as exc:  # reported with context
        module.fail_json(msg="reading Kong's database %s failed: %s" % (pg_module.where(p), exc))
    finally:
        conn.close()
    taken = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    fp = dict(database=dict(host=p["login_host"], port=p["login_port"], name=p["login_db"]), taken_at=taken, tables=tables)
    differences = []
    if p["compare_to"] is not None:
        before = p["compare_to"].get("tables", p["compare_to"])
        differences = compare_fingerprints(before, tables)
    module.exit_json(changed=False, fingerprint=fp, differences=differences, **facts)


if __name__ == "__main__":
    main()
