"""Every version-dependent behaviour of the simulator, as data.

Nothing else in kongsim compares version numbers: code asks a :class:`Release` for a property.
Sources are the sections of contract.md named in the comments.

``get("3.4.2")`` -> Release; ``known_versions()`` -> every release the simulator can install.
"""

import collections
import re

# ---------------------------------------------------------------------------------------------
# Migrations (contract.md section 3).  Each row: (first release carrying it, subsystem, name,
# has a postgres teardown).  Order inside a subsystem is Kong's index order.
# ---------------------------------------------------------------------------------------------
MIGRATIONS = [
    # core, 2.0.0
    ((2, 0, 0), "core", "000_base", False),
    ((2, 0, 0), "core", "003_100_to_110", False),
    ((2, 0, 0), "core", "004_110_to_120", False),
    ((2, 0, 0), "core", "005_120_to_130", True),
    ((2, 0, 0), "core", "006_130_to_140", False),
    ((2, 0, 0), "core", "007_140_to_150", False),
    ((2, 0, 0), "core", "008_150_to_200", True),
    ((2, 1, 0), "core", "009_200_to_210", True),
    ((2, 2, 0), "core", "010_210_to_211", False),
    ((2, 2, 0), "core", "011_212_to_213", False),
    ((2, 2, 0), "core", "012_213_to_220", True),
    ((2, 3, 0), "core", "013_220_to_230", False),
    ((2, 7, 0), "core", "014_230_to_270", False),
    ((2, 8, 0), "core", "015_270_to_280", False),
    ((3, 0, 0), "core", "016_280_to_300", True),
    ((3, 1, 0), "core", "017_300_to_310", False),
    ((3, 2, 0), "core", "018_310_to_320", False),
    ((3, 3, 0), "core", "019_320_to_330", False),
    ((3, 4, 0), "core", "020_330_to_340", False),
    ((3, 5, 0), "core", "021_340_to_350", False),
    ((3, 6, 0), "core", "022_350_to_360", False),
    ((3, 7, 0), "core", "023_360_to_370", False),
    ((3, 9, 0), "core", "024_380_to_390", False),
    # Bundled plugins present at 2.0.0.  contract.md lists only what later releases add; the
    # totals it gives (2.8.0 = 43) leave 15 plugin migrations at 2.0.0, which are these (the
    # squashed 2.0 plugin bases; their numbering is consistent with the 2.1 additions).
    ((2, 0, 0), "acl", "000_base_acl", False),
    ((2, 0, 0), "acl", "002_130_to_140", False),
    ((2, 0, 0), "basic-auth", "000_base_basic_auth", False),
    ((2, 0, 0), "basic-auth", "002_130_to_140", False),
    ((2, 0, 0), "hmac-auth", "000_base_hmac_auth", False),
    ((2, 0, 0), "hmac-auth", "002_130_to_140", False),
    ((2, 0, 0), "jwt", "000_base_jwt", False),
    ((2, 0, 0), "jwt", "002_130_to_140", False),
    ((2, 0, 0), "key-auth", "000_base_key_auth", False),
    ((2, 0, 0), "key-auth", "002_130_to_140", False),
    ((2, 0, 0), "oauth2", "000_base_oauth2", False),
    ((2, 0, 0), "oauth2", "003_130_to_140", False),
    ((2, 0, 0), "rate-limiting", "000_base_rate_limiting", False),
    ((2, 0, 0), "rate-limiting", "003_10_to_112", False),
    ((2, 0, 0), "response-ratelimiting", "000_base_response_rate_limiting", False),
    # 2.1.0
    ((2, 1, 0), "acl", "003_200_to_210", True),
    ((2, 1, 0), "basic-auth", "003_200_to_210", False),
    ((2, 1, 0), "hmac-auth", "003_200_to_210", False),
    ((2, 1, 0), "jwt", "003_200_to_210", False),
    ((2, 1, 0), "key-auth", "003_200_to_210", False),
    ((2, 1, 0), "bot-detection", "001_200_to_210", True),
    ((2, 1, 0), "ip-restriction", "001_200_to_210", True),
    ((2, 1, 0), "oauth2", "004_200_to_210", True),
    ((2, 1, 0), "rate-limiting", "004_200_to_210", False),
    # 2.2.0
    ((2, 2, 0), "acl", "004_212_to_213", True),
    ((2, 2, 0), "oauth2", "005_210_to_211", False),  # teardown is Cassandra-only
    # 2.6.0
    ((2, 6, 0), "acme", "000_base_acme", False),
    ((2, 6, 0), "session", "000_base_session", False),
    ((2, 6, 0), "session", "001_add_ttl_index", False),
    # 3.0.0
    ((3, 0, 0), "acme", "001_280_to_300", False),
    ((3, 0, 0), "http-log", "001_280_to_300", True),
    ((3, 0, 0), "pre-function", "001_280_to_300", False),
    ((3, 0, 0), "post-function", "001_280_to_300", False),
    # 3.3.0
    ((3, 3, 0), "acme", "002_320_to_330", False),
    ((3, 3, 0), "key-auth", "004_320_to_330", False),
    ((3, 3, 0), "oauth2", "006_320_to_330", False),
    ((3, 3, 0), "oauth2", "007_320_to_330", False),
    ((3, 3, 0), "rate-limiting", "005_320_to_330", False),
    ((3, 3, 0), "session", "002_320_to_330", False),
    # 3.6.0 / 3.6.1
    ((3, 6, 0), "acme", "003_350_to_360", True),
    ((3, 6, 0), "rate-limiting", "006_350_to_360", True),
    ((3, 6, 0), "response-ratelimiting", "001_350_to_360", True),
    ((3, 6, 1), "opentelemetry", "001_331_to_332", True),
    # 3.7.0
    ((3, 7, 0), "ai-proxy", "001_360_to_370", True),
]

