"""Admin API (``admin_listen``), as far as upgrades need it (contract.md section 6).

- ``GET /``: version, node_id, hostname, plugins, configuration (secrets as ``******``).
- ``GET /status`` (shared with the Status API).
- CRUD with Kong's shapes for services, routes, plugins, consumers, upstreams, targets,
  certificates, snis, ca_certificates (``{"data":[...],"next":null}`` lists; by id or by name /
  username; nested ``/services/{s}/routes``, ``/services/{s}/plugins``, ``/routes/{r}/plugins``,
  ``/consumers/{c}/plugins``, ``/consumers/{c}/key-auth``, ``/upstreams/{u}/targets``).
  Traditional nodes and control planes read and write the database; a write is applied to the
  node's own router at once (other nodes see it after their ``db_update_frequency`` poll, as with
  Kong's cluster events).
- DB-less nodes and data planes serve reads from memory; writes get 405 [inferred wording].
  ``GET /config`` / ``POST /config`` replace the whole configuration on DB-less nodes.
- ``/clustering/data-planes`` and ``/clustering/status`` on control planes; 400 elsewhere.
"""

import base64
import json
import re
from urllib.parse import parse_qs, urlsplit

from kongsim import conf as kconf
from kongsim import db as kdb
from kongsim.httpserv import NodeHandler
from kongsim.router import path_kind
from kongsim.status import status_doc

NOT_FOUND = {"message": "Not found"}
CP_ONLY = "this endpoint is only available when Kong is configured to run as Control Plane for the cluster"
DBLESS_ONLY = "this endpoint is only available when Kong is configured to not use a database"

# Admin API collection name -> entity kind (kongsim.db.ENTITIES).
COLLECTIONS = {"services": "services", "routes": "routes", "plugins": "plugins", "consumers": "consumers",
               "upstreams": "upstreams", "targets": "targets", "certificates": "certificates", "snis": "snis",
               "ca_certificates": "ca_certificates", "key-auths": "keyauth_credentials"}
# Nested collections: (parent collection, child path) -> (child kind, foreign key field on the child).
NESTED = {("services", "routes"): ("routes", "service"), ("services", "plugins"): ("plugins", "service"),
          ("routes", "plugins"): ("plugins", "route"), ("consumers", "plugins"): ("plugins", "consumer"),
          ("consumers", "key-auth"): ("keyauth_credentials", "consumer"),
          ("upstreams", "targets"): ("targets", "upstream")}
ARRAY_FIELDS = ("paths", "hosts", "methods", "protocols", "tags", "snis", "ca_certificates", "key_names")


class ApiError(Exception):
    def __init__(self, status, body):
        Exception.__init__(self, body.get("message"))
        self.status = status
        self.body = body


def schema_violation(fields):
    """Kong's 400 for schema errors: ``schema violation (<field>: <msg>; ...)``."""
    parts = []
    for k in sorted(fields):
        v = fields[k]
        if k == "@entity":
            parts.extend(str(x) for x in (v if isinstance(v, list) else [v]))
        elif isinstance(v, list):
            for i, x in enumerate(v):
                if x is not None:
                    parts.append("%s.%d: %s" % (k, i + 1, x))
        else:
            parts.append("%s: %s" % (k, v))
    msg = "schema violation (%s)" % "; ".join(parts) if len(parts) == 1 else \
        "%d schema violations (%s)" % (len(parts), "; ".join(parts))
    return ApiError(400, {"code": 2, "name": "schema violation", "message": msg, "fields": fields})


def _set_nested(out, key, value):
    parts = key.split(".")
    cur = out
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value


def parse_body(handler, raw):
    """JSON or form-urlencoded body -> dict (form keys like ``paths[]`` / ``config.x``)."""
    if not raw:
        return {}
    ctype = (handler.headers.get("Content-Type") or "").lower()
    if "json" in ctype or raw[:1] in (b"{", b"["):
        try:
            v = json.loads(raw.decode("utf-8"))
        except ValueError:
            raise ApiError(400, {"message": "Cannot parse JSON body"})
        if not isinstance(v, dict):
            raise ApiError(400, {"message": "Cannot parse JSON body"})
        return v
    out = {}
    for k, vals in parse_qs(raw.decode("utf-8"), keep_blank_values=True).items():
        k = re.sub(r"\[\d*\]$", "", k)
        leaf = k.split(".")[-1]
        value = vals if (len(vals) > 1 or leaf in ARRAY_FIELDS) else vals[0]
        if isinstance(value, str) and re.match(r"^-?\d+$", value) and leaf not in ("name", "username", "custom_id", "key"):
            value = int(value)
        elif value in ("true", "false"):
            value = value == "true"
        _set_nested(out, k, value)
    return out


