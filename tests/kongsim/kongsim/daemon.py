"""The running node: one process per prefix, threads for every listener.

    KONGSIM_RELEASE=3.4.2 python -m kongsim.daemon <prefix>

Started by ``kong start`` (kongsim.process), which has already validated the configuration and
the database state and written ``<prefix>/.kong_env``.  The node:

- reads ``.kong_env`` (mode 0600: it holds pg_password; nothing here ever prints it);
- loads its configuration: traditional nodes and control planes read the database and re-read it
  every ``db_update_frequency`` seconds; DB-less nodes parse ``declarative_config`` (and accept
  ``POST /config``); data planes take what the control plane pushes and persist it in
  ``<prefix>/config.cache.json.gz`` so a restart keeps serving it (Kong does the same);
- binds proxy_listen, admin_listen, status_listen and (control planes) cluster_listen, then writes
  ``pids/nginx.pid`` and tells ``kong start`` it is up;
- SIGQUIT: graceful (stop accepting, close idle keep-alive connections, finish requests in
  flight, exit); SIGTERM/SIGINT: fast exit; SIGHUP: reload (re-read ``.kong_env`` and the
  declarative file).

Listeners flagged ``ssl`` are skipped: the simulator has no TLS (documented in the README).
Faults (kongsim.faults): start_fail, start_delay, die_after_requests, unhealthy.
"""

import datetime
import gzip
import json
import os
import signal
import socket
import sys
import threading
import time
import uuid

from kongsim import conf as kconf
from kongsim import db as kdb
from kongsim import faults as kfaults
from kongsim import releases
from kongsim.router import Router

CACHE_FILE = "config.cache.json.gz"
UNINITIALIZED_HASH = "0" * 32
POOL_SIZE = 8  # idle PostgreSQL connections kept per node


_log_time = [0, ""]


def now_log():
    """nginx's log time, formatted once per second."""
    now = int(time.time())
    if _log_time[0] != now:
        _log_time[1] = datetime.datetime.fromtimestamp(now).strftime("%Y/%m/%d %H:%M:%S")
        _log_time[0] = now
    return _log_time[1]


class Snapshot(object):
    """An immutable view of one configuration, with the indexes the proxy needs."""

    def __init__(self, config, release, config_hash=None):
        self.config = config or {}
        self.hash = config_hash or kdb.config_hash(self.config)
        self.router = Router(self.config, release)
        self.entity_count = sum(len(v) for k, v in self.config.items() if isinstance(v, list) and not k.startswith("_"))
        plugins = {}
        for p in self.config.get("plugins") or []:
            if p.get("enabled") is False:
                continue
            if p.get("consumer"):
                continue  # consumer-scoped plugins are not simulated
            scope = ("route", _ref(p.get("route"))) if p.get("route") else \
                ("service", _ref(p.get("service"))) if p.get("service") else ("global", None)
            plugins.setdefault(scope, {})[p["name"]] = p
        self.plugins = plugins
        self.keyauth = dict((c.get("key"), c) for c in self.config.get("keyauth_credentials") or [])
        ups = dict((u.get("name"), u) for u in self.config.get("upstreams") or [])
        targets = {}
        for t in self.config.get("targets") or []:
            uid = _ref(t.get("upstream"))
            if (t.get("weight") or 0) > 0:
                targets.setdefault(uid, []).append(t.get("target"))
        self.upstream_targets = dict((name, targets.get(u.get("id"), [])) for name, u in ups.items())

    def plugins_for(self, route, service):
        """Effective plugins {name: plugin}: route-level beats service-level beats global."""
        out = dict(self.plugins.get(("global", None), {}))
        if service:
            out.update(self.plugins.get(("service", service.get("id")), {}))
        if route:
            out.update(self.plugins.get(("route", route.get("id")), {}))
        return out

    def is_empty(self):
        return self.entity_count == 0


def _ref(v):
    if isinstance(v, dict):
        return v.get("id")
    return v


