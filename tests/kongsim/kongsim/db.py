"""PostgreSQL access for the simulator: connection, schema state, entities, configuration hash.

Entity rows live in real tables with Kong's column names (``services``, ``routes`` with a
``paths text[]`` column, ``plugins`` with ``config jsonb`` ...), created by the migrations that
create them in Kong (core 000_base, key-auth 000_base_key_auth, ...), so ``psql``, ``pg_dump`` and
the migration engine see what they would see with real Kong.

API shape of an entity (what list/get/insert/update return, what the Admin API serves): a dict of
its fields; timestamps as integer epoch seconds; foreign keys as ``{"id": ...}`` or None.
"""

import collections
import datetime
import hashlib
import json
import re
import uuid

from kongsim import releases

try:  # psycopg is imported lazily by connect() users; keep import errors readable
    import psycopg
    from psycopg import sql
    from psycopg.types.json import Jsonb
except ImportError:  # pragma: no cover
    psycopg = None

EMPTY_CONFIG_HASH = "0" * 32
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class DbError(Exception):
    """A database error; str() is Kong's text, e.g. ``[PostgreSQL error] timeout``."""

    def __init__(self, message, raw=None):
        Exception.__init__(self, message)
        self.raw = raw


class UniqueViolation(DbError):
    def __init__(self, kind, field, value):
        DbError.__init__(self, "UNIQUE violation detected on '{%s=\"%s\"}'" % (field, value))
        self.kind, self.field, self.value = kind, field, value


class ForeignKeyViolation(DbError):
    def __init__(self, kind, field, value):
        DbError.__init__(self, "the foreign key '{id=\"%s\"}' does not reference an existing '%s' entity." % (
            value, FOREIGN_TARGETS.get(field, field + "s")))
        self.kind, self.field, self.value = kind, field, value


class NotFound(DbError):
    pass


def pg_error(msg):
    return "[PostgreSQL error] " + msg


# -- connection -----------------------------------------------------------------------------------

def _pgmoon_text(exc):
    """psycopg's message, reworded the way pgmoon/lua-resty sockets report it to Kong."""
    diag = getattr(exc, "diag", None)
    if diag is not None and getattr(diag, "message_primary", None):
        return "%s: %s" % (diag.severity or "ERROR", diag.message_primary)
    text = str(exc)
    low = text.lower()
    if "connection refused" in low:
        return "connection refused"
    if "timeout expired" in low or "timed out" in low:
        return "timeout"
    if "no route to host" in low:
        return "no route to host"
    if "could not translate host name" in low or "name or service not known" in low:
        return "no resolver defined to resolve \"%s\"" % re.sub(r".*host name \"([^\"]+)\".*", r"\1", text.replace("\n", " "))
    m = re.search(r"FATAL:\s+(.*)", text)
    if m:
        return "FATAL: " + m.group(1).strip()
    m = re.search(r"ERROR:\s+(.*)", text)
    if m:
        return "ERROR: " + m.group(1).strip()
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


