"""Sampling the command lines (and, for chosen programs, the environment) of a process tree through /proc.

The secrets tests run ``ansible-playbook`` and, the whole time, record the argument list of every process it started
(modules, pg_dump, kong, ...) to prove that no password or token ever appears there. Only the run's own descendants are
read: other users of this shared machine are ignored, and pids that ended are forgotten (a stranger may reuse them).

Used by tests/reliability/relkit.py and tests/integration/test_pg_secrets.py.
"""

import os


def read_proc(pid, name):
    """The bytes of /proc/<pid>/<name>, or None when the process ended meanwhile or is not ours to read."""
    try:
        with open("/proc/%s/%s" % (pid, name), "rb") as f:
            return f.read()
    except OSError:
        return None


def parent_pids():
    """{pid: parent pid} of every process visible now."""
    parents = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            stat = read_proc(pid, "stat")
            if stat:
                # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'
                parents[int(pid)] = int(stat.rsplit(b")", 1)[1].split()[1])
    return parents


def descendants(root, tree):
    """Add ``root`` and its live descendants to the set ``tree`` (pids that ended are dropped from it); returns it."""
    parents = parent_pids()
    tree.intersection_update(parents)
    tree.add(root)
    grew = True
    while grew:
        before = len(tree)
        tree.update(p for p, pp in parents.items() if pp in tree)
        grew = len(tree) != before
    return tree


def argv(pid):
    """The argument list of ``pid`` as a list of str, or None."""
    raw = read_proc(pid, "cmdline")
    if not raw:
        return None
    return [a.decode("utf-8", "replace") for a in raw.rstrip(b"\0").split(b"\0")]


def sample(root, tree, seen, environs=None, env_programs=()):
    """One sample of ``root``'s process tree: each command line (arguments joined by spaces) is added to the set
    ``seen``; for programs whose basename is in ``env_programs``, (program, environment bytes) is appended to the list
    ``environs``. ``tree`` carries the pids between samples (pass the same set every time)."""
    for pid in sorted(descendants(root, tree)):
        args = argv(pid)
        if not args:
            continue
        seen.add(" ".join(args))
        if environs is not None and env_programs:
            prog = os.path.basename(args[0])
            if prog in env_programs:
                env = read_proc(pid, "environ")
                if env is not None:
                    environs.append((prog, env))
