"""The README's main-job command, end to end: `scripts/demo` (the sandboxed hybrid upgrade under load).

One run on container hosts (tests/hosts): the lab comes up (1 control plane + 3 data planes on 2.8.4, each a systemd
container reached over SSH, Kong from packages),
the load generator holds a steady rate through HAProxy, playbooks/upgrade-hybrid.yml upgrades to 3.4.2, the
report and the load result are printed, the lab is torn down. Asserted: exit 0, every node on 3.4.2 in the
report, zero failed requests in the load result (and some answered by 3.4.2), and nothing left afterwards: no
lab directory, no container labelled with the lab, nothing listening on the lab's addresses, no process whose command
line names the lab.

scripts/test runs it in its `demo` stage. Only --dir and --subnet differ from the README's command, so that a
run never collides with another lab on a shared machine.
"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))  # the lab's helpers (tests/kongsim is on pytest.ini's pythonpath)

from lab import procs  # noqa: E402  pylint: disable=wrong-import-position


def _processes_naming(text):
    """(pid, command line) of every process whose command line contains ``text``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid() and text in procs.cmdline(int(entry)):
            found.append((int(entry), procs.cmdline(int(entry))[:200]))
    return found


@pytest.fixture
def demo_dir():
    parent = tempfile.mkdtemp(prefix="kongops-demo-test-", dir="/tmp")
    os.chmod(parent, 0o755)  # PostgreSQL runs as postgres: every ancestor of the lab must be searchable
    yield pathlib.Path(parent)
    lab = pathlib.Path(parent) / "demo"
    if lab.exists():  # the demo failed to tear down: do it here, then the test has already failed
        subprocess.run([str(ROOT / "tests" / "hosts" / "hostctl"), "--dir", str(lab), "down"], check=False, timeout=300)
    shutil.rmtree(parent, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="container hosts need root (podman with systemd)")
def test_demo_hybrid_upgrade_zero_failed_and_nothing_left(demo_dir):
    subnet = procs.free_subnet(66, 200, 254)
    lab = demo_dir / "demo"
    proc = subprocess.run([str(ROOT / "scripts" / "demo"), "--dir", str(lab), "--subnet", subnet], cwd=str(ROOT),
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=1800, check=False)
    # stdout only is matched below: a warning on stderr (e.g. a library's deprecation) must not get in the way.
    out = proc.stdout
    tail = "stderr:\n%s\nstdout (tail):\n%s" % (proc.stderr[-3000:], out[-6000:])
    assert proc.returncode == 0, "scripts/demo exited %d:\n%s" % (proc.returncode, tail)

    # What the demo printed: the playbook's recap, the load result and the summary line.
    assert re.search(r"^cp1\s+: ok=\d+ .*failed=0", out, re.M), tail
    assert re.search(r"^ok / failed:\s+\d+ / 0\b", out, re.M), tail
    assert re.search(r"^upgrade: ok in \d+s; load: no failed request$", out, re.M), tail

    # The copies the demo keeps beside the (removed) lab directory.
    report = json.loads(pathlib.Path(str(lab) + ".report.json").read_text())
    assert report["mode"] == "hybrid" and report["target_version"] == "3.4.2" and report["all_on_target"] is True, report
    assert sorted(report["nodes"]) == ["cp1", "dp1", "dp2", "dp3"], report["nodes"]
    assert {n: (v["before"], v["after"]) for n, v in report["nodes"].items()} == {
        n: ("2.8.4", "3.4.2") for n in ("cp1", "dp1", "dp2", "dp3")}, report["nodes"]
    load = json.loads(pathlib.Path(str(lab) + ".load.json").read_text())
    assert load["running"] is False and load["total"] > 0 and load["failed"] == 0, load
    assert load["ok"] == load["total"], load
    assert load.get("versions", {}).get("3.4.2"), "no request was answered by an upgraded data plane: %s" % load.get("versions")
    print("scripts/demo: %d requests at %s req/s, %d failed, p99 %s ms, longest gap %s s; answered by %s" % (
        load["total"], load.get("rate"), load["failed"], load.get("latency_ms", {}).get("p99"), load.get("longest_gap_s"),
        json.dumps(load.get("versions"), sort_keys=True)))

    # Teardown left nothing behind.
    assert not lab.exists(), "lab directory left behind"
    containers = subprocess.run(["podman", "ps", "-a", "-q", "--filter", "label=kongops.lab=%s" % lab], stdout=subprocess.PIPE,
                                universal_newlines=True, check=True).stdout.split()
    assert not containers, "containers of the lab left behind: %s" % containers
    left = sorted(s for s in procs.listening_sockets() if s[0].startswith(subnet + "."))
    assert not left, "still listening on the lab's addresses: %s" % left
    running = _processes_naming(str(lab) + "/")
    assert not running, "processes of the lab still running: %s" % running
