# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kong Gateway upgrade-path planner (plain Python, used by the module and the filter).

How it decides (details in docs/upgrade-paths.md):

* Versions are parsed with ``packaging.version``.  Three parts = OSS, four parts
  = Enterprise.  A version missing from the catalog is accepted when it parses;
  its properties come from the nearest known release below it.
* The graph's nodes are the current version, the target, and for every release
  line the newest catalog release strictly between them that supports the
  database and deployment mode.  Edges go upwards only.
* Guaranteed edges (Kong's policy): ``patch`` (same minor), ``minor`` (next
  minor line of the same major), ``lts`` (adjacent LTS lines) and ``required``
  (the documented crossing into 1.5 from below 1.0 and into 2.1+ from 1.x, and
  the hybrid protocol bridge of Enterprise 3.1).  With ``allow_unguaranteed``
  also ``minor_skip`` and ``major`` edges that break no hard rule.
* Hard rules: no downgrade; at most one major per hop; 3.x only from 2.1+;
  below 1.0 only to 1.5; 1.x only to 2.1+ (or to a 2.0 target); every node must
  support the database (Cassandra ends with 3.3) and the mode.
* The path minimises (hybrid protocol breaks, hops, unguaranteed hops); ties
  prefer newer intermediate releases.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kongops.upgrade.plugins.module_utils.release_catalog import (
    BREAKING_CHANGES,
    EDITION_PARTS,
    EDITIONS,
    HAS_PACKAGING,
    VERSION_POLICY,
    CatalogError,
    edition_of_parts,
    inherit_properties,
    line_of,
    merge_releases,
    parse_line,
)

if HAS_PACKAGING:
    from packaging.version import InvalidVersion, Version

DEPLOYMENT_MODES = ("traditional", "db_less", "hybrid")
DEFAULT_DATABASE = {"traditional": "postgres", "db_less": "off", "hybrid": "postgres"}
GUARANTEED_KINDS = ("patch", "minor", "lts", "required")
EDITION_LABEL = {"oss": "Kong Gateway OSS", "enterprise": "Kong Gateway Enterprise"}
_PREFIXES = ("kong enterprise edition ", "kong enterprise ", "kong gateway ", "kong ")
_SUFFIXES = ("-enterprise-edition", "-enterprise")


class UpgradePathError(ValueError):
    """The requested plan is impossible or the input is invalid; the message says why."""


def _fmt_line(line):
    return "%d.%d" % line


def parse_kong_version(text, option="version"):
    """Parse a Kong version string into a packaging Version (3 or 4 release parts)."""
    if not HAS_PACKAGING:
        raise UpgradePathError("the Python library 'packaging' is required on the host that plans the upgrade")
    if text is None or (not isinstance(text, str) and not isinstance(text, int)) or isinstance(text, bool):
        raise UpgradePathError("%s must be a version string such as 3.4.2 (OSS) or 3.4.3.12 (Enterprise), got %r" % (option, text))
    raw = str(text).strip()
    lowered = raw.lower()
    for prefix in _PREFIXES:
        if lowered.startswith(prefix):
            raw, lowered = raw[len(prefix):].strip(), lowered[len(prefix):].strip()
            break
    for suffix in _SUFFIXES:
        if lowered.endswith(suffix):
            raw = raw[:-len(suffix)]
            break
    try:
        version = Version(raw)
    except InvalidVersion:
        raise UpgradePathError("%s %r is not a valid Kong version (expected e.g. 3.4.2 for OSS or 3.4.3.12 for Enterprise)" % (option, text))
    if version.is_prerelease or version.is_postrelease or version.local or version.epoch:
        raise UpgradePathError("%s %r is not a final release; only released versions like 3.4.2 or 3.4.3.12 can be planned" % (option, text))
    if len(version.release) not in (3, 4):
        raise UpgradePathError("%s %r must have three parts (OSS, e.g. 3.4.2) or four parts (Enterprise, e.g. 3.4.3.12)" % (option, text))
    return version


