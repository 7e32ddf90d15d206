# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kong Gateway release catalog, kept as data.

Every release line is one dictionary: its edition (``oss`` releases have three
version parts, ``enterprise`` releases four), whether it is a long-term-support
line, which databases it supports (``off`` = DB-less, from 1.1), which hybrid
control plane / data plane protocols it speaks (``legacy`` = JSON over
WebSocket on ``/v1/outlet``; ``wrpc`` = ``/v1/wrpc``), and its releases.  A
release is a version string, or a dictionary that overrides some of the line's
fields for that release only.

Sources: Kong's public tags (OSS), Kong's upgrade documentation and its
hybrid-protocol table (see the project's contract.md section 7 and
procedures.md section 1).  The list holds the releases known to the authors;
users extend or correct it with ``releases`` entries (see ``merge_releases``).

The only code in this file flattens and validates the data; it has no branch per
version.  Upgrade rules live in ``upgrade_path.py``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

try:
    from packaging.version import InvalidVersion, Version
    HAS_PACKAGING = True
    PACKAGING_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised only without packaging
    HAS_PACKAGING = False
    PACKAGING_IMPORT_ERROR = exc

EDITIONS = ("oss", "enterprise")
EDITION_PARTS = {"oss": 3, "enterprise": 4}
DATABASES = ("postgres", "cassandra", "off")
HYBRID_PROTOCOLS = ("legacy", "wrpc")

_PG_CASS = ("postgres", "cassandra")
_PG_CASS_OFF = ("postgres", "cassandra", "off")
_PG_OFF = ("postgres", "off")
_NO_HYBRID = ()
_LEGACY = ("legacy",)
_WRPC = ("wrpc",)
_BOTH = ("legacy", "wrpc")

# Version policy of Kong's upgrade documentation, as data for the planner.
VERSION_POLICY = {
    # Hops that enter a major version.  ``from_min``: lowest source line allowed
    # to enter it.  ``landing_min``/``landing_max``: lines a hop into it may land
    # on (``target_landing_min`` relaxes the minimum when the landing release is
    # the requested target).  ``guaranteed``: whether Kong documents the crossing
    # as the way into that major (kind ``required``).  Majors without an entry
    # are entered only by an adjacent-LTS hop.
    "major_entry": {
        1: {"from_min": "0.0", "landing_min": "1.5", "landing_max": "1.5", "guaranteed": True,
            "reason": "a database older than 1.0 must go to 1.5 first"},
        2: {"from_min": "1.0", "landing_min": "2.1", "target_landing_min": "2.0", "guaranteed": True,
            "reason": "1.x must go to a 2.x release, 2.1.0 or later, first"},
        3: {"from_min": "2.1", "guaranteed": False,
            "reason": "3.x accepts migrations from 2.1.x or later only"},
    },
    # Blue-green (both versions on one database between `up` and `finish`).
    "blue_green_min": "2.8.2",
    # Cassandra logs a deprecation from this line on.
    "cassandra_deprecated_from": "2.7",
}

# Breaking changes reported when a plan crosses ``since`` (current < since <= target).
BREAKING_CHANGES = (
    {
        "id": "regex_route_paths",
        "since": "3.0.0",
        "editions": ("oss", "enterprise"),
        "modes": ("traditional", "db_less", "hybrid"),
        "text": (
            "Crossing 3.0: regex route paths must start with '~'. The database migration 016_280_to_300 rewrites stored routes "
            "during 'kong migrations up' (only routers from 2.8.2 on honour '~', so older nodes must not serve from that database "
            "afterwards), but declarative files (DB-less configs, decK dumps, files kept in git) are NOT rewritten: convert them "
            "with 'deck file convert --from kong-gateway-2.x --to kong-gateway-3.x' and validate them with the target's "
            "'kong config parse' before loading them; a 2.x file synced into 3.x silently breaks regex routes (Kong/deck#746)."
        ),
    },
    {
        "id": "declarative_format_3_0",
        "since": "3.0.0",
        "editions": ("oss", "enterprise"),
        "modes": ("db_less", "hybrid"),
        "text": (
            "Crossing 3.0: 3.x converts '_format_version' 1.1/2.1 files silently while parsing, and a 2.x node rejects a "
            "'3.0' file. Keep the converted 3.0 file for the new nodes and the original for rollback of old nodes."
        ),
    },
    {
        "id": "pg_ssl_version_tlsv1",
        "since": "3.2.2.1",
        "editions": ("enterprise",),
        "modes": ("traditional", "hybrid"),
        "text": "Crossing 3.2.2.1: 'pg_ssl_version = tlsv1' is no longer a valid setting; review kong.conf before the upgrade.",
    },
)