# Bundled plugins: name -> (first release, priority in 3.x).  Priorities are Kong's handler
# PRIORITY values as we remember them [inferred]; they only feed GET / "available_on_server".
PLUGINS = collections.OrderedDict([
    ("pre-function", ((2, 0, 0), 1000000)), ("zipkin", ((2, 0, 0), 100000)), ("bot-detection", ((2, 0, 0), 2500)),
    ("cors", ((2, 0, 0), 2000)), ("session", ((2, 0, 0), 1900)), ("acme", ((2, 0, 0), 1705)),
    ("jwt", ((2, 0, 0), 1450)), ("oauth2", ((2, 0, 0), 1400)), ("key-auth", ((2, 0, 0), 1250)),
    ("ldap-auth", ((2, 0, 0), 1200)), ("basic-auth", ((2, 0, 0), 1100)), ("hmac-auth", ((2, 0, 0), 1030)),
    ("grpc-gateway", ((2, 0, 0), 998)), ("ip-restriction", ((2, 0, 0), 990)),
    ("request-size-limiting", ((2, 0, 0), 951)), ("acl", ((2, 0, 0), 950)), ("rate-limiting", ((2, 0, 0), 910)),
    ("response-ratelimiting", ((2, 0, 0), 900)), ("request-transformer", ((2, 0, 0), 801)),
    ("response-transformer", ((2, 0, 0), 800)), ("ai-proxy", ((3, 6, 0), 770)), ("aws-lambda", ((2, 0, 0), 750)),
    ("azure-functions", ((2, 0, 0), 749)), ("proxy-cache", ((2, 0, 0), 100)), ("opentelemetry", ((3, 0, 0), 14)),
    ("prometheus", ((2, 0, 0), 13)), ("http-log", ((2, 0, 0), 12)), ("statsd", ((2, 0, 0), 11)),
    ("datadog", ((2, 0, 0), 10)), ("file-log", ((2, 0, 0), 9)), ("udp-log", ((2, 0, 0), 8)),
    ("tcp-log", ((2, 0, 0), 7)), ("loggly", ((2, 0, 0), 6)), ("syslog", ((2, 0, 0), 4)),
    ("grpc-web", ((2, 0, 0), 3)), ("request-termination", ((2, 0, 0), 2)), ("correlation-id", ((2, 0, 0), 1)),
    ("post-function", ((2, 0, 0), -1000)),
])

# Hybrid protocol table (contract.md section 7).  Keys are version prefixes, most specific first.
HYBRID_PROTOCOLS = [
    # Enterprise 3.1.1.2 speaks both; 3.1.0.0 and 3.1.1.1 only wRPC (docs table). 3.1.1.3, the next Enterprise patch
    # (packaged in Kong's gateway-31 repository), keeps the legacy protocol 3.1.1.2 added back [inferred: a patch
    # release does not drop it again; the docs' advice "3.1.1.2 before upgrading further" then holds for it too].
    ((3, 1, 1, 2), ("outlet", "wrpc")),
    ((3, 1, 1, 3), ("outlet", "wrpc")),
    ((3, 1), ("wrpc",)),
    ((3, 0), ("outlet", "wrpc")),
    ((2,), ("outlet",)),
    ((3,), ("outlet",)),  # 3.2.0+
]

# Components shown by `kong version -a` [inferred: approximate OpenResty bundles of each line].
COMPONENTS = [
    ((3, 7), ("10026", "1.25.3", "LuaJIT 2.1.0-20231117")),
    ((3, 5), ("10025", "1.21.4", "LuaJIT 2.1.0-20230410")),
    ((3, 0), ("10021", "1.21.4", "LuaJIT 2.1.0-20220411")),
    ((2, 0), ("10020", "1.19.9", "LuaJIT 2.1.0-beta3")),
]

