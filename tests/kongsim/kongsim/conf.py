"""Kong's configuration loader, as far as upgrades are concerned (contract.md section 10).

``load(conf_path=None, prefix=None, env=None, release=...)`` returns a dict: release defaults <
the conf file < ``KONG_*`` environment < explicit overrides (the ``-p`` prefix), typed like Kong's
conf_loader does it:

- on/off booleans (``pg_ssl``, ``anonymous_reports``, ...) -> bool;
- numbers (``pg_port``, ``pg_timeout``, ``db_update_frequency``, ...) -> int/float;
- array keys (``plugins``, ``trusted_ips``, ``headers``) -> list of str;
- listeners ``proxy_listen``, ``admin_listen``, ``status_listen``, ``cluster_listen``,
  ``admin_gui_listen`` -> list of :class:`Listener` (host, port, flags) ([] for ``off``);
  the original text is kept under ``<key>_raw``;
- unset keys (``pg_password``, ``declarative_config``, ...) -> None.

Also added: ``conf_path`` (the file actually read or None) and ``loaded_plugins`` (the expanded
``plugins`` list, ``bundled`` replaced by the release's bundled plugins).

Validation raises :class:`ConfError` whose message is Kong's first error; ``.errors`` has all of
them (``kong check`` prints each).  Secrets are never printed: use :func:`redacted`.
"""

import collections
import os
import re
import stat

from kongsim import releases

SECRET_KEYS = ("pg_password", "pg_ro_password", "cassandra_password", "admin_gui_session_conf")
BOOLEAN_KEYS = ("pg_ssl", "pg_ssl_verify", "anonymous_reports", "nginx_daemon", "legacy_hybrid_protocol",
                "allow_debug_header", "cassandra_ssl", "cassandra_ssl_verify")
INT_KEYS = ("pg_port", "pg_timeout", "pg_max_concurrent_queries", "pg_semaphore_timeout", "db_cache_ttl",
            "db_cache_neg_ttl", "cluster_data_plane_purge_delay", "cassandra_port", "cassandra_timeout",
            "lua_socket_pool_size", "worker_state_update_frequency")
FLOAT_KEYS = ("db_update_frequency", "db_update_propagation", "db_resurrect_ttl")
ARRAY_KEYS = ("plugins", "trusted_ips", "headers", "cassandra_contact_points", "db_cache_warmup_entities",
              "ssl_cipher_suite_list", "lua_ssl_trusted_certificate")
LISTEN_KEYS = ("proxy_listen", "admin_listen", "status_listen", "cluster_listen", "admin_gui_listen", "stream_listen")

Listener = collections.namedtuple("Listener", "host port flags")

# Kong's enum checks: key -> allowed values.  Message format of conf_loader:
# "<key> has an invalid value: '<v>' (<allowed joined by ', '>)" [inferred from conf_loader's fmt()].
ENUMS = {
    "role": ("traditional", "control_plane", "data_plane"),
    "database": ("postgres", "cassandra", "off"),
    "cluster_mtls": ("shared", "pki"),
    "log_level": ("debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"),
    "router_flavor": ("traditional_compatible", "expressions", "traditional"),
}
PG_SSL_VERSIONS = ("tlsv1_1", "tlsv1_2", "tlsv1_3", "any")

DEFAULT_CONF_PATHS = ("/etc/kong/kong.conf", "/etc/kong.conf")


class ConfError(Exception):
    """A configuration error.  str() is Kong's (first) message; ``errors`` holds every message."""

    def __init__(self, message, errors=None):
        Exception.__init__(self, message)
        self.errors = list(errors or [message])


