"""Hybrid mode: control planes push configuration to data planes (contract.md section 7).

Transport (the simulator's own, over plain HTTP; real Kong uses mTLS WebSockets): the data plane
long-polls the control plane at ``http://<cluster_control_plane>/v1/<protocol>``, where the
protocol endpoints are those of the release's table (``release.hybrid_protocols``):
``/v1/outlet`` (the legacy JSON protocol) and/or ``/v1/wrpc``.  A control plane answers 404 on an
endpoint its release does not serve; a data plane tries wRPC first when it speaks it (3.0 and
Enterprise 3.1.1.2 negotiate wRPC and fall back to the legacy protocol), then the legacy one.
So an OSS 3.1 data plane (wRPC only) never reaches a 3.2+ control plane (legacy only): it keeps
logging connection errors and never shows in ``/clustering/data-planes``, as with real Kong.

Each poll is a JSON POST ``{node_id, node_hostname, node_version, config_hash, plugins,
cert_digest}``.  The control plane:

1. compares ``cert_digest`` with its own (``cluster_mtls = shared``: both sides must hold the same
   certificate) and refuses a different one, like a failed mTLS handshake;
2. applies ITS release's version rule (``release.hybrid_compatible``); a rejected data plane is
   still upserted in the data-plane list with ``sync_status = kong_version_incompatible`` and gets
   an error and no configuration (Kong then closes the WebSocket);
3. withholds the configuration with ``plugin_set_incompatible`` when a configured plugin is not
   loaded on the data plane (the connection stays open);
4. otherwise answers at once with ``{config, config_hash}`` when the data plane's hash differs, or
   holds the poll until the configuration changes (at most POLL_SECONDS) -- a push.

The control plane's configuration is what its node last read from the database (re-read every
``db_update_frequency`` seconds and after each Admin API write).  A control plane started with
pending migrations pushes exactly what its database holds: the rows are readable, so nothing is
lost; the empty push of Kong/kong#12861 came from a failing plugin schema on that control plane,
not from the pending state itself, and is not reproduced.

The data-plane list lives in the control plane's memory (real Kong keeps it in the
``clustering_data_planes`` table): restarting a control plane empties it until the data planes
poll again (within a second or two).

A data plane applies each pushed configuration, stores it in ``<prefix>/config.cache.json.gz`` and
keeps serving it when the control plane goes away, and after its own restart.
"""

import hashlib
import http.client
import json
import os
import threading
import time

from kongsim.httpserv import NodeHandler

POLL_SECONDS = 5.0       # longest hold of a poll (Kong pings every 30 s; shorter keeps tests fast)
RETRY_SECONDS = 1.0      # reconnection delay (Kong waits 5-10 s; shorter keeps tests fast)
PROTOCOL_PATHS = {"outlet": "/v1/outlet", "wrpc": "/v1/wrpc"}


def cert_digest(conf):
    """sha256 of the cluster certificate (file content, or the value itself when not a path)."""
    v = conf.get("cluster_cert") or ""
    data = v.encode("utf-8")
    if os.path.isfile(v):
        with open(v, "rb") as f:
            data = f.read()
    return hashlib.sha256(data).hexdigest()


class ControlPlane(object):
    def __init__(self, node):
        self.node = node
        self.rows = {}
        self.lock = threading.Lock()
        self.digest = cert_digest(node.conf)
        self.purge_delay = int(node.conf.get("cluster_data_plane_purge_delay") or 1209600)

    def stop(self):
        with self.node.snapshot_cv:
            self.node.snapshot_cv.notify_all()

    def config_changed(self):
        with self.node.snapshot_cv:
            self.node.snapshot_cv.notify_all()

    def upsert(self, doc, ip, sync_status, config_hash=None):
        now = int(time.time())
        with self.lock:
            row = self.rows.get(doc["node_id"])
            if row is None:
                row = {"id": doc["node_id"], "labels": {}, "cert_details": {}, "rpc_capabilities": []}
            row.update({"ip": ip, "hostname": doc.get("node_hostname"), "version": doc.get("node_version"),
                        "sync_status": sync_status, "last_seen": now, "updated_at": now, "ttl": self.purge_delay,
                        "config_hash": config_hash or doc.get("config_hash") or "0" * 32})
            self.rows[doc["node_id"]] = row

    def data_planes(self):
        fields = self.node.release.clustering_data_plane_fields
        with self.lock:
            rows = [dict((k, r.get(k)) for k in fields) for r in self.rows.values()]
        return sorted(rows, key=lambda r: r["id"])

    def status_doc(self):
        with self.lock:
            return dict((r["id"], {"config_hash": r["config_hash"], "hostname": r["hostname"], "ip": r["ip"],
                                   "last_seen": r["last_seen"]}) for r in self.rows.values())

    def handle(self, handler, protocol, doc):
        """(status, body) for one poll of a data plane."""
        node = self.node
        ip = handler.client_address[0]
        if doc.get("cert_digest") != self.digest:
            node.log("warn", "[clustering] data plane presented incorrect client certificate during handshake, "
                     "client: %s" % ip)
            return 400, {"message": "data plane presented incorrect client certificate during handshake"}
        if not doc.get("node_id"):
            return 400, {"message": "'node_id' argument is required"}
        ok, msg = node.release.hybrid_compatible(doc.get("node_version"))
        if not ok:
            self.upsert(doc, ip, "kong_version_incompatible")
            node.log("warn", "[clustering] unable to send updated configuration to data plane: %s, client: %s" % (msg, ip))
            return 426, {"message": msg}
        dp_hash = doc.get("config_hash")
        deadline = time.time() + POLL_SECONDS
        with node.snapshot_cv:
            while True:
                snap = node.snapshot
                if snap is not None:
                    missing = sorted(set(p.get("name") for p in snap.config.get("plugins") or []) -
                                     set(doc.get("plugins") or []))
                    if missing:
                        self.upsert(doc, ip, "plugin_set_incompatible")
                        # The configuration is withheld; the poll is held (connection stays open).
                    else:
                        self.upsert(doc, ip, "normal")
                        if snap.hash != dp_hash:
                            return 200, {"config": snap.config, "config_hash": snap.hash}
                left = deadline - time.time()
                if left <= 0 or node.stopping.is_set():
                    return 200, {"config": None, "config_hash": dp_hash}
                node.snapshot_cv.wait(left)


