"""tests/support/procsample.py: the /proc sampling the secrets tests rely on sees a run's descendants, and only them."""

import os
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tests.support import procsample  # noqa: E402  pylint: disable=wrong-import-position


def test_sample_sees_grandchildren_and_their_environment_not_strangers():
    # the sleep durations are the markers: unique to this test process
    grandchild = "sleep 30.%06d" % (os.getpid() % 1000000)
    stranger_cmd = "sleep 31.%06d" % (os.getpid() % 1000000)
    stranger = subprocess.Popen(stranger_cmd.split())
    # a shell that starts a grandchild, as ansible-playbook starts modules and pg_dump
    parent = subprocess.Popen(["sh", "-c", grandchild + " & wait"], env=dict(os.environ, PROCSAMPLE_SECRET="s3"))
    seen, environs, tree = set(), [], set()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and grandchild not in seen:
            procsample.sample(parent.pid, tree, seen, environs, ("sleep",))
            time.sleep(0.02)
        assert grandchild in seen, seen
        assert stranger_cmd not in seen, seen
        assert environs and all(prog == "sleep" for prog, _unused in environs)
        assert any(b"PROCSAMPLE_SECRET=s3" in env for _unused, env in environs)
        assert parent.pid in tree
    finally:
        # the grandchild by its pid (seen in the tree), then the shell and the stranger
        for pid in tree - {parent.pid}:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for p in (parent, stranger):
            p.kill()
            p.wait()


def test_ended_processes_are_forgotten():
    child = subprocess.Popen(["sleep", "0.1"])
    tree = {child.pid, 999999999}
    child.wait()
    procsample.descendants(os.getpid(), tree)
    assert child.pid not in tree and 999999999 not in tree
    assert os.getpid() in tree
