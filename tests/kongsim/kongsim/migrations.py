"""The migration engine and ``kong migrations`` (contract.md sections 1 to 4).

Tables ``schema_meta`` and ``locks`` exactly as Kong's postgres connector creates them; one
transaction per migration ``up`` (Kong wraps each up in BEGIN/COMMIT), the record written after
it; the ``migrations`` cluster lock with ttl, wait/abort behaviour; Kong's messages and exit codes.

Public API (used by cli.py and by process.py for ``start --run-migrations``):
- ``command(sub, conf, release, opts, log) -> exit code``  (raises cli.KongError);
- ``bootstrap/up/finish/reset(conn, conf, release, opts, log)``;
- ``start_check(state) -> error text or None`` and ``START_*`` messages for ``kong start``.
"""

import collections
import json
import re
import sys
import time
import uuid

from kongsim import db
from kongsim import faults as faultsmod
from kongsim.releases import NEEDS_BOOTSTRAP_MSG

MIGRATIONS_MUTEX_KEY = "migrations"
NOT_LEADER_MSG = "aborted: another node is performing database changes"
# Lua source positions kept by re-raised errors (contract.md section 1: a re-raised error keeps
# the inner path; the line numbers are those of kong/cmd/utils/migrations.lua [inferred]).
UTILS_PATH = "/usr/local/share/lua/5.1/kong/cmd/utils/migrations.lua"
START_NEEDS_BOOTSTRAP = "%s:16: %s" % (UTILS_PATH, NEEDS_BOOTSTRAP_MSG)
START_NEW_MIGRATIONS = "%s:20: New migrations available; run 'kong migrations up' to proceed" % UTILS_PATH
PLAIN_PATH_RE = re.compile(r"^[a-zA-Z0-9.\-_~/%]*$")


class MigrationError(Exception):
    """Raised inside the lock callback; message already in Kong's words."""


def _kong_error(msg):
    from kongsim.cli import KongError
    return KongError(msg)


# ---------------------------------------------------------------------------------------------------
# Migration steps.  Only what matters for upgrades changes tables; every other migration is
# recorded without touching anything (their real effects - new columns for features the simulator
# does not have - are invisible to the upgrade procedures).
# ---------------------------------------------------------------------------------------------------

def _exec(conn, *stmts):
    with conn.cursor() as cur:
        for s in stmts:
            cur.execute(s)


def _core_000_base(conn):
    _exec(conn, *[db.create_table_sql(k) for k in ("certificates", "snis", "services", "routes", "consumers",
                                                   "upstreams", "targets", "plugins")])
    _exec(conn,
          "CREATE INDEX IF NOT EXISTS routes_service_id_idx ON routes (service_id)",
          "CREATE INDEX IF NOT EXISTS plugins_name_idx ON plugins (name)",
          "CREATE INDEX IF NOT EXISTS targets_upstream_id_idx ON targets (upstream_id)",
          "CREATE TABLE IF NOT EXISTS cluster_events (id UUID PRIMARY KEY, node_id UUID NOT NULL, "
          "at TIMESTAMP WITH TIME ZONE NOT NULL, nbf TIMESTAMP WITH TIME ZONE, expire_at TIMESTAMP WITH TIME ZONE NOT NULL, "
          "channel TEXT, data TEXT)",
          "CREATE TABLE IF NOT EXISTS ttls (primary_key_value TEXT NOT NULL, primary_uuid_value UUID, "
          "table_name TEXT NOT NULL, primary_key_name TEXT NOT NULL, expire_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, "
          "PRIMARY KEY (primary_key_value, table_name))")


def _core_006(conn):
    _exec(conn, db.create_table_sql("ca_certificates"))