def _resolve_edition(current, target, edition, warnings):
    implied_cur, implied_tgt = edition_of_parts(current), edition_of_parts(target)
    if edition is None:
        if implied_cur != implied_tgt:
            raise UpgradePathError(
                "current_version %s has %d parts (%s numbering) but target_version %s has %d parts (%s numbering); editions cannot be mixed. "
                "If both are Enterprise, set edition=enterprise (a three-part version is then read as x.y.z.0), or fix the version"
                % (current, len(current.release), implied_cur, target, len(target.release), implied_tgt))
        return implied_cur, current, target
    if edition not in EDITIONS:
        raise UpgradePathError("edition must be one of %s, got %r" % (", ".join(EDITIONS), edition))
    fixed = []
    for option, version in (("current_version", current), ("target_version", target)):
        parts = len(version.release)
        if parts == EDITION_PARTS[edition]:
            fixed.append(version)
        elif edition == "enterprise" and parts == 3:
            padded = Version("%s.0" % version)
            warnings.append("%s %s was read as Enterprise %s (edition=enterprise)." % (option, version, padded))
            fixed.append(padded)
        else:
            raise UpgradePathError("%s %s has four parts, which is Enterprise numbering, but edition=oss; OSS versions have three parts (e.g. 3.4.2)"
                                   % (option, version))
    return edition, fixed[0], fixed[1]


class _Node:
    __slots__ = ("version", "text", "databases", "protocols", "lts", "window", "known", "source", "is_target")

    def __init__(self, version, rel, known, source=None, is_target=False):
        self.version = version
        self.text = str(version)
        self.databases = tuple(rel["databases"])
        self.protocols = tuple(rel["hybrid_protocols"])
        self.lts = bool(rel["lts"])
        self.window = rel.get("hybrid_dp_minor_window")
        self.known = known
        self.source = source
        self.is_target = is_target

    @property
    def line(self):
        return line_of(self.version)


