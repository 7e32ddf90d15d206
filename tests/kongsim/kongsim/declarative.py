"""Declarative configuration (contract.md sections 5 and 8): parse, validate, convert, export.

- ``load_file(path, release, plugins=None) -> config`` (the shared flat shape of db.load_config;
  nested entities are flattened, foreign keys become ``{"id": ...}``, missing ids are derived
  deterministically (uuid5) so every node computes the same configuration and hash).
- ``parse(data, release, plugins=None) -> config`` for an already decoded document (Admin API
  ``POST /config`` uses it).
- ``export(config, release) -> YAML text`` (``kong config db_export``).
- ``config_command(sub, file, conf, release, log)``: ``kong config db_export|db_import|parse``.

Errors raise :class:`DeclarativeError` whose text is Kong's flattened error:
``in '_format_version': expected one of: 1.1, 2.1``.

3.x reading a ``1.1``/``2.1`` file converts it silently: non-plain route paths get ``~`` (top-level
routes and routes nested under services), then the version becomes ``3.0``.  2.x rejects ``3.0``.
"""

import collections
import json
import os
import subprocess
import uuid

import yaml

from kongsim import db
from kongsim.migrations import regex_path_to_tilde

ID_NAMESPACE = uuid.UUID("7f0c2f8e-6c55-4c9b-9d3f-4b6e0c2a9a11")
META_KEYS = ("_format_version", "_transform", "_comment", "_workspace", "_info")

# nested children: parent kind -> {child key: (child kind, foreign field on the child)}
NESTED = {
    "services": {"routes": ("routes", "service"), "plugins": ("plugins", "service")},
    "routes": {"plugins": ("plugins", "route")},
    "consumers": {"plugins": ("plugins", "consumer"), "keyauth_credentials": ("keyauth_credentials", "consumer"),
                  "basicauth_credentials": ("basicauth_credentials", "consumer"), "acls": ("acls", "consumer"),
                  "jwt_secrets": ("jwt_secrets", "consumer"), "hmacauth_credentials": ("hmacauth_credentials", "consumer")},
    "upstreams": {"targets": ("targets", "upstream")},
    "certificates": {"snis": ("snis", "certificate")},
}
# entity kinds in dependency order (import order)
KIND_ORDER = ["certificates", "snis", "ca_certificates", "services", "routes", "consumers", "upstreams", "targets",
              "plugins", "keyauth_credentials", "basicauth_credentials", "acls", "jwt_secrets", "hmacauth_credentials"]
# kinds that belong to a plugin: only accepted when that plugin is loaded
PLUGIN_KINDS = {"keyauth_credentials": "key-auth", "basicauth_credentials": "basic-auth", "acls": "acl",
                "jwt_secrets": "jwt", "hmacauth_credentials": "hmac-auth"}


class DeclarativeError(Exception):
    pass


class _Errors(object):
    """Collects errors in Kong's nesting and renders them like pretty_print_error."""

    def __init__(self):
        self.top = collections.OrderedDict()      # key -> message | {entry index -> [lines]}

    def add_top(self, key, msg):
        self.top[key] = msg

    def add_entry(self, kind, index, field, msg):
        entries = self.top.setdefault(kind, collections.OrderedDict())
        if not isinstance(entries, dict):
            return
        entries.setdefault(index, []).append((field, msg))

    def __bool__(self):
        return bool(self.top)

    def render(self):
        lines = []
        for key, val in self.top.items():
            if not isinstance(val, dict):
                lines.append("in '%s': %s" % (key, val))
                continue
            lines.append("in '%s':" % key)
            for idx, items in val.items():
                lines.append("  - in entry %d of '%s':" % (idx, key))
                for field, msg in items:
                    if field is None:
                        lines.append("    %s" % msg)
                    else:
                        lines.append("    in '%s': %s" % (field, msg))
        return "\n".join(lines)