def _core_012(conn):
    # 2.2: hybrid mode's data plane registry
    _exec(conn, "CREATE TABLE IF NOT EXISTS clustering_data_planes (id UUID PRIMARY KEY, hostname TEXT NOT NULL, "
                "ip TEXT NOT NULL, last_seen TIMESTAMP WITH TIME ZONE DEFAULT (CURRENT_TIMESTAMP(0) AT TIME ZONE 'UTC'), "
                "config_hash TEXT NOT NULL, ttl TIMESTAMP WITH TIME ZONE)")


def _core_013(conn):
    _exec(conn, "ALTER TABLE clustering_data_planes ADD COLUMN IF NOT EXISTS version TEXT",
          "ALTER TABLE clustering_data_planes ADD COLUMN IF NOT EXISTS sync_status TEXT NOT NULL DEFAULT 'unknown'")


def _core_015(conn):
    # 2.8: the beta vaults entity
    _exec(conn, "CREATE TABLE IF NOT EXISTS vaults_beta (id UUID PRIMARY KEY, ws_id UUID, prefix TEXT UNIQUE, "
                "name TEXT NOT NULL, description TEXT, config JSONB NOT NULL, "
                "created_at TIMESTAMP WITH TIME ZONE DEFAULT (CURRENT_TIMESTAMP(0) AT TIME ZONE 'UTC'), "
                "updated_at TIMESTAMP WITH TIME ZONE, tags TEXT[])")


def regex_path_to_tilde(path):
    """3.0's route path migration: a non-plain path (anything outside ``[a-zA-Z0-9.-_~/%]``) is a
    regex in 2.x and gets the ``~`` prefix; plain paths and paths already prefixed are unchanged.
    (Kong also percent-normalises the regex; the simulator leaves it as written.)"""
    if path is None or path.startswith("~") or PLAIN_PATH_RE.match(path):
        return path
    return "~" + path


def _core_016_up(conn):
    # 3.0: rewrite regex route paths during up (what makes 2.8 < 2.8.2 routers mis-route), the
    # vaults entity moves to its 3.0 table.
    with conn.cursor() as cur:
        cur.execute("SELECT id, paths FROM routes WHERE paths IS NOT NULL")
        for rid, paths in cur.fetchall():
            new = [regex_path_to_tilde(p) for p in paths]
            if new != list(paths):
                cur.execute("UPDATE routes SET paths = %s WHERE id = %s", (new, rid))
        cur.execute("CREATE TABLE IF NOT EXISTS sm_vaults (id UUID PRIMARY KEY, ws_id UUID, prefix TEXT UNIQUE, "
                    "name TEXT NOT NULL, description TEXT, config JSONB NOT NULL, "
                    "created_at TIMESTAMP WITH TIME ZONE DEFAULT (CURRENT_TIMESTAMP(0) AT TIME ZONE 'UTC'), "
                    "updated_at TIMESTAMP WITH TIME ZONE, tags TEXT[])")
        cur.execute("SELECT to_regclass('vaults_beta') IS NOT NULL")
        if cur.fetchone()[0]:
            cur.execute("INSERT INTO sm_vaults SELECT * FROM vaults_beta ON CONFLICT DO NOTHING")


def _core_016_teardown(conn):
    # contract.md: 016's teardown drops vaults_beta and vaults (and updates cache keys).  From here
    # on a 2.8 node no longer finds its tables: the old cluster's compatibility ends at finish.
    _exec(conn, "DROP TABLE IF EXISTS vaults_beta", "DROP TABLE IF EXISTS vaults")


def _core_019(conn):
    _exec(conn, "ALTER TABLE clustering_data_planes ADD COLUMN IF NOT EXISTS updated_at TIMESTAMP WITH TIME ZONE")


def _core_021(conn):
    _exec(conn, "ALTER TABLE clustering_data_planes ADD COLUMN IF NOT EXISTS labels JSONB")


def _core_022(conn):
    _exec(conn, "ALTER TABLE clustering_data_planes ADD COLUMN IF NOT EXISTS cert_details JSONB")


