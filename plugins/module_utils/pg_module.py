# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""AnsibleModule glue shared by the modules that talk to Kong's PostgreSQL database.

pg_common stays free of AnsibleModule so it can be unit tested; the few lines every such module
needs around it (the argument spec, the psycopg check, a connection that fails with the server's
reason, a child-process runner that keeps files private) live here once.
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kongops.upgrade.plugins.module_utils import pg_common


def pg_module(extra_spec):
    """An AnsibleModule with the connection options plus ``extra_spec``; fails when psycopg is missing."""
    argument_spec = pg_common.pg_argument_spec()
    argument_spec.update(extra_spec)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not pg_common.HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib("psycopg"), exception=str(pg_common.PSYCOPG_IMPORT_ERROR))
    if "jobs" in extra_spec and module.params["jobs"] < 1:
        module.fail_json(msg="jobs must be at least 1")
    return module


def where(params):
    """``host:port/db`` for messages."""
    return "%s:%s/%s" % (params["login_host"], params["login_port"], params["login_db"])


def connect_or_fail(module):
    """A psycopg connection, or fail_json with the server's reason (psycopg's errors carry it)."""
    p = module.params
    try:
        return pg_common.connect(p)
    except Exception as exc:
        module.fail_json(msg="cannot connect to Kong's database %s as %s: %s" % (where(p), p["login_user"], str(exc).strip()))


def runner(module):
    """run_command for pg_dump/pg_restore/psql: the libpq environment added, files created private (umask 077)."""
    def run(argv, env):
        return module.run_command(argv, environ_update=env or {}, umask=0o077)
    return run