def _columns(kind):
    return dict((c.name, c) for c in kdb.ENTITIES[kind].columns)


def validate(node, kind, fields, partial=False):
    """Kong's schema checks that matter for upgrades; raises ApiError(400)."""
    release = node.release
    cols = _columns(kind)
    errs = {}
    if kind == "services" and "url" in fields:
        u = urlsplit(fields.pop("url"))
        fields["protocol"] = u.scheme or "http"
        fields["host"] = u.hostname
        fields["port"] = u.port or (443 if u.scheme == "https" else 80)
        fields["path"] = u.path or None
    for k in list(fields):
        if k not in cols:
            errs[k] = "unknown field"
    for k in ARRAY_FIELDS:
        if k in fields and isinstance(fields[k], str):
            fields[k] = [fields[k]]
    if kind == "services":
        if not partial and not fields.get("host"):
            errs["host"] = "required field missing"
        if fields.get("protocol") and fields["protocol"] not in ("http", "https", "grpc", "grpcs", "tcp", "tls", "udp", "tls_passthrough"):
            errs["protocol"] = "expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp"
    if kind == "routes":
        if not partial and not any(fields.get(k) for k in ("methods", "hosts", "paths", "headers", "snis")):
            errs["@entity"] = ["must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'"]
        perrs = []
        for p in fields.get("paths") or []:
            if not isinstance(p, str) or not p.startswith(release.path_prefixes):
                if release.major >= 3:
                    perrs.append("should start with: / (fixed path) or ~/ (regex path)")
                else:
                    perrs.append("should start with: /")
                continue
            kind_, value = path_kind(p, release)
            if kind_ == "regex":
                try:
                    re.compile(value)
                except re.error:
                    perrs.append("invalid regex: '%s' (PCRE returned: pcre_compile() failed)" % value)
                    continue
            perrs.append(None)
        if any(perrs):
            errs["paths"] = perrs
    if kind == "plugins":
        name = fields.get("name")
        if not partial and not name:
            errs["name"] = "required field missing"
        elif name and name not in (node.conf.get("loaded_plugins") or []):
            errs["name"] = "plugin '%s' not enabled; add it to the 'plugins' configuration property" % name
        if "config" in fields and not isinstance(fields["config"], dict):
            errs["config"] = "expected a record"
    if errs:
        raise schema_violation(errs)
    return fields


def _db_error(e):
    if isinstance(e, kdb.UniqueViolation):
        return ApiError(409, {"code": 5, "name": "unique constraint violation", "message": str(e),
                              "fields": {e.field: e.value}})
    if isinstance(e, kdb.ForeignKeyViolation):
        return ApiError(400, {"code": 3, "name": "foreign key violation", "message": str(e),
                              "fields": {e.field: {"id": e.value}}})
    return ApiError(500, {"message": "An unexpected error occurred"})


