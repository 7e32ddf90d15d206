"""The realistic configuration the lab seeds into every Kong cluster.

Traditional clusters and control planes get it through the Admin API (like an operator or decK
would write it); DB-less nodes get it as a declarative file. Kong 2.x clusters get a 2.x-style
regex route (``/users/\\d+/profile`` without ``~``): exactly what 3.0's migration 016 rewrites
in the database and what must be converted by hand in declarative files.
"""

import json
import urllib.error
import urllib.request

import yaml

LOAD_PATH = "/echo"          # the load generator's target route (no plugin on it)
REGEX_PATH_2X = r"/users/\d+/profile"


def regex_path(major):
    return REGEX_PATH_2X if major < 3 else "~" + REGEX_PATH_2X


def entities(echo_host, echo_port, major):
    """The seed as plain data: services with nested routes and plugins, global plugins, consumers."""
    def svc(name, path="/"):
        return {"name": name, "protocol": "http", "host": echo_host, "port": echo_port, "path": path}
    return {
        "services": [
            dict(svc("echo"), routes=[{"name": "echo", "paths": [LOAD_PATH], "strip_path": True}], plugins=[]),
            dict(svc("users"), routes=[{"name": "user-profile", "paths": [regex_path(major)], "strip_path": False,
                                        "methods": ["GET"]}], plugins=[]),
            dict(svc("orders", "/orders"), routes=[{"name": "orders", "paths": ["/orders"], "methods": ["GET", "POST"],
                                                    "strip_path": True}],
                 plugins=[{"name": "rate-limiting", "config": {"minute": 1000000, "policy": "local"}}]),
            dict(svc("secure"), routes=[{"name": "secure", "paths": ["/secure"], "strip_path": True,
                                         "plugins": [{"name": "key-auth", "config": {"key_names": ["apikey"]}}]}],
                 plugins=[]),
        ],
        "plugins": [{"name": "correlation-id",
                     "config": {"header_name": "X-Request-ID", "generator": "uuid", "echo_downstream": False}}],
        "consumers": [
            {"username": "alice", "custom_id": "c-alice", "keyauth_credentials": [{"key": "alice-lab-key"}]},
            {"username": "bob", "custom_id": "c-bob", "keyauth_credentials": [{"key": "bob-lab-key"}]},
        ],
    }


def declarative(echo_host, echo_port, major):
    """Declarative file text for a DB-less node of this major version (2.x: format 2.1, 3.x: 3.0)."""
    doc = {"_format_version": "2.1" if major < 3 else "3.0"}
    if major >= 3:
        doc["_transform"] = True
    doc.update(entities(echo_host, echo_port, major))
    return "# seeded by tests/lab\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


class AdminError(RuntimeError):
    pass


def admin(base, method, path, body=None, timeout=5.0):
    """One Admin API call; returns (status, decoded JSON or None)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base.rstrip("/") + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = {"message": raw.decode("utf-8", "replace")}
        return e.code, doc


def _create(base, path, body, key):
    """POST, or fetch the existing entity on a unique-name conflict (so seeding can be re-run)."""
    status, doc = admin(base, "POST", path, body)
    if status in (200, 201):
        return doc
    if status == 409:
        status, doc = admin(base, "GET", "%s/%s" % (path, body[key]))
        if status == 200:
            return doc
    raise AdminError("POST %s%s -> %s %s" % (base, path, status, doc))


def seed_admin(base, echo_host, echo_port, major):
    """Write the seed through the Admin API at ``base``. Returns a list of notes (things skipped)."""
    notes = []
    data = entities(echo_host, echo_port, major)
    for s in data["services"]:
        body = {k: v for k, v in s.items() if k not in ("routes", "plugins")}
        service = _create(base, "/services", body, "name")
        for p in s["plugins"]:
            _plugin(base, dict(p, service={"id": service["id"]}), notes)
        for r in s["routes"]:
            rbody = {k: v for k, v in r.items() if k != "plugins"}
            rbody["service"] = {"id": service["id"]}
            route = _create(base, "/routes", rbody, "name")
            for p in r.get("plugins", []):
                _plugin(base, dict(p, route={"id": route["id"]}), notes)
    for p in data["plugins"]:
        _plugin(base, p, notes)
    for c in data["consumers"]:
        consumer = _create(base, "/consumers", {"username": c["username"], "custom_id": c["custom_id"]}, "username")
        for cred in c["keyauth_credentials"]:
            status, doc = admin(base, "POST", "/consumers/%s/key-auth" % consumer["id"], cred)
            if status in (404, 405):
                notes.append("key-auth credentials not supported by this Admin API (%s); skipped" % doc)
                break
            if status not in (200, 201, 409):
                notes.append("key-auth credential for %s: %s %s" % (c["username"], status, doc))
    return notes


def _plugin(base, body, notes):
    status, doc = admin(base, "POST", "/plugins", body)
    if status in (200, 201):
        return doc
    if status == 409:  # already there (unique per name and scope)
        return None
    raise AdminError("POST %s/plugins %s -> %s %s" % (base, body.get("name"), status, doc))