def connect(conf, timeout_ms=None):
    """A psycopg connection (autocommit) for ``conf`` (a dict from conf.load).

    The password travels in the connect call, never in argv, logs or messages.  Errors raise
    DbError with Kong's wording: ``[PostgreSQL error] failed to retrieve PostgreSQL
    server_version_num: <reason>``; PostgreSQL < 9.5 is refused like Kong does."""
    if conf.get("database") != "postgres":
        raise DbError("kongsim: database '%s' cannot be connected to" % conf.get("database"))
    timeout_ms = timeout_ms or conf.get("pg_timeout") or 5000
    kwargs = dict(host=conf.get("pg_host") or "127.0.0.1", port=int(conf.get("pg_port") or 5432),
                  user=conf.get("pg_user") or "kong", dbname=conf.get("pg_database") or "kong",
                  connect_timeout=max(2, int(round(float(timeout_ms) / 1000.0))), autocommit=True,
                  application_name="kongsim")
    if conf.get("pg_password") is not None:
        kwargs["password"] = str(conf["pg_password"])
    if conf.get("pg_ssl"):
        kwargs["sslmode"] = "require"
    else:
        kwargs["sslmode"] = "disable"
    try:
        conn = psycopg.connect(**kwargs)
    except psycopg.Error as e:
        raise DbError(pg_error("failed to retrieve PostgreSQL server_version_num: " + _pgmoon_text(e)))
    try:
        with conn.cursor() as cur:
            cur.execute("SET statement_timeout = %d" % int(timeout_ms))
            cur.execute("SHOW server_version_num")
            num = int(cur.fetchone()[0])
            if conf.get("pg_schema"):
                cur.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(conf["pg_schema"])))
    except psycopg.Error as e:
        conn.close()
        raise DbError(pg_error("failed to retrieve PostgreSQL server_version_num: " + _pgmoon_text(e)))
    try:
        check_server_version(num)
    except DbError:
        conn.close()
        raise
    return conn


def check_server_version(num):
    """Kong's floor (kong/constants.lua: postgres 9.5)."""
    if num < 90500:
        raise DbError("Kong requires postgres 9.5 or greater (currently using %s)" % _version_text(num))


