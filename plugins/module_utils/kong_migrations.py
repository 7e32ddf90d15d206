# -*- coding: utf-8 -*-
# Copyright: kongops.upgrade contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state machine behind ``kongops.upgrade.kong_migrations``.

``plan(desired, state, ...)`` decides which ``kong migrations`` subcommands move
the database from the state read with ``KongCli.migrations_state()`` towards
the desired state; ``converge()`` runs them one at a time, re-reading the
state after each, so a rerun (or a run racing another node) only does what is
still missing.  Everything is plain Python; time and sleep are injectable.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.kongops.upgrade.plugins.module_utils.kong_cli import (
    KongCliError,
    LOCK_ABORTED_MARKER,
    LOCK_TIMEOUT_MARKER,
    PENDING_REFUSED_MARKER,
    count,
    format_state,
    kong_error_message,
    parse_run_output,
    state_diff,
)

STATES = ("status", "bootstrapped", "up", "finished", "reset")
DEFAULT_LOCK_TIMEOUT = 60  # Kong's own --lock-timeout default (contract.md section 1)
MAX_STEPS = 8


class PlanError(Exception):
    """The desired state cannot be reached without a consent option (or at all)."""


class MigrationsFailed(Exception):
    """A kong command failed; ``result`` carries the partial state it left."""

    def __init__(self, message, result):
        super(MigrationsFailed, self).__init__(message)
        self.message = message
        self.result = result


def _fmt(migs):
    return "; ".join("%s: %s" % (sub, ", ".join(names)) for sub, names in sorted((migs or {}).items())) or "none"


def plan(desired, st, finish_pending=False, run_up=False, confirm_reset=False, force=False):
    """The next commands (``bootstrap``/``up``/``finish``/``reset``) to reach ``desired`` from ``st``.

    Raises ``PlanError`` with an operator-facing message when consent is missing.
    """
    if desired not in STATES:
        raise PlanError("unknown state %r" % (desired,))
    if desired == "status":
        return []
    nb = st.get("needs_bootstrap")
    pending = st.get("pending") or {}
    new = st.get("new") or {}
    if desired == "reset":
        if not confirm_reset:
            raise PlanError("state=reset drops every Kong table and its data; set confirm_reset=true to do it")
        return [] if nb else ["reset"]
    if desired == "bootstrapped":
        return ["bootstrap"] if nb else []
    if nb:
        raise PlanError("the database is not bootstrapped (no schema_meta table): refusing to run '%s' on it. "
                        "If this really is a new installation, use state=bootstrapped; otherwise check the node's "
                        "database settings (pg_host, pg_database) - an upgrade must point at the existing database." % desired)
    steps = []
    if new:
        if desired == "finished" and not run_up:
            raise PlanError("new migrations are available (%s): 'kong migrations up' has not run for this version. "
                            "Run state=up first (then move traffic), or set run_up=true to run up and finish in one go." % _fmt(new))
        if pending and not force:
            if not finish_pending:
                raise PlanError("the database has pending migrations from a previous upgrade (%s) and new migrations "
                                "from this one (%s). Kong refuses 'up' until the previous upgrade is finished. "
                                "Finish it first (nodes of the version before that upgrade stop being compatible), "
                                "or set finish_pending=true to run 'kong migrations finish' before 'up'. (The same state remains "
                                "after an 'up' that failed part-way: finishing is then also the way forward, with the same "
                                "consequence for the old nodes; the alternative is restoring the backup.)" % (_fmt(pending), _fmt(new)))
            steps.append("finish")
        steps.append("up")
        if desired == "finished":
            steps.append("finish")
        return steps
    if desired == "finished" and pending:
        return ["finish"]
    return []