def _derive_id(kind, entity, parent=None):
    ent = db.ENTITIES[kind]
    if ent.endpoint_key and entity.get(ent.endpoint_key):
        key = "%s:%s" % (kind, entity[ent.endpoint_key])
    else:
        body = dict((k, v) for k, v in entity.items() if k != "id")
        key = "%s:%s:%s" % (kind, parent or "", json.dumps(body, sort_keys=True, default=str))
    return str(uuid.uuid5(ID_NAMESPACE, key))


def _service_from_url(svc):
    url = svc.pop("url")
    try:
        from urllib.parse import urlsplit
        u = urlsplit(url)
        svc.setdefault("protocol", u.scheme or "http")
        svc.setdefault("host", u.hostname)
        if u.port:
            svc.setdefault("port", u.port)
        elif u.scheme == "https":
            svc.setdefault("port", 443)
        if u.path:
            svc.setdefault("path", u.path)
    except ValueError:
        raise ValueError("invalid url")


def _validate_entity(kind, e, release, plugins, errs, index):
    ent = db.ENTITIES[kind]
    fields = set(c.name for c in ent.columns)
    ok = True
    for k in list(e):
        if k not in fields:
            errs.add_entry(kind, index, k, "unknown field")
            ok = False
    if kind == "services" and not e.get("host"):
        errs.add_entry(kind, index, "host", "required field missing")
        ok = False
    if kind == "routes":
        if not any(e.get(k) for k in ("methods", "hosts", "headers", "paths", "snis", "sources", "destinations")):
            errs.add_entry(kind, index, None, "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' "
                                              "when 'protocols' is 'http' or 'https'")
            ok = False
        for i, p in enumerate(e.get("paths") or []):
            if not isinstance(p, str) or not p.startswith(release.path_prefixes):
                if release.major >= 3:
                    msg = "should start with: / (fixed path) or ~/ (regex path)"
                else:
                    msg = "should start with: /"
                errs.add_entry(kind, index, "paths", "item %d: %s" % (i + 1, msg))
                ok = False
    if kind == "plugins":
        if not e.get("name"):
            errs.add_entry(kind, index, "name", "required field missing")
            ok = False
        elif plugins is not None and e["name"] not in plugins:
            errs.add_entry(kind, index, "name", "plugin '%s' not enabled; add it to the 'plugins' configuration property" % e["name"])
            ok = False
    if kind == "consumers" and not (e.get("username") or e.get("custom_id")):
        errs.add_entry(kind, index, None, "at least one of these fields must be non-empty: 'custom_id', 'username'")
        ok = False
    if kind == "upstreams" and not e.get("name"):
        errs.add_entry(kind, index, "name", "required field missing")
        ok = False
    if kind == "targets" and not e.get("target"):
        errs.add_entry(kind, index, "target", "required field missing")
        ok = False
    return ok


def _fk(value):
    if value is None:
        return None
    if isinstance(value, dict):
        return dict(value)
    return {"ref": str(value)}


