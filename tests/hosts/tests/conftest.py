"""Fixtures of the container-host suite: labs on free 127.91.x subnets, always removed afterwards (by container id)."""
import os

import pytest

from hostkit import HostLabHandle
from lab import procs  # importable once hostkit has set the path


def pytest_configure(config):
    config.addinivalue_line("markers", "full_only: runs only in 'scripts/test full' (KONGOPS_TEST_FULL=1); the docstring "
                                       "names the stages that cover the same upgrade in CI")


def pytest_collection_modifyitems(items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="container hosts need root (podman with systemd)")
        for item in items:
            item.add_marker(skip)
    if os.environ.get("KONGOPS_TEST_FULL") != "1":
        full = pytest.mark.skip(reason="full matrix only (scripts/test full); covered in CI by the stages its docstring names")
        for item in items:
            if item.get_closest_marker("full_only"):
                item.add_marker(full)


@pytest.fixture
def host_lab(tmp_path_factory):
    """host_lab(topology, *args): a lab of container hosts on a free subnet; removed at the end of the test."""
    labs = []

    def make(topology, *args):
        subnet = procs.free_subnet(91)
        lab = HostLabHandle(tmp_path_factory.mktemp("hostlab") / "lab")
        lab.subnet = subnet
        labs.append(lab)
        lab.ctl("up", topology, "--subnet", subnet, *args)
        return lab

    yield make
    for lab in labs:
        down = lab.ctl("down", check=False)
        assert down.returncode == 0, down.stderr
        left = [s for s in procs.listening_sockets() if s[0].startswith(lab.subnet + ".")]
        assert not left, "still listening after hostctl down: %s" % left
