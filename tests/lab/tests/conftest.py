"""Fixtures for the lab's tests: throwaway labs on their own 127.x.y.0/24 and their own directory."""

import os
import random
import shutil
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(os.path.dirname(HERE))
for p in (TESTS, os.path.join(TESTS, "kongsim")):
    if p not in sys.path:
        sys.path.insert(0, p)
# the lab's helper processes (echo, load, kongsim) find their packages through PYTHONPATH
os.environ["PYTHONPATH"] = os.pathsep.join([TESTS, os.path.join(TESTS, "kongsim")] +
                                           ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))

from lab import procs  # noqa: E402
from lab.topology import Lab  # noqa: E402


def free_subnet():
    """A 127.x.y prefix on which nothing listens (other engineers share this machine)."""
    busy = {ip.rsplit(".", 1)[0] for ip, _unused in procs.listening_sockets()}
    for _unused in range(200):
        cand = "127.%d.%d" % (random.randint(200, 254), random.randint(1, 254))
        if cand not in busy:
            return cand
    raise RuntimeError("no free 127.x.y subnet")


def lab_pids_and_sockets(lab):
    """Every PID and listening socket that belongs to the lab (read before teardown)."""
    pids = {r["component"]: r["pid"] for r in lab.status() if r["pid"]}
    addrs = {n["address"] for n in lab.state["nodes"]}
    ports = {(lab.state["echo"]["host"], lab.state["echo"]["port"]),
             (lab.state["haproxy"]["host"], lab.state["haproxy"]["port"])}
    ports |= {(db["host"], db["port"]) for db in lab.state["databases"].values()}
    return pids, addrs, ports


def assert_nothing_left(lab_dir, pids, addrs, ports):
    alive = {name: pid for name, pid in pids.items() if procs.pid_alive(pid)}
    assert not alive, "processes left running after down: %s" % alive
    left = procs.listening_on(addresses=addrs, ports=ports)
    assert not left, "sockets still listening after down: %s" % left
    assert not os.path.exists(lab_dir), "lab directory left behind"


@pytest.fixture
def lab_parent():
    """A directory the postgres user can traverse (pytest's own tmp dirs are 0700)."""
    d = tempfile.mkdtemp(prefix="kongops-labtest-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def lab_factory(lab_parent):
    """lab_factory(topology, **up_kwargs) -> a running Lab; torn down (and checked) at the end."""
    made = []

    def make(topology, **kw):
        lab = Lab(os.path.join(lab_parent, "lab%d" % len(made)))
        made.append(lab)
        lab.up(topology, subnet=kw.pop("subnet", free_subnet()), **kw)
        return lab

    yield make
    for lab in made:
        try:
            pids, addrs, ports = lab_pids_and_sockets(lab)
        except Exception:  # a lab whose 'up' failed half-way: still tear down what exists
            lab.down()
            raise
        lab.down()
        assert_nothing_left(lab.dir, pids, addrs, ports)