def would_run(steps, st):
    """Which migrations each planned step would run, from the state read before (check mode)."""
    out = {}
    pending = st.get("pending") or {}
    new = st.get("new") or {}
    finished_pending = False
    for step in steps:
        if step == "bootstrap":
            out["bootstrap"] = dict(new)
        elif step == "up":
            out["up"] = dict(new)
        elif step == "finish":
            if not finished_pending and "up" not in out:
                out["finish"] = dict(pending)
                finished_pending = True
            else:
                # The teardowns of the migrations 'up' records as pending: known only after 'up'.
                out.setdefault("finish_after_up", "the migrations of 'up' that have a teardown step")
        elif step == "reset":
            out["reset"] = dict(st.get("executed") or {})
    return out


def _merge(into, migs):
    for sub, names in (migs or {}).items():
        into.setdefault(sub, [])
        into[sub] = into[sub] + [n for n in names if n not in into[sub]]


def predict(steps, st):
    """The state expected after ``steps`` (check mode's ``diff``).

    Which migrations of ``up`` stay pending (those with a teardown) is only known once they ran:
    they are shown under ``up (executed, or pending until finish)``.
    """
    a = _norm(st)
    a = dict((k, (dict((s, list(n)) for s, n in v.items()) if isinstance(v, dict) else v)) for k, v in a.items())
    upped = {}
    for step in steps:
        if step == "bootstrap":
            _merge(a["executed"], a["new"])
            a["new"] = {}
            a["needs_bootstrap"] = False
        elif step == "finish":
            _merge(a["executed"], a["pending"])
            a["pending"] = {}
            _merge(a["executed"], upped)
            upped = {}
        elif step == "up":
            _merge(upped, a["new"])
            a["new"] = {}
        elif step == "reset":
            a = {"needs_bootstrap": True, "executed": {}, "pending": {}, "new": {}, "missing": {}}
    text = format_state(a)
    if upped:
        text += "up (executed, or pending until finish):\n" + "".join("  %s: %s\n" % (sub, ", ".join(n)) for sub, n in sorted(upped.items()))
    return text


def _norm(st):
    if st is None:
        return None
    return dict((k, st.get(k)) for k in ("needs_bootstrap", "executed", "pending", "new", "missing"))