def defaults(release):
    """The kong_defaults of ``release`` (strings, as in kong_defaults.lua)."""
    d = collections.OrderedDict()
    d["prefix"] = "/usr/local/kong/"
    d["log_level"] = "notice"
    d["proxy_access_log"] = "logs/access.log"
    d["proxy_error_log"] = "logs/error.log"
    d["admin_access_log"] = "logs/admin_access.log"
    d["admin_error_log"] = "logs/error.log"
    d["status_access_log"] = "off"
    d["status_error_log"] = "logs/status_error.log"
    d["plugins"] = "bundled"
    d["anonymous_reports"] = "on"
    d["proxy_listen"] = "0.0.0.0:8000 reuseport backlog=16384, 0.0.0.0:8443 http2 ssl reuseport backlog=16384"
    d["stream_listen"] = "off"
    d["admin_listen"] = "127.0.0.1:8001 reuseport backlog=16384, 127.0.0.1:8444 http2 ssl reuseport backlog=16384"
    d["status_listen"] = release.status_listen_default
    if release.admin_gui_listen_default:
        d["admin_gui_listen"] = release.admin_gui_listen_default
    d["role"] = "traditional"
    d["cluster_listen"] = "0.0.0.0:8005"
    d["cluster_control_plane"] = "127.0.0.1:8005"
    d["cluster_cert"] = None
    d["cluster_cert_key"] = None
    d["cluster_mtls"] = "shared"
    d["cluster_ca_cert"] = None
    d["cluster_server_name"] = None
    d["cluster_data_plane_purge_delay"] = "1209600"
    if (release.major, release.minor) == (3, 0):
        d["legacy_hybrid_protocol"] = "off"
    d["nginx_worker_processes"] = "auto"
    d["nginx_daemon"] = "on"
    d["headers"] = "server_tokens, latency_tokens"
    d["trusted_ips"] = None
    d["database"] = "postgres"
    d["pg_host"] = "127.0.0.1"
    d["pg_port"] = "5432"
    d["pg_timeout"] = "5000"
    d["pg_user"] = "kong"
    d["pg_password"] = None
    d["pg_database"] = "kong"
    d["pg_schema"] = None
    d["pg_ssl"] = "off"
    d["pg_ssl_verify"] = "off"
    d["pg_ssl_version"] = "tlsv1" if release.pg_ssl_tlsv1_allowed else "tlsv1_2"
    d["pg_max_concurrent_queries"] = "0"
    d["pg_semaphore_timeout"] = "60000"
    if release.cassandra != "removed":
        d["cassandra_contact_points"] = "127.0.0.1"
        d["cassandra_port"] = "9042"
        d["cassandra_keyspace"] = "kong"
        d["cassandra_timeout"] = "5000"
        d["cassandra_ssl"] = "off"
        d["cassandra_ssl_verify"] = "off"
        d["cassandra_username"] = "kong"
        d["cassandra_password"] = None
    d["declarative_config"] = None
    d["db_update_frequency"] = "5"
    d["db_update_propagation"] = "0"
    d["db_cache_ttl"] = "0"
    d["db_cache_neg_ttl"] = None
    d["db_resurrect_ttl"] = "30"
    d["db_cache_warmup_entities"] = "services"
    d["worker_state_update_frequency"] = "5"
    d["lua_socket_pool_size"] = "30"
    d["lua_ssl_trusted_certificate"] = "system" if release.major >= 3 else None
    if release.major >= 3:
        d["router_flavor"] = "traditional_compatible"
    return d


# -- parsing ---------------------------------------------------------------------------------------

def parse_conf_text(text):
    """kong.conf syntax: `key = value`, `#` starts a comment (`\\#` is a literal #)."""
    out = collections.OrderedDict()
    for raw in text.splitlines():
        line = re.sub(r"(?<!\\)#.*$", "", raw).replace("\\#", "#").strip()
        if not line or "=" not in line:
            continue
        k, v = line.split("=", 1)
        out[k.strip().lower()] = v.strip()
    return out


def parse_listeners(value):
    """'127.0.0.1:8001 reuseport, [::1]:8444 ssl' -> [Listener]; 'off' -> []."""
    if value is None:
        return []
    text = value if isinstance(value, str) else ", ".join(value)
    if text.strip() in ("off", ""):
        return []
    out = []
    for entry in text.split(","):
        entry = entry.strip()
        if not entry or entry == "off":
            continue
        parts = entry.split()
        addr, flags = parts[0], parts[1:]
        m = re.match(r"^\[([^\]]+)\]:(\d+)$", addr) or re.match(r"^([^:]+):(\d+)$", addr)
        if not m:
            raise ValueError(addr)
        out.append(Listener(m.group(1), int(m.group(2)), tuple(flags)))
    return out


def format_listeners(listeners):
    if not listeners:
        return "off"
    return ", ".join(" ".join(["%s:%d" % (h if ":" not in h else "[%s]" % h, p)] + list(f)) for h, p, f in listeners)


