"""Fixtures of the container-host suite: labs on free 127.91.x subnets, always removed afterwards (by container id)."""
import os

import pytest

from hostkit import HostLabHandle
from lab import procs  # importable once hostkit has set the path


def pytest_collection_modifyitems(items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="container hosts need root (podman with systemd)")
        for item in items:
            item.add_marker(skip)


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