def _core_023(conn):
    _exec(conn, "ALTER TABLE clustering_data_planes ADD COLUMN IF NOT EXISTS rpc_capabilities TEXT[]")


def _entity_table(kind):
    return lambda conn: _exec(conn, db.create_table_sql(kind))


def _plain_table(name, cols):
    return lambda conn: _exec(conn, "CREATE TABLE IF NOT EXISTS %s (%s)" % (name, cols))


UP = {
    ("core", "000_base"): _core_000_base,
    ("core", "006_130_to_140"): _core_006,
    ("core", "012_213_to_220"): _core_012,
    ("core", "013_220_to_230"): _core_013,
    ("core", "015_270_to_280"): _core_015,
    ("core", "016_280_to_300"): _core_016_up,
    ("core", "019_320_to_330"): _core_019,
    ("core", "021_340_to_350"): _core_021,
    ("core", "022_350_to_360"): _core_022,
    ("core", "023_360_to_370"): _core_023,
    ("key-auth", "000_base_key_auth"): _entity_table("keyauth_credentials"),
    ("basic-auth", "000_base_basic_auth"): _entity_table("basicauth_credentials"),
    ("acl", "000_base_acl"): _entity_table("acls"),
    ("jwt", "000_base_jwt"): _entity_table("jwt_secrets"),
    ("hmac-auth", "000_base_hmac_auth"): _entity_table("hmacauth_credentials"),
    ("oauth2", "000_base_oauth2"): _plain_table(
        "oauth2_credentials", "id UUID PRIMARY KEY, created_at TIMESTAMP WITH TIME ZONE, name TEXT, "
        "consumer_id UUID REFERENCES consumers (id) ON DELETE CASCADE, client_id TEXT UNIQUE, client_secret TEXT, "
        "redirect_uris TEXT[], tags TEXT[]"),
    ("rate-limiting", "000_base_rate_limiting"): _plain_table(
        "ratelimiting_metrics", "identifier TEXT NOT NULL, period TEXT NOT NULL, period_date TIMESTAMP WITH TIME ZONE NOT NULL, "
        "service_id UUID NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000'::uuid, "
        "route_id UUID NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000'::uuid, value INTEGER, "
        "PRIMARY KEY (identifier, period, period_date, service_id, route_id)"),
    ("response-ratelimiting", "000_base_response_rate_limiting"): _plain_table(
        "response_ratelimiting_metrics", "identifier TEXT NOT NULL, period TEXT NOT NULL, "
        "period_date TIMESTAMP WITH TIME ZONE NOT NULL, service_id UUID NOT NULL, route_id UUID NOT NULL, value INTEGER, "
        "PRIMARY KEY (identifier, period, period_date, service_id, route_id)"),
    ("session", "000_base_session"): _plain_table(
        "sessions", "id UUID PRIMARY KEY, session_id TEXT UNIQUE, expires INTEGER, data TEXT, "
        "created_at TIMESTAMP WITH TIME ZONE, ttl TIMESTAMP WITH TIME ZONE"),
    ("acme", "000_base_acme"): _plain_table(
        "acme_storage", "id UUID PRIMARY KEY, key TEXT UNIQUE, value TEXT, created_at TIMESTAMP WITH TIME ZONE, "
        "ttl TIMESTAMP WITH TIME ZONE"),
}
TEARDOWN = {
    ("core", "016_280_to_300"): _core_016_teardown,
}


# ---------------------------------------------------------------------------------------------------
# schema_meta, locks
# ---------------------------------------------------------------------------------------------------