def _env_overrides(env, known):
    """KONG_<KEY> for every known key, plus nginx_* directive keys (Kong's dynamic keys).

    Kong reads the environment only for keys it knows (kong_defaults) and for injected nginx
    directives; any other KONG_* variable is ignored."""
    out = {}
    for name, value in env.items():
        if not name.startswith("KONG_"):
            continue
        key = name[5:].lower()
        if key in known or key.startswith("nginx_"):
            out[key] = value
    return out


def _typed(key, value, errors):
    if value is None:
        return None
    if key in LISTEN_KEYS:
        try:
            return parse_listeners(value)
        except ValueError:
            errors.append("%s must be of form: [off] | <ip>:<port> [ssl] [http2] [proxy_protocol] [deferred] [bind] "
                          "[reuseport] [backlog=%%d], [... next entry ...]" % key)
            return []
    if key in BOOLEAN_KEYS:
        v = str(value).strip().lower()
        if v in ("on", "true"):
            return True
        if v in ("off", "false"):
            return False
        errors.append("%s is not a boolean: '%s'" % (key, value))
        return False
    if key in INT_KEYS:
        try:
            return int(str(value).strip())
        except ValueError:
            errors.append("%s is not a number: '%s'" % (key, value))
            return value
    if key in FLOAT_KEYS:
        try:
            return float(str(value).strip())
        except ValueError:
            errors.append("%s is not a number: '%s'" % (key, value))
            return value
    if key in ARRAY_KEYS:
        if isinstance(value, list):
            return value
        v = str(value).strip()
        if v in ("", "off"):
            return [] if key != "plugins" else ["off"]
        return [x.strip() for x in v.split(",") if x.strip()]
    return value


def validate(conf, release):
    """Every error Kong's conf_loader would report for ``conf`` (typed dict), in Kong's order."""
    errors = list(conf.pop("_type_errors", []))
    for key, allowed in ENUMS.items():
        v = conf.get(key)
        if v is not None and key in conf and v not in allowed:
            errors.append("%s has an invalid value: '%s' (%s)" % (key, v, ", ".join(allowed)))
    ssl_versions = PG_SSL_VERSIONS + (("tlsv1",) if release.pg_ssl_tlsv1_allowed else ())
    if conf.get("pg_ssl_version") is not None and conf["pg_ssl_version"] not in ssl_versions:
        errors.append("pg_ssl_version has an invalid value: '%s' (%s)" % (conf["pg_ssl_version"], ", ".join(ssl_versions)))
    if conf.get("database") == "cassandra" and release.cassandra == "removed":
        errors.append("Cassandra as a datastore for Kong is not supported in versions 3.4 and above. Please use Postgres.")
    role = conf.get("role")
    if role == "control_plane":
        if not conf.get("admin_listen"):
            errors.append('admin_listen must be specified when role = "control_plane"')
        if conf.get("cluster_mtls") == "pki" and not conf.get("cluster_ca_cert"):
            errors.append('cluster_ca_cert must be specified when cluster_mtls = "pki"')
        if not conf.get("cluster_listen"):
            errors.append('cluster_listen must be specified when role = "control_plane"')
        if conf.get("database") == "off":
            errors.append('in-memory storage can not be used when role = "control_plane"')
    elif role == "data_plane":
        if not conf.get("proxy_listen"):
            errors.append('proxy_listen must be specified when role = "data_plane"')
        if conf.get("database") != "off":
            errors.append('only in-memory storage can be used when role = "data_plane"\nHint: set database = off in your kong.conf')
        if conf.get("cluster_mtls") == "pki" and not conf.get("cluster_ca_cert"):
            errors.append('cluster_ca_cert must be specified when cluster_mtls = "pki"')
    if role in ("control_plane", "data_plane"):
        if not conf.get("cluster_cert") or not conf.get("cluster_cert_key"):
            errors.append("cluster certificate and key must be provided to use Hybrid mode")
        else:
            # A value is a path or base64 content (Kong accepts either); the simulator needs no real
            # TLS, so it checks only that a path-looking value exists [inferred message wording].
            for key, what in (("cluster_cert", "certificate"), ("cluster_cert_key", "key")):
                v = conf[key]
                if v.startswith("/") or v.startswith("."):
                    if not os.path.exists(v):
                        errors.append("%s: failed loading %s from %s" % (key, what, v))
    return errors


