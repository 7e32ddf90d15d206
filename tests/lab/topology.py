"""Bring a lab topology up, report it, tear it down.

Layout of a lab directory (default /tmp/kongops-lab):

    lab.json                  state: topology, components, ports, pids files
    inventory.yml             Ansible inventory (no secret in it)
    group_vars/all/secrets.yml  kong_pg_password, mode 0600 (loaded by Ansible next to the inventory)
    bin/kong-install          "package manager": kong-install <node-dir> <version>
    bin/kong-service          "service manager": kong-service <node-dir> start|stop|quit|restart|reload|status
    repo/<version>/bin/kong   the local package repository (python -m kongsim.install)
    certs/cluster.{crt,key}   hybrid cluster certificate (shared mTLS)
    pg/<name>/                one PostgreSQL server per Kong cluster (tests/support/pgcluster.py)
    nodes/<name>/             one Kong node: etc/kong/kong.conf, prefix/, releases/<v>/, current -> releases/<v>,
                              bin/kong -> ../current/bin/kong
    haproxy/                  haproxy.cfg, haproxy.pid; the runtime API socket is <lab>/haproxy.sock
    echo.pid, logs/           the upstream echo server
"""

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from lab import KONGSIM_PATH, LAB_PKG_DIR, TESTS_DIR, haproxy, procs, seed
from lab import inventory as inventory_mod

TOPOLOGIES = ("traditional", "dbless", "hybrid", "dual")
DEFAULT_VERSION = "2.8.4"
DEFAULT_TARGET = "3.4.2"
PROXY_PORT, ADMIN_PORT, CLUSTER_PORT, STATUS_PORT = 8000, 8001, 8005, 8007
BACKEND = "kong_proxy"
MAX_NODES = 50


class LabError(RuntimeError):
    pass


def _log(msg):
    sys.stderr.write("labctl: %s\n" % msg)
    sys.stderr.flush()


def version_major(v):
    return int(str(v).split(".", 1)[0])


def lab_python():
    return sys.executable


