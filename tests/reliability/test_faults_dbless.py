"""Faults of a rolling upgrade (one DB-less node on 2.8.4 behind HAProxy, target 3.4.2):

- the load balancer's runtime API is unreachable (a wrong socket path): the node must not be touched - it stays on
  2.8.4, serving, with its declarative file unchanged - and the message names the load balancer;
- the node dies right after its upgrade (kongsim fault 'die_after_requests' armed when Y starts: it passes the health
  gate, then dies once the load balancer sends it traffic): the rolling role checks the node again under traffic
  (step04_verify.yml), drains it, reverts it to X (which dies too: the fault file stays in the prefix) and stops with a
  message saying so; the node is never left in the load balancer while dead. Once the cause is cleared, the rerun
  completes.
"""

import re

import pytest

from relkit import Load, run_playbook

TARGET = "3.4.2"


@pytest.fixture(scope="module")
def dbless(lab_factory, tmp_path_factory):
    lab = lab_factory("dbless", version="2.8.4", offer=[TARGET], nodes=1)
    tmp = tmp_path_factory.mktemp("dbless-faults")
    return {"lab": lab, "sha": lab.declarative_sha256("dbless1"), "tmp": tmp,
            "extra": {"kong_target_version": TARGET, "kong_upgrade_backup_dir": str(tmp / "backups"),
                      "kong_upgrade_report_dir": str(tmp / "reports"), "kong_node_health_retries": 8}}


def test_lb_runtime_api_unreachable(dbless, run_dir):
    lab = dbless["lab"]
    missing = str(lab.dir / "no-such-haproxy.sock")
    extra = dict(dbless["extra"], kong_lb_haproxy_socket=missing)
    with Load(lab.lab.lb_url() + "/echo", rate=20) as load:
        run = run_playbook("upgrade_dbless.yml", lab.inventory, run_dir, extra=extra)
    assert run.rc != 0, run
    assert missing in run.text, run
    assert lab.versions()["dbless1"] == ("2.8.4", "2.8.4")
    assert lab.declarative_sha256("dbless1") == dbless["sha"]
    assert load.result["failed"] == 0, load.result
    assert lab.serving()


def test_node_dies_right_after_its_upgrade(dbless, run_dir):
    """Y is started with kongsim's die_after_requests=5: it passes the health gate, then dies once HAProxy sends it
    traffic. The run must stop with a message naming the check under traffic, and leave the node drained."""
    lab = dbless["lab"]

    def arm():
        lab.set_faults("dbless1", {"die_after_requests": 5})
        dbless["armed"] = True

    try:
        with Load(lab.lab.lb_url() + "/echo", rate=20) as load:
            run = run_playbook("upgrade_dbless.yml", lab.inventory, run_dir, extra=dbless["extra"],
                               hooks=[(lambda out: re.search(r"^TASK \[([^\]]*: )?Start Y\]", out, re.M), arm)])
            died = not lab.serving(tries=10)
        print("traffic: %s" % {k: load.result.get(k) for k in ("total", "failed", "longest_gap_s")})
        print("message: %s" % run.text[run.text.find("Rolling upgrade to"):][:1200])
    finally:
        lab.set_faults("dbless1", None)
    assert dbless.get("armed"), "the fault was not armed"
    dbless["died"] = died
    # the node process is gone: the fault worked (otherwise this test proves nothing)
    assert lab.versions()["dbless1"][1] is None, lab.versions()
    assert died, "the gateway still answers: the fault did not work, this test proves nothing"
    assert run.rc != 0, "the run ended as a success while the upgraded node is dead:\n" + run.output[-2000:]
    # the operator is told: the check under traffic failed, the node was drained, X failed the same way
    assert "failed its check under traffic" in run.text, run
    assert "drained again" in run.text, run
    assert "Reverting the node to 2.8.4 failed too" in run.text, run
    # never a dead node left in the load balancer: HAProxy has it drained
    assert lab.lb_admin_state("dbless1") in ("drain", "maint"), lab.lb_admin_state("dbless1")
    # the declarative file X served is back (the revert restored it)
    assert lab.declarative_sha256("dbless1") == dbless["sha"]


def test_rerun_after_the_node_died_completes(dbless, run_dir):
    """The operator clears the cause; the rerun brings the node up on 3.4.2 and back into service."""
    if not dbless.get("died"):
        pytest.skip("needs the node killed by the test above")
    lab = dbless["lab"]
    with Load(lab.lab.lb_url() + "/echo", rate=20) as load:
        rerun = run_playbook("upgrade_dbless.yml", lab.inventory, run_dir, extra=dbless["extra"])
    print("rerun traffic: %s" % {k: load.result.get(k) for k in ("total", "failed", "longest_gap_s")})
    assert rerun.rc == 0, rerun
    assert lab.versions()["dbless1"] == (TARGET, TARGET)
    assert lab.lb_admin_state("dbless1") == "ready"
    assert lab.serving()
