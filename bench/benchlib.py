"""Shared helpers of bench/downtime.py and bench/overhead.py: a lab (tests/lab) that is always torn down, the playbook
run with the bench_timer callback, the lab's load generator, and plain-text tables.

Nothing here is part of the collection; it drives the sandbox from a clone (`.venv` made by scripts/setup).
"""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(REPO, ".venv", "bin")
LABCTL = os.path.join(REPO, "tests", "lab", "labctl")


class BenchError(Exception):
    pass


def _terminate(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def install_signal_handlers():
    """SIGTERM/SIGHUP behave like Ctrl-C, so every `finally` tears its lab down."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)


def stderr_log(log):
    """Where run() writes the stderr of a command whose stdout goes to the file ``log``."""
    return log + ".stderr"


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _streams_tail(out, err, limit=600):
    """stderr and the tail of stdout, for an error message."""
    parts = ["stderr: %s" % err.strip()[-limit:]] if err.strip() else []
    if out.strip():
        parts.append("stdout: %s" % out.strip()[-limit:])
    return "; ".join(parts) or "no output"


def run(argv, timeout=None, env=None, log=None, check=True):
    """Runs argv (a list, never a shell string); returns (rc, seconds, stdout). The child is ended on Ctrl-C.

    stderr is kept apart from the stdout returned (with ``log``: stdout appended to log, stderr to stderr_log(log)), so
    that a warning on stderr never gets into what the callers parse; it is in the BenchError when check fails.
    """
    t0 = time.monotonic()
    out = open(log, "a") if log else subprocess.PIPE  # noqa: SIM115 (closed below)
    err = open(stderr_log(log), "a") if log else subprocess.PIPE  # noqa: SIM115 (closed below)
    try:
        p = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=REPO, text=True, start_new_session=True)
        try:
            text, err_text = p.communicate(timeout=timeout)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            raise
    finally:
        if log:
            out.close()
            err.close()
    seconds = time.monotonic() - t0
    if log:
        text, err_text = _read(log), _read(stderr_log(log))
    if check and p.returncode != 0:
        raise BenchError("%s exited %d: %s" % (os.path.basename(argv[0]), p.returncode, _streams_tail(text or "", err_text or "")))
    return p.returncode, seconds, text or ""


def last_lines(log, n=1):
    """The last n lines of what a failed command logged through run(log=...): its stderr, else its stdout."""
    return (_read(stderr_log(log)).strip() or _read(log).strip()).splitlines()[-n:]


class Lab:
    """A lab directory brought up with `labctl up` and always brought down (`with Lab(...) as lab:`)."""

    def __init__(self, directory, topology, version, offer, subnet, size_opt=None, size=None, extra=()):
        self.dir = directory
        self.args = [topology, "--version", version, "--offer", offer, "--subnet", subnet] + list(extra)
        if size_opt:
            self.args += [size_opt, str(size)]
        self.up_seconds = None
        self.state = {}

    def ctl(self, *args, check=True, timeout=900):
        return run([LABCTL, "--dir", self.dir] + list(args), timeout=timeout, check=check)

    def __enter__(self):
        if os.path.exists(self.dir):
            self.ctl("down", check=False)
            shutil.rmtree(self.dir, ignore_errors=True)
        try:
            _unused, self.up_seconds, _unused2 = self.ctl("up", *self.args, timeout=1800)
            with open(os.path.join(self.dir, "lab.json")) as f:
                self.state = json.load(f)
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc):
        self.down()
        return False

    def down(self):
        if os.path.exists(self.dir):
            self.ctl("load", "stop", check=False)
            self.ctl("down", check=False, timeout=600)

    @property
    def inventory(self):
        return os.path.join(self.dir, "inventory.yml")

    def load_start(self, rate):
        self.ctl("load", "start", "--rate", str(rate))

    def load_stop(self):
        self.ctl("load", "stop", check=False)
        with open(os.path.join(self.dir, "load.json")) as f:
            return json.load(f)

    def haproxy_health_interval(self):
        """Seconds HAProxy needs to see a node UP again: `inter` x `rise` of the backend's check (from haproxy.cfg)."""
        with open(self.state["haproxy"]["config"]) as f:
            text = f.read()
        inter = re.search(r"\binter\s+(\d+)(ms|s)?", text)
        rise = re.search(r"\brise\s+(\d+)", text)
        inter_s = (int(inter.group(1)) / (1000.0 if (inter.group(2) or "ms") == "ms" else 1.0)) if inter else 2.0
        return inter_s * (int(rise.group(1)) if rise else 2)


def ansible_playbook(lab, playbook, extra_vars, timer_out, log, timeout=7200):
    """ansible-playbook against the lab's inventory with the bench_timer callback; returns (rc, seconds, timer dict)."""
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(REPO, "collections"),
        "ANSIBLE_CALLBACK_PLUGINS": os.path.join(REPO, "bench", "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "bench_timer",
        "BENCH_TIMER_OUT": timer_out,
        "ANSIBLE_NOCOLOR": "1",
        "PATH": VENV_BIN + os.pathsep + env.get("PATH", ""),
    })
    vars_file = timer_out + ".vars.json"
    with open(vars_file, "w") as f:
        json.dump(extra_vars, f)
    if os.path.exists(timer_out):
        os.unlink(timer_out)
    rc, seconds, _unused = run([os.path.join(VENV_BIN, "ansible-playbook"), os.path.join(REPO, playbook), "-i", lab.inventory,
                                "-e", "@" + vars_file], env=env, log=log, timeout=timeout, check=False)
    timer = {}
    if os.path.exists(timer_out):
        with open(timer_out) as f:
            timer = json.load(f)
    return rc, seconds, timer


def last_failure(log, limit=160):
    """The first failed task's message in an ansible-playbook log and its stderr log (for a FAILED row)."""
    try:
        with open(log) as f:
            text = f.read()
    except OSError:
        return "no log"
    text += "\n" + _read(stderr_log(log))  # ERROR! lines are on stderr
    m = re.search(r"fatal: \[([^\]]+)\].*?(?:\"msg\"|msg): *\"?(.+)", text) or re.search(r"(ERROR!.+)", text)
    if not m:
        return "see " + log
    msg = m.group(m.lastindex).strip().strip('"')
    return (msg[:limit] + "...") if len(msg) > limit else msg


def task_window(timer, first, until):
    """Seconds from the start of the first task whose name matches `first` to the start of the next task after it
    matching `until` (regexes), or None."""
    tasks = timer.get("tasks", [])
    for i, t in enumerate(tasks):
        if re.search(first, t["name"]):
            for u in tasks[i + 1:]:
                if re.search(until, u["name"]):
                    return u["start"] - t["start"]
            return None
    return None


def tasks_seconds(timer, pattern):
    return sum(t["seconds"] for t in timer.get("tasks", []) if re.search(pattern, t["name"]))


def loadavg():
    return "%.1f %.1f %.1f" % os.getloadavg()


def table(headers, rows):
    """A plain-text table (also valid Markdown)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def fmt(value, digits=1):
    if value is None:
        return "-"
    if isinstance(value, float):
        return "%.*f" % (digits, value)
    return str(value)


def say(msg):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()