def schema_bootstrap(conn, conf):
    stmts = []
    if conf.get("pg_schema"):
        stmts.append('CREATE SCHEMA IF NOT EXISTS "%s"' % conf["pg_schema"].replace('"', '""'))
    stmts += [
        "CREATE TABLE IF NOT EXISTS schema_meta (key TEXT, subsystem TEXT, last_executed TEXT, executed TEXT[], "
        "pending TEXT[], PRIMARY KEY (key, subsystem))",
        "CREATE TABLE IF NOT EXISTS locks (key TEXT PRIMARY KEY, owner TEXT, ttl TIMESTAMP WITH TIME ZONE)",
        "CREATE INDEX IF NOT EXISTS locks_ttl_idx ON locks (ttl)",
    ]
    try:
        with conn.transaction():
            _exec(conn, *stmts)
    except Exception as e:  # psycopg.Error
        raise db.DbError(db.pg_error(db._pgmoon_text(e)))


def schema_reset(conn, conf):
    """Kong's postgres schema_reset: drop and recreate the schema."""
    schema = conf.get("pg_schema") or "public"
    q = '"%s"' % schema.replace('"', '""')
    try:
        with conn.transaction():
            _exec(conn, "DROP SCHEMA IF EXISTS %s CASCADE" % q, "CREATE SCHEMA IF NOT EXISTS %s" % q,
                  "GRANT ALL ON SCHEMA %s TO CURRENT_USER" % q)
    except Exception as e:
        raise db.DbError(db.pg_error(db._pgmoon_text(e)))


def record_migration(conn, subsystem, name, state):
    if state == "executed":
        q = ("INSERT INTO schema_meta (key, subsystem, last_executed, executed) VALUES ('schema_meta', %(s)s, %(n)s, ARRAY[%(n)s]) "
             "ON CONFLICT (key, subsystem) DO UPDATE SET last_executed = EXCLUDED.last_executed, "
             "executed = CASE WHEN %(n)s = ANY(COALESCE(schema_meta.executed, ARRAY[]::TEXT[])) THEN schema_meta.executed "
             "ELSE array_append(COALESCE(schema_meta.executed, ARRAY[]::TEXT[]), %(n)s) END, "
             "pending = array_remove(COALESCE(schema_meta.pending, ARRAY[]::TEXT[]), %(n)s)")
    else:
        q = ("INSERT INTO schema_meta (key, subsystem, pending) VALUES ('schema_meta', %(s)s, ARRAY[%(n)s]) "
             "ON CONFLICT (key, subsystem) DO UPDATE SET "
             "pending = CASE WHEN %(n)s = ANY(COALESCE(schema_meta.pending, ARRAY[]::TEXT[])) THEN schema_meta.pending "
             "ELSE array_append(COALESCE(schema_meta.pending, ARRAY[]::TEXT[]), %(n)s) END")
    db.run_sql(conn, q, {"s": subsystem, "n": name})


def insert_lock(conn, key, ttl, owner):
    """True when this owner now holds the lock (expired rows are deleted first)."""
    with conn.transaction():
        db.run_sql(conn, "DELETE FROM locks WHERE ttl < CURRENT_TIMESTAMP")
        db.run_sql(conn, "INSERT INTO locks (key, owner, ttl) VALUES (%s, %s, CURRENT_TIMESTAMP + %s * interval '1 second') "
                         "ON CONFLICT DO NOTHING", (key, owner, float(ttl)))
        rows = db.run_sql(conn, "SELECT owner FROM locks WHERE key = %s", (key,))
    return bool(rows) and rows[0][0] == owner


def read_lock(conn, key):
    rows = db.run_sql(conn, "SELECT count(*) FROM locks WHERE key = %s AND ttl >= CURRENT_TIMESTAMP", (key,))
    return rows[0][0] > 0


def remove_lock(conn, key, owner):
    db.run_sql(conn, "DELETE FROM locks WHERE key = %s AND owner = %s", (key, owner))


