"""kongsim: a stand-in for Kong Gateway's ``kong`` command, for tests and the sandbox.

Behaviour follows /work/shared/kong/contract.md (read from Kong's source).  Version-dependent
behaviour lives in :mod:`kongsim.releases` as data.  Run with ``PYTHONPATH=tests/kongsim``.
"""

__all__ = ["releases", "conf", "db", "migrations", "declarative", "faults", "cli", "install"]
