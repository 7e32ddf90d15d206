"""Helpers of the reliability suite (issue 8): labs, ansible-playbook runs, fingerprints, secret sampling.

Every case drives the collection's real playbooks with ``ansible-playbook`` against a lab (tests/lab) and asserts
three things: the gateway keeps serving (or the downtime is measured), the data is intact, and the operator's
message says what happened and what to do next.  Labs live in their own directory under /tmp and on a 127.73.x.0/24
subnet (this suite's range on the shared machine); each is brought down, by PID, at the end of its module.
"""

import hashlib
import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
for _p in (str(TESTS), str(TESTS / "kongsim"), str(REPO)):
    if _p not in sys.path:
        sys.path.insert(0, _p)
# the lab's helper processes (echo, load, kongsim) find their packages through PYTHONPATH
os.environ["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(TESTS / "kongsim")] +
                                           ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))

from lab import procs  # noqa: E402  pylint: disable=wrong-import-position
from lab.load import LoadGenerator  # noqa: E402  pylint: disable=wrong-import-position
from support import procsample  # noqa: E402  pylint: disable=wrong-import-position

VENV_BIN = pathlib.Path(sys.executable).parent
PLAYBOOKS = REPO / "playbooks"
# Kong tables whose rows are "the configuration" for the data-intact assertions.
CONFIG_TABLES = ("services", "routes", "plugins", "consumers", "keyauth_credentials", "upstreams", "targets",
                 "certificates", "snis", "ca_certificates")


def full_only(why):
    """Skip unless KONGOPS_RELIABILITY_FULL=1 (`scripts/test full`): cases CI's time budget leaves out; `why` names the
    CI test that covers the same ground."""
    import pytest  # pylint: disable=import-outside-toplevel
    return pytest.mark.skipif(os.environ.get("KONGOPS_RELIABILITY_FULL") != "1",
                              reason="full matrix only (KONGOPS_RELIABILITY_FULL=1); in CI: " + why)


def free_subnet(prefix="127.73"):
    """A free <prefix>.x subnet (default 127.73: this suite's range; a file may use its own, e.g. 127.81)."""
    busy = {ip.rsplit(".", 1)[0] for ip, _unused in procs.listening_sockets()}
    for _unused in range(200):
        cand = "%s.%d" % (prefix, random.randint(100, 254))
        if cand not in busy:
            return cand
    raise RuntimeError("no free %s.x subnet" % prefix)


