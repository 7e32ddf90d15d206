"""Process helpers shared by the simulator (``kong start/stop/quit``), its test tools and the lab.

One implementation of each: is a PID alive (kill -0, not a zombie), whose is it (its command line),
the PID in a pid file, waiting for a PID to be gone, ending a PID that is still ours, and starting a
detached process.  ``tests/lab/procs.py`` re-exports these; ``kongsim.process`` and
``kongsim.nodetools`` use them.  Nothing here is part of the contract of the ``kong`` command.
"""

import os
import signal
import subprocess
import time


def pid_alive(pid):
    """kill -0 succeeds and the process is not a zombie (Kong's ``kill.is_running``, minus zombies)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by another user
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False  # gone between the kill and the read


def _proc_text(pid, name):
    """/proc/<pid>/<name> (NUL-separated) as one space-separated string; '' when gone or not readable."""
    try:
        with open("/proc/%d/%s" % (pid, name), "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def cmdline(pid):
    """The command line of ``pid`` as one string ('' when it is gone)."""
    return _proc_text(pid, "cmdline")


def environ(pid):
    """The environment of ``pid`` as one string ('' when it is gone or not readable)."""
    return _proc_text(pid, "environ")


def read_pid(path):
    """First line of a pid file as an int (PostgreSQL's postmaster.pid has more lines), or None."""
    try:
        with open(path) as f:
            return int(f.readline().strip() or 0) or None
    except (OSError, ValueError):
        return None


def nginx_pid(prefix):
    """The PID a Kong prefix records (``<prefix>/pids/nginx.pid``), or None."""
    return read_pid(os.path.join(prefix, "pids", "nginx.pid"))


def write_pid(path, pid):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % pid)
    os.replace(tmp, path)


def owned(pid, marker):
    """True when ``pid`` is alive and its command line contains ``marker`` (any live PID when marker is None)."""
    return pid_alive(pid) and (marker is None or marker in cmdline(pid))


def _reap(pid):
    """Collect ``pid`` if it is a child of this process that has exited (no zombie left behind)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except OSError:  # not our child, or already collected
        pass


def wait_gone(pid, timeout, interval=0.02):
    """Wait up to ``timeout`` seconds for ``pid`` to end; True when it is gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not pid_alive(pid):
            return True
        time.sleep(interval)
    _reap(pid)
    return not pid_alive(pid)


def terminate(pid, marker=None, sig=signal.SIGTERM, timeout=5.0):
    """Signal ``pid`` (only if it is ours, see :func:`owned`), wait for it, SIGKILL it after ``timeout``.

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


def spawn_detached(argv, log_path, env=None, cwd=None):
    """Start ``argv`` in its own session, stdin from /dev/null, output appended to ``log_path``; returns the Popen."""
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, env=env, cwd=cwd)
    finally:
        log.close()