class AdminHandler(NodeHandler):
    def dispatch(self):
        node = self.node
        node.count_request()
        try:
            raw = self.read_body()
            status, body, headers = self.route(raw)
        except ApiError as e:
            status, body, headers = e.status, e.body, None
        except kdb.DbError as e:
            node.log("error", "[admin] %s" % e)
            status, body, headers = 500, {"message": "An unexpected error occurred"}, None
        if body is None:
            self.send_empty(status, headers=headers)
        else:
            self.send_json(status, body, headers=headers)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = dispatch

    # -- routing -------------------------------------------------------------------------------------
    def route(self, raw):
        node = self.node
        path = self.path.partition("?")[0]
        parts = [p for p in path.split("/") if p]
        method = self.command
        if not parts:
            return self._only(("GET", "HEAD"), method) or (200, self.root_doc(), None)
        if parts == ["status"]:
            return self._only(("GET", "HEAD"), method) or (200, status_doc(node), None)
        if parts[0] == "config":
            return self.config_endpoint(method, raw)
        if parts[0] == "clustering":
            return self.clustering(parts, method)
        if parts[0] not in COLLECTIONS:
            raise ApiError(404, NOT_FOUND)
        kind = COLLECTIONS[parts[0]]
        if len(parts) == 1:
            return self.collection(kind, method, raw)
        if len(parts) == 2:
            return self.entity(kind, parts[1], method, raw)
        if len(parts) == 3 and (parts[0], parts[2]) in NESTED:
            child, fk = NESTED[(parts[0], parts[2])]
            parent = self.get(kind, parts[1])
            if parent is None:
                raise ApiError(404, NOT_FOUND)
            return self.collection(child, method, raw, parent_fk=(fk, parent["id"]))
        if len(parts) == 4 and (parts[0], parts[2]) in NESTED:
            child, fk = NESTED[(parts[0], parts[2])]
            parent = self.get(kind, parts[1])
            if parent is None:
                raise ApiError(404, NOT_FOUND)
            return self.entity(child, parts[3], method, raw, parent_fk=(fk, parent["id"]))
        raise ApiError(404, NOT_FOUND)

    @staticmethod
    def _only(methods, method):
        if method not in methods:
            raise ApiError(405, {"message": "Method not allowed"})
        return None

    # -- GET / -------------------------------------------------------------------------------------------
    def root_doc(self):
        node = self.node
        rel = node.release
        if rel.plugins_available_format == "version_priority":
            avail = dict((p, {"version": rel.version.rsplit(".", 1)[0] if rel.edition == "enterprise" else rel.version,
                              "priority": rel.plugin_priority[p]}) for p in node.conf.get("loaded_plugins") or [])
        else:
            avail = dict((p, True) for p in node.conf.get("loaded_plugins") or [])
        snap = node.snapshot
        enabled = sorted(set(p.get("name") for p in ((snap.config.get("plugins") if snap else None) or [])))
        cfg = kconf.redacted(node.conf)
        return {
            "tagline": "Welcome to kong",
            "version": rel.admin_api_version,
            "edition": "enterprise" if rel.edition == "enterprise" else "community",
            "hostname": node.hostname,
            "node_id": node.node_id,
            "lua_version": rel.lua_version,
            "timers": {"running": 0, "pending": 4},
            "pids": {"master": node.pid, "workers": [node.pid]},
            "plugins": {"available_on_server": avail, "enabled_in_cluster": enabled},
            "configuration": cfg,
        }

    # -- entities ----------------------------------------------------------------------------------------
    def _read_only(self):
        return self.node.database == "off"

    def _all(self, kind):
        if self._read_only():
            snap = self.node.snapshot
            return list(((snap.config if snap else {}) or {}).get(kind) or [])
        return self.node.db_call(kdb.list_entities, kind)

    def get(self, kind, key):
        if self._read_only():
            ent = kdb.ENTITIES[kind]
            for e in self._all(kind):
                if e.get("id") == key or (ent.endpoint_key and e.get(ent.endpoint_key) == key):
                    return e
            return None
        return self.node.db_call(kdb.get_entity, kind, key)

    def _refuse_write(self, kind, method):
        action = {"POST": "create", "PUT": "create or update", "PATCH": "update", "DELETE": "delete"}[method]
        # [inferred] Kong's DB-less Admin API refuses writes with 405 and this kind of message.
        raise ApiError(405, {"message": "cannot %s '%s' entities when not using a database" % (action, kind)})

    def _after_write(self):
        self.node.reload_from_db()
        if self.node.cluster is not None:
            self.node.cluster.config_changed()

    def collection(self, kind, method, raw, parent_fk=None):
        if method in ("GET", "HEAD"):
            rows = self._all(kind)
            if parent_fk:
                rows = [r for r in rows if (r.get(parent_fk[0]) or {}).get("id") == parent_fk[1]]
            return 200, self.page(rows), None
        if method != "POST":
            raise ApiError(405, {"message": "Method not allowed"})
        if self._read_only():
            self._refuse_write(kind, method)
        fields = parse_body(self, raw)
        if parent_fk:
            fields[parent_fk[0]] = {"id": parent_fk[1]}
        fields = validate(self.node, kind, fields)
        try:
            e = self.node.db_call(kdb.insert_entity, kind, fields)
        except kdb.DbError as err:
            raise _db_error(err)
        self._after_write()
        return 201, e, None

    def page(self, rows):
        """Kong's pagination: ``size`` (default 100, 1..1000) and an opaque ``offset``; ``next`` is
        the path of the following page or null; ``offset`` is repeated in the body when set."""
        query = parse_qs(self.path.partition("?")[2])
        try:
            size = int((query.get("size") or ["100"])[0])
        except ValueError:
            size = 0
        if not 1 <= size <= 1000:
            raise ApiError(400, {"code": 9, "name": "invalid size", "message": "size must be an integer between 1 and 1000"})
        start = 0
        if query.get("offset"):
            try:
                start = int(base64.urlsafe_b64decode(query["offset"][0].encode("ascii")).decode("ascii"))
            except (ValueError, UnicodeDecodeError):
                raise ApiError(400, {"code": 7, "name": "invalid offset", "message": "'%s' is not a valid offset: bad base64 encoding"
                                     % query["offset"][0]})
        data = rows[start:start + size]
        doc = {"data": data, "next": None}
        if start + size < len(rows):
            token = base64.urlsafe_b64encode(str(start + size).encode("ascii")).decode("ascii")
            path = self.path.partition("?")[0]
            doc["next"] = "%s?offset=%s&size=%d" % (path, token, size)
            doc["offset"] = token
        return doc

    def entity(self, kind, key, method, raw, parent_fk=None):
        current = self.get(kind, key)
        if parent_fk and current is not None and (current.get(parent_fk[0]) or {}).get("id") != parent_fk[1]:
            current = None
        if method in ("GET", "HEAD"):
            if current is None:
                raise ApiError(404, NOT_FOUND)
            return 200, current, None
        if method not in ("PATCH", "PUT", "DELETE"):
            raise ApiError(405, {"message": "Method not allowed"})
        if self._read_only():
            self._refuse_write(kind, method)
        try:
            if method == "DELETE":
                if current is not None:
                    self.node.db_call(kdb.delete_entity, kind, current["id"])
                    self._after_write()
                return 204, None, None
            fields = parse_body(self, raw)
            if parent_fk:
                fields[parent_fk[0]] = {"id": parent_fk[1]}
            if method == "PATCH":
                if current is None:
                    raise ApiError(404, NOT_FOUND)
                fields = validate(self.node, kind, fields, partial=True)
                e = self.node.db_call(kdb.update_entity, kind, current["id"], fields)
                self._after_write()
                return 200, e, None
            fields = validate(self.node, kind, fields)
            e = self.node.db_call(kdb.upsert_entity, kind, current["id"] if current else key, fields)
            self._after_write()
            return 200, e, None
        except kdb.DbError as err:
            raise _db_error(err)

    # -- /config (DB-less) -----------------------------------------------------------------------------
    def config_endpoint(self, method, raw):
        node = self.node
        if node.database != "off" or node.role == "data_plane":
            raise ApiError(400, {"message": DBLESS_ONLY})
        if method in ("GET", "HEAD"):
            from kongsim import declarative
            snap = node.snapshot
            text = declarative.export((snap.config if snap else {}) or {}, node.release)
            return 200, {"config": text}, None
        if method != "POST":
            raise ApiError(405, {"message": "Method not allowed"})
        ctype = (self.headers.get("Content-Type") or "").lower()
        text = raw.decode("utf-8")
        if "x-www-form-urlencoded" in ctype:
            text = (parse_qs(text).get("config") or [""])[0]
        elif "json" in ctype or text.lstrip().startswith("{"):
            try:
                doc = json.loads(text)
            except ValueError:
                raise ApiError(400, {"message": "failed parsing declarative configuration: invalid JSON"})
            if isinstance(doc, dict) and isinstance(doc.get("config"), str):
                text = doc["config"]
        cfg = self._parse_declarative(text)
        query = parse_qs(self.path.partition("?")[2])
        new_hash = kdb.config_hash(cfg)
        if (query.get("check_hash") or ["0"])[0] in ("1", "true") and node.snapshot is not None and \
                node.snapshot.hash == new_hash:
            return 304, None, None
        node.set_config(cfg)
        flat = dict((k, dict((e["id"], e) for e in v if isinstance(e, dict) and e.get("id")))
                    for k, v in cfg.items() if isinstance(v, list))
        return 201, flat, None

    def _parse_declarative(self, text):
        import yaml
        from kongsim import declarative
        try:
            data = yaml.safe_load(text) if text.strip() else None
            return declarative.parse(data, self.node.release, self.node.conf.get("loaded_plugins"))
        except (yaml.YAMLError, declarative.DeclarativeError) as e:
            raise ApiError(400, {"code": 14, "name": "invalid declarative configuration",
                                 "message": "declarative config is invalid: %s" % str(e).splitlines()[0], "fields": {}})

    # -- /clustering --------------------------------------------------------------------------------------
    def clustering(self, parts, method):
        node = self.node
        if node.role != "control_plane" or node.cluster is None:
            raise ApiError(400, {"message": CP_ONLY})
        self._only(("GET", "HEAD"), method)
        if parts == ["clustering", "data-planes"]:
            return 200, {"data": node.cluster.data_planes(), "next": None}, None
        if parts == ["clustering", "status"]:
            return 200, node.cluster.status_doc(), [("Deprecation", "true")]
        raise ApiError(404, NOT_FOUND)