def lab_env():
    """Environment for the lab's own helper processes (lab.*, support.*, kongsim.*)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([TESTS_DIR, KONGSIM_PATH] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


class Lab:
    def __init__(self, directory):
        self.dir = os.path.abspath(directory)
        self.state_path = os.path.join(self.dir, "lab.json")
        self.state = None
        if os.path.exists(self.state_path):
            with open(self.state_path) as f:
                self.state = json.load(f)

    # -- paths ----------------------------------------------------------------------------------
    def p(self, *parts):
        return os.path.join(self.dir, *parts)

    @property
    def sock(self):
        return self.p("haproxy.sock")

    def node_dir(self, name):
        return self.p("nodes", name)

    def save(self):
        tmp = self.state_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state, f, indent=2, sort_keys=True)
        os.replace(tmp, self.state_path)

    # -- planning -------------------------------------------------------------------------------
    @staticmethod
    def plan(topology, subnet="127.0.1", version=DEFAULT_VERSION, nodes=3, data_planes=3, offer=None, dual_cp=False):
        if topology not in TOPOLOGIES:
            raise LabError("unknown topology %r (one of: %s)" % (topology, ", ".join(TOPOLOGIES)))
        count = data_planes if topology == "hybrid" else nodes
        if not 1 <= count <= MAX_NODES:
            raise LabError("node count must be between 1 and %d" % MAX_NODES)
        octets = subnet.split(".")
        if len(octets) != 3 or octets[0] != "127" or not all(o.isdigit() and 0 <= int(o) <= 255 for o in octets):
            raise LabError("--subnet must be three octets in 127.0.0.0/8, e.g. 127.0.1")
        if subnet == "127.0.0":
            raise LabError("--subnet 127.0.0 is reserved for PostgreSQL, the echo server and HAProxy")

        def addr(i):
            return "%s.%d" % (subnet, i)

        nodes_out, dbs = [], {}
        if topology in ("traditional", "dual"):
            dbs["pg_x" if topology == "dual" else "pg_main"] = {"bootstrap": True}
            for i in range(1, count + 1):
                nodes_out.append({"name": ("x%d" if topology == "dual" else "kong%d") % i, "role": "traditional",
                                  "address": addr(i), "database": "pg_x" if topology == "dual" else "pg_main",
                                  "group": "kong_traditional", "in_lb": True, "start": True})
            if topology == "dual":
                dbs["pg_y"] = {"bootstrap": False}
                for i in range(1, count + 1):
                    nodes_out.append({"name": "y%d" % i, "role": "traditional", "address": addr(100 + i), "database": "pg_y",
                                      "group": "kong_traditional_y", "in_lb": True, "start": False})
        elif topology == "dbless":
            for i in range(1, count + 1):
                nodes_out.append({"name": "dbless%d" % i, "role": "dbless", "address": addr(i), "database": None,
                                  "group": "kong_dbless", "in_lb": True, "start": True})
        else:
            dbs["pg_main"] = {"bootstrap": True}
            nodes_out.append({"name": "cp1", "role": "control_plane", "address": addr(1), "database": "pg_main",
                              "group": "kong_control_plane", "in_lb": False, "start": True})
            for i in range(1, count + 1):
                nodes_out.append({"name": "dp%d" % i, "role": "data_plane", "address": addr(1 + i), "database": None,
                                  "group": "kong_data_plane", "in_lb": True, "start": True})
            if dual_cp:
                # dual-cluster control plane: a second database server (empty) and a CP host prepared for Y
                dbs["pg_y"] = {"bootstrap": False}
                nodes_out.append({"name": "cpy1", "role": "control_plane", "address": addr(101), "database": "pg_y",
                                  "group": "kong_control_plane_y", "in_lb": False, "start": False})
        offered = [version] + [v for v in (offer or [DEFAULT_TARGET]) if v != version]
        if dual_cp and topology != "hybrid":
            raise LabError("--dual-cp is for the hybrid topology (use the dual topology for traditional clusters)")
        return {"topology": topology, "subnet": subnet, "version": version, "offer": offered,
                "databases": dbs, "nodes": nodes_out}

    # -- up ------------------------------------------------------------------------------------
    def up(self, topology, subnet="127.0.1", version=DEFAULT_VERSION, nodes=3, data_planes=3, offer=None, seed_config=True,
           wait=True, strict_lb=False, dual_cp=False):
        plan = self.plan(topology, subnet, version, nodes, data_planes, offer, dual_cp)
        t0 = time.monotonic()
        if self.state:
            same = all(self.state.get(k) == plan[k] for k in ("topology", "subnet", "version")) and \
                [n["name"] for n in self.state["nodes"]] == [n["name"] for n in plan["nodes"]]
            if not same:
                raise LabError("a lab is already up in %s (topology %s, version %s, %d nodes); run 'labctl down' first"
                               % (self.dir, self.state["topology"], self.state["version"], len(self.state["nodes"])))
            for v in plan["offer"]:
                if v not in self.state["offer"]:
                    self.state["offer"].append(v)
            _log("lab already up in %s: checking every component" % self.dir)
        else:
            self._check_addresses_free(plan)
            _check_traversable(os.path.dirname(self.dir))
            os.makedirs(self.dir, exist_ok=True)
            os.chmod(self.dir, 0o755)
            self.state = dict(plan, dir=self.dir, python=lab_python(), created_at=_now(), seeded=False,
                              echo={"host": "127.0.0.1", "port": procs.free_port()},
                              haproxy={"host": "127.0.0.1", "port": procs.free_port(), "backend": BACKEND,
                                       "strict": bool(strict_lb)},
                              stats_port=None)
            self.save()
        timings = {}

        def phase(name, fn, *args):
            t = time.monotonic()
            fn(*args)
            timings[name] = round(time.monotonic() - t, 2)

        self._layout()
        # PostgreSQL servers (the slowest part: initdb) come up while the rest is prepared
        with ThreadPoolExecutor(max_workers=1) as ex:
            dbs = ex.submit(phase, "databases", self._databases)
            phase("repository", self._repo, self.state["offer"])
            phase("certificates", self._certs)
            phase("echo", self._echo)
            dbs.result()
        phase("node_dirs", self._node_dirs)
        phase("bootstrap", self._bootstrap_all)
        phase("start_nodes", self._start_nodes)
        if seed_config and not self.state.get("seeded"):
            phase("seed", self._seed)
        phase("haproxy", self._haproxy)
        inventory_mod.write(self)
        self.save()
        if wait:
            phase("ready", self.wait_ready)
        self.state["up_seconds"] = round(time.monotonic() - t0, 2)
        self.state["up_timings"] = timings
        self.save()
        return self.state

    def _check_addresses_free(self, plan):
        addrs = {n["address"] for n in plan["nodes"]}
        busy = procs.listening_on(addresses=addrs)
        if busy:
            raise LabError("addresses of subnet %s are in use (%s); choose another --subnet or run 'labctl down'"
                           % (plan["subnet"], ", ".join("%s:%d" % s for s in busy[:5])))

    def _layout(self):
        for d in ("bin", "repo", "pg", "nodes", "haproxy", "logs", "certs", "group_vars/all"):
            os.makedirs(self.p(d), exist_ok=True)
        for script in ("kong-install", "kong-service"):
            src = os.path.join(LAB_PKG_DIR, "bin", script)
            dst = self.p("bin", script)
            shutil.copyfile(src, dst)
            os.chmod(dst, 0o755)

    def _repo(self, versions):
        """The local package repository: one kongsim install per offered version."""
        for v in versions:
            dest = self.p("repo", v)
            if os.path.exists(os.path.join(dest, "bin", "kong")):
                continue
            r = subprocess.run([lab_python(), "-m", "kongsim.install", "--version", v, "--dest", dest, "--python", lab_python()],
                               capture_output=True, text=True, env=lab_env(), check=False)
            if r.returncode != 0:
                shutil.rmtree(dest, ignore_errors=True)
                raise LabError("cannot add Kong %s to the lab repository: %s" % (v, (r.stderr or r.stdout).strip()))

    def add_to_repo(self, versions):
        self._require_up()
        self._repo(versions)
        for v in versions:
            if v not in self.state["offer"]:
                self.state["offer"].append(v)
        self.save()

    def _certs(self):
        crt, key = self.p("certs", "cluster.crt"), self.p("certs", "cluster.key")
        if self.state["topology"] != "hybrid" or (os.path.exists(crt) and os.path.exists(key)):
            return
        old = os.umask(0o077)
        try:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes",
                            "-keyout", key, "-out", crt, "-days", "1095", "-subj", "/CN=kong_clustering"],
                           check=True, capture_output=True)
        finally:
            os.umask(old)
        os.chmod(key, 0o600)
        os.chmod(crt, 0o644)

    def _echo(self):
        e = self.state["echo"]
        pidfile = self.p("echo.pid")
        if procs.owned(procs.read_pid(pidfile), "lab.echo"):
            return
        procs.spawn_detached([lab_python(), "-m", "lab.echo", "--host", e["host"], "--port", str(e["port"]),
                              "--pidfile", pidfile], self.p("logs", "echo.log"), env=lab_env())
        if not procs.wait_port(e["host"], e["port"], 10):
            raise LabError("echo server did not start on %s:%d (see %s)" % (e["host"], e["port"], self.p("logs", "echo.log")))

    def _databases(self):
        from support.pgcluster import PgCluster  # noqa: E402  (tests/ is on sys.path via labctl)

        def create(item):
            name, db = item
            pg = PgCluster.create(self.p("pg", name))
            pg.create_database("kong", owner="kong")
            db.update({"host": pg.host, "port": pg.port, "database": "kong", "user": "kong", "superuser": "postgres",
                       "socket_dir": pg.sockdir, "base": pg.base, "bindir": pg.bindir})

        items = sorted(self.state["databases"].items())
        if items:
            with ThreadPoolExecutor(max_workers=len(items)) as ex:
                list(ex.map(create, items))

    def pg_password(self):
        from support.pgcluster import KONG_PASSWORD
        return KONG_PASSWORD

    # -- nodes ---------------------------------------------------------------------------------
    def node_conf(self, node):
        """kong.conf keys (real Kong keys) for a node."""
        a = node["address"]
        d = self.node_dir(node["name"])
        # Like Kong's nginx template: a control plane has no proxy server and a data plane no Admin API,
        # so the lab turns those listeners off explicitly (a default would mean 0.0.0.0 / 127.0.0.1).
        conf = [
            ("prefix", os.path.join(d, "prefix")),
            ("log_level", "notice"),
            ("proxy_listen", "off" if node["role"] == "control_plane" else "%s:%d" % (a, PROXY_PORT)),
            ("admin_listen", "off" if node["role"] == "data_plane" else "%s:%d" % (a, ADMIN_PORT)),
            ("status_listen", "%s:%d" % (a, STATUS_PORT)),
            ("nginx_worker_processes", "1"),
        ]
        if node["role"] in ("traditional", "control_plane"):
            db = self.state["databases"][node["database"]]
            conf += [("database", "postgres"), ("pg_host", db["host"]), ("pg_port", str(db["port"])),
                     ("pg_database", db["database"]), ("pg_user", db["user"]), ("pg_password", self.pg_password()),
                     ("pg_timeout", "5000"), ("db_update_frequency", "1")]
        if node["role"] == "dbless":
            conf += [("database", "off"), ("declarative_config", os.path.join(d, "etc", "kong", "kong.yml"))]
        if node["role"] in ("control_plane", "data_plane"):
            conf += [("role", node["role"]), ("cluster_cert", self.p("certs", "cluster.crt")),
                     ("cluster_cert_key", self.p("certs", "cluster.key")),
                     ("lua_ssl_trusted_certificate", self.p("certs", "cluster.crt"))]
        if node["role"] == "control_plane":
            conf += [("cluster_listen", "%s:%d" % (a, CLUSTER_PORT))]
        if node["role"] == "data_plane":
            cp = self.control_plane()
            conf += [("database", "off"), ("cluster_control_plane", "%s:%d" % (cp["address"], CLUSTER_PORT))]
        return conf

    def node_setting(self, node, key):
        """``key`` as the node runs with it (<prefix>/.kong_env while it runs, which Kong writes at start), else as its
        kong.conf sets it; None when neither sets it."""
        d = self.node_dir(node["name"])
        files = [os.path.join(d, "etc", "kong", "kong.conf")]
        if self.node_pid(node["name"]):
            files.insert(0, os.path.join(d, "prefix", ".kong_env"))
        for path in files:
            value = conf_value(path, key)
            if value is not None:
                return value
        return None

    def cluster_endpoint(self, cp):
        """host:port a data plane names in cluster_control_plane to reach control plane ``cp``."""
        listen = (self.node_setting(cp, "cluster_listen") or "").split(",")[0].split()
        return listen[0] if listen else "%s:%d" % (cp["address"], CLUSTER_PORT)

    def control_plane(self):
        for n in self.state["nodes"]:
            if n["role"] == "control_plane":
                return n
        return None

    def _node_dirs(self):
        version = self.state["version"]
        for node in self.state["nodes"]:
            d = self.node_dir(node["name"])
            for sub in ("etc/kong", "prefix", "releases", "bin"):
                os.makedirs(os.path.join(d, sub), exist_ok=True)
            conf_path = os.path.join(d, "etc", "kong", "kong.conf")
            if not os.path.exists(conf_path):
                text = "# kong.conf of lab node %s (%s) - written by tests/lab\n" % (node["name"], node["role"])
                text += "".join("%s = %s\n" % kv for kv in self.node_conf(node))
                fd = os.open(conf_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(text)
            if node["role"] == "dbless":
                decl = os.path.join(d, "etc", "kong", "kong.yml")
                if not os.path.exists(decl):
                    e = self.state["echo"]
                    with open(decl, "w") as f:
                        f.write(seed.declarative(e["host"], e["port"], version_major(version)))
            if node["start"] and not os.path.exists(os.path.join(d, "current")):
                self.install(node["name"], version)

    def install(self, name, version):
        """Install ``version`` on node ``name`` with the same hook a role uses."""
        r = subprocess.run([self.p("bin", "kong-install"), self.node_dir(name), version], capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise LabError("kong-install %s %s failed: %s" % (name, version, (r.stderr or r.stdout).strip()))
        return r.stdout.strip()

    def service(self, name, action, env=None, check=True):
        full_env = dict(os.environ)
        full_env.update(env or {})
        r = subprocess.run([self.p("bin", "kong-service"), self.node_dir(name), action], capture_output=True, text=True,
                           env=full_env, check=False)
        if check and r.returncode != 0:
            raise LabError("kong-service %s %s failed (exit %d): %s" % (name, action, r.returncode,
                                                                        (r.stderr + r.stdout).strip()))
        return r

    def kong(self, name, args, env=None):
        """Run the node's current ``kong`` with ``args``; returns the CompletedProcess."""
        full_env = dict(os.environ)
        full_env.update(env or {})
        return subprocess.run([os.path.join(self.node_dir(name), "bin", "kong")] + list(args), capture_output=True,
                              text=True, env=full_env, check=False)

    def node_pid(self, name):
        pid = procs.read_pid(os.path.join(self.node_dir(name), "prefix", "pids", "nginx.pid"))
        return pid if procs.pid_alive(pid) else None

    def node(self, name):
        for n in self.state["nodes"]:
            if n["name"] == name:
                return n
        raise LabError("no node %s in the lab" % name)

    def _bootstrap(self, dbname):
        db = self.state["databases"][dbname]
        if not db.get("bootstrap") or db.get("bootstrapped"):
            return
        first = next(n for n in self.state["nodes"] if n["database"] == dbname)
        conf = os.path.join(self.node_dir(first["name"]), "etc", "kong", "kong.conf")
        r = self.kong(first["name"], ["migrations", "bootstrap", "-c", conf])
        if r.returncode != 0:
            raise LabError("kong migrations bootstrap (%s) failed: %s" % (first["name"], (r.stderr or r.stdout).strip()))
        db["bootstrapped"] = True
        self.save()

    def _bootstrap_all(self):
        for dbname in sorted(self.state["databases"]):
            self._bootstrap(dbname)

    def _start_nodes(self):
        # all at once: data planes started before their control plane listens retry (like Kong's)
        todo = [n for n in self.state["nodes"] if n["start"] and not self.node_pid(n["name"])]
        if not todo:
            return
        with ThreadPoolExecutor(max_workers=min(8, len(todo))) as ex:
            results = list(ex.map(lambda n: (n, self.service(n["name"], "start", check=False)), todo))
        bad = [(n["name"], r) for n, r in results if r.returncode != 0]
        if bad:
            raise LabError("; ".join("node %s did not start (exit %d): %s" % (name, r.returncode, (r.stderr + r.stdout).strip())
                                     for name, r in bad))

    def _seed(self):
        e = self.state["echo"]
        major = version_major(self.state["version"])
        writers = [n for n in self.state["nodes"] if n["start"] and n["role"] in ("traditional", "control_plane")]
        notes = []
        if writers:
            notes = seed.seed_admin(self.admin_url(writers[0]), e["host"], e["port"], major)
        for note in notes:
            _log("seed: %s" % note)
        self.state["seeded"] = True
        self.state["seed_notes"] = notes
        self.save()

    def admin_url(self, node):
        return "http://%s:%d" % (node["address"], ADMIN_PORT)

    def proxy_url(self, node):
        return "http://%s:%d" % (node["address"], PROXY_PORT)

    def status_url(self, node):
        return "http://%s:%d" % (node["address"], STATUS_PORT)

    def lb_url(self):
        h = self.state["haproxy"]
        return "http://%s:%d" % (h["host"], h["port"])

    # -- haproxy -------------------------------------------------------------------------------
    def _haproxy(self):
        h = self.state["haproxy"]
        servers = [{"name": n["name"], "host": n["address"], "port": PROXY_PORT, "check_port": STATUS_PORT,
                    "disabled": not n["start"]} for n in self.state["nodes"] if n["in_lb"]]
        cfg = self.p("haproxy", "haproxy.cfg")
        pidfile = self.p("haproxy", "haproxy.pid")
        with open(cfg, "w") as f:
            f.write(haproxy.render_config(h["host"], h["port"], servers, self.sock, pidfile, backend=BACKEND,
                                          retry=not h.get("strict")))
        h.update({"config": cfg, "pidfile": pidfile, "socket": self.sock})
        if procs.owned(procs.read_pid(pidfile), "haproxy"):
            return
        haproxy.start(cfg, pidfile)
        if not procs.wait_port(h["host"], h["port"], 5):
            raise LabError("haproxy does not listen on %s:%d" % (h["host"], h["port"]))

    def wait_ready(self, timeout=30.0):
        """Every started node answers the seeded route, and HAProxy sees them UP."""
        deadline = time.monotonic() + timeout
        pending = [n for n in self.state["nodes"] if n["start"] and n["role"] != "control_plane"]
        last = {}
        while pending and time.monotonic() < deadline:
            still = []
            for n in pending:
                code = http_status(self.proxy_url(n) + seed.LOAD_PATH)
                last[n["name"]] = code
                if code != 200:
                    still.append(n)
            pending = still
            if pending:
                time.sleep(0.1)
        if pending:
            raise LabError("nodes not serving %s after %.0f s: %s" % (seed.LOAD_PATH, timeout, ", ".join(
                "%s (%s)" % (n["name"], last.get(n["name"])) for n in pending)))
        for n in self.state["nodes"]:
            if n["in_lb"] and n["start"]:
                haproxy.wait_server_status(self.sock, BACKEND, n["name"], ("UP",), timeout=max(1.0, deadline - time.monotonic()))

    # -- status ----------------------------------------------------------------------------------
    def _require_up(self):
        if not self.state:
            raise LabError("no lab in %s (run 'labctl up TOPOLOGY')" % self.dir)

    def status(self):
        self._require_up()
        rows = []
        for name, db in sorted(self.state["databases"].items()):
            pid = procs.read_pid(os.path.join(db.get("base", self.p("pg", name)), "data", "postmaster.pid"))
            rows.append({"component": name, "kind": "postgresql", "address": "%s:%s" % (db.get("host"), db.get("port")),
                         "pid": pid, "alive": procs.pid_alive(pid), "version": None, "health": "-"})
        e = self.state["echo"]
        pid = procs.read_pid(self.p("echo.pid"))
        rows.append({"component": "echo", "kind": "upstream", "address": "%s:%d" % (e["host"], e["port"]), "pid": pid,
                     "alive": procs.owned(pid, "lab.echo"), "version": None, "health": "-"})
        h = self.state["haproxy"]
        pid = procs.read_pid(self.p("haproxy", "haproxy.pid"))
        lb_alive = procs.owned(pid, "haproxy")
        rows.append({"component": "haproxy", "kind": "load_balancer", "address": "%s:%d" % (h["host"], h["port"]), "pid": pid,
                     "alive": lb_alive, "version": None, "health": "-"})
        lb_status = {}
        if lb_alive:
            try:
                lb_status = {r["svname"]: r["status"] for r in haproxy.show_stat(self.sock) if r["pxname"] == BACKEND}
            except OSError:
                pass
        # every running control plane's list of data planes (X's and, after a dual-cluster CP upgrade, Y's): a data
        # plane moved to Y's control plane keeps a stale row in X's list (Kong purges rows only after
        # cluster_data_plane_purge_delay, 14 days by default)
        cps = [n for n in self.state["nodes"] if n["role"] == "control_plane"]
        endpoints = {self.cluster_endpoint(cp): cp["name"] for cp in cps}
        lists = {}
        for cp in cps:
            if self.node_pid(cp["name"]):
                st, doc = get_json(self.admin_url(cp) + "/clustering/data-planes")
                if st == 200:
                    lists[cp["name"]] = {d.get("ip"): d for d in (doc or {}).get("data", [])}
        for n in self.state["nodes"]:
            pid = self.node_pid(n["name"])
            version, health, extra = None, "stopped", {}
            if pid and n["role"] == "data_plane":
                # no Admin API on a data plane: its version as the control plane it is connected to sees it (the
                # cluster_control_plane of the conf it runs with), and its status API
                view = data_plane_view(n["address"], self.node_setting(n, "cluster_control_plane"), endpoints, lists)
                d = view["row"] or {}
                version = d.get("version")
                st, _unused = get_json(self.status_url(n) + "/status")
                health = "status %s, sync %s, cp %s" % (st, d.get("sync_status", "-"), view["control_plane"] or "-")
                if view["stale"]:
                    health += ", stale row on %s" % ", ".join("%s (%s)" % (s["control_plane"], s["version"]) for s in view["stale"])
                extra = {"control_plane": view["control_plane"], "stale_rows": view["stale"]}
            elif pid:
                st, doc = get_json(self.admin_url(n) + "/")
                version = (doc or {}).get("version") if st == 200 else None
                health = "admin %s" % st
            row = {"component": n["name"], "kind": n["role"], "address": n["address"], "pid": pid, "alive": bool(pid),
                   "version": version, "installed": installed_version(self.node_dir(n["name"])),
                   "health": health, "lb": lb_status.get(n["name"], "-") if n["in_lb"] else "-"}
            row.update(extra)
            rows.append(row)
        lp = procs.read_pid(self.p("load.pid"))
        if procs.owned(lp, "lab.load"):
            rows.append({"component": "load", "kind": "load_generator", "address": "-", "pid": lp, "alive": True,
                         "version": None, "health": "-"})
        return rows

    # -- down ------------------------------------------------------------------------------------
    def down(self):
        """End everything the lab started (by PID) and remove the lab directory."""
        if not os.path.isdir(self.dir):
            return []
        problems = []
        state = self.state or {}
        lp = procs.read_pid(self.p("load.pid"))
        procs.terminate(lp, "lab.load", timeout=5)
        pid_files = []
        nodes_root = self.p("nodes")
        names = [n["name"] for n in state.get("nodes", [])] or (sorted(os.listdir(nodes_root)) if os.path.isdir(nodes_root) else [])
        for name in names:
            pid_files.append(os.path.join(self.node_dir(name), "prefix", "pids", "nginx.pid"))

        def stop_node(pf):
            pid = procs.read_pid(pf)
            if not procs.pid_alive(pid):
                return None
            # "kong stop" first, like an operator; then the PID, in case the node's kong is broken
            kong_bin = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(pf))), "bin", "kong")
            if os.path.exists(kong_bin):
                try:
                    subprocess.run([kong_bin, "stop", "-p", os.path.dirname(os.path.dirname(pf))], capture_output=True,
                                   timeout=15, check=False)
                except subprocess.TimeoutExpired:
                    pass
            if procs.pid_alive(pid) and not procs.terminate(pid, marker="kongsim", timeout=3):
                return "node pid %d did not end" % pid
            return None

        with ThreadPoolExecutor(max_workers=8) as ex:
            problems += [r for r in ex.map(stop_node, pid_files) if r]
        if not haproxy.stop(self.p("haproxy", "haproxy.pid")):
            problems.append("haproxy did not end")
        if not procs.terminate(procs.read_pid(self.p("echo.pid")), "lab.echo", timeout=3):
            problems.append("echo server did not end")
        from support.pgcluster import PgCluster
        pg_root = self.p("pg")
        if os.path.isdir(pg_root):
            for name in sorted(os.listdir(pg_root)):
                base = os.path.join(pg_root, name)
                if os.path.exists(os.path.join(base, "cluster.json")):
                    PgCluster.load(base).destroy()
        shutil.rmtree(self.dir, ignore_errors=True)
        self.state = None
        return problems