def find_conf_file(conf_path):
    """Kong's lookup: -c (must exist), else /etc/kong/kong.conf, /etc/kong.conf, else None."""
    if conf_path:
        if not os.path.isfile(conf_path):
            raise ConfError("no file at: %s" % conf_path)
        return conf_path
    for p in DEFAULT_CONF_PATHS:
        if os.path.isfile(p):
            return p
    return None


def load(conf_path=None, prefix=None, env=None, release=None, overrides=None, validate_conf=True):
    """The effective, typed configuration.  ``release`` is a Release or a version string."""
    if release is None:
        release = releases.get(os.environ["KONGSIM_RELEASE"])
    elif not isinstance(release, releases.Release):
        release = releases.get(release)
    env = os.environ if env is None else env
    defs = defaults(release)
    path = find_conf_file(conf_path)
    raw = collections.OrderedDict(defs)
    if path:
        try:
            with open(path) as f:
                text = f.read()
        except OSError as e:
            raise ConfError("could not read file at %s: %s" % (path, e.strerror))
        # Unknown keys in the file are kept and ignored, as Kong's loader does (it merges the file
        # over the defaults and only checks the keys it has parsers for).
        raw.update(parse_conf_text(text))
    raw.update(_env_overrides(env, set(defs)))
    for k, v in (overrides or {}).items():
        if v is not None:
            raw[k] = v
    if prefix:
        raw["prefix"] = prefix
    errors = []
    conf = collections.OrderedDict()
    for k, v in raw.items():
        if k not in LISTEN_KEYS and isinstance(v, str) and v.strip() == "" and k not in ("plugins",):
            v = None
        if k in LISTEN_KEYS and v is not None:
            conf[k + "_raw"] = v if isinstance(v, str) else format_listeners(v)
        conf[k] = _typed(k, v, errors)
    conf["prefix"] = os.path.abspath(conf["prefix"])
    conf["conf_path"] = path
    plugins = conf.get("plugins") or []
    if plugins == ["off"]:
        loaded = []
    else:
        loaded = []
        for p in plugins:
            if p == "bundled":
                loaded.extend(x for x in release.plugins_bundled if x not in loaded)
            elif p not in loaded:
                loaded.append(p)
    conf["loaded_plugins"] = loaded
    conf["_type_errors"] = errors
    if validate_conf:
        errs = validate(conf, release)
        if errs:
            raise ConfError(errs[0], errs)
    else:
        conf.pop("_type_errors", None)
    return conf


def check(conf_path, release, env=None):
    """For `kong check`: list of error messages (empty when valid)."""
    try:
        load(conf_path, env=env, release=release)
    except ConfError as e:
        return e.errors
    return []


def redacted(conf):
    """A copy safe to print or serve: secrets as ``******``, listeners as text."""
    out = collections.OrderedDict()
    for k, v in conf.items():
        if k.endswith("_raw") or k.startswith("_"):
            continue
        if k in SECRET_KEYS and v is not None:
            v = "******"
        elif k in LISTEN_KEYS:
            v = [format_listeners([x]) for x in v] if v else ["off"]
        out[k] = v
    return out


# -- .kong_env ---------------------------------------------------------------------------------------

def _serialize(k, v):
    if v is None:
        return None
    if k in LISTEN_KEYS:
        return format_listeners(v)
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, list):
        return ", ".join(v)
    return str(v)


def write_kong_env(prefix, conf):
    """Write <prefix>/.kong_env (`key = value`, sorted; mode 0600 since it holds pg_password)."""
    path = os.path.join(prefix, ".kong_env")
    lines = []
    for k in sorted(conf):
        if k.endswith("_raw") or k.startswith("_") or k in ("conf_path", "loaded_plugins"):
            continue
        s = _serialize(k, conf[k])
        if s is None:
            continue
        lines.append("%s = %s" % (k, s.replace("#", "\\#")))
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path + ".tmp", 0o600)
    os.replace(path + ".tmp", path)
    return path


def read_kong_env(prefix, release=None):
    """Load <prefix>/.kong_env as a configuration (no environment overrides: it is already merged).

    Returns None when the file does not exist."""
    path = os.path.join(prefix, ".kong_env")
    if not os.path.isfile(path):
        return None
    return load(path, env={}, release=release)
