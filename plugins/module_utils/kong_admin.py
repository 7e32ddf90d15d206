# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kong Admin API and Status API client, and the facts ``kong_facts`` returns.

Responses follow contract.md section 6: ``GET /`` (version, node_id,
configuration with role/database/prefix), ``GET /status`` (database.reachable,
or configuration_hash on DB-less nodes and data planes), ``GET /status/ready``
(Status API only, 3.3+; 200 ready or 503 with a reason), ``GET
/clustering/data-planes`` (control planes only; 400 elsewhere).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import urlencode
from ansible.module_utils.urls import open_url

try:
    from ansible.module_utils.urls import ConnectionError as UrlsConnectionError, SSLValidationError
except ImportError:  # pragma: no cover
    UrlsConnectionError = SSLValidationError = URLError

# Entity collections counted by kong_facts (all exist on 2.8 and 3.x Admin APIs).
ENTITY_KINDS = ("services", "routes", "plugins", "consumers", "upstreams", "certificates", "snis", "ca_certificates")
TOKEN_HEADER = "Kong-Admin-Token"
_ENTERPRISE_RE = re.compile(r"^\d+\.\d+\.\d+\.\d+")


class KongApiError(Exception):
    def __init__(self, message, status=None, body=None, url=None):
        super(KongApiError, self).__init__(message)
        self.message = message
        self.status = status
        self.body = body
        self.url = url


class KongApiUnreachable(KongApiError):
    pass


def edition_of(version):
    """``'3.8.0.0-enterprise-edition'`` / ``'3.4.3.3'`` -> enterprise; ``'3.4.2'`` -> oss."""
    v = version or ""
    if "enterprise" in v.lower() or _ENTERPRISE_RE.match(v):
        return "enterprise"
    return "oss"


def release_of(version):
    """The plain release number of a version string: ``'3.8.0.0-enterprise-edition'`` -> ``'3.8.0.0'``.

    Enterprise's Admin API adds a suffix (contract.md section 6, [unverified]) that ``kong version`` does not print; the
    facts carry the plain number so that both sources compare equal to an inventory's target version."""
    v = (version or "").strip()
    m = re.match(r"^(\d+\.\d+\.\d+(?:\.\d+)?)(?:-enterprise(?:-edition)?)?$", v)
    return m.group(1) if m else (version or None)


class KongApiClient:
    """A small JSON client. ``opener`` has ``open_url``'s signature (injectable for tests)."""

    def __init__(self, base_url, token=None, validate_certs=True, ca_path=None, client_cert=None, client_key=None,
                 timeout=10, opener=None):
        self.base_url = (base_url or "").rstrip("/")
        self.token = token
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.client_cert = client_cert
        self.client_key = client_key
        self.timeout = timeout
        self._open = opener or open_url

    def request(self, method, path, body=None, query=None):
        """Returns ``(status, parsed_json_or_text)``; non-2xx statuses are returned, not raised."""
        url = self.base_url + path
        if query:
            url += ("&" if "?" in url else "?") + urlencode(query)
        headers = {"Accept": "application/json"}
        if self.token:
            headers[TOKEN_HEADER] = self.token
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        try:
            resp = self._open(url, data=data, headers=headers, method=method, timeout=self.timeout,
                              validate_certs=self.validate_certs, ca_path=self.ca_path, client_cert=self.client_cert,
                              client_key=self.client_key, use_proxy=False, follow_redirects="none")
            status = resp.getcode() if hasattr(resp, "getcode") else resp.status
            raw = resp.read()
        except HTTPError as e:
            status = e.code
            try:
                raw = e.read()
            except Exception:
                raw = b""
        except (URLError, UrlsConnectionError, SSLValidationError, OSError, ValueError) as e:
            raise KongApiUnreachable("cannot reach %s: %s" % (url, getattr(e, "reason", e)), url=url)
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else (raw or "")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return status, parsed

    def get(self, path, query=None, expect=(200,)):
        status, body = self.request("GET", path, query=query)
        if status not in expect:
            msg = body.get("message") if isinstance(body, dict) else body
            raise KongApiError("GET %s returned %s: %s" % (path, status, msg), status=status, body=body, url=self.base_url + path)
        return body

    def list_all(self, path, page_size=1000, max_pages=1000):
        """Every element of a paginated collection (``{"data": [...], "next": ...}``)."""
        items = []
        query = {"size": page_size}
        next_path = path
        for _page in range(max_pages):
            body = self.get(next_path, query=query)
            items.extend((body or {}).get("data") or [])
            nxt = (body or {}).get("next")
            if not nxt:
                return items
            # 'next' is a path with its own offset (sometimes a full URL).
            next_path = nxt[len(self.base_url):] if nxt.startswith(self.base_url) else nxt
            query = None
        raise KongApiError("%s: more than %d pages" % (path, max_pages))


