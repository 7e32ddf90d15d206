"""A lab of real hosts: every Kong node, PostgreSQL server and load balancer is a podman container running systemd,
with its own filesystem and its own sshd on its own 127.A.B.i address (realhosts.md). Ansible reaches them over SSH
as the non-root user ``kongops`` with passwordless sudo, exactly as an operator reaches a fleet.

    hostctl --dir D up in_place|traditional|dual|dbless|hybrid [--version V] [--nodes N] [--data-planes N] [--dual-cp]
                                                                [--lbs 1|2] [--subnet 127.A.B]
    hostctl --dir D status [--json] | load start|stop [--json] | down

What lives where:
- controller (this machine): the lab directory (``lab.json``, ``inventory.yml``, ``group_vars/all/secrets.yml`` 0600,
  the SSH key), the package server (Kong's repositories, one per release line, on 127.0.0.1), the echo upstream and
  the load generator;
- each host: what a real one has. Kong nodes: ``kong`` / ``kong-enterprise-edition`` installed with apt from the
  repository of their release line only, held, ``/etc/kong/kong.conf``, the packaged unit enabled; PostgreSQL hosts:
  Debian's ``postgresql`` with cluster 15/main on the host's address; load balancers: Debian's ``haproxy`` with its
  runtime API socket ``/run/haproxy/admin.sock``.
Nothing is shared: no bind mount, no common path. Every container carries the label ``kongops.lab=<lab dir>``;
``down`` removes the containers by the ids it recorded and ends the processes it started by their pids.
"""

import datetime
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from hosts import image as image_mod
from hosts import packages
from lab import haproxy as haproxy_cfg
from lab import procs, seed
from lab.topology import ADMIN_PORT, BACKEND, CLUSTER_PORT, PROXY_PORT, STATUS_PORT, Lab as LocalLab

LABEL = "kongops.lab"
_STATE_LOCK = threading.RLock()
DEFAULT_VERSION = "2.8.4"
PG_PORT = 5432
PG_BINDIR = "/usr/lib/postgresql/15/bin"
LB_SOCKET = "/run/haproxy/admin.sock"
TOPOLOGIES = ("traditional", "dual", "dbless", "hybrid")
CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kongops", "hosts")


def host_name(name):
    """The machine's own host name (hostname(1)) of the fleet host with inventory name ``name``."""
    return "%s.fleet.test" % name


class HostLabError(RuntimeError):
    pass


