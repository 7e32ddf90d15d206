"""Fixtures of the reliability suite (helpers in relkit.py): labs per module, a run directory per test."""

import os
import shutil
import tempfile

import pytest

from relkit import LabHandle, free_subnet  # first: puts tests/ and tests/kongsim on sys.path
from lab.topology import Lab  # pylint: disable=wrong-import-order


def _lab_parent():
    d = tempfile.mkdtemp(prefix="kongops-h3-rel-", dir="/tmp")
    os.chmod(d, 0o755)  # PostgreSQL runs as postgres and must traverse it
    return d


@pytest.fixture(scope="module")
def lab_factory():
    """lab_factory(topology, **up_kwargs) -> LabHandle; every lab made is brought down at the end of the module."""
    parent = _lab_parent()
    made = []

    def make(topology, **kw):
        lab = Lab(os.path.join(parent, "lab%d" % len(made)))
        made.append(lab)
        lab.up(topology, subnet=kw.pop("subnet", free_subnet()), **kw)
        return LabHandle(lab)

    yield make
    for lab in made:
        lab.down()
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def run_dir(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    return d