OSS_VERSIONS = [
    "2.1.4", "2.2.2", "2.3.3", "2.4.1", "2.5.1", "2.6.1", "2.7.2", "2.8.0", "2.8.1", "2.8.4",
    "3.0.2", "3.1.1", "3.2.2", "3.3.1", "3.4.0", "3.4.2", "3.5.0", "3.6.1", "3.7.1", "3.8.0", "3.9.1",
]
ENTERPRISE_VERSIONS = [
    "2.8.4.4", "3.0.0.0", "3.1.0.0", "3.1.1.1", "3.1.1.2", "3.1.1.3", "3.2.2.5", "3.3.1.1", "3.4.3.3", "3.5.0.7", "3.9.1.1",
]

NEEDS_BOOTSTRAP_MSG = (
    "Database needs bootstrapping or is older than Kong 1.0.\n\n"
    "To start a new installation from scratch, run 'kong migrations bootstrap'.\n\n"
    "To migrate from a version older than 1.0, migrated to Kong 1.5.0 first. \n"
    "If you still have 'apis' entities, you can convert them to Routes and Services\n"
    "using the 'kong migrations migrate-apis' command in Kong 1.5.0."
)

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:\.(\d+))?$")


class UnknownRelease(ValueError):
    pass


def parse_version(version):
    m = _VERSION_RE.match(str(version).strip())
    if not m:
        raise UnknownRelease("not a Kong version: %r" % (version,))
    return tuple(int(x) for x in m.groups() if x is not None)


def _prefix_match(vt, prefix):
    return tuple(vt[:len(prefix)]) == tuple(prefix)