def _version_text(num):
    major = num // 10000
    if major >= 10:
        return "%d.%d" % (major, num % 10000)
    return "%d.%d" % (major, (num // 100) % 100)


def run_sql(conn, query, params=None):
    """Execute ``query``; DbError with pgmoon-like text on failure.  Returns rows (or [])."""
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            if cur.description is None:
                return []
            return cur.fetchall()
    except psycopg.Error as e:
        raise DbError(pg_error(_pgmoon_text(e)), raw=e)


def table_exists(conn, table):
    rows = run_sql(conn, "SELECT to_regclass(%s) IS NOT NULL", (table,))
    return bool(rows and rows[0][0])


def existing_tables(conn):
    return set(r[0] for r in run_sql(conn, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))


# -- schema state -------------------------------------------------------------------------------------

SchemaState = collections.namedtuple(
    "SchemaState", "needs_bootstrap executed_migrations pending_migrations new_migrations missing_migrations")
# Each *_migrations is an OrderedDict {subsystem: [names]} without empty entries.


def read_schema_meta(conn):
    """{subsystem: {"last_executed": str|None, "executed": [..], "pending": [..]}} or None (no table)."""
    if not table_exists(conn, "schema_meta"):
        return None
    out = {}
    for sub, last, executed, pending in run_sql(
            conn, "SELECT subsystem, last_executed, executed, pending FROM schema_meta WHERE key = 'schema_meta'"):
        out[sub] = {"last_executed": last, "executed": list(executed or []), "pending": list(pending or [])}
    return out


def schema_state(conn, release, plugins=None):
    """Kong's state algorithm (contract.md section 2) for a node of ``release`` loading ``plugins``
    (None = bundled)."""
    meta = read_schema_meta(conn)
    known = release.migrations_for(plugins)
    ex, pe, ne, mi = (collections.OrderedDict() for _unused in range(4))
    if meta is None:
        for sub, names in known.items():
            ne[sub] = list(names)
        return SchemaState(True, ex, pe, ne, mi)
    for sub, names in known.items():
        row = meta.get(sub, {"last_executed": None, "executed": [], "pending": []})
        last = row["last_executed"]
        last_idx = names.index(last) if last in names else -1
        for i, name in enumerate(names):
            if name in row["executed"]:
                ex.setdefault(sub, []).append(name)
            elif name in row["pending"]:
                pe.setdefault(sub, []).append(name)
            elif i > last_idx:
                ne.setdefault(sub, []).append(name)
            else:
                mi.setdefault(sub, []).append(name)
    return SchemaState(False, ex, pe, ne, mi)


def format_migration_list(mig):
    """The list lines of kong/db/migrations/state.lua: ``"%<W>s: %s"``, names joined by ', '."""
    if not mig:
        return ""
    width = max(len(s) for s in mig)
    return "\n".join("%s: %s" % (s.rjust(width), ", ".join(n)) for s, n in mig.items())


def format_migration_inline(mig):
    """``core (016_280_to_300) http-log (001_280_to_300)`` (start's log line)."""
    return " ".join("%s (%s)" % (s, ", ".join(n)) for s, n in mig.items())


# -- entities -------------------------------------------------------------------------------------------

# column kinds: s = scalar, a = array, j = json, f = foreign key (column <name>_id), t = timestamp
Column = collections.namedtuple("Column", "name sqltype kind default")


def _c(name, sqltype, kind="s", default=None):
    return Column(name, sqltype, kind, default)


TS = [_c("created_at", "TIMESTAMP WITH TIME ZONE", "t"), _c("updated_at", "TIMESTAMP WITH TIME ZONE", "t")]
FOREIGN_TARGETS = {"service": "services", "route": "routes", "consumer": "consumers", "upstream": "upstreams",
                   "certificate": "certificates", "client_certificate": "certificates"}

Entity = collections.namedtuple("Entity", "kind table columns endpoint_key unique created_by")

ENTITIES = collections.OrderedDict()


def _entity(kind, columns, endpoint_key=None, unique=(), created_by=("core", "000_base"), table=None):
    ENTITIES[kind] = Entity(kind, table or kind, [_c("id", "UUID")] + columns, endpoint_key, tuple(unique), created_by)


_entity("services", TS + [
    _c("name", "TEXT"), _c("retries", "BIGINT", default=5), _c("protocol", "TEXT", default="http"),
    _c("host", "TEXT"), _c("port", "BIGINT", default=80), _c("path", "TEXT"),
    _c("connect_timeout", "BIGINT", default=60000), _c("write_timeout", "BIGINT", default=60000),
    _c("read_timeout", "BIGINT", default=60000), _c("tags", "TEXT[]", "a"),
    _c("client_certificate", "UUID", "f"), _c("tls_verify", "BOOLEAN"), _c("tls_verify_depth", "SMALLINT"),
    _c("ca_certificates", "UUID[]", "a"), _c("enabled", "BOOLEAN", default=True)],
    endpoint_key="name", unique=("name",))
_entity("routes", TS + [
    _c("name", "TEXT"), _c("service", "UUID", "f"), _c("protocols", "TEXT[]", "a", ["http", "https"]),
    _c("methods", "TEXT[]", "a"), _c("hosts", "TEXT[]", "a"), _c("paths", "TEXT[]", "a"),
    _c("headers", "JSONB", "j"), _c("snis", "TEXT[]", "a"), _c("sources", "JSONB[]", "a"),
    _c("destinations", "JSONB[]", "a"), _c("regex_priority", "BIGINT", default=0),
    _c("strip_path", "BOOLEAN", default=True), _c("preserve_host", "BOOLEAN", default=False),
    _c("https_redirect_status_code", "INTEGER", default=426), _c("path_handling", "TEXT", default="v0"),
    _c("request_buffering", "BOOLEAN", default=True), _c("response_buffering", "BOOLEAN", default=True),
    _c("tags", "TEXT[]", "a")],
    endpoint_key="name", unique=("name",))
_entity("consumers", TS + [_c("username", "TEXT"), _c("custom_id", "TEXT"), _c("tags", "TEXT[]", "a")],
        endpoint_key="username", unique=("username", "custom_id"))
_entity("plugins", TS + [
    _c("name", "TEXT"), _c("instance_name", "TEXT"), _c("consumer", "UUID", "f"), _c("service", "UUID", "f"),
    _c("route", "UUID", "f"), _c("config", "JSONB", "j", {}), _c("enabled", "BOOLEAN", default=True),
    _c("cache_key", "TEXT"), _c("protocols", "TEXT[]", "a", ["grpc", "grpcs", "http", "https"]),
    _c("tags", "TEXT[]", "a")],
    endpoint_key="instance_name", unique=("cache_key", "instance_name"))
_entity("upstreams", TS + [
    _c("name", "TEXT"), _c("algorithm", "TEXT", default="round-robin"), _c("hash_on", "TEXT", default="none"),
    _c("hash_fallback", "TEXT", default="none"), _c("hash_on_header", "TEXT"), _c("hash_fallback_header", "TEXT"),
    _c("hash_on_cookie", "TEXT"), _c("hash_on_cookie_path", "TEXT", default="/"), _c("slots", "INTEGER", default=10000),
    _c("healthchecks", "JSONB", "j"), _c("host_header", "TEXT"), _c("client_certificate", "UUID", "f"),
    _c("tags", "TEXT[]", "a")],
    endpoint_key="name", unique=("name",))
_entity("targets", TS + [_c("upstream", "UUID", "f"), _c("target", "TEXT"), _c("weight", "INTEGER", default=100),
                         _c("tags", "TEXT[]", "a")])
_entity("certificates", TS + [_c("cert", "TEXT"), _c("key", "TEXT"), _c("cert_alt", "TEXT"), _c("key_alt", "TEXT"),
                              _c("tags", "TEXT[]", "a")])
_entity("snis", TS + [_c("name", "TEXT"), _c("certificate", "UUID", "f"), _c("tags", "TEXT[]", "a")],
        endpoint_key="name", unique=("name",))
_entity("ca_certificates", TS + [_c("cert", "TEXT"), _c("cert_digest", "TEXT"), _c("tags", "TEXT[]", "a")])
_entity("keyauth_credentials", [TS[0], _c("consumer", "UUID", "f"), _c("key", "TEXT"), _c("tags", "TEXT[]", "a"),
                                _c("ttl", "TIMESTAMP WITH TIME ZONE")],
        endpoint_key="key", unique=("key",), created_by=("key-auth", "000_base_key_auth"))
_entity("basicauth_credentials", [TS[0], _c("consumer", "UUID", "f"), _c("username", "TEXT"), _c("password", "TEXT"),
                                  _c("tags", "TEXT[]", "a")],
        endpoint_key="username", unique=("username",), created_by=("basic-auth", "000_base_basic_auth"))
_entity("acls", [TS[0], _c("consumer", "UUID", "f"), _c("group", "TEXT"), _c("cache_key", "TEXT"), _c("tags", "TEXT[]", "a")],
        unique=("cache_key",), created_by=("acl", "000_base_acl"))
_entity("jwt_secrets", [TS[0], _c("consumer", "UUID", "f"), _c("key", "TEXT"), _c("secret", "TEXT"),
                        _c("rsa_public_key", "TEXT"), _c("algorithm", "TEXT", default="HS256"), _c("tags", "TEXT[]", "a")],
        endpoint_key="key", unique=("key",), created_by=("jwt", "000_base_jwt"))
_entity("hmacauth_credentials", [TS[0], _c("consumer", "UUID", "f"), _c("username", "TEXT"), _c("secret", "TEXT"),
                                 _c("tags", "TEXT[]", "a")],
        endpoint_key="username", unique=("username",), created_by=("hmac-auth", "000_base_hmac_auth"))

# Declarative/Admin-API names of plugin credential entities where they differ from the table.
ENTITY_ALIASES = {"keyauth_credentials": "keyauth_credentials", "key-auths": "keyauth_credentials",
                  "basic-auths": "basicauth_credentials", "jwts": "jwt_secrets", "hmac-auths": "hmacauth_credentials"}


def column_def(col):
    if col.name == "id":
        return '"id" UUID PRIMARY KEY'
    name = col.name + "_id" if col.kind == "f" else col.name
    if col.kind == "f":
        target = FOREIGN_TARGETS[col.name]
        ondel = "ON DELETE CASCADE"
        return '"%s" UUID REFERENCES "%s" ("id") %s' % (name, target, ondel)
    extra = ""
    if col.kind == "t":
        extra = " DEFAULT (CURRENT_TIMESTAMP(0) AT TIME ZONE 'UTC')"
    return '"%s" %s%s' % (name, col.sqltype, extra)


def create_table_sql(kind):
    """CREATE TABLE statement of an entity table (used by the migrations that create it)."""
    ent = ENTITIES[kind]
    cols = [column_def(c) for c in ent.columns]
    for u in ent.unique:
        cols.append('UNIQUE ("%s")' % u)
    return 'CREATE TABLE IF NOT EXISTS "%s" (\n  %s\n)' % (ent.table, ",\n  ".join(cols))


def _col_name(col):
    return col.name + "_id" if col.kind == "f" else col.name


def _to_api(ent, row):
    out = collections.OrderedDict()
    for col, v in zip(ent.columns, row):
        if col.name == "cache_key":
            continue  # a DB-only column, not part of the entity
        if col.kind == "t" or isinstance(v, datetime.datetime):
            v = int(v.replace(tzinfo=v.tzinfo or datetime.timezone.utc).timestamp()) if v is not None else None
        elif col.kind == "f":
            v = {"id": str(v)} if v is not None else None
        elif isinstance(v, uuid.UUID):
            v = str(v)
        elif col.kind == "a" and v is not None:
            v = [str(x) if isinstance(x, uuid.UUID) else x for x in v]
        out[col.name] = v
    return out


def _to_db(ent, col, value):
    if value is None:
        return None
    if col.kind == "f":
        if isinstance(value, dict):
            value = value.get("id")
        return str(value) if value is not None else None
    if col.kind == "j":
        return Jsonb(value)
    if col.kind == "t":
        if isinstance(value, (int, float)):
            return datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
        return value
    if col.kind == "a":
        if col.sqltype == "JSONB[]":
            return [Jsonb(x) for x in value]
        return list(value)
    return value


def resolve_kind(kind):
    kind = ENTITY_ALIASES.get(kind, kind)
    if kind not in ENTITIES:
        raise DbError("unknown entity kind: %s" % kind)
    return ENTITIES[kind]


def _select(ent):
    return sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(sql.Identifier(_col_name(c)) for c in ent.columns), sql.Identifier(ent.table))


def _wrap(fn, ent, fields=None):
    try:
        return fn()
    except psycopg.errors.UniqueViolation as e:
        diag = e.diag.constraint_name or ""
        field = next((u for u in ent.unique if u in diag), ent.endpoint_key or "id")
        if "pkey" in diag:
            field = "id"
        value = (fields or {}).get(field)
        raise UniqueViolation(ent.kind, field, value)
    except psycopg.errors.ForeignKeyViolation as e:
        col = (e.diag.constraint_name or "")
        field = next((c.name for c in ent.columns if c.kind == "f" and c.name + "_id" in col), "id")
        value = (fields or {}).get(field)
        if isinstance(value, dict):
            value = value.get("id")
        raise ForeignKeyViolation(ent.kind, field, value)
    except psycopg.errors.UndefinedTable:
        raise DbError(pg_error('ERROR: relation "%s" does not exist' % ent.table))
    except psycopg.Error as e:
        raise DbError(pg_error(_pgmoon_text(e)), raw=e)


def list_entities(conn, kind, filters=None):
    """Every entity of ``kind``, ordered by id.  ``filters``: {field: value} equality (foreign keys by id)."""
    ent = resolve_kind(kind)
    q = _select(ent)
    params = []
    if filters:
        conds = []
        for k, v in filters.items():
            col = next(c for c in ent.columns if c.name == k)
            conds.append(sql.SQL("{} = %s").format(sql.Identifier(_col_name(col))))
            params.append(_to_db(ent, col, v))
        q = q + sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conds)
    q = q + sql.SQL(" ORDER BY id")

    def go():
        with conn.cursor() as cur:
            cur.execute(q, params)
            return [_to_api(ent, r) for r in cur.fetchall()]
    return _wrap(go, ent)