class _Planner:
    def __init__(self, edition, mode, database, allow_unguaranteed, catalog):
        self.edition = edition
        self.mode = mode
        self.database = database
        self.allow = allow_unguaranteed
        self.releases = sorted(((Version(r["version"]), r) for r in catalog if r["edition"] == edition), key=lambda p: p[0])
        self.catalog = catalog

    # ----- nodes -----
    def node_for(self, version, is_target=False):
        for known, rel in self.releases:
            if known == version:
                return _Node(version, rel, True, is_target=is_target)
        props, source = inherit_properties(self.catalog, self.edition, version)
        return _Node(version, props, False, source=source, is_target=is_target)

    def node_ok(self, node):
        if self.database not in node.databases:
            return False
        if self.mode == "hybrid" and not node.protocols:
            return False
        return True

    def check_endpoint(self, node, option):
        if self.database not in node.databases:
            if self.database == "cassandra":
                last = self.last_line_with("cassandra")
                if option == "target_version":
                    raise UpgradePathError(
                        "Cassandra is not supported by Kong %s: the last release line that supports Cassandra is %s (%s.x); it was removed in "
                        "the next line. Upgrade at most to %s.x, move the database to PostgreSQL first, then plan the rest of the upgrade "
                        "with database=postgres." % (node.text, _fmt_line(last), _fmt_line(last), _fmt_line(last)))
                raise UpgradePathError("Kong %s does not support Cassandra (the last line that does is %s); check database= for this deployment"
                                       % (node.text, _fmt_line(last)))
            if self.database == "off":
                raise UpgradePathError("Kong %s (%s) cannot run DB-less (database=off); DB-less mode exists from Kong 1.1" % (node.text, option))
            raise UpgradePathError("Kong %s (%s) does not support database=%s" % (node.text, option, self.database))
        if self.mode == "hybrid" and not node.protocols:
            raise UpgradePathError("Kong %s (%s) has no hybrid mode (control plane / data plane); hybrid mode exists from Kong 2.0"
                                   % (node.text, option))

    def last_line_with(self, database):
        lines = [line_of(v) for v, r in self.releases if database in r["databases"]]
        return max(lines) if lines else None

    # ----- lines -----
    def setup_lines(self, current, target):
        # Adjacency uses catalog lines only, so a target on an unknown line far ahead is not "adjacent".
        self.catalog_lines = sorted(set(line_of(v) for v, _r in self.releases))
        self.lines = sorted(set(self.catalog_lines) | set([current.line, target.line]))
        lts = set(line_of(v) for v, r in self.releases if r["lts"])
        for node in (current, target):
            if node.lts:
                lts.add(node.line)
        self.lts_lines = sorted(lts)

    def is_adjacent_minor(self, la, lb):
        """lb is the next minor of la: literally minor + 1, or the next catalog line of the major (catalog gaps, e.g. Enterprise 1.3 -> 1.5)."""
        if lb[0] != la[0]:
            return False
        later = [ln for ln in self.catalog_lines if ln[0] == la[0] and ln > la]
        return lb == (la[0], la[1] + 1) or bool(later) and lb == later[0]

    def next_lts(self, line):
        later = [ln for ln in self.lts_lines if ln > line]
        return later[0] if later else None

    # ----- edges -----
    def classify(self, a, b):
        """Return (edge dict or None, reason string). The edge may be unguaranteed."""
        la, lb = a.line, b.line
        if b.version <= a.version:
            return None, "not an upgrade"
        lts_adjacent = a.lts and b.lts and self.next_lts(la) == lb
        edge = None
        if lb[0] > la[0] + 1:
            return None, "%s -> %s crosses more than one major version" % (a.text, b.text)
        if lb[0] == la[0] + 1:
            rule = VERSION_POLICY["major_entry"].get(lb[0])
            if rule is not None:
                if la < parse_line(rule["from_min"]):
                    return None, "%s -> %s: %s (%s is below %s)" % (a.text, b.text, rule["reason"], _fmt_line(la), rule["from_min"])
                low = rule.get("target_landing_min", rule.get("landing_min")) if b.is_target else rule.get("landing_min")
                high = rule.get("landing_max")
                if low is not None and lb < parse_line(low) or high is not None and lb > parse_line(high):
                    return None, "%s -> %s: %s" % (a.text, b.text, rule["reason"])
            elif not lts_adjacent:
                return None, "%s -> %s: Kong documents no way into %d.x except the adjacent LTS hop" % (a.text, b.text, lb[0])
            if lts_adjacent:
                edge = {"kind": "lts", "reason": "adjacent LTS releases (%s -> %s)" % (_fmt_line(la), _fmt_line(lb))}
            elif rule["guaranteed"]:
                edge = {"kind": "required", "reason": "the documented crossing into %d.x: %s" % (lb[0], rule["reason"])}
            else:
                edge = {"kind": "major", "reason": "supported (%s) but not guaranteed: across majors Kong guarantees only adjacent LTS hops"
                        % rule["reason"]}
        elif la == lb:
            edge = {"kind": "patch", "reason": "patch upgrade within %s" % _fmt_line(la)}
        elif lts_adjacent:
            edge = {"kind": "lts", "reason": "adjacent LTS releases (%s -> %s)" % (_fmt_line(la), _fmt_line(lb))}
        elif self.is_adjacent_minor(la, lb):
            edge = {"kind": "minor", "reason": "adjacent minor releases (%s -> %s)" % (_fmt_line(la), _fmt_line(lb))}
        else:
            edge = {"kind": "minor_skip", "reason": "skips minor release line(s) between %s and %s; supported but not guaranteed"
                    % (_fmt_line(la), _fmt_line(lb))}
        edge["guaranteed"] = edge["kind"] in GUARANTEED_KINDS
        edge["protocol_break"] = bool(self.mode == "hybrid" and la[0] == lb[0] and not set(a.protocols) & set(b.protocols))
        if not edge["guaranteed"] and not self.allow:
            return None, "%s -> %s is not guaranteed (%s)" % (a.text, b.text, edge["kind"])
        return edge, edge["reason"]

    def search(self, current, target):
        nodes = [current]
        for line in self.lines:
            candidates = [v for v, _r in self.releases if line_of(v) == line and current.version < v < target.version]
            candidates = [self.node_for(v) for v in candidates]
            candidates = [n for n in candidates if self.node_ok(n)]
            if candidates:
                nodes.append(max(candidates, key=lambda n: n.version))
        nodes.append(target)
        nodes.sort(key=lambda n: n.version)
        best = {0: ((0, 0, 0), None, None)}  # index -> (cost, predecessor index, edge)
        for j in range(1, len(nodes)):
            for i in range(j - 1, -1, -1):  # newest predecessor first: ties keep the newer one
                if i not in best:
                    continue
                edge, _why = self.classify(nodes[i], nodes[j])
                if edge is None:
                    continue
                base = best[i][0]
                cost = (base[0] + int(edge["protocol_break"]), base[1] + 1, base[2] + int(not edge["guaranteed"]))
                if j not in best or cost < best[j][0]:
                    best[j] = (cost, i, edge)
        last = len(nodes) - 1
        if last not in best:
            return None
        chain = []
        j = last
        while j != 0:
            _cost, i, edge = best[j]
            chain.append((nodes[i], nodes[j], edge))
            j = i
        chain.reverse()
        return chain