# The catalog.  ``hybrid_dp_minor_window``: a control plane of that line accepts
# data planes at most that many minors lower (2.3: equal minor only; 2.4: two).
RELEASE_LINES = (
    # ----- OSS -----
    {"edition": "oss", "line": "0.13", "lts": False, "databases": _PG_CASS, "hybrid_protocols": _NO_HYBRID,
     "releases": ("0.13.0", "0.13.1")},
    {"edition": "oss", "line": "0.14", "lts": False, "databases": _PG_CASS, "hybrid_protocols": _NO_HYBRID,
     "releases": ("0.14.0", "0.14.1")},
    {"edition": "oss", "line": "0.15", "lts": False, "databases": _PG_CASS, "hybrid_protocols": _NO_HYBRID,
     "releases": ("0.15.0",)},
    {"edition": "oss", "line": "1.0", "lts": False, "databases": _PG_CASS, "hybrid_protocols": _NO_HYBRID,
     "releases": ("1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4")},
    {"edition": "oss", "line": "1.1", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _NO_HYBRID,
     "releases": ("1.1.0", "1.1.1", "1.1.2", "1.1.3")},
    {"edition": "oss", "line": "1.2", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _NO_HYBRID,
     "releases": ("1.2.0", "1.2.1", "1.2.2", "1.2.3")},
    {"edition": "oss", "line": "1.3", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _NO_HYBRID,
     "releases": ("1.3.0",)},
    {"edition": "oss", "line": "1.4", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _NO_HYBRID,
     "releases": ("1.4.0", "1.4.1", "1.4.2", "1.4.3")},
    {"edition": "oss", "line": "1.5", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _NO_HYBRID,
     "releases": ("1.5.0", "1.5.1")},
    {"edition": "oss", "line": "2.0", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("2.0.0", "2.0.1", "2.0.2", "2.0.3", "2.0.4", "2.0.5")},
    {"edition": "oss", "line": "2.1", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("2.1.0", "2.1.1", "2.1.2", "2.1.3", "2.1.4")},
    {"edition": "oss", "line": "2.2", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("2.2.0", "2.2.1", "2.2.2")},
    {"edition": "oss", "line": "2.3", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _LEGACY,
     "hybrid_dp_minor_window": 0, "releases": ("2.3.0", "2.3.1", "2.3.2", "2.3.3")},
    {"edition": "oss", "line": "2.4", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _LEGACY,
     "hybrid_dp_minor_window": 2, "releases": ("2.4.0", "2.4.1")},
    {"edition": "oss", "line": "2.5", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("2.5.0", "2.5.1", "2.5.2")},
    {"edition": "oss", "line": "2.6", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("2.6.0", "2.6.1")},
    {"edition": "oss", "line": "2.7", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("2.7.0", "2.7.1", "2.7.2")},
    {"edition": "oss", "line": "2.8", "lts": True, "databases": _PG_CASS_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("2.8.0", "2.8.1", "2.8.2", "2.8.3", "2.8.4", "2.8.5")},
    {"edition": "oss", "line": "3.0", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _BOTH,
     "releases": ("3.0.0", "3.0.1", "3.0.2")},
    {"edition": "oss", "line": "3.1", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _WRPC,
     "releases": ("3.1.0", "3.1.1")},
    {"edition": "oss", "line": "3.2", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("3.2.0", "3.2.1", "3.2.2")},
    {"edition": "oss", "line": "3.3", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("3.3.0", "3.3.1")},
    {"edition": "oss", "line": "3.4", "lts": True, "databases": _PG_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("3.4.0", "3.4.1", "3.4.2")},
    {"edition": "oss", "line": "3.5", "lts": False, "databases": _PG_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("3.5.0",)},
    {"edition": "oss", "line": "3.6", "lts": False, "databases": _PG_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("3.6.0", "3.6.1")},
    {"edition": "oss", "line": "3.7", "lts": False, "databases": _PG_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("3.7.0", "3.7.1")},
    {"edition": "oss", "line": "3.8", "lts": False, "databases": _PG_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("3.8.0",)},
    {"edition": "oss", "line": "3.9", "lts": False, "databases": _PG_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("3.9.0", "3.9.1", "3.9.2", "3.9.3")},
    # ----- Enterprise -----
    {"edition": "enterprise", "line": "1.3", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _NO_HYBRID,
     "releases": ("1.3.0.0", "1.3.0.1", "1.3.0.2")},
    {"edition": "enterprise", "line": "1.5", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _NO_HYBRID,
     "releases": ("1.5.0.0", "1.5.0.1", "1.5.0.2", "1.5.0.3", "1.5.0.4", "1.5.0.5", "1.5.0.6", "1.5.0.7", "1.5.0.8",
                  "1.5.0.9", "1.5.0.10", "1.5.0.11")},
    {"edition": "enterprise", "line": "2.1", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("2.1.4.0", "2.1.4.1", "2.1.4.2", "2.1.4.3", "2.1.4.4", "2.1.4.5", "2.1.4.6")},
    {"edition": "enterprise", "line": "2.2", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("2.2.1.0", "2.2.1.1", "2.2.1.2", "2.2.1.3")},
    {"edition": "enterprise", "line": "2.3", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _LEGACY,
     "hybrid_dp_minor_window": 0, "releases": ("2.3.2.0", "2.3.3.0", "2.3.3.1", "2.3.3.2", "2.3.3.3", "2.3.3.4")},
    {"edition": "enterprise", "line": "2.4", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _LEGACY,
     "hybrid_dp_minor_window": 2, "releases": ("2.4.1.0", "2.4.1.1", "2.4.1.2", "2.4.1.3")},
    {"edition": "enterprise", "line": "2.5", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("2.5.0.0", "2.5.0.1", "2.5.0.2", "2.5.1.0", "2.5.1.1", "2.5.1.2")},
    {"edition": "enterprise", "line": "2.6", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("2.6.0.0", "2.6.0.1", "2.6.0.2", "2.6.0.3", "2.6.0.4")},
    {"edition": "enterprise", "line": "2.7", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("2.7.0.0", "2.7.1.0", "2.7.1.1", "2.7.1.2", "2.7.2.0")},
    {"edition": "enterprise", "line": "2.8", "lts": True, "databases": _PG_CASS_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("2.8.0.0", "2.8.1.0", "2.8.1.1", "2.8.1.2", "2.8.1.3", "2.8.1.4", "2.8.2.0", "2.8.2.1", "2.8.2.2",
                  "2.8.2.3", "2.8.2.4", "2.8.3.0", "2.8.3.1", "2.8.3.2", "2.8.4.0", "2.8.4.1", "2.8.4.2", "2.8.4.3",
                  "2.8.4.4", "2.8.4.5", "2.8.4.6", "2.8.4.7", "2.8.4.8", "2.8.4.9", "2.8.4.10", "2.8.4.11")},
    {"edition": "enterprise", "line": "3.0", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _BOTH,
     "releases": ("3.0.0.0", "3.0.1.0", "3.0.2.0")},
    # 3.1.0.0 and 3.1.1.1 speak only wRPC; 3.1.1.2 added the legacy protocol back.
    {"edition": "enterprise", "line": "3.1", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _WRPC,
     "releases": ("3.1.0.0", "3.1.1.1",
                  {"version": "3.1.1.2", "hybrid_protocols": _BOTH},
                  {"version": "3.1.1.3", "hybrid_protocols": _BOTH})},
    {"edition": "enterprise", "line": "3.2", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("3.2.1.0", "3.2.2.0", "3.2.2.1", "3.2.2.2", "3.2.2.3", "3.2.2.4", "3.2.2.5")},
    {"edition": "enterprise", "line": "3.3", "lts": False, "databases": _PG_CASS_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("3.3.0.0", "3.3.1.0", "3.3.1.1")},
    {"edition": "enterprise", "line": "3.4", "lts": True, "databases": _PG_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("3.4.0.0", "3.4.1.0", "3.4.1.1", "3.4.2.0", "3.4.3.0", "3.4.3.1", "3.4.3.2", "3.4.3.3", "3.4.3.4",
                  "3.4.3.5", "3.4.3.6", "3.4.3.7", "3.4.3.8", "3.4.3.9", "3.4.3.10", "3.4.3.11", "3.4.3.12")},
    {"edition": "enterprise", "line": "3.5", "lts": False, "databases": _PG_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("3.5.0.0", "3.5.0.1", "3.5.0.2", "3.5.0.3", "3.5.0.4", "3.5.0.5", "3.5.0.6", "3.5.0.7")},
    {"edition": "enterprise", "line": "3.6", "lts": False, "databases": _PG_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("3.6.0.0", "3.6.1.0", "3.6.1.1", "3.6.1.2", "3.6.1.3", "3.6.1.4")},
    {"edition": "enterprise", "line": "3.7", "lts": False, "databases": _PG_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("3.7.0.0", "3.7.1.0", "3.7.1.1", "3.7.1.2", "3.7.1.3")},
    {"edition": "enterprise", "line": "3.8", "lts": False, "databases": _PG_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("3.8.0.0", "3.8.1.0")},
    {"edition": "enterprise", "line": "3.9", "lts": False, "databases": _PG_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("3.9.0.0", "3.9.0.1", "3.9.1.0", "3.9.1.1")},
    {"edition": "enterprise", "line": "3.10", "lts": True, "databases": _PG_OFF, "hybrid_protocols": _LEGACY,
     "releases": ("3.10.0.0", "3.10.0.1", "3.10.0.2")},
)

