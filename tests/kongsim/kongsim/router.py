"""Kong's traditional router, as far as upgrades are concerned.

Path semantics come from the release table (contract.md sections 3 and 8):

- 3.x (``release.regex_paths_need_tilde``): a path is a regex only when it starts with ``~``
  (the ``~`` is removed); every other path is a plain prefix, whatever characters it holds.
- 2.x: a path is a regex when it holds a character outside ``[a-zA-Z0-9.\\-_~/%]``; from 2.8.2
  (``release.router_honours_tilde``) a leading ``~`` also marks a regex and is removed.  Before
  2.8.2 a ``~/...`` path is just a prefix (that never matches a normal request) -- or, when it
  also holds regex characters, a regex starting with a literal ``~``: either way such a node
  stops matching the routes that 3.0's migration rewrote, as real 2.8.0/2.8.1 nodes do.

Regexes are anchored at the start of the path (Kong uses ``ngx.re.find`` with the ``a`` flag).

Priority [simplified from kong/router.lua; documented here]: routes with more matching
categories (hosts, methods, paths) first; then higher ``regex_priority``; then the longer path;
then the older ``created_at``.  Inside a route, regex paths are tried before prefix paths, and
prefix paths longest first.
"""

import collections
import re

PLAIN_PATH_RE = re.compile(r"^[a-zA-Z0-9.\-_~/%]*$")

Match = collections.namedtuple("Match", "route service upstream_uri matched_path")


def path_kind(path, release):
    """('regex', pattern) or ('prefix', path) for a route path on ``release``."""
    if release.regex_paths_need_tilde:
        if path.startswith("~"):
            return "regex", path[1:]
        return "prefix", path
    if release.router_honours_tilde and path.startswith("~"):
        return "regex", path[1:]
    if PLAIN_PATH_RE.match(path):
        return "prefix", path
    return "regex", path


class _Compiled(object):
    __slots__ = ("route", "service", "hosts_exact", "hosts_wild", "methods", "regexes", "prefixes",
                 "weight", "sort_key")

    def __init__(self, route, service, release):
        self.route = route
        self.service = service
        hosts = route.get("hosts") or []
        self.hosts_exact = set(h.lower() for h in hosts if "*" not in h)
        self.hosts_wild = []
        for h in hosts:
            if "*" in h:
                self.hosts_wild.append(re.compile("^" + re.escape(h.lower()).replace(r"\*", r"[^.]+") + "$"))
        self.methods = set(m.upper() for m in (route.get("methods") or []))
        self.regexes = []
        self.prefixes = []
        longest = 0
        for p in route.get("paths") or []:
            kind, value = path_kind(p, release)
            longest = max(longest, len(value))
            if kind == "regex":
                try:
                    self.regexes.append((p, re.compile(value)))
                except re.error:
                    continue  # Kong's schema would have refused it; never matches here
            else:
                self.prefixes.append(value)
        self.prefixes.sort(key=len, reverse=True)
        self.weight = (1 if hosts else 0) + (1 if self.methods else 0) + (1 if route.get("paths") else 0)
        self.sort_key = (-self.weight, -(route.get("regex_priority") or 0), -longest,
                         route.get("created_at") or 0, str(route.get("id")))

    def match_host(self, host):
        if not self.hosts_exact and not self.hosts_wild:
            return True
        if host in self.hosts_exact:
            return True
        return any(w.match(host) for w in self.hosts_wild)

    def match_path(self, path):
        """The matched part of ``path`` ('' for a route without paths) or None."""
        if not self.regexes and not self.prefixes:
            return ""
        for _orig, rx in self.regexes:
            m = rx.match(path)
            if m:
                return m.group(0)
        for p in self.prefixes:
            if path.startswith(p):
                return p
        return None


def join_upstream_path(service_path, rest):
    """Kong's path_handling v0 (the default): service.path followed by the (stripped) request
    path, one slash collapsed where both meet; an empty remainder keeps service.path as is."""
    if not service_path:
        if not rest.startswith("/"):
            rest = "/" + rest
        return rest
    if not rest:
        return service_path
    if service_path.endswith("/") and rest.startswith("/"):
        return service_path + rest[1:]
    return service_path + rest


class Router(object):
    """Built once per configuration; :meth:`match` is thread-safe (read only)."""

    def __init__(self, config, release):
        services = dict((s["id"], s) for s in (config or {}).get("services") or [])
        compiled = []
        for r in (config or {}).get("routes") or []:
            svc_ref = r.get("service")
            svc = services.get(svc_ref.get("id")) if isinstance(svc_ref, dict) else services.get(svc_ref)
            compiled.append(_Compiled(r, svc, release))
        compiled.sort(key=lambda c: c.sort_key)
        self.routes = compiled

    def __len__(self):
        return len(self.routes)

    def match(self, method, host, uri):
        """A :class:`Match` for the request or None (Kong: 404 no Route matched)."""
        host = (host or "").split(":")[0].lower() if not (host or "").startswith("[") else host.lower()
        path, _unused, query = uri.partition("?")
        for c in self.routes:
            if c.methods and method.upper() not in c.methods:
                continue
            if not c.match_host(host):
                continue
            matched = c.match_path(path)
            if matched is None:
                continue
            route = c.route
            rest = path
            if route.get("strip_path", True) and matched:
                rest = path[len(matched):]
            up = join_upstream_path((c.service or {}).get("path"), rest)
            if query:
                up += "?" + query
            return Match(route, c.service, up, matched)
        return None