def parse(data, release, plugins=None):
    """Validate and flatten a decoded declarative document for ``release``.

    ``plugins``: the node's loaded plugins (None = do not check plugin names)."""
    if not isinstance(data, dict):
        raise DeclarativeError("failed parsing declarative configuration: expected an object")
    errs = _Errors()
    fv = data.get("_format_version")
    if fv is None:
        errs.add_top("_format_version", "required field missing")
    elif str(fv) not in release.format_versions:
        errs.add_top("_format_version", "expected one of: %s" % ", ".join(release.format_versions))
    if "_transform" in data and not isinstance(data["_transform"], bool):
        errs.add_top("_transform", "expected a boolean")
    for k in data:
        if k not in META_KEYS and k not in db.ENTITIES:
            errs.add_top(k, "unknown field")
        elif k in PLUGIN_KINDS and plugins is not None and PLUGIN_KINDS[k] not in plugins:
            errs.add_top(k, "unknown field")
    if errs:
        raise DeclarativeError(errs.render())
    convert = release.converts_old_declarative and str(fv) in ("1.1", "2.1")

    flat = collections.OrderedDict((k, []) for k in KIND_ORDER)
    counters = collections.defaultdict(int)

    def add(kind, raw, parent_kind=None, parent_id=None, parent_field=None):
        counters[kind] += 1
        index = counters[kind]
        if not isinstance(raw, dict):
            errs.add_entry(kind, index, None, "expected a record")
            return
        e = dict(raw)
        children = []
        for ckey, (ckind, cfield) in NESTED.get(kind, {}).items():
            if ckey in e:
                items = e.pop(ckey)
                if kind == "certificates" and ckey == "snis":
                    items = [x if isinstance(x, dict) else {"name": x} for x in (items or [])]
                children.append((ckind, cfield, items or []))
        if kind == "services" and "url" in e:
            try:
                _service_from_url(e)
            except ValueError:
                errs.add_entry(kind, index, "url", "invalid url")
        if parent_field:
            e[parent_field] = {"id": parent_id}
        for c in db.ENTITIES[kind].columns:
            if c.kind == "f" and c.name in e and c.name != parent_field:
                e[c.name] = _fk(e[c.name])
        if kind == "routes" and convert and e.get("paths"):
            e["paths"] = [regex_path_to_tilde(p) if isinstance(p, str) else p for p in e["paths"]]
        if not _validate_entity(kind, e, release, plugins, errs, index):
            return
        if not e.get("id"):
            e["id"] = _derive_id(kind, e, parent_id)
        e = db._with_defaults(db.ENTITIES[kind], e)
        flat[kind].append(e)
        for ckind, cfield, items in children:
            for item in items:
                add(ckind, item, kind, e["id"], cfield)

    for kind in KIND_ORDER:
        items = data.get(kind)
        if items is None:
            continue
        if not isinstance(items, list):
            errs.add_top(kind, "expected an array")
            continue
        for item in items:
            add(kind, item)
    if errs:
        raise DeclarativeError(errs.render())
    _resolve_refs(flat, errs)
    if errs:
        raise DeclarativeError(errs.render())
    for kind in list(flat):
        if not flat[kind]:
            del flat[kind]
    flat["_format_version"] = "3.0" if convert else str(fv)
    return flat


def _resolve_refs(flat, errs):
    index = {}
    for kind, items in flat.items():
        ent = db.ENTITIES[kind]
        for e in items:
            index[(kind, e["id"])] = e["id"]
            if ent.endpoint_key and e.get(ent.endpoint_key):
                index[(kind, e[ent.endpoint_key])] = e["id"]
    for kind, items in flat.items():
        for i, e in enumerate(items):
            for c in db.ENTITIES[kind].columns:
                if c.kind != "f" or not e.get(c.name):
                    continue
                target = db.FOREIGN_TARGETS[c.name]
                ref = e[c.name]
                key = ref.get("id") or ref.get("ref") or ref.get("name") or ref.get("username")
                rid = index.get((target, key))
                if rid is None:
                    errs.add_entry(kind, i + 1, c.name, "invalid reference '%s' (no such entry in '%s')" % (key, target))
                else:
                    e[c.name] = {"id": rid}