class LabHandle:
    """A running lab plus what the tests need from it."""

    def __init__(self, lab):
        self.lab = lab
        self.dir = pathlib.Path(lab.dir)
        self.inventory = self.dir / "inventory.yml"

    # -- reading the lab ----------------------------------------------------------------------------
    def rows(self):
        return {r["component"]: r for r in self.lab.status()}

    def versions(self):
        """{node: (installed, running)} for every Kong node."""
        return {n: (r.get("installed"), r.get("version")) for n, r in self.rows().items() if r["kind"] in
                ("traditional", "control_plane", "data_plane", "dbless")}

    def node(self, name):
        return next(n for n in self.lab.state["nodes"] if n["name"] == name)

    def node_dir(self, name):
        return pathlib.Path(self.lab.node_dir(name))

    def lb_admin_state(self, name):
        """The node's administrative state at HAProxy: ready, drain or maint (its runtime API's server flags)."""
        from lab import haproxy  # pylint: disable=import-outside-toplevel
        for row in haproxy.show_servers_state(self.lab.sock):
            if row.get("srv_name") == name:
                flags = int(row["srv_admin_state"])
                # HAProxy's SRV_ADMF_* bits: 0x01/0x02/0x20/0x40 maintenance, 0x08/0x10 drain
                return "maint" if flags & 0x63 else "drain" if flags & 0x18 else "ready"
        raise KeyError("no server %s at the load balancer" % name)

    def lb_get(self, path="/echo", timeout=3.0):
        """Status code of one request through HAProxy (0 when nothing answers)."""
        try:
            with urllib.request.urlopen(self.lab.lb_url() + path, timeout=timeout) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0

    def serving(self, tries=20, delay=0.5):
        """True when the gateway answers the seeded /echo route through HAProxy (a few tries)."""
        for _unused in range(tries):
            if self.lb_get() == 200:
                return True
            time.sleep(delay)
        return False

    def pg(self, name=None):
        """The PgCluster of a lab database (stop(mode=...) / start())."""
        from support.pgcluster import PgCluster  # pylint: disable=import-outside-toplevel
        return PgCluster.load(self.database(name)["base"])

    def database(self, name=None):
        dbs = self.lab.state["databases"]
        return dbs[name] if name else dbs[sorted(dbs)[0]]

    def fingerprint(self, db_name=None):
        """Row counts and a digest of the configuration tables (ids + names; paths change legitimately across 3.0)."""
        import psycopg  # pylint: disable=import-outside-toplevel
        db = self.database(db_name)
        out = {"counts": {}, "digest": ""}
        h = hashlib.sha256()
        with psycopg.connect(host=db["host"], port=db["port"], dbname=db["database"], user=db["user"],
                             password=self.lab.pg_password(), connect_timeout=5) as conn:
            for table in CONFIG_TABLES:
                exists = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0]
                if not exists:
                    continue
                out["counts"][table] = conn.execute("SELECT count(*) FROM %s" % table).fetchone()[0]
                cols = {r[0] for r in conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s",
                                                   (table,))}
                key = "name" if "name" in cols else ("username" if "username" in cols else "id")
                for row in conn.execute("SELECT id::text, %s::text FROM %s ORDER BY id" % (key, table)):
                    h.update(("%s|%s|%s\n" % (table, row[0], row[1])).encode())
        out["digest"] = h.hexdigest()
        return out

    def declarative_sha256(self, name):
        path = self.node_dir(name) / "etc" / "kong" / "kong.yml"
        return hashlib.sha256(path.read_bytes()).hexdigest()

    # -- acting on the lab ---------------------------------------------------------------------------
    def kong_service(self, name, action):
        return subprocess.run([str(self.dir / "bin" / "kong-service"), str(self.node_dir(name)), action],
                              capture_output=True, text=True, timeout=60, check=False)

    def kong_install(self, name, version):
        return subprocess.run([str(self.dir / "bin" / "kong-install"), str(self.node_dir(name)), version],
                              capture_output=True, text=True, timeout=60, check=False)

    def set_faults(self, name, faults):
        """Fault switches of one node (kongsim reads <prefix>/kongsim_faults.json at each command)."""
        path = self.node_dir(name) / "prefix" / "kongsim_faults.json"
        if faults:
            path.write_text(json.dumps(faults))
        elif path.exists():
            path.unlink()

    def bad_inventory(self, name, edit):
        """A copy of the lab inventory, changed by ``edit(doc)``, next to the original (so group_vars still apply)."""
        doc = yaml.safe_load(self.inventory.read_text())
        edit(doc)
        path = self.dir / name
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path


# -- ansible-playbook ---------------------------------------------------------------------------------

class Run:
    """One finished ansible-playbook run.

    output is stdout only (what the recap and the results are parsed from); err is stderr (warnings, deprecations,
    ERROR! lines), kept apart so that a third-party warning cannot break the parsing.
    """

    def __init__(self, rc, output, cmdlines, elapsed, killed=False, err=""):
        self.rc = rc
        self.output = output
        self.err = err
        # both streams with whitespace collapsed, for searching the operator's message: the YAML callback folds long
        # messages across lines
        self.text = " ".join((output + "\n" + err).split())
        self.cmdlines = cmdlines
        self.elapsed = elapsed
        self.killed = killed

    def __repr__(self):
        return "Run(rc=%s, %.1fs, stderr: %s\nlast output: %s)" % (self.rc, self.elapsed, self.err[-2000:], self.output[-3000:])


def playbook_env(tmp):
    coll = pathlib.Path(tmp) / "collections"
    link = coll / "ansible_collections" / "kongops" / "upgrade"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(REPO, target_is_directory=True)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(coll), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_LOCAL_TEMP=str(pathlib.Path(tmp) / "ansible-tmp"), ANSIBLE_RETRY_FILES_ENABLED="0",
               ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_CALLBACK_RESULT_FORMAT="yaml",
               PATH=str(VENV_BIN) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("KONGSIM_FAULTS", None)
    return env