def cluster_mutex(conn, key, ttl, callback, no_wait=False, no_cleanup=False, sleep=time.sleep):
    """Kong's DB:cluster_mutex.  Returns (True, None) after running ``callback``; (False, None)
    when another node held the lock; (None, err) on an error."""
    owner = str(uuid.uuid4())
    try:
        got = insert_lock(conn, key, ttl, owner)
    except db.DbError as e:
        return None, str(e)
    if not got:
        if no_wait:
            return False, None
        deadline = time.time() + float(ttl)
        step = 0.1
        while time.time() < deadline:
            sleep(step)
            step = min(step * 2, 2.0)
            try:
                if not read_lock(conn, key):
                    return False, None
            except db.DbError as e:
                return None, str(e)
        return None, db.pg_error("timeout")
    err = None
    try:
        callback()
    except (MigrationError, db.DbError) as e:
        err = str(e)
    finally:
        if not no_cleanup:
            try:
                remove_lock(conn, key, owner)
            except db.DbError:
                pass
    if err is not None:
        return None, db.pg_error("cluster_mutex callback threw an error: " + err)
    return True, None


# ---------------------------------------------------------------------------------------------------
# running migrations
# ---------------------------------------------------------------------------------------------------

def _inject_failure(conn, subsystem, name):
    # A real server-side error, so the text is PostgreSQL's own.
    _exec(conn, "DO $$ BEGIN RAISE EXCEPTION 'kongsim injected failure in migration %s:%s'; END $$" % (subsystem, name))


def run_migrations(conn, conf, release, migs, log, run_up=False, run_teardown=False, skip_teardown=None, faults=None):
    """Kong's DB:run_migrations for {subsystem: [names]}.  Raises MigrationError on failure
    (earlier migrations of the run stay recorded; the failing one is rolled back, not recorded)."""
    faults = faults or {}
    skip_teardown = skip_teardown or {}
    n_migrations = n_pending = 0
    for sub, names in migs.items():
        log("migrating %s on database '%s'...", sub, conf.get("pg_database"))
        for name in names:
            if run_up:
                try:
                    with conn.transaction():
                        fn = UP.get((sub, name))
                        if fn:
                            fn(conn)
                        if faultsmod.migration_fails(faults, sub, name):
                            _inject_failure(conn, sub, name)
                except Exception as e:  # psycopg errors
                    raise MigrationError(db.pg_error("failed to run migration '%s' up: %s" % (name, db._pgmoon_text(e))))
            state = "executed"
            if release.has_teardown(sub, name):
                if run_teardown and name not in skip_teardown.get(sub, []):
                    try:
                        with conn.transaction():
                            fn = TEARDOWN.get((sub, name))
                            if fn:
                                fn(conn)
                    except Exception as e:
                        raise MigrationError(db.pg_error("failed to run migration '%s' teardown: %s" % (name, db._pgmoon_text(e))))
                else:
                    state = "pending"
                    n_pending += 1
            record_migration(conn, sub, name, state)
            log("%s migrated up to: %s (%s)", sub, name, state)
            n_migrations += 1
    log("%d migration%s processed", n_migrations, "s" if n_migrations != 1 else "")
    if n_migrations - n_pending > 0:
        log("%d executed", n_migrations - n_pending)
    if n_pending > 0:
        log("%d pending", n_pending)


def _state(conn, conf, release):
    return db.schema_state(conn, release, conf.get("loaded_plugins"))


def _lock_ttl(opts):
    return float(opts.get("lock_timeout") or 60)


def bootstrap(conn, conf, release, opts, log, faults=None):
    state = _state(conn, conf, release)
    if opts.get("force"):
        reset(conn, conf, release, opts, log)
        state = _state(conn, conf, release)
    if not state.needs_bootstrap:
        log("Database already bootstrapped")
        return 0
    log("Bootstrapping database...")
    try:
        schema_bootstrap(conn, conf)
    except db.DbError as e:
        raise _kong_error(str(e))

    def cb():
        run_migrations(conn, conf, release, state.new_migrations, log, run_up=True, run_teardown=True, faults=faults)
        log("Database is up-to-date")
    ok, err = cluster_mutex(conn, MIGRATIONS_MUTEX_KEY, _lock_ttl(opts), cb, no_wait=True)
    if err:
        raise _kong_error(err)
    if not ok:
        log(NOT_LEADER_MSG)
    return 0


