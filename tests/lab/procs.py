"""Process and socket helpers: detached spawning, PID checks, listening sockets.

Every process the lab ends is ended by its PID, and only after checking that the PID still
belongs to the process the lab started (its command line contains a marker), so a recycled PID
of somebody else's process is never signalled.

The process helpers are the simulator's (``kongsim.pids``, one implementation for the simulator,
its test tools and the lab), re-exported here; the socket helpers are the lab's own.
"""

import random
import socket
import time

from kongsim.pids import (  # noqa: F401  (re-exported: the lab's modules and tests call procs.<name>)
    cmdline, owned, pid_alive, read_pid, spawn_detached, terminate, wait_gone, write_pid)

__all__ = ["cmdline", "owned", "pid_alive", "read_pid", "spawn_detached", "terminate", "wait_gone", "write_pid",
           "free_port", "port_open", "wait_port", "listening_sockets", "listening_on", "free_subnet"]


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(host, port, timeout=0.2):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_port(host, port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return True
        time.sleep(0.02)
    return False


def _hex_to_ipv4(h):
    raw = bytes.fromhex(h)
    return ".".join(str(b) for b in reversed(raw))


def listening_sockets():
    """Set of (ip, port) of IPv4 TCP sockets in LISTEN state (from /proc/net/tcp)."""
    out = set()
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                if parts[3] != "0A":
                    continue
                addr, port = parts[1].split(":")
                out.add((_hex_to_ipv4(addr), int(port, 16)))
    except OSError:
        pass
    return out


def listening_on(addresses=None, ports=None):
    """Listening sockets whose address is in ``addresses`` or whose (ip, port) is in ``ports``."""
    addresses = set(addresses or ())
    ports = set(ports or ())
    return sorted(s for s in listening_sockets() if s[0] in addresses or s in ports)


def free_subnet(second, low=1, high=254):
    """A random ``127.<second>.<low..high>`` prefix on which nothing listens now (labs share the machine)."""
    busy = {ip.rsplit(".", 1)[0] for ip, _port in listening_sockets()}
    for _unused in range(200):
        cand = "127.%d.%d" % (second, random.randint(low, high))
        if cand not in busy:
            return cand
    raise RuntimeError("no free 127.%d.x subnet" % second)