def write_private(path, text):
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def run_playbook(playbook, inventory, tmp, extra=None, args=(), sample=False, kill_when=None, timeout=900, env_extra=None,
                 hooks=()):
    """Run ansible-playbook; extra vars go through a 0600 file (never the command line).

    sample: record the command line of every descendant process the whole time (Run.cmdlines).
    kill_when: a function(stdout_so_far) -> bool; when it returns True the whole ansible-playbook process group is
    SIGKILLed (an operator's kill -9 or a lost AWX job), and Run.killed is True.
    hooks: (predicate(stdout_so_far), action()) pairs; each action runs once, as soon as its predicate holds (a fault
    injected at a given step of the run).
    """
    pending_hooks = list(hooks)
    tmp = pathlib.Path(tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    env = playbook_env(tmp)
    env.update(env_extra or {})
    book = PLAYBOOKS / playbook if "/" not in str(playbook) else pathlib.Path(playbook)
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(book)]
    if extra:
        vars_file = write_private(tmp / ("vars-%d.json" % time.monotonic_ns()), json.dumps(extra))
        cmd += ["-e", "@" + str(vars_file)]
    cmd += list(args)
    stamp = time.monotonic_ns()
    log = tmp / ("run-%d.log" % stamp)
    err_log = tmp / ("run-%d.stderr.log" % stamp)
    seen, tree = set(), set()
    t0 = time.monotonic()
    killed = False
    with open(str(log), "wb") as out, open(str(err_log), "wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=str(tmp), start_new_session=True)
        try:
            while proc.poll() is None:
                if time.monotonic() - t0 > timeout:
                    os.killpg(proc.pid, signal.SIGKILL)
                    break
                if sample:
                    procsample.sample(proc.pid, tree, seen)
                text = log.read_text(errors="replace") if (kill_when is not None or pending_hooks) else ""
                for hook in list(pending_hooks):
                    if hook[0](text):
                        pending_hooks.remove(hook)
                        hook[1]()
                if kill_when is not None and kill_when(text):
                    os.killpg(proc.pid, signal.SIGKILL)
                    killed = True
                    break
                time.sleep(0.02 if sample else 0.1)
        finally:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait()
    _reap_group(proc.pid)
    return Run(proc.returncode, log.read_text(errors="replace"), seen, time.monotonic() - t0, killed,
               err=err_log.read_text(errors="replace"))


def _reap_group(pgid):
    """After a SIGKILL nothing of the killed run may keep running (module processes detach rarely, but check)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(0.1)


class Load:
    """A paced load through HAProxy in a thread: the 'gateway keeps serving' measurement."""

    def __init__(self, url, rate=20):
        self.gen = LoadGenerator(url, rate, max_lag=1.0, timeout=3.0)
        self.result = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        self.result = self.gen.run()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.gen.stop()
        self.thread.join(30)


REFUSED = "problem(s); nothing was changed"


def assert_refused(run, lab, versions_before, fingerprint_before=None, backup_dir=None):
    """A preflight refusal, asserted three ways; returns the listed problems (the text after the summary line).

    - the operator's message: non-zero exit and the preflight's summary "N problem(s); nothing was changed";
    - nothing changed: versions installed and running, the database fingerprint, no backup, changed=0 on every host;
    - the gateway still serves through HAProxy.
    """
    assert run.rc != 0, run
    assert REFUSED in run.output, run
    assert lab.versions() == versions_before
    if fingerprint_before is not None:
        assert lab.fingerprint() == fingerprint_before
    if backup_dir is not None:
        assert not backup_dir.exists() or not any(backup_dir.iterdir()), sorted(backup_dir.rglob("*"))
    recap = [line for line in run.output.splitlines() if " : ok=" in line]
    assert recap, run
    for line in recap:
        assert "changed=0" in line, line
    assert lab.serving()
    return run.text[run.text.index(REFUSED):]
