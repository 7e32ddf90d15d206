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


def test_declarative_file_rejected_by_target(dbless, run_dir):
    lab = dbless
    path = lab.node_dir("dbless1") / "etc" / "kong" / "kong.yml"
    path.write_text(BAD_FILE)
    sha_before = lab.declarative_sha256("dbless1")
    versions = lab.versions()
    run = run_playbook("preflight.yml", lab.inventory, run_dir,
                       extra={"kong_target_version": "3.4.2", "kong_upgrade_backup_dir": str(run_dir / "backups"),
                              "kong_target_kong_bin": str(lab.dir / "repo" / "3.4.2" / "bin" / "kong")})
    problems = assert_refused(run, lab, versions, backup_dir=run_dir / "backups")
    assert "declarative file %s is rejected by Kong 3.4.2" % path in problems
    assert "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis'" in problems
    # the file is untouched and no converted copy was left beside it
    assert lab.declarative_sha256("dbless1") == sha_before
    assert not list(path.parent.glob("kong.yml.preflight-*"))