class Release(object):
    """One release of Kong Gateway.  All attributes are plain data."""

    def __init__(self, version):
        vt = parse_version(version)
        self.version = version
        self.vtuple = vt
        self.edition = "enterprise" if len(vt) == 4 else "oss"
        self.major, self.minor, self.patch = vt[0], vt[1], vt[2]
        base = vt[:3]
        # Enterprise source is not public: its migrations are taken to be those of the OSS code of
        # the same x.y.z [inferred].
        self.migrations = collections.OrderedDict()
        self.teardowns = set()
        for since, sub, name, td in MIGRATIONS:
            if base >= since:
                self.migrations.setdefault(sub, []).append(name)
                if td:
                    self.teardowns.add((sub, name))
        self.plugins_bundled = [p for p, (since, _prio) in PLUGINS.items() if base >= since]
        self.plugin_priority = dict((p, PLUGINS[p][1]) for p in self.plugins_bundled)
        mm = (self.major, self.minor)
        self.has_status_subcommand = mm >= (3, 0)
        self.has_prefix_option = mm >= (2, 4)
        self.has_drain = mm >= (3, 9)
        # `up` refuses to run while migrations are pending, checked before and inside the lock,
        # since 2.2.0 (commit 60d91b48c9); 2.1.x runs the new migrations anyway.
        self.up_refuses_pending = mm >= (2, 2)
        self.db_timeout_default = 60 if mm < (3, 7) else None   # 3.7+: optional, falls back to pg_timeout
        self.lock_timeout_default = 60
        self.status_listen_default = "off" if mm < (3, 6) else "127.0.0.1:8007"
        self.admin_gui_listen_default = "0.0.0.0:8002, 0.0.0.0:8445 ssl" if mm >= (3, 4) else None
        self.has_ready_endpoint = mm >= (3, 3)
        self.format_versions = ("1.1", "2.1", "3.0") if self.major >= 3 else ("1.1", "2.1")
        self.export_format_version = "3.0" if self.major >= 3 else "2.1"
        self.export_transform_key = self.major >= 3       # 3.x writes `_transform: false`
        self.converts_old_declarative = self.major >= 3   # 1.1/2.1 files get `~` regex paths
        self.regex_paths_need_tilde = self.major >= 3     # 3.x router: regex only with `~`
        self.router_honours_tilde = base >= (2, 8, 2) or self.major >= 3
        if mm < (2, 7):
            self.cassandra = "supported"
        elif mm < (3, 4):
            self.cassandra = "deprecated"
        else:
            self.cassandra = "removed"
        # pg_ssl_version = tlsv1 is refused from 3.2.2.1 (OSS 3.2.2 still accepts it, 3.3 does not).
        self.pg_ssl_tlsv1_allowed = (vt + (0,))[:4] < (3, 2, 2, 1)
        self.hybrid_protocols = ()
        for prefix, protos in HYBRID_PROTOCOLS:
            if _prefix_match(vt, prefix):
                if prefix in ((3, 1, 1, 2), (3, 1, 1, 3)) and self.edition != "enterprise":
                    continue
                self.hybrid_protocols = protos
                break
        if mm <= (2, 3):
            self.hybrid_rule = "exact"         # major.minor must match
        elif mm == (2, 4):
            self.hybrid_rule = "minus2"        # CP minor - 2 <= DP minor <= CP minor
        else:
            self.hybrid_rule = "cp_ge"         # same major, DP minor <= CP minor
        self.reset_prompt = "> Are you sure? This operation is irreversible. %s " % ("[Y/n]" if self.major < 3 else "[y/n]")
        self.plugins_available_format = "version_priority" if self.major >= 3 else "true"
        self.has_filter_set_check = mm >= (3, 4)
        self.clustering_data_plane_fields = ["id", "ip", "hostname", "version", "sync_status", "last_seen", "config_hash", "ttl"]
        if mm >= (3, 3):
            self.clustering_data_plane_fields.append("updated_at")
        if mm >= (3, 5):
            self.clustering_data_plane_fields.append("labels")
        if mm >= (3, 6):
            self.clustering_data_plane_fields.append("cert_details")
        if mm >= (3, 7):
            self.clustering_data_plane_fields.append("rpc_capabilities")
        for prefix, comps in COMPONENTS:
            if mm >= prefix:
                self.ngx_lua_version, self.nginx_version, self.lua_version = comps
                break
        # Route path validation (3.x: `/` or `~/`; 2.x: `/`).
        self.path_prefixes = ("/", "~/") if self.major >= 3 else ("/",)
        self.default_path_handling = "v0"

    # -- helpers ---------------------------------------------------------------------------------
    @property
    def version_string(self):
        """What `kong version` prints."""
        if self.edition == "enterprise":
            return "Kong Enterprise %s" % self.version
        return self.version

    @property
    def admin_api_version(self):
        """`version` in the Admin API's GET / ([unverified] for Enterprise)."""
        if self.edition == "enterprise":
            return "%s-enterprise-edition" % self.version
        return self.version

    def migrations_for(self, plugins=None):
        """Ordered {subsystem: [names]} for a node whose `plugins` setting loads ``plugins``.

        ``plugins`` is None (= bundled) or a list of plugin names; `core` is always first, then
        loaded plugins with migrations, alphabetically (contract.md section 1, list lines)."""
        out = collections.OrderedDict()
        out["core"] = list(self.migrations["core"])
        loaded = set(self.plugins_bundled if plugins is None else plugins)
        for sub in sorted(k for k in self.migrations if k != "core"):
            if sub in loaded:
                out[sub] = list(self.migrations[sub])
        return out

    def has_teardown(self, subsystem, name):
        return (subsystem, name) in self.teardowns

    def hybrid_compatible(self, dp_version):
        """(ok, message) for a data plane of ``dp_version`` joining a CP of this release (section 7)."""
        cp = self.version
        m = re.match(r"^(\d+)\.(\d+)\.\d+", str(dp_version or ""))
        if not m:
            return False, "data plane version is incompatible with control plane version %s (%d.x.y are accepted)" % (cp, self.major)
        dmaj, dmin = int(m.group(1)), int(m.group(2))
        if self.hybrid_rule == "exact":
            if (dmaj, dmin) != (self.major, self.minor):
                return False, "data plane version %s is incompatible with control plane version %s (%d.%d.x are accepted)" % (
                    dp_version, cp, self.major, self.minor)
            return True, None
        if dmaj != self.major:
            return False, "data plane version %s is incompatible with control plane version %s (%d.x.y are accepted)" % (dp_version, cp, self.major)
        if dmin > self.minor:
            return False, "data plane version %s is incompatible with older control plane version %s" % (dp_version, cp)
        if self.hybrid_rule == "minus2" and dmin < self.minor - 2:
            return False, "data plane version %s is incompatible with control plane version %s (%d.%d.x - %d.%d.x are accepted)" % (
                dp_version, cp, self.major, max(self.minor - 2, 0), self.major, self.minor)
        return True, None

    def __repr__(self):
        return "Release(%r)" % self.version

    def __eq__(self, other):
        return isinstance(other, Release) and other.version == self.version

    def __hash__(self):
        return hash(self.version)


_CACHE = {}


def known_versions():
    return list(OSS_VERSIONS) + list(ENTERPRISE_VERSIONS)


def get(version):
    """The Release for ``version`` (one of known_versions(); any well-formed 2.x/3.x version is accepted)."""
    version = str(version).strip()
    if version not in _CACHE:
        vt = parse_version(version)
        if vt[0] not in (2, 3) or vt[:2] < (2, 0):
            raise UnknownRelease("kongsim does not simulate Kong %s" % version)
        _CACHE[version] = Release(version)
    return _CACHE[version]