def get_entity(conn, kind, id_or_key):
    """The entity with that id, or with that endpoint key (name, username ...); None if absent."""
    ent = resolve_kind(kind)
    key = str(id_or_key)
    if UUID_RE.match(key):
        field = "id"
    elif ent.endpoint_key:
        field = ent.endpoint_key
    else:
        return None
    col = next(c for c in ent.columns if c.name == field)
    q = _select(ent) + sql.SQL(" WHERE {} = %s").format(sql.Identifier(_col_name(col)))

    def go():
        with conn.cursor() as cur:
            cur.execute(q, (key,))
            r = cur.fetchone()
            return _to_api(ent, r) if r else None
    return _wrap(go, ent)


def _cache_key(kind, f):
    if kind == "plugins":
        def fid(x):
            if isinstance(x, dict):
                return x.get("id") or ""
            return x or ""
        return "plugins:%s:%s:%s:%s:" % (f.get("name"), fid(f.get("route")), fid(f.get("service")), fid(f.get("consumer")))
    if kind == "acls":
        c = f.get("consumer")
        return "acls:%s:%s::::" % ((c or {}).get("id") if isinstance(c, dict) else c, f.get("group"))
    return None


def _with_defaults(ent, fields):
    out = {}
    for col in ent.columns:
        if col.name in fields:
            out[col.name] = fields[col.name]
        elif col.default is not None:
            out[col.name] = json.loads(json.dumps(col.default))
    return out


