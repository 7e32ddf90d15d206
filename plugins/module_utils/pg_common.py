# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared PostgreSQL helpers for the kongops.upgrade modules.

Plain Python (no AnsibleModule here) so that everything can be unit tested:

* the connection argument spec shared by every module that talks to Kong's database;
* the libpq environment for child processes (``pg_dump``, ``pg_restore``, ``psql``).  The
  password never goes on a command line: it is written to a temporary passfile (mode 0600,
  inside a 0700 directory) that exists only while the child runs;
* a psycopg connection, the server version, and the discovery of Kong's tables with their
  row counts and content checksums.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile

try:
    import psycopg
    from psycopg import sql as pgsql
    HAS_PSYCOPG = True
    PSYCOPG_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the controller/target
    psycopg = None
    pgsql = None
    HAS_PSYCOPG = False
    PSYCOPG_IMPORT_ERROR = exc

SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
APPLICATION_NAME = "kongops.upgrade"


def pg_argument_spec():
    """A fresh copy of the connection options (see the ``kongops.upgrade.postgres`` doc fragment)."""
    return dict(
        login_host=dict(type="str", default="localhost", aliases=["host"]),
        login_port=dict(type="int", default=5432, aliases=["port"]),
        login_user=dict(type="str", default="kong", aliases=["user"]),
        login_password=dict(type="str", no_log=True, aliases=["password"]),
        login_db=dict(type="str", default="kong", aliases=["db", "database"]),
        ssl_mode=dict(type="str", default="prefer", choices=SSL_MODES),
        passfile=dict(type="path"),
    )


# --------------------------------------------------------------------------------------------
# libpq environment for child processes
# --------------------------------------------------------------------------------------------

def passfile_escape(value):
    """Escape a field of a libpq password file (``:`` and ``\\`` are backslash-escaped)."""
    return value.replace("\\", "\\\\").replace(":", "\\:")


def passfile_line(user, password):
    """One passfile line that matches any host, port and database for ``user``."""
    if "\n" in password or "\r" in password:
        raise ValueError("a PostgreSQL password that contains a line break cannot be used")
    return "*:*:*:%s:%s\n" % (passfile_escape(user), passfile_escape(password))


def build_libpq_env(params, passfile_path=None, dbname=None, application_name=APPLICATION_NAME):
    """The environment a libpq client needs to reach the database described by ``params``.

    Pure function: it returns a dict and never contains the password itself.  ``passfile_path``
    is the temporary passfile holding the password (see :func:`libpq_env`), or None to use the
    user's own ``passfile`` option (or libpq's default ``~/.pgpass``).
    """
    env = {
        "PGHOST": str(params.get("login_host") or "localhost"),
        "PGPORT": str(params.get("login_port") or 5432),
        "PGUSER": str(params.get("login_user") or "kong"),
        "PGDATABASE": str(dbname or params.get("login_db") or "kong"),
        "PGSSLMODE": str(params.get("ssl_mode") or "prefer"),
        "PGAPPNAME": application_name,
        # Never prompt: a missing password must fail, not hang.
        "PGCONNECT_TIMEOUT": "10",
    }
    chosen = passfile_path or params.get("passfile")
    if chosen:
        env["PGPASSFILE"] = str(chosen)
    return env


@contextlib.contextmanager
def libpq_env(params, dbname=None, application_name=APPLICATION_NAME, tmpdir=None):
    """Context manager yielding the libpq environment; the password lives in a temporary 0600 file.

    The directory holding the file is 0700 and removed on exit, so the password exists on disk
    only while the child runs and never appears in an argument list or in the environment.
    """
    password = params.get("login_password")
    if not password:
        yield build_libpq_env(params, None, dbname, application_name)
        return
    workdir = tempfile.mkdtemp(prefix="kongops-pg-", dir=tmpdir)
    try:
        os.chmod(workdir, stat.S_IRWXU)
        path = os.path.join(workdir, "pgpass")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(passfile_line(str(params.get("login_user") or "kong"), password))
        yield build_libpq_env(params, path, dbname, application_name)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------------------------

_TOOL_VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def parse_tool_version(text):
    """``pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`` -> ``(15, 18)``; 9.6.24 -> ``(9, 6, 24)``."""
    m = _TOOL_VERSION_RE.search(text or "")
    if not m:
        raise ValueError("cannot read a PostgreSQL version from %r" % (text,))
    return tuple(int(p) for p in m.groups() if p is not None)