def decode_file(path):
    """Read a declarative file (YAML or JSON); DeclarativeError with Kong-like text on failure."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise DeclarativeError("%s: %s" % (path, e.strerror))
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".yml", ".yaml", ".json"):
        raise DeclarativeError("unknown file extension (yml, yaml, json, lua are supported): %s" % path)
    try:
        if ext == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        raise DeclarativeError("failed parsing declarative configuration: %s" % str(e).splitlines()[0])


def load_file(path, release, plugins=None):
    return parse(decode_file(path), release, plugins)


def _export_entity(e):
    out = collections.OrderedDict()
    for k in sorted(e):
        v = e[k]
        if v is None:
            continue
        if isinstance(v, dict) and set(v) == {"id"}:
            v = v["id"]      # foreign keys are exported as the bare id
        out[k] = v
    return out


def export(config, release):
    """YAML text of ``config`` as ``kong config db_export`` writes it."""
    lines = ['_format_version: "%s"' % release.export_format_version]
    if release.export_transform_key:
        lines.append("_transform: false")
    body = collections.OrderedDict()
    for kind in KIND_ORDER:
        items = config.get(kind) or []
        if items:
            body[kind] = [dict(_export_entity(e)) for e in items]
    text = "\n".join(lines) + "\n"
    if body:
        text += yaml.safe_dump(dict(body), default_flow_style=False, sort_keys=False)
    return text


def import_into_db(conn, config):
    """Upsert every entity (by id), in dependency order."""
    for kind in KIND_ORDER:
        for e in config.get(kind) or []:
            db.upsert_entity(conn, kind, e["id"], e)


def config_command(sub, path, conf, release, log):
    from kongsim.cli import KongError
    conn = None
    if conf.get("database") == "postgres":
        try:
            conn = db.connect(conf)
        except db.DbError as e:
            raise KongError(str(e))
    elif conf.get("database") != "off":
        raise KongError("kongsim: database '%s' is not simulated" % conf.get("database"))
    try:
        if sub == "db_export":
            path = path or "kong.yml"
            if os.path.exists(path):
                raise KongError("%s already exists. Will not overwrite it." % path)
            try:
                cfg = db.load_config(conn)
            except db.DbError as e:
                raise KongError(str(e))
            text = export(cfg, release)
            with open(path, "w") as f:
                f.write(text)
            return 0
        if not path:
            raise KongError("expected a declarative configuration file; see `kong config --help`")
        try:
            cfg = load_file(path, release, conf.get("loaded_plugins"))
        except DeclarativeError as e:
            raise KongError("Failed parsing:\n%s" % e)
        if sub == "parse":
            log("parse successful")
            return 0
        log("parse successful, beginning import")
        try:
            with conn.transaction():
                import_into_db(conn, cfg)
        except db.DbError as e:
            raise KongError("Failed importing:\n%s" % e)
        log("import successful")
        return 0
    finally:
        if conn is not None:
            conn.close()


INIT_TEMPLATE = """# ------------------------------------------------------------------------------
# This is an example file to get you started with using
# declarative configuration in Kong.
# ------------------------------------------------------------------------------

# Metadata fields start with an underscore (_)
# Fields that do not start with an underscore represent Kong entities and attributes

# _format_version is mandatory,
# it specifies the minimum version of Kong that supports the format

_format_version: "{fv}"

# _transform is optional, defaulting to true.
# It specifies whether schema transformations should be applied when importing this file
# as a rule of thumb, leave this setting to true if you are importing credentials
# with plain passwords, which need to be encrypted/hashed before storing on the database.
# On the other hand, if you are reimporting a database with passwords already encrypted/hashed,
# set it to false.

_transform: true

# Each Kong entity (core entity or custom entity introduced by a plugin)
# can be listed in the top-level as an array of objects:

# services:
# - name: example-service
#   url: http://example.com
#   routes:
#   - name: example-route
#     paths:
#     - /mock
"""


def write_init(path, release, log):
    from kongsim.cli import KongError
    if os.path.exists(path):
        raise KongError("%s already exists in the current directory.\nWill not overwrite it." % path)
    with open(path, "w") as f:
        f.write(INIT_TEMPLATE.format(fv=release.export_format_version))
    log("Created '%s' file in the current directory." % path)
    return 0


def gen_cert(cert, key, force, log):
    """`kong hybrid gen_cert`: a self-signed cluster certificate (openssl; the simulator needs no
    real TLS but the lab wants real-looking files).  Key file mode 0600."""
    from kongsim.cli import KongError
    for p in (cert, key):
        if os.path.exists(p) and not force:
            raise KongError("%s already exists.\nUse 'kong hybrid gen_cert --force' to overwrite it." % p)
    old = os.umask(0o077)
    try:
        r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp384r1",
                            "-nodes", "-keyout", key, "-out", cert, "-days", "1095", "-subj", "/CN=kong_clustering"],
                           capture_output=True, text=True, check=False)
    except OSError as e:
        raise KongError("could not run openssl: %s" % e)
    finally:
        os.umask(old)
    if r.returncode != 0:
        raise KongError("could not generate certificate: %s" % r.stderr.strip())
    os.chmod(cert, 0o644)
    os.chmod(key, 0o600)
    return 0