def up(conn, conf, release, opts, log, faults=None):
    state = _state(conn, conf, release)
    if state.needs_bootstrap:
        raise _kong_error("Cannot run migrations: " + NEEDS_BOOTSTRAP_MSG)
    force = bool(opts.get("force"))
    refuse_pending = release.up_refuses_pending and not force
    if not force:
        if refuse_pending and state.pending_migrations:
            raise _kong_error("Database has pending migrations; run 'kong migrations finish'")
        if not state.new_migrations:
            log("Database is already up-to-date")
            return 0

    def cb():
        st = _state(conn, conf, release)
        if refuse_pending and st.pending_migrations:
            raise MigrationError("%s:%d: Database has pending migrations; run 'kong migrations finish'" % (UTILS_PATH, 120))
        if force and st.executed_migrations:
            run_migrations(conn, conf, release, st.executed_migrations, log, run_up=True, run_teardown=True,
                           skip_teardown=st.pending_migrations, faults=faults)
        if st.new_migrations:
            run_migrations(conn, conf, release, st.new_migrations, log, run_up=True, faults=faults)
        st = _state(conn, conf, release)
        if st.pending_migrations:
            log("\nDatabase has pending migrations; run 'kong migrations finish' when ready")
    ok, err = cluster_mutex(conn, MIGRATIONS_MUTEX_KEY, _lock_ttl(opts), cb)
    if err:
        raise _kong_error(err)
    if not ok:
        log(NOT_LEADER_MSG)
    return 0


def finish(conn, conf, release, opts, log, faults=None):
    state = _state(conn, conf, release)
    if state.needs_bootstrap:
        raise _kong_error("Cannot run migrations: " + NEEDS_BOOTSTRAP_MSG)
    force = bool(opts.get("force"))

    def cb():
        st = _state(conn, conf, release)
        if force and st.executed_migrations:
            run_migrations(conn, conf, release, st.executed_migrations, log, run_up=True, run_teardown=True, faults=faults)
        if st.pending_migrations:
            run_migrations(conn, conf, release, st.pending_migrations, log, run_teardown=True, faults=faults)
        # contract.md [inferred]: the state is re-read before the checks below, so a successful
        # finish also ends with "No pending migrations to finish".
        st = _state(conn, conf, release)
        if st.new_migrations:
            log("\nNew migrations available; run 'kong migrations up' to proceed")
            return
        if not force:
            log("No pending migrations to finish")
    ok, err = cluster_mutex(conn, MIGRATIONS_MUTEX_KEY, _lock_ttl(opts), cb, no_wait=True)
    if err:
        raise _kong_error(err)
    if not ok:
        log(NOT_LEADER_MSG)
    return 0


def reset(conn, conf, release, opts, log):
    """migrations_utils.reset: True when the database was reset."""
    state = _state(conn, conf, release)
    if state.needs_bootstrap:
        log("Database not bootstrapped, nothing to reset")
        return False

    def cb():
        log("Resetting database...")
        schema_reset(conn, conf)
        log("Database successfully reset")
    ok, err = cluster_mutex(conn, MIGRATIONS_MUTEX_KEY, _lock_ttl(opts), cb, no_wait=True, no_cleanup=True)
    if err:
        log.error("%s - retrying without cluster lock", err)
        log("Resetting database...")
        try:
            schema_reset(conn, conf)
        except db.DbError as e:
            raise _kong_error(str(e))
        log("Database successfully reset")
        return True
    if not ok:
        log(NOT_LEADER_MSG)
        return False
    return True