class Node(object):
    def __init__(self, prefix, release, conf=None):
        self.prefix = os.path.abspath(prefix)
        self.release = release
        self.conf = conf if conf is not None else kconf.read_kong_env(self.prefix, release)
        self.role = self.conf.get("role") or "traditional"
        self.database = self.conf.get("database")
        self.faults = kfaults.load(self.prefix)
        self.hostname = os.environ.get("KONGSIM_NODE_NAME") or socket.gethostname()
        # X-Kong-Node (simulator-only header): KONGSIM_NODE_NAME, else the node's own proxy address
        # (lab nodes share one hostname but each has its own 127.x.y.z), else the hostname.
        own = [lst.host for lst in (self.conf.get("proxy_listen") or []) if lst.host not in ("0.0.0.0", "::", "*")]
        self.node_name = os.environ.get("KONGSIM_NODE_NAME") or (own[0] if own else self.hostname)
        self.node_id = self._node_id()
        self.server_header = "kong/%s" % release.admin_api_version
        self.via = "kong/%s" % release.admin_api_version
        self.started_at = time.time()
        self.pid = os.getpid()
        self.draining = False
        self.snapshot = None          # None: configuration not initialized yet
        self.snapshot_cv = threading.Condition()
        self.db_reachable = None
        self.total_requests = 0
        self.proxy_requests = 0
        self._count_lock = threading.Lock()
        self._pool = []
        self._pool_lock = threading.Lock()
        self.servers = []
        self.stopping = threading.Event()
        self.cluster = None           # clustering.ControlPlane or DataPlane
        self._log_lock = threading.Lock()
        os.makedirs(os.path.join(self.prefix, "logs"), exist_ok=True)
        self._error_log = open(os.path.join(self.prefix, "logs", "error.log"), "a", buffering=1)
        self._access = {}

    # -- identity and logs -----------------------------------------------------------------------
    def _node_id(self):
        path = os.path.join(self.prefix, "kong.id")
        try:
            with open(path) as f:
                v = f.read().strip()
                if kdb.UUID_RE.match(v):
                    return v
        except OSError:
            pass
        v = str(uuid.uuid4())
        with open(path, "w") as f:
            f.write(v + "\n")
        return v

    def log(self, level, msg):
        with self._log_lock:
            self._error_log.write("%s [%s] %d#0: [kong] %s\n" % (now_log(), level, os.getpid(), msg))

    def access_log(self, listener, handler, text):
        name = {"proxy": "access.log", "admin": "admin_access.log"}.get(listener)
        if not name:
            return
        f = self._access.get(name)
        if f is None:
            f = self._access[name] = open(os.path.join(self.prefix, "logs", name), "a", buffering=65536)
        try:
            f.write('%s - - [%s] %s\n' % (handler.client_address[0], now_log(), text))
        except ValueError:
            pass

    # -- counters and faults ---------------------------------------------------------------------
    def count_request(self, proxy=False):
        with self._count_lock:
            self.total_requests += 1
            if proxy:
                self.proxy_requests += 1
                return self.proxy_requests
            return None

    def after_proxy_request(self, n):
        limit = self.faults.get("die_after_requests")
        if limit is not None and n is not None and n >= int(limit):
            # A crash, not a shutdown: no drain, the pid file stays behind like after a SIGKILL.
            self.log("crit", "kongsim fault die_after_requests=%s reached: worker process exiting" % limit)
            self.flush_logs()
            os._exit(70)

    # -- database ------------------------------------------------------------------------------------
    def _db_acquire(self):
        with self._pool_lock:
            while self._pool:
                c = self._pool.pop()
                if not c.closed:
                    return c
        return kdb.connect(self.conf)

    def _db_release(self, c, broken=False):
        if broken or c.closed:
            try:
                c.close()
            except Exception:
                pass
            return
        with self._pool_lock:
            if len(self._pool) < POOL_SIZE:
                self._pool.append(c)
                return
        c.close()

    def db_call(self, fn, *args):
        """Run ``fn(conn, *args)`` on a pooled connection (like Kong's per-worker pool), with one
        retry on a fresh connection when the pooled one turns out broken."""
        for attempt in (1, 2):
            c = self._db_acquire()
            try:
                result = fn(c, *args)
            except (kdb.UniqueViolation, kdb.ForeignKeyViolation):
                self._db_release(c)
                raise
            except kdb.DbError:
                self._db_release(c, broken=True)
                if attempt == 2:
                    raise
                continue
            except Exception:
                self._db_release(c, broken=True)
                raise
            self._db_release(c)
            return result

    def db_ok(self):
        try:
            self.db_call(kdb.run_sql, "SELECT 1")
            self.db_reachable = True
        except Exception:
            self.db_reachable = False
        return self.db_reachable

    # -- configuration ---------------------------------------------------------------------------------
    def set_config(self, config, config_hash=None):
        snap = Snapshot(config, self.release, config_hash)
        with self.snapshot_cv:
            changed = self.snapshot is None or self.snapshot.hash != snap.hash
            self.snapshot = snap
            self.snapshot_cv.notify_all()
        if changed:
            self.log("info", "configuration loaded: %d entities, hash %s" % (snap.entity_count, snap.hash))
        return snap

    def reload_from_db(self):
        try:
            cfg = self.db_call(kdb.load_config)
        except Exception as e:
            self.db_reachable = False
            self.log("error", "could not load configuration from the database: %s" % e)
            return False
        self.db_reachable = True
        if self.snapshot is None or kdb.config_hash(cfg) != self.snapshot.hash:
            self.set_config(cfg)
        return True

    def load_declarative(self):
        path = self.conf.get("declarative_config")
        if not path:
            self.set_config({})
            return
        from kongsim import declarative
        cfg = declarative.load_file(path, self.release, self.conf.get("loaded_plugins"))
        self.set_config(cfg)

    def load_cache(self):
        path = os.path.join(self.prefix, CACHE_FILE)
        try:
            with gzip.open(path, "rt") as f:
                doc = json.load(f)
        except (OSError, ValueError):
            return False
        self.set_config(doc.get("config") or {}, doc.get("hash"))
        self.log("notice", "loaded configuration from the cache %s (hash %s)" % (path, self.snapshot.hash))
        return True

    def save_cache(self, config, config_hash):
        path = os.path.join(self.prefix, CACHE_FILE)
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb") as f:
                f.write(json.dumps({"config": config, "hash": config_hash}).encode("utf-8"))
        os.replace(tmp, path)

    def _db_poll_loop(self):
        freq = float(self.conf.get("db_update_frequency") or 5)
        while not self.stopping.wait(freq):
            self.reload_from_db()

    # -- readiness (Status API /status/ready, 3.3+; contract.md section 6) ----------------------
    def ready_reason(self):
        """None when ready, else Kong's reason text."""
        if self.draining:
            return "draining"
        if self.faults.get("unhealthy"):
            return "kongsim fault: unhealthy"  # [inferred] the fault's own reason text
        if self.role == "control_plane":
            return None if self.db_ok() else "failed to connect to database"
        if self.database == "off":
            snap = self.snapshot
            if snap is None:
                return "no configuration available (configuration hash is not initialized)"
            if snap.is_empty():
                return "no configuration available (empty configuration present)"
            return None
        if self.snapshot is None:
            return "router builds not yet complete"
        if not self.db_ok():
            return "failed to connect to database"
        return None

    # -- lifecycle ---------------------------------------------------------------------------------------
    def bind_all(self):
        from kongsim import admin, proxy, status, clustering
        # As in Kong's nginx_kong.lua template: no proxy server on a control plane, no Admin API
        # on a data plane.
        plan = []
        if self.role != "control_plane":
            plan.append(("proxy", "proxy_listen", proxy.ProxyHandler))
        if self.role != "data_plane":
            plan.append(("admin", "admin_listen", admin.AdminHandler))
        plan.append(("status", "status_listen", status.StatusHandler))
        if self.role == "control_plane":
            plan.append(("cluster", "cluster_listen", clustering.ClusterHandler))
        from kongsim.httpserv import NodeHTTPServer
        for name, key, handler in plan:
            for lst in self.conf.get(key) or []:
                if "ssl" in lst.flags:
                    continue
                host = lst.host
                try:
                    srv = NodeHTTPServer((host, lst.port), handler, self, name)
                except OSError as e:
                    for s in self.servers:
                        s.server_close()
                    raise RuntimeError("nginx: [emerg] bind() to %s:%d failed (%d: %s)" % (
                        host, lst.port, e.errno or 0, e.strerror or str(e)))
                self.servers.append(srv)

    def start(self):
        delay = self.faults.get("start_delay")
        if delay:
            time.sleep(float(delay))
        if self.faults.get("start_fail"):
            raise RuntimeError("nginx: [emerg] kongsim fault start_fail: worker processes failed to start")
        from kongsim import clustering
        if self.role == "data_plane":
            self.load_cache()
        elif self.database == "off":
            self.load_declarative()
        else:
            self.reload_from_db()
        self.bind_all()
        for s in self.servers:
            s.start()
        if self.role == "control_plane":
            self.cluster = clustering.ControlPlane(self)
        elif self.role == "data_plane":
            self.cluster = clustering.DataPlane(self)
            self.cluster.start()
        if self.database == "postgres":
            threading.Thread(target=self._db_poll_loop, name="db-poll", daemon=True).start()
        pid_path = os.path.join(self.prefix, "pids", "nginx.pid")
        os.makedirs(os.path.dirname(pid_path), exist_ok=True)
        with open(pid_path + ".tmp", "w") as f:
            f.write("%d\n" % os.getpid())
        os.replace(pid_path + ".tmp", pid_path)
        self.log("notice", "kongsim %s started (role %s, database %s)" % (self.release.version, self.role, self.database))

    def graceful_stop(self, timeout=None):
        """SIGQUIT: stop accepting, drain in-flight requests, exit."""
        self.log("notice", "signal 3 (SIGQUIT) received, shutting down gracefully")
        self.stopping.set()
        if self.cluster is not None:
            self.cluster.stop()
        for s in self.servers:
            s.stop_accepting()
        deadline = time.time() + (timeout if timeout is not None else 3600)
        while True:
            for s in self.servers:
                s.close_idle()
            if all(s.wait_drained(0.05) for s in self.servers):
                # a last pass: responses just finished may have left idle connections behind
                for s in self.servers:
                    s.close_idle()
                break
            if time.time() > deadline:
                break
        self.log("notice", "gracefully shutting down: exit")

    def fast_stop(self):
        self.stopping.set()
        self.log("notice", "signal 15 (SIGTERM) received, exiting")

    def remove_pid(self):
        pid_path = os.path.join(self.prefix, "pids", "nginx.pid")
        try:
            with open(pid_path) as f:
                if f.read().strip() == str(os.getpid()):
                    os.unlink(pid_path)
        except OSError:
            pass

    def flush_logs(self):
        for f in list(self._access.values()) + [self._error_log]:
            try:
                f.flush()
            except Exception:
                pass

    def reload(self):
        """SIGHUP: re-read .kong_env (written by `kong reload`) and the declarative file."""
        try:
            self.conf = kconf.read_kong_env(self.prefix, self.release)
            self.faults = kfaults.load(self.prefix)
            if self.database == "off" and self.role != "data_plane":
                self.load_declarative()
            elif self.database == "postgres":
                self.reload_from_db()
            self.log("notice", "signal 1 (SIGHUP) received, reconfiguring")
        except Exception as e:  # nginx keeps the old configuration when a reload fails
            self.log("error", "reload failed: %s" % e)