def _check_traversable(path):
    """PostgreSQL runs as the postgres user: every ancestor of the lab must be searchable by others."""
    path = os.path.abspath(path)
    while True:
        if os.path.exists(path) and not os.stat(path).st_mode & 0o001:
            raise LabError("%s is not searchable by other users (mode %o); the postgres user could not reach the lab's "
                           "databases: choose a --dir elsewhere (e.g. under /tmp)" % (path, os.stat(path).st_mode & 0o777))
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent


def conf_value(path, key):
    """The value of ``key`` in a kong.conf-style file (``key = value``, ``#`` comments, ``\\#`` a literal #); None when
    the file or the key is absent."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    value = None
    for raw in lines:
        line = re.sub(r"(?<!\\)#.*$", "", raw).replace("\\#", "#").strip()
        k, sep, v = line.partition("=")
        if sep and k.strip().lower() == key:
            value = v.strip()  # the lab writes each key once; a repeated key: the last one
    return value


def data_plane_view(address, endpoint, endpoints, lists):
    """Which control plane a data plane is connected to, its row there, and the stale rows other control planes keep.

    ``endpoint``: the data plane's cluster_control_plane (host:port); ``endpoints``: {host:port: control plane name};
    ``lists``: {control plane name: {ip: row of its /clustering/data-planes}} for the control planes that answered.
    Returns {control_plane: name (or the endpoint when no lab control plane listens there, None when unset), row: the
    row from that control plane or None, stale: [{control_plane, version, sync_status, last_seen}] from the others}."""
    cp = endpoints.get(endpoint, endpoint) if endpoint else None
    row = lists.get(cp, {}).get(address) if cp else None
    stale = [{"control_plane": name, "version": rows[address].get("version"), "sync_status": rows[address].get("sync_status"),
              "last_seen": rows[address].get("last_seen")}
             for name, rows in sorted(lists.items()) if name != cp and address in rows]
    return {"control_plane": cp, "row": row, "stale": stale}


def installed_version(node_dir):
    try:
        with open(os.path.join(node_dir, "current", "VERSION")) as f:
            return f.read().strip()
    except OSError:
        target = os.path.realpath(os.path.join(node_dir, "current"))
        return os.path.basename(target) if os.path.isdir(target) else None


def http_status(url, timeout=1.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, ValueError):
        return None


def get_json(url, timeout=1.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"null")
        except ValueError:
            return e.code, None
    except (OSError, ValueError):
        return None, None


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
