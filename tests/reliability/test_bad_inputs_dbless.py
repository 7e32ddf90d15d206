"""A declarative file that the target version rejects (DB-less node on 2.8.4, target 3.4.2): the preflight converts
and validates a scratch copy with the target's kong, refuses, and changes nothing; the node keeps serving the
configuration it loaded at start.

kongsim rejects the same entity errors in every release (it models no entity that 3.x alone refuses), so the file
carries an error that any release rejects - a route with no matching attribute - written on disk after the node
loaded a good one: what the preflight must catch is "the file the new version will load is rejected"."""

import pytest

from relkit import assert_refused, run_playbook

BAD_FILE = """_format_version: "2.1"
services:
  - name: echo
    url: http://127.0.0.1:9/
    routes:
      - name: nothing-to-match
"""


@pytest.fixture(scope="module")
def dbless(lab_factory):
    return lab_factory("dbless", version="2.8.4", offer=["3.4.2"], nodes=1)


@pytest.mark.parametrize("playbook", ["preflight.yml", "upgrade_dbless.yml"])
def test_declarative_file_rejected_by_target(dbless, run_dir, playbook):
    """The preflight alone, and the upgrade (which runs the same preflight before draining anything)."""
    lab = dbless
    path = lab.node_dir("dbless1") / "etc" / "kong" / "kong.yml"
    good = path.read_text()
    path.write_text(BAD_FILE)
    try:
        sha_before = lab.declarative_sha256("dbless1")
        versions = lab.versions()
        run = run_playbook(playbook, lab.inventory, run_dir,
                           extra={"kong_target_version": "3.4.2", "kong_upgrade_backup_dir": str(run_dir / "backups"),
                                  "kong_target_kong_bin": str(lab.dir / "repo" / "3.4.2" / "bin" / "kong")})
        problems = assert_refused(run, lab, versions, backup_dir=run_dir / "backups")
        assert lab.declarative_sha256("dbless1") == sha_before
    finally:
        path.write_text(good)
    assert "declarative file %s is rejected by Kong 3.4.2" % path in problems
    assert "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis'" in problems
    # the file was untouched (checked above) and no converted copy was left beside it
    assert not list(path.parent.glob("kong.yml.preflight-*"))


def test_declarative_file_not_validated_before_the_roll_is_a_problem_unless_accepted(dbless, run_dir):
    """No kong of the target on the nodes (an operator's inventory without kong_target_kong_bin): Y would first see
    the files on a node already drained. The upgrade's preflight refuses, saying how to validate first or accept it;
    accepted, it passes that check and only warns."""
    lab = dbless

    def edit(doc):
        for hv in doc["all"]["children"]["kong_dbless"]["hosts"].values():
            hv.pop("kong_target_kong_bin", None)

    inventory = lab.bad_inventory("inventory-no-target-kong.yml", edit)
    versions = lab.versions()
    extra = {"kong_target_version": "3.4.2", "kong_upgrade_backup_dir": str(run_dir / "backups")}
    run = run_playbook("upgrade_dbless.yml", inventory, run_dir, extra=extra)
    problems = assert_refused(run, lab, versions, backup_dir=run_dir / "backups")
    assert "converted but not validated with Kong 3.4.2 before the roll: set kong_target_kong_bin" in problems
    assert "-e kong_upgrade_accept_unvalidated_declarative=true" in problems
    accepted = run_playbook("preflight.yml", inventory, run_dir,
                            extra=dict(extra, kong_upgrade_accept_unvalidated_declarative=True))
    assert accepted.rc == 0 and "converted but not validated" in accepted.text, accepted


@pytest.fixture(scope="module")
def dbless_pair(lab_factory):
    return lab_factory("dbless", version="2.8.4", offer=["3.4.2"], nodes=2)


def test_declarative_file_changed_during_the_roll_stops_it(dbless_pair, run_dir):
    """dbless2's file is edited while dbless1 is being replaced: dbless2's batch stops at its write freeze (the
    preflight's sha256), before it is drained; dbless1 stays done, both serve."""
    lab = dbless_pair
    path = lab.node_dir("dbless2") / "etc" / "kong" / "kong.yml"

    def edit():
        path.write_text(path.read_text() + "# edited during the roll\n")

    run = run_playbook("upgrade_dbless.yml", lab.inventory, run_dir,
                       extra={"kong_target_version": "3.4.2", "kong_upgrade_backup_dir": str(run_dir / "backups"),
                              "kong_upgrade_report_dir": str(run_dir / "reports")},
                       hooks=[(lambda out: "Start Y]" in out, edit)])
    assert run.rc != 0, run
    assert "%s on dbless2 changed since the preflight fingerprint" % path in run.text, run
    versions = lab.versions()
    assert versions["dbless1"] == ("3.4.2", "3.4.2") and versions["dbless2"] == ("2.8.4", "2.8.4"), versions
    assert lab.lb_admin_state("dbless2") == "ready"
    assert lab.serving()