def readiness(status_client):
    """``(ready, reason, supported)`` from the Status API's ``/status/ready`` (3.3+)."""
    status, body = status_client.request("GET", "/status/ready")
    reason = body.get("message") if isinstance(body, dict) else body
    if status == 200:
        return True, reason, True
    if status == 503:
        return False, reason, True
    if status == 404:
        return None, "no /status/ready endpoint (Kong before 3.3)", False
    return False, "unexpected status %s: %s" % (status, reason), True


def gather_facts(admin=None, status_api=None, count_entities=True):
    """The facts of one node from its Admin API (and Status API if given)."""
    facts = {"source": "admin_api"}
    root = admin.get("/")
    conf = root.get("configuration") or {}
    facts.update({
        "version": release_of(root.get("version")),
        "version_string": root.get("version"),
        "edition": edition_of(root.get("version")),
        "node_id": root.get("node_id"),
        "hostname": root.get("hostname"),
        "role": conf.get("role", "traditional"),
        "database": conf.get("database"),
        "prefix": conf.get("prefix"),
        "plugins_enabled": sorted(((root.get("plugins") or {}).get("enabled_in_cluster") or [])),
    })
    st = admin.get("/status")
    facts["database_reachable"] = ((st or {}).get("database") or {}).get("reachable")
    facts["configuration_hash"] = (st or {}).get("configuration_hash")
    facts["server"] = (st or {}).get("server")
    if status_api is not None:
        try:
            ready, reason, supported = readiness(status_api)
        except KongApiUnreachable as e:
            ready, reason, supported = False, "Status API unreachable: %s" % e.message, True
        facts["ready"] = ready
        facts["ready_reason"] = reason
        facts["ready_endpoint"] = supported
        if not supported:
            # Before 3.3: ready means the Status API answers /status (and the DB is reachable where there is one).
            sst = status_api.get("/status")
            reach = ((sst or {}).get("database") or {}).get("reachable")
            facts["ready"] = reach is not False
            if facts.get("configuration_hash") is None:
                facts["configuration_hash"] = (sst or {}).get("configuration_hash")
    else:
        facts["ready"] = facts["database_reachable"] is not False
        facts["ready_reason"] = "Admin API /status answered (no Status API given)"
        facts["ready_endpoint"] = False
    if count_entities:
        counts = {}
        for kind in ENTITY_KINDS:
            try:
                counts[kind] = len(admin.list_all("/" + kind))
            except KongApiError:
                counts[kind] = None  # not available on this node (e.g. an Admin API without that collection)
        facts["entities"] = counts
    facts["data_planes"] = None
    if facts["role"] == "control_plane":
        dps = admin.list_all("/clustering/data-planes")
        facts["data_planes"] = [dict((k, dp.get(k)) for k in ("id", "hostname", "ip", "version", "sync_status", "config_hash", "last_seen"))
                                for dp in dps]
    return facts


def status_facts(status_api):
    """Facts from the Status API alone (data planes usually have no Admin API)."""
    facts = {"source": "status_api"}
    st = status_api.get("/status")
    facts["configuration_hash"] = (st or {}).get("configuration_hash")
    facts["database_reachable"] = ((st or {}).get("database") or {}).get("reachable")
    facts["server"] = (st or {}).get("server")
    ready, reason, supported = readiness(status_api)
    if not supported:
        ready = facts["database_reachable"] is not False
    facts.update({"ready": ready, "ready_reason": reason, "ready_endpoint": supported})
    return facts


def prefix_facts(prefix):
    """What the prefix says without any API: the nginx pid and whether that process exists."""
    out = {"prefix": prefix, "pid": None, "pid_running": False, "kong_env": False}
    if not prefix:
        return out
    out["kong_env"] = os.path.exists(os.path.join(prefix, ".kong_env"))
    pid_file = os.path.join(prefix, "pids", "nginx.pid")
    try:
        with open(pid_file) as f:
            pid = int(f.read().strip())
    except (IOError, OSError, ValueError):
        return out
    out["pid"] = pid
    try:
        os.kill(pid, 0)
        out["pid_running"] = True
    except OSError as e:
        out["pid_running"] = e.errno == 1  # EPERM: exists, not ours
    return out


def admin_argument_spec(**defaults):
    """The options of a module that reads a node's Admin and Status APIs (doc fragment ``kongops.upgrade.kong_api``):
    one name, type and default for each; ``client_kwargs`` turns them into KongApiClient arguments."""
    spec = dict(
        admin_url=dict(type="str"),
        status_url=dict(type="str"),
        admin_token=dict(type="str", no_log=True),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        client_cert=dict(type="path"),
        client_key=dict(type="path", no_log=False),
        timeout=dict(type="int", default=10),
    )
    for name, value in defaults.items():
        spec[name] = dict(spec[name], default=value)
    return spec


def client_kwargs(params):
    """TLS and timeout arguments of KongApiClient from the module's parameters (admin_argument_spec)."""
    return dict(validate_certs=params.get("validate_certs", True), ca_path=params.get("ca_path"),
                client_cert=params.get("client_cert"), client_key=params.get("client_key"), timeout=params.get("timeout", 10))