RELEASE_FIELDS = ("version", "edition", "lts", "databases", "hybrid_protocols", "hybrid_dp_minor_window")


class CatalogError(ValueError):
    """A user-supplied catalog entry is invalid."""


def parse_line(text):
    """'3.10' -> (3, 10)."""
    major, minor = text.split(".")
    return int(major), int(minor)


def line_of(version):
    """The (major, minor) line of a packaging Version."""
    return tuple(version.release[:2])


def edition_of_parts(version):
    """Edition implied by the number of version parts, or None."""
    for edition, parts in EDITION_PARTS.items():
        if len(version.release) == parts:
            return edition
    return None


def builtin_releases():
    """The built-in catalog flattened to one dict per release (fresh copies)."""
    flat = []
    for line in RELEASE_LINES:
        for item in line["releases"]:
            entry = {
                "version": item if isinstance(item, str) else item["version"],
                "edition": line["edition"],
                "lts": bool(line["lts"]),
                "databases": list(line["databases"]),
                "hybrid_protocols": list(line["hybrid_protocols"]),
                "hybrid_dp_minor_window": line.get("hybrid_dp_minor_window"),
            }
            if not isinstance(item, str):
                entry.update(copy.deepcopy({k: v for k, v in item.items() if k != "version"}))
                for key in ("databases", "hybrid_protocols"):
                    entry[key] = list(entry[key])
            flat.append(entry)
    return flat