def _hop_warnings(planner, chain, warnings):
    hybrid = planner.mode == "hybrid"
    for index, (a, b, edge) in enumerate(chain):
        if not edge["guaranteed"]:
            warnings.append("Hop %s -> %s is not guaranteed by Kong (%s): %s. Rehearse it on a copy of production first."
                            % (a.text, b.text, edge["kind"], edge["reason"]))
        if hybrid and edge["protocol_break"]:
            warnings.append(
                "Hybrid: %s speaks only %s and %s only %s, and no release bridges them: once the control plane runs %s, data planes still on %s "
                "cannot connect to it; they keep serving their cached configuration without updates until they are upgraded. Roll the data "
                "planes right after the control plane, under the write freeze, or keep the old control plane running (dual-cluster) until then."
                % (a.text, "/".join(a.protocols), b.text, "/".join(b.protocols), b.text, a.text))
        if hybrid and b.line[0] > a.line[0]:
            warnings.append(
                "Hybrid major upgrade %s -> %s: a %d.x data plane can never join a %d.x control plane (kong_version_incompatible). Upgrade the "
                "control planes first. With a dual-cluster control plane the old data planes stay connected to the old control plane until they "
                "are replaced; with an in-place control plane they lose their control plane and keep serving their cached configuration (no "
                "updates) until rolled. Both are safe only under the write freeze; new data planes must point at the new control plane."
                % (a.text, b.text, a.line[0], b.line[0]))
        if hybrid and b.window is not None and b.line[0] == a.line[0] and b.line[1] - a.line[1] > b.window:
            warnings.append(
                "Hybrid: a %s control plane accepts data planes at most %d minor(s) lower, so data planes on %s are rejected "
                "(kong_version_incompatible) until they are upgraded; roll them right after the control plane."
                % (_fmt_line(b.line), b.window, a.text))
        if hybrid and edge["kind"] == "patch" and index + 1 < len(chain):
            nxt = chain[index + 1][1]
            if nxt.line[0] == b.line[0] and not set(a.protocols) & set(nxt.protocols) and set(b.protocols) & set(nxt.protocols):
                edge["kind"] = "required"
                edge["reason"] = (
                    "hybrid protocol bridge: %s speaks only %s and %s only %s; %s speaks both, so data planes keep their control plane at every "
                    "step (Kong: move 3.1.0.0 / 3.1.1.1 to 3.1.1.2 or later first)"
                    % (a.text, "/".join(a.protocols), nxt.text, "/".join(nxt.protocols), b.text))


