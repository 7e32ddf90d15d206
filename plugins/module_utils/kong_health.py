# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health gate of a Kong node, polled inside one module call (the kong_health module).

Checks, in this order, each waited for with its own budget of ``retries`` tries ``delay`` seconds apart (like
``until``/``retries``/``delay`` on a task, which gives ``retries + 1`` tries):

1. admin: the Admin API's ``/status`` answers 200, then ``GET /`` reports the expected version (read once);
2. ready: the Status API's ``/status/ready`` answers 200 (only when a Status API URL is given and the expected
   version is empty or 3.3 or later: Kong has no ``/status/ready`` before 3.3);
3. proxy: the proxy answers any HTTP status, or with a probe path one of the accepted statuses;
4. data_plane: the control plane's ``/clustering/data-planes`` lists this data plane (its newest row by
   ``last_seen``) with ``sync_status`` normal, the expected version and, when given, the expected config hash.

Plain Python: the HTTP client factory, ``sleep`` and ``clock`` are injected so the unit tests need no server.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

from ansible_collections.kongops.upgrade.plugins.module_utils.kong_admin import KongApiClient, KongApiError, client_kwargs

READY_SINCE = (3, 3)


class HealthError(Exception):
    def __init__(self, check, msg, summary=None):
        super(HealthError, self).__init__(msg)
        self.check = check
        self.msg = msg
        self.summary = summary or {}


def version_pattern(expected):
    """``X.Y.Z[.N]`` at the start, then the end or a non-version character (``3.8.0.0-enterprise-edition``)."""
    return re.compile("^" + re.escape(expected) + "($|[^0-9.])")


def version_matches(expected, reported):
    return not expected or bool(version_pattern(expected).search(reported or ""))


def _numbers(version):
    return tuple(int(p) for p in re.findall(r"\d+", str(version).split("-", 1)[0])[:4])


def ready_applies(status_url, expected_version):
    """Kong serves /status/ready from 3.3; with no expected version the check runs whenever a URL is set."""
    if not status_url:
        return False
    return not expected_version or _numbers(expected_version) >= READY_SINCE


def dp_row(rows, field, identity):
    """This data plane's newest row (rows of an older incarnation stay until purged); {} when it is not listed."""
    mine = [r for r in rows or [] if isinstance(r, dict) and field in r and str(r.get(field)) == str(identity)]
    if not mine:
        return {}
    return sorted(mine, key=lambda r: r.get("last_seen") or 0)[-1]


def dp_problem(row, expected_version, expected_hash):
    """None when the row passes, else why not."""
    if not row:
        return "not listed"
    if row.get("sync_status", "") != "normal":
        return "sync_status"
    if expected_version and not version_matches(expected_version, row.get("version", "")):
        return "version"
    if expected_hash and row.get("config_hash", "") != expected_hash:
        return "config_hash"
    return None


def dp_message(p, status, row):
    """The old gate's messages (roles/kong_node/tasks/health.yml before the module)."""
    if status != 200:
        return "the control plane %s answered %s to /clustering/data-planes" % (p.get("cp_host") or p["cp_admin_url"], status)
    if not row:
        return "data plane %s=%s is not listed by the control plane" % (p["dp_identity_field"], p["dp_identity"])
    return ("data plane %s at the control plane: sync_status %s, version %s (expected %s), config_hash %s (expected %s)"
            % (p["dp_identity"], row.get("sync_status", "?"), row.get("version", "?"), p["expected_version"] or "any",
               row.get("config_hash", "?"), p["expected_config_hash"] or "any"))


def _status(client, path):
    """(status, body); -1 and the error when the server cannot be reached."""
    try:
        return client.request("GET", path)
    except KongApiError as exc:
        return -1, exc.message


def _detail(status, body):
    if isinstance(body, dict):
        body = body.get("message", body)
    text = str(body if body is not None else "")
    return "status %s%s" % (status, (": " + text[:200]) if text else "")


def status_probe(client, path):
    """A probe for wait(): passes when GET path answers 200; its value is (status, body)."""
    def probe():
        answer = _status(client, path)
        return answer[0] == 200, answer
    return probe