def insert_entity(conn, kind, fields):
    """Insert with Kong's defaults; generates id and timestamps.  Returns the stored entity."""
    ent = resolve_kind(kind)
    f = _with_defaults(ent, fields)
    f.setdefault("id", str(uuid.uuid4()))
    now = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
    for c in ent.columns:
        if c.kind == "t" and f.get(c.name) is None:
            f[c.name] = now
    if any(c.name == "cache_key" for c in ent.columns):
        f["cache_key"] = _cache_key(ent.kind, f)
    cols = [c for c in ent.columns if c.name in f]
    q = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(ent.table), sql.SQL(", ").join(sql.Identifier(_col_name(c)) for c in cols),
        sql.SQL(", ").join(sql.Placeholder() for _unused in cols))

    def go():
        with conn.cursor() as cur:
            cur.execute(q, [_to_db(ent, c, f[c.name]) for c in cols])
    _wrap(go, ent, f)
    return get_entity(conn, ent.kind, f["id"])


def update_entity(conn, kind, id_or_key, fields):
    """Partial update (Admin API PATCH).  Returns the entity, or None when it does not exist."""
    ent = resolve_kind(kind)
    cur_ent = get_entity(conn, ent.kind, id_or_key)
    if cur_ent is None:
        return None
    merged = dict(cur_ent)
    merged.update(fields)
    merged["id"] = cur_ent["id"]
    if any(c.name == "updated_at" for c in ent.columns):
        merged["updated_at"] = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
    if any(c.name == "cache_key" for c in ent.columns):
        merged["cache_key"] = _cache_key(ent.kind, merged)
    cols = [c for c in ent.columns if c.name != "id" and c.name in merged]
    q = sql.SQL("UPDATE {} SET {} WHERE id = %s").format(
        sql.Identifier(ent.table),
        sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(_col_name(c))) for c in cols))

    def go():
        with conn.cursor() as cur:
            cur.execute(q, [_to_db(ent, c, merged[c.name]) for c in cols] + [cur_ent["id"]])
    _wrap(go, ent, merged)
    return get_entity(conn, ent.kind, cur_ent["id"])


