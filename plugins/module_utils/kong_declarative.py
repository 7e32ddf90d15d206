# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kong declarative configuration files: load, convert 2.x -> 3.0, dump.

The conversion does what ``deck file convert --from kong-gateway-2.x --to
kong-gateway-3.x`` does (contract.md section 8): ``_format_version`` becomes
``"3.0"`` and every regex-like route path (one containing a character outside
``[a-zA-Z0-9._~/%-]``), top-level or nested under a service, gets a ``~``
prefix.  Paths already starting with ``~`` are left alone, so converting a
converted file changes nothing.  Unlike Kong's own silent in-memory
migration, decK does not percent-normalise the path; neither do we.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML ships with Ansible on the controller, not always on targets
    yaml = None
    HAS_YAML = False

OLD_FORMATS = ("1.1", "2.1")
TARGET_FORMATS = ("3.0",)
_REGEX_CHAR = re.compile(r"[^a-zA-Z0-9._~/%\-]")


class DeclarativeError(Exception):
    pass


def is_regex_path(path):
    """True when Kong 2.x would have treated ``path`` as a regex (decK's test: a char outside [a-zA-Z0-9._~/%-])."""
    return isinstance(path, str) and not path.startswith("~") and bool(_REGEX_CHAR.search(path))


def detect_format(text, filename=None):
    """``'json'`` or ``'yaml'``: by extension first, then by content."""
    name = (filename or "").lower()
    if name.endswith(".json"):
        return "json"
    if name.endswith((".yml", ".yaml")):
        return "yaml"
    return "json" if (text or "").lstrip().startswith("{") else "yaml"


def loads(text, fmt):
    if fmt == "json":
        try:
            doc = json.loads(text)
        except ValueError as e:
            raise DeclarativeError("invalid JSON: %s" % e)
    else:
        if not HAS_YAML:
            raise DeclarativeError("PyYAML is required to read YAML declarative files")
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise DeclarativeError("invalid YAML: %s" % e)
    if not isinstance(doc, dict):
        raise DeclarativeError("a declarative configuration must be a mapping at the top level")
    return doc


def dumps(doc, fmt):
    if fmt == "json":
        return json.dumps(doc, indent=2, sort_keys=False) + "\n"
    if not HAS_YAML:
        raise DeclarativeError("PyYAML is required to write YAML declarative files")
    return yaml.safe_dump(doc, default_flow_style=False, sort_keys=False, allow_unicode=True)


def format_version(doc):
    v = doc.get("_format_version")
    if v is None:
        return None
    # YAML reads an unquoted 2.1 as a float.
    return ("%s" % v) if not isinstance(v, float) else ("%.1f" % v)


def _route_label(route, where):
    return route.get("name") or route.get("id") or where


def _iter_routes(doc):
    """Yield ``(location, route)`` for top-level routes and routes nested under services."""
    for i, route in enumerate(doc.get("routes") or []):
        if isinstance(route, dict):
            yield "routes[%d]" % i, route
    for si, svc in enumerate(doc.get("services") or []):
        if not isinstance(svc, dict):
            continue
        for ri, route in enumerate(svc.get("routes") or []):
            if isinstance(route, dict):
                yield "services[%d](%s).routes[%d]" % (si, svc.get("name") or svc.get("id") or si, ri), route


def regex_paths_without_tilde(doc):
    """Regex-like paths with no ``~`` (in a 3.0 file Kong 3.x treats them as plain prefixes): decK's warning."""
    found = []
    for where, route in _iter_routes(doc):
        for pi, p in enumerate(route.get("paths") or []):
            if is_regex_path(p):
                found.append({"location": "%s.paths[%d]" % (where, pi), "route": _route_label(route, where), "path": p})
    return found


def convert(doc, target_format="3.0"):
    """Convert a parsed 2.x declarative document; returns ``(new_doc, changes, warnings)``.

    ``changes`` is a list of ``{location, route?, from, to}``; empty when the
    document is already in ``target_format`` (idempotent).
    """
    if target_format not in TARGET_FORMATS:
        raise DeclarativeError("unsupported target_format %r (supported: %s)" % (target_format, ", ".join(TARGET_FORMATS)))
    current = format_version(doc)
    if current is None:
        raise DeclarativeError("the file has no _format_version (Kong requires it)")
    warnings = []
    if current == target_format:
        for item in regex_paths_without_tilde(doc):
            warnings.append("%s: path %r looks like a regex but has no '~' prefix; Kong %s treats it as a plain prefix"
                            % (item["location"], item["path"], target_format))
        return doc, [], warnings
    if current not in OLD_FORMATS:
        raise DeclarativeError("cannot convert _format_version %r to %r (known 2.x formats: %s)" % (current, target_format, ", ".join(OLD_FORMATS)))
    new = copy.deepcopy(doc)
    changes = [{"location": "_format_version", "from": current, "to": target_format}]
    new["_format_version"] = target_format
    for where, route in _iter_routes(new):
        paths = route.get("paths")
        if not isinstance(paths, list):
            continue
        for pi, p in enumerate(paths):
            if is_regex_path(p):
                paths[pi] = "~" + p
                changes.append({"location": "%s.paths[%d]" % (where, pi), "route": _route_label(route, where), "from": p, "to": paths[pi]})
    return new, changes, warnings


def convert_text(text, filename=None, target_format="3.0"):
    """Convert file content; returns ``{changed, format, text, changes, warnings, from_version}``.

    When nothing changes, ``text`` is the input unchanged (the file is not rewritten).
    """
    fmt = detect_format(text, filename)
    doc = loads(text, fmt)
    new, changes, warnings = convert(doc, target_format)
    out = dumps(new, fmt) if changes else text
    return {"changed": bool(changes), "format": fmt, "text": out, "changes": changes, "warnings": warnings,
            "from_version": format_version(doc), "to_version": format_version(new)}


def summarize(doc):
    """Entity counts of a declarative document (routes nested under services included)."""
    counts = {}
    for key, val in doc.items():
        if key.startswith("_") or not isinstance(val, list):
            continue
        counts[key] = counts.get(key, 0) + len(val)
        for item in val:
            if isinstance(item, dict):
                for sub, subval in item.items():
                    if isinstance(subval, list) and subval and isinstance(subval[0], dict):
                        counts[sub] = counts.get(sub, 0) + len(subval)
    return counts