def version_from_num(num):
    """``server_version_num`` (150018, 90624) -> ``(15, 18)``, ``(9, 6, 24)``."""
    num = int(num)
    if num >= 100000:
        return (num // 10000, num % 10000)
    return (num // 10000, (num // 100) % 100, num % 100)


def major_of(version):
    """The major release: ``(15, 18)`` -> ``(15,)``; ``(9, 6, 24)`` -> ``(9, 6)``."""
    version = tuple(version)
    return version[:1] if version[0] >= 10 else version[:2]


def version_str(version):
    return ".".join(str(p) for p in version)


def tool_can_handle_server(tool_version, server_version):
    """pg_dump/pg_restore can read a server whose major release is not newer than its own."""
    return major_of(tool_version) >= major_of(server_version)


# --------------------------------------------------------------------------------------------
# Connection and Kong tables
# --------------------------------------------------------------------------------------------

def connect(params, dbname=None, autocommit=True, application_name=APPLICATION_NAME):
    """A psycopg connection built from the shared options (keyword arguments, never a DSN string)."""
    if not HAS_PSYCOPG:
        raise RuntimeError("psycopg (version 3) is required: %s" % PSYCOPG_IMPORT_ERROR)
    kwargs = dict(
        host=params.get("login_host") or "localhost",
        port=int(params.get("login_port") or 5432),
        user=params.get("login_user") or "kong",
        dbname=dbname or params.get("login_db") or "kong",
        sslmode=params.get("ssl_mode") or "prefer",
        application_name=application_name,
        connect_timeout=10,
    )
    if params.get("login_password"):
        kwargs["password"] = params["login_password"]
    if params.get("passfile"):
        kwargs["passfile"] = params["passfile"]
    return psycopg.connect(autocommit=autocommit, **kwargs)


def server_version(conn):
    with conn.cursor() as cur:
        cur.execute("SHOW server_version_num")
        return version_from_num(cur.fetchone()[0])


# Kong keeps every table in one schema (pg_schema, default the search_path's first one).  The
# tables are discovered rather than listed, so plugins' and newer releases' tables are included.
_TABLES_SQL = """
SELECT n.nspname, c.relname
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\\_%'
 ORDER BY 1, 2
"""


def table_key(schema, name):
    return "%s.%s" % (schema, name)


def list_tables(conn):
    """Every user table of the database as ``[(schema, name)]``, sorted."""
    with conn.cursor() as cur:
        cur.execute(_TABLES_SQL)
        return [(r[0], r[1]) for r in cur.fetchall()]


def row_counts(conn, tables=None):
    """``{"schema.table": rows}`` with exact counts (inside whatever transaction ``conn`` is in)."""
    tables = list_tables(conn) if tables is None else tables
    counts = {}
    with conn.cursor() as cur:
        for schema, name in tables:
            cur.execute(pgsql.SQL("SELECT count(*) FROM {}").format(pgsql.Identifier(schema, name)))
            counts[table_key(schema, name)] = int(cur.fetchone()[0])
    return counts


def content_checksums(conn, tables=None):
    """``{"schema.table": md5}`` over the sorted md5 of every row's text form.

    Independent of physical row order, so a restored table has the same checksum as its source.
    """
    tables = list_tables(conn) if tables is None else tables
    sums = {}
    with conn.cursor() as cur:
        for schema, name in tables:
            cur.execute(pgsql.SQL(
                "SELECT coalesce(md5(string_agg(h, '' ORDER BY h)), md5('')) FROM (SELECT md5(t::text) AS h FROM {} t) s"
            ).format(pgsql.Identifier(schema, name)))
            sums[table_key(schema, name)] = cur.fetchone()[0]
    return sums


def schema_meta_state(conn, tables=None):
    """Kong's ``schema_meta`` rows, or None when the database has no ``schema_meta`` (not bootstrapped)."""
    tables = list_tables(conn) if tables is None else tables
    found = [t for t in tables if t[1] == "schema_meta"]
    if not found:
        return None
    schema, name = found[0]
    with conn.cursor() as cur:
        cur.execute(pgsql.SQL("SELECT key, subsystem, last_executed, executed, pending FROM {} ORDER BY subsystem, key").format(
            pgsql.Identifier(schema, name)))
        rows = cur.fetchall()
    return [dict(key=r[0], subsystem=r[1], last_executed=r[2], executed=list(r[3] or []), pending=list(r[4] or []))
            for r in rows]


_CORE_MIGRATION_RE = re.compile(r"^\d{3}_(\d)(\d)(\d)_to_(\d)(\d)(\d)$")


def schema_release_hint(schema_meta):
    """The Kong release line a ``schema_meta`` state belongs to, from core's last executed migration.

    ``020_330_to_340`` -> ``"3.4"``.  Only a hint: patch releases add no core migrations and the
    schema of 3.8 equals 3.7's.  None when it cannot be told.
    """
    for row in schema_meta or []:
        if row.get("subsystem") == "core":
            m = _CORE_MIGRATION_RE.match(row.get("last_executed") or "")
            if m:
                return "%s.%s" % (m.group(4), m.group(5))
            if row.get("last_executed") == "000_base":
                return "<1.0"
    return None


def database_size(conn, dbname):
    with conn.cursor() as cur:
        cur.execute("SELECT pg_database_size(%s)", (dbname,))
        return int(cur.fetchone()[0])


def database_exists(conn, dbname):
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
        return cur.fetchone() is not None


def other_sessions(conn, dbname):
    """Sessions connected to ``dbname`` other than ``conn`` itself: who they are, for the error message."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT pid, usename, application_name, host(client_addr), client_port, state, backend_start::text"
            "  FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() ORDER BY pid", (dbname,))
        return [dict(pid=r[0], user=r[1], application_name=r[2] or "", client_addr=r[3] or "local",
                     client_port=r[4], state=r[5], backend_start=r[6]) for r in cur.fetchall()]


def describe_sessions(sessions):
    """``pid 123 (kong@127.0.0.1, application_name 'kong')``, joined, for messages."""
    return "; ".join("pid %s (%s@%s, application_name %r, %s)" % (
        s["pid"], s["user"], s["client_addr"], s["application_name"], s["state"]) for s in sessions)


def can_create_databases(conn):
    """Whether the login role may create databases (superuser or CREATEDB)."""
    with conn.cursor() as cur:
        cur.execute("SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user")
        row = cur.fetchone()
        return bool(row and row[0])


def can_replace_database(conn, dbname):
    """Whether the login role may drop ``dbname`` and create it again (superuser, or CREATEDB and its owner)."""
    with conn.cursor() as cur:
        cur.execute("SELECT r.rolsuper OR (r.rolcreatedb AND d.datdba = r.oid) FROM pg_roles r, pg_database d"
                    " WHERE r.rolname = current_user AND d.datname = %s", (dbname,))
        row = cur.fetchone()
        return bool(row and row[0])


def privileges(conn, limit=10):
    """What the login role may do to the connected database: ``superuser``, ``createdb``, ``owns_database``, the
    objects in it that other roles own (``foreign_objects``, at most ``limit`` names; ``foreign_object_count``) and the
    tables it may not read (``unreadable_objects``)."""
    with conn.cursor() as cur:
        cur.execute("SELECT r.rolsuper, r.rolcreatedb, d.datdba = r.oid FROM pg_roles r, pg_database d"
                    " WHERE r.rolname = current_user AND d.datname = current_database()")
        sup, createdb, owns = cur.fetchone()
        cur.execute("SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " JOIN pg_roles r ON r.rolname = current_user"
                    " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND c.relowner <> r.oid"
                    " AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"
                    " ORDER BY 1")
        foreign = [r[0] for r in cur.fetchall()]
        # pg_dump locks and reads every table: one the role may not read makes the backup fail
        cur.execute("SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE c.relkind IN ('r', 'p') AND NOT has_table_privilege(c.oid, 'SELECT')"
                    " AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"
                    " ORDER BY 1")
        unreadable = [r[0] for r in cur.fetchall()]
    return dict(superuser=bool(sup), createdb=bool(createdb), owns_database=bool(owns),
                foreign_objects=foreign[:limit], foreign_object_count=len(foreign), unreadable_objects=unreadable)


def drop_owned_objects(conn, force=False):
    """Empty the connected database of every object the login role owns (``DROP OWNED BY CURRENT_USER CASCADE``), in
    one transaction, and keep a ``public`` schema to restore into (the role may have owned it). ``conn`` must not be
    in autocommit; with ``force``, the role's other sessions on the database are ended first."""
    with conn.cursor() as cur:
        if force:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()")
        cur.execute("DROP OWNED BY CURRENT_USER CASCADE")
        cur.execute("CREATE SCHEMA IF NOT EXISTS public")
    conn.commit()


def drop_database(conn, dbname, force=False):
    """``DROP DATABASE IF EXISTS``; with ``force``, other sessions are ended first (``WITH (FORCE)`` from PostgreSQL 13)."""
    ident = pgsql.Identifier(dbname)
    with conn.cursor() as cur:
        if force and server_version(conn) >= (13,):
            cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            return
        if force:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                        (dbname,))
        cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {}").format(ident))
