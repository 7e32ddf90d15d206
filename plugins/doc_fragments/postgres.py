# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared documentation of the PostgreSQL connection options (plugins/module_utils/pg_common.py)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host of Kong's PostgreSQL server (Kong's C(pg_host)).
      - An absolute path is a Unix socket directory.
    type: str
    default: localhost
    aliases: [host]
  login_port:
    description: Port of the PostgreSQL server (Kong's C(pg_port)).
    type: int
    default: 5432
    aliases: [port]
  login_user:
    description: Role to connect as (Kong's C(pg_user)).
    type: str
    default: kong
    aliases: [user]
  login_password:
    description:
      - Password of O(login_user) (Kong's C(pg_password)).
      - It is never put on a command line or in the environment of a child process; child
        programs read it from a temporary password file (mode 0600, removed afterwards).
      - When omitted, libpq's usual sources apply (O(passfile), C(~/.pgpass), trust or peer authentication).
    type: str
    aliases: [password]
  login_db:
    description: Kong's database (Kong's C(pg_database)).
    type: str
    default: kong
    aliases: [db, database]
  ssl_mode:
    description: libpq C(sslmode) of the connection.
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  passfile:
    description:
      - A libpq password file to use instead of O(login_password).
      - It must be readable only by its owner (libpq ignores it otherwise).
    type: path
requirements:
  - psycopg (version 3) on the managed host.
  - The PostgreSQL client programs (C(pg_dump), C(pg_restore), C(psql)) on the managed host.
"""