def _check_list(entry_no, key, value, allowed):
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise CatalogError("releases[%d].%s must be a list of strings from %s" % (entry_no, key, ", ".join(allowed)))
    bad = [v for v in value if v not in allowed]
    if bad:
        raise CatalogError("releases[%d].%s has unknown value(s) %s; allowed: %s" % (entry_no, key, ", ".join(bad), ", ".join(allowed)))
    return list(value)


def _validate_extra(entry_no, raw):
    if not isinstance(raw, dict):
        raise CatalogError("releases[%d] must be a dictionary with at least 'version', got %r" % (entry_no, raw))
    unknown = sorted(set(raw) - set(RELEASE_FIELDS))
    if unknown:
        raise CatalogError("releases[%d] has unknown key(s) %s; allowed keys: %s" % (entry_no, ", ".join(unknown), ", ".join(RELEASE_FIELDS)))
    if "version" not in raw or not isinstance(raw["version"], str):
        raise CatalogError("releases[%d] needs a 'version' string" % entry_no)
    try:
        version = Version(raw["version"])
    except InvalidVersion:
        raise CatalogError("releases[%d].version %r is not a valid version" % (entry_no, raw["version"]))
    if version.is_prerelease or version.is_postrelease or version.local or version.epoch:
        raise CatalogError("releases[%d].version %r must be a plain release number like 3.4.2 or 3.4.3.12" % (entry_no, raw["version"]))
    implied = edition_of_parts(version)
    if implied is None:
        raise CatalogError("releases[%d].version %r must have 3 parts (OSS) or 4 parts (Enterprise)" % (entry_no, raw["version"]))
    edition = raw.get("edition", implied)
    if edition not in EDITIONS:
        raise CatalogError("releases[%d].edition must be one of %s" % (entry_no, ", ".join(EDITIONS)))
    if edition != implied:
        raise CatalogError("releases[%d]: version %s has %d parts, which is the %s numbering, not %s"
                           % (entry_no, raw["version"], len(version.release), implied, edition))
    clean = {"version": raw["version"], "edition": edition}
    if "lts" in raw:
        if not isinstance(raw["lts"], bool):
            raise CatalogError("releases[%d].lts must be true or false" % entry_no)
        clean["lts"] = raw["lts"]
    if "databases" in raw:
        clean["databases"] = _check_list(entry_no, "databases", raw["databases"], DATABASES)
    if "hybrid_protocols" in raw:
        clean["hybrid_protocols"] = _check_list(entry_no, "hybrid_protocols", raw["hybrid_protocols"], HYBRID_PROTOCOLS)
    if "hybrid_dp_minor_window" in raw:
        window = raw["hybrid_dp_minor_window"]
        if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 0):
            raise CatalogError("releases[%d].hybrid_dp_minor_window must be a non-negative integer or null" % entry_no)
        clean["hybrid_dp_minor_window"] = window
    return clean, version