def converge(cli, desired, finish_pending=False, run_up=False, confirm_reset=False, force=False,
             db_timeout=None, lock_timeout=None, wait_for_lock=True, check_mode=False,
             sleep=time.sleep, clock=time.monotonic):
    """Bring the database to ``desired``; returns the result dict or raises PlanError/MigrationsFailed/KongCliError."""
    version = cli.version()
    before = cli.migrations_state()
    try:
        steps = plan(desired, before, finish_pending, run_up, confirm_reset, force)
    except PlanError as e:
        e.before = _norm(before)
        e.kong_version = version["version"]
        raise
    result = {
        "changed": False,
        "kong_version": version["version"],
        "edition": version["edition"],
        "state": desired,
        "before": _norm(before),
        "after": _norm(before),
        "planned": list(steps),
        "migrations_to_run": would_run(steps, before),
        "runs": [],
        "rc": 0,
        "stdout": "",
        "stderr": "",
    }
    if before.get("new_unknown") and "bootstrap" in steps:
        result["migrations_to_run"]["bootstrap"] = "every migration of Kong %s (this version's 'migrations list' does not name them)" % version["version"]
    if check_mode or not steps:
        result["changed"] = bool(steps)
        result["commands"] = [list(c) for c in cli.commands]
        _finish(result, before, before)
        if steps:
            result["diff"]["after"] = predict(steps, before)
        return result

    wait_limit = lock_timeout if lock_timeout is not None else DEFAULT_LOCK_TIMEOUT
    deadline = None  # starts at the first 'aborted' answer: we wait up to lock_timeout for the lock itself
    delay = 0.5
    current = before
    done = 0
    while True:
        steps = plan(desired, current, finish_pending, run_up, confirm_reset, force)
        if not steps:
            break
        if done >= MAX_STEPS:
            raise MigrationsFailed("the database did not reach state=%s after %d commands" % (desired, len(result["runs"])), result)
        done += 1
        step = steps[0]
        rc, out, err = cli.migrations(step, db_timeout=db_timeout, lock_timeout=lock_timeout,
                                      force=force and step in ("up", "finish"), yes=step == "reset")
        parsed = parse_run_output(out)
        result["runs"].append({"cmd": list(cli.commands[-1]), "subcommand": step, "rc": rc, "stdout": out, "stderr": err,
                               "ran": parsed["ran"]})
        result["rc"], result["stdout"], result["stderr"] = rc, out, err
        if rc != 0 and step == "reset" and "not bootstrapped" in (out + err):
            current = cli.migrations_state()
            continue
        if rc != 0:
            after = _safe_state(cli)
            msg = _failure_message(step, rc, out, err, lock_timeout)
            result["after"] = _norm(after)
            result["commands"] = [list(c) for c in cli.commands]
            _finish(result, before, after)
            raise MigrationsFailed(msg, result)
        if parsed["lock_aborted"] or LOCK_ABORTED_MARKER in err:
            # Another node held the 'migrations' lock (bootstrap/finish do not wait; up waited and the
            # holder finished).  Re-read the state: the other node may have done our work.
            if not wait_for_lock:
                after = _safe_state(cli)
                result["after"] = _norm(after)
                result["commands"] = [list(c) for c in cli.commands]
                _finish(result, before, after)
                raise MigrationsFailed("another node holds Kong's 'migrations' lock (kong migrations %s aborted) and "
                                       "wait_for_lock=false" % step, result)
            if deadline is None:
                deadline = clock() + wait_limit
            if clock() >= deadline:
                after = _safe_state(cli)
                result["after"] = _norm(after)
                result["commands"] = [list(c) for c in cli.commands]
                _finish(result, before, after)
                raise MigrationsFailed("another node has held Kong's 'migrations' lock (row 'migrations' of table locks) "
                                       "for longer than lock_timeout=%ss; 'kong migrations %s' did not run. Find the node "
                                       "running migrations and let it finish; remove the lock row only if that node is gone."
                                       % (lock_timeout if lock_timeout is not None else DEFAULT_LOCK_TIMEOUT, step), result)
            done -= 1
            sleep(delay)
            delay = min(delay * 2, 5.0)
            current = cli.migrations_state()
            continue
        current = cli.migrations_state()

    result["after"] = _norm(current)
    result["commands"] = [list(c) for c in cli.commands]
    return _finish(result, before, current)


def _safe_state(cli):
    try:
        return cli.migrations_state()
    except KongCliError as e:
        return {"needs_bootstrap": None, "executed": None, "pending": None, "new": None, "missing": None, "error": e.message}


def _failure_message(step, rc, out, err, lock_timeout):
    kmsg = kong_error_message(err) or (err or out).strip()
    if LOCK_TIMEOUT_MARKER in (err + out):
        return ("'kong migrations %s' timed out waiting for Kong's 'migrations' lock held by another node "
                "(lock_timeout=%ss): %s. Nothing ran. Find the node running migrations and let it finish, then rerun; "
                "if none runs them (a crashed run left the row), wait for the row 'migrations' of table locks to expire "
                "or remove it, then rerun." % (step, lock_timeout if lock_timeout is not None else DEFAULT_LOCK_TIMEOUT, kmsg))
    if PENDING_REFUSED_MARKER in (err + out):
        return ("'kong migrations %s' refused: the database has pending migrations from a previous upgrade; "
                "set finish_pending=true to finish them first (%s)" % (step, kmsg))
    return "'kong migrations %s' failed (rc=%s): %s. See 'after' and 'changes' for the state it left." % (step, rc, kmsg)


def _finish(result, before, after):
    b = _norm(before)
    a = _norm(after) if after is not None else None
    if a is not None and a.get("executed") is not None:
        result["changes"] = state_diff(b, a)
        result["changed"] = result["changed"] or b != a
    else:
        result["changes"] = {}
        result["changed"] = result["changed"] or bool(result["runs"])
    result["diff"] = {"before": format_state(b), "after": format_state(a if a and a.get("executed") is not None else b)}
    if a is not None:
        result["needs_bootstrap"] = a.get("needs_bootstrap")
        result["pending_count"] = count(a.get("pending"))
        result["new_count"] = count(a.get("new"))
    return result