def _crossing_warnings(planner, current, target, warnings):
    for change in BREAKING_CHANGES:
        if planner.edition not in change["editions"] or planner.mode not in change["modes"]:
            continue
        since = Version(change["since"])
        if current.version < since <= target.version:
            warnings.append(change["text"])
    if planner.database == "cassandra" and target.line >= parse_line(VERSION_POLICY["cassandra_deprecated_from"]):
        last = planner.last_line_with("cassandra")
        warnings.append("Cassandra is deprecated from %s and unsupported after %s: plan the move to PostgreSQL."
                        % (VERSION_POLICY["cassandra_deprecated_from"], _fmt_line(last)))


def _strategies(planner, current, chain, warnings):
    if planner.mode == "db_less":
        return {"db_less": ["rolling"]} if chain else {"db_less": []}
    if planner.mode == "hybrid":
        if not chain:
            return {"control_plane": [], "data_plane": []}
        return {"control_plane": ["dual_cluster", "in_place"], "data_plane": ["rolling"]}
    if not chain:
        return {"traditional": []}
    offered = ["dual_cluster", "in_place"]
    floor = Version(VERSION_POLICY["blue_green_min"])
    patch_only = len(chain) == 1 and chain[0][2]["kind"] == "patch"
    if current.version >= floor and patch_only:
        offered.append("blue_green")
    elif current.version < floor:
        warnings.append("Blue-green is not offered: it needs the current version at %s or later (%s is older)." % (floor, current.text))
    else:
        warnings.append("Blue-green is not offered: Kong recommends it only between patch releases of one minor, and this plan crosses "
                        "minor versions (%s). Use dual_cluster or in_place." % " -> ".join([chain[0][0].text] + [b.text for _a, b, _e in chain]))
    return {"traditional": offered}


def _summary(planner, current, target, chain, guaranteed, strategies, warnings):
    label = EDITION_LABEL[planner.edition]
    head = "%s %s to %s (%s deployment, database %s): " % (label, current.text, target.text, planner.mode.replace("_", "-"), planner.database)
    if not chain:
        return head + "already at the target version; nothing to upgrade."
    steps = "; ".join("%s -> %s (%s)" % (a.text, b.text, e["kind"]) for a, b, e in chain)
    verdict = "every hop guaranteed by Kong's upgrade policy" if guaranteed else "NOT guaranteed by Kong's upgrade policy"
    text = head + "%d hop%s, %s: %s. " % (len(chain), "" if len(chain) == 1 else "s", verdict, steps)
    if planner.mode == "hybrid":
        text += ("For each hop, upgrade the control planes first (%s), then roll the data planes (%s). "
                 % (" or ".join(strategies["control_plane"]), " ".join(strategies["data_plane"])))
    elif planner.mode == "db_less":
        text += "For each hop, convert and validate the declarative configuration with the new version, then roll the nodes in batches. "
    else:
        text += "Strategies for each hop: %s. " % ", ".join(strategies["traditional"])
    text += ("Each hop is a full upgrade: freeze configuration writes, back up, 'kong migrations up', then 'finish' (the point of no return) "
             "before the next hop. ")
    if warnings:
        text += "%d warning%s to read." % (len(warnings), "" if len(warnings) == 1 else "s")
    return text.strip()