def inherit_properties(catalog, edition, version):
    """Properties for ``version`` taken from the nearest known release at or below it in ``edition``.

    LTS is a property of a line: true when any release of the version's line is LTS.
    Returns (properties dict, the release it was copied from or None).
    """
    same = [(Version(r["version"]), r) for r in catalog if r["edition"] == edition]
    same.sort(key=lambda pair: pair[0])
    source = None
    for known, rel in same:
        if known <= version:
            source = rel
    if source is None and same:
        source = same[0][1]
    props = {
        "databases": list(source["databases"]) if source else list(_PG_CASS),
        "hybrid_protocols": list(source["hybrid_protocols"]) if source else [],
        "hybrid_dp_minor_window": source.get("hybrid_dp_minor_window") if source and line_of(Version(source["version"])) == line_of(version) else None,
        "lts": any(r.get("lts") for v, r in same if line_of(v) == line_of(version)),
    }
    return props, (source["version"] if source else None)


def merge_releases(extra=None, base=None):
    """Return the catalog (flat list of release dicts) extended with user ``extra`` entries.

    Each extra entry: ``version`` (required), optional ``edition`` (must match the
    number of parts), ``lts``, ``databases``, ``hybrid_protocols``,
    ``hybrid_dp_minor_window``.  An entry for a version already known overrides
    the fields it gives; fields it omits are inherited from the nearest known
    release below it in the same edition.  ``lts: true`` makes the whole line LTS.
    Raises CatalogError on invalid entries.
    """
    if not HAS_PACKAGING:
        raise CatalogError("the Python library 'packaging' is required")
    catalog = builtin_releases() if base is None else copy.deepcopy(list(base))
    if extra is None:
        return catalog
    if not isinstance(extra, (list, tuple)):
        raise CatalogError("releases must be a list of dictionaries")
    cleaned = [_validate_extra(i, raw) for i, raw in enumerate(extra)]
    for clean, version in cleaned:
        existing = [r for r in catalog if r["edition"] == clean["edition"] and Version(r["version"]) == version]
        if existing:
            existing[0].update({k: v for k, v in clean.items() if k != "version"})
            continue
        props, _source = inherit_properties(catalog, clean["edition"], version)
        props.update(clean)
        catalog.append(props)
    # lts is a line property: propagate a line's flag to all its releases.
    lts_lines = set((r["edition"], line_of(Version(r["version"]))) for r in catalog if r.get("lts"))
    for rel in catalog:
        rel["lts"] = (rel["edition"], line_of(Version(rel["version"]))) in lts_lines
    return catalog