def wait(attempts, delay, sleep, probe):
    """Call probe() until it returns (True, value) or the attempts run out; returns (ok, value, tries)."""
    value = None
    for n in range(1, attempts + 1):
        ok, value = probe()
        if ok:
            return True, value, n
        if n < attempts:
            sleep(delay)
    return False, value, attempts


def run_gate(p, client=None, sleep=time.sleep, clock=time.time):
    """Run the configured checks; returns the summary dict or raises HealthError (check, msg, partial summary)."""
    client = client or (lambda url, token=None: KongApiClient(url, token=token or None, **client_kwargs(p)))
    attempts = max(0, int(p["retries"])) + 1
    delay = float(p["delay"])
    started = clock()
    summary = {"healthy": False, "admin_version": "", "ready": "", "proxy_status": -1, "data_plane": {}, "checks": [], "tries": {}}
    name = p.get("name") or "the node"

    if p["check_admin"] and p["admin_url"]:
        admin = client(p["admin_url"], p.get("admin_token"))
        ok, last, tries = wait(attempts, delay, sleep, status_probe(admin, "/status"))
        summary["tries"]["admin"] = tries
        if not ok:
            raise HealthError("admin", "Admin API %s/status did not answer 200 after %d tries (%s)" % (p["admin_url"], tries, _detail(*last)), summary)
        status, root = _status(admin, "/")
        version = root.get("version", "") if isinstance(root, dict) else ""
        summary["admin_version"] = version
        summary["checks"].append("admin")
        if p["expected_version"] and not version_matches(p["expected_version"], version):
            raise HealthError("admin_version", "%s runs Kong %s according to %s, expected %s."
                              % (name, version or "(unknown)", p["admin_url"], p["expected_version"]), summary)

    if ready_applies(p["status_url"], p["expected_version"]):
        status_api = client(p["status_url"])
        ok, last, tries = wait(attempts, delay, sleep, status_probe(status_api, "/status/ready"))
        summary["tries"]["ready"] = tries
        if not ok:
            raise HealthError("ready", "Status API %s/status/ready did not answer 200 after %d tries (%s)" % (p["status_url"], tries, _detail(*last)), summary)
        summary["ready"] = last[1].get("message", "") if isinstance(last[1], dict) else str(last[1] or "")
        summary["checks"].append("ready")

    if p["proxy_url"]:
        proxy = client(p["proxy_url"])
        accepted = set(int(s) for s in p["proxy_probe_status"]) if p["proxy_probe_path"] else set(range(100, 600))

        def probe_proxy():
            r = _status(proxy, p["proxy_probe_path"] or "/")
            return r[0] in accepted, r

        ok, last, tries = wait(attempts, delay, sleep, probe_proxy)
        summary["tries"]["proxy"] = tries
        summary["proxy_status"] = last[0]
        if not ok:
            want = ("one of %s" % sorted(accepted)) if p["proxy_probe_path"] else "any HTTP answer"
            raise HealthError("proxy", "the proxy %s%s did not give %s after %d tries (%s)"
                              % (p["proxy_url"], p["proxy_probe_path"], want, tries, _detail(*last)), summary)
        summary["checks"].append("proxy")

    if p["cp_admin_url"] and p["dp_identity"]:
        cp = client(p["cp_admin_url"], p.get("cp_admin_token"))

        def probe_cp():
            try:
                rows = cp.list_all("/clustering/data-planes")
                status = 200
            except KongApiError as exc:
                rows, status = [], exc.status if exc.status is not None else -1
            row = dp_row(rows, p["dp_identity_field"], p["dp_identity"])
            return status == 200 and dp_problem(row, p["expected_version"], p["expected_config_hash"]) is None, (status, row)

        ok, last, tries = wait(attempts, delay, sleep, probe_cp)
        summary["tries"]["data_plane"] = tries
        summary["data_plane"] = last[1]
        if not ok:
            raise HealthError("data_plane", dp_message(p, last[0], last[1]), summary)
        summary["checks"].append("data_plane")

    summary["healthy"] = True
    summary["seconds"] = round(clock() - started, 3)
    return summary