def upsert_entity(conn, kind, id_or_key, fields):
    """Admin API PUT / declarative import: replace the entity (fields not given get defaults),
    creating it when absent.  Returns the stored entity."""
    ent = resolve_kind(kind)
    existing = get_entity(conn, ent.kind, id_or_key)
    f = dict(fields)
    if not UUID_RE.match(str(id_or_key)) and ent.endpoint_key:
        f[ent.endpoint_key] = str(id_or_key)   # PUT /services/<name> sets the name
    if existing is not None:
        f["id"] = existing["id"]
        f.setdefault("created_at", existing.get("created_at"))
    elif UUID_RE.match(str(id_or_key)):
        f["id"] = str(id_or_key)
    f = _with_defaults(ent, f)
    f.setdefault("id", str(uuid.uuid4()))
    now = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
    for c in ent.columns:
        if c.kind == "t" and (f.get(c.name) is None or (existing is not None and c.name == "updated_at")):
            f[c.name] = now
    if any(c.name == "cache_key" for c in ent.columns):
        f["cache_key"] = _cache_key(ent.kind, f)
    cols = list(ent.columns)
    q = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET {}").format(
        sql.Identifier(ent.table), sql.SQL(", ").join(sql.Identifier(_col_name(c)) for c in cols),
        sql.SQL(", ").join(sql.Placeholder() for _unused in cols),
        sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(_col_name(c))) for c in cols if c.name != "id"))

    def go():
        with conn.cursor() as cur:
            cur.execute(q, [_to_db(ent, c, f.get(c.name)) for c in cols])
    _wrap(go, ent, f)
    return get_entity(conn, ent.kind, f["id"])