def plan_upgrade(current_version, target_version, deployment_mode="traditional", database=None, edition=None,
                 allow_unguaranteed=False, releases=None):
    """Plan a Kong upgrade.  Returns a dict (see the module's RETURN); raises UpgradePathError."""
    if deployment_mode not in DEPLOYMENT_MODES:
        raise UpgradePathError("deployment_mode must be one of %s, got %r" % (", ".join(DEPLOYMENT_MODES), deployment_mode))
    if database is None:
        database = DEFAULT_DATABASE[deployment_mode]
    if database not in ("postgres", "cassandra", "off"):
        raise UpgradePathError("database must be one of postgres, cassandra, off, got %r" % (database,))
    if deployment_mode == "db_less" and database != "off":
        raise UpgradePathError("deployment_mode=db_less runs without a database: use database=off (got %s)" % database)
    if deployment_mode == "traditional" and database == "off":
        raise UpgradePathError("traditional nodes need a database (postgres or cassandra); for nodes without one use deployment_mode=db_less")
    if deployment_mode == "hybrid" and database == "off":
        raise UpgradePathError("in hybrid mode 'database' is the control planes' database (postgres or cassandra); data planes always run "
                               "with database=off")
    if not isinstance(allow_unguaranteed, bool):
        raise UpgradePathError("allow_unguaranteed must be true or false")
    warnings = []
    current = parse_kong_version(current_version, "current_version")
    target = parse_kong_version(target_version, "target_version")
    edition, current, target = _resolve_edition(current, target, edition, warnings)
    try:
        catalog = merge_releases(releases)
    except CatalogError as exc:
        raise UpgradePathError(str(exc))
    planner = _Planner(edition, deployment_mode, database, allow_unguaranteed, catalog)
    cur = planner.node_for(current)
    tgt = planner.node_for(target, is_target=True)
    if target < current:
        raise UpgradePathError("target_version %s is older than current_version %s: downgrades are not supported (Kong migrations cannot be "
                               "undone; going back means restoring the backup taken before the upgrade)" % (tgt.text, cur.text))
    for node, option in ((cur, "current_version"), (tgt, "target_version")):
        if not node.known:
            warnings.append("%s %s is not in the built-in catalog of %s releases; it was accepted because it parses, with the properties of %s "
                            "(nearest known release below it). Intermediate hops use catalog releases only; add it with 'releases' to be exact."
                            % (option, node.text, edition, node.source or "the oldest known release"))
    planner.check_endpoint(cur, "current_version")
    planner.check_endpoint(tgt, "target_version")
    chain = []
    if target != current:
        planner.setup_lines(cur, tgt)
        chain = planner.search(cur, tgt)
        if chain is None:
            _why = planner.classify(cur, tgt)[1]
            if not allow_unguaranteed:
                planner.allow = True
                alternative = planner.search(cur, tgt)
                planner.allow = False
                if alternative is not None:
                    shortest = " -> ".join([cur.text] + [b.text for _a, b, _e in alternative])
                    raise UpgradePathError(
                        "No guaranteed upgrade path from %s to %s: Kong guarantees only patch, adjacent-minor and adjacent-LTS hops (and the "
                        "required crossings of its version policy). Rerun with allow_unguaranteed=true to get the shortest supported path (%s), "
                        "or choose a target reachable by guaranteed hops." % (cur.text, tgt.text, shortest))
            raise UpgradePathError("No supported upgrade path from %s to %s: %s." % (cur.text, tgt.text, _why))
    _hop_warnings(planner, chain, warnings)
    _crossing_warnings(planner, cur, tgt, warnings)
    strategies = _strategies(planner, cur, chain, warnings)
    guaranteed = all(edge["guaranteed"] for _a, _b, edge in chain)
    hops = [{"from": a.text, "to": b.text, "kind": e["kind"], "guaranteed": e["guaranteed"], "reason": e["reason"]} for a, b, e in chain]
    path = [cur.text] + [b.text for _a, b, _e in chain]
    return {
        "current_version": cur.text,
        "target_version": tgt.text,
        "edition": edition,
        "deployment_mode": deployment_mode,
        "database": database,
        "path": path,
        "hops": hops,
        "guaranteed": guaranteed,
        "strategies": strategies,
        "warnings": warnings,
        "summary": _summary(planner, cur, tgt, chain, guaranteed, strategies, warnings),
    }