def _log(msg):
    sys.stderr.write("[%s] hostlab: %s\n" % (datetime.datetime.now().strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def _run(argv, input_text=None, check=True, timeout=600, env=None):
    proc = subprocess.run(argv, input=input_text, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=timeout, env=env, check=False)
    if check and proc.returncode != 0:
        # Not the input: a provisioning script may carry the lab's database password.
        raise HostLabError("%s failed (exit %d)\nstderr: %s\nstdout: %s" % (
            " ".join(shlex.quote(a) for a in argv[:6]), proc.returncode, proc.stderr.strip()[-2000:], proc.stdout.strip()[-1500:]))
    return proc


def podman(*args, input_text=None, check=True, timeout=600):
    return _run(["podman"] + list(args), input_text=input_text, check=check, timeout=timeout, env=image_mod.podman_env())


class HostLab(object):
    def __init__(self, directory):
        self.dir = os.path.abspath(directory)
        self.state_path = os.path.join(self.dir, "lab.json")
        self.state = None
        if os.path.isfile(self.state_path):
            with open(self.state_path) as f:
                self.state = json.load(f)

    def p(self, *parts):
        return os.path.join(self.dir, *parts)

    def save(self):
        # Hosts start in parallel threads, each recording its container id: one writer at a time.
        with _STATE_LOCK:
            tmp = self.state_path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(self.state, f, indent=2, sort_keys=True)
            os.replace(tmp, self.state_path)

    @property
    def lab_id(self):
        return hashlib.sha256(self.dir.encode()).hexdigest()[:8]

    def container_name(self, host):
        return "kongops-%s-%s" % (self.lab_id, host)

    # -- planning -------------------------------------------------------------------------------------------------
    @staticmethod
    def plan(topology, subnet, version=DEFAULT_VERSION, nodes=3, data_planes=3, dual_cp=False, lbs=1):
        """The local lab's node plan, plus a host per database (.200+) and per load balancer (.250+)."""
        if topology not in TOPOLOGIES:
            raise HostLabError("unknown topology %r (one of: %s)" % (topology, ", ".join(TOPOLOGIES)))
        if lbs not in (1, 2):
            raise HostLabError("--lbs must be 1 or 2")
        base = LocalLab.plan(topology, subnet, version, nodes, data_planes, None, dual_cp)
        hosts = []
        for n in base["nodes"]:
            hosts.append(dict(n, kind="kong"))
        for i, name in enumerate(sorted(base["databases"])):
            hosts.append({"name": name.replace("_", "-"), "kind": "postgresql", "address": "%s.%d" % (subnet, 200 + i),
                          "database_name": name, "bootstrap": base["databases"][name]["bootstrap"]})
        for i in range(lbs):
            hosts.append({"name": "lb%d" % (i + 1), "kind": "haproxy", "address": "%s.%d" % (subnet, 250 + i)})
        return {"topology": topology, "subnet": subnet, "version": version, "hosts": hosts}

    def hosts(self, kind=None):
        return [h for h in self.state["hosts"] if kind is None or h["kind"] == kind]

    def host(self, name):
        for h in self.state["hosts"]:
            if h["name"] == name:
                return h
        raise HostLabError("no host %s in the lab" % name)

    def db_host(self, database_name):
        for h in self.hosts("postgresql"):
            if h["database_name"] == database_name:
                return h
        raise HostLabError("no PostgreSQL host for %s" % database_name)

    def control_plane(self):
        for h in self.hosts("kong"):
            if h["role"] == "control_plane" and h["start"]:
                return h
        return None

    # -- up ---------------------------------------------------------------------------------------------------------
    def up(self, topology, subnet, version=DEFAULT_VERSION, nodes=3, data_planes=3, dual_cp=False, lbs=1, seed_config=True):
        if self.state:
            raise HostLabError("a lab is already up in %s; run 'hostctl --dir %s down' first" % (self.dir, self.dir))
        plan = self.plan(topology, subnet, version, nodes, data_planes, dual_cp, lbs)
        busy = procs.listening_on(addresses={h["address"] for h in plan["hosts"]})
        if busy:
            raise HostLabError("addresses of %s are in use (%s)" % (subnet, ", ".join("%s:%d" % s for s in busy[:5])))
        t0 = time.monotonic()
        timings = {}

        def phase(name, fn, *args):
            t = time.monotonic()
            fn(*args)
            timings[name] = round(time.monotonic() - t, 1)

        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o700)
        for d in ("ssh", "logs", "group_vars/all", "certs"):
            os.makedirs(self.p(d), mode=0o700, exist_ok=True)
        self.state = dict(plan, dir=self.dir, created_at=datetime.datetime.utcnow().isoformat() + "Z", seeded=False,
                          echo={"host": "127.0.0.1", "port": procs.free_port()},
                          repo={"host": "127.0.0.1", "port": procs.free_port()}, pg_password=None)
        self.state["pg_password"] = hashlib.sha256(os.urandom(32)).hexdigest()[:24]
        self.save()
        phase("image", self._image)
        phase("packages", self._packages)
        phase("ssh_key", self._ssh_key)
        phase("echo", self._echo)
        phase("containers", self._containers)
        phase("postgresql", self._postgresql)
        phase("certificates", self._certs)
        phase("kong_install", self._kong_install)
        phase("bootstrap", self._bootstrap)
        phase("kong_start", self._kong_start)
        if seed_config:
            phase("seed", self._seed)
        phase("haproxy", self._haproxy)
        self._write_inventory()
        phase("ready", self.wait_ready)
        self.state["up_seconds"] = round(time.monotonic() - t0, 1)
        self.state["up_timings"] = timings
        self.save()
        return self.state

    def _image(self):
        self.state["image"] = image_mod.build(log=_log)
        self.save()

    def _packages(self):
        """Kong's repositories (cached per simulator version) and their server on 127.0.0.1."""
        debs = packages.build_all(os.path.join(CACHE, "debs"))
        gpg_home = os.path.join(CACHE, "gnupg")
        key = packages.make_signing_key(gpg_home, os.path.join(CACHE, "repository-key.asc"))
        root = os.path.join(CACHE, "www-%s" % packages.source_digest())
        if not os.path.isdir(root):
            tmp = root + ".tmp%d" % os.getpid()
            repos = packages.write_repositories(debs, tmp, gpg_home)
            for base in repos.values():
                shutil.copyfile(key, os.path.join(os.path.dirname(os.path.dirname(base)), "gpg.key"))
            os.replace(tmp, root)
        r = self.state["repo"]
        r["root"] = root
        proc = packages.serve(root, r["host"], r["port"], self.p("logs", "repo.log"))
        procs.write_pid(self.p("repo.pid"), proc.pid)
        if not procs.wait_port(r["host"], r["port"], 10):
            raise HostLabError("the package server did not start on %s:%d" % (r["host"], r["port"]))
        self.save()

    def repo_url(self):
        r = self.state["repo"]
        return "http://%s:%d/public/{line}/deb/debian" % (r["host"], r["port"])

    def repo_key_url(self):
        r = self.state["repo"]
        return "http://%s:%d/public/{line}/gpg.key" % (r["host"], r["port"])

    def _ssh_key(self):
        key = self.p("ssh", "id_ed25519")
        if not os.path.exists(key):
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kongops-lab", "-f", key])

    def _echo(self):
        e = self.state["echo"]
        procs.spawn_detached([sys.executable, "-m", "lab.echo", "--host", e["host"], "--port", str(e["port"]),
                              "--pidfile", self.p("echo.pid")], self.p("logs", "echo.log"), env=_py_env())
        if not procs.wait_port(e["host"], e["port"], 10):
            raise HostLabError("echo server did not start on %s:%d" % (e["host"], e["port"]))

    def _containers(self):
        # A fleet's host names are rarely its inventory names: each machine is <name>.fleet.test, and Kong reports
        # that (a data plane at its control plane), so nothing may match a node by its inventory name.
        hosts_file = "".join("%s %s %s\n" % (h["address"], host_name(h["name"]), h["name"]) for h in self.state["hosts"])
        with open(self.p("ssh", "id_ed25519.pub")) as f:
            pub = f.read()

        def start(h):
            name = self.container_name(h["name"])
            podman("rm", "-f", "--ignore", name, check=False)
            cid = podman("run", "-d", "--name", name, "--label", "%s=%s" % (LABEL, self.dir), "--systemd=always",
                         "--network", "host", "--hostname", host_name(h["name"]), self.state["image"], "/sbin/init").stdout.strip()
            with _STATE_LOCK:
                h["container"] = cid
                self.save()
            # Like cloud-init on a new machine: name resolution for the fleet, host keys, sshd on the host's own
            # address (host networking: one address per sshd), the operator's key for the login user.
            script = (
                "set -e\n"
                "cat >>/etc/hosts <<'EOF'\n%s\nEOF\n"
                "ssh-keygen -A >/dev/null\n"
                "printf 'ListenAddress %s\\n' >/etc/ssh/sshd_config.d/listen.conf\n"
                "install -d -m 0700 -o %s -g %s /home/%s/.ssh\n"
                "printf '%%s\\n' %s >/home/%s/.ssh/authorized_keys\n"
                "chown %s: /home/%s/.ssh/authorized_keys && chmod 0600 /home/%s/.ssh/authorized_keys\n"
                "for i in $(seq 1 100); do [ \"$(systemctl is-system-running 2>/dev/null)\" = running ] && break; "
                "[ \"$(systemctl is-system-running 2>/dev/null)\" = degraded ] && break; sleep 0.1; done\n"
                "systemctl enable --now ssh >/dev/null 2>&1\n"
            ) % (hosts_file.strip(), h["address"], *([image_mod.LOGIN_USER] * 3), shlex.quote(pub.strip()),
                 *([image_mod.LOGIN_USER] * 4))
            podman("exec", "-i", cid, "bash", "-s", input_text=script)
            if not procs.wait_port(h["address"], 22, 20):
                raise HostLabError("sshd of %s does not listen on %s:22" % (h["name"], h["address"]))

        with ThreadPoolExecutor(max_workers=4) as ex:
            list(ex.map(start, self.state["hosts"]))
        known = []
        for h in self.state["hosts"]:
            keys = podman("exec", h["container"], "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()
            known.append("%s %s %s\n" % (h["address"], keys[0], keys[1]))
        with open(self.p("ssh", "known_hosts"), "w") as f:
            f.writelines(known)

    def root_exec(self, host, script, check=True, timeout=600):
        """A shell script (on stdin) as root on ``host``: the lab's provisioning, like a configuration-management bootstrap."""
        h = self.host(host) if isinstance(host, str) else host
        return podman("exec", "-i", h["container"], "bash", "-s", input_text=script, check=check, timeout=timeout)

    def ssh(self, host, command, check=True, timeout=120):
        """A command on ``host`` over SSH as the login user (what the controller sees)."""
        h = self.host(host) if isinstance(host, str) else host
        return _run(["ssh"] + self.ssh_options() + ["%s@%s" % (image_mod.LOGIN_USER, h["address"]), command],
                    check=check, timeout=timeout)

    def ssh_options(self):
        return ["-i", self.p("ssh", "id_ed25519"), "-o", "UserKnownHostsFile=%s" % self.p("ssh", "known_hosts"),
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]

    def _postgresql(self):
        password = self.state["pg_password"]

        def setup(h):
            # The password reaches psql on its stdin, never a command line. Kong's role as docs/getting-started.md sets it
            # up: owner of its database, CREATEDB for the backup's test restore and a rollback's recreated database.
            sql = ("CREATE ROLE kong LOGIN CREATEDB PASSWORD '%s';\nCREATE DATABASE kong OWNER kong;\n" % password)
            script = (
                "set -e\n"
                "pg_createcluster --locale C.UTF-8 --encoding UTF8 15 main -- --auth-local=peer --auth-host=scram-sha-256 >/dev/null\n"
                "cat >/etc/postgresql/15/main/conf.d/kongops.conf <<'EOF'\n"
                "listen_addresses = '%s'\nport = %d\nmax_connections = 200\nEOF\n"
                "echo 'host all all 127.0.0.0/8 scram-sha-256' >>/etc/postgresql/15/main/pg_hba.conf\n"
                "systemctl enable --now postgresql@15-main >/dev/null 2>&1\n"
                "for i in $(seq 1 100); do pg_isready -q -h %s -p %d && break; sleep 0.1; done\n"
                "runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 <<'EOF'\n%sEOF\n"
            ) % (h["address"], PG_PORT, h["address"], PG_PORT, sql)
            self.root_exec(h, script)

        with ThreadPoolExecutor(max_workers=2) as ex:
            list(ex.map(setup, self.hosts("postgresql")))

    def _certs(self):
        if not any(h.get("role") in ("control_plane", "data_plane") for h in self.hosts("kong")):
            return
        crt, key = self.p("certs", "cluster.crt"), self.p("certs", "cluster.key")
        old = os.umask(0o077)
        try:
            _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes", "-keyout", key,
                  "-out", crt, "-days", "1095", "-subj", "/CN=kong_clustering"])
        finally:
            os.umask(old)

    def node_conf(self, h):
        """/etc/kong/kong.conf of a Kong host: Kong's keys, every listener on the host's own address."""
        a = h["address"]
        lines = ["log_level = notice", "nginx_worker_processes = 1",
                 "proxy_listen = %s" % ("off" if h["role"] == "control_plane" else "%s:%d" % (a, PROXY_PORT)),
                 "admin_listen = %s" % ("off" if h["role"] == "data_plane" else "%s:%d" % (a, ADMIN_PORT)),
                 "status_listen = %s:%d" % (a, STATUS_PORT)]
        if h["role"] in ("traditional", "control_plane"):
            db = self.db_host(h["database"])
            lines += ["database = postgres", "pg_host = %s" % db["address"], "pg_port = %d" % PG_PORT, "pg_database = kong",
                      "pg_user = kong", "pg_password = %s" % self.state["pg_password"], "pg_timeout = 5000",
                      "db_update_frequency = 1"]
        if h["role"] == "dbless":
            lines += ["database = off", "declarative_config = /etc/kong/kong.yml"]
        if h["role"] in ("control_plane", "data_plane"):
            lines += ["role = %s" % h["role"], "cluster_cert = /etc/kong/cluster.crt", "cluster_cert_key = /etc/kong/cluster.key",
                      "lua_ssl_trusted_certificate = /etc/kong/cluster.crt"]
        if h["role"] == "control_plane":
            lines += ["cluster_listen = %s:%d" % (a, CLUSTER_PORT)]
        if h["role"] == "data_plane":
            cp = self.control_plane()
            lines += ["database = off", "cluster_control_plane = %s:%d" % (cp["address"], CLUSTER_PORT)]
        return "# /etc/kong/kong.conf written by the lab (tests/hosts)\n" + "\n".join(lines) + "\n"

    def _kong_install(self):
        """Every Kong host: the repository of its release line only, the package installed and held, kong.conf."""
        version = self.state["version"]
        name = packages.package_name(version)
        line = packages.line_of(version)
        url = self.repo_url().replace("{line}", line)
        key_url = self.repo_key_url().replace("{line}", line)
        certs = {}
        if os.path.exists(self.p("certs", "cluster.crt")):
            for n in ("cluster.crt", "cluster.key"):
                with open(self.p("certs", n)) as f:
                    certs[n] = f.read()
        e = self.state["echo"]
        decl = seed.declarative(e["host"], e["port"], int(version.split(".")[0]))

        def install(h):
            parts = ["set -e",
                     "curl -fsS %s -o /usr/share/keyrings/kong-%s-archive-keyring.asc" % (shlex.quote(key_url), line),
                     "echo 'deb [signed-by=/usr/share/keyrings/kong-%s-archive-keyring.asc] %s %s main' "
                     ">/etc/apt/sources.list.d/kong-%s.list" % (line, url, packages.SUITE, line)]
            if h["start"]:
                parts += ["apt-get update -q >/dev/null",
                          "DEBIAN_FRONTEND=noninteractive apt-get install -y -q %s=%s >/dev/null" % (name, version),
                          "apt-mark hold %s >/dev/null" % name]
            parts += ["install -d -m 0755 /etc/kong",
                      "cat >/etc/kong/kong.conf <<'EOF'\n%sEOF" % self.node_conf(h),
                      "chmod 0640 /etc/kong/kong.conf"]
            if h["role"] == "dbless":
                parts += ["cat >/etc/kong/kong.yml <<'EOF'\n%sEOF" % decl, "chmod 0644 /etc/kong/kong.yml"]
            for n, text in sorted(certs.items()):
                parts += ["cat >/etc/kong/%s <<'EOF'\n%sEOF" % (n, text),
                          "chmod %s /etc/kong/%s" % ("0600" if n.endswith(".key") else "0644", n)]
            self.root_exec(h, "\n".join(parts) + "\n")

        with ThreadPoolExecutor(max_workers=4) as ex:
            list(ex.map(install, self.hosts("kong")))

    def _bootstrap(self):
        for db in self.hosts("postgresql"):
            if not db["bootstrap"]:
                continue
            first = next(h for h in self.hosts("kong") if h.get("database") == db["database_name"] and h["start"])
            self.root_exec(first, "kong migrations bootstrap -c /etc/kong/kong.conf >/dev/null\n")

    def _kong_start(self):
        unit = packages.package_name(self.state["version"])

        def start(h):
            self.root_exec(h, "systemctl enable --now %s >/dev/null 2>&1\n" % unit)
            # Kong's unit is Type=simple: systemctl returns before the node listens.
            if not procs.wait_port(h["address"], STATUS_PORT, 60):
                out = self.root_exec(h, "systemctl status --no-pager %s; journalctl -u %s --no-pager | tail -20\n" % (unit, unit),
                                     check=False)
                raise HostLabError("Kong on %s does not listen on %s:%d:\n%s" % (h["name"], h["address"], STATUS_PORT, out.stdout))

        todo = [h for h in self.hosts("kong") if h["start"]]
        with ThreadPoolExecutor(max_workers=4) as ex:
            list(ex.map(start, todo))

    def _seed(self):
        e = self.state["echo"]
        writers = [h for h in self.hosts("kong") if h["start"] and h["role"] in ("traditional", "control_plane")]
        if writers:
            self.state["seed_notes"] = seed.seed_admin("http://%s:%d" % (writers[0]["address"], ADMIN_PORT), e["host"],
                                                       e["port"], int(self.state["version"].split(".")[0]))
        self.state["seeded"] = True
        self.save()

    def _haproxy(self):
        servers = [{"name": h["name"], "host": h["address"], "port": PROXY_PORT, "check_port": STATUS_PORT,
                    "disabled": not h["start"]} for h in self.hosts("kong") if h["in_lb"]]
        for lb in self.hosts("haproxy"):
            text = haproxy_cfg.render_config(lb["address"], PROXY_PORT, servers, LB_SOCKET, "/run/haproxy.pid", backend=BACKEND)
            # Debian's unit runs haproxy -Ws (master-worker under systemd): no 'daemon' of its own.
            text = "\n".join(ln for ln in text.splitlines() if ln.strip() != "daemon") + "\n"
            self.root_exec(lb, "set -e\ncat >/etc/haproxy/haproxy.cfg <<'EOF'\n%sEOF\nhaproxy -c -q -f /etc/haproxy/haproxy.cfg\n"
                               "systemctl enable --now haproxy >/dev/null 2>&1\n" % text)
            if not procs.wait_port(lb["address"], PROXY_PORT, 10):
                raise HostLabError("haproxy on %s does not listen on %s:%d" % (lb["name"], lb["address"], PROXY_PORT))

    def lb_url(self, index=0):
        return self.lb_urls()[index]

    def lb_urls(self):
        return ["http://%s:%d" % (h["address"], PROXY_PORT) for h in self.hosts("haproxy")]

    def wait_ready(self, timeout=60.0):
        """Every started node serving the seeded route through its own proxy, and UP in every HAProxy."""
        deadline = time.monotonic() + timeout
        pending = [h for h in self.hosts("kong") if h["start"] and h["role"] != "control_plane"]
        last = {}
        while pending and time.monotonic() < deadline:
            still = []
            for h in pending:
                # Without the seed only a DB-less node (its declarative file) has the route: the others answer /status.
                url = ("http://%s:%d%s" % (h["address"], PROXY_PORT, seed.LOAD_PATH) if self.state["seeded"] or h["role"] == "dbless"
                       else "http://%s:%d/status" % (h["address"], STATUS_PORT))
                last[h["name"]] = _http_status(url)
                if last[h["name"]] != 200:
                    still.append(h)
            pending = still
            if pending:
                time.sleep(0.2)
        if pending:
            raise HostLabError("nodes not ready after %.0f s: %s" % (timeout, ", ".join(
                "%s (%s)" % (h["name"], last.get(h["name"])) for h in pending)))
        for lb in self.hosts("haproxy"):
            while time.monotonic() < deadline:
                states = self.lb_servers(lb)
                if all(states.get(h["name"], "").startswith("UP") for h in self.hosts("kong") if h["in_lb"] and h["start"]):
                    break
                time.sleep(0.2)
            else:
                raise HostLabError("HAProxy on %s does not see every started node UP: %s" % (lb["name"], self.lb_servers(lb)))

    def lb_show_stat(self, lb):
        """The load balancer's ``show stat``, read on its host through the runtime API socket."""
        out = self.root_exec(lb, "python3 -c \"import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect('%s'); "
                                 "s.sendall(b'show stat\\n'); sys.stdout.write(s.makefile().read())\"\n" % LB_SOCKET).stdout
        return haproxy_cfg.parse_stat(out)

    def lb_servers(self, lb):
        """{server: status} of the Kong backend as the load balancer's runtime API reports it."""
        return {name: v.get("status") or "" for name, v in self.lb_stats(lb)["servers"].items()}

    def lb_stats(self, lb):
        """The outage counters of the Kong backend and its servers on one load balancer (as labctl lb-stats)."""
        return haproxy_cfg.backend_stats(None, BACKEND, rows=self.lb_show_stat(lb))

    # -- inventory ----------------------------------------------------------------------------------------------
    def inventory(self):
        """What an operator would write for this fleet: addresses, the login user and its key, become, the package
        repositories; no connection plugin, hook command or lab path on a host."""
        groups = {g: {"hosts": {}} for g in ("kong_traditional", "kong_traditional_y", "kong_dbless", "kong_control_plane",
                                             "kong_control_plane_y", "kong_data_plane", "kong_database", "kong_load_balancer")}
        version = self.state["version"]
        cp = self.control_plane()
        for h in self.hosts("kong"):
            a = h["address"]
            hv = {"ansible_host": a, "kong_node_role": "traditional" if h["role"] == "dbless" else h["role"],
                  "kong_node_status_url": "http://%s:%d" % (a, STATUS_PORT),
                  "kong_node_admin_url": "" if h["role"] == "data_plane" else "http://%s:%d" % (a, ADMIN_PORT),
                  "kong_node_proxy_url": "" if h["role"] == "control_plane" else "http://%s:%d" % (a, PROXY_PORT)}
            if h["role"] != "control_plane":
                hv["kong_node_proxy_probe_path"] = seed.LOAD_PATH
            if h.get("database"):
                hv["kong_database_host"] = self.db_host(h["database"])["name"]
            if h["role"] == "dbless":
                hv["kong_node_declarative_config"] = "/etc/kong/kong.yml"
            if h["role"] == "data_plane" and cp:
                hv.update({"kong_node_cp_host": cp["name"], "kong_node_cp_admin_url": "http://%s:%d" % (cp["address"], ADMIN_PORT)})
            if h["in_lb"]:
                hv.update({"kong_lb_backend": BACKEND, "kong_lb_server": h["name"]})
            groups[h["group"]]["hosts"][h["name"]] = hv
        for db in self.hosts("postgresql"):
            groups["kong_database"]["hosts"][db["name"]] = {
                "ansible_host": db["address"], "kong_pg_host": db["address"], "kong_pg_port": PG_PORT,
                "kong_pg_database": "kong", "kong_pg_user": "kong", "kong_pg_bindir": PG_BINDIR,
                "kong_pg_bootstrapped": bool(db["bootstrap"])}
        for lb in self.hosts("haproxy"):
            groups["kong_load_balancer"]["hosts"][lb["name"]] = {"ansible_host": lb["address"]}
        for g in groups.values():
            if not g["hosts"]:
                del g["hosts"]
        return {"all": {
            "vars": {
                "ansible_user": image_mod.LOGIN_USER,
                # On 'all', as many operators write it (and the example inventories do): the controller, which has no
                # sudo here, must still run its own tasks without become.
                "ansible_become": True,
                "ansible_ssh_private_key_file": self.p("ssh", "id_ed25519"),
                "ansible_ssh_common_args": "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes" % self.p("ssh", "known_hosts"),
                "ansible_python_interpreter": "/usr/bin/python3",
                "kong_node_edition": "enterprise" if packages.edition(version) == "enterprise" else "oss",
                "kong_node_repository_url": self.repo_url().replace("{line}", "{{ kong_node_repository_line }}"),
                "kong_node_repository_key_url": self.repo_key_url().replace("{line}", "{{ kong_node_repository_line }}"),
                "kong_lb_haproxy_socket": LB_SOCKET,
                "kong_lab_load_url": "%s%s" % (self.lb_url(), seed.LOAD_PATH),
                "kong_lab_lb_url": self.lb_url(),
            },
            "children": groups,
        }}

    def _write_inventory(self):
        import yaml
        path = self.p("inventory.yml")
        with open(path + ".tmp", "w") as f:
            f.write("# Ansible inventory of a container-host lab (%s), written by 'hostctl up'. The database password is in\n"
                    "# group_vars/all/secrets.yml (0600), which Ansible loads next to this file.\n" % self.state["topology"])
            yaml.safe_dump(self.inventory(), f, sort_keys=False, default_flow_style=False)
        os.replace(path + ".tmp", path)
        secrets = self.p("group_vars", "all", "secrets.yml")
        fd = os.open(secrets + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump({"kong_pg_password": self.state["pg_password"]}, f)
        os.replace(secrets + ".tmp", secrets)
        return path

    # -- status -------------------------------------------------------------------------------------------------
    def node_facts(self, h):
        """What the host itself says: package installed and its selection (hold), unit state, running version."""
        unit = "kong-enterprise-edition kong"
        out = self.root_exec(h, "for p in %s; do dpkg-query -W -f='${Package} ${Version} ${Status}\\n' $p 2>/dev/null; done; "
                                "echo; for u in %s; do echo \"$u $(systemctl is-active $u 2>/dev/null)\"; done\n"
                                % (unit, unit), check=False).stdout
        pkg_part, _sep, unit_part = out.partition("\n\n")
        package = None
        for line in pkg_part.splitlines():
            f = line.split()
            if len(f) >= 5 and f[-1] == "installed":
                package = {"name": f[0], "version": f[1], "held": f[2] == "hold"}
        units = dict(line.split(None, 1) for line in unit_part.splitlines() if len(line.split(None, 1)) == 2)
        active = units.get(package["name"], "inactive") if package else "inactive"
        return {"package": package, "unit_active": active == "active", "running_version": self.running_version(h)}

    def running_version(self, h):
        if h["role"] == "data_plane":
            # The freshest row on any control plane: after a dual-cluster control-plane upgrade the data planes report
            # to Y's, while X's still lists their old connections.
            rows = []
            for cp in self.hosts("kong"):
                if cp["role"] == "control_plane":
                    doc = _http_json("http://%s:%d/clustering/data-planes" % (cp["address"], ADMIN_PORT))
                    rows += [r for r in (doc or {}).get("data", []) if r.get("ip") == h["address"]]
            rows.sort(key=lambda r: r.get("last_seen") or 0)
            return rows[-1]["version"] if rows else None
        doc = _http_json("http://%s:%d/" % (h["address"], ADMIN_PORT))
        version = (doc or {}).get("version")
        # Enterprise's Admin API says 3.4.3.3-enterprise-edition: the release number is what the package carries.
        return version.split("-", 1)[0] if version else version

    def status(self):
        rows = []
        for h in self.state["hosts"]:
            st = podman("inspect", "-f", "{{.State.Status}}", h["container"], check=False).stdout.strip() if h.get("container") else "-"
            row = {"host": h["name"], "kind": h["kind"], "address": h["address"], "container": st}
            if h["kind"] == "kong":
                row.update(role=h["role"], **self.node_facts(h))
            if h["kind"] == "haproxy" and st == "running":
                row["servers"] = self.lb_servers(h)
            rows.append(row)
        return rows

    # -- down -----------------------------------------------------------------------------------------------------
    def down(self):
        problems = []
        if not os.path.isdir(self.dir):
            return problems
        procs.terminate(procs.read_pid(self.p("load.pid")), "lab.load", timeout=5)
        for h in (self.state or {}).get("hosts", []):
            ref = h.get("container") or self.container_name(h["name"])
            r = podman("rm", "-f", "-t", "2", "--ignore", ref, check=False, timeout=120)
            if r.returncode != 0:
                problems.append("container %s of %s: %s" % (ref[:12], h["name"], r.stderr.strip()))
        if not procs.terminate(procs.read_pid(self.p("echo.pid")), "lab.echo", timeout=3):
            problems.append("echo server did not end")
        repo_pid = procs.read_pid(self.p("repo.pid"))
        if repo_pid and not procs.terminate(repo_pid, "ThreadingHTTPServer", timeout=3):
            problems.append("package server did not end")
        shutil.rmtree(self.dir, ignore_errors=True)
        self.state = None
        return problems


def _py_env():
    env = dict(os.environ)
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join([tests, os.path.join(tests, "kongsim")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def _http_status(url, timeout=2.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, ValueError):
        return None


def _http_json(url, timeout=3.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return json.loads(r.read() or b"null")
    except (OSError, ValueError):
        return None