class ClusterHandler(NodeHandler):
    def dispatch(self):
        node = self.node
        path = self.path.partition("?")[0]
        proto = next((p for p, v in PROTOCOL_PATHS.items() if v == path), None)
        if proto is None or proto not in node.release.hybrid_protocols or self.command != "POST":
            return self.send_json(404, {"message": "Not found"})
        try:
            doc = json.loads(self.read_body().decode("utf-8") or "{}")
        except ValueError:
            return self.send_json(400, {"message": "invalid payload"})
        status, body = node.cluster.handle(self, proto, doc)
        self.send_json(status, body)

    do_POST = do_GET = dispatch


class DataPlane(object):
    def __init__(self, node):
        self.node = node
        cp = node.conf.get("cluster_control_plane") or "127.0.0.1:8005"
        host, _unused, port = cp.rpartition(":")
        self.cp_host = host.strip("[]") or "127.0.0.1"
        self.cp_port = int(port)
        self.digest = cert_digest(node.conf)
        protos = list(node.release.hybrid_protocols)
        self.protocols = sorted(protos, key=lambda p: 0 if p == "wrpc" else 1)
        self.connected = False
        self.last_error = None
        self._thread = None
        # Like a real DP on its own host, connect from the node's own address (the lab gives
        # each node one 127.x.y.z), so the CP's list shows the DP's address.
        self.source = None
        for lst in node.conf.get("proxy_listen") or []:
            if lst.host not in ("0.0.0.0", "::", "*") and ":" not in lst.host:
                self.source = (lst.host, 0)
                break

    def start(self):
        self._thread = threading.Thread(target=self.loop, name="dp-sync", daemon=True)
        self._thread.start()

    def stop(self):
        pass  # the loop watches node.stopping

    def _payload(self):
        snap = self.node.snapshot
        return {"node_id": self.node.node_id, "node_hostname": self.node.hostname,
                "node_version": self.node.release.version,
                "config_hash": snap.hash if snap is not None else "0" * 32,
                "plugins": list(self.node.conf.get("loaded_plugins") or []), "cert_digest": self.digest}

    def poll_once(self, proto):
        """One poll; returns the HTTP status (or raises OSError / HTTPException)."""
        c = http.client.HTTPConnection(self.cp_host, self.cp_port, timeout=POLL_SECONDS + 10, source_address=self.source)
        try:
            body = json.dumps(self._payload())
            c.request("POST", PROTOCOL_PATHS[proto], body=body, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
        finally:
            c.close()
        if r.status == 200:
            doc = json.loads(data.decode("utf-8"))
            if doc.get("config") is not None:
                self.node.set_config(doc["config"], doc.get("config_hash"))
                try:
                    self.node.save_cache(doc["config"], self.node.snapshot.hash)
                except OSError as e:
                    self.node.log("error", "[clustering] unable to save the configuration cache: %s" % e)
        elif r.status != 404:
            try:
                msg = json.loads(data.decode("utf-8")).get("message")
            except ValueError:
                msg = data[:200]
            self.node.log("error", "[clustering] connection to control plane %s:%d broken: %s (retrying after %.0f seconds)"
                          % (self.cp_host, self.cp_port, msg, RETRY_SECONDS))
            self.last_error = msg
        return r.status

    def loop(self):
        node = self.node
        proto_idx = 0
        while not node.stopping.is_set():
            proto = self.protocols[proto_idx]
            try:
                status = self.poll_once(proto)
            except (OSError, http.client.HTTPException, ValueError) as e:
                self.connected = False
                self.last_error = str(e)
                node.log("error", "[clustering] connection to control plane %s:%d failed: %s (retrying after %.0f seconds)"
                         % (self.cp_host, self.cp_port, e, RETRY_SECONDS))
                node.stopping.wait(RETRY_SECONDS)
                continue
            if status == 404:
                self.connected = False
                if proto_idx + 1 < len(self.protocols):
                    node.log("notice", "[clustering] control plane does not serve %s, falling back to %s"
                             % (PROTOCOL_PATHS[proto], PROTOCOL_PATHS[self.protocols[proto_idx + 1]]))
                    proto_idx += 1
                    continue
                proto_idx = 0
                node.log("error", "[clustering] connection to control plane %s:%d failed: "
                         "failed to connect: bad handshake status 404 on %s (retrying after %.0f seconds)"
                         % (self.cp_host, self.cp_port, PROTOCOL_PATHS[proto], RETRY_SECONDS))
                node.stopping.wait(RETRY_SECONDS)
                continue
            if status != 200:
                self.connected = False
                node.stopping.wait(RETRY_SECONDS)
                continue
            self.connected = True
