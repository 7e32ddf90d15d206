"""Process and socket helpers: detached spawning, PID checks, listening sockets.

Every process the lab ends is ended by its PID, and only after checking that the PID still
belongs to the process the lab started (its command line contains a marker), so a recycled PID
of somebody else's process is never signalled.
"""

import os
import signal
import socket
import subprocess
import time


def pid_alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours is not alive
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return False


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def read_pid(path):
    """First line of a pid file as an int (PostgreSQL's postmaster.pid has more lines), or None."""
    try:
        with open(path) as f:
            return int(f.readline().strip() or 0) or None
    except (OSError, ValueError):
        return None


def write_pid(path, pid):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % pid)
    os.replace(tmp, path)


def owned(pid, marker):
    """True when ``pid`` is alive and its command line contains ``marker``."""
    return pid_alive(pid) and (marker is None or marker in cmdline(pid))


def terminate(pid, marker=None, sig=signal.SIGTERM, timeout=5.0):
    """Signal ``pid`` (only if it is ours), wait for it, SIGKILL it after ``timeout``.

    Returns True when the process is gone (or was never running).
    """
    if not owned(pid, marker):
        return True
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return True
    if wait_gone(pid, timeout):
        return True
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    return wait_gone(pid, 2.0)


def wait_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            _reap(pid)
            return True
        _reap(pid)
        time.sleep(0.02)
    return not pid_alive(pid)


def _reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    except OSError:
        pass


def spawn_detached(argv, log_path, env=None, cwd=None):
    """Start ``argv`` in its own session with output to ``log_path``; returns the Popen."""
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, env=env, cwd=cwd)
    finally:
        log.close()


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
