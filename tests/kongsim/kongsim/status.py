"""Status API (``status_listen``) and the ``/status`` document shared with the Admin API.

contract.md section 6: ``GET /status`` always 200 with ``memory``, ``server`` and ``database``
(``{"reachable": ...}``); DB-less nodes and data planes have no ``database`` but a
``configuration_hash``.  ``GET /status/ready`` exists only from 3.3 (``release.has_ready_endpoint``):
200 ``{"message":"ready"}`` or 503 ``{"message": <reason>}``; older releases answer 404 like any
unknown path.
"""

import json
import resource

from kongsim.httpserv import NodeHandler

NOT_FOUND = {"message": "Not found"}
UNINITIALIZED_HASH = "0" * 32


def status_doc(node):
    node.count_request()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    conns = sum(s.connection_count() for s in node.servers)
    busy = sum(s.busy_count() for s in node.servers)
    doc = {
        "memory": {
            "workers_lua_vms": [{"http_allocated_gc": "%.2f MiB" % rss_mb, "pid": node.pid}],
            "lua_shared_dicts": {"kong": {"allocated_slabs": "0.04 MiB", "capacity": "5.00 MiB"},
                                 "kong_db_cache": {"allocated_slabs": "0.80 MiB", "capacity": "128.00 MiB"}},
        },
        "server": {
            "connections_accepted": node.total_requests,
            "connections_active": conns,
            "connections_handled": node.total_requests,
            "connections_reading": 0,
            "connections_waiting": max(0, conns - busy),
            "connections_writing": busy,
            "total_requests": node.total_requests,
        },
    }
    if node.database == "off":
        snap = node.snapshot
        doc["configuration_hash"] = snap.hash if snap is not None else UNINITIALIZED_HASH
    else:
        doc["database"] = {"reachable": bool(node.db_ok())}
    return doc


class StatusHandler(NodeHandler):
    def dispatch(self):
        path = self.path.partition("?")[0].rstrip("/") or "/"
        if path == "/status/ready" and self.command == "POST" and self.node.release.has_drain:
            try:
                doc = json.loads(self.read_body().decode("utf-8") or "{}")
            except ValueError:
                doc = {}
            if doc.get("status") != "draining":
                return self.send_json(400, {"message": "invalid status"})  # [inferred] wording
            self.node.draining = True
            self.node.log("notice", "Kong's status changed to 'draining'")
            return self.send_empty(204)
        if self.command not in ("GET", "HEAD"):
            return self.send_json(405, {"message": "Method not allowed"})
        if path == "/status":
            return self.send_json(200, status_doc(self.node))
        if path == "/status/ready" and self.node.release.has_ready_endpoint:
            reason = self.node.ready_reason()
            if reason is None:
                return self.send_json(200, {"message": "ready"})
            return self.send_json(503, {"message": reason})
        return self.send_json(404, NOT_FOUND)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = dispatch