SIGNALS = (signal.SIGQUIT, signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def run(prefix, release, ready_fd=None):
    """Run the node until a signal ends it (never returns when it started).

    Signals are blocked in every thread and taken by ``sigwait`` in the main thread, so a
    SIGTERM during a graceful shutdown (``kong quit`` timing out) still ends the node at once."""
    def tell(msg):
        if ready_fd is not None:
            try:
                os.write(ready_fd, (msg + "\n").encode("utf-8"))
                os.close(ready_fd)
            except OSError:
                pass

    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        node = Node(prefix, release)
        node.start()
    except Exception as e:  # report to `kong start`, which prints Error: <msg>
        tell("error: %s" % str(e).replace("\n", "\\n"))
        return 1
    tell("ok")

    def graceful():
        node.graceful_stop()
        node.remove_pid()
        node.flush_logs()
        os._exit(0)

    while True:
        sig = signal.sigwait(SIGNALS)
        if sig == signal.SIGHUP:
            node.reload()
        elif sig == signal.SIGQUIT:
            if not node.stopping.is_set():
                threading.Thread(target=graceful, name="graceful", daemon=True).start()
        else:
            if node.stopping.is_set():
                node.log("notice", "signal %d received during graceful shutdown, exiting now" % sig)
            else:
                node.fast_stop()
            node.remove_pid()
            node.flush_logs()
            os._exit(0)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    prefix = argv[0]
    release = releases.get(os.environ["KONGSIM_RELEASE"])
    fd = os.environ.get("KONGSIM_READY_FD")
    return run(prefix, release, int(fd) if fd else None)


if __name__ == "__main__":
    sys.exit(main())