def _confirm(release, log, stdin=None):
    stdin = stdin or sys.stdin
    for _unused in range(3):
        log.out.write(release.reset_prompt)
        log.out.flush()
        line = stdin.readline()
        if not line:
            return False
        a = line.strip()
        if a in ("y", "Y"):
            return True
        if a in ("n", "N"):
            return False
    return False


def list_command(conn, conf, release, log):
    state = _state(conn, conf, release)
    if state.needs_bootstrap:
        log(NEEDS_BOOTSTRAP_MSG)
        return 3
    if state.executed_migrations:
        log("Executed migrations:\n%s", db.format_migration_list(state.executed_migrations))
    if state.pending_migrations:
        log("\nPending migrations:\n%s", db.format_migration_list(state.pending_migrations))
    if state.new_migrations:
        log("\nNew migrations available:\n%s", db.format_migration_list(state.new_migrations))
    if state.pending_migrations and state.new_migrations:
        log.warn("Database has pending migrations from a previous upgrade, and new migrations from this upgrade (version %s)",
                 release.version)
        log("\nRun 'kong migrations finish' when ready to complete pending migrations "
            "(postgres database will be incompatible with the previous Kong version)")
        return 4
    if state.pending_migrations:
        log("\nRun 'kong migrations finish' when ready")
        return 4
    if state.new_migrations:
        log("\nRun 'kong migrations up' to proceed")
        return 5
    return 0


def _namespace(sub):
    return "kong.db.migrations.core" if sub == "core" else "kong.plugins.%s.migrations" % sub


def status_object(state):
    """The object `kong migrations status` prints (cjson.encode(schema_state))."""
    out = collections.OrderedDict()
    out["needs_bootstrap"] = state.needs_bootstrap
    for key in ("executed_migrations", "pending_migrations", "new_migrations", "missing_migrations"):
        migs = getattr(state, key)
        if migs:
            out[key] = [collections.OrderedDict([("subsystem", s), ("namespace", _namespace(s)), ("migrations", n)])
                        for s, n in migs.items()]
    return out


def start_check(state):
    """What `kong start` (and nginx's init) says about the schema: an error text or None."""
    if state.needs_bootstrap:
        return START_NEEDS_BOOTSTRAP
    if state.new_migrations:
        return START_NEW_MIGRATIONS
    return None


def command(sub, conf, release, opts, log):
    """``kong migrations <sub>``; returns the exit code or raises cli.KongError."""
    if conf.get("database") != "postgres":
        # [inferred] the simulator has no Cassandra and DB-less has no schema to migrate
        raise _kong_error("kongsim: 'kong migrations' needs database = postgres (database = %s)" % conf.get("database"))
    try:
        fl = faultsmod.load(conf.get("prefix"))
    except faultsmod.FaultConfigError as e:
        raise _kong_error("kongsim: %s" % e)
    try:
        conn = db.connect(conf)
    except db.DbError as e:
        raise _kong_error(str(e))
    try:
        try:
            _state(conn, conf, release)
        except db.DbError as e:
            raise _kong_error(str(e))
        if sub == "list":
            return list_command(conn, conf, release, log)
        if sub == "status":
            log(json.dumps(status_object(_state(conn, conf, release)), separators=(",", ":")))
            return 0
        if sub == "bootstrap":
            return bootstrap(conn, conf, release, opts, log, fl)
        if sub == "up":
            return up(conn, conf, release, opts, log, fl)
        if sub == "finish":
            return finish(conn, conf, release, opts, log, fl)
        if sub == "reset":
            if not opts.get("yes"):
                if not sys.stdin.isatty():
                    raise _kong_error("not a tty: invoke 'reset' non-interactively with the --yes flag")
                if not _confirm(release, log):
                    log("cancelled")
                    return 0
            return 0 if reset(conn, conf, release, opts, log) else 1
        raise _kong_error("No such command for migrations: %s" % sub)
    except db.DbError as e:
        raise _kong_error(str(e))
    finally:
        conn.close()
