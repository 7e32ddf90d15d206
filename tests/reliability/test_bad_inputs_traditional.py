"""Bad inputs against a traditional cluster (2 nodes on 2.8.1, one PostgreSQL): strategies not allowed for the mode
or the path, and nodes of one cluster on different versions. Each is refused by the preflight before anything
changes (relkit.assert_refused: message, nothing changed, still serving)."""

import pytest

from relkit import assert_refused, run_playbook


@pytest.fixture(scope="module")
def trad(lab_factory):
    lab = lab_factory("traditional", version="2.8.1", offer=["2.8.0", "2.8.4", "3.4.2"], nodes=2)
    return {"lab": lab, "versions": lab.versions(), "fingerprint": lab.fingerprint()}


def preflight(trad, run_dir, **extra):
    extra.setdefault("kong_upgrade_backup_dir", str(run_dir / "backups"))
    run = run_playbook("preflight.yml", trad["lab"].inventory, run_dir, extra=extra)
    return assert_refused(run, trad["lab"], trad["versions"], trad["fingerprint"], run_dir / "backups")


def test_blue_green_below_2_8_2_refused(trad, run_dir):
    """Blue-green needs the source at 2.8.2 or later (procedures.md section 1): 2.8.1 -> 2.8.4 is refused."""
    problems = preflight(trad, run_dir, kong_target_version="2.8.4", kong_upgrade_strategy="blue_green")
    assert "strategy blue_green is not allowed on the path 2.8.1 -> 2.8.4 for a traditional node" in problems
    assert "allowed: " in problems and "in_place" in problems


def test_rolling_for_traditional_refused(trad, run_dir):
    problems = preflight(trad, run_dir, kong_target_version="3.4.2", kong_upgrade_strategy="rolling")
    assert "strategy rolling is not allowed for a traditional deployment (allowed: in_place, dual_cluster, blue_green)" in problems


def test_a_later_hop_not_offered_is_refused_before_the_first(trad, run_dir):
    """2.8.1 -> 3.5.0 passes through 3.4.2, which the lab's repository offers; 3.5.0 it does not. The preflight checks
    every release of the path (the lab's check is kong-install --check), so the run stops before hop 1."""
    problems = preflight(trad, run_dir, kong_target_version="3.5.0")
    assert "release 3.5.0 is not installable" in problems
    assert "release 3.4.2 is not installable" not in problems


def test_an_install_method_without_a_check_is_a_problem_unless_accepted(trad, run_dir):
    """An operator's inventory whose install command has no check: the preflight says the path's releases were not
    checked and how to check them or accept it; accepting it lets the same preflight pass."""
    lab = trad["lab"]

    def edit(doc):
        for hv in doc["all"]["children"]["kong_traditional"]["hosts"].values():
            hv.pop("kong_install_check_command", None)

    inventory = lab.bad_inventory("inventory-no-install-check.yml", edit)
    extra = {"kong_target_version": "3.4.2", "kong_upgrade_backup_dir": str(run_dir / "backups")}
    run = run_playbook("preflight.yml", inventory, run_dir, extra=extra)
    problems = assert_refused(run, lab, trad["versions"], trad["fingerprint"], run_dir / "backups")
    assert "installability of 3.4.2 not checked: kong_node_install_method command has no check" in problems
    assert "kong_install_check_command" in problems and "-e kong_upgrade_accept_unchecked_install=true" in problems
    accepted = run_playbook("preflight.yml", inventory, run_dir, extra=dict(extra, kong_upgrade_accept_unchecked_install=True))
    assert accepted.rc == 0 and "not checked" not in accepted.text, accepted


@pytest.mark.parametrize("playbook", ["preflight.yml", "upgrade_traditional.yml"])
def test_cassandra_to_3_4_refused(trad, run_dir, playbook):
    """A Cassandra cluster (kong_database; kongsim has no Cassandra, so the inventory says it) asked for 3.4: the
    preflight of every upgrade playbook gives the database to the path planner, which refuses it (3.3 is the last
    line with Cassandra)."""
    run = run_playbook(playbook, trad["lab"].inventory, run_dir,
                       extra={"kong_target_version": "3.4.2", "kong_database": "cassandra",
                              "kong_upgrade_backup_dir": str(run_dir / "backups")})
    problems = assert_refused(run, trad["lab"], trad["versions"], trad["fingerprint"], run_dir / "backups")
    assert "Cassandra is not supported by Kong 3.4" in problems, problems


def test_database_privileges_the_backup_and_a_rollback_need(trad, run_dir):
    """Kong's role as Kong's own docs create it (no CREATEDB), and a table of another role in Kong's database: the
    backup's test restore (the default verification), the dump itself and a rollback could not work; the preflight
    names each, and what to grant. Verifying by checksums instead leaves the other two."""
    lab = trad["lab"]
    pg, db = lab.pg(), lab.database()
    pg.psql("ALTER ROLE %s NOCREATEDB" % db["user"])
    pg.psql("CREATE TABLE public.site_audit (id int)", db=db["database"])
    try:
        problems = preflight(trad, run_dir, kong_target_version="3.4.2")
        assert "kong_backup_verify=restore restores the backup into a scratch database, but role kong may not create databases" in problems
        assert "ALTER ROLE kong CREATEDB" in problems
        assert "a rollback could not restore the backup: role kong may not drop and recreate database" in problems
        assert "1 object(s) there belong to other roles (public.site_audit)" in problems
        # the table is not granted to Kong's role either: pg_dump would fail on it
        assert "the backup could not dump database kong: role kong may not read public.site_audit (GRANT SELECT" in problems
        assert "wrong credentials" not in problems
        problems = preflight(trad, run_dir, kong_target_version="3.4.2", kong_backup_verify="checksums")
        assert "scratch database" not in problems and "public.site_audit" in problems
    finally:
        pg.psql("ALTER ROLE %s CREATEDB" % db["user"])
        pg.psql("DROP TABLE public.site_audit", db=db["database"])


def test_zz_nodes_on_different_versions_refused(trad, run_dir):
    """kong2 runs 2.8.0 beside kong1 on 2.8.1 (last test of the module: it changes the lab)."""
    lab = trad["lab"]
    assert lab.kong_install("kong2", "2.8.0").returncode == 0
    assert lab.kong_service("kong2", "restart").returncode == 0
    trad["versions"] = lab.versions()
    assert trad["versions"]["kong2"] == ("2.8.0", "2.8.0"), trad["versions"]
    problems = preflight(trad, run_dir, kong_target_version="3.4.2")
    assert "the traditional nodes run different versions (" in problems
    assert "2.8.0" in problems and "2.8.1" in problems and "bring them to one version first" in problems


@pytest.mark.parametrize("playbook", ["preflight.yml", "upgrade_traditional.yml"])
def test_run_without_a_target_names_the_variable(trad, run_dir, playbook):
    """No kong_target_version at all: the refusal names the variable to set, not an empty version."""
    run = run_playbook(playbook, trad["lab"].inventory, run_dir, extra={"kong_upgrade_backup_dir": str(run_dir / "backups")})
    problems = assert_refused(run, trad["lab"], trad["versions"], trad["fingerprint"], run_dir / "backups")
    assert "kong_target_version is not set" in problems and "-e kong_target_version=" in problems
    assert 'target version ""' not in run.text