def delete_entity(conn, kind, id_or_key):
    """Delete by id or endpoint key; returns True when a row was removed.  Dependants go too
    (foreign keys cascade, as Kong's DAO does)."""
    ent = resolve_kind(kind)
    e = get_entity(conn, ent.kind, id_or_key)
    if e is None:
        return False

    def go():
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DELETE FROM {} WHERE id = %s").format(sql.Identifier(ent.table)), (e["id"],))
            return cur.rowcount
    return bool(_wrap(go, ent))


def entity_kinds_present(conn):
    tables = existing_tables(conn)
    return [k for k, e in ENTITIES.items() if e.table in tables]


def load_config(conn):
    """The whole configuration in the shared flat shape: {kind: [entity, ...]} for every entity
    table that exists (lists ordered by id)."""
    cfg = collections.OrderedDict()
    for kind in entity_kinds_present(conn):
        cfg[kind] = list_entities(conn, kind)
    return cfg


HASH_IGNORED_FIELDS = ("created_at", "updated_at")


def _canonical(obj):
    if isinstance(obj, dict):
        return dict((k, _canonical(v)) for k, v in obj.items() if k not in HASH_IGNORED_FIELDS and v is not None)
    if isinstance(obj, list):
        return [_canonical(x) for x in obj]
    return obj


def config_hash(config):
    """32 hex chars: md5 of a canonical JSON of ``config``.

    Canonical: keys sorted, null fields and timestamps dropped, entity lists sorted by id, empty
    kinds dropped, so the same entities give the same hash on every node and every version.  A
    configuration with no entities hashes to Kong's DECLARATIVE_EMPTY_CONFIG_HASH (32 zeros)."""
    c = {}
    for kind, items in (config or {}).items():
        if kind.startswith("_") or not isinstance(items, list) or not items:
            continue
        c[kind] = sorted((_canonical(x) for x in items), key=lambda x: str(x.get("id")))
    if not c:
        return EMPTY_CONFIG_HASH
    return hashlib.md5(json.dumps(c, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def version_of(release):
    """Convenience: accept a Release or a version string."""
    return release if isinstance(release, releases.Release) else releases.get(release)
