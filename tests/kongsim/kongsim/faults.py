"""Fault injection switches for tests.

Sources, merged (the prefix file wins over the environment for the same key):
- env var ``KONGSIM_FAULTS``: a JSON object;
- file ``<prefix>/kongsim_faults.json``: a JSON object.

Keys:
- ``migration_fail``: "<subsystem>:<migration name>" (or a list of them): that migration raises a
  PostgreSQL error in its up step;
- ``start_fail``: bool, ``kong start`` fails;
- ``start_delay``: seconds, ``kong start`` takes that much longer;
- ``die_after_requests``: int, the node process exits after serving that many proxy requests;
- ``unhealthy``: bool, the Status API ready endpoint says 503 and the proxy returns 503.
"""

import json
import os

KEYS = ("migration_fail", "start_fail", "start_delay", "die_after_requests", "unhealthy")
FILE_NAME = "kongsim_faults.json"


class FaultConfigError(ValueError):
    pass


def _parse(text, where):
    try:
        data = json.loads(text)
    except ValueError as e:
        raise FaultConfigError("invalid JSON in %s: %s" % (where, e))
    if not isinstance(data, dict):
        raise FaultConfigError("%s must hold a JSON object" % where)
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise FaultConfigError("unknown fault key(s) in %s: %s" % (where, ", ".join(unknown)))
    return data


def load(prefix=None, env=None):
    """The active faults as a dict (empty when none)."""
    env = os.environ if env is None else env
    out = {}
    text = env.get("KONGSIM_FAULTS")
    if text and text.strip():
        out.update(_parse(text, "KONGSIM_FAULTS"))
    if prefix:
        path = os.path.join(prefix, FILE_NAME)
        if os.path.isfile(path):
            with open(path) as f:
                out.update(_parse(f.read(), path))
    return out


def migration_fails(faults, subsystem, name):
    """True when ``faults`` asks migration ``subsystem:name`` to fail in its up step."""
    v = faults.get("migration_fail")
    if not v:
        return False
    wanted = [v] if isinstance(v, str) else list(v)
    return "%s:%s" % (subsystem, name) in wanted
